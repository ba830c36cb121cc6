"""Zip containers: a PyTorch checkpoint and a .npz dataset are both zip archives.

Checked before any member is interpreted: the declared member count and central directory
size (read from the end record, before zipfile parses a possibly huge directory), member
names, declared sizes, encryption, compression, overlapping members, then every member's
CRC and whether it is itself an archive.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

from attacks.scanners.findings import Finding, finding
from attacks.scanners.sniff import HDF5_MAGIC

MAX_MEMBERS = 65_536
MAX_CENTRAL_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_FINDINGS = 20
READ_CHUNK = 1024 * 1024

NESTED_SUFFIXES = (".zip", ".npz", ".pt", ".pth", ".jar", ".whl", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar")
NESTED_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", HDF5_MAGIC)
ALLOWED_COMPRESSION = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _declared_directory(path: Path) -> tuple[int, int] | None:
    """(member count, central directory bytes) from the end record, or None when there is none."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        tail_size = min(size, _EOCD.size + 0xFFFF)  # the record plus the longest possible comment
        stream.seek(size - tail_size)
        tail = stream.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _EOCD.size:
            return None
        _, _, _, _, count, directory_size, _, _ = _EOCD.unpack_from(tail, at)
        if count != 0xFFFF and directory_size != 0xFFFFFFFF:
            return count, directory_size
        # Zip64: the real numbers are in a record the locator just before the end record points at.
        locator_at = size - tail_size + at - _ZIP64_LOCATOR.size
        if locator_at < 0:
            return None
        stream.seek(locator_at)
        signature, _, record_at, _ = _ZIP64_LOCATOR.unpack(stream.read(_ZIP64_LOCATOR.size))
        if signature != b"PK\x06\x07" or record_at > size - _ZIP64_EOCD.size:
            return None
        stream.seek(record_at)
        record = _ZIP64_EOCD.unpack(stream.read(_ZIP64_EOCD.size))
        if record[0] != b"PK\x06\x06":
            return None
        return record[7], record[8]


def open_zip(path: Path) -> tuple[zipfile.ZipFile | None, list[Finding]]:
    """The archive opened for reading, or None and the reason it was not opened."""
    declared = _declared_directory(path)
    if declared is None:
        return None, [finding("zip_corrupt", detail="no end-of-archive record")]
    count, directory_size = declared
    if count > MAX_MEMBERS or directory_size > MAX_CENTRAL_DIRECTORY_BYTES:
        return None, [finding("zip_too_many_members", count=count, limit=MAX_MEMBERS)]
    try:
        archive = zipfile.ZipFile(path)
    except Exception as error:  # a damaged directory: BadZipFile, NotImplementedError, UnicodeDecodeError, ...
        return None, [finding("zip_corrupt", detail=str(error)[:200] or type(error).__name__)]
    if len(archive.infolist()) > MAX_MEMBERS:  # the end record lied about the count
        archive.close()
        return None, [finding("zip_too_many_members", count=len(archive.infolist()), limit=MAX_MEMBERS)]
    return archive, []


def list_members(path: Path) -> tuple[list[str], list[Finding]]:
    archive, problems = open_zip(path)
    if archive is None:
        return [], problems
    with archive:
        return archive.namelist(), []


def _unsafe_name(name: str) -> bool:
    normalised = name.replace("\\", "/")
    return (
        normalised.startswith("/") or "\x00" in name or bool(_DRIVE.match(normalised)) or ".." in normalised.split("/")
    )


def check_structure(archive: zipfile.ZipFile, *, max_bytes: int) -> list[Finding]:
    """Names, declared sizes, flags and layout: everything the central directory tells without unpacking."""
    findings: list[Finding] = []
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = info.orig_filename
        folded = name.casefold()
        if _unsafe_name(name):
            findings.append(finding("zip_unsafe_path", member=name))
        if folded in seen:
            findings.append(finding("zip_duplicate_member", member=name))
        seen.add(folded)
        if folded.endswith(NESTED_SUFFIXES):
            findings.append(finding("zip_nested_archive", member=name))
        if info.flag_bits & 0x1:
            findings.append(finding("zip_encrypted", member=name))
        if info.compress_type not in ALLOWED_COMPRESSION:
            findings.append(finding("zip_unsupported_compression", member=name))
        total += info.file_size
    if total > max_bytes:
        findings.append(finding("zip_too_large", size=total, limit=max_bytes))
    if not findings:
        findings.extend(_check_layout(archive))
    return findings[:MAX_FINDINGS]


def _check_layout(archive: zipfile.ZipFile) -> list[Finding]:
    """Members must not share bytes: overlapping members make a small file unpack to a huge one."""
    path = Path(str(archive.filename))
    size = path.stat().st_size
    end_of_previous = 0
    with path.open("rb") as stream:
        for info in sorted(archive.infolist(), key=lambda item: item.header_offset):
            if info.header_offset < end_of_previous:
                return [finding("zip_overlapping_members")]
            stream.seek(info.header_offset)
            header = stream.read(_LOCAL_HEADER.size)
            if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
                return [finding("zip_corrupt", detail=f"no local header for {info.orig_filename!r}")]
            fields = _LOCAL_HEADER.unpack(header)
            name_length, extra_length = fields[9], fields[10]
            end_of_previous = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
            if end_of_previous > size:
                return [finding("zip_corrupt", detail=f"{info.orig_filename!r} runs past the end of the file")]
    return []


def check_contents(archive: zipfile.ZipFile) -> list[Finding]:
    """Unpack every member once (bounded by the declared sizes already checked): CRC and nested archives."""
    findings: list[Finding] = []
    for info in archive.infolist():
        name = info.orig_filename
        try:
            with archive.open(info) as member:
                first = member.read(READ_CHUNK)
                if first.startswith(NESTED_MAGICS):
                    findings.append(finding("zip_nested_archive", member=name))
                while member.read(READ_CHUNK):
                    pass
        except zipfile.BadZipFile as error:
            if "CRC" in str(error):
                findings.append(finding("zip_bad_crc", member=name))
            else:
                findings.append(finding("zip_corrupt", detail=str(error)))
        except Exception as error:  # zlib.error, EOFError, UnicodeDecodeError (a mangled local name), ...
            findings.append(finding("zip_corrupt", detail=f"{name!r}: {str(error)[:200]}"))
        if len(findings) >= MAX_FINDINGS:
            break
    return findings


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with archive.open(info) as member:
        return member.read()


def vet_zip(path: Path, *, max_bytes: int) -> list[Finding]:
    """Every container problem of the zip at `path` (structure, then CRC and nesting); [] when sound."""
    archive, problems = open_zip(path)
    if archive is None:
        return problems
    with archive:
        return check_structure(archive, max_bytes=max_bytes) or check_contents(archive)
