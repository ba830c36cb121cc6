"""The "intake" and "validate" engine tasks, called directly and through the sandbox runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from attacks import intake, validate
from attacks.architectures import build
from attacks.context import Cancelled, RunContext, UserError
from attacks.datasets import save_npz
from attacks.loading import load_state_dict
from attacks.tasks import TASKS
from tests.attacks import hostile


def context(tmp_path: Path, cancel: threading.Event | None = None) -> tuple[RunContext, list[tuple[float, str]]]:
    progress: list[tuple[float, str]] = []
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    ctx = RunContext(output_dir=out, on_progress=lambda p, m: progress.append((p, m)), cancel_event=cancel)
    return ctx, progress


def test_intake_and_validate_are_registered_engine_tasks():
    assert TASKS["intake"] is intake.run and TASKS["validate"] is validate.run
    assert {"environment", "speed", "sandbox_selftest"} <= set(TASKS)


def test_intake_converts_a_state_dict_checkpoint_to_safetensors(tmp_path: Path, trained_cnn):
    ctx, progress = context(tmp_path)
    result = intake.run(ctx, {"path": str(trained_cnn["pt"]), "kind": "model", "arch": "cnn-digits", "num_classes": 10})
    assert result["format"] == "pytorch_zip" and result["output"] == "model.safetensors"
    assert result["tensor_count"] == 8 and result["parameter_count"] == 151_306
    assert result["input_shape"] == [1, 8, 8] and result["mismatches"] == [] and result["forward_finite"] is True
    assert result["scan"]["schema"] == "riskapp.scan/1" and result["scan"]["accepted"] is True
    converted = load_state_dict(ctx.output_dir / "model.safetensors")
    original = torch.load(trained_cnn["pt"], weights_only=True)
    assert all(torch.equal(converted[name], tensor) for name, tensor in original.items())
    assert progress[-1] == (100, "Done")


def test_intake_reports_every_mismatch_as_a_user_error(tmp_path: Path):
    torch.save(build("cnn-digits", 7).state_dict(), tmp_path / "seven.pt")
    ctx, _ = context(tmp_path)
    with pytest.raises(UserError) as refused:
        intake.run(ctx, {"path": str(tmp_path / "seven.pt"), "kind": "model", "arch": "cnn-digits", "num_classes": 10})
    message = str(refused.value)
    assert "shape mismatch for 'classifier.weight'" in message and "set the number of classes to 7" in message
    assert not (ctx.output_dir / "model.safetensors").exists()


def test_intake_refuses_a_hostile_upload_without_running_it(tmp_path: Path, canary: Path):
    path = hostile.torch_zip_with(tmp_path / "m.pt", hostile.SystemPayload(canary))
    ctx, _ = context(tmp_path)
    with pytest.raises(UserError, match="refused .*posix.system"):
        intake.run(ctx, {"path": str(path), "kind": "model", "arch": "cnn-digits"})
    assert not canary.exists()


def test_intake_takes_in_an_onnx_model_without_an_architecture(tmp_path: Path, trained_cnn):
    ctx, _ = context(tmp_path)
    result = intake.run(ctx, {"path": str(trained_cnn["onnx"]), "kind": "model"})
    assert result["format"] == "onnx" and result["input_shape"] == [1, 8, 8] and result["num_classes"] == 10
    assert result["forward_finite"] is True and result["output"] is None


def test_intake_normalises_a_dataset_and_checks_it_against_the_architecture(tmp_path: Path, digits):
    path = tmp_path / "d.npz"
    with path.open("wb") as stream:
        np.savez(stream, x=digits.x_test.astype(np.float64), y=digits.y_test.astype(np.int32))
    ctx, _ = context(tmp_path)
    result = intake.run(ctx, {"path": str(path), "kind": "dataset", "arch": "cnn-digits", "num_classes": 10})
    assert result["samples"] == 500 and result["input_shape"] == [1, 8, 8] and sum(result["class_counts"]) == 500
    assert result["poisoned"] is None and result["x_range"] == [0.0, 1.0]
    with np.load(ctx.output_dir / "dataset.npz", allow_pickle=False) as saved:
        assert saved["x"].dtype == np.float32 and saved["y"].dtype == np.int64
    with pytest.raises(UserError, match="model expects"):
        intake.run(ctx, {"path": str(path), "kind": "dataset", "arch": "resnet18-cifar"})


def test_validate_reports_accuracy_per_class_accuracy_and_the_confusion_matrix(tmp_path: Path, trained_cnn):
    ctx, progress = context(tmp_path)
    params = {
        "model_path": str(trained_cnn["safetensors"]),
        "arch": "cnn-digits",
        "num_classes": 10,
        "data_path": str(trained_cnn["test"]),
        "sample_limit": 400,
        "batch_size": 64,
    }
    result = validate.run(ctx, params)
    matrix = np.array(result["confusion_matrix"])
    assert result["samples"] == 400 and matrix.shape == (10, 10) and matrix.sum() == 400
    assert result["accuracy"] > 0.9  # chance is 0.1
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / 400)
    assert result["per_class_accuracy"][3] == pytest.approx(matrix[3, 3] / matrix[3].sum())
    assert result["class_support"] == matrix.sum(axis=1).tolist()
    assert len([p for p, _ in progress if 10 < p < 100]) >= 6  # one report per batch (400 / 64 = 7)


def test_validate_runs_an_onnx_model_the_same_way(tmp_path: Path, trained_cnn):
    ctx, _ = context(tmp_path)
    base = {"data_path": str(trained_cnn["test"]), "sample_limit": 0}
    onnx_result = validate.run(ctx, {**base, "model_path": str(trained_cnn["onnx"])})
    torch_result = validate.run(ctx, {**base, "model_path": str(trained_cnn["safetensors"]), "arch": "cnn-digits"})
    assert onnx_result["samples"] == 500 and onnx_result["device"].endswith("ExecutionProvider")
    assert onnx_result["confusion_matrix"] == torch_result["confusion_matrix"]


def test_validate_stops_between_batches_when_cancelled(tmp_path: Path, trained_cnn):
    cancel = threading.Event()
    progress: list[float] = []

    def on_progress(percent: float, _message: str) -> None:
        progress.append(percent)
        if percent > 10:  # a batch has been scored: ask to stop
            cancel.set()

    ctx = RunContext(output_dir=tmp_path, on_progress=on_progress, cancel_event=cancel)
    params = {"model_path": str(trained_cnn["onnx"]), "data_path": str(trained_cnn["test"]), "batch_size": 50}
    with pytest.raises(Cancelled):
        validate.run(ctx, params)
    assert len([p for p in progress if p > 10]) == 1  # the first batch ran, the second never started


def test_validate_refuses_labels_the_model_cannot_output(tmp_path: Path, trained_cnn, digits):
    path = save_npz(tmp_path / "d.npz", digits.x_test[:10], np.full(10, 11))
    ctx, _ = context(tmp_path)
    with pytest.raises(UserError, match="labels"):
        validate.run(ctx, {"model_path": str(trained_cnn["onnx"]), "data_path": str(path)})


def test_validate_task_runs_in_the_sandbox_runner(tmp_path: Path, trained_cnn):
    read_end, write_end = os.pipe()
    spec = {
        "task": "validate",
        "output_dir": str(tmp_path),
        "params": {
            "model_path": str(trained_cnn["safetensors"]),
            "arch": "cnn-digits",
            "data_path": str(trained_cnn["test"]),
        },
    }
    runner = subprocess.Popen(
        [sys.executable, "-m", "attacks.runner", "--result-fd", str(write_end), "--parent-pid", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        pass_fds=(write_end,),
        text=True,
    )
    os.close(write_end)
    runner.stdin.write(json.dumps(spec) + "\n")
    runner.stdin.flush()
    with os.fdopen(read_end, encoding="utf-8") as results:
        messages = [json.loads(line) for line in results]
    runner.stdin.close()
    assert runner.wait(timeout=60) == 0, runner.stderr.read()
    final = messages[-1]
    assert final["type"] == "result" and final["data"]["samples"] == 500 and final["data"]["accuracy"] > 0.9
