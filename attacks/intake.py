"""The "intake" engine task: vet an uploaded model or dataset inside the sandbox and normalise it.

Params: path (the uploaded file), kind ("model" or "dataset"), arch and num_classes (for
weights; for a dataset, optional, to check it fits that model), max_bytes (the size limit).
Weights are written to `model.safetensors` and a dataset to `dataset.npz` in the output
folder, so later jobs only ever read those normalised files.

An image-folder dataset (a zip of class folders) is decoded to input_shape [C, H, W] (the
arch's, else the param, else 3×224×224) with crop_pct (0.875) and interpolation ("bilinear"),
labelled by class_names (the model card's, in output order; else the folders sorted), and
written with x as uint8; preview-<n>.png thumbnails (PREVIEW_PER_CLASS per class) go beside it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attacks.context import RunContext, UserError
from attacks.cost import probe
from attacks.params import choice_param, float_param
from attacks.scan import ScanReport, file_sha256, scan_file

DEFAULT_MAX_BYTES = 2 * 1024**3
KINDS = ("model", "dataset")
DEFAULT_IMAGE_SHAPE = (3, 224, 224)
PREVIEW_PER_CLASS = 4


def refused(report: ScanReport) -> UserError:
    """The UserError for a file the scan refused: its reasons, most important first."""
    reasons = " ".join(reason.message for reason in report.reasons[:3])
    more = len(report.reasons) - 3
    return UserError(
        f"The file was refused ({report.format}). {reasons}" + (f" (+{more} more)" if more > 0 else ""),
        details={"accepted": False, "scan": report.as_dict()},
    )


def _num_classes(params: dict[str, Any], default: int | None) -> int | None:
    value = params.get("num_classes") or default
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"num_classes must be a whole number, not {value!r}.") from None


def _first_forward(model: Any, shape: tuple[int, ...], arch: str, preprocessing: dict[str, Any]) -> bool:
    """Run the wrapped network once at the pre-processing's input size; a network that cannot take that size
    means the card (or the library default it kept) contradicts the model."""
    import torch

    try:
        with torch.inference_mode():
            logits = model(torch.zeros(1, *shape))
    except (RuntimeError, ValueError, AssertionError) as error:
        size = "×".join(map(str, shape))
        raise UserError(
            f"{arch} does not run on {size} inputs ({str(error).splitlines()[0][:200]}): the card's preprocessing "
            f"{preprocessing} contradicts the model; give the input_size it was trained at."
        ) from None
    return bool(torch.isfinite(logits).all())


def _weights(ctx: RunContext, path: Path, params: dict[str, Any], report: ScanReport) -> dict[str, Any]:
    from attacks.architectures import architecture
    from attacks.loading import load_network, save_safetensors

    if not params.get("arch"):
        raise UserError("Choose the architecture these weights belong to.")
    entry = architecture(str(params["arch"]))
    num_classes = _num_classes(params, entry.num_classes) or entry.num_classes
    ctx.progress(30, "Loading the weights")
    loaded = load_network(path, entry.name, num_classes, params.get("preprocessing") or None)
    ctx.check_cancel()
    ctx.progress(60, "Converting to safetensors")
    output = ctx.output_dir / "model.safetensors"
    network = getattr(loaded.model, "network", loaded.model)
    state_dict = network.state_dict()
    save_safetensors(state_dict, output)
    ctx.progress(85, "Running the network once")
    processing = loaded.preprocessing.as_dict()
    finite = _first_forward(loaded.model, loaded.preprocessing.input_shape, entry.name, processing)
    ctx.progress(92, "Timing a forward and an input gradient")
    timing = probe(loaded.model, loaded.preprocessing.input_shape) if finite else None
    return {
        "kind": "model",
        "format": report.format,
        "arch": entry.name,
        "num_classes": num_classes,
        "input_shape": list(loaded.preprocessing.input_shape),
        "preprocessing": processing,
        "tensor_count": len(state_dict),
        "parameter_count": sum(parameter.numel() for parameter in network.parameters()),
        "mismatches": [],
        "forward_finite": finite,
        "timing": timing,  # seconds per sample, for run-time estimates (attacks.cost)
        "output": output.name,
        "output_sha256": file_sha256(output),
        "output_size": output.stat().st_size,
    }


def _hf_folder(ctx: RunContext, path: Path, params: dict[str, Any], report: ScanReport) -> dict[str, Any]:
    from attacks.huggingface import PREFIX, load_folder, write_folder
    from attacks.preprocess import parse

    ctx.progress(30, "Building the network from config.json")
    folder = load_folder(path, num_classes=_num_classes(params, None))
    processing = parse(params.get("preprocessing") or {}, folder.preprocessing)
    ctx.check_cancel()
    ctx.progress(60, "Writing the normalised folder")
    output = write_folder(folder, ctx.output_dir / "model.zip")
    ctx.progress(85, "Running the network once")
    from attacks.networks import Preprocessed

    model = Preprocessed.of(folder.model, processing).eval()
    arch = PREFIX + folder.model_type
    finite = _first_forward(model, processing.input_shape, arch, processing.as_dict())
    ctx.progress(92, "Timing a forward and an input gradient")
    timing = probe(model, processing.input_shape) if finite else None
    return {
        "kind": "model",
        "format": report.format,
        "arch": arch,
        "num_classes": folder.num_classes,
        "class_names": folder.class_names,
        "input_shape": list(processing.input_shape),
        "preprocessing": processing.as_dict(),
        "tensor_count": len(folder.state_dict),
        "parameter_count": sum(parameter.numel() for parameter in folder.model.parameters()),
        "mismatches": [],
        "forward_finite": finite,
        "timing": timing,  # seconds per sample, for run-time estimates (attacks.cost)
        "output": output.name,
        "output_sha256": file_sha256(output),
        "output_size": output.stat().st_size,
    }


def _onnx(ctx: RunContext, path: Path, report: ScanReport) -> dict[str, Any]:
    from attacks.loading import load_onnx

    ctx.progress(30, "Starting onnxruntime")
    model = load_onnx(path)
    num_classes, forward_finite = model.num_classes, None
    if None not in model.input_shape:
        ctx.progress(70, "Running the network once")
        logits = model.predict(np.zeros((1, *model.input_shape), np.float32))
        num_classes, forward_finite = int(logits.shape[1]), bool(np.isfinite(logits).all())
    return {
        "kind": "model",
        "format": "onnx",
        "input_shape": list(model.input_shape),
        "num_classes": num_classes,
        "parameter_count": None,
        "forward_finite": forward_finite,
        "providers": model.providers,
        "output": None,
    }


def _class_names(params: dict[str, Any]) -> list[str] | None:
    value = params.get("class_names")
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not value or not all(isinstance(n, str) and n for n in value):
        raise UserError("class_names must be a list of the model's class names, in the order of its outputs.")
    return list(value)


def _image_transform(params: dict[str, Any], expect_shape: Any) -> Any:
    from attacks.imagefolder import DEFAULT_CROP_PCT, INTERPOLATIONS, ImageTransform

    shape = list(expect_shape) if expect_shape is not None else list(DEFAULT_IMAGE_SHAPE)
    if len(shape) != 3 or not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape):
        raise UserError(f"input_shape must be [channels, height, width] for images, e.g. [3, 224, 224], not {shape}.")
    return ImageTransform.for_shape(
        shape,
        crop_pct=float_param(params, "crop_pct", DEFAULT_CROP_PCT, 0.05, 1.0),
        interpolation=choice_param(params, "interpolation", "bilinear", INTERPOLATIONS),
    )


def _image_folder(ctx: RunContext, path: Path, params: dict[str, Any], expect_shape: Any) -> dict[str, Any]:
    """Decode the image folder, write dataset.npz with x as uint8 and preview PNGs beside it."""
    from attacks.datasets import save_npz
    from attacks.imagefolder import read_image_folder, thumbnails

    transform = _image_transform(params, expect_shape)
    num_classes = _num_classes(params, None)

    def on_progress(done: int, total: int) -> None:
        ctx.check_cancel()
        ctx.progress(30 + 40 * done / max(total, 1), f"Decoding images: {done}/{total}")

    ctx.progress(30, "Decoding the images")
    folder = read_image_folder(path, transform, class_names=_class_names(params), on_progress=on_progress)
    if num_classes is not None and int(folder.y.max()) >= num_classes:
        raise UserError(
            f"The image folder has {len(folder.class_names)} classes, but the model has {num_classes} outputs: "
            "give the model's class names, or upload only the classes it knows."
        )
    ctx.check_cancel()
    ctx.progress(75, "Writing the normalised dataset")
    output = save_npz(ctx.output_dir / "dataset.npz", folder.x, folder.y, keep_uint8=True)
    preview = []
    for number, (label, png) in enumerate(thumbnails(folder.x, folder.y, per_class=PREVIEW_PER_CLASS)):
        name = f"preview-{number + 1}.png"
        (ctx.output_dir / name).write_bytes(png)
        preview.append({"class": label, "class_name": folder.class_names[label], "image": name})
    return {
        "kind": "dataset",
        "format": "image_folder",
        "samples": int(len(folder.x)),
        "input_shape": list(folder.x.shape[1:]),
        "class_names": folder.class_names,
        "class_counts": folder.class_counts,
        "folders": folder.folders,
        "skipped": folder.skipped,
        "preview": preview,
        "transform": transform.as_dict(),
        "x_dtype": "uint8",
        "x_range": [int(folder.x.min()) / 255, int(folder.x.max()) / 255],
        "poisoned": None,
        "output": output.name,
        "output_sha256": file_sha256(output),
    }


def _dataset(ctx: RunContext, path: Path, params: dict[str, Any], report: ScanReport) -> dict[str, Any]:
    from attacks.datasets import save_npz
    from attacks.loading import load_dataset

    expect_shape = params.get("input_shape")
    if params.get("arch"):
        from attacks.architectures import architecture

        expect_shape = architecture(str(params["arch"])).input_shape
    if report.format == "image_folder":
        return _image_folder(ctx, path, params, expect_shape)
    ctx.progress(30, "Reading the arrays")
    x, y, mask = load_dataset(path, expect_shape=expect_shape, num_classes=_num_classes(params, None))
    ctx.check_cancel()
    ctx.progress(70, "Writing the normalised dataset")
    output = save_npz(ctx.output_dir / "dataset.npz", x, y, mask)
    return {
        "kind": "dataset",
        "format": "npz",
        "samples": int(len(x)),
        "input_shape": list(x.shape[1:]),
        "class_counts": np.bincount(y).tolist(),
        "x_range": [float(x.min()), float(x.max())],
        "poisoned": None if mask is None else int(mask.sum()),
        "output": output.name,
        "output_sha256": file_sha256(output),
    }


def run(ctx: RunContext, params: dict[str, Any]) -> dict[str, Any]:
    if not params.get("path"):
        raise UserError("No file to take in (the 'path' parameter is missing).")
    path = Path(params["path"])
    kind = params.get("kind", "model")
    if kind not in KINDS:
        raise UserError(f"kind must be 'model' or 'dataset', not {kind!r}.")
    ctx.progress(5, "Scanning the file")
    report = scan_file(path, max_bytes=int(params.get("max_bytes") or DEFAULT_MAX_BYTES), expect=kind)
    if not report.accepted:
        raise refused(report)
    ctx.check_cancel()
    if kind == "dataset":
        result = _dataset(ctx, path, params, report)
    elif report.format == "onnx":
        result = _onnx(ctx, path, report)
    elif report.format == "hf_folder":
        result = _hf_folder(ctx, path, params, report)
    else:
        result = _weights(ctx, path, params, report)
    ctx.progress(100, "Done")
    return {**result, "scan": report.as_dict()}
