"""Bad hardening requests fail with a message the user can act on; the task and the subcommand are registered."""

from __future__ import annotations

import json

import pytest

from attacks.context import UserError
from tests.attacks.hardening.support import hardening_params, run_hardening


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "distill"}, "method must be one of finetune, adversarial, trades, fine-pruning, unlearn"),
        ({"method": "adversarial", "eps": 0}, "eps, the perturbation budget, greater than 0"),
        ({"method": "trades", "eps": -0.1}, "eps, the perturbation budget, greater than 0"),
        ({"method": "adversarial"}, "eps, the perturbation budget, greater than 0"),
        ({"epochs": 0}, "epochs must be between 1 and 1000"),
        ({"method": "unlearn", "target_class": None}, "Unlearning needs target_class"),
        ({"target_class": 10}, "target_class must be a class of the model (0 to 9)"),
        ({"arch": "mlp-digits"}, "The weights do not fit architecture 'mlp-digits'"),
    ],
)
def test_bad_requests_get_a_clear_user_error(demo, tmp_path, changes, message):
    params = {**hardening_params(demo, "student_head", "finetune"), **changes}

    with pytest.raises(UserError) as raised:
        run_hardening(tmp_path, params)

    assert message in str(raised.value)


def test_an_onnx_model_is_refused_with_what_to_upload_instead(demo, tmp_path, trained_cnn):
    params = {**hardening_params(demo, "student_head", "finetune"), "model_path": str(trained_cnn["onnx"])}

    with pytest.raises(UserError, match="upload its PyTorch weights"):
        run_hardening(tmp_path, params)


def test_the_engine_registers_the_hardening_task():
    from attacks.hardening import harden
    from attacks.tasks import TASKS

    assert TASKS["hardening"] is harden.run


def test_the_harden_subcommand_prints_the_json_document_and_writes_the_weights(demo, tmp_path, capsys):
    from attacks.cli import main

    code = main(
        ["harden", "--method", "finetune", "--model", demo["student_head"], "--arch", demo["arch"]]
        + ["--data", demo["clean_train"], "--eval", demo["test"], "--triggered", demo["triggered"]]
        + ["--target-class", "0", "--epochs", "1", "--output", str(tmp_path), "--json"]
    )

    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "riskapp.hardening/1" and document["method"] == "finetune"
    assert document["parameters"]["learning_rate"] == 0.01
    assert (tmp_path / "hardened.safetensors").is_file()


def test_the_harden_subcommand_reports_a_bad_eps_as_a_usage_error(demo, tmp_path, capsys):
    from attacks.cli import EXIT_USAGE, main

    code = main(
        ["harden", "--method", "adversarial", "--eps", "0", "--model", demo["student_head"], "--arch", demo["arch"]]
        + ["--data", demo["clean_train"], "--eval", demo["test"], "--output", str(tmp_path)]
    )

    assert code == EXIT_USAGE
    assert "greater than 0" in capsys.readouterr().err
