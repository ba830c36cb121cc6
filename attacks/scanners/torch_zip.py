"""PyTorch zip checkpoints (torch.save since 1.6): the member layout and the pickle inside.

A `torch.save(model.state_dict(), ...)` archive holds one folder with `data.pkl` (the
OrderedDict of tensors), `data/<n>` (raw storage bytes) and a few small version records.
Anything else was added by something other than torch.save of a state_dict.
"""

from __future__ import annotations

import re
import zipfile

from attacks.scanners.findings import Finding, finding
from attacks.scanners.payloads import archive_payloads
from attacks.scanners.pickles import check_state_dict_pickle
from attacks.scanners.sniff import TORCH_DATA_PICKLE
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
MAX_PICKLE_BYTES = 256 * 1024 * 1024  # a state_dict's data.pkl is kilobytes; tensors live in data/<n>
MAX_LISTED = 10  # findings of one kind worth showing; the verdict does not change after the first


def _read_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    return None if info.file_size > MAX_PICKLE_BYTES else read_member(archive, info)


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
    # Unexpected members are refused already; still look for a payload in them (and in zips among them),
    # to flag the file as malicious. The tensor data is not read: it announces no pickle.
    checked = frozenset(info.filename for info in data_pickles)
    findings.extend(archive_payloads(archive, skip=checked, every_member=False))
    return findings
