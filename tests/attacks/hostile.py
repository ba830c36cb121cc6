"""Builders for hostile (and look-alike) model and dataset files, made inside the tests.

Every payload tries to create a canary file; tests assert the canary never appears after
scanning or loading, and `test_payloads_are_live` proves the payloads do run when
unpickled unsafely, so a missing canary means something.
"""

from __future__ import annotations

import importlib
import io
import json
import operator
import os
import pickle
import shlex
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from torch import nn


class SystemPayload:
    """Unpickling runs `os.system("touch CANARY")`."""

    def __init__(self, canary: Path) -> None:
        self.command = f"touch {shlex.quote(str(canary))}"

    def __reduce__(self):
        return (os.system, (self.command,))


class _ImportOs:
    def __reduce__(self):
        return (importlib.import_module, ("os",))


class MethodcallerGadget:
    """Unpickling runs `operator.methodcaller("system", cmd)(importlib.import_module("os"))`: no os global at all."""

    def __init__(self, canary: Path) -> None:
        self.command = f"touch {shlex.quote(str(canary))}"

    def __reduce__(self):
        return (operator.methodcaller("system", self.command), (_ImportOs(),))


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def system_pickle(path: Path, canary: Path) -> Path:
    path.write_bytes(pickle.dumps(SystemPayload(canary), protocol=4))
    return path


def gadget_pickle(path: Path, canary: Path) -> Path:
    path.write_bytes(pickle.dumps(MethodcallerGadget(canary), protocol=2))
    return path


def torch_zip_with(path: Path, payload: object) -> Path:
    """A real torch.save zip whose data.pkl is the payload (what a poisoned checkpoint looks like)."""
    torch.save(payload, path)
    return path


