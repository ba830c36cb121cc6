"""A minimal PNG writer (zlib + struct): 8-bit grey or RGB. matplotlib and Pillow are not engine dependencies."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of `image`: H×W (grey) or H×W×3 (RGB), float in [0, 1] (NaN as 0) or uint8."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(np.nan_to_num(array), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        colour_type = 0
    elif array.ndim == 3 and array.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"expected H×W or H×W×3, got shape {array.shape}")
    height, width = array.shape[:2]
    rows = array.reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    )


def write_png(path: Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.write_bytes(png_bytes(image))
    return path


def chw_to_image(chw: np.ndarray, scale: int = 1) -> np.ndarray:
    """A C×H×W array (C = 1 or 3) as H×W / H×W×3, enlarged `scale` times (nearest neighbour) so 8×8 is visible."""
    array = np.asarray(chw, dtype=np.float32)
    image = array[0] if array.shape[0] == 1 else np.transpose(array[:3], (1, 2, 0))
    if scale > 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return image
