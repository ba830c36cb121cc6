"""Projected gradient descent (L∞ / L2) as a plain torch loop.

Only gradients with respect to the input are computed (parameters frozen, `torch.autograd.grad` on the input),
and a sample leaves the batch as soon as it is misclassified: its fooling point is kept, so later steps cost
nothing for it. The success check reuses the logits of the gradient step, so there is no extra forward pass
per step, only one at the end for the final iterate. With a `judge` (the float32 network, when `model` computes
the gradients in bfloat16: attacks.networks.LowPrecision) a sample leaves the batch only when the judge agrees it
is misclassified, and the final iterate is judged by it too. ART's `ProjectedGradientDescent.generate` computes
parameter gradients too and measures ~1.5–2× this floor (docs/evasion.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from attacks.evasion import lp
from attacks.evasion.active import ActiveSamples
from attacks.evasion.lp import NORMS

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["NORMS", "default_step_size", "judged", "pgd"]


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s 2.5·ε/steps: enough to cross the ball and back once from any random start."""
    return 2.5 * eps / max(steps, 1)


def judged(wrong: torch.Tensor, judge: nn.Module | None, points: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`wrong` (what the gradient network's logits call misclassified) kept only where `judge` agrees, which
    predicts just those points; `wrong` itself without a judge."""
    if judge is not None and bool(wrong.any()):
        suspects = wrong.nonzero().squeeze(1)
        wrong[suspects] = judge(points[suspects]).argmax(1) != y[suspects]
    return wrong


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "inf",
    steps: int = 10,
    step_size: float | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    random_start: bool = True,
    generator: torch.Generator | None = None,
    judge: nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Untargeted PGD on one batch. Returns (adversarial x, fooled mask); unfooled samples get the final iterate.
    `judge`, when given, decides what counts as misclassified (default: `model`'s own logits)."""
    import torch
    import torch.nn.functional as F

    lp.check_norm(norm)
    step = default_step_size(eps, steps) if step_size is None else step_size
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    x = x.detach()
    active = ActiveSamples(x)
    xs, ys = x, y
    delta = lp.random_start(xs, eps, norm, generator) if random_start else torch.zeros_like(xs)
    delta = lp.project(delta, xs, eps, norm, clip)
    for _ in range(steps):
        if len(active) == 0:
            break
        delta.requires_grad_(True)
        point = xs + delta
        logits = model(point)
        loss = F.cross_entropy(logits, ys, reduction="sum")  # sum: per-sample gradients independent of batch size
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = delta.detach()
            # Already misclassified at this point: keep it and drop the sample.
            wrong = judged(logits.argmax(1) != ys, judge, point.detach(), ys)
            xs, ys, delta, grad = active.drop(wrong, point.detach(), xs, ys, delta, grad)
            delta = lp.project(delta + step * lp.steepest_ascent(grad, norm), xs, eps, norm, clip)
    if len(active):
        with torch.no_grad():
            final = xs + delta
            active.settle(final, (judge or model)(final).argmax(1) != ys)
    return active.result, active.found
