"""A minimal PNG writer (zlib only): matplotlib/Pillow are not dependencies of the engine."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an H×W (grey) or H×W×3 (RGB) array of values in [0, 1] as an 8-bit PNG."""
    pixels = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"write_png takes H×W or H×W×3 arrays, not {pixels.shape}")
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 (none) on every row
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    )
    path = Path(path)
    path.write_bytes(data)
    return path


def _to_display(sample: np.ndarray) -> np.ndarray:
    """C×H×W → H×W (grey) or H×W×3; other shapes (flat vectors) become a single row."""
    if sample.ndim == 3 and sample.shape[0] in (1, 3):
        return sample[0] if sample.shape[0] == 1 else np.transpose(sample, (1, 2, 0))
    if sample.ndim == 2:
        return sample
    return sample.reshape(1, -1)


def example_strip(original: np.ndarray, adversarial: np.ndarray, low: float, high: float) -> np.ndarray:
    """original | adversarial | perturbation amplified to the full range (grey = no change), upscaled for viewing."""
    span = (high - low) or 1.0
    clean = (_to_display(original) - low) / span
    adv = (_to_display(adversarial) - low) / span
    delta = adv - clean
    amplified = 0.5 + delta / (2 * max(float(np.abs(delta).max()), 1e-12))
    gap = np.ones((clean.shape[0], 1, *clean.shape[2:]), dtype=np.float64)
    strip = np.concatenate([clean, gap, adv, gap, amplified], axis=1)
    scale = max(1, 96 // max(strip.shape[0], 1))  # small inputs (8×8 digits) are unreadable at 1:1
    return np.repeat(np.repeat(strip, scale, axis=0), scale, axis=1)
