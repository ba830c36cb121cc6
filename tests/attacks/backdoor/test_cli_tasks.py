import json

from attacks.cli import main
from attacks.tasks import TASKS

FAST = ["--steps", "20", "--limit", "100"]


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_backdoor_tasks_are_registered():
    assert {"backdoor_scan", "strip", "data_scan", "lineage"} <= set(TASKS)


def test_backdoor_scan_cli_json(capsys, paths, tmp_path):
    model = ["--model", str(paths["teacher"]), "--arch", "cnn-digits", "--data", str(paths["test"])]
    document = _json(capsys, ["backdoor-scan", *model, *FAST, "--json", "--output", str(tmp_path)])
    assert document["schema"] == "riskapp.backdoor-scan/1"
    assert isinstance(document["flagged_classes"], list)
    assert len(document["classes"]) == 10
    assert {"class", "mask_l1", "anomaly_index", "flagged", "trigger_success_rate", "trigger_image"} <= set(
        document["classes"][0]
    )
    assert (tmp_path / document["classes"][0]["trigger_image"]).exists()
    assert document["precision"] in {"float32", "bfloat16"}
    forced = _json(capsys, ["backdoor-scan", *model, *FAST, "--precision", "float32", "--json"])
    assert forced["precision"] == "float32"


def test_strip_and_data_scan_cli_json(capsys, paths):
    model = ["--model", str(paths["teacher"]), "--arch", "cnn-digits"]
    strip = _json(capsys, ["strip", *model, "--data", str(paths["test"]), "--suspect", str(paths["test_triggered"]),
                           "--overlays", "5", "--limit", "100", "--json"])  # fmt: skip
    assert strip["schema"] == "riskapp.strip/1"
    assert {"threshold", "clean", "suspect", "histogram"} <= set(strip)
    scan = _json(capsys, ["data-scan", *model, "--data", str(paths["train"]), "--json"])
    assert scan["schema"] == "riskapp.data-scan/1"
    assert {"suspected_classes", "classes", "evaluation"} <= set(scan)


def test_lineage_cli_json_and_text(capsys, paths):
    files = ["--teacher", str(paths["teacher"]), "--student", str(paths["student_all"]), "--arch", "cnn-digits"]
    document = _json(capsys, ["lineage", *files, "--data", str(paths["test"]), *FAST, "--json"])
    assert document["schema"] == "riskapp.lineage/1"
    assert document["verdict"] in {"inherited", "not_inherited", "no_teacher_backdoor"}
    assert {"layers", "frozen_layers", "teacher_trigger_on_student", "teacher_scan", "student_scan"} <= set(document)
    assert main(["lineage", *files, "--data", str(paths["test"]), *FAST]) == 0
    assert "verdict" in capsys.readouterr().out


def test_cli_refuses_a_missing_architecture(capsys, paths):
    assert main(["backdoor-scan", "--model", str(paths["teacher"]), "--data", str(paths["test"])]) == 2
