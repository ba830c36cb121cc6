"""The minimal PNG writer produces files a decoder reads back."""

from __future__ import annotations

import struct
import zlib

import numpy as np

from attacks.evasion.png import example_strip
from attacks.png import write_png


def _decode(data: bytes) -> tuple[int, int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    return header[0], header[1], header[3], zlib.decompress(idat)


def test_grey_and_rgb(tmp_path):
    grey = np.linspace(0, 1, 12).reshape(3, 4)
    width, height, colour, raw = _decode(write_png(tmp_path / "g.png", grey).read_bytes())
    assert (width, height, colour) == (4, 3, 0) and len(raw) == 3 * (1 + 4) and raw[-1] == 255
    width, height, colour, raw = _decode(write_png(tmp_path / "c.png", np.zeros((2, 5, 3))).read_bytes())
    assert (width, height, colour) == (5, 2, 2) and len(raw) == 2 * (1 + 15)


def test_example_strip_layout():
    x = np.zeros((1, 8, 8), np.float32)
    adv = x + 0.1
    strip = example_strip(x, adv, 0.0, 1.0)
    scale = strip.shape[0] // 8
    assert strip.shape == (8 * scale, (3 * 8 + 2) * scale)
    assert np.isclose(strip[0, -1], 1.0)  # the amplified perturbation uses the full range
