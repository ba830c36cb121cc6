"""`python -m attacks scan | architectures | validate`: exit codes, text and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from attacks.cli import main
from tests.attacks import hostile


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_scan_exits_0_for_an_accepted_file_and_prints_the_format(capsys, benign_files):
    code, out, _ = run_cli(capsys, "scan", str(benign_files["state_dict.pt"]))
    assert code == 0 and out.startswith("accepted: pytorch_zip")


def test_scan_exits_1_for_a_refused_file_and_prints_each_reason(capsys, tmp_path: Path, canary: Path):
    path = hostile.torch_zip_with(tmp_path / "m.pt", hostile.SystemPayload(canary))
    code, out, _ = run_cli(capsys, "scan", str(path))
    assert code == 1 and out.startswith("REFUSED: pytorch_zip") and "MALICIOUS" in out
    assert "[pickle_dangerous_global]" in out and "posix.system" in out
    assert not canary.exists()


def test_scan_exits_2_for_a_missing_file_or_a_bad_option(capsys, tmp_path: Path, benign_files):
    code, _, err = run_cli(capsys, "scan", str(tmp_path / "missing.pt"))
    assert code == 2 and "No such file" in err
    assert run_cli(capsys, "scan", str(benign_files["digits.npz"]), "--max-bytes", "0")[0] == 2
    assert run_cli(capsys, "scan")[0] == 2


def test_scan_max_bytes_and_expect_options(capsys, benign_files):
    path = benign_files["digits.npz"]
    code, out, _ = run_cli(capsys, "scan", str(path), "--max-bytes", "100", "--json")
    assert code == 1 and json.loads(out)["reasons"][0]["code"] == "too_large"
    assert run_cli(capsys, "scan", str(path), "--expect", "model")[0] == 1
    assert run_cli(capsys, "scan", str(path), "--expect", "dataset")[0] == 0


def test_scan_json_is_the_riskapp_scan_1_document_from_the_real_entry_point(tmp_path: Path, canary: Path):
    path = hostile.gadget_pickle(tmp_path / "innocent.onnx", canary)
    result = subprocess.run(
        [sys.executable, "-m", "attacks", "scan", str(path), "--json"], capture_output=True, text=True
    )
    document = json.loads(result.stdout)
    assert result.returncode == 1
    assert document["schema"] == "riskapp.scan/1" and document["format"] == "pickle" and document["malicious"]
    assert [reason["code"] for reason in document["reasons"]] == ["pickle", "pickle_dangerous_global"]
    assert not canary.exists()


def test_architectures_lists_the_catalogue(capsys):
    code, out, _ = run_cli(capsys, "architectures")
    assert code == 0 and "cnn-digits" in out and "151,306" in out and "3x32x32" in out
    code, out, _ = run_cli(capsys, "architectures", "--json")
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert code == 0 and entries["resnet18-cifar"]["input_shape"] == [3, 32, 32]


def test_validate_prints_accuracy_and_the_confusion_matrix(capsys, trained_cnn):
    argv = ["validate", "--model", str(trained_cnn["pt"]), "--arch", "cnn-digits", "--data", str(trained_cnn["test"])]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "accuracy" in out and "confusion matrix" in out
    code, out, _ = run_cli(capsys, *argv, "--classes", "10", "--limit", "100", "--json")
    document = json.loads(out)
    assert code == 0 and document["samples"] == 100 and document["accuracy"] > 0.85
    assert len(document["confusion_matrix"]) == 10


def test_validate_refuses_a_hostile_model_before_loading_it(capsys, tmp_path: Path, canary: Path, trained_cnn):
    path = hostile.system_pickle(tmp_path / "m.pt", canary)
    code, out, _ = run_cli(
        capsys, "validate", "--model", str(path), "--arch", "cnn-digits", "--data", str(trained_cnn["test"])
    )
    assert code == 1 and "REFUSED" in out and not canary.exists()


def test_validate_without_an_architecture_for_weights_is_a_usage_error(capsys, trained_cnn):
    code, _, err = run_cli(
        capsys, "validate", "--model", str(trained_cnn["safetensors"]), "--data", str(trained_cnn["test"])
    )
    assert code == 2 and "architecture" in err
