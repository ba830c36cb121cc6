"""Lp-ball geometry shared by the gradient attacks (PGD, the AutoAttack stages), for L∞ ("inf") and L2 ("2").

Every function works on a batch: the first dimension is the sample, and norms are taken per sample over the rest.
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


def into_ball(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The perturbations projected onto the ε-ball: clamped coordinates (L∞), shortened when too long (L2)."""
    if norm == "inf":
        return delta.clamp(-eps, eps)
    return delta * per_sample((eps / lp_norm(delta, "2").clamp_min(1e-12)).clamp(max=1.0), delta)


def project(delta: torch.Tensor, x: torch.Tensor, eps: float, norm: str, clip: tuple[float, float]) -> torch.Tensor:
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


def random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator) -> torch.Tensor:
    """A perturbation drawn uniformly from the ε-ball (before clipping to the input range)."""
    import torch

    if norm == "inf":
        return (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    # Uniform in the L2 ball: a random direction times ε·u^(1/d).
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    radius = torch.rand((len(x),), generator=generator, device=x.device, dtype=x.dtype) ** (1.0 / x[0].numel()) * eps
    return direction / _l2_scale(direction) * per_sample(radius, x)
