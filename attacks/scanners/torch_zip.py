"""PyTorch zip checkpoints (torch.save since 1.6): the member layout and the pickle inside.

A `torch.save(model.state_dict(), ...)` archive holds one folder with `data.pkl` (the
OrderedDict of tensors), `data/<n>` (raw storage bytes) and a few small version records.
Anything else was added by something other than torch.save of a state_dict.
"""

from __future__ import annotations

import re
import zipfile

from attacks.scanners.findings import Finding, finding
from attacks.scanners.pickles import check_state_dict_pickle, dangerous_globals
from attacks.scanners.sniff import PICKLE_PROTOCOLS, TORCH_DATA_PICKLE
from attacks.scanners.zips import read_member

RECORDS = frozenset(
    {
        "data.pkl",
        "version",
        ".format_version",
        ".storage_alignment",
        "byteorder",
        ".data/version",
        ".data/serialization_id",
    }
)
_STORAGE_RECORD = re.compile(r"^data/\d+$")
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dat", ".data")
MAX_PICKLE_BYTES = 256 * 1024 * 1024  # a state_dict's data.pkl is kilobytes; tensors live in data/<n>
MAX_LISTED = 10  # findings of one kind worth showing; the verdict does not change after the first


def _looks_like_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    if info.filename.casefold().endswith(_PICKLE_SUFFIXES):
        return True
    with archive.open(info) as member:
        return member.read(2) in PICKLE_PROTOCOLS


def _read_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    return None if info.file_size > MAX_PICKLE_BYTES else read_member(archive, info)


def malicious_members(archive: zipfile.ZipFile, *, skip: frozenset[str] = frozenset()) -> list[Finding]:
    """The malicious-signature check on every member that is or looks like a pickle."""
    findings: list[Finding] = []
    for info in archive.infolist():
        if info.filename in skip or not _looks_like_pickle(archive, info):
            continue
        data = _read_pickle(archive, info)
        if data is not None:
            findings.extend(dangerous_globals(data, info.filename))
            if len(findings) >= MAX_LISTED:
                break
    return findings


def check_pytorch_zip(archive: zipfile.ZipFile) -> list[Finding]:
    infos = archive.infolist()
    # torch.save puts every record in one folder, the one holding data.pkl (sniffing found it).
    prefix = next(info.filename for info in infos if TORCH_DATA_PICKLE.match(info.filename)).split("/", 1)[0]
    findings: list[Finding] = []
    data_pickles: list[zipfile.ZipInfo] = []
    unexpected = 0
    for info in infos:
        folder, _, record = info.filename.partition("/")
        if folder == prefix and record == "data.pkl":
            data_pickles.append(info)
        elif folder != prefix or not (record in RECORDS or _STORAGE_RECORD.match(record)):
            unexpected += 1
            if unexpected <= MAX_LISTED:
                findings.append(finding("torch_unexpected_member", member=info.filename))
    scanned = 0
    for info in data_pickles[:MAX_LISTED]:
        data = _read_pickle(archive, info)
        if data is None:
            findings.append(finding("pickle_scan_error", member=info.filename, detail="the pickle is too large"))
            continue
        findings.extend(check_state_dict_pickle(data, info.filename))
        scanned += 1
    if scanned == 0:
        findings.append(finding("pickle_not_scanned"))
    # Unexpected members are refused already; still look for a payload in them, to flag the file as malicious.
    findings.extend(malicious_members(archive, skip=frozenset(info.filename for info in data_pickles)))
    return findings
