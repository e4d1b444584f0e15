"""A tiny PNG reader (stdlib zlib only): 8-bit RGB or RGBA, non-interlaced, as chromium writes
its screenshots. `read_png(path)` -> Image with `pixel(x, y)` and `find(color)`."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Image:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        i = x * self.channels
        return tuple(self.rows[y][i:i + 3])  # type: ignore[return-value]

    def find(self, color: str) -> list[tuple[int, int]]:
        """Every (x, y) whose RGB is exactly `color` ('#rrggbb')."""
        want = bytes.fromhex(color.lstrip("#"))
        found = []
        step = self.channels
        for y, row in enumerate(self.rows):
            start = row.find(want)
            while start >= 0:
                if start % step == 0:
                    found.append((start // step, y))
                start = row.find(want, start + 1)
        return found


def read_png(path: Path) -> Image:
    data = Path(path).read_bytes()
    assert data[:8] == SIGNATURE, "not a PNG file"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and color_type in (2, 6) and interlace == 0, header
    channels = 3 if color_type == 2 else 4
    return Image(width, height, channels, _unfilter(zlib.decompress(bytes(idat)), width * channels,
                                                    height, channels))


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    rows, previous, pos = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                up_left = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c
