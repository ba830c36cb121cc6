"""APGD-CE, the cascade's first stage: auto-PGD (Croce & Hein, ICML 2020) on the cross-entropy loss.

100 iterations; the step size starts at 2ε and is halved at checkpoints where progress stalls, with momentum 0.75.
APGD-T runs the same optimiser on the targeted DLR loss (`attacks.evasion.autoattack.dlr`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from attacks.evasion import lp
from attacks.evasion.active import ActiveSamples
from attacks.evasion.autoattack import passes
from attacks.evasion.autoattack.dlr import dlr_targeted

if TYPE_CHECKING:
    import torch
    from torch import nn


def cross_entropy(y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch.nn.functional as F

    return lambda logits: F.cross_entropy(logits, y, reduction="none")


def checkpoint_lengths(steps: int) -> tuple[int, int, int]:
    """APGD's checkpoints w_j = ⌈p_j·N⌉ with p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)."""
    return max(math.ceil(0.22 * steps), 1), math.ceil(0.03 * steps), max(math.ceil(0.06 * steps), 1)


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    steps: int = 100,
    target: torch.Tensor | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    generator: torch.Generator | None = None,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Auto-PGD on one batch: cross-entropy (untargeted) or, given `target`, targeted DLR.

    Returns (candidates, found): for each sample the first iterate that was misclassified, or x when none was.
    """
    import torch

    gen = generator or torch.Generator(device=x.device).manual_seed(0)
    x = x.detach()
    active = ActiveSamples(x)
    xs, ys, ts = x, y, target

    def loss_for(ys: torch.Tensor, ts: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
        return cross_entropy(ys) if ts is None else dlr_targeted(ys, ts)

    xa = lp.project_point(xs, xs + lp.random_start(xs, eps, norm, gen), eps, norm, clip)
    logits, loss, grad = passes.logits_and_grad(model, xa, loss_for(ys, ts))
    step = torch.full((len(xs),), 2.0 * eps, device=x.device, dtype=x.dtype)
    x_prev, x_best, grad_best, loss_best = xa.clone(), xa.clone(), grad.clone(), loss.clone()
    loss_prev, loss_best_at_check = loss.clone(), loss.clone()
    increases = torch.zeros(len(xs), device=x.device)
    reduced_at_check = torch.zeros(len(xs), dtype=torch.bool, device=x.device)
    period, shrink, shortest = checkpoint_lengths(steps)
    since_check = 0

    for i in range(steps + 1):
        with torch.no_grad():
            # An iterate that already fools the model is kept, and its sample leaves the batch with all its state.
            wrong = logits.argmax(1) != ys
            (xs, ys, ts, xa, x_prev, grad, step, loss, loss_prev, increases, x_best, grad_best, loss_best,
             loss_best_at_check, reduced_at_check) = active.drop(
                wrong, xa, xs, ys, ts, xa, x_prev, grad, step, loss, loss_prev, increases, x_best, grad_best,
                loss_best, loss_best_at_check, reduced_at_check
            )  # fmt: skip
            if len(active) == 0 or i == steps:
                break
            if i > 0:
                increases += (loss > loss_prev).float()
                better = loss > loss_best
                x_best[better], grad_best[better], loss_best[better] = xa[better], grad[better], loss[better]
                loss_prev = loss
                since_check += 1
                if since_check == period:
                    # Halve the step where fewer than 75% of the steps since the last checkpoint raised the loss,
                    # or where the best loss did not move and the step was not just halved; restart from the best.
                    stalled = increases < 0.75 * period
                    stalled |= ~reduced_at_check & (loss_best <= loss_best_at_check)
                    step[stalled] /= 2
                    xa[stalled], grad[stalled] = x_best[stalled], grad_best[stalled]
                    x_prev[stalled] = x_best[stalled]  # no momentum across a restart
                    reduced_at_check, loss_best_at_check = stalled, loss_best.clone()
                    increases.zero_()
                    since_check, period = 0, max(period - shrink, shortest)
            # z = P(x + η·direction); x_next = P(x + α(z − x) + (1 − α)(x − x_prev)), α = 1 on the first step.
            alpha = 1.0 if i == 0 else 0.75
            z = lp.project_point(xs, xa + lp.per_sample(step, xa) * lp.steepest_ascent(grad, norm), eps, norm, clip)
            x_next = lp.project_point(xs, xa + alpha * (z - xa) + (1 - alpha) * (xa - x_prev), eps, norm, clip)
            x_prev, xa = xa, x_next
        if check is not None and i % passes.CHECK_EVERY == passes.CHECK_EVERY - 1:
            check()
        logits, loss, grad = passes.logits_and_grad(model, xa, loss_for(ys, ts))
    return active.result, active.found
