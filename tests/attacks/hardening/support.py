"""Running the hardening task on the demo's models in tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attacks.context import RunContext


def hardening_params(demo: dict[str, Any], model: str, method: str, **extra: Any) -> dict[str, Any]:
    """A hardening run of the demo's `model` ("teacher" or "student_head") on its clean data, measured on the test
    set and the known trigger."""
    return {
        "method": method,
        "model_path": demo[model],
        "arch": demo["arch"],
        "data_path": demo["clean_train"],
        "eval_path": demo["test"],
        "triggered_path": demo["triggered"],
        "target_class": demo["target_class"],
        **extra,
    }


def run_hardening(folder: Path, params: dict[str, Any], on_progress: Any = None) -> dict[str, Any]:
    from attacks.hardening import harden

    folder.mkdir(parents=True, exist_ok=True)
    return harden.run(RunContext(output_dir=folder, on_progress=on_progress), params)


def rate(result: dict[str, Any], when: str, name: str) -> float:
    return result[when][name]["value"]
