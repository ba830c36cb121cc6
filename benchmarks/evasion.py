"""Evasion speed: our PGD against the floor and ART, and the ε-curve against one and G separate PGD runs.

Digits CNN (cnn-digits, trained a few seconds here), 500 test samples, batch 128, L∞ ε 0.1, CPU unless CUDA.
CIFAR-size ResNet-18 (the catalogue's resnet18-cifar, random weights, eval mode): 64 uniform-noise 3×32×32 images
labelled with the model's own predictions (so every sample starts correctly classified), batch 32, L∞ ε 8/255,
PGD-5; random weights make the robust accuracy meaningless, the timing is what counts.
Floor = k × (forward + gradient with respect to the input only), parameters frozen, no bookkeeping.
Interleaved runs, median of 3. Printed, never asserted (targets: PGD ≤ 1.15× floor; 8-point curve ≤ 2× one
PGD run). Run: `python -m benchmarks.evasion`.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from attacks.architectures import build
from attacks.context import RunContext
from attacks.datasets import digits_split
from attacks.evasion import Target, pgd, robustness_curve
from attacks.evasion.attacks import Settings

EPS, BATCH, REPEATS = 0.1, 128, 3
RESNET_EPS, RESNET_BATCH, RESNET_SAMPLES, RESNET_STEPS = 8 / 255, 32, 64, 5
GRID = [0.0125, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3]


def _train(split) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build("cnn-digits", 10)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
    for _ in range(20):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    return model.eval()


def _batches(x: np.ndarray, y: np.ndarray, batch: int = BATCH):
    for start in range(0, len(x), batch):
        yield torch.from_numpy(x[start : start + batch]), torch.from_numpy(y[start : start + batch])


def _floor(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int, batch: int = BATCH) -> None:
    for xb, yb in _batches(x, y, batch):
        for _ in range(steps):
            xb = xb.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xb), yb, reduction="sum"), xb)


def _ours(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int, eps: float = EPS, batch: int = BATCH
) -> float:
    gen = torch.Generator().manual_seed(0)
    fooled = 0
    for xb, yb in _batches(x, y, batch):
        _, hit = pgd(model, xb, yb, eps=eps, steps=steps, generator=gen)
        fooled += int(hit.sum())
    return 1 - fooled / len(x)


def _art(
    model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int, eps: float = EPS, batch: int = BATCH
) -> float:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    # ART's defaults: a fresh estimator on a model with trainable parameters.
    classifier = PyTorchClassifier(
        copy.deepcopy(model), torch.nn.CrossEntropyLoss(), tuple(x.shape[1:]), 10, clip_values=(0.0, 1.0)
    )
    attack = ProjectedGradientDescent(
        classifier, eps=eps, eps_step=2.5 * eps / steps, max_iter=steps, batch_size=batch, verbose=False
    )
    adv = attack.generate(x)
    return float((classifier.predict(adv).argmax(1) == y).mean())


def _median_seconds(
    runs: dict[str, Callable[[], object]], clock: Callable[[], float] = time.perf_counter
) -> dict[str, float]:
    """Median time of each run over REPEATS interleaved rounds, by `clock`: wall time by default; the process's CPU
    time (time.process_time) is steadier on a machine whose cores other programs share."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEATS):
        for name, run in runs.items():  # interleaved, so load changes hit every contender alike
            started = clock()
            run()
            times[name].append(clock() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    torch.set_grad_enabled(True)
    split = digits_split(0)
    model = _train(split)
    frozen = copy.deepcopy(model).requires_grad_(False)
    x, y = split.x_test, split.y_test
    correct = frozen(torch.from_numpy(x)).argmax(1).numpy() == y
    print(
        f"digits CNN: clean accuracy {correct.mean():.3f} on {len(x)} samples, torch threads {torch.get_num_threads()}"
    )
    for steps in (10, 20):
        t = _median_seconds(
            {
                "floor": lambda s=steps: _floor(frozen, x, y, s),
                "ours": lambda s=steps: _ours(frozen, x, y, s),
                "art": lambda s=steps: _art(model, x, y, s),
            }
        )
        ours_acc, art_acc = _ours(frozen, x, y, steps), _art(model, x, y, steps)
        print(
            f"PGD-{steps}: floor {t['floor']:.3f} s, ours {t['ours']:.3f} s ({t['ours'] / t['floor']:.2f}× floor), "
            f"ART {t['art']:.3f} s ({t['art'] / t['floor']:.2f}× floor, {t['art'] / t['ours']:.2f}× ours); "
            f"robust accuracy ours {ours_acc:.3f}, ART {art_acc:.3f}"
        )

    target = Target(input_shape=(1, 8, 8), num_classes=10, model=frozen, device="cpu")
    ctx = RunContext(output_dir=Path(tempfile.mkdtemp()))
    config = Settings(eps=EPS, steps=10, batch_size=BATCH)
    shared = robustness_curve(target, x, y, GRID, config, ctx)
    bisected = robustness_curve(target, x, y, GRID, config, ctx, mode="bisect")
    separate = robustness_curve(target, x, y, GRID, config, ctx, mode="separate")
    t = _median_seconds(
        {
            "one_pgd": lambda: _ours(frozen, x, y, 10),
            "one_floor": lambda: _floor(frozen, x, y, 10),
            "curve": lambda: robustness_curve(target, x, y, GRID, config, ctx),
            "bisect": lambda: robustness_curve(target, x, y, GRID, config, ctx, mode="bisect"),
            "ascending": lambda: robustness_curve(target, x, y, GRID, config, ctx, mode="ascending"),
            "separate": lambda: robustness_curve(target, x, y, GRID, config, ctx, mode="separate"),
        }
    )
    print(
        f"ε-curve, {len(GRID)} points, PGD-10: guessed search {t['curve']:.3f} s = "
        f"{t['curve'] / t['one_pgd']:.2f}× one PGD run at ε {EPS} ({t['one_pgd']:.3f} s), "
        f"{t['curve'] / t['one_floor']:.2f}× one full 10-step floor, {shared['attacks_per_sample']} attacks/sample; "
        f"bisection {t['bisect']:.3f} s ({t['bisect'] / t['one_pgd']:.2f}×, {bisected['attacks_per_sample']}); "
        f"ascending carry-over only {t['ascending']:.3f} s ({t['ascending'] / t['one_pgd']:.2f}×); "
        f"{len(GRID)} separate runs {t['separate']:.3f} s ({t['separate'] / t['one_pgd']:.2f}×)"
    )
    print("ε:       " + " ".join(f"{p['eps']:>6g}" for p in shared["curve"]))
    for name, result in (("search:", shared), ("bisect:", bisected), ("separate:", separate)):
        print(f"{name:<9}" + " ".join(f"{p['robust_accuracy']:>6.3f}" for p in result["curve"]))
    for name, result in (("search", shared), ("bisection", bisected)):
        gap = max(
            abs(a["robust_accuracy"] - b["robust_accuracy"])
            for a, b in zip(result["curve"], separate["curve"], strict=True)
        )
        print(f"largest gap between {name} and separate: {gap * 100:.1f} points")
    _resnet()
    # AutoAttack: our cascade side by side with ART's default AutoAttack on the same model and data.
    from benchmarks import autoattack

    autoattack.main([])


def _resnet() -> None:
    """PGD-k on a CIFAR-size ResNet-18: ours and ART's default call against the floor."""
    torch.manual_seed(0)
    model = build("resnet18-cifar", 10).eval()
    frozen = copy.deepcopy(model).requires_grad_(False)
    x = np.random.default_rng(0).random((RESNET_SAMPLES, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        y = frozen(torch.from_numpy(x)).argmax(1).numpy()
    k, eps, batch = RESNET_STEPS, RESNET_EPS, RESNET_BATCH
    t = _median_seconds(
        {
            "floor": lambda: _floor(frozen, x, y, k, batch),
            "ours": lambda: _ours(frozen, x, y, k, eps, batch),
            "art": lambda: _art(model, x, y, k, eps, batch),
        }
    )
    ours_acc, art_acc = _ours(frozen, x, y, k, eps, batch), _art(model, x, y, k, eps, batch)
    print(
        f"ResNet-18 (random weights), {RESNET_SAMPLES} images 3×32×32, batch {batch}, ε 8/255, PGD-{k}: "
        f"floor {t['floor']:.3f} s, ours {t['ours']:.3f} s ({t['ours'] / t['floor']:.2f}× floor), "
        f"ART {t['art']:.3f} s ({t['art'] / t['floor']:.2f}× floor, {t['art'] / t['ours']:.2f}× ours); "
        f"robust accuracy ours {ours_acc:.3f}, ART {art_acc:.3f}"
    )


if __name__ == "__main__":
    main()
