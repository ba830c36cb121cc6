"""Lp-ball geometry shared by the gradient attacks (PGD, the AutoAttack stages, the robustness curve, adversarial
training), for L∞ ("inf") and L2 ("2").

Every function works on a batch: the first dimension is the sample, and norms are taken per sample over the rest.
ε is one float for the batch, or (projections) a tensor of one radius per sample shaped by `per_sample`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

NORMS = ("inf", "2")


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")


def per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """One value per sample, shaped to broadcast against the batch `like`."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def lp_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """Each sample's perturbation size: max |δ_i| (L∞) or ‖δ‖₂."""
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "inf" else flat.norm(dim=1)


def _l2_scale(delta: torch.Tensor) -> torch.Tensor:
    return per_sample(lp_norm(delta, "2").clamp_min(1e-12), delta)


def dual_norm(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Each sample's gradient size in the dual norm (L1 for L∞, L2 for L2): a linear loss rises by ε times it."""
    flat = grad.flatten(1)
    return flat.abs().sum(1) if norm == "inf" else flat.norm(dim=1)


def into_ball(delta: torch.Tensor, eps: float | torch.Tensor, norm: str) -> torch.Tensor:
    """The perturbations projected onto the ε-ball: clamped coordinates (L∞), shortened when too long (L2)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _l2_scale(delta)).clamp(max=1.0)


def project(
    delta: torch.Tensor, x: torch.Tensor, eps: float | torch.Tensor, norm: str, clip: tuple[float, float]
) -> torch.Tensor:
    """A perturbation of x projected onto the ε-ball, then into the input range (which only shrinks it)."""
    return (x + into_ball(delta, eps, norm)).clamp(*clip) - x


def project_point(
    x: torch.Tensor, candidate: torch.Tensor, eps: float, norm: str, clip: tuple[float, float]
) -> torch.Tensor:
    """The point `candidate` projected onto the ε-ball around x, then into the input range."""
    return (x + into_ball(candidate - x, eps, norm)).clamp(*clip)


def steepest_ascent(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit step (in `norm`) that raises a linear loss most: sign(g) for L∞, g / ‖g‖₂ for L2."""
    return grad.sign() if norm == "inf" else grad / _l2_scale(grad)


def random_start(
    x: torch.Tensor, eps: float, norm: str, generator: torch.Generator, *, uniform_in_ball: bool = True
) -> torch.Tensor:
    """A perturbation drawn from the ε-ball (before clipping to the input range), like x.

    L∞: uniform in the box. L2: a random direction at radius ε·u^(1/d), uniform in the ball; uniform_in_ball=False
    takes radius ε·u instead, which starts more points near x (adversarial training's start). The numbers are drawn
    on the generator's device, so a CPU generator gives the same starts whether x is on a CPU or a GPU.
    """
    import torch

    device = generator.device
    if norm == "inf":
        return ((torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype) * 2 - 1) * eps).to(x)
    direction = torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
    u = torch.rand((len(x),), generator=generator, device=device, dtype=x.dtype)
    radius = (u ** (1.0 / x[0].numel()) if uniform_in_ball else u) * eps
    return (direction / _l2_scale(direction) * per_sample(radius, direction)).to(x)
