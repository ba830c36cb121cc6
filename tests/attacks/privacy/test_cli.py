import json

from attacks.cli import main
from attacks.tasks import TASKS


def test_privacy_tasks_are_registered():
    assert {"membership_inference", "extraction"} <= set(TASKS)


def test_membership_inference_cli_json_and_text(capsys, regularised_target):
    files = ["--model", regularised_target["model_path"], "--arch", "mlp-digits",
             "--members", regularised_target["members_path"],
             "--non-members", regularised_target["non_members_path"]]  # fmt: skip
    fast = ["--shadow-models", "2", "--epochs", "2", "--bootstrap", "100", "--limit", "300"]
    assert main(["membership-inference", *files, *fast, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "riskapp.membership-inference/1"
    assert (document["members"], document["non_members"]) == (300, 300)
    assert {"auc", "tpr_at_fpr", "roc", "ci_method", "baseline", "shadow_models"} <= set(document)
    assert main(["membership-inference", *files, *fast]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "not reported" in out and "Model inversion is not tested" in out


def test_extraction_cli_json(capsys, extraction_files):
    argv = ["extraction", "--weights", extraction_files["model_path"], "--arch", "cnn-digits",
            "--copy-arch", "mlp-digits", "--data", extraction_files["query_path"],
            "--eval", extraction_files["eval_path"], "--budgets", "50", "10", "--steps", "20"]  # fmt: skip
    assert main([*argv, "--victim-output", "probabilities", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "riskapp.extraction/1" and document["victim_output"] == "probabilities"
    assert [row["budget"] for row in document["budgets"]] == [10, 50]
    assert main(argv) == 0
    assert "agreement" in capsys.readouterr().out


def test_cli_refuses_extraction_without_budgets(capsys, extraction_files):
    argv = ["extraction", "--model", extraction_files["model_path"], "--arch", "cnn-digits",
            "--data", extraction_files["query_path"], "--eval", extraction_files["eval_path"]]  # fmt: skip
    assert main(argv) == 2
    assert "--budgets" in capsys.readouterr().err
