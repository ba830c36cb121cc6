"""PGD's number format: gradients in bfloat16 where the hardware computes it natively, successes judged in float32.

bfloat16 runs everywhere (emulated where the CPU lacks AMX and AVX-512 BF16: slower, the same arithmetic), so these
tests hold it to float32's verdicts on every machine, not only where "auto" picks it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attacks.context import UserError
from attacks.environment import resolve_precision
from attacks.evasion import Target
from attacks.evasion.pgd import pgd
from attacks.loading import load_dataset, load_model
from attacks.networks import LowPrecision
from attacks.tasks import TASKS
from tests.attacks.evasion.test_tasks import _params as job_params


def _target(trained_cnn, precision: str) -> Target:
    model = load_model(trained_cnn["safetensors"], "cnn-digits", 10)
    return Target(input_shape=(1, 8, 8), num_classes=10, clip=(0.0, 1.0), model=model, precision=precision)


@pytest.mark.parametrize(("norm", "budgets"), [("inf", (0.05, 0.1, 0.2)), ("2", (0.4, 0.8))])
def test_bfloat16_gradients_reach_float32s_robust_accuracy(trained_cnn, norm, budgets):
    x, y, _ = load_dataset(trained_cnn["test"])
    x, y = torch.from_numpy(x[:300]), torch.from_numpy(y[:300])
    single, half = _target(trained_cnn, "float32"), _target(trained_cnn, "bfloat16")
    assert half.judge is half.model and isinstance(half.gradient_model, LowPrecision)
    robust = {}
    for eps in budgets:
        for target in (single, half):
            adv, hit = target.pgd(x, y, eps=eps, norm=norm, steps=20, generator=torch.Generator().manual_seed(0))
            # Every success is float32's answer, whatever format the gradients were in.
            assert torch.equal(single.model(adv).argmax(1) != y, hit)
            robust[eps, target.precision] = 1 - float(hit.float().mean())
        assert 0.0 < robust[eps, "float32"] < 1.0, "a budget where nothing or everything is fooled proves nothing"
        # Measured identical at every budget here; 1 % (3 of 300 images) is the most a verdict may move.
        assert abs(robust[eps, "bfloat16"] - robust[eps, "float32"]) <= 0.01, robust


class AlwaysWrong(nn.Module):
    """Says class 0 for every input: a gradient network whose own logits would call every sample fooled."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.inner(x)
        return logits + 100.0 * nn.functional.one_hot(torch.zeros(len(x), dtype=torch.long), logits.shape[1])


def test_the_judge_decides_what_pgd_fooled(trained_cnn):
    x, y, _ = load_dataset(trained_cnn["test"])
    model = load_model(trained_cnn["safetensors"], "cnn-digits", 10).requires_grad_(False)
    keep = (model(torch.from_numpy(x)).argmax(1).numpy() == y) & (y != 0)
    x, y = torch.from_numpy(x[keep][:40]), torch.from_numpy(y[keep][:40])
    liar = AlwaysWrong(model)
    # A budget far too small to fool anything: on its own logits the liar "fools" every sample at the first step.
    _, trusted = pgd(liar, x, y, eps=1e-4, steps=5)
    assert bool(trusted.all())
    adv, judged = pgd(liar, x, y, eps=1e-4, steps=5, judge=model)
    assert not bool(judged.any())
    assert float((adv - x).abs().max()) <= 1e-4 + 1e-6


def test_low_precision_gradients_point_where_float32s_do():
    """A 3-channel network with batch norms and pooling (the layouts channels-last changes)."""
    from attacks.architectures import build

    torch.manual_seed(0)
    network = build("resnet18-cifar", 10).eval().requires_grad_(False)
    x = torch.rand(8, 3, 32, 32)
    y = network(x).argmax(1)
    grads = []
    for model in (network, LowPrecision(network, torch.bfloat16)):
        inputs = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(inputs), y, reduction="sum"), inputs)
        assert grad.dtype == torch.float32
        grads.append(grad)
    agree = float((grads[0].sign() == grads[1].sign()).float().mean())
    cosine = float(nn.functional.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0))
    assert agree > 0.95 and cosine > 0.95, (agree, cosine)
    assert all(p.dtype == torch.float32 for p in network.parameters())  # the caller's network is untouched


def _params(trained_cnn, **extra):
    """test_tasks' job, on more samples: 200 make a 1 % tolerance mean 2 images."""
    return job_params(trained_cnn, **{"eps": 0.1, "steps": 10, "sample_limit": 200, "batch_size": 100, **extra})


def test_jobs_report_the_format_and_keep_float32s_verdict(trained_cnn, ctx, monkeypatch):
    single = TASKS["evasion"](ctx, _params(trained_cnn, precision="float32"))
    half = TASKS["evasion"](ctx, _params(trained_cnn, precision="bfloat16"))
    assert [a["precision"] for a in single["attacks"]] == ["float32", "float32"]
    # Only PGD takes its gradients in bfloat16; FGSM runs through ART in float32.
    assert [a["precision"] for a in half["attacks"]] == ["float32", "bfloat16"]
    for one, other in zip(single["attacks"], half["attacks"], strict=True):
        assert one["attacked"] == other["attacked"]
        assert abs(one["robust_accuracy"] - other["robust_accuracy"]) <= 0.01
    curve = TASKS["robustness_curve"](ctx, _params(trained_cnn, eps=[0.05, 0.1, 0.2], precision="bfloat16"))
    reference = TASKS["robustness_curve"](ctx, _params(trained_cnn, eps=[0.05, 0.1, 0.2], precision="float32"))
    assert curve["precision"] == "bfloat16" and reference["precision"] == "float32"
    for point, expected in zip(curve["curve"], reference["curve"], strict=True):
        assert abs(point["robust_accuracy"] - expected["robust_accuracy"]) <= 0.01
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: True)
    auto = TASKS["evasion"](ctx, _params(trained_cnn, attacks=["pgd_linf"]))
    assert auto["attacks"][0]["precision"] == "bfloat16"
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: False)
    auto = TASKS["evasion"](ctx, _params(trained_cnn, attacks=["pgd_linf"]))
    assert auto["attacks"][0]["precision"] == "float32"
    with pytest.raises(UserError, match="precision must be one of auto, float32, bfloat16"):
        TASKS["evasion"](ctx, _params(trained_cnn, precision="float16"))


def test_auto_follows_the_device(monkeypatch):
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bfloat16"
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: False)
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("float32", "cpu") == "float32" and resolve_precision("bfloat16", "cpu") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert resolve_precision("auto", "cuda") == "bfloat16"
    # A GPU that only emulates bfloat16 (before compute capability 8.0) keeps float32.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert resolve_precision("auto", "cuda:0") == "float32"


def test_the_cost_probe_times_the_bfloat16_copy_where_auto_picks_it(trained_cnn, monkeypatch):
    from attacks.cost import probe

    model = load_model(trained_cnn["safetensors"], "cnn-digits", 10)
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: False)
    assert "bfloat16_gradient_s" not in probe(model, (1, 8, 8))
    monkeypatch.setattr("attacks.environment.native_bfloat16", lambda: True)
    timing = probe(model, (1, 8, 8))
    assert timing["bfloat16_gradient_s"] > 0 and timing["gradient_s"] > 0
    assert all(p.dtype == torch.float32 for p in model.parameters()) and not model.training
