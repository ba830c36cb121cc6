"""Uploaded file names are labels, never paths: cleaned for display, never used to store anything."""

import os
import unicodedata

MAX_NAME = 200


def clean_file_name(name: str) -> str:
    """The base name without path parts, control characters or NULs, at most 200 characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".") or "upload"
    if len(name) > MAX_NAME:
        stem, ext = os.path.splitext(name)
        name = stem[: MAX_NAME - len(ext[:20])] + ext[:20]
    return name
