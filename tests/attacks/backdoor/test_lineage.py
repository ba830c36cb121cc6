from attacks.backdoor import lineage
from attacks.context import RunContext
from tests.attacks.backdoor.conftest import TEST_STEPS


def test_lineage_reports_frozen_layers_and_the_surviving_trigger(tmp_path, demo, paths):
    params = {
        "teacher_path": str(paths["teacher"]),
        "student_path": str(paths["student_head"]),
        "arch": "cnn-digits",
        "data_path": str(paths["test"]),
        "steps": TEST_STEPS,
    }
    result = lineage.run(RunContext(output_dir=tmp_path), params)
    assert result["schema"] == "riskapp.lineage/1"
    by_layer = {entry["layer"]: entry for entry in result["layers"]}
    assert result["frozen_layers"] == ["conv.0", "conv.2", "dense.1"]
    assert by_layer["classifier"]["status"] != "frozen"
    target = demo["target_class"]
    assert result["teacher_scan"]["flagged_classes"] == [target]
    assert result["teacher_trigger_on_student"][target]["success_rate"] >= 0.8
    assert result["verdict"] == "inherited" and result["inherited_classes"] == [target]
    assert any("frozen" in line for line in result["evidence"])


def test_layer_changes_of_an_all_layer_student_show_no_frozen_layer(paths):
    from attacks.loading import load_model

    teacher = load_model(paths["teacher"], "cnn-digits", 10)
    student = load_model(paths["student_all"], "cnn-digits", 10)
    layers = lineage.layer_changes(teacher, student)
    assert all(entry["status"] == "changed" for entry in layers)
    assert all(entry["relative_change"] > 0.01 for entry in layers)
