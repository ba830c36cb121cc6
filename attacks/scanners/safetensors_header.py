"""safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.

The format runs no code, but a hostile header can still cost time and memory, so the
header is bounded (length, entry count) before it is parsed, and every entry's byte range
is checked against the data section, its shape and dtype, and the other entries.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from attacks.scanners.findings import Finding, finding

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_ENTRIES = 50_000
MAX_FINDINGS = 10
MAX_RANK = 64

# Bytes per element of every dtype torch can load from safetensors.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys; the Rust reader refuses them. Refuse them too.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"duplicate key {key!r}")
        result[key] = value
    return result


def read_header(path: Path) -> tuple[dict[str, Any] | None, int, list[Finding]]:
    """(header, data section offset, findings): the parsed header when it is sane, else the reasons."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        prefix = stream.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
        if length == 0 or length > MAX_HEADER_BYTES or 8 + length > size:
            return None, 0, [finding("safetensors_header_length", length=length, limit=MAX_HEADER_BYTES, size=size)]
        raw = stream.read(length)
    # Every entry is a JSON object, so counting '{' bounds the entries before any parsing work.
    # (Braces inside strings only make the count larger: a false refusal, never a miss.)
    if raw.count(b"{") > MAX_ENTRIES + 2:  # the header itself and __metadata__ are objects too
        return None, 0, [finding("safetensors_too_many_entries", limit=MAX_ENTRIES)]
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, 0, [finding("safetensors_header_json", detail=str(error)[:200])]
    if not isinstance(header, dict):
        return None, 0, [finding("safetensors_header_json", detail="the header is not an object")]
    return header, 8 + length, []


def _entry_problem(name: str, entry: Any, data_size: int) -> Finding | tuple[int, int]:
    """The entry's (begin, end) when it is well formed, else why it is not."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        return finding("safetensors_bad_entry", member=name, detail="needs exactly dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        return finding("safetensors_bad_dtype", member=name, dtype=dtype)
    # Rank and dimension bounds keep the size product cheap to compute (no giant integers).
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(type(dim) is int and 0 <= dim < 2**62 for dim in shape)
    ):
        return finding(
            "safetensors_bad_entry", member=name, detail="shape must be a short list of non-negative integers"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
        return finding("safetensors_bad_entry", member=name, detail="data_offsets must be two integers")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        return finding("safetensors_offsets_out_of_bounds", member=name, begin=begin, end=end, data_size=data_size)
    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if end - begin != expected:
        return finding(
            "safetensors_size_mismatch", member=name, shape=shape, dtype=dtype, expected=expected, actual=end - begin
        )
    return begin, end


def check_safetensors(path: Path) -> list[Finding]:
    header, data_start, findings = read_header(path)
    if header is None:
        return findings
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        findings.append(finding("safetensors_bad_entry", member="__metadata__", detail="must map strings to strings"))
    if len(header) > MAX_ENTRIES:
        return [finding("safetensors_too_many_entries", limit=MAX_ENTRIES)]
    data_size = path.stat().st_size - data_start
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        checked = _entry_problem(name, entry, data_size)
        if isinstance(checked, Finding):
            findings.append(checked)
            if len(findings) >= MAX_FINDINGS:
                return findings
        else:
            spans.append((*checked, name))
    if findings:
        return findings
    spans.sort()
    furthest_end, furthest = 0, ""
    for begin, end, name in spans:
        if begin < furthest_end and end > begin:
            findings.append(finding("safetensors_offsets_overlap", member=furthest, other=name))
            if len(findings) >= MAX_FINDINGS:
                return findings
        if end > furthest_end:
            furthest_end, furthest = end, name
    if findings:
        return findings
    used = sum(end - begin for begin, end, _ in spans)
    if used != data_size:
        findings.append(finding("safetensors_incomplete", unused=data_size - used))
    return findings
