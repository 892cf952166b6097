"""Pixel data of the output images: raw float (docs/behaviour/formats.md §9), noiseless SMV values
(§7.3), PGM (§10).

All images are numpy arrays of shape (spixels, fpixels), slow index first, so the C's linear
pixel order is the array's C order. ``roi`` is a boolean array of that shape, True inside
the region of interest (:meth:`torchbragg.region.Region.mask`).
"""
from __future__ import annotations

import numpy as np

#: pixels per step of the whole-image passes here and in :mod:`stats`: cache-sized, and no
#: image-sized temporaries (first-touch page faults of a 50 MB temporary cost ~0.1 s on the
#: benchmark machines, more than the arithmetic)
CHUNK = 1 << 16


def _by_chunks(img_f32: np.ndarray, convert, dtype) -> np.ndarray:
    """``convert`` (binary64 values → ``dtype`` values) applied to the image in flat chunks."""
    img = np.asarray(img_f32, dtype=np.float32)
    flat = img.reshape(-1)
    out = np.empty(flat.shape, dtype=dtype)
    for start in range(0, flat.size, CHUNK):
        out[start:start + CHUNK] = convert(flat[start:start + CHUNK].astype(np.float64))
    return out.reshape(img.shape)


def float_image_bytes(img_f32: np.ndarray) -> bytes:
    """The ``-floatfile`` content: binary32 photon counts, little-endian, slow-major."""
    return np.ascontiguousarray(img_f32, dtype="<f4").tobytes()


def intfile_scale(user_scale: float, max_I: float) -> float:
    """Scale of the noiseless SMV image (docs/behaviour/formats.md §7.3): ``-scale`` if > 0, else
    55000/max_I when max_I > 0, else 1."""
    if user_scale > 0:
        return float(user_scale)
    if max_I > 0:
        return 55000.0 / max_I
    return 1.0


def pgm_scale(user_scale: float, intfile_scale_value: float, rmsd: float) -> float:
    """Scale of the PGM image (docs/behaviour/formats.md §10): ``-pgmscale`` if > 0, else
    250/(5·rmsd) when rmsd > 0, else the final intfile scale."""
    if user_scale > 0:
        return float(user_scale)
    scale = float(intfile_scale_value)
    if rmsd > 0:
        scale = 250.0 / (5.0 * rmsd)
    return scale


def int_image(img_f32: np.ndarray, scale: float, adc: float,
              roi: np.ndarray | None = None) -> np.ndarray:
    """Noiseless SMV pixel values (docs/behaviour/formats.md §7.3) as ``np.uint16`` (spixels,
    fpixels).

    Inside the ROI: v = pixel·scale + adc in binary64, clipped to [0, 65535]; then v + 0.5 is
    rounded to binary32 and floored. Outside the ROI: 0. (NaN pixels give 0.)
    """
    def convert(v):
        with np.errstate(invalid="ignore", over="ignore"):  # inf·0, NaN: as the C, silently
            return _int_values(v)

    def _int_values(v):
        v = v * float(scale) + float(adc)
        v = np.where(v > 65535.0, 65535.0, v)
        v = np.where(v < 0.0, 0.0, v)
        w = np.floor((v + 0.5).astype(np.float32))
        return np.where(np.isnan(w), 0.0, w).astype(np.uint16)

    out = _by_chunks(img_f32, convert, np.uint16)
    if roi is not None:
        out[~np.asarray(roi, dtype=bool)] = 0
    return out


def pgm_pixels(img_f32: np.ndarray, scale: float, roi: np.ndarray | None = None) -> np.ndarray:
    """PGM byte values (docs/behaviour/formats.md §10): t = min(pixel·scale, 255) in binary64,
    truncated toward zero to an unsigned byte (negative values wrap modulo 256, as the reference
    build does); 0 outside the ROI. (NaN pixels give 0.)"""
    def convert(t):
        with np.errstate(invalid="ignore", over="ignore"):
            return _pgm_values(t)

    def _pgm_values(t):
        t = t * float(scale)
        t = np.where(t > 255.0, 255.0, t)
        t = np.where(np.isfinite(t), t, 0.0)
        return (np.trunc(t).astype(np.int64) & 0xFF).astype(np.uint8)

    out = _by_chunks(img_f32, convert, np.uint8)
    if roi is not None:
        out[~np.asarray(roi, dtype=bool)] = 0
    return out


def pgm_header(fpixels: int, spixels: int, scale: float) -> bytes:
    """``P5\\n{F} {S}\\n# pixels scaled by {scale:%lg}\\n255\\n``."""
    return f"P5\n{int(fpixels):d} {int(spixels):d}\n# pixels scaled by {scale:g}\n255\n".encode()


def pgm_bytes(img_f32: np.ndarray, scale: float, roi: np.ndarray | None = None) -> bytes:
    """A complete PGM file for the float image (docs/behaviour/formats.md §10)."""
    img = np.asarray(img_f32)
    spixels, fpixels = img.shape
    return pgm_header(fpixels, spixels, scale) + pgm_pixels(img, scale, roi).tobytes()
