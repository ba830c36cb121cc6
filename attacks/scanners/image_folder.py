"""Image-folder datasets: a zip with one sub-folder per class, images directly inside.

    cats/001.jpg  cats/002.png  dogs/x.webp          (or all of it under one top folder:
    mydata/cats/001.jpg  mydata/dogs/x.webp)

The layout is read from the member names; each image's first bytes must be the magic of a
JPEG, PNG or WebP (whatever its suffix says: a PNG named .jpg is fine, a pickle named .jpg is
not, and is checked for a payload so that it is reported as malicious). Directory entries,
`__MACOSX/`, `.DS_Store`, `Thumbs.db`, `desktop.ini` and any other hidden file or folder (a name
starting with '.') are ignored (see `attacks.scanners.sniff.ignored_member`); an ignored
member that looks like a pickle is still checked for a payload. Nothing is decoded here: the
sandboxed decoder (`attacks.imagefolder`) enforces the pixel and byte limits.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field

from attacks.scanners.findings import Finding, finding
from attacks.scanners.payloads import blob_payloads
from attacks.scanners.sniff import JUNK_FOLDERS, PICKLE_PROTOCOLS, ignored_member, is_image_name
from attacks.scanners.zips import read_member

MAX_IMAGES = 100_000
MAX_LISTED = 10  # findings of one kind worth showing; the verdict does not change after the first
MAX_PAYLOAD_BYTES = 256 * 1024 * 1024  # larger members are refused anyway; reading them to name a payload is not
MAGIC_BYTES = 12
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def image_magic(head: bytes) -> str | None:
    """The format, "JPEG", "PNG" or "WEBP" (Pillow's format names) when `head` opens like one, else None."""
    if head.startswith(JPEG_MAGIC):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


@dataclass
class Layout:
    """The classes of an image folder: folder name -> its image members (full zip names, sorted)."""

    top: str | None = None
    classes: dict[str, list[str]] = field(default_factory=dict)
    not_images: list[str] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)
    too_deep: list[str] = field(default_factory=list)

    @property
    def image_count(self) -> int:
        return sum(len(members) for members in self.classes.values())

    @property
    def empty_classes(self) -> list[str]:
        return sorted(name for name, members in self.classes.items() if not members)


def _parts(name: str) -> list[str]:
    return [part for part in name.replace("\\", "/").split("/") if part]


def _junk_folder(parts: list[str]) -> bool:
    return any(part.casefold() in JUNK_FOLDERS or part.startswith(".") for part in parts)


def read_layout(names: list[str]) -> Layout:
    """Classes, and the members that break the layout. Shared by the scan and the decoder."""
    files = [(name, _parts(name)) for name in names if not ignored_member(name)]
    folders = [_parts(name) for name in names if name.endswith("/") and not _junk_folder(_parts(name))]
    layout = Layout()
    firsts = {parts[0] for _, parts in files}
    if files and len(firsts) == 1 and all(len(parts) >= 3 for _, parts in files):
        layout.top = firsts.pop()  # everything under one folder, e.g. mydata/cats/001.jpg
    strip = 1 if layout.top is not None else 0
    for parts in folders:
        if layout.top is not None and parts[0] != layout.top:
            continue  # an empty folder beside the top one holds nothing to read
        relative = parts[strip:]
        if len(relative) == 1:
            layout.classes.setdefault(relative[0], [])
    for name, parts in files:
        relative = parts[strip:]
        if not is_image_name(name):
            layout.not_images.append(name)
        elif len(relative) == 1:
            layout.loose.append(name)
        elif len(relative) > 2:
            layout.too_deep.append(name)
        else:
            layout.classes.setdefault(relative[0], []).append(name)
    for members in layout.classes.values():
        members.sort()
    return layout


def _payload(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[Finding]:
    """A payload in a member that is not an image: a pickle, or one inside an array or a nested zip."""
    if info.file_size > MAX_PAYLOAD_BYTES:
        return []
    return blob_payloads(read_member(archive, info), info.filename)


def _check_bytes(archive: zipfile.ZipFile) -> list[Finding]:
    """Each image's magic bytes; a payload in anything that is not an image."""
    bad_magic: list[Finding] = []
    malicious: list[Finding] = []
    for info in archive.infolist():
        name = info.filename
        if name.endswith("/") or len(bad_magic) >= MAX_LISTED:
            continue
        with archive.open(info) as member:
            head = member.read(MAGIC_BYTES)
        if ignored_member(name):
            if head.startswith(PICKLE_PROTOCOLS):
                malicious += _payload(archive, info)
            continue
        if is_image_name(name) and image_magic(head) is None:
            bad_magic.append(finding("image_folder_bad_magic", member=name))
            malicious += _payload(archive, info)  # protocol 0/1 pickles have no magic, so check every one
        elif not is_image_name(name):
            malicious += _payload(archive, info)
    return bad_magic + malicious[:MAX_LISTED]


def check_image_folder(archive: zipfile.ZipFile, *, max_images: int = MAX_IMAGES) -> list[Finding]:
    """Every reason the zip is not a usable image folder; [] when it is one."""
    layout = read_layout(archive.namelist())
    findings = [finding("image_folder_not_image", member=name) for name in layout.not_images[:MAX_LISTED]]
    findings += [finding("image_folder_loose_file", member=name) for name in layout.loose[:MAX_LISTED]]
    findings += [finding("image_folder_too_deep", member=name) for name in layout.too_deep[:MAX_LISTED]]
    findings += [finding("image_folder_empty_class", member=name) for name in layout.empty_classes[:MAX_LISTED]]
    if len(layout.classes) < 2:
        findings.append(finding("image_folder_too_few_classes", count=len(layout.classes)))
    if layout.image_count > max_images:
        findings.append(finding("image_folder_too_many_images", count=layout.image_count, limit=max_images))
    return findings + _check_bytes(archive)
