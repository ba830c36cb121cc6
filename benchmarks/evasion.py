"""Evasion speed: our PGD against the floor and ART, and the ε-curve against one and G separate PGD runs.

Digits CNN (cnn-digits, trained a few seconds here), 500 test samples, batch 128, L∞ ε 0.1, CPU unless CUDA.
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


def _batches(x: np.ndarray, y: np.ndarray):
    for start in range(0, len(x), BATCH):
        yield torch.from_numpy(x[start : start + BATCH]), torch.from_numpy(y[start : start + BATCH])


def _floor(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int) -> None:
    for xb, yb in _batches(x, y):
        for _ in range(steps):
            xb = xb.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(xb), yb, reduction="sum"), xb)


def _ours(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    gen = torch.Generator().manual_seed(0)
    fooled = 0
    for xb, yb in _batches(x, y):
        _, hit = pgd(model, xb, yb, eps=EPS, steps=steps, generator=gen)
        fooled += int(hit.sum())
    return 1 - fooled / len(x)


def _art(model: torch.nn.Module, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    # ART's defaults: a fresh estimator on a model with trainable parameters.
    classifier = PyTorchClassifier(
        copy.deepcopy(model), torch.nn.CrossEntropyLoss(), (1, 8, 8), 10, clip_values=(0.0, 1.0)
    )
    attack = ProjectedGradientDescent(
        classifier, eps=EPS, eps_step=2.5 * EPS / steps, max_iter=steps, batch_size=BATCH, verbose=False
    )
    adv = attack.generate(x)
    return float((classifier.predict(adv).argmax(1) == y).mean())


def _median_seconds(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEATS):
        for name, run in runs.items():  # interleaved, so load changes hit every contender alike
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
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
    separate = robustness_curve(target, x, y, GRID, config, ctx, mode="separate")
    t = _median_seconds(
        {
            "one_pgd": lambda: _ours(frozen, x, y, 10),
            "one_floor": lambda: _floor(frozen, x, y, 10),
            "curve": lambda: robustness_curve(target, x, y, GRID, config, ctx),
            "ascending": lambda: robustness_curve(target, x, y, GRID, config, ctx, mode="ascending"),
            "separate": lambda: robustness_curve(target, x, y, GRID, config, ctx, mode="separate"),
        }
    )
    print(
        f"ε-curve, {len(GRID)} points, PGD-10: shared {t['curve']:.3f} s = "
        f"{t['curve'] / t['one_pgd']:.2f}× one PGD run "
        f"at ε {EPS} ({t['one_pgd']:.3f} s), {t['curve'] / t['one_floor']:.2f}× one full 10-step floor; "
        f"ascending carry-over only {t['ascending']:.3f} s ({t['ascending'] / t['one_pgd']:.2f}×); "
        f"{len(GRID)} separate runs {t['separate']:.3f} s ({t['separate'] / t['curve']:.2f}× the bisected curve)"
    )
    gap = max(
        abs(a["robust_accuracy"] - b["robust_accuracy"])
        for a, b in zip(shared["curve"], separate["curve"], strict=True)
    )
    print("ε:       " + " ".join(f"{p['eps']:>6g}" for p in shared["curve"]))
    print("shared:  " + " ".join(f"{p['robust_accuracy']:>6.3f}" for p in shared["curve"]))
    print("separate:" + " ".join(f"{p['robust_accuracy']:>6.3f}" for p in separate["curve"]))
    print(f"largest gap between shared and separate: {gap * 100:.1f} points")


if __name__ == "__main__":
    main()
