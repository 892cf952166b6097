"""A small deterministic PNG writer (zlib + struct, no third-party dependency).

8-bit greyscale (``H x W`` uint8) and 8-bit RGB (``H x W x 3`` uint8) images, optional
``tEXt`` chunks (Latin-1), no time stamp: the same pixels and text always give the same bytes.
``decode_png`` reads back what ``png_bytes`` writes (filter type 0, no interlace) — enough for
the tests and for checking a bundle without Pillow.  A 3x5 bitmap font (``draw_text``) labels
the previews.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: 1, 2: 3}          # PNG colour type -> channels


class PNGError(ValueError):
    """Not a PNG this module can read, or pixels it cannot write."""


def _chunk(tag: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def png_bytes(pixels: np.ndarray, text: dict[str, str] | None = None, level: int = 6) -> bytes:
    """The PNG file for ``pixels`` (uint8, ``HxW`` grey or ``HxWx3`` RGB)."""
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise PNGError(f"pixels must be uint8, not {a.dtype}")
    if a.ndim == 2:
        colour = 0
    elif a.ndim == 3 and a.shape[2] == 3:
        colour = 2
    else:
        raise PNGError(f"pixels must be HxW or HxWx3, not {a.shape}")
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise PNGError("empty image")
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()  # filter 0
    out = [SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))]
    for key, value in (text or {}).items():
        k = key.encode("latin-1")[:79]
        out.append(_chunk(b"tEXt", k + b"\0" + str(value).encode("latin-1", "replace")))
    out.append(_chunk(b"IDAT", zlib.compress(raw, level)))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


def write_png(path, pixels: np.ndarray, text: dict[str, str] | None = None) -> Path:
    path = Path(path)
    path.write_bytes(png_bytes(pixels, text))
    return path


def decode_png(data: bytes) -> tuple[np.ndarray, dict[str, str]]:
    """(pixels, tEXt chunks) of a PNG written by :func:`png_bytes`; checks every CRC."""
    if not data.startswith(SIGNATURE):
        raise PNGError("not a PNG file (bad signature)")
    pos, header, idat, text = len(SIGNATURE), None, [], {}
    while pos < len(data):
        if pos + 8 > len(data):
            raise PNGError("truncated chunk header")
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if len(body) != length or zlib.crc32(tag + body) & 0xFFFFFFFF != crc:
            raise PNGError(f"bad {tag!r} chunk (length or CRC)")
        pos += 12 + length
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        elif tag == b"IEND":
            break
    if header is None:
        raise PNGError("no IHDR chunk")
    w, h, depth, colour, _comp, _filt, interlace = header
    if depth != 8 or colour not in _COLOUR_TYPES or interlace:
        raise PNGError(f"unsupported PNG (depth {depth}, colour type {colour})")
    ch = _COLOUR_TYPES[colour]
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    if raw.size != h * (1 + w * ch):
        raise PNGError("image data has the wrong size")
    rows = raw.reshape(h, 1 + w * ch)
    if rows[:, 0].any():
        raise PNGError("only filter type 0 is supported")
    px = rows[:, 1:].reshape((h, w) if ch == 1 else (h, w, ch))
    return px.copy(), text


# --------------------------------------------------------------------------- 3x5 font
_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"), "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"), "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"), "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"), "7": ("###", "..#", "..#", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"), "9": ("###", "#.#", "###", "..#", "###"),
    ".": ("...", "...", "...", "...", ".#."), "-": ("...", "...", "###", "...", "..."),
    "+": ("...", ".#.", "###", ".#.", "..."), ":": ("...", ".#.", "...", ".#.", "..."),
    "=": ("...", "###", "...", "###", "..."), "/": ("..#", "..#", ".#.", "#..", "#.."),
    "(": (".#.", "#..", "#..", "#..", ".#."), ")": (".#.", "..#", "..#", "..#", ".#."),
    ",": ("...", "...", "...", ".#.", "#.."), " ": ("...", "...", "...", "...", "..."),
    "A": (".#.", "#.#", "###", "#.#", "#.#"), "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": ("###", "#..", "#..", "#..", "###"), "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"), "F": ("###", "#..", "##.", "#..", "#.."),
    "G": ("###", "#..", "#.#", "#.#", "###"), "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"), "J": ("..#", "..#", "..#", "#.#", "###"),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"), "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#.#", "###", "###", "#.#", "#.#"), "N": ("##.", "#.#", "#.#", "#.#", "#.#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."), "P": ("###", "#.#", "###", "#..", "#.."),
    "Q": ("###", "#.#", "#.#", "###", "..#"), "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."), "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"), "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#.#", "#.#", "###", "###", "#.#"), "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."), "Z": ("###", "..#", ".#.", "#..", "###"),
}
_MASKS = {c: np.array([[ch == "#" for ch in row] for row in rows]) for c, rows in
          _GLYPHS.items()}
GLYPH_W, GLYPH_H = 3, 5


def text_width(text: str, scale: int = 2) -> int:
    return max(0, len(text) * (GLYPH_W + 1) * scale - scale)


def draw_text(canvas: np.ndarray, text: str, top: int, left: int, colour, scale: int = 2
              ) -> None:
    """Draw ``text`` (upper-cased; characters without a glyph are left blank) into ``canvas``."""
    h, w = canvas.shape[:2]
    x = left
    for char in text.upper():
        mask = _MASKS.get(char, _MASKS[" "])
        big = np.kron(mask, np.ones((scale, scale), bool))
        ys, xs = np.nonzero(big)
        ys, xs = ys + top, xs + x
        keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        canvas[ys[keep], xs[keep]] = colour
        x += (GLYPH_W + 1) * scale
