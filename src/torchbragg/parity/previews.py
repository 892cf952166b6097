"""PNG previews (Pillow): log-scaled images on a common scale and a signed difference map."""
from __future__ import annotations

from pathlib import Path

import numpy as np

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


def write_previews(ref: np.ndarray, test: np.ndarray, out_dir, names=("ref.png", "test.png",
                                                                     "diff.png")) -> list[str]:
    """Write the two log-scaled images and the difference map; return the file names.

    Returns an empty list when Pillow is not installed (previews are optional).
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a test dependency
        return []
    out_dir = Path(out_dir)
    r = _max_pool(ref.astype(np.float64))
    t = _max_pool(test.astype(np.float64))
    finite = [float(np.nanmax(a[np.isfinite(a)])) for a in (r, t) if np.isfinite(a).any()]
    vmax = max(finite, default=0.0)
    d = _signed_pool(test.astype(np.float64) - ref.astype(np.float64))
    zoom = max(1, MIN_SIDE // max(r.shape))
    floor = log_floor(ref, vmax)
    for array, name in ((log_gray(r, vmax, floor), names[0]),
                        (log_gray(t, vmax, floor), names[1]),
                        (diff_rgb(d), names[2])):
        im = Image.fromarray(array)
        if zoom > 1:
            im = im.resize((im.width * zoom, im.height * zoom), Image.Resampling.NEAREST)
        im.save(out_dir / name)
    return list(names)