def torchscript_archive(path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated; attackers still use it
        torch.jit.save(torch.jit.script(TinyNet()), str(path))
    return path


def whole_module(path: Path) -> Path:
    torch.save(TinyNet(), path)
    return path


def legacy_torch(path: Path, payload: object | None = None) -> Path:
    torch.save(payload if payload is not None else TinyNet().state_dict(), path, _use_new_zipfile_serialization=False)
    return path


def npz_object_array(path: Path, canary: Path) -> Path:
    x = np.empty(2, dtype=object)
    x[0], x[1] = SystemPayload(canary), 1.0
    with path.open("wb") as stream:
        np.savez(stream, x=x, y=np.array([0, 1]))
    return path


def _rewrite_zip(src: Path, dst: Path, extra: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(src) as source, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we add on purpose
        with zipfile.ZipFile(dst, "w") as target:
            for info in source.infolist():
                target.writestr(info, source.read(info))
            for name, data in extra:
                target.writestr(name, data)
    return dst


def benign_state_dict(path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(TinyNet().state_dict(), path)
    return path


def zip_duplicate_data_pkl(path: Path, canary: Path) -> Path:
    """A checkpoint with a second `data.pkl` (the payload) after the real one."""
    clean = benign_state_dict(path.with_name("clean-" + path.name))
    prefix = zipfile.ZipFile(clean).namelist()[0].split("/")[0]
    return _rewrite_zip(clean, path, [(f"{prefix}/data.pkl", pickle.dumps(SystemPayload(canary)))])


def zip_dotdot_member(path: Path) -> Path:
    clean = benign_state_dict(path.with_name("clean-" + path.name))
    return _rewrite_zip(clean, path, [("../../evil.sh", b"echo pwned\n")])


def zip_nested_archive(path: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("inner.txt", b"hello")
    clean = benign_state_dict(path.with_name("clean-" + path.name))
    prefix = zipfile.ZipFile(clean).namelist()[0].split("/")[0]
    return _rewrite_zip(clean, path, [(f"{prefix}/data/99", inner.getvalue())])


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_nested_pickle(path: Path, canary: Path, *, levels: int = 1) -> Path:
    """A checkpoint with a member that is a zip (`levels` zips deep) whose `payload.pkl` calls os.system."""
    inner = _zip_bytes([("payload.pkl", pickle.dumps(SystemPayload(canary), protocol=4))])
    for level in range(levels - 1):
        inner = _zip_bytes([(f"level{level}.zip", inner)])
    clean = benign_state_dict(path.with_name("clean-" + path.name))
    prefix = zipfile.ZipFile(clean).namelist()[0].split("/")[0]
    return _rewrite_zip(clean, path, [(f"{prefix}/extras.zip", inner)])


def _object_array(canary: Path) -> np.ndarray:
    array = np.empty(2, dtype=object)
    array[0], array[1] = SystemPayload(canary), 1.0
    return array


def npz_object_array_named(path: Path, canary: Path, name: str = "arr_0") -> Path:
    """Digits-like x and y, and the os.system object array as another member (`np.savez(f, objects)`)."""
    with path.open("wb") as stream:
        np.savez(stream, x=np.zeros((2, 4), np.float32), y=np.array([0, 1]), **{name: _object_array(canary)})
    return path


def npz_with_nested_npz(path: Path, canary: Path) -> Path:
    """An .npz whose extra member is itself an .npz holding the os.system object array as x."""
    inner = io.BytesIO()
    np.savez(inner, x=_object_array(canary), y=np.array([0, 1]))
    with path.open("wb") as stream:
        np.savez(stream, x=np.zeros((2, 4), np.float32), y=np.array([0, 1]))
    return _rewrite_zip(path, path.with_name("nested-" + path.name), [("extra.npz", inner.getvalue())])


def npy_object_array(path: Path, canary: Path) -> Path:
    """A bare .npy of the os.system object array (np.save with allow_pickle)."""
    with path.open("wb") as stream:
        np.save(stream, _object_array(canary), allow_pickle=True)
    return path


def zip_bad_crc(path: Path) -> Path:
    """A checkpoint with one byte of a stored tensor flipped after the CRC was written."""
    benign_state_dict(path)
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("/data/0"))
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_length + extra_length] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def zip_with_members(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            archive.writestr(f"archive/data/{index}", b"\0\0\0\0")
        archive.writestr("archive/data.pkl", pickle.dumps({}))
    return path


def zip_overlapping_members(path: Path) -> Path:
    """Two directory entries pointing at the same bytes (how "overlapping" zip bombs multiply their size)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data/0", b"\0" * 64)
        archive.writestr("archive/data/1", b"\0" * 64)
    data = bytearray(path.read_bytes())
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    struct.pack_into("<L", data, second + 42, 0)  # its local header offset := the first member's
    path.write_bytes(bytes(data))
    return path


def _safetensors(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def safetensors_header_past_end(path: Path) -> Path:
    raw = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(struct.pack("<Q", len(raw) + 10_000) + raw + b"\0" * 4)
    return path


def safetensors_overlapping(path: Path) -> Path:
    header = {
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    return _safetensors(path, header, b"\0" * 24)


def safetensors_many_entries(path: Path, count: int = 100_000) -> Path:
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(count)}
    return _safetensors(path, header, b"\0" * count)


def _onnx_model(nodes, initializers, opsets) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=opsets)


def onnx_external_data(path: Path) -> Path:
    """A MatMul whose weight is 'stored' in a file outside the upload folder."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.zeros(12, np.float32).tolist())
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "48")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    model = _onnx_model([helper.make_node("MatMul", ["x", "w"], ["y"])], [weight], [helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    return path


def onnx_custom_domain(path: Path) -> Path:
    model = _onnx_model(
        [helper.make_node("Pwn", ["x"], ["y"], domain="com.evil")],
        [],
        [helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)],
    )
    path.write_bytes(model.SerializeToString())
    return path


def keras_h5(path: Path) -> Path:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1024)
    return path


def keras_v3(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return path


def image_folder_with_pickle(path: Path, canary: Path, *, nested: bool = False) -> Path:
    """A valid-looking image folder (two classes of PNGs) with an os.system pickle renamed `cats/evil.jpg`
    (nested: inside a zip renamed `cats/evil.jpg`)."""
    from attacks.png import png_bytes

    payload = pickle.dumps(SystemPayload(canary), protocol=4)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("cats/001.png", png_bytes(np.full((30, 40, 3), 200, np.uint8)))
        archive.writestr("dogs/001.png", png_bytes(np.full((30, 40, 3), 50, np.uint8)))
        archive.writestr("cats/evil.jpg", _zip_bytes([("payload.pkl", payload)]) if nested else payload)
    return path


# --- the catalogue the tests walk ---------------------------------------------------------

Builder = Callable[[Path, Path], Path]

# id: (builder(folder, canary) -> file, sniffed format, a code that must be among the reasons, malicious)
CASES: dict[str, tuple[Builder, str, str, bool]] = {
    "raw pickle with os.system, named .pt": (
        lambda d, c: system_pickle(d / "model.pt", c),
        "pickle",
        "pickle_dangerous_global",
        True,
    ),
    "raw pickle with the methodcaller + import_module gadget": (
        lambda d, c: gadget_pickle(d / "model.pth", c),
        "pickle",
        "pickle_dangerous_global",
        True,
    ),
    "torch.save zip whose data.pkl calls os.system": (
        lambda d, c: torch_zip_with(d / "model.pt", SystemPayload(c)),
        "pytorch_zip",
        "pickle_dangerous_global",
        True,
    ),
    "torch.save zip whose data.pkl is the methodcaller gadget": (
        lambda d, c: torch_zip_with(d / "model.pt", MethodcallerGadget(c)),
        "pytorch_zip",
        "pickle_dangerous_global",
        True,
    ),
    "TorchScript archive named .pt": (
        lambda d, c: torchscript_archive(d / "model.pt"),
        "torchscript",
        "torchscript",
        False,
    ),
    "whole pickled nn.Module": (
        lambda d, c: whole_module(d / "model.pt"),
        "pytorch_zip",
        "pickle_whole_module",
        False,
    ),
    "legacy non-zip torch.save file": (
        lambda d, c: legacy_torch(d / "model.pt"),
        "legacy_torch",
        "legacy_torch",
        False,
    ),
    "legacy torch.save file carrying os.system": (
        lambda d, c: legacy_torch(d / "model.pt", SystemPayload(c)),
        "legacy_torch",
        "pickle_dangerous_global",
        True,
    ),
    "malicious pickle renamed .safetensors": (
        lambda d, c: system_pickle(d / "model.safetensors", c),
        "pickle",
        "pickle_dangerous_global",
        True,
    ),
    "malicious pickle renamed .onnx": (
        lambda d, c: system_pickle(d / "model.onnx", c),
        "pickle",
        "pickle_dangerous_global",
        True,
    ),
    "malicious pickle renamed .npz": (
        lambda d, c: system_pickle(d / "data.npz", c),
        "pickle",
        "pickle_dangerous_global",
        True,
    ),
    ".npz with an object array carrying os.system": (
        lambda d, c: npz_object_array(d / "data.npz", c),
        "npz",
        "npz_object_array",
        True,
    ),
    "checkpoint with a second data.pkl carrying os.system": (
        lambda d, c: zip_duplicate_data_pkl(d / "model.pt", c),
        "pytorch_zip",
        "zip_duplicate_member",
        True,
    ),
    "checkpoint with a ../ member": (
        lambda d, c: zip_dotdot_member(d / "model.pt"),
        "pytorch_zip",
        "zip_unsafe_path",
        False,
    ),
    "checkpoint with a nested zip": (
        lambda d, c: zip_nested_archive(d / "model.pt"),
        "pytorch_zip",
        "zip_nested_archive",
        False,
    ),
    "checkpoint with a nested zip holding an os.system pickle": (
        lambda d, c: zip_nested_pickle(d / "model.pt", c),
        "pytorch_zip",
        "pickle_dangerous_global",
        True,
    ),
    "checkpoint with an os.system pickle three zips deep": (
        lambda d, c: zip_nested_pickle(d / "model.pt", c, levels=3),
        "pytorch_zip",
        "pickle_dangerous_global",
        True,
    ),
    ".npz with an os.system object array under another name (arr_0)": (
        lambda d, c: npz_object_array_named(d / "data.npz", c),
        "npz",
        "pickle_dangerous_global",
        True,
    ),
    ".npz holding an .npz whose object array carries os.system": (
        lambda d, c: npz_with_nested_npz(d / "data.npz", c),
        "npz",
        "pickle_dangerous_global",
        True,
    ),
    "bare .npy object array carrying os.system": (
        lambda d, c: npy_object_array(d / "data.npy", c),
        "npy",
        "pickle_dangerous_global",
        True,
    ),
    "checkpoint with a bad CRC": (
        lambda d, c: zip_bad_crc(d / "model.pt"),
        "pytorch_zip",
        "zip_bad_crc",
        False,
    ),
    "zip with overlapping members": (
        lambda d, c: zip_overlapping_members(d / "model.pt"),
        "zip",
        "zip_overlapping_members",
        False,
    ),
    "safetensors header longer than the file": (
        lambda d, c: safetensors_header_past_end(d / "model.safetensors"),
        "safetensors",
        "safetensors_header_length",
        False,
    ),
    "safetensors with overlapping offsets": (
        lambda d, c: safetensors_overlapping(d / "model.safetensors"),
        "safetensors",
        "safetensors_offsets_overlap",
        False,
    ),
    "ONNX with external data outside the folder": (
        lambda d, c: onnx_external_data(d / "model.onnx"),
        "onnx",
        "onnx_external_data",
        False,
    ),
    "ONNX with a custom operator domain": (
        lambda d, c: onnx_custom_domain(d / "model.onnx"),
        "onnx",
        "onnx_custom_domain",
        False,
    ),
    "Keras HDF5 (.h5)": (lambda d, c: keras_h5(d / "model.h5"), "keras_h5", "keras_h5", False),
    "Keras v3 (.keras) archive": (lambda d, c: keras_v3(d / "model.keras"), "keras", "keras", False),
    "image folder with an os.system pickle renamed cats/evil.jpg": (
        lambda d, c: image_folder_with_pickle(d / "images.zip", c),
        "image_folder",
        "pickle_dangerous_global",
        True,
    ),
    "image folder with a zip holding an os.system pickle": (
        lambda d, c: image_folder_with_pickle(d / "images.zip", c, nested=True),
        "image_folder",
        "pickle_dangerous_global",
        True,
    ),
}
