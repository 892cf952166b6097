"""Image statistics of io.md §11 (``max_I``, ``mean``, ``rms``, ``rmsd``).

Values are the stored binary32 pixels converted to binary64; sums are accumulated one pixel at
a time in slow-major pixel order, as the C does (``np.cumsum`` is a sequential sum, unlike
``np.sum``'s pairwise one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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


def _seq_sum(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float(np.cumsum(values, dtype=np.float64)[-1])


def image_statistics(img_f32: np.ndarray, rendered: np.ndarray,
                     roi: np.ndarray) -> ImageStats:
    """Statistics of the float image.

    ``rendered``: boolean (spixels, fpixels), True for rendered pixels (inside the ROI and
    not masked); ``roi``: True inside the ROI.
    """
    img = np.asarray(img_f32, dtype=np.float32)
    vals = img.astype(np.float64).reshape(-1)
    rend = np.asarray(rendered, dtype=bool).reshape(-1)
    inroi = np.asarray(roi, dtype=bool).reshape(-1)

    rv = vals[rend]
    n = int(rv.size)
    # max: strictly greater than the running maximum (from 0), first one wins
    cand = np.where(rend & ~np.isnan(vals), vals, -np.inf)
    max_I, max_index = 0.0, None
    if cand.size:
        at = int(np.argmax(cand))
        if cand[at] > 0.0:
            max_I = float(cand[at])
            max_index = divmod(at, img.shape[1])
    s = _seq_sum(rv)
    q = _seq_sum(rv * rv)
    mean = s / max(n, 1)
    n1 = n if n > 1 else 2
    rms = math.sqrt(q / (n1 - 1))
    dv = vals[inroi] - mean
    m = int(dv.size)
    m1 = m if m > 1 else 2
    rmsd = math.sqrt(_seq_sum(dv * dv) / (m1 - 1))
    return ImageStats(max_I, max_index, mean, rms, rmsd, n)
