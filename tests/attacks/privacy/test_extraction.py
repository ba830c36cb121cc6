import pytest

from attacks.context import RunContext, UserError
from attacks.tasks import TASKS

BUDGETS = [20, 100, 500]


def _run(tmp_path, files: dict, **extra) -> dict:
    params = {
        "model_path": files["model_path"],
        "arch": "cnn-digits",
        "copy_arch": "mlp-digits",
        "query_path": files["query_path"],
        "eval_path": files["eval_path"],
        "budgets": BUDGETS,
        "steps": 200,
        "learning_rate": 3e-3,
        **extra,
    }
    return TASKS["extraction"](RunContext(output_dir=tmp_path), params)


def test_agreement_grows_with_the_query_budget(tmp_path, extraction_files):
    document = _run(tmp_path, extraction_files)
    assert document["schema"] == "riskapp.extraction/1"
    assert [row["budget"] for row in document["budgets"]] == BUDGETS
    agreement = [row["agreement"] for row in document["budgets"]]
    assert agreement[0] < agreement[1] < agreement[2]
    assert agreement[2] > 0.9 and agreement[2] - agreement[0] > 0.2
    accuracy = [row["accuracy"] for row in document["budgets"]]
    assert accuracy[0] < accuracy[2] <= document["victim_accuracy"] + 0.05
    assert document["queries"] == 500 and document["copy"]["start"] == "scratch"


def test_probabilities_are_a_victim_output(tmp_path, extraction_files):
    document = _run(tmp_path, extraction_files, victim_output="probabilities", budgets=[100])
    assert document["victim_output"] == "probabilities"
    assert document["budgets"][0]["agreement"] > 0.8


def test_a_public_teacher_is_a_head_start_at_a_small_budget(tmp_path, extraction_files):
    scratch = _run(tmp_path, extraction_files, budgets=[20])
    taught = _run(tmp_path, extraction_files, budgets=[20], copy_weights=extraction_files["teacher"])
    assert taught["copy"]["start"] == "public_teacher" and taught["copy"]["initial"]["agreement"] > 0.8
    assert taught["budgets"][0]["agreement"] > scratch["budgets"][0]["agreement"] + 0.1


def test_bad_budgets_get_clear_errors(tmp_path, extraction_files):
    with pytest.raises(UserError, match="larger than the query set"):
        _run(tmp_path, extraction_files, budgets=[501])
    with pytest.raises(UserError, match="budgets is required"):
        _run(tmp_path, extraction_files, budgets=[])
    with pytest.raises(UserError, match="victim_output must be one of"):
        _run(tmp_path, extraction_files, victim_output="logits")


def test_an_onnx_victim_is_copied_through_its_outputs(tmp_path, extraction_files, trained_cnn):
    onnx = {**extraction_files, "model_path": str(trained_cnn["onnx"])}
    document = _run(tmp_path, onnx, arch=None, budgets=[50], steps=20)
    assert document["model"]["format"] == "onnx" and document["queries"] == 50
    with pytest.raises(UserError, match="give copy_arch"):
        _run(tmp_path, onnx, arch=None, copy_arch=None, budgets=[50], steps=20)
