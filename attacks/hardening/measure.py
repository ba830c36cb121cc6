"""The before / after numbers of a hardening run: clean accuracy, trigger success and robust accuracy, each with
its sample count and a 95 % Wilson interval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from attacks.context import RunContext
from attacks.stats import wilson_interval

if TYPE_CHECKING:
    from torch import nn

# The robust evaluations a run can ask for: AutoAttack's stages, run in this order (attacks.evasion.autoattack).
ROBUST_EVALUATIONS = {
    "apgd": ("apgd-ce", "apgd-t"),
    "autoattack": ("apgd-ce", "apgd-t", "fab-t", "square"),
}


def proportion(successes: int, trials: int) -> dict[str, Any]:
    """A measured rate as a result reports it: value, count, samples and the 95 % Wilson interval."""
    low, high = wilson_interval(successes, trials)
    return {
        "value": round(successes / trials, 4) if trials else None,
        "count": int(successes),
        "samples": int(trials),
        "ci95": [round(low, 4), round(high, 4)],
    }


def input_box(x: np.ndarray) -> tuple[float, float]:
    """The range attacks and training keep inputs in: [0, 1], widened to the data's own range where it goes beyond."""
    return min(0.0, float(x.min())), max(1.0, float(x.max()))


def predictions(model: nn.Module, x: np.ndarray) -> np.ndarray:
    from attacks.backdoor.common import predict_logits

    return predict_logits(model.eval(), x).argmax(1).numpy()


def clean_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    return proportion(int((predictions(model, x) == y).sum()), len(y))


def trigger_success(model: nn.Module, x_triggered: np.ndarray, y_true: np.ndarray, target: int) -> dict[str, Any]:
    """Share of triggered inputs of other classes than `target` that the model sends to `target`."""
    others = y_true != target
    return proportion(int((predictions(model, x_triggered[others]) == target).sum()), int(others.sum()))


def stamp(x: np.ndarray, mask: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """Images with a (reversed) trigger: (1 − mask)·x + mask·pattern."""
    return ((1.0 - mask) * x + mask * pattern).astype(np.float32)


class _Span:
    """A run context seen by a sub-step: its 0–100 % progress mapped into [start, end] of the run's."""

    def __init__(self, ctx: RunContext, start: float, end: float, label: str) -> None:
        self._ctx, self._start, self._end, self._label = ctx, start, end, label

    def check_cancel(self) -> None:
        self._ctx.check_cancel()

    def progress(self, percent: float, message: str = "") -> None:
        self._ctx.progress(self._start + (self._end - self._start) * percent / 100, f"{self._label}: {message}")


def robust_accuracy(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    norm: str,
    evaluation: str,
    steps: int,
    seed: int,
    batch_size: int,
    ctx: RunContext,
    span: tuple[float, float],
    label: str,
) -> dict[str, Any]:
    """Robust accuracy under `evaluation` (ROBUST_EVALUATIONS): correct and fooled by none of its stages."""
    import torch

    from attacks.evasion.autoattack import autoattack

    model.eval().requires_grad_(False)
    result = autoattack(
        model,
        torch.from_numpy(x),
        torch.from_numpy(y),
        eps=eps,
        norm=norm,
        clip=input_box(x),
        batch_size=batch_size,
        seed=seed,
        stages=ROBUST_EVALUATIONS[evaluation],
        apgd_steps=steps,
        fab_steps=steps,
        ctx=_Span(ctx, *span, label),
    )
    model.requires_grad_(True)
    return {
        **proportion(int(result.robust.sum()), len(y)),
        "stages": [{"name": s.name, "attacked": s.attacked, "fooled": s.fooled} for s in result.stages],
    }
