"""The engine tasks (parameters, errors, cancel) and `python -m attacks evaluate`."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from attacks.cli import main
from attacks.context import Cancelled, RunContext, UserError
from attacks.datasets import save_npz
from attacks.evasion.core import SCHEMA
from attacks.tasks import TASKS


def _params(trained_cnn, **extra):
    return {
        "model_path": str(trained_cnn["safetensors"]),
        "arch": "cnn-digits",
        "data_path": str(trained_cnn["test"]),
        "attacks": ["fgsm", "pgd_linf"],
        "eps": 0.15,
        "steps": 5,
        "sample_limit": 40,
        "batch_size": 20,
        **extra,
    }


def test_evasion_task_document(trained_cnn, ctx):
    progress = []
    ctx._on_progress = lambda percent, message: progress.append(percent)
    doc = TASKS["evasion"](ctx, _params(trained_cnn))
    assert doc["schema"] == SCHEMA and doc["task"] == "evasion"
    assert [a["attack"] for a in doc["attacks"]] == ["fgsm", "pgd_linf"]
    assert doc["settings"]["seed"] == 0 and doc["device"] in ("cpu", "cuda")
    assert doc["data"]["samples"] == 40 and doc["trustworthy"] in (True, False)
    assert progress[-1] == 100 and progress == sorted(progress)
    json.dumps(doc)  # plain data only


def test_curve_and_transfer_tasks(trained_cnn, student_path, ctx):
    curve = TASKS["robustness_curve"](ctx, _params(trained_cnn, eps=[0.05, 0.2]))
    assert curve["task"] == "robustness_curve" and len(curve["curve"]) == 2
    transfer = TASKS["transfer"](
        ctx,
        {
            **_params(trained_cnn, attacks=["pgd_linf"]),
            "teacher_path": str(trained_cnn["safetensors"]),
            "teacher_arch": "cnn-digits",
            "student_path": str(trained_cnn["onnx"]),
        },
    )
    assert transfer["task"] == "transfer" and transfer["white_box_student"] is None
    assert 0 <= transfer["transfer_success_rate"] <= 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"eps": 1.5}, "outside the input range"),
        ({"eps": 0}, "outside the input range"),
        ({"eps": 9.0, "norm": "2", "attacks": ["pgd_l2"]}, "outside the input range"),
        ({"attacks": ["nope"]}, "Unknown attack"),
        ({"norm": "l1"}, "norm"),
        ({"steps": 0}, "steps"),
    ],
)
def test_parameter_errors(trained_cnn, ctx, extra, message):
    with pytest.raises(UserError, match=message):
        TASKS["evasion"](ctx, _params(trained_cnn, **extra))


def test_white_box_on_onnx_is_refused(trained_cnn, ctx):
    with pytest.raises(UserError, match="white-box"):
        TASKS["evasion"](ctx, _params(trained_cnn, model_path=str(trained_cnn["onnx"])))


def test_onnx_black_box_task(trained_cnn, ctx):
    doc = TASKS["evasion"](
        ctx,
        _params(trained_cnn, model_path=str(trained_cnn["onnx"]), attacks=["square"], max_queries=50, sample_limit=8),
    )
    assert doc["model"]["format"] == "onnx" and doc["attacks"][0]["queries"] > 0


def test_dataset_shape_mismatch(trained_cnn, tmp_path, ctx):
    data = save_npz(tmp_path / "flat.npz", np.zeros((4, 64), np.float32), np.zeros(4, np.int64))
    with pytest.raises(UserError, match="shape"):
        TASKS["evasion"](ctx, _params(trained_cnn, data_path=str(data)))


def test_cancel(trained_cnn, tmp_path):
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        TASKS["evasion"](RunContext(output_dir=tmp_path, cancel_event=event), _params(trained_cnn))


def test_cancel_between_batches(trained_cnn, tmp_path):
    event = threading.Event()

    def progress(percent, message):
        if "pgd_linf" in message:  # the first batch finished: ask to stop
            event.set()

    ctx = RunContext(output_dir=tmp_path, on_progress=progress, cancel_event=event)
    with pytest.raises(Cancelled):
        TASKS["evasion"](ctx, _params(trained_cnn, attacks=["pgd_linf"]))


def test_cli_evaluate_json(trained_cnn, capsys):
    code = main(
        [
            "evaluate",
            "--model",
            str(trained_cnn["pt"]),
            "--arch",
            "cnn-digits",
            "--data",
            str(trained_cnn["test"]),
            "--attack",
            "fgsm",
            "--eps",
            "0.1",
            "--limit",
            "30",
            "--json",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["schema"] == SCHEMA and doc["attacks"][0]["attack"] == "fgsm"
    assert {"clean_accuracy", "flags", "trustworthy", "verdict", "settings", "versions"} <= set(doc)


def test_cli_evaluate_curve_and_errors(trained_cnn, capsys):
    common = ["--model", str(trained_cnn["pt"]), "--arch", "cnn-digits", "--data", str(trained_cnn["test"])]
    assert main(["evaluate", *common, "--eps", "0.05", "0.1", "--limit", "20", "--steps", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["task"] == "robustness_curve"
    assert main(["evaluate", *common, "--attack", "nope", "--eps", "0.1"]) == 2
    assert "Unknown attack" in capsys.readouterr().err
