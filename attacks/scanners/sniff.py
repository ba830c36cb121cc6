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

# Image folders (one sub-folder per class). Members are told apart by suffix here; the image
# folder scanner then checks each member's magic bytes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Files that archivers and desktops add on their own (macOS Finder's __MACOSX/ and ._* forks,
# .DS_Store, Windows' Thumbs.db and desktop.ini): ignored in an image folder. Any other hidden
# file or folder (a name starting with '.', e.g. .ipynb_checkpoints/) is ignored the same way.
JUNK_FOLDERS = frozenset({"__macosx"})
JUNK_FILES = frozenset({"thumbs.db", "desktop.ini"})


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


def ignored_member(name: str) -> bool:
    """A directory entry or desktop junk, which an image folder may hold and nobody reads."""
    if name.endswith("/"):
        return True
    parts = name.replace("\\", "/").split("/")
    return (
        any(part.casefold() in JUNK_FOLDERS or part.startswith(".") for part in parts[:-1])
        or parts[-1].startswith(".")
        or parts[-1].casefold() in JUNK_FILES
    )


def is_image_name(name: str) -> bool:
    return name.casefold().endswith(IMAGE_SUFFIXES)


def mostly_images(names: list[str]) -> bool:
    """At least half the files (junk aside) are named like images: an image folder with strays in it."""
    files = [name for name in names if not ignored_member(name)]
    return bool(files) and 2 * sum(is_image_name(name) for name in files) >= len(files)


def classify_zip(names: list[str]) -> str:
    """pytorch_zip, torchscript, npz, keras, hf_folder, image_folder or zip (an archive of something else).

    hf_folder: a Hugging Face save_pretrained folder (config.json beside its weights), see attacks/huggingface.py.

    image_folder: every member that is not a directory entry or desktop junk has an image suffix
    (.jpg .jpeg .png .webp, any case), and there is at least one. Its layout is checked later."""
    if any(_TORCHSCRIPT_MEMBER.match(name) for name in names):
        return "torchscript"
    if any(TORCH_DATA_PICKLE.match(name) for name in names):
        return "pytorch_zip"
    if names and any(name.endswith(".npy") for name in names):
        return "npz"
    if {"config.json", "metadata.json"} <= set(names) or "model.weights.h5" in names:
        return "keras"
    from attacks.huggingface import is_folder

    if is_folder(names):
        return "hf_folder"
    files = [name for name in names if not ignored_member(name)]
    if files and all(is_image_name(name) for name in files):
        return "image_folder"
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
