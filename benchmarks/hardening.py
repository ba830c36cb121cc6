"""Hardening jobs: what each method costs and what it changes, on the demo's digits models and a 224×224 ResNet.

Digits: the demo (attacks.backdoor.demo: a teacher with the pixel trigger planted for class 0, and the student that
fine-tuned only its head) and the task's defaults (5 epochs, Adam, batch 64): all-layer fine-tuning of the head-only
student, fine-pruning and Neural Cleanse unlearning of the teacher (with the known trigger), PGD adversarial
training and TRADES of the teacher at ε = 0.1 (L∞), robust accuracy under APGD-CE + APGD-T (20 iterations, 200
test images: `ROBUST`). One row per method: wall and process CPU seconds, seconds per epoch, the before → after
numbers.

224×224: timm/resnet18 (random weights, 10 classes, its ImageNet pre-processing inside the model) on 16 random
images, one epoch of every method at batch 8: the cost of an epoch on a library model, nothing more (random images
say nothing about accuracy). Printed, never asserted (benchmarks/README.md).

    python -m benchmarks.hardening [--threads N] [--skip-digits] [--skip-library]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import timed

# The robust evaluation of the digits rows: ε 0.1 (L∞), APGD-CE + APGD-T with 20 iterations on 200 test images, to
# keep the benchmark short on a shared 2-core machine (the task's defaults are 100 iterations on 500 images).
ROBUST = {"eps": 0.1, "eval_steps": 20, "robust_limit": 200}


def _run(folder: Path, params: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    from attacks.context import RunContext
    from attacks.hardening import harden

    folder.mkdir(parents=True, exist_ok=True)
    return timed(lambda: harden.run(RunContext(output_dir=folder), params))


def _change(result: dict[str, Any], name: str) -> str:
    if name not in result["before"]:
        return "-"
    before, after = result["before"][name], result["after"][name]
    return f"{before['value']:.3f} -> {after['value']:.3f} [{after['ci95'][0]:.3f}, {after['ci95'][1]:.3f}]"


def _digits(folder: Path) -> None:
    from attacks.backdoor.demo import build_demo
    from attacks.datasets import save_npz

    demo = build_demo(folder / "demo", seed=0)
    paths = demo["paths"]
    poisoned = np.load(paths["train"])
    clean = ~poisoned["poison_mask"]
    clean_train = save_npz(folder / "train-clean.npz", poisoned["x"][clean], poisoned["y"][clean])
    common = {"arch": demo["arch"], "data_path": str(clean_train), "eval_path": paths["test"]}
    trigger = {"triggered_path": paths["test_triggered"], "target_class": demo["target_class"]}
    rows = [
        ("finetune", "student_head", trigger),
        ("fine-pruning", "teacher", trigger),
        ("unlearn", "teacher", trigger),
        ("adversarial", "teacher", ROBUST),
        ("trades", "teacher", ROBUST),
    ]
    print(
        f"{'digits (cnn-digits)':<26} {'epochs':>6} {'wall s':>7} {'cpu s':>7} {'s/epoch':>7}  "
        "clean accuracy before -> after [95 % CI]; trigger success or robust accuracy"
    )
    for method, model, extra in rows:
        params = {**common, **extra, "method": method, "model_path": paths[model]}
        result, wall, cpu = _run(folder / method, params)
        per_epoch = np.mean([row["seconds"] for row in result["history"]])
        measured = "trigger" if "trigger_success" in result["before"] else "robust"
        second = _change(result, "trigger_success" if measured == "trigger" else "robust_accuracy")
        print(
            f"{method + ' (' + model + ')':<26} {result['epochs']:>6} {wall:7.1f} {cpu:7.1f} {per_epoch:7.2f}  "
            f"clean {_change(result, 'clean_accuracy')}; {measured} {second}"
        )


def _library(folder: Path) -> None:
    import torch

    from attacks.architectures import build
    from attacks.datasets import save_npz
    from attacks.loading import save_safetensors

    arch = "timm/resnet18"
    torch.manual_seed(0)
    save_safetensors(build(arch, 10).state_dict(), folder / "resnet18.safetensors")
    rng = np.random.default_rng(0)
    x = rng.random((16, 3, 224, 224), dtype=np.float32)
    data = save_npz(folder / "images.npz", x, np.arange(16) % 10)
    common = {
        "arch": arch,
        "num_classes": 10,
        "model_path": str(folder / "resnet18.safetensors"),
        "data_path": str(data),
        "eval_path": str(data),
        "epochs": 1,
        "batch_size": 8,
    }
    rows = [
        ("finetune", {}),
        ("fine-pruning", {}),
        ("unlearn", {"target_class": 0, "cleanse_steps": 20}),
        ("adversarial", {"eps": 4 / 255, "eval_steps": 10, "robust_limit": 8}),
        ("trades", {"eps": 4 / 255, "eval_steps": 10, "robust_limit": 8}),
    ]
    print(f"\n{'224x224 (timm/resnet18)':<26} {'images':>6} {'wall s':>7} {'cpu s':>7} {'epoch s':>7}  notes")
    for method, extra in rows:
        result, wall, cpu = _run(folder / f"library-{method}", {**common, **extra, "method": method})
        notes = "10 attack steps per batch" if method in ("adversarial", "trades") else ""
        if method == "unlearn":
            notes = "incl. 20 Neural Cleanse steps"
        if method == "fine-pruning":
            notes = f"pruned {result['pruning']['pruned_units']} of {result['pruning']['units']} units"
        print(f"{method:<26} {16:>6} {wall:7.1f} {cpu:7.1f} {result['history'][0]['seconds']:7.1f}  {notes}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--skip-digits", action="store_true")
    parser.add_argument("--skip-library", action="store_true")
    args = parser.parse_args(argv)

    import torch

    from attacks.backdoor.common import pick_device
    from attacks.environment import retain_freed_memory

    retain_freed_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}; device {pick_device()}")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_digits:
            _digits(Path(tmp))
        if not args.skip_library:
            _library(Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
