"""Pickles inside files: vetted from their opcodes (picklescan plus our own allowlist), never unpickled.

A state_dict checkpoint's `data.pkl` only needs to rebuild tensors into an OrderedDict, so
every global it imports must be on ALLOWED_GLOBALS. picklescan's strict mode flags every
global outside its own short safe list; the ones it flags that are on our allowlist (the
Parameter and newer-dtype rebuild helpers that torch's weights-only loader also allows) are
accepted, every other flagged or unknown global rejects the file.
"""

from __future__ import annotations

import io
import pickletools

from picklescan.scanner import Global, SafetyLevel, scan_pickle_bytes

from attacks.scanners.findings import Finding, finding

_STORAGES = [
    *("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"),
    *("ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"),
]
# torch.save names a dtype directly (via _rebuild_tensor_v3) for dtypes without a legacy storage class.
_DTYPES = [
    *("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "uint16"),
    *("uint32", "uint64", "bool", "complex64", "complex128", "float8_e4m3fn", "float8_e5m2"),
    *("float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"),
]

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor_v3"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch.storage", "UntypedStorage"),
        ("torch", "UntypedStorage"),
        *(("torch", f"{kind}Storage") for kind in _STORAGES),
        *(("torch", dtype) for dtype in _DTYPES),
    }
)
# A pickled nn.Module names its classes; these prefixes tell "a whole model" from "some other object".
_MODULE_CLASS_PREFIXES = ("torch.nn.", "__torch__", "torch.jit")
MAX_LISTED = 5


def _names(globals_: list[tuple[str, str]]) -> str:
    listed = ", ".join(f"{module}.{name}" for module, name in globals_[:MAX_LISTED])
    more = len(globals_) - MAX_LISTED
    return listed + (f" and {more} more" if more > 0 else "")


def _parses_completely(data: bytes) -> bool:
    """True when the bytes are exactly one well-formed pickle, as torch's data.pkl always is."""
    stream = io.BytesIO(data)
    try:
        for _ in pickletools.genops(stream):
            pass
    except Exception:  # any malformation: genops raises ValueError, KeyError, EOFError, ...
        return False
    return stream.tell() == len(data)


def _pairs(globals_: list[Global], level: SafetyLevel | None = None) -> list[tuple[str, str]]:
    return sorted({(g.module, g.name) for g in globals_ if level is None or g.safety == level})


def dangerous_globals(data: bytes, member: str) -> list[Finding]:
    """The malicious-signature check alone: globals picklescan knows run code (os.system, eval, ...)."""
    try:
        lenient = scan_pickle_bytes(io.BytesIO(data), member, strict=False)
    except Exception:  # picklescan gave up; the strict check reports it as a scan error where it matters
        return []
    dangerous = _pairs(lenient.globals, SafetyLevel.Dangerous)
    return [finding("pickle_dangerous_global", member=member, globals=_names(dangerous))] if dangerous else []


def check_state_dict_pickle(data: bytes, member: str) -> list[Finding]:
    """Every reason the pickle of a state_dict checkpoint is not just tensors in an OrderedDict."""
    dangerous = dangerous_globals(data, member)
    findings = list(dangerous)
    try:
        strict = scan_pickle_bytes(io.BytesIO(data), member, strict=True)
    except Exception as error:
        return [*findings, finding("pickle_scan_error", member=member, detail=f"picklescan failed: {error!r}")]
    if strict.scanned_files == 0:
        findings.append(finding("pickle_not_scanned"))
    if strict.scan_err or not _parses_completely(data):
        findings.append(finding("pickle_scan_error", member=member, detail="malformed or truncated pickle stream"))
    if dangerous:
        return findings  # the dangerous global is the story; listing the other globals adds nothing
    offending = [pair for pair in _pairs(strict.globals) if pair not in ALLOWED_GLOBALS]
    if offending:
        if any(module.startswith(_MODULE_CLASS_PREFIXES) for module, _ in offending):
            classes = [pair for pair in offending if pair[1][:1].isupper()] or offending
            findings.append(finding("pickle_whole_module", member=member, globals=_names(classes)))
        else:
            findings.append(finding("pickle_unexpected_global", member=member, globals=_names(offending)))
    return findings
