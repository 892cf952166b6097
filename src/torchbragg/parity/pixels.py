"""Traced pixels in the ``run`` summary: labels, values relative to the image maximum, and the
dark-pixel / bright-transpose warning (a (slow, fast) order mix-up shows up as exactly that).

Labels come from the preset: a ``Preset`` may carry ``pixel_labels`` ({(slow, fast): text});
presets without it fall back on :data:`KNOWN_PIXEL_LABELS` by name (``supervisor`` and its
variants, e.g. ``supervisor-like``); any other pixel is a "traced pixel".
"""
from __future__ import annotations

import math

import numpy as np

#: The pixel the users asked about in their supervisor command, (slow, fast).
USERS_PIXEL = (685, 1039)
KNOWN_PIXEL_LABELS: dict[str, dict[tuple[int, int], str]] = {
    "supervisor": {USERS_PIXEL: "the users' pixel",
                   USERS_PIXEL[::-1]: "transpose of the users' pixel"},
}
DEFAULT_LABEL = "traced pixel"
#: A pixel below this fraction of the image maximum is dark …
DARK_FRACTION = 1e-3
#: … and its transpose bright at or above this fraction (a decade apart: no flicker).
BRIGHT_FRACTION = 1e-2


def preset_pixel_labels(preset) -> dict[tuple[int, int], str]:
    """{(slow, fast): label} for a Preset (or a preset name); empty when none is known."""
    if preset is None:
        return {}
    own = getattr(preset, "pixel_labels", None)
    if own:
        return {tuple(int(v) for v in k): str(text) for k, text in dict(own).items()}
    name = preset if isinstance(preset, str) else getattr(preset, "name", "")
    for key, table in KNOWN_PIXEL_LABELS.items():
        if name == key or name.startswith(key + "-") or name.startswith(key + "_"):
            return dict(table)
    return {}


def label_of(pixel, labels: dict) -> str:
    return labels.get(tuple(pixel), DEFAULT_LABEL) if pixel is not None else DEFAULT_LABEL


def image_max(img: np.ndarray | None) -> float | None:
    if img is None or img.size == 0:
        return None
    finite = img[np.isfinite(img)]
    return float(finite.max()) if finite.size else None


def value_at(img: np.ndarray | None, pixel) -> float | None:
    if img is None or pixel is None:
        return None
    s, f = pixel
    if 0 <= s < img.shape[0] and 0 <= f < img.shape[1]:
        return float(img[s, f])
    return None


def relative(value: float | None, vmax: float | None) -> float | None:
    if value is None or vmax is None or vmax <= 0 or not math.isfinite(value):
        return None
    return value / vmax


def annotate_pixels(records: list[dict], labels: dict, ref: np.ndarray | None,
                    test: np.ndarray | None) -> list[str]:
    """Add label, value/max and the transpose to each pixel record; return the warnings.

    ``ref``/``test`` are the whole C/PY images (not an --roi crop).  The warning: a traced
    pixel darker than DARK_FRACTION of the C image's maximum whose transpose (fast, slow) is
    at least BRIGHT_FRACTION of it.
    """
    warnings = []
    cmax, pmax = image_max(ref), image_max(test)
    for rec in records:
        pix = tuple(rec["pixel"]) if rec.get("pixel") is not None else None
        rec["label"] = label_of(pix, labels)
        rec["c_over_max"] = relative(value_at(ref, pix), cmax)
        rec["py_over_max"] = relative(value_at(test, pix), pmax)
        rec["transpose"] = None
        rec["dark_with_bright_transpose"] = False
        if pix is None or pix[0] == pix[1]:
            continue
        t = (pix[1], pix[0])
        t_rel = relative(value_at(ref, t), cmax)
        rec["transpose"] = {"pixel": list(t), "label": labels.get(t),
                            "c_value": value_at(ref, t), "c_over_max": t_rel}
        rel = rec["c_over_max"]
        if rel is not None and t_rel is not None and rel < DARK_FRACTION \
                and t_rel >= BRIGHT_FRACTION:
            rec["dark_with_bright_transpose"] = True
            warnings.append(
                f"{rec['label']} (slow {pix[0]}, fast {pix[1]}) is dark ({rel:.3g} of the C "
                f"image maximum) while its transpose (slow {t[0]}, fast {t[1]}) is bright "
                f"({t_rel:.3g} of the maximum): check the (slow, fast) order of the pixel")
    return warnings


__all__ = ["USERS_PIXEL", "KNOWN_PIXEL_LABELS", "DEFAULT_LABEL", "DARK_FRACTION",
           "BRIGHT_FRACTION", "preset_pixel_labels", "label_of", "annotate_pixels"]
