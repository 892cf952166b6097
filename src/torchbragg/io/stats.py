"""Image statistics of docs/behaviour/formats.md §11 (``max_I``, ``mean``, ``rms``, ``rmsd``).

Values are the stored binary32 pixels converted to binary64 (squares for ``rms`` are taken in
binary32); sums are accumulated one pixel at a time in slow-major pixel order, as the C does
(``np.cumsum`` is a sequential sum, unlike ``np.sum``'s pairwise one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from torchbragg.io.images import CHUNK


@dataclass(frozen=True)
class ImageStats:
    """``max_I`` (photons) and its (slow, fast) index (None when no rendered pixel exceeds 0),
    ``mean``/``rms`` over rendered pixels, ``rmsd`` over every ROI pixel (masked included),
    and the number of rendered pixels."""

    max_I: float
    max_index: tuple[int, int] | None
    mean: float
    rms: float
    rmsd: float
    n_rendered: int


def _seq_add(total: float, values: np.ndarray) -> float:
    """``total + v0 + v1 + …`` one value at a time (``np.cumsum`` is sequential)."""
    if values.size == 0:
        return total
    return float(np.cumsum(np.concatenate(([total], values)), dtype=np.float64)[-1])


def image_statistics(img_f32: np.ndarray, rendered: np.ndarray,
                     roi: np.ndarray) -> ImageStats:
    """Statistics of the float image.

    ``rendered``: boolean (spixels, fpixels), True for rendered pixels (inside the ROI and
    not masked); ``roi``: True inside the ROI. Two passes over the image in cache-sized steps.
    """
    img = np.asarray(img_f32, dtype=np.float32)
    flat = img.reshape(-1)
    rend = np.asarray(rendered, dtype=bool).reshape(-1)
    inroi = np.asarray(roi, dtype=bool).reshape(-1)
    n, s, q = 0, 0.0, 0.0
    # max: strictly greater than the running maximum (from 0), first one wins
    max_I, max_at = 0.0, -1
    for start in range(0, flat.size, CHUNK):
        vals = flat[start:start + CHUNK].astype(np.float64)
        rv = vals[rend[start:start + CHUNK]]
        n += int(rv.size)
        s = _seq_add(s, rv)
        # the C squares the stored binary32 pixel in binary32 (a float times a float) and adds
        # it to the binary64 sum: above ~1.8e19 photons the square is inf (docs/behaviour/quirks.md)
        rv32 = rv.astype(np.float32)
        with np.errstate(over="ignore"):
            q = _seq_add(q, (rv32 * rv32).astype(np.float64))
        live = rv[~np.isnan(rv)]
        if live.size and live.max() > max_I:
            where = np.flatnonzero(rend[start:start + CHUNK])[~np.isnan(rv)]
            at = int(np.argmax(live))
            max_I, max_at = float(live[at]), start + int(where[at])
    mean = s / max(n, 1)
    n1 = n if n > 1 else 2
    rms = math.sqrt(q / (n1 - 1))
    m, d = 0, 0.0
    for start in range(0, flat.size, CHUNK):
        with np.errstate(invalid="ignore", over="ignore"):  # inf pixels: inf - inf is NaN
            dv = flat[start:start + CHUNK][inroi[start:start + CHUNK]].astype(np.float64) - mean
            m += int(dv.size)
            d = _seq_add(d, dv * dv)
    m1 = m if m > 1 else 2
    rmsd = math.sqrt(d / (m1 - 1))
    max_index = divmod(max_at, img.shape[1]) if max_at >= 0 else None
    return ImageStats(max_I, max_index, mean, rms, rmsd, n)
