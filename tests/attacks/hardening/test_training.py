"""Adversarial training takes its starting points from the Lp-ball module, drawn as it drew them before."""

from __future__ import annotations

import pytest
import torch

from attacks.evasion import lp


@pytest.mark.parametrize(("norm", "eps"), [("inf", 0.1), ("2", 0.8)])
def test_the_training_start_is_what_training_drew_before_the_lp_module(norm, eps):
    """training.py's former formula (a CPU generator; L2: a random direction at radius ε·u), within 1e-7."""
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    start = lp.random_start(x, eps, norm, torch.Generator().manual_seed(7), uniform_in_ball=False)
    generator = torch.Generator().manual_seed(7)
    if norm == "inf":
        before = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    else:
        direction = torch.randn(x.shape, generator=generator)
        radius = lp.per_sample(torch.rand((len(x),), generator=generator), x)
        before = direction / lp.per_sample(direction.flatten(1).norm(dim=1).clamp_min(1e-12), x) * eps * radius
    assert torch.allclose(start, before, rtol=0, atol=1e-7)
    assert (lp.lp_norm(start, norm) <= eps * (1 + 1e-6)).all()


def test_the_l2_training_start_puts_more_points_near_x_than_a_uniform_start():
    """ε·u, not ε·u^(1/d): the median start lies at half the radius, where a uniform start lies near the sphere."""
    x = torch.zeros(400, 1, 8, 8)
    near = lp.random_start(x, 1.0, "2", torch.Generator().manual_seed(0), uniform_in_ball=False)
    uniform = lp.random_start(x, 1.0, "2", torch.Generator().manual_seed(0))
    assert lp.lp_norm(near, "2").median() < 0.6 < 0.95 < lp.lp_norm(uniform, "2").median()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("norm", ["inf", "2"])
def test_a_cpu_generator_draws_the_same_start_for_a_batch_on_a_gpu(norm):
    """A resumed hardening run repeats its draws from the checkpointed CPU generator wherever the model runs."""
    x = torch.rand(8, 1, 8, 8)
    on_cpu = lp.random_start(x, 0.5, norm, torch.Generator().manual_seed(5), uniform_in_ball=False)
    on_gpu = lp.random_start(x.cuda(), 0.5, norm, torch.Generator().manual_seed(5), uniform_in_ball=False)
    assert on_gpu.device.type == "cuda" and torch.equal(on_gpu.cpu(), on_cpu)
