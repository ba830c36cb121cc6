""".npz datasets: a zip of .npy arrays named x, y and optionally poison_mask.

Each .npy header is read with numpy's header parser (a literal, never a pickle); the array
data is not loaded. An object dtype means the array is a pickle and is refused (and
checked for a payload, to flag the file as malicious).
"""

from __future__ import annotations

import math
import zipfile
from typing import Any

import numpy as np

from attacks.scanners.findings import Finding, finding
from attacks.scanners.payloads import archive_payloads
from attacks.scanners.pickles import dangerous_globals
from attacks.scanners.zips import read_member

REQUIRED = ("x", "y")
OPTIONAL = ("poison_mask",)
MAX_OBJECT_PICKLE_BYTES = 64 * 1024 * 1024


def layout_problems(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, np.dtype[Any]]) -> list[tuple[str, str]]:
    """(array, problem) pairs for arrays that cannot be an evaluation set; shared with the loader."""
    problems: list[tuple[str, str]] = []
    x_shape, y_shape = shapes.get("x"), shapes.get("y")
    if x_shape is not None:
        if dtypes["x"].kind != "f" and dtypes["x"] != np.uint8:
            problems.append(
                (
                    "x",
                    f"has dtype {dtypes['x']}; x must be floating point (e.g. float32 scaled to [0, 1]) "
                    "or uint8 image bytes (0-255, scaled by 1/255 when read)",
                )
            )
        if len(x_shape) not in (2, 4):
            problems.append(("x", f"has shape {x_shape}; x must be N×C×H×W images or N×D feature vectors"))
    if y_shape is not None:
        if dtypes["y"].kind not in "iu":
            problems.append(("y", f"has dtype {dtypes['y']}; y must hold integer class labels"))
        if len(y_shape) != 1:
            hint = " (it looks one-hot: save y.argmax(1))" if len(y_shape) == 2 else ""
            problems.append(("y", f"has shape {y_shape}; y must be one label per sample{hint}"))
    if x_shape and y_shape and len(y_shape) >= 1 and x_shape[0] != y_shape[0]:
        problems.append(("y", f"has {y_shape[0]} labels for {x_shape[0]} samples in x"))
    mask_shape = shapes.get("poison_mask")
    if mask_shape is not None:
        if dtypes["poison_mask"].kind not in "biu":
            problems.append(("poison_mask", "must be boolean (True for a poisoned sample)"))
        if x_shape and mask_shape != (x_shape[0],):
            problems.append(("poison_mask", f"has shape {mask_shape}; it needs one flag per sample ({x_shape[0]},)"))
    return problems


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """(shape, dtype, header bytes) of one .npy member; ValueError when the header is not one."""
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        return tuple(shape), dtype, stream.tell()


def check_npz(archive: zipfile.ZipFile) -> list[Finding]:
    findings: list[Finding] = []
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, np.dtype[Any]] = {}
    unexpected: set[str] = set()
    for info in archive.infolist():
        name = info.filename
        key = name.removesuffix(".npy")
        if not name.endswith(".npy") or key not in REQUIRED + OPTIONAL:
            findings.append(finding("npz_unexpected_member", member=name))
            unexpected.add(name)
            continue
        try:
            shape, dtype, header_size = _read_header(archive, info)
        except (ValueError, SyntaxError, EOFError, zipfile.BadZipFile) as error:
            findings.append(finding("npz_bad_header", member=key, detail=str(error)[:200]))
            continue
        if dtype.hasobject:
            findings.append(finding("npz_object_array", member=key))
            if info.file_size <= MAX_OBJECT_PICKLE_BYTES:
                findings.extend(dangerous_globals(read_member(archive, info)[header_size:], name))
            continue
        if dtype.fields is not None or dtype.subdtype is not None:
            findings.append(finding("npz_bad_array", member=key, detail="has a structured dtype; save plain arrays"))
            continue
        if info.file_size != header_size + math.prod(shape) * dtype.itemsize:
            findings.append(finding("npz_bad_array", member=key, detail="is truncated or has trailing bytes"))
            continue
        shapes[key], dtypes[key] = shape, dtype
    # Refused already; still look for a payload in them (an object array, a pickle, a zip), to flag the file
    # as malicious. Their own arrays are not read unless they hold objects.
    checked = frozenset(info.filename for info in archive.infolist() if info.filename not in unexpected)
    findings.extend(archive_payloads(archive, skip=checked, every_member=False))
    parsed_names = {info.filename.removesuffix(".npy") for info in archive.infolist()}
    findings.extend(finding("npz_missing_member", member=key) for key in REQUIRED if key not in parsed_names)
    findings.extend(
        finding("npz_bad_array", member=key, detail=detail) for key, detail in layout_problems(shapes, dtypes)
    )
    return findings
