"""Compare two raw float32 images (little-endian, slow-major) and compute parity metrics."""
from __future__ import annotations

import errno
import math
from pathlib import Path

import numpy as np

from torchbragg.parity.readfile import read_regular

#: Default image criterion: max|test - ref| / max|ref| (per dtype of the Torch run).
DEFAULT_IMAGE_TOLERANCE = {"float64": 1e-6, "float32": 1e-3}


class ImageError(ValueError):
    """An image file is missing, unreadable or of the wrong size."""


def read_float_image(path, fpixels: int, spixels: int) -> np.ndarray:
    """Read ``fpixels*spixels`` little-endian float32 values as a (spixels, fpixels) array."""
    path = Path(path)
    if fpixels <= 0 or spixels <= 0:
        raise ImageError(f"image size {fpixels} fast x {spixels} slow: both must be positive")
    want = fpixels * spixels * 4
    shape = f"({fpixels} fast x {spixels} slow float32 values)"
    try:
        data = read_regular(path, limit=want)
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise ImageError(f"{path}: more than {want} bytes, expected {want} {shape}") from None
        raise ImageError(f"cannot read image {path}: {exc.strerror}") from None
    if len(data) != want:
        raise ImageError(f"{path}: {len(data)} bytes, expected {want} {shape}")
    return np.frombuffer(data, dtype="<f4").reshape(spixels, fpixels)


def crop(img: np.ndarray, roi) -> np.ndarray:
    """Crop to ``roi = (xmin, xmax, ymin, ymax)``: fast (x) and slow (y) limits, inclusive."""
    if roi is None:
        return img
    xmin, xmax, ymin, ymax = roi
    s, f = img.shape
    if not (0 <= xmin <= xmax < f and 0 <= ymin <= ymax < s):
        raise ImageError(f"roi {xmin} {xmax} {ymin} {ymax} lies outside the {f}x{s} image")
    return img[ymin:ymax + 1, xmin:xmax + 1]


def local_maxima(img: np.ndarray) -> np.ndarray:
    """Boolean mask of pixels > 0 that are not below any of their 8 neighbours.

    Ties are broken in raster order (a pixel must be strictly above the neighbours that come
    before it), so a flat plateau yields one maximum, not one per pixel.
    """
    padded = np.pad(img, 1, mode="constant", constant_values=-np.inf)
    s, f = img.shape
    mask = img > 0
    for ds in (-1, 0, 1):
        for df in (-1, 0, 1):
            if ds == 0 and df == 0:
                continue
            other = padded[1 + ds:1 + ds + s, 1 + df:1 + df + f]
            earlier = ds < 0 or (ds == 0 and df < 0)
            mask &= (img > other) if earlier else (img >= other)
    return mask


def top_peaks(img: np.ndarray, n: int) -> list[tuple[int, int, float]]:
    """The ``n`` brightest local maxima as (slow, fast, value), brightest first."""
    idx = np.flatnonzero(local_maxima(img))
    if idx.size == 0 or n <= 0:
        return []
    vals = img.ravel()[idx]
    if idx.size > n:
        keep = np.argpartition(-vals, n - 1)[:n]
        idx, vals = idx[keep], vals[keep]
    order = np.lexsort((idx, -vals))
    f = img.shape[1]
    return [(int(i // f), int(i % f), float(v)) for i, v in zip(idx[order], vals[order])]


def peak_registration(ref: np.ndarray, test: np.ndarray, n: int) -> dict:
    """Match the top-``n`` ref peaks to a test local maximum within 1 pixel (Chebyshev)."""
    peaks = top_peaks(ref, n)
    test_max = np.pad(local_maxima(test), 1)
    matched = []
    for s, f, _ in peaks:
        matched.append(bool(test_max[s:s + 3, f:f + 3].any()))
    return {
        "requested": n,
        "found": len(peaks),
        "matched": int(sum(matched)),
        "fraction_matched": (sum(matched) / len(peaks)) if peaks else None,
        "unmatched": [[s, f] for (s, f, _), ok in zip(peaks, matched) if not ok][:20],
    }


def image_metrics(ref: np.ndarray, test: np.ndarray, peaks: int = 20) -> dict:
    """All image metrics (float64 arithmetic); NaN-valued metrics are reported as None."""
    if ref.shape != test.shape:
        raise ImageError(f"shape mismatch: ref {ref.shape}, test {test.shape}")
    r = ref.astype(np.float64)
    t = test.astype(np.float64)
    d = t - r
    absd = np.abs(d)
    max_ref = float(np.max(np.abs(r))) if r.size else 0.0
    max_abs = float(absd.max()) if d.size else 0.0
    norm_ref = float(np.linalg.norm(r))
    nz = r != 0
    sum_ref, sum_test = float(r.sum()), float(t.sum())
    out = {
        "shape": [int(ref.shape[0]), int(ref.shape[1])],
        "pixels": int(r.size),
        "byte_identical": bool(ref.tobytes() == test.tobytes()),
        "pearson_r": _pearson(r, t),
        "rmse": float(np.sqrt(np.mean(d * d))) if d.size else 0.0,
        "max_abs_diff": max_abs,
        "max_abs_diff_over_max_ref": _ratio(max_abs, max_ref),
        "relative_l2": _ratio(float(np.linalg.norm(d)), norm_ref),
        "max_rel_diff": float((absd[nz] / np.abs(r[nz])).max()) if nz.any() else None,
        "sum_ref": sum_ref,
        "sum_test": sum_test,
        "sum_ratio": _ratio(sum_test, sum_ref),
        "max_ref": float(r.max()) if r.size else None,
        "max_test": float(t.max()) if t.size else None,
        "pixels_differing": int(np.count_nonzero(ref.view(np.uint32) != test.view(np.uint32))),
        "nonfinite_ref": int(np.count_nonzero(~np.isfinite(r))),
        "nonfinite_test": int(np.count_nonzero(~np.isfinite(t))),
        "peaks": peak_registration(r, t, peaks),
    }
    if max_abs > 0:
        s, f = np.unravel_index(int(np.nanargmax(absd)), absd.shape)
        out["max_abs_diff_at"] = [int(s), int(f)]
    return {k: _clean(v) for k, v in out.items()}


def judge(metrics: dict, tolerance: float) -> bool:
    """PASS when byte-identical or max|d|/max|ref| <= tolerance with no non-finite pixels."""
    if metrics["byte_identical"]:
        return True
    if metrics["nonfinite_ref"] or metrics["nonfinite_test"]:
        return False
    ratio = metrics["max_abs_diff_over_max_ref"]
    if ratio is None:  # ref all zero: the test must be all zero too
        return metrics["max_abs_diff"] == 0
    return ratio <= tolerance


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 2:
        return None
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    if den == 0 or not math.isfinite(den):
        return 1.0 if np.array_equal(a, b) and math.isfinite(den) else None
    return float((a * b).sum()) / den


def _ratio(num: float, den: float) -> float | None:
    if den == 0:
        return None if num != 0 else 0.0
    return num / den


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
