"""The sandbox-side loaders: weights, ONNX and datasets load safely, and every problem is a clear UserError."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from attacks.architectures import build
from attacks.context import UserError
from attacks.datasets import save_npz
from attacks.loading import (
    check_state_dict,
    convert_to_safetensors,
    load_dataset,
    load_model,
    load_onnx,
    load_state_dict,
)
from tests.attacks import hostile
from tests.attacks.hostile import CASES


def every_fixture(folder: Path, canary: Path, benign: dict[str, Path]) -> list[Path]:
    hostile_files = []
    for index, (build_file, *_) in enumerate(CASES.values()):
        case_folder = folder / f"case{index}"
        case_folder.mkdir()
        hostile_files.append(build_file(case_folder, canary))
    return [*benign.values(), *hostile_files]


def test_torch_load_is_never_called_without_weights_only(monkeypatch, tmp_path: Path, canary: Path, benign_files):
    calls: list[dict] = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    refused = 0
    for path in every_fixture(tmp_path, canary, benign_files):
        before = len(calls)
        try:
            load_state_dict(path)
        except UserError:
            refused += 1
        assert len(calls) - before <= 1, f"torch.load was retried on {path.name}"
    # The benign .pt plus the hostile checkpoints whose zip is sound all reach torch.load ...
    assert len(calls) >= 4
    # ... always with weights_only=True passed explicitly, never anything else.
    assert all(call.get("weights_only") is True for call in calls)
    assert refused == len(CASES) + len(benign_files) - 2  # only the .pt and .safetensors load
    assert not canary.exists()


def test_weights_only_refusal_names_the_global_but_never_suggests_weights_only_false(tmp_path: Path, canary: Path):
    path = hostile.torch_zip_with(tmp_path / "m.pt", hostile.SystemPayload(canary))
    with pytest.raises(UserError) as refused:
        load_state_dict(path)
    message = str(refused.value)
    assert "posix.system" in message and "weights_only" not in message and "state_dict()" in message
    assert not canary.exists()


def test_state_dict_checkpoint_and_safetensors_load_to_the_same_tensors(tmp_path: Path):
    torch.manual_seed(0)
    model = build("mlp-digits", 10)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    converted = convert_to_safetensors(tmp_path / "m.pt", tmp_path / "m.safetensors")
    reloaded = load_state_dict(tmp_path / "m.safetensors")
    assert set(reloaded) == set(model.state_dict()) == set(converted)
    assert all(torch.equal(reloaded[name], tensor) for name, tensor in model.state_dict().items())


def test_tied_weights_convert_to_safetensors(tmp_path: Path):
    shared = torch.randn(3, 3)
    torch.save({"a.weight": shared, "b.weight": shared}, tmp_path / "tied.pt")
    convert_to_safetensors(tmp_path / "tied.pt", tmp_path / "tied.safetensors")
    loaded = load_state_dict(tmp_path / "tied.safetensors")
    assert torch.equal(loaded["a.weight"], shared) and torch.equal(loaded["b.weight"], shared)


def test_nested_checkpoint_is_refused_with_a_hint(tmp_path: Path):
    torch.save({"state_dict": build("mlp-digits", 10).state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    with pytest.raises(UserError, match=r"save `checkpoint\['state_dict'\]` on its own"):
        load_state_dict(tmp_path / "ckpt.pt")


def test_check_state_dict_lists_every_missing_unexpected_and_mismatched_tensor():
    model = build("cnn-digits", 10)
    state = dict(build("cnn-digits", 7).state_dict())
    del state["conv.0.bias"]
    state["extra.weight"] = torch.zeros(2, 2)
    problems = check_state_dict(model, state)
    assert problems == [
        "missing tensor 'conv.0.bias' (the architecture expects shape [32])",
        "unexpected tensor 'extra.weight' (shape [2, 2]), not in the architecture",
        "shape mismatch for 'classifier.bias': the file has [7], the architecture expects [10]",
        "shape mismatch for 'classifier.weight': the file has [7, 128], the architecture expects [10, 128]; "
        "the file's classifier has 7 outputs: set the number of classes to 7",
    ]
    assert check_state_dict(model, model.state_dict()) == []


def test_check_state_dict_recognises_a_dataparallel_prefix():
    model = build("mlp-digits", 10)
    state = {f"module.{name}": tensor for name, tensor in model.state_dict().items()}
    assert "save model.module.state_dict()" in check_state_dict(model, state)[0]


def test_load_model_refuses_weights_of_another_architecture(tmp_path: Path):
    torch.save(build("mlp-digits", 10).state_dict(), tmp_path / "mlp.pt")
    with pytest.raises(UserError, match="do not fit architecture 'cnn-digits' with 10 classes") as refused:
        load_model(tmp_path / "mlp.pt", "cnn-digits", 10)
    assert "missing tensor 'conv.0.weight'" in str(refused.value)


def test_load_model_returns_the_trained_network_in_eval_mode(trained_cnn, digits):
    model = load_model(trained_cnn["safetensors"], "cnn-digits", 10)
    assert not model.training
    with torch.inference_mode():
        accuracy = (model(torch.from_numpy(digits.x_test)).argmax(1).numpy() == digits.y_test).mean()
    assert accuracy > 0.9


def test_onnx_export_predicts_like_the_torch_model(trained_cnn, digits):
    onnx_model = load_onnx(trained_cnn["onnx"])
    torch_model = load_model(trained_cnn["safetensors"], "cnn-digits", 10)
    logits = onnx_model.predict(digits.x_test[:300], batch_size=128)
    with torch.inference_mode():
        expected = torch_model(torch.from_numpy(digits.x_test[:300])).numpy()
    assert onnx_model.input_shape == (1, 8, 8) and onnx_model.num_classes == 10
    assert logits.shape == (300, 10) and np.allclose(logits, expected, atol=1e-4)
    assert onnx_model.providers[-1] == "CPUExecutionProvider"


def test_onnx_with_a_fixed_batch_of_one_still_predicts_many(trained_cnn, tmp_path: Path, digits):
    model = load_model(trained_cnn["safetensors"], "cnn-digits", 10)
    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated (see conftest.export_onnx)
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, external_data=False)
    onnx_model = load_onnx(path)
    assert onnx_model.fixed_batch == 1 and onnx_model.predict(digits.x_test[:5]).shape == (5, 10)


# --- datasets -------------------------------------------------------------------------------


def test_load_dataset_returns_float32_images_int64_labels_and_the_poison_mask(tmp_path: Path, digits):
    mask = np.zeros(len(digits.y_test), bool)
    mask[:7] = True
    path = save_npz(tmp_path / "d.npz", digits.x_test, digits.y_test, mask)
    x, y, poison = load_dataset(path, expect_shape=(1, 8, 8), num_classes=10)
    assert x.dtype == np.float32 and y.dtype == np.int64 and poison is not None and poison.sum() == 7
    assert np.array_equal(x, digits.x_test) and np.array_equal(y, digits.y_test)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "message"),
    [
        (np.full((2, 3), np.nan, np.float32), [0, 1], {}, "6 NaN or infinite values"),
        (np.zeros((2, 3), np.float32), [0, 12], {"num_classes": 10}, "labels from 0 to 12"),
        (np.zeros((2, 3), np.float32), [-1, 0], {}, "labels from -1 to 0"),
        (np.zeros((2, 8, 8, 1), np.float32), [0, 1], {"expect_shape": (1, 8, 8)}, "x.transpose(0, 3, 1, 2)"),
        (np.zeros((2, 64), np.float32), [0, 1], {"expect_shape": (1, 8, 8)}, "x.reshape(len(x), 1, 8, 8)"),
        (np.zeros((2, 3, 32, 32), np.float32), [0, 1], {"expect_shape": (1, 8, 8)}, "expects (1, 8, 8)"),
    ],
)
def test_load_dataset_explains_what_is_wrong(tmp_path: Path, x, y, kwargs, message):
    path = tmp_path / "d.npz"
    with path.open("wb") as stream:
        np.savez(stream, x=x, y=np.array(y))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(path, **kwargs)


def test_load_dataset_refuses_integer_images_and_float_labels(tmp_path: Path):
    path = tmp_path / "d.npz"
    with path.open("wb") as stream:
        np.savez(stream, x=np.zeros((2, 3), np.int32), y=np.array([0.0, 1.0]))
    with pytest.raises(UserError) as refused:
        load_dataset(path)
    assert "x must be floating point" in str(refused.value) and "y must hold integer class labels" in str(refused.value)


def test_free_onnx_dimensions_accept_any_size(tmp_path: Path, digits):
    path = save_npz(tmp_path / "d.npz", digits.x_test[:4], digits.y_test[:4])
    assert load_dataset(path, expect_shape=(1, None, None))[0].shape == (4, 1, 8, 8)
