"""Run-time estimates against measured runs: is the run form's "at most" an upper bound, and how loose is it?

For each model, the intake's probe (attacks.cost.probe) times a forward and a forward + input gradient per
sample; attacks.cost.job_work counts a task's passes; their product is the estimate. The same engine tasks a job
runs then run in this process on the same samples, and the measured time is printed beside the estimate.
PGD runs with ε so small that no sample is fooled (every step runs: the worst case the estimate is for) and with
ε 0.1 (samples fooled early stop: the usual case). Neural Cleanse runs with its default screening (100 steps on
the digits CNN, 10 on the ResNet-18: 1,600 image gradients already). The measured time includes what a job does
besides the passes (loading, ART's import, example images); the web's estimate adds riskapp.evaluations.estimates'
START_SECONDS for it. Printed, never asserted.

    python -m benchmarks.estimates [--samples 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _models(folder: Path) -> list[tuple[str, Path, tuple[int, ...], int]]:
    import torch

    from attacks.architectures import build
    from attacks.loading import save_safetensors

    torch.manual_seed(0)
    made = []
    for arch, shape, classes in (("cnn-digits", (1, 8, 8), 10), ("timm/resnet18", (3, 224, 224), 10)):
        path = folder / f"{arch.replace('/', '-')}.safetensors"
        save_safetensors(build(arch, classes).state_dict(), path)
        made.append((arch, path, shape, classes))
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import torch

    from attacks.context import RunContext
    from attacks.cost import job_work, probe
    from attacks.datasets import save_npz
    from attacks.loading import load_network
    from attacks.tasks import TASKS

    torch.set_num_threads(args.threads)
    print(f"{'model':<16} {'task':<34} {'estimate':>9} {'measured':>9} {'measured/estimate':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for arch, path, shape, classes in _models(folder):
            loaded = load_network(path, arch, classes, None)
            timing = probe(loaded.model, shape)
            rng = np.random.default_rng(0)
            x = rng.random((args.samples, *shape), dtype=np.float32)
            with torch.inference_mode():
                y = loaded.model(torch.from_numpy(x)).argmax(1).numpy()  # every sample starts correct
            data = save_npz(folder / f"{arch.replace('/', '-')}-data.npz", x, y)
            common = {"model_path": str(path), "arch": arch, "num_classes": classes, "data_path": str(data)}
            steps = 100 if arch == "cnn-digits" else 10  # 10 classes × 16 images a step: minutes at 224×224
            runs = [
                ("PGD-10, nothing fooled (worst case)", "evasion", {"attacks": ["pgd_linf"], "eps": 1e-6}),
                ("PGD-10, ε 0.1", "evasion", {"attacks": ["pgd_linf"], "eps": 0.1}),
                (f"Neural Cleanse, {steps} steps", "backdoor_scan", {"steps": steps}),
                ("STRIP, 20 overlays", "strip", {}),
            ]
            for label, task, params in runs:
                params = {**common, "sample_limit": args.samples, **params}
                estimate = job_work(task, params, samples=args.samples, num_classes=classes).seconds(timing)
                out = Path(tempfile.mkdtemp(dir=folder))
                started = time.perf_counter()
                TASKS[task](RunContext(output_dir=out), params)
                measured = time.perf_counter() - started
                print(f"{arch:<16} {label:<34} {estimate:>8.1f}s {measured:>8.1f}s {measured / estimate:>17.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
