"""Evasion fixtures: the session's trained digits CNN as a Target, a student model, and tampered models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from attacks.architectures import build
from attacks.context import RunContext
from attacks.evasion import Target
from attacks.loading import load_model, save_safetensors


def digits_target(model: nn.Module) -> Target:
    return Target(input_shape=(1, 8, 8), num_classes=10, clip=(0.0, 1.0), model=model, device="cpu")


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    return RunContext(output_dir=tmp_path)


@pytest.fixture
def cnn(trained_cnn) -> Target:
    """A fresh load per test: Target freezes the parameters and moves the module."""
    return digits_target(load_model(trained_cnn["safetensors"], "cnn-digits", 10))


@pytest.fixture(scope="session")
def student_path(tmp_path_factory, digits) -> Path:
    """An MLP trained briefly with another seed: a different model for transfer attacks."""
    torch.manual_seed(1)
    model = build("mlp-digits", 10)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    for _ in range(8):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    path = tmp_path_factory.mktemp("student") / "mlp.safetensors"
    save_safetensors(model.eval().state_dict(), path)
    return path


class Quantised(nn.Module):
    """Rounds the input to 4 grey levels first: correct outputs, but zero input gradients everywhere."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4) / 4)


class Noisy(nn.Module):
    """Dropout left in train mode after the network: the same input gives different logits."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.inner(x))
