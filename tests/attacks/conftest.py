"""Shared engine fixtures: a canary path, benign files, and a digits CNN trained once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from attacks.architectures import build
from attacks.datasets import digits_split, save_npz
from attacks.loading import save_safetensors
from tests.attacks import hostile


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """Where every payload tries to write; it must never exist after a scan or a load."""
    return tmp_path / "CANARY"


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> Path:
    """torch's TorchScript-based exporter (the default dynamo exporter needs onnxscript, not installed here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=False,
            external_data=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        )
    return path


def handmade_onnx(path: Path) -> Path:
    """A 4-input, 3-class linear classifier written with onnx.helper (no exporter involved)."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.arange(12, dtype=np.float32).tolist())
    bias = helper.make_tensor("b", TensorProto.FLOAT, [3], [0.0, 0.5, 1.0])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    return path


@pytest.fixture(scope="session")
def digits():
    return digits_split(seed=0)


@pytest.fixture(scope="session")
def trained_cnn(tmp_path_factory, digits) -> dict[str, Path]:
    """cnn-digits trained for about a second, saved as safetensors, a state_dict .pt and ONNX, plus the test set."""
    folder = tmp_path_factory.mktemp("trained")
    torch.manual_seed(0)
    model = build("cnn-digits", 10)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    for _ in range(6):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
    model.eval()
    paths = {
        "safetensors": folder / "cnn.safetensors",
        "pt": folder / "cnn.pt",
        "onnx": folder / "cnn.onnx",
        "test": save_npz(folder / "digits-test.npz", digits.x_test, digits.y_test),
    }
    save_safetensors(model.state_dict(), paths["safetensors"])
    torch.save(model.state_dict(), paths["pt"])
    export_onnx(model, torch.zeros(1, 1, 8, 8), paths["onnx"])
    return paths


def small_image_folder(path: Path) -> Path:
    """A zip of two class folders with two 40×30 PNGs each (written without Pillow)."""
    import zipfile

    from attacks.png import png_bytes

    with zipfile.ZipFile(path, "w") as archive:
        for folder, value in (("cats", 200), ("dogs", 40)):
            for number in (1, 2):
                archive.writestr(f"{folder}/{number:03}.png", png_bytes(np.full((30, 40, 3), value + number, np.uint8)))
    return path


@pytest.fixture
def benign_files(tmp_path: Path, trained_cnn) -> dict[str, Path]:
    """One accepted file of every supported format."""
    return {
        "state_dict.pt": hostile.benign_state_dict(tmp_path / "state_dict.pt"),
        "weights.safetensors": trained_cnn["safetensors"],
        "exported.onnx": trained_cnn["onnx"],
        "handmade.onnx": handmade_onnx(tmp_path / "handmade.onnx"),
        "digits.npz": trained_cnn["test"],
        "images.zip": small_image_folder(tmp_path / "images.zip"),
    }
