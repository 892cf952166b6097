"""PNG previews: log-scaled images on a common scale and a signed difference map.

Written by our own PNG writer (:mod:`torchbragg.parity.pngwrite`; no Pillow needed, the same
images always give the same bytes).  Each preview carries its scale: a colour bar with the
values at its ends (and middle) drawn below the image, the same numbers in a PNG ``tEXt``
chunk, "ALL ZERO" written over a map that is zero everywhere, and a numbered green box
around every traced pixel.
"""
from __future__ import annotations

import contextlib

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from torchbragg.parity.pngwrite import draw_text, text_width, write_png
#: Larger images are reduced by block pooling so that no side exceeds this many pixels.
MAX_SIDE = 1024
#: Smaller images are enlarged by an integer factor (nearest neighbour) to about this size.
MIN_SIDE = 256


def _pool(img: np.ndarray, reduce) -> np.ndarray:
    """Reduce by an integer factor with ``reduce`` over each block (keeps peaks visible)."""
    factor = -(-max(img.shape) // MAX_SIDE)
    if factor <= 1:
        return img
    s, f = img.shape
    ps, pf = -(-s // factor) * factor, -(-f // factor) * factor
    padded = np.zeros((ps, pf), dtype=img.dtype)
    padded[:s, :f] = img
    blocks = padded.reshape(ps // factor, factor, pf // factor, factor)
    return reduce(blocks)


def _max_pool(img):
    return _pool(img, lambda b: b.max(axis=(1, 3)))


def _signed_pool(img):
    def pick(b):
        flat = b.transpose(0, 2, 1, 3).reshape(b.shape[0], b.shape[2], -1)
        idx = np.abs(flat).argmax(axis=2)
        return np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    return _pool(img, pick)


def log_floor(img: np.ndarray, vmax: float) -> float:
    """The log scale's knee: the median positive pixel (at least vmax * 1e-7)."""
    pos = img[np.isfinite(img) & (img > 0)]
    median = float(np.median(pos)) if pos.size else 0.0
    return max(median, vmax * 1e-7)


def log_gray(img: np.ndarray, vmax: float, floor: float) -> np.ndarray:
    """uint8 image of log1p(v / floor) scaled so that ``vmax`` is white (negatives black)."""
    v = np.nan_to_num(np.clip(img.astype(np.float64), 0, None), nan=0.0, posinf=vmax)
    if vmax <= 0 or floor <= 0:
        return np.zeros(v.shape, dtype=np.uint8)
    scaled = np.log1p(v / floor) / np.log1p(vmax / floor)
    return (np.clip(scaled, 0, 1) * 255 + 0.5).astype(np.uint8)


def diff_rgb(diff: np.ndarray) -> np.ndarray:
    """Blue (test < ref) – white – red (test > ref), linear in diff / max|diff|."""
    d = np.nan_to_num(diff.astype(np.float64))
    m = float(np.abs(d).max()) if d.size else 0.0
    x = d / m if m > 0 else np.zeros_like(d)
    rgb = np.empty(d.shape + (3,), dtype=np.float64)
    pos, neg = np.clip(x, 0, 1), np.clip(-x, 0, 1)
    rgb[..., 0] = 1 - neg
    rgb[..., 1] = 1 - np.maximum(pos, neg)
    rgb[..., 2] = 1 - pos
    return (rgb * 255 + 0.5).astype(np.uint8)


DEFAULT_NAMES = ("ref.png", "test.png", "diff.png")
#: Traced-pixel boxes: pure green, a colour neither the grey scale nor the diff map uses.
MARKER_RGB = (0, 255, 0)
#: The legend strip below each image is at least this wide (narrow images are padded).
FOOTER_MIN_W = 240
FOOTER_H = 48
_PAD = 6
_BAR_H = 10


@dataclass
class Previews:
    """What :func:`render_previews` wrote: file names (empty when skipped), why it skipped,
    and the scales (also in each PNG's ``tEXt`` chunks)."""

    names: list[str]
    skipped: str | None = None
    scale: dict = field(default_factory=dict)


def fmt_value(v: float) -> str:
    """Short legend number: ``0``, ``12.5``, ``1.23E+05``."""
    if v == 0:
        return "0"
    return f"{v:.3g}".upper()


def _zoom(a: np.ndarray, zoom: int) -> np.ndarray:
    return a if zoom <= 1 else np.repeat(np.repeat(a, zoom, axis=0), zoom, axis=1)


def _rgb(a: np.ndarray) -> np.ndarray:
    return a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=2)


def _fit_scale(text: str, width: int) -> int:
    return 2 if text_width(text, 2) <= width else 1


def _compose(body: np.ndarray, bar: np.ndarray, ends: tuple[str, str, str], title: str,
             overlay: str | None, markers: list[tuple[int, int, int]], zoom: int) -> np.ndarray:
    """Image on top, legend strip (bar, end values, title) below; markers and overlay drawn."""
    if markers:
        body, bar = _rgb(body), _rgb(bar[None])[0]
    h, w = body.shape[:2]
    width = max(w, FOOTER_MIN_W)
    canvas = np.full((h + FOOTER_H, width) + body.shape[2:], 255, np.uint8)
    canvas[:h, :w] = body
    black = (0, 0, 0) if canvas.ndim == 3 else 0
    canvas[h] = black                                    # separator line
    bw = width - 2 * _PAD
    idx = np.linspace(0, len(bar) - 1, bw).round().astype(int)
    canvas[h + _PAD:h + _PAD + _BAR_H, _PAD:_PAD + bw] = bar[idx][None]
    row = h + _PAD + _BAR_H + 3
    left, mid, right = ends
    draw_text(canvas, left, row, _PAD, black)
    draw_text(canvas, right, row, width - _PAD - text_width(right), black)
    mid_x = (width - text_width(mid)) // 2
    if mid and _PAD + text_width(left) + 6 < mid_x < \
            width - _PAD - text_width(right) - 6 - text_width(mid):
        draw_text(canvas, mid, row, mid_x, black)
    s = _fit_scale(title, width - 2 * _PAD)
    draw_text(canvas, title, row + 14, _PAD, black, s)
    if overlay:
        s = 3 if text_width(overlay, 3) <= w - 4 else _fit_scale(overlay, w - 4)
        colour = (black if body[h // 2, w // 2].mean() > 127
                  else ((255, 255, 255) if canvas.ndim == 3 else 255))
        draw_text(canvas, overlay, max(0, h // 2 - 5 * s // 2),
                  max(0, (w - text_width(overlay, s)) // 2), colour, s)
    thick = 1 if max(h, w) < 600 else 2
    r = max(4, zoom // 2 + 3)
    for number, cy, cx in markers:
        for t in range(thick):
            rr = r + t
            y0, y1, x0, x1 = cy - rr, cy + rr, cx - rr, cx + rr
            ys = np.arange(max(y0, 0), min(y1, h - 1) + 1)
            xs = np.arange(max(x0, 0), min(x1, w - 1) + 1)
            for y in (y0, y1):
                if 0 <= y < h:
                    canvas[y, xs] = MARKER_RGB
            for x in (x0, x1):
                if 0 <= x < w:
                    canvas[ys, x] = MARKER_RGB
        label = str(number)
        top = cy - r - 12 if cy - r - 12 >= 0 else cy + r + 3
        draw_text(canvas[:h], label, top, min(cx + r + 3, w - text_width(label)), MARKER_RGB)
    return canvas


def render_previews(ref: np.ndarray, test: np.ndarray, out_dir, names=DEFAULT_NAMES, *,
                    labels=("ref", "test"), markers=()) -> Previews:
    """Write the two log-scaled images and the difference map (``test - ref``).

    ``markers``: (slow, fast) pixels of these arrays to box and number 1, 2, … on all three
    previews (pixels outside the arrays are left out).  Never raises for an unwritable folder
    or an empty image: ``Previews.skipped`` says why nothing was written.
    """
    if ref.size == 0 or test.size == 0 or ref.shape != test.shape:
        return Previews([], f"no previews: images empty or of different shapes "
                            f"{ref.shape} / {test.shape}")
    out_dir = Path(out_dir)
    r = _max_pool(ref.astype(np.float64))
    t = _max_pool(test.astype(np.float64))
    factor = -(-ref.shape[0] // r.shape[0]) if r.shape[0] else 1
    finite = [float(np.nanmax(a[np.isfinite(a)])) for a in (r, t) if np.isfinite(a).any()]
    vmax = max(finite, default=0.0)
    d = _signed_pool(test.astype(np.float64) - ref.astype(np.float64))
    dmax = float(np.abs(np.nan_to_num(d)).max())
    zoom = max(1, MIN_SIDE // max(r.shape))
    floor = log_floor(ref, vmax)
    ramp = (np.arange(256)).astype(np.uint8)
    mid_value = floor * float(np.expm1(0.5 * np.log1p(vmax / floor))) if vmax > 0 else 0.0
    marks = []
    for i, (s, f) in enumerate(markers, start=1):
        if 0 <= s < ref.shape[0] and 0 <= f < ref.shape[1]:
            marks.append((i, (s // factor) * zoom + zoom // 2, (f // factor) * zoom + zoom // 2))
    mark_text = " ".join(f"{i}=(slow {s}, fast {f})" for i, (s, f) in
                         enumerate(markers, start=1)) or "none"
    scale = {
        "image": {"scale": "log", "min": 0.0, "max": vmax, "knee": floor, "middle": mid_value,
                  "formula": "grey = 255 * log1p(v / knee) / log1p(max / knee); v <= 0 black",
                  "all_zero": [not np.any(np.nan_to_num(a)) for a in (ref, test)]},
        "diff": {"scale": "linear", "min": -dmax if dmax else 0.0, "max": dmax, "all_zero": dmax == 0,
                 "formula": f"{labels[1]} - {labels[0]}: blue -max, white 0, red +max"},
        "pool_factor": factor, "zoom": zoom, "markers": mark_text,
    }
    log_ends = ("0", fmt_value(mid_value), fmt_value(vmax))
    items = []
    for arr, lab, zero in ((r, labels[0], scale["image"]["all_zero"][0]),
                           (t, labels[1], scale["image"]["all_zero"][1])):
        title = f"{lab} log scale  knee {fmt_value(floor)}"
        items.append((log_gray(arr, vmax, floor), ramp, log_ends, title,
                      "ALL ZERO" if zero else None,
                      {"Title": f"{lab} float image, log scale",
                       "Comment": f"{scale['image']['formula']}; 0 .. max = 0 .. {vmax!r}, "
                                  f"knee {floor!r}, bar middle {mid_value!r}"
                                  + ("; ALL ZERO" if zero else "")}))
    bar = diff_rgb(np.linspace(-1.0, 1.0, 257)[None])[0]
    dtitle = f"{labels[1]}-{labels[0]} " + ("linear" if dmax else "zero everywhere")
    if dmax == 0:
        bar = np.full_like(bar, 255)
    ends = (fmt_value(-dmax), "0", "+" + fmt_value(dmax)) if dmax else ("0", "", "0")
    items.append((diff_rgb(d), bar, ends, dtitle,
                  "ALL ZERO" if dmax == 0 else None,
                  {"Title": f"difference {labels[1]} - {labels[0]}, linear scale",
                   "Comment": (f"{scale['diff']['formula']}; max |diff| = {dmax!r}"
                               if dmax else "the difference is zero everywhere (ALL ZERO)")}))
    written = []
    try:
        for (body, bar_px, ends, title, overlay, text), name in zip(items, names):
            canvas = _compose(_zoom(body, zoom), bar_px, ends, title, overlay, marks, zoom)
            text = {**text, "Markers": mark_text, "Software": "torchbragg-parity",
                    "Scale": f"pooled {factor}x{factor} (max), enlarged x{zoom}"}
            written.append(out_dir / name)
            write_png(out_dir / name, canvas, text)
    except OSError as exc:
        for path in written:          # no partial preview is left
            with contextlib.suppress(OSError):
                path.unlink()
        return Previews([], f"cannot write the previews ({written[-1].name}): "
                            f"{exc.strerror or exc}", scale)
    return Previews(list(names), None, scale)


def write_previews(ref: np.ndarray, test: np.ndarray, out_dir, names=DEFAULT_NAMES, *,
                   labels=("ref", "test"), markers=()) -> list[str]:
    """Write the previews (see :func:`render_previews`); return the file names written."""
    return render_previews(ref, test, out_dir, names, labels=labels, markers=markers).names
