"""The AutoAttack cascade: as strong as PGD, only verified examples inside the ball, survivors only, cancel, L2."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from attacks.cli import main
from attacks.context import Cancelled, RunContext
from attacks.evasion import ATTACKS, evaluate_attack, pgd
from attacks.evasion.attacks import Settings
from attacks.evasion.autoattack import STAGES, autoattack, cascade
from attacks.evasion.autoattack.fab import hyperplane_step

# Small iteration counts: the tests check the bookkeeping and that each stage works, not the full-strength numbers.
FAST = {"apgd_steps": 10, "targets": 3, "fab_steps": 10, "square_queries": 60}


def _data(digits, n):
    return torch.from_numpy(digits.x_test[:n]), torch.from_numpy(digits.y_test[:n])


def _sizes(result, x, norm):
    delta = (result.adversarial - x).flatten(1)
    return delta.abs().amax(1) if norm == "inf" else delta.norm(dim=1)


def test_at_least_as_strong_as_pgd(cnn, digits):
    x, y = _data(digits, 64)
    result = autoattack(cnn.model, x, y, eps=0.1, batch_size=32, **FAST)
    _, pgd_fooled = pgd(cnn.model, x, y, eps=0.1, steps=10, generator=torch.Generator().manual_seed(0))
    pgd_robust = 1 - float(pgd_fooled.float().mean())  # pgd counts clean mistakes as fooled
    assert result.robust_accuracy <= pgd_robust + 0.02
    assert result.robust_accuracy < float(result.clean_correct.float().mean())


@pytest.mark.parametrize(("norm", "eps"), [("inf", 0.1), ("2", 0.6)])
def test_fooled_examples_are_verified(cnn, digits, norm, eps):
    x, y = _data(digits, 48)
    result = autoattack(cnn.model, x, y, eps=eps, norm=norm, batch_size=16, **FAST)
    assert result.fooled.any() and not (result.fooled & ~result.clean_correct).any()
    sizes = _sizes(result, x, norm)
    assert float(sizes[result.fooled].max()) <= eps * (1 + 1e-4) + 1e-6
    assert float(result.adversarial.min()) >= 0.0 and float(result.adversarial.max()) <= 1.0
    with torch.no_grad():
        predicted = cnn.model(result.adversarial).argmax(1)
    assert (predicted[result.fooled] != y[result.fooled]).all()
    assert torch.equal(result.adversarial[~result.fooled], x[~result.fooled])  # nothing claimed where nothing won


def test_later_stages_see_only_survivors(cnn, digits, monkeypatch):
    x, y = _data(digits, 64)
    seen: list[torch.Tensor] = []
    real_square = cascade.square

    def spy(model, xb, yb, **kwargs):
        seen.append(xb.cpu())
        return real_square(model, xb, yb, **kwargs)

    monkeypatch.setattr(cascade, "square", spy)
    result = autoattack(cnn.model, x, y, eps=0.1, batch_size=16, seed=3, **FAST)
    stats = {s.name: s for s in result.stages}
    assert [s.name for s in result.stages] == list(STAGES)
    assert result.stages[0].attacked == int(result.clean_correct.sum())
    for before, after in zip(result.stages, result.stages[1:], strict=False):
        assert after.attacked == before.attacked - before.fooled
    assert sum(s.fooled for s in result.stages) == int(result.fooled.sum())
    # Square got exactly the samples no earlier stage fooled (each once), and none of those it did not fool.
    survivors = torch.cat(seen) if seen else torch.zeros((0, *x.shape[1:]))
    assert len(survivors) == stats["square"].attacked
    fooled_by_square = int(stats["square"].fooled)
    assert int(result.robust.sum()) == len(survivors) - fooled_by_square
    for row in survivors:
        index = int(((x - row).flatten(1).abs().amax(1) == 0).nonzero()[0])
        assert result.clean_correct[index]


def test_zero_and_large_eps(cnn, digits):
    x, y = _data(digits, 40)
    none = autoattack(cnn.model, x, y, eps=1e-6, batch_size=40, **FAST)
    assert not none.fooled.any() and torch.equal(none.robust, none.clean_correct)
    everything = autoattack(cnn.model, x, y, eps=0.5, batch_size=40, **FAST)
    assert everything.robust_accuracy <= 0.05


def test_each_stage_alone_fools(cnn, digits):
    x, y = _data(digits, 24)
    for stage, eps in (("apgd-ce", 0.15), ("apgd-t", 0.15), ("fab-t", 0.2), ("square", 0.25)):
        result = autoattack(cnn.model, x, y, eps=eps, stages=[stage], batch_size=24, **FAST)
        assert result.fooled.any(), stage
        assert result.stages[0].fooled == int(result.fooled.sum())


def test_seeded(cnn, digits):
    x, y = _data(digits, 32)
    first = autoattack(cnn.model, x, y, eps=0.1, seed=5, **FAST)
    second = autoattack(cnn.model, x, y, eps=0.1, seed=5, **FAST)
    assert torch.equal(first.fooled, second.fooled) and torch.equal(first.adversarial, second.adversarial)


def test_cancel_between_batches(cnn, digits, tmp_path):
    event = threading.Event()
    messages = []

    def progress(percent, message):
        messages.append(message)
        if "apgd-t" in message:
            event.set()

    ctx = RunContext(output_dir=tmp_path, on_progress=progress, cancel_event=event)
    x, y = _data(digits, 64)
    with pytest.raises(Cancelled):
        autoattack(cnn.model, x, y, eps=0.05, batch_size=16, ctx=ctx, **FAST)
    assert not any("fab-t" in m for m in messages)


def test_hyperplane_step_is_exact_and_inside_the_box():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(50, 20, generator=gen)
    z = torch.rand(50, 20, generator=gen)
    c = torch.randn(50, generator=gen) * 0.5
    for norm in ("inf", "2"):
        delta = hyperplane_step(w, c, z, 0.0, 1.0, norm)
        assert ((z + delta) >= -1e-6).all() and ((z + delta) <= 1 + 1e-6).all()
        reachable = (w * torch.where(w * c[:, None] > 0, 1.0 - z, -z)).sum(1).abs() >= c.abs()
        assert torch.allclose((w * delta).sum(1)[reachable], c[reachable], atol=1e-4)
    # Without a binding box the L2 answer is the textbook c·w/‖w‖².
    tiny = c * 1e-3
    delta = hyperplane_step(w, tiny, torch.full_like(z, 0.5), 0.0, 1.0, "2")
    assert torch.allclose(delta, tiny[:, None] * w / (w * w).sum(1, keepdim=True), atol=1e-6)


def test_catalogue_entry_runs_our_cascade(cnn, digits, ctx):
    assert ATTACKS["autoattack"].build is None
    x, y = digits.x_test[:24], digits.y_test[:24]
    result = evaluate_attack(cnn, "autoattack", x, y, Settings(eps=0.3, batch_size=24), ctx, examples=False)
    expected = {"attack", "clean_accuracy", "robust_accuracy", "attack_success_rate", "perturbation", "wall_seconds"}
    assert expected <= set(result) and result["fooled"] > 0
    assert result["perturbation"]["linf_max"] <= 0.3 * 1.0001
    # The stages as AutoAttack users read them: each on what the earlier ones left, adding up to the result.
    stages = result["stages"]
    assert [st["stage"] for st in stages] == list(STAGES)
    assert stages[0]["attacked"] == result["attacked"]
    for before, after in zip(stages, stages[1:], strict=False):
        assert after["attacked"] == before["attacked"] - before["fooled"]
    assert sum(st["fooled"] for st in stages) == result["fooled"]


def test_cli_autoattack(trained_cnn, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(trained_cnn["safetensors"]),
            "--arch",
            "cnn-digits",
            "--data",
            str(trained_cnn["test"]),
            "--attack",
            "autoattack",
            "--eps",
            "0.3",
            "--limit",
            "16",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    attack = doc["attacks"][0]
    assert attack["attack"] == "autoattack" and attack["robust_accuracy"] < attack["clean_accuracy"]
    assert np.isclose(
        attack["robust_accuracy"] + attack["attack_success_rate"] * attack["clean_accuracy"], attack["clean_accuracy"]
    )
