"""The PNG writer and the labelled previews (no Pillow needed; Pillow cross-checks when present)."""
from __future__ import annotations

import struct
import sys
import zlib

import numpy as np
import pytest

from torchbragg.parity import pngwrite
from torchbragg.parity.previews import FOOTER_H, MARKER_RGB, render_previews


def _chunks(data: bytes):
    """(tag, body) of every chunk, checking length and CRC independently of pngwrite."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        length, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(tag + body) & 0xFFFFFFFF == crc
        out.append((tag, body))
        pos += 12 + length
    return out


@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3)])
def test_png_writer_structure(shape, tmp_path):
    px = (np.arange(np.prod(shape)) * 7 % 256).astype(np.uint8).reshape(shape)
    data = pngwrite.png_bytes(px, {"Comment": "scale 0 .. 1"})
    chunks = _chunks(data)
    tags = [t for t, _ in chunks]
    assert tags[0] == b"IHDR" and tags[-1] == b"IEND" and b"IDAT" in tags
    w, h, depth, colour, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (h, w, depth, colour) == (shape[0], shape[1], 8, 0 if len(shape) == 2 else 2)
    raw = zlib.decompress(b"".join(b for t, b in chunks if t == b"IDAT"))
    stride = 1 + w * (1 if len(shape) == 2 else 3)
    rows = [raw[i * stride:(i + 1) * stride] for i in range(h)]
    assert all(r[0] == 0 for r in rows)                                  # filter type 0
    assert b"".join(r[1:] for r in rows) == px.tobytes()
    assert (b"tEXt", b"Comment\0scale 0 .. 1") in chunks
    back, text = pngwrite.decode_png(data)
    assert np.array_equal(back, px) and text == {"Comment": "scale 0 .. 1"}
    assert pngwrite.png_bytes(px, {"Comment": "scale 0 .. 1"}) == data    # deterministic
    try:
        from PIL import Image
    except ImportError:
        return
    path = pngwrite.write_png(tmp_path / "x.png", px)
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), px)


def test_png_writer_rejects_bad_input():
    with pytest.raises(pngwrite.PNGError):
        pngwrite.png_bytes(np.zeros((2, 2), np.float32))
    with pytest.raises(pngwrite.PNGError):
        pngwrite.png_bytes(np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(pngwrite.PNGError):
        pngwrite.decode_png(b"not a png")


def _image():
    s, f = np.mgrid[0:32, 0:40]
    return (0.01 + 100 * np.exp(-((s - 8) ** 2 + (f - 30) ** 2) / 4.0)).astype(np.float32)


def test_previews_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)          # `import PIL` now fails
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    a = _image()
    res = render_previews(a, a * 1.5, tmp_path, ("c.png", "py.png", "diff.png"),
                          labels=("C", "PY"), markers=[(8, 30), (30, 8), (99, 99)])
    assert res.skipped is None and res.names == ["c.png", "py.png", "diff.png"]
    zoom = res.scale["zoom"]
    assert zoom == 256 // 40
    for name in res.names:
        px, text = pngwrite.decode_png((tmp_path / name).read_bytes())
        assert px.shape == (32 * zoom + FOOTER_H, 40 * zoom, 3)
        assert "1=(slow 8, fast 30)" in text["Markers"] and text["Software"]
        body = px[:32 * zoom]
        # the green box around traced pixel 1, centred on its (enlarged) pixel
        cy, cx = 8 * zoom + zoom // 2, 30 * zoom + zoom // 2
        r = max(4, zoom // 2 + 3)
        for y, x in ((cy - r, cx), (cy + r, cx), (cy, cx - r), (cy, cx + r)):
            assert tuple(body[y, x]) == MARKER_RGB
        assert tuple(body[cy, cx]) != MARKER_RGB        # the pixel itself stays visible
        assert (body == MARKER_RGB).all(axis=2).any()
    c, text = pngwrite.decode_png((tmp_path / "c.png").read_bytes())
    assert "log1p" in text["Comment"] and repr(res.scale["image"]["max"]) in text["Comment"]
    py, _ = pngwrite.decode_png((tmp_path / "py.png").read_bytes())
    peak = (8 * zoom + zoom // 2, 30 * zoom + zoom // 2)
    assert tuple(py[peak]) == (255, 255, 255) and 200 < c[peak][0] < 255    # shared scale
    d, text = pngwrite.decode_png((tmp_path / "diff.png").read_bytes())
    assert "max |diff|" in text["Comment"] and not res.scale["diff"]["all_zero"]
    # legend strip: the colour bar runs blue -> white -> red
    bar = d[32 * zoom + 8]
    assert tuple(bar[6]) == (0, 0, 255) and tuple(bar[-7]) == (255, 0, 0)


def test_all_zero_difference_is_labelled(tmp_path):
    a = _image()
    res = render_previews(a, a.copy(), tmp_path)
    assert res.scale["diff"]["all_zero"] and res.scale["diff"]["max"] == 0
    d, text = pngwrite.decode_png((tmp_path / "diff.png").read_bytes())
    assert "ALL ZERO" in text["Comment"]
    h = 32 * res.scale["zoom"]
    assert (d[:h] == 0).all(axis=2).any()             # "ALL ZERO" written in black
    (tmp_path / "z").mkdir()
    zero = render_previews(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32),
                           tmp_path / "z")
    assert zero.scale["image"]["all_zero"] == [True, True]
    _, text = pngwrite.decode_png((tmp_path / "z" / "ref.png").read_bytes())
    assert "ALL ZERO" in text["Comment"]


def test_previews_skipped_with_reason(tmp_path):
    a = _image()
    res = render_previews(a, a, tmp_path / "missing-folder")
    assert res.names == [] and "cannot write the previews" in res.skipped
    res = render_previews(a, a[:4], tmp_path)
    assert res.names == [] and "different shapes" in res.skipped


def test_previews_are_deterministic(tmp_path):
    a = _image()
    (tmp_path / "1").mkdir()
    (tmp_path / "2").mkdir()
    render_previews(a, a * 2, tmp_path / "1", markers=[(3, 4)])
    render_previews(a, a * 2, tmp_path / "2", markers=[(3, 4)])
    for name in ("ref.png", "test.png", "diff.png"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()
