"""Upload → ready: the intake of a 100 MB timm ResNet-50 checkpoint and of a 5,000-image folder.

The intake engine task as a job runs it (scan, safe load, normalise, one forward), in this process: add the
sandbox's start-up from `python -m benchmarks.startup` for a job's whole time. The checkpoint is
`timm/resnet50`'s state_dict (random weights, 102 MB) saved with torch.save; the folder is 5,000 JPEG images of
160×120 pixels in 10 class folders, decoded to 3×224×224 (resize, centre crop 0.875). Printed, never asserted.

    python -m benchmarks.intake_library [--images 5000]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def _checkpoint(path: Path) -> Path:
    import torch

    from attacks.architectures import build

    torch.manual_seed(0)
    torch.save(build("timm/resnet50", 1000).state_dict(), path)
    return path


def _image_folder(path: Path, images: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(images):
            pixels = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
            archive.writestr(f"photos/class{index % 10}/{index:05d}.jpg", buffer.getvalue())
    return path


def _intake(path: Path, params: dict) -> tuple[float, dict]:
    from attacks import intake
    from attacks.context import RunContext

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = intake.run(RunContext(output_dir=Path(out)), {"path": str(path), **params})
        return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = _checkpoint(Path(folder) / "resnet50.pt")
        seconds, result = _intake(checkpoint, {"kind": "model", "arch": "timm/resnet50", "num_classes": 1000})
        size = checkpoint.stat().st_size / 1e6
        print(
            f"timm/resnet50 state_dict, {size:.0f} MB: ready in {seconds:.1f} s "
            f"({result['tensor_count']} tensors converted to safetensors, one forward at 3×224×224)"
        )
        images = _image_folder(Path(folder) / "photos.zip", args.images)
        seconds, result = _intake(images, {"kind": "dataset", "input_shape": [3, 224, 224]})
        size = images.stat().st_size / 1e6
        print(
            f"image folder, {result['samples']} JPEGs in {len(result['class_names'])} classes, {size:.0f} MB: ready in "
            f"{seconds:.1f} s ({seconds / result['samples'] * 1000:.1f} ms an image: scan, decode, resize, crop, "
            f"write as uint8 3×224×224)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
