"""Automatic selection of sampling counts (model.md §3.1, §4.1, §5.2, §6.10, §6.11, §7.5).

Each rule takes the user's values (``None`` = unset) and returns the resolved ones, exactly as
the C's tables, including their surprises (quirks Q13, Q20, Q26).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from torchbragg.physics.vec3 import RTD


@dataclass(frozen=True)
class Steps:
    """A resolved range/step/count triple (radians, fraction or metres)."""

    count: int
    range: float
    step: float


def _u(x: Optional[float]) -> float:
    return -1.0 if x is None else float(x)


def resolve_phi(osc: Optional[float], step: Optional[float], count: Optional[int]) -> Steps:
    """§3.1: φ steps. Unset values are −1; a given count of 0 is treated as 1."""
    o, s = _u(osc), _u(step)
    if count is None or count < 0:
        if o < 0:
            return Steps(2, s, s) if s > 0 else Steps(1, 0.0, 0.0)
        if s <= 0:
            return Steps(2, o, o / 2.0)
        return Steps(math.ceil(o / s), o, s)
    n = max(int(count), 1)
    if o < 0:
        if s <= 0:
            o = 1.0 / RTD
            return Steps(n, o, o / n)
        return Steps(2, s, s)
    if s < 0:
        return Steps(n, o, o / n)
    return Steps(n, o, s)


def resolve_grid(rng: Optional[float], step: Optional[float], count: Optional[int],
                 unset_range_default: float = 1.0, range_unset_value: float = -1.0) -> Steps:
    """§5.2: divergence and dispersion grids, with the final sanity reset."""
    r = range_unset_value if rng is None else float(rng)
    s = _u(step)
    n = -1 if count is None else int(count)
    if n <= 0:
        if r < 0:
            if s <= 0:
                n, r, s = 1, 0.0, 0.0
            else:
                r, n = s, 2
        elif s <= 0:
            s, n = r, 2
        else:
            n = math.ceil(r / s)
    else:
        if r < 0:
            if s <= 0:
                r = unset_range_default
                s = r / n
            else:
                r, n = s, 2
        elif s <= 0:
            n = max(n, 2)
            s = r / (n - 1)
    if r <= 0 or s <= 0 or n <= 0:
        n, r, s = 1, 0.0, 0.0
    return Steps(int(n), r, s)


def resolve_dispersion(fraction: float, count: Optional[int]) -> Steps:
    """§5.2 with the dispersion defaults: range 0 when unset, no step flag."""
    return resolve_grid(fraction, None, count, unset_range_default=1.0, range_unset_value=0.0)


@dataclass(frozen=True)
class Layers:
    """Sensor layers: count, spacing Δt (m), thickness T (m) and μ (1/m)."""

    count: int
    spacing_m: float
    thickness_m: float
    mu_per_m: float
    mu_defaulted: bool


def resolve_layers(thickness: float, count: Optional[int], mu: Optional[float]) -> Layers:
    """§6.10: layer count and spacing; μ defaults to 1/T when a sensor is present."""
    n = -1 if count is None else int(count)
    t = float(thickness)
    if n <= 0:
        if t >= 0:
            n, dt = 2, t / 2.0
        else:
            n, dt = 1, 0.0
    else:
        if t >= 0:
            n = max(n, 2)
            dt = t / (n - 1)
        else:  # unreachable from the command line (model.md §6.10); cli.md §5.5
            t = 0.5e-6
            dt = t / (n - 1) if n > 1 else t
    if t <= 0 or dt <= 0 or n <= 0:
        n, t, dt = 1, 0.0, 0.0
    defaulted = False
    mu_v = -1.0 if mu is None else mu
    if t > 0 and mu is None:
        mu_v = 1.0 / t
        defaulted = True
    return Layers(n, dt, t, mu_v, defaulted)


def resolve_mosaic(spread: Optional[float], domains: Optional[int]) -> Tuple[int, float, str]:
    """§4.1: (domain count, spread, warning or '')."""
    sp = -1.0 if spread is None else float(spread)
    if domains is None or domains <= 0:
        if sp > 0:
            return 10, sp, "WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains"
        return 1, max(sp, 0.0), ""
    if sp < 0:
        return 1, 0.0, "WARNING: no mosaic spread specified.  setting mosaic_domains = 1"
    if sp == 0:
        return 1, 0.0, "WARNING: zero mosaic spread specified.  setting mosaic_domains = 1"
    return int(domains), sp, ""


#: Recommendations from here on fall back to 1 (as in the C reference).
MAX_RECOMMENDED_OVERSAMPLE = 1_000_000


def recommended_oversample(xtal_max_m: float, wavelength_m: float, distance_m: float,
                           pixel_m: float) -> int:
    """§6.11: ceil(3·xtal_max/(λ0·d/p)); 1 when that is below 1, not finite or 1e6 and more
    (the C reference's rule, csrc/nb_main.c: ``-N 30000000`` renders 1-fold, not 9e6-fold)."""
    recip_pix = wavelength_m * distance_m / pixel_m
    try:
        n = math.ceil(3.0 * xtal_max_m / recip_pix)
    except (ValueError, OverflowError, ZeroDivisionError):
        return 1
    return n if 1 <= n < MAX_RECOMMENDED_OVERSAMPLE else 1
