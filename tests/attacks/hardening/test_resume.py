"""Checkpoints: a run stopped after an epoch resumes there and ends with the weights of a run never stopped."""

from __future__ import annotations

import pytest

from attacks.loading import load_state_dict
from tests.attacks.hardening.support import hardening_params, run_hardening


class Killed(Exception):
    """Stands for the worker dying right after a checkpoint was written."""


def _stop_after_first_epoch(_percent: float, message: str) -> None:
    if message.startswith("Epoch 1/2 done"):
        raise Killed


@pytest.mark.parametrize("method", ["finetune", "fine-pruning"])
def test_a_stopped_run_resumes_at_the_next_epoch_and_ends_with_the_same_weights(demo, tmp_path, method):
    params = hardening_params(demo, "student_head", method, epochs=2, seed=3)
    whole = run_hardening(tmp_path / "whole", params)

    with pytest.raises(Killed):
        run_hardening(tmp_path / "stopped", params, on_progress=_stop_after_first_epoch)
    assert (tmp_path / "stopped" / "checkpoint" / "checkpoint.json").is_file()
    resumed = run_hardening(tmp_path / "stopped", params)

    assert whole["resumed_from_epoch"] == 0 and resumed["resumed_from_epoch"] == 1
    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert resumed["history"][1]["loss"] == whole["history"][1]["loss"]
    expected = load_state_dict(tmp_path / "whole" / "hardened.safetensors")
    actual = load_state_dict(tmp_path / "stopped" / "hardened.safetensors")
    assert all(actual[name].equal(tensor) for name, tensor in expected.items())
    assert resumed["before"] == whole["before"]


def test_a_checkpoint_of_other_parameters_is_ignored(demo, tmp_path):
    params = hardening_params(demo, "student_head", "finetune", epochs=2)
    with pytest.raises(Killed):
        run_hardening(tmp_path, params, on_progress=_stop_after_first_epoch)

    result = run_hardening(tmp_path, {**params, "learning_rate": 0.005})

    assert result["resumed_from_epoch"] == 0
