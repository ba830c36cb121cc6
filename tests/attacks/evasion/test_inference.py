"""The gradient-free query forward: onnxruntime only when it matches the eager model, and never trusted blindly."""

from __future__ import annotations

import torch
from torch import nn

from attacks.evasion.autoattack import autoattack, cascade
from attacks.evasion.inference import QueryForward, query_forward

FAST = {"apgd_steps": 10, "targets": 3, "fab_steps": 10, "square_queries": 60}


def _data(digits, n):
    return torch.from_numpy(digits.x_test[:n]), torch.from_numpy(digits.y_test[:n])


class Noisy(nn.Module):
    """Randomised logits: the same input twice gives different outputs, so no export can match it."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.inner(x)
        return logits + torch.randn_like(logits)


class Untraceable(nn.Module):
    """A forward that leaves torch (a NumPy round trip), which the ONNX exporter cannot record."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.from_numpy(x.detach().numpy().copy()))


def test_catalogue_model_on_cpu_is_queried_through_onnxruntime(cnn, digits):
    x, _ = _data(digits, 100)
    forward = query_forward(cnn.model, x[:32])
    assert forward.backend == "onnxruntime"
    with torch.no_grad():
        expected = cnn.model(x)
    got = forward(x)  # another batch size than the example's
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert not got.requires_grad


def test_a_model_the_export_cannot_match_stays_on_torch(cnn, digits):
    x, _ = _data(digits, 16)
    assert query_forward(Noisy(cnn.model), x).backend == "torch"


def test_a_model_the_exporter_cannot_record_stays_on_torch(cnn, digits):
    x, _ = _data(digits, 16)
    forward = query_forward(Untraceable(cnn.model), x)
    assert forward.backend == "torch"
    with torch.no_grad():
        assert torch.allclose(forward(x), cnn.model(x), atol=1e-5)


def test_an_empty_example_stays_on_torch(cnn, digits):
    x, _ = _data(digits, 0)
    assert query_forward(cnn.model, x).backend == "torch"


def test_the_cascade_reports_which_runtime_answered_the_queries(cnn, digits):
    x, y = _data(digits, 32)
    with_queries = autoattack(cnn.model, x, y, eps=0.1, batch_size=32, **FAST)
    assert with_queries.query_backend == "onnxruntime"
    gradients_only = autoattack(cnn.model, x, y, eps=0.1, batch_size=32, stages=["apgd-ce"], **FAST)
    assert gradients_only.query_backend == "torch"


def test_a_lying_query_forward_cannot_invent_a_success(cnn, digits, monkeypatch):
    """Every query says "fooled": FAB-T and Square report all survivors, and the eager re-check keeps only the truth."""
    x, y = _data(digits, 48)

    def liar(model, example):
        def run(batch: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                logits = model(batch)
            wrong = (logits.argmax(1) + 1) % logits.shape[1]
            return torch.nn.functional.one_hot(wrong, logits.shape[1]).float()

        return QueryForward(run, "liar")

    monkeypatch.setattr(cascade, "query_forward", liar)
    for stage in ("fab-t", "square"):
        result = autoattack(cnn.model, x, y, eps=0.02, batch_size=48, stages=[stage], **FAST)
        assert result.query_backend == "liar"
        attacked = result.stages[0].attacked
        assert attacked > 0
        assert result.stages[0].fooled < attacked, stage  # the liar claimed every one of them
        with torch.no_grad():
            really = cnn.model(result.adversarial).argmax(1) != y
        assert torch.equal(result.fooled, result.fooled & really), stage
        size = (result.adversarial - x).flatten(1).abs().amax(1)
        assert bool((size[result.fooled] <= 0.02 + 1e-6).all()), stage
