"""Looking for a pickle payload wherever a file can hide one, so that a malicious file is reported as such.

The format checks refuse a file that holds anything unexpected, but only a payload they find makes the
report *malicious* (a security finding and evidence for the risk register, not just an unsupported
file). A payload can sit where those checks do not look: in a member with an unexpected name, in an
object-dtype .npy array (a pickle after its header), or in a zip stored inside the zip, levels deep.
This module looks in all of those. Nothing is unpickled or imported: pickles are read from their
opcodes (attacks.scanners.pickles); nested zips are opened in memory, a few levels deep, and every
read counts against one byte budget for the whole search, so a zip of zips cannot make it read more.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import IO

import numpy as np

from attacks.scanners.findings import Finding
from attacks.scanners.pickles import dangerous_globals
from attacks.scanners.sniff import NPY_MAGIC, PICKLE_PROTOCOLS, ZIP_MAGICS

MAX_DEPTH = 4  # zips inside the upload searched in turn (nested archives are refused whatever they hold)
MAX_NESTED_MEMBERS = 4096
MAX_BLOB_BYTES = 256 * 1024 * 1024  # one member read into memory to be searched
MAX_SEARCH_BYTES = 512 * 1024 * 1024  # every member read by one search, nested zips included
MAX_LISTED = 10  # findings worth showing; the verdict does not change after the first
HEAD_BYTES = 8
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dat", ".data")


@dataclass
class Budget:
    """Bytes one search may still read into memory."""

    left: int = MAX_SEARCH_BYTES

    def take(self, size: int) -> bool:
        if size > MAX_BLOB_BYTES or size > self.left:
            return False
        self.left -= size
        return True


def _npy_pickle(stream: IO[bytes], budget: Budget, size: int) -> bytes | None:
    """The pickle after an .npy header when the array holds objects; None for a plain or unreadable array.

    Only the header is read for a plain array, however large it is."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            _, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception:  # a damaged header is the format checks' to report; there is no array to look into
        return None
    if not dtype.hasobject or not budget.take(size):
        return None
    return stream.read(size)


def blob_payloads(data: bytes, name: str, *, depth: int = 0, budget: Budget | None = None) -> list[Finding]:
    """The payloads in one blob named `name` (a file's bytes, or a member's): a zip is searched member by
    member, an .npy array of objects has its pickle checked, anything else is checked as a pickle (protocol
    0 and 1 pickles have no magic bytes)."""
    budget = budget if budget is not None else Budget()
    if data.startswith(ZIP_MAGICS):
        if depth >= MAX_DEPTH:
            return []
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return archive_payloads(archive, prefix=f"{name}/", depth=depth + 1, budget=budget)
        except Exception:  # a damaged nested zip: refused as a nested archive; nothing more to read in it
            return []
    if data.startswith(NPY_MAGIC):
        pickled = _npy_pickle(io.BytesIO(data), budget, len(data))
        return dangerous_globals(pickled, name) if pickled else []
    return dangerous_globals(data, name)


def _member_payloads(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, *, every_member: bool, depth: int, budget: Budget
) -> list[Finding]:
    with archive.open(info) as member:
        head = member.read(HEAD_BYTES)
    if head.startswith(NPY_MAGIC):
        with archive.open(info) as member:
            pickled = _npy_pickle(member, budget, info.file_size)
        return dangerous_globals(pickled, name) if pickled else []
    announced = head.startswith((*ZIP_MAGICS, *PICKLE_PROTOCOLS)) or name.casefold().endswith(PICKLE_SUFFIXES)
    if not (every_member or announced) or not budget.take(info.file_size):
        return []
    with archive.open(info) as member:
        data = member.read(info.file_size)
    return blob_payloads(data, name, depth=depth, budget=budget)


def archive_payloads(
    archive: zipfile.ZipFile,
    *,
    skip: frozenset[str] = frozenset(),
    every_member: bool = True,
    prefix: str = "",
    depth: int = 0,
    budget: Budget | None = None,
) -> list[Finding]:
    """The payloads in the members of `archive`, but those named in `skip` (checked already).

    With `every_member` False, a member that neither announces a pickle (by its first bytes or its name)
    nor is an array or a zip is not read (a checkpoint's tensor data); inside a nested zip every member
    is read, since nothing there is expected. A finding's member is its path through the zips, e.g.
    `archive/extras.zip/payload.pkl`."""
    budget = budget if budget is not None else Budget()
    infos = archive.infolist()
    if depth > 0 and len(infos) > MAX_NESTED_MEMBERS:
        return []
    findings: list[Finding] = []
    for info in infos:
        if info.filename in skip or info.is_dir():
            continue
        name, every = prefix + info.filename, every_member or depth > 0
        try:
            found = _member_payloads(archive, info, name, every_member=every, depth=depth, budget=budget)
        except Exception:  # an unreadable member (CRC, encryption, damage) is the format checks' to report
            found = []
        findings += found
        if len(findings) >= MAX_LISTED:
            break
    return findings[:MAX_LISTED]
