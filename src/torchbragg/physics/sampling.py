"""Automatic selection of sampling counts
(docs/behaviour/physics.md §3.1, §4.1, §5.2, §6.10, §6.11, §7.5).

Each rule takes the user's values (``None`` = unset) and returns the resolved ones, exactly as
the C's tables, including their surprises (quirks Q13, Q20, Q26).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from torchbragg.physics.vec3 import RTD


@dataclass(frozen=True)
class Steps:
    """A resolved range/step/count triple (radians, fraction or metres)."""

    count: int
    range: float
    step: float


def _u(x) -> float:
    """The value for decisions: −1 when unset, a plain float for a tensor (no graph)."""
    if x is None:
        return -1.0
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _keep(x, value: float):
    """``x`` itself when it is a tensor (its graph is kept), else the plain ``value``."""
    return x if isinstance(x, torch.Tensor) else value


def resolve_phi(osc, step, count: Optional[int]) -> Steps:
    """§3.1: φ steps. Unset values are −1; a given count of 0 is treated as 1.

    Counts are decided on the values; a tensor range or step is carried into the result
    (gradients in the oscillation and its step)."""
    o, s = _u(osc), _u(step)
    O, S = _keep(osc, o), _keep(step, s)
    if count is None or count < 0:
        if o < 0:
            return Steps(2, S, S) if s > 0 else Steps(1, 0.0, 0.0)
        if s <= 0:
            return Steps(2, O, O / 2.0)
        return Steps(math.ceil(o / s), O, S)
    n = max(int(count), 1)
    if o < 0:
        if s <= 0:
            o = 1.0 / RTD
            return Steps(n, o, o / n)
        return Steps(2, S, S)
    if s < 0:
        return Steps(n, O, O / n)
    return Steps(n, O, S)


def resolve_grid(rng, step, count: Optional[int], unset_range_default: float = 1.0,
                 range_unset_value: float = -1.0) -> Steps:
    """§5.2: divergence and dispersion grids, with the final sanity reset.

    A tensor range or step is carried into the result. A tensor range of exactly 0 with a
    declared count keeps its grid of coincident points (the differentiable branch at the
    switch point, docs/gradients.md); the float path resets it to one point as the C does."""
    r = range_unset_value if rng is None else _u(rng)
    s = _u(step)
    R, S = _keep(rng, r), _keep(step, s)
    n = -1 if count is None else int(count)
    declared = n > 0
    if n <= 0:
        if r < 0:
            if s <= 0:
                n, r, s = 1, 0.0, 0.0
                R, S = r, s
            else:
                r, n = s, 2
                R = S
        elif s <= 0:
            s, n = r, 2
            S = R
        else:
            n = math.ceil(r / s)
    else:
        if r < 0:
            if s <= 0:
                r = unset_range_default
                s = r / n
                R, S = r, s
            else:
                r, n = s, 2
                R = S
        elif s <= 0:
            n = max(n, 2)
            s = r / (n - 1)
            S = R / (n - 1)
    keep_zero = declared and isinstance(R, torch.Tensor) and r == 0 and s == 0
    if (r <= 0 or s <= 0 or n <= 0) and not keep_zero:
        n, r, s = 1, 0.0, 0.0
        R, S = r, s
    return Steps(int(n), R, S)


def resolve_dispersion(fraction, count: Optional[int]) -> Steps:
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


def resolve_layers(thickness, count: Optional[int], mu) -> Layers:
    """§6.10: layer count and spacing; μ defaults to 1/T when a sensor is present.

    Tensor thickness and μ are carried into the result (counts decided on the values)."""
    n = -1 if count is None else int(count)
    t = _u(thickness)
    T = _keep(thickness, t)
    if n <= 0:
        if t >= 0:
            n, dt, DT = 2, t / 2.0, T / 2.0
        else:
            n, dt, DT = 1, 0.0, 0.0
    else:
        if t >= 0:
            n = max(n, 2)
            dt, DT = t / (n - 1), T / (n - 1)
        else:
            # unreachable from the command line (docs/behaviour/physics.md §6.10);
            # docs/behaviour/cli.md §5.5
            t = T = 0.5e-6
            dt = DT = t / (n - 1) if n > 1 else t
    if t <= 0 or dt <= 0 or n <= 0:
        n, T, DT = 1, 0.0, 0.0
    defaulted = False
    mu_v = -1.0 if mu is None else mu
    if t > 0 and mu is None:
        mu_v = _ratio(1.0, T)
        defaulted = True
    return Layers(n, DT, T, mu_v, defaulted)


def _ratio(x, y):
    """``x / y`` as a true division also for a tensor ``y`` (torch's ``number / tensor`` is a
    reciprocal times the number)."""
    return y.new_tensor(x) / y if isinstance(y, torch.Tensor) else x / y


def resolve_mosaic(spread, domains: Optional[int]) -> Tuple[int, object, str]:
    """§4.1: (domain count, spread, warning or '').

    A tensor spread is returned as is (its graph kept); one of exactly 0 with a declared
    domain count keeps its domains (the differentiable branch at the switch point)."""
    sp = _u(spread)
    tensor = isinstance(spread, torch.Tensor)
    if domains is None or domains <= 0:
        if sp > 0:
            return 10, _keep(spread, sp), ("WARNING: finite mosaicity with only one domain! "
                                          "upping to 10 mosaic domains")
        return 1, max(sp, 0.0), ""
    if sp < 0:
        return 1, 0.0, "WARNING: no mosaic spread specified.  setting mosaic_domains = 1"
    if sp == 0 and not tensor:
        return 1, 0.0, "WARNING: zero mosaic spread specified.  setting mosaic_domains = 1"
    return int(domains), _keep(spread, sp), ""


#: Recommendations from here on fall back to 1 (as in the C reference).
MAX_RECOMMENDED_OVERSAMPLE = 1_000_000


def recommended_oversample(xtal_max_m: float, wavelength_m: float, distance_m: float,
                           pixel_m: float) -> int:
    """§6.11: ceil(3·xtal_max/(λ0·d/p)); 1 when that is below 1, not finite or 1e6 and more,
    as in the C reference (``-N 30000000`` renders 1-fold, not 9e6-fold)."""
    recip_pix = wavelength_m * distance_m / pixel_m
    try:
        n = math.ceil(3.0 * xtal_max_m / recip_pix)
    except (ValueError, OverflowError, ZeroDivisionError):
        return 1
    return n if 1 <= n < MAX_RECOMMENDED_OVERSAMPLE else 1


@dataclass(frozen=True)
class Sampling:
    """A configuration's resolved sampling: φ steps, divergence and dispersion grids, sensor
    layers, and the mosaic domains with their spread and the C's warning ('' when none)."""

    phi: Steps
    hdiv: Steps
    vdiv: Steps
    disp: Steps
    layers: Layers
    domains: int
    spread: object
    mosaic_warning: str

    @property
    def grid_sources(self) -> int:
        """Points of the divergence × dispersion grid (before the elliptical cut of
        ``-round_div``: an upper bound of the generated sources)."""
        return self.hdiv.count * self.vdiv.count * self.disp.count


def resolve_sampling(cfg) -> Sampling:
    """Every count rule above applied to a :class:`~torchbragg.config.SimulationConfig`
    (docs/behaviour/physics.md §1.7 step 8). Raises OverflowError or ValueError for a
    count of an absurd range/step ratio."""
    b, c, d = cfg.beam, cfg.crystal, cfg.detector
    phi = resolve_phi(c.osc_rad, c.phistep_rad, c.phisteps)
    hdiv = resolve_grid(b.hdivrange_rad, b.hdivstep_rad, b.hdivsteps)
    vdiv = resolve_grid(b.vdivrange_rad, b.vdivstep_rad, b.vdivsteps)
    disp = resolve_dispersion(b.dispersion_fraction, b.dispsteps)
    layers = resolve_layers(d.thickness_m, d.thicksteps, d.mu_per_m)
    domains, spread, warning = resolve_mosaic(c.mosaic_spread_rad, c.mosaic_domains)
    return Sampling(phi, hdiv, vdiv, disp, layers, domains, spread, warning)
