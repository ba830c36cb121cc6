"""Projected gradient descent (L∞ / L2) as a plain torch loop.

Only gradients with respect to the input are computed (parameters frozen, `torch.autograd.grad` on the input),
and a sample leaves the batch as soon as it is misclassified: its fooling point is kept, so later steps cost
nothing for it. The success check reuses the logits of the gradient step, so there is no extra forward pass
per step, only one at the end for the final iterate. ART's `ProjectedGradientDescent.generate` computes
parameter gradients too and measures ~1.5–2× this floor (docs/evasion.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

NORMS = ("inf", "2")


def default_step_size(eps: float, steps: int) -> float:
    """Madry et al.'s 2.5·ε/steps: enough to cross the ball and back once from any random start."""
    return 2.5 * eps / max(steps, 1)


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def _project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str, low: float, high: float) -> torch.Tensor:
    delta = delta.clamp(-eps, eps) if norm == "inf" else delta * (eps / _flat_norm(delta)).clamp(max=1.0)
    return (x + delta).clamp(low, high) - x


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    import torch

    if norm == "inf":
        return (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    # Uniform in the L2 ball: a random direction times eps·u^(1/d).
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    d = x[0].numel()
    radius = torch.rand((len(x),), generator=generator, device=x.device, dtype=x.dtype) ** (1.0 / d) * eps
    return direction / _flat_norm(direction) * radius.view(-1, *([1] * (x.dim() - 1)))


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Untargeted PGD on one batch. Returns (adversarial x, fooled mask); unfooled samples get the final iterate."""
    import torch
    import torch.nn.functional as F

    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
    low, high = clip
    step = default_step_size(eps, steps) if step_size is None else step_size
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    x = x.detach()
    result = x.clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    index = torch.arange(len(x), device=x.device)
    xs, ys = x, y
    delta = _random_start(xs, eps, norm, generator) if random_start else torch.zeros_like(xs)
    delta = _project(delta, xs, eps, norm, low, high)
    for _ in range(steps):
        if len(index) == 0:
            break
        delta.requires_grad_(True)
        logits = model(xs + delta)
        loss = F.cross_entropy(logits, ys, reduction="sum")  # sum: per-sample gradients independent of batch size
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            delta = delta.detach()
            wrong = logits.argmax(1) != ys
            if wrong.any():  # already misclassified at this point: keep it and drop the sample
                result[index[wrong]] = xs[wrong] + delta[wrong]
                fooled[index[wrong]] = True
                keep = ~wrong
                index, xs, ys, delta, grad = index[keep], xs[keep], ys[keep], delta[keep], grad[keep]
            direction = grad.sign() if norm == "inf" else grad / _flat_norm(grad)
            delta = delta + step * direction
            delta = _project(delta, xs, eps, norm, low, high)
    if len(index):
        with torch.no_grad():
            final = xs + delta
            result[index] = final
            fooled[index] = model(final).argmax(1) != ys
    return result, fooled
