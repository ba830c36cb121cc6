"""The shared-work ε curve agrees with separate PGD runs per ε."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attacks.evasion import lp, robustness_curve
from attacks.evasion.attacks import Settings
from attacks.evasion.curve import _pgd_radii
from attacks.evasion.pgd import pgd

GRID = [0.02, 0.05, 0.1, 0.15, 0.2]


def _robust(result: dict) -> list[float]:
    return [p["robust_accuracy"] for p in result["curve"]]


def test_curve_matches_separate_pgd_runs(cnn, digits, ctx):
    x, y = digits.x_test[:300], digits.y_test[:300]
    config = Settings(eps=GRID[-1], steps=10, batch_size=150, seed=0)
    separate = robustness_curve(cnn, x, y, GRID, config, ctx, mode="separate")
    slow = _robust(separate)
    correct = separate["curve"][0]["attacked"]
    assert sum(p["attacked"] for p in separate["curve"]) == len(GRID) * correct
    for mode, attacks_per_sample in (("search", 2.5), ("bisect", math.ceil(math.log2(len(GRID) + 1)))):
        shared = robustness_curve(cnn, x, y, GRID, config, ctx, mode=mode)
        fast = _robust(shared)
        assert all(abs(a - b) <= 0.01 for a, b in zip(fast, slow, strict=True)), (mode, fast, slow)
        assert fast == sorted(fast, reverse=True) and fast[0] > fast[-1]
        # search: a failure and a success next to each other, about 2 attacks per sample when the guess is good;
        # bisect: at most ceil(log2(G + 1)) attacks per sample. Separate runs need G.
        assert sum(p["attacked"] for p in shared["curve"]) <= attacks_per_sample * correct, mode
        assert shared["attacks_per_sample"] <= attacks_per_sample
        assert shared["trustworthy"], shared["flags"]
        assert shared["mode"] == mode and shared["clean_accuracy"] == separate["clean_accuracy"]


@pytest.mark.parametrize("norm, eps", [("inf", 0.1), ("2", 0.8)])
def test_per_sample_radius_loop_is_pgd(cnn, digits, norm, eps):
    """The batched loop with one radius per sample is pgd.py's loop when every radius is the same."""
    x, y = torch.from_numpy(digits.x_test[:64]), torch.from_numpy(digits.y_test[:64])
    adv, fooled = pgd(cnn.model, x, y, eps=eps, norm=norm, steps=5, random_start=False)
    hit, delta = _pgd_radii(
        cnn.model, x, y, torch.full((64,), eps), torch.zeros_like(x), norm=norm, steps=5, step_size=None, clip=(0, 1)
    )
    assert torch.equal(hit, fooled)
    assert torch.allclose(x + delta, adv, atol=1e-6)


RADII = torch.tensor([0.0, 0.05, 0.1, 0.5, 2.0])


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(len(RADII), 1, 8, 8, generator=generator), torch.randn(len(RADII), 1, 8, 8, generator=generator)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_the_curves_projection_onto_radii_per_sample_is_what_it_computed_before_the_lp_module(norm):
    """The formula curve.py carried before it used lp.py, with ε broadcast per sample, bit for bit."""
    x, delta = _batch(0)
    eps = lp.per_sample(RADII, x)
    if norm == "inf":
        before = torch.maximum(torch.minimum(delta, eps), -eps)
    else:
        before = delta * (eps / lp.per_sample(delta.flatten(1).norm(dim=1).clamp_min(1e-12), x)).clamp(max=1.0)
    assert torch.equal(lp.project(delta, x, eps, norm, (0, 1)), (x + before).clamp(0, 1) - x)
    for i, radius in enumerate(RADII.tolist()):  # each sample as if it were projected with its radius alone
        assert torch.equal(lp.project(delta, x, eps, norm, (0, 1))[i], lp.project(delta, x, radius, norm, (0, 1))[i])


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_the_curves_random_start_is_what_it_drew_before_the_lp_module(norm):
    """The curve stretches lp's unit-ball start to each radius: the same draws and numbers as its former formula."""
    x, _ = _batch(1)
    eps = lp.per_sample(RADII, x)
    start = lp.random_start(x, 1.0, norm, torch.Generator().manual_seed(3)) * eps
    generator = torch.Generator().manual_seed(3)
    if norm == "inf":
        before = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator)
        radius = torch.rand((len(x),), generator=generator) ** (1.0 / x[0].numel())
        scale = lp.per_sample(direction.flatten(1).norm(dim=1).clamp_min(1e-12), x)
        before = direction / scale * lp.per_sample(radius, x) * eps
    assert torch.equal(start, before)
    assert (lp.lp_norm(start, norm) <= RADII * (1 + 1e-6)).all()


def test_ascending_mode_is_exact_carry_over(cnn, digits, ctx):
    config = Settings(eps=0.2, steps=10, batch_size=150)
    result = robustness_curve(cnn, digits.x_test[:150], digits.y_test[:150], GRID, config, ctx, mode="ascending")
    attacked = [p["attacked"] for p in result["curve"]]
    assert attacked == sorted(attacked, reverse=True) and attacked[-1] < attacked[0]


def test_l2_curve(cnn, digits, ctx):
    config = Settings(eps=1.5, norm="2", steps=10, batch_size=100)
    result = robustness_curve(cnn, digits.x_test[:100], digits.y_test[:100], [0.25, 0.75, 1.5], config, ctx)
    robust = _robust(result)
    assert robust[0] > robust[-1] and result["norm"] == "2" and result["mode"] == "search"


def test_unknown_mode(cnn, digits, ctx):
    with pytest.raises(ValueError, match="unknown curve mode"):
        robustness_curve(cnn, digits.x_test[:8], digits.y_test[:8], GRID, Settings(eps=0.1), ctx, mode="fast")


def test_models_without_gradients_probe_the_top_of_the_grid(cnn, digits, ctx):
    """A zero input gradient gives an infinite first-order distance: the search starts at the largest ε."""
    x, y = digits.x_test[:40], digits.y_test[:40]
    cnn.model = torch.nn.Sequential(Round(), cnn.model)
    result = robustness_curve(cnn, x, y, GRID, Settings(eps=0.2, steps=5), ctx)
    assert result["curve"][-1]["attacked"] >= result["curve"][0]["attacked"]
    assert np.isfinite(result["attacks_per_sample"])


class Round(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x * 4) / 4
