"""The demo backdoor (teacher + students + datasets), built once per session, and two clean models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# Fewer Neural Cleanse steps than the default 600 keep the folder fast; 300 still finds the demo trigger.
TEST_STEPS = 300


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict[str, Any]:
    from attacks.backdoor.demo import build_demo

    return build_demo(tmp_path_factory.mktemp("backdoor-demo"), seed=0)


@pytest.fixture(scope="session")
def paths(demo) -> dict[str, Path]:
    return {name: Path(path) for name, path in demo["paths"].items()}


@pytest.fixture(scope="session")
def clean_models(tmp_path_factory) -> list[Path]:
    """cnn-digits trained on clean digits with two seeds (the negative controls)."""
    from attacks.backdoor.demo import train_clean
    from attacks.loading import save_safetensors

    folder = tmp_path_factory.mktemp("clean-models")
    out = []
    for seed in (1, 2):
        path = folder / f"clean-{seed}.safetensors"
        save_safetensors(train_clean(seed).state_dict(), path)
        out.append(path)
    return out
