"""Digits models for the privacy tests: an overfit and a regularised target for membership inference, a victim
and a public teacher for extraction. Everything is seeded; each model trains in about a second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from attacks.context import RunContext
from attacks.datasets import save_npz
from attacks.loading import save_safetensors
from attacks.privacy.models import Recipe, fresh_network, train

# The target's training recipe, which the shadow models repeat (membership.run's epochs, learning_rate, ...).
OVERFIT = {"members": 200, "recipe": Recipe(epochs=80, learning_rate=3e-3, weight_decay=0.0, batch_size=128)}
REGULARISED = {"members": 1000, "recipe": Recipe(epochs=10, learning_rate=3e-3, weight_decay=0.01, batch_size=128)}


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """One torch thread: these small models train several times faster on a machine whose cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def shuffled_digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits as 1×8×8 float32 in [0, 1], in one fixed random order."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    return x[order], y[order]


def _target(folder: Path, x: np.ndarray, y: np.ndarray, setting: dict[str, Any]) -> dict[str, Any]:
    """mlp-digits trained on the first `members` samples with `recipe`; the rest are the non-members."""
    members = setting["members"]
    torch.manual_seed(7)
    model = fresh_network("mlp-digits", 10)
    train(model, x[:members], y[:members], setting["recipe"], seed=7, device="cpu", ctx=RunContext(output_dir=folder))
    save_safetensors(model.state_dict(), folder / "target.safetensors")
    recipe = setting["recipe"]
    return {
        "model_path": str(folder / "target.safetensors"),
        "arch": "mlp-digits",
        "members_path": str(save_npz(folder / "members.npz", x[:members], y[:members])),
        "non_members_path": str(save_npz(folder / "non-members.npz", x[members:], y[members:])),
        "epochs": recipe.epochs,
        "learning_rate": recipe.learning_rate,
        "weight_decay": recipe.weight_decay,
        "batch_size": recipe.batch_size,
    }


@pytest.fixture(scope="package")
def overfit_target(tmp_path_factory, shuffled_digits) -> dict[str, Any]:
    """200 members memorised (100 % training accuracy), 1,597 non-members."""
    return _target(tmp_path_factory.mktemp("overfit"), *shuffled_digits, OVERFIT)


@pytest.fixture(scope="package")
def regularised_target(tmp_path_factory, shuffled_digits) -> dict[str, Any]:
    """1,000 members, weight decay and 10 epochs: about the same accuracy on members and non-members."""
    return _target(tmp_path_factory.mktemp("regularised"), *shuffled_digits, REGULARISED)


@pytest.fixture(scope="package")
def extraction_files(tmp_path_factory, shuffled_digits) -> dict[str, str]:
    """A cnn-digits victim trained on 800 digits; 500 other digits as the public query set (labels zeroed: the
    attacker has none); the last 497 as the labelled evaluation set; an mlp-digits 'public teacher' trained on
    the query set's true labels."""
    x, y = shuffled_digits
    folder = tmp_path_factory.mktemp("extraction")
    ctx = RunContext(output_dir=folder)
    torch.manual_seed(1)
    victim = train(fresh_network("cnn-digits", 10), x[:800], y[:800], Recipe(10, 3e-3, 0.0, 64), seed=1,
                   device="cpu", ctx=ctx)  # fmt: skip
    save_safetensors(victim.state_dict(), folder / "victim.safetensors")
    torch.manual_seed(2)
    teacher = train(fresh_network("mlp-digits", 10), x[800:1300], y[800:1300], Recipe(20, 3e-3, 0.0, 64), seed=2,
                    device="cpu", ctx=ctx)  # fmt: skip
    save_safetensors(teacher.state_dict(), folder / "teacher.safetensors")
    return {
        "model_path": str(folder / "victim.safetensors"),
        "teacher": str(folder / "teacher.safetensors"),
        "query_path": str(save_npz(folder / "public.npz", x[800:1300], np.zeros(500, np.int64))),
        "eval_path": str(save_npz(folder / "eval.npz", x[1300:], y[1300:])),
    }
