"""Compatibility profiles: the C reference's quirks, named and switchable in one place.

Every behaviour of the C reference (nanoBragg.c, docs/behaviour/physics.md §9) that a physicist
might call a bug is listed here with its Q-number. The ``nanobragg`` profile (default) reproduces
all of them, so that the same argv gives the same image as the C program run single-threaded. The
``corrected`` profile fixes the ones that are bugs rather than conventions. Code elsewhere reads
these fields; it never tests the profile name.

Quirks that are conventions (pivot forced by convention Q2, the MOSFLM half-pixel Q27, pixel
count rounding Q28, cached first/last factors Q12/Q13, water double scaling Q15, ...) are part
of the model in both profiles and are documented where they are implemented.
"""
from __future__ import annotations

from dataclasses import dataclass

from torchbragg.errors import InputError


@dataclass(frozen=True)
class CompatProfile:
    """Switches for the C reference's bug-quirks (True = behave like the C)."""

    name: str
    #: Q1 — a φ step at exactly 0 reuses the last rotated lattice instead of the unrotated one.
    phi_zero_carry_over: bool = True
    #: Q4 — ``-twotheta_axis x y z`` also sets the two-theta angle to x degrees and pivot SAMPLE.
    twotheta_axis_sets_angle: bool = True
    #: Q6 — ``-pix0_vector``/``-pix0_vector_mm`` values are discarded (only the CUSTOM switch).
    pix0_vector_ignored: bool = True
    #: Q7 — ``-misset_seed n a b`` is also parsed as ``-misset n a b`` (2025 upstream).
    misset_seed_sets_misset: bool = True
    #: Q11 — the first out-of-range interpolation switches interpolation off for the whole run.
    interpolation_global_switch_off: bool = True
    #: Q36 — ``-oversample_thick`` evaluates the capture fraction of §6.10 at every sub-pixel
    #: even without an absorbing sensor (thickness 0): it is then exactly 0 and blanks the image.
    thick_capture_without_sensor: bool = True
    #: Q37 — a ``-mask`` of another size than the detector is accepted and read with the
    #: detector's flat pixel indices (wrong pixels; past its end, 0). Corrected: refused.
    mask_any_size: bool = True


NANOBRAGG = CompatProfile(name="nanobragg")
CORRECTED = CompatProfile(
    name="corrected",
    phi_zero_carry_over=False,
    twotheta_axis_sets_angle=False,
    pix0_vector_ignored=False,
    misset_seed_sets_misset=False,
    interpolation_global_switch_off=False,
    thick_capture_without_sensor=False,
    mask_any_size=False,
)

PROFILES = {p.name: p for p in (NANOBRAGG, CORRECTED)}


def get_profile(name: str) -> CompatProfile:
    """The profile called ``name`` (``nanobragg`` or ``corrected``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(
            f"-profile: unknown profile {name!r} (choose {', '.join(sorted(PROFILES))})"
        ) from None
