"""The static scan of an uploaded model or dataset: the same code for the CLI and the web intake.

`scan_file` sniffs the type from the bytes, checks it against the allowlist and vets its
structure. It never unpickles, imports or runs anything from the file, and it does not
import torch, so it is cheap enough for the web process. It is a pre-filter: the loaders in
`attacks.loading`, run in the sandbox, are the wall.

The report's `as_dict()` is versioned ("schema": "riskapp.scan/1", see docs/engine.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attacks.context import UserError
from attacks.scanners import (
    hf_folder,
    image_folder,
    npz,
    onnx_model,
    payloads,
    safetensors_header,
    torch_zip,
    zips,
)
from attacks.scanners.findings import Finding, finding
from attacks.scanners.sniff import classify_zip, mostly_images, read_head, sniff_head

__all__ = ["SCHEMA", "Finding", "ScanReport", "scan_file", "MODEL_FORMATS", "DATASET_FORMATS"]

SCHEMA = "riskapp.scan/1"
MODEL_FORMATS = frozenset({"safetensors", "pytorch_zip", "onnx", "hf_folder"})
DATASET_FORMATS = frozenset({"npz", "image_folder"})
KINDS = ("model", "dataset")
# Formats that are recognised and always refused, with the finding that says why.
REFUSED = {
    "torchscript": "torchscript",
    "pickle": "pickle",
    "legacy_torch": "legacy_torch",
    "keras_h5": "keras_h5",
    "keras": "keras",
    "npy": "npy",
    "zip": "unsupported_zip",
    "unknown": "unknown_format",
}
MAX_SNIFFED_PICKLE_BYTES = 256 * 1024 * 1024
HASH_CHUNK = 1024 * 1024


@dataclass
class ScanReport:
    """The scan's verdict. `format` is what the bytes are, whatever the file is called."""

    accepted: bool
    format: str
    sha256: str
    size: int
    reasons: list[Finding] = field(default_factory=list)
    max_bytes: int = 0

    @property
    def malicious(self) -> bool:
        """True when a finding is a malicious signature (e.g. a pickle importing os.system)."""
        return any(reason.malicious for reason in self.reasons)

    @property
    def kind(self) -> str | None:
        """The kind of upload the format is for: "model", "dataset", or None (a refused format)."""
        if self.format in MODEL_FORMATS:
            return "model"
        return "dataset" if self.format in DATASET_FORMATS else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "accepted": self.accepted,
            "format": self.format,
            "kind": self.kind,
            "malicious": self.malicious,
            "sha256": self.sha256,
            "size": self.size,
            "max_bytes": self.max_bytes,
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def file_sha256(path: Path) -> str:
    """The file's SHA-256, hex, read in HASH_CHUNK blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _scan_zip(path: Path, max_bytes: int) -> tuple[str, list[Finding]]:
    archive, problems = zips.open_zip(path)
    if archive is None:
        return "zip", problems
    with archive:
        fmt = classify_zip(archive.namelist())
        findings = zips.check_structure(archive, max_bytes=max_bytes)
        if any(f.code in ("zip_too_large", "zip_overlapping_members", "zip_unsupported_compression") for f in findings):
            return fmt, findings  # unpacking further would be the attack
        findings += zips.check_contents(archive)
        if any(f.code in ("zip_bad_crc", "zip_corrupt") for f in findings):
            return fmt, findings  # members cannot be read back reliably: nothing more to learn
        if fmt == "pytorch_zip":
            findings += torch_zip.check_pytorch_zip(archive)
        elif fmt == "npz":
            findings += npz.check_npz(archive)
        elif fmt == "image_folder":
            findings += image_folder.check_image_folder(archive)
        elif fmt == "hf_folder":
            findings += hf_folder.check_hf_folder(archive)
        else:
            findings.insert(0, finding(REFUSED[fmt]))
            if fmt == "zip" and mostly_images(archive.namelist()):
                # Mostly images, with strays: say which members keep it from being an image folder.
                findings += image_folder.check_image_folder(archive)
            else:
                findings += payloads.archive_payloads(archive, every_member=False)
        return fmt, findings


def _scan_pickle_like(path: Path, fmt: str, size: int) -> tuple[str, list[Finding]]:
    """Refuse a raw pickle, a legacy torch file or a bare .npy array, and look for a payload (the pickle,
    or the array's when it holds objects) to flag it as malicious."""
    data = path.read_bytes() if size <= MAX_SNIFFED_PICKLE_BYTES else b""
    malice = payloads.blob_payloads(data, path.name) if data else []
    if fmt == "unknown" and malice:
        fmt = "pickle"  # a protocol 0/1 pickle has no magic bytes; its imports gave it away
    return fmt, [finding(REFUSED[fmt]), *malice]


def _findings_for(path: Path, fmt: str, size: int, max_bytes: int) -> tuple[str, list[Finding]]:
    if fmt == "zip":
        return _scan_zip(path, max_bytes)
    if fmt == "safetensors":
        return fmt, safetensors_header.check_safetensors(path)
    if fmt == "onnx":
        return fmt, onnx_model.check_onnx(path)
    if fmt in ("pickle", "legacy_torch", "npy", "unknown"):
        return _scan_pickle_like(path, fmt, size)
    return fmt, [finding(REFUSED[fmt])]


def _kind_advice(expected: str) -> str:
    if expected == "model":
        return "Upload model weights here (safetensors, a state_dict .pt, or ONNX); datasets go under evaluation data."
    return (
        "Upload an .npz with arrays x and y, or a zip of image folders (one folder per class), here; "
        "models go under models."
    )


def scan_file(path: Path, *, max_bytes: int, expect: str | None = None) -> ScanReport:
    """Scan one file. `expect` is "model", "dataset" or None (either).

    Raises UserError when the file does not exist; every problem with its content is a
    finding in the report instead.
    """
    path = Path(path)
    if expect not in (None, *KINDS):
        raise ValueError(f"expect must be one of {KINDS} or None, not {expect!r}")
    if not path.is_file():
        raise UserError(f"No such file: {path}")
    size = path.stat().st_size
    fmt = sniff_head(read_head(path))
    if size == 0:
        findings = [finding("empty_file")]
    elif size > max_bytes:
        findings = [finding("too_large", size=size, limit=max_bytes)]
    else:
        fmt, findings = _findings_for(path, fmt, size, max_bytes)
    report = ScanReport(
        accepted=False, format=fmt, sha256=file_sha256(path), size=size, reasons=findings, max_bytes=max_bytes
    )
    if not findings and expect is not None and report.kind != expect:
        report.reasons.append(
            finding("wrong_kind", found=report.kind, format=fmt, expected=expect, advice=_kind_advice(expect))
        )
    report.accepted = not report.reasons and report.kind is not None
    return report
