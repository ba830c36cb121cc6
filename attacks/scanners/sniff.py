"""Tell a file's type from its bytes. The name and extension are never consulted: a pickle
renamed `model.safetensors` is still a pickle."""

from __future__ import annotations

import re
from pathlib import Path

HEAD_BYTES = 4096

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a member header, or the end record of an empty zip
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
HDF5_OFFSETS = (0, 512, 1024, 2048)  # HDF5 allows a user block before the superblock
NPY_MAGIC = b"\x93NUMPY"
PICKLE_PROTOCOLS = tuple(b"\x80" + bytes([version]) for version in range(2, 6))
# torch.save's legacy format opens with a pickled magic number (LONG1, 10 bytes, little-endian).
LEGACY_TORCH_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")

_TORCHSCRIPT_MEMBER = re.compile(r"^[^/]+/(constants\.pkl|code/)")
TORCH_DATA_PICKLE = re.compile(r"^[^/]+/data\.pkl$")


def sniff_head(head: bytes) -> str:
    """The format family the first bytes announce: zip, keras_h5, npy, legacy_torch, pickle,
    safetensors, onnx or unknown. Zips are told apart later by their member names."""
    if head.startswith(ZIP_MAGICS):
        return "zip"
    if head.startswith(HDF5_MAGIC):
        return "keras_h5"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PICKLE_PROTOCOLS):
        # Protocol 4+ may put a FRAME opcode before the magic number, hence the window.
        return "legacy_torch" if LEGACY_TORCH_MAGIC in head[:32] else "pickle"
    # safetensors: an 8-byte little-endian header length, then the JSON header, which opens with '{'.
    if len(head) > 8 and head[8:9] == b"{":
        return "safetensors"
    # ONNX has no magic number; a ModelProto starts with field 1 (ir_version, a varint): tag byte 0x08.
    if head[:1] == b"\x08" and len(head) > 1 and 1 <= head[1] <= 64:
        return "onnx"
    if any(head[offset : offset + len(HDF5_MAGIC)] == HDF5_MAGIC for offset in HDF5_OFFSETS[1:]):
        return "keras_h5"
    return "unknown"


def classify_zip(names: list[str]) -> str:
    """pytorch_zip, torchscript, npz, keras or zip (an archive of something else)."""
    if any(_TORCHSCRIPT_MEMBER.match(name) for name in names):
        return "torchscript"
    if any(TORCH_DATA_PICKLE.match(name) for name in names):
        return "pytorch_zip"
    if names and any(name.endswith(".npy") for name in names):
        return "npz"
    if {"config.json", "metadata.json"} <= set(names) or "model.weights.h5" in names:
        return "keras"
    return "zip"


def read_head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(HEAD_BYTES)


def sniff_file(path: Path) -> str:
    """The file's format as scan_file names it, from the bytes and (for zips) the member names.

    Used by the loaders to pick a loader; it does not vet the file (scan_file does)."""
    family = sniff_head(read_head(path))
    if family != "zip":
        return family
    from attacks.scanners.zips import list_members

    names, problems = list_members(path)
    return "zip" if problems else classify_zip(names)
