"""Incident sources: generated divergence × dispersion grid or explicit list
(docs/behaviour/physics.md §5.3–5.5)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from torchbragg.physics import vec3 as v3
from torchbragg.physics.sampling import Steps
from torchbragg.physics.vec3 import Vec3

#: distance of generated point sources from the sample (m), fixed in the C
SOURCE_DISTANCE_M = 10.0


@dataclass(frozen=True)
class Source:
    """One source as printed (position before normalisation) and used (incident unit vector)."""

    position: Vec3  # m (only its direction matters)
    weight: float  # read and printed, never used (Q19)
    wavelength_m: float
    incident: Vec3  # unit propagation direction î = −unit(position)


@dataclass(frozen=True)
class SourceSet:
    sources: Tuple[Source, ...]
    divergence_points: Tuple[Tuple[float, float], ...]  # kept (hdiv, vdiv) in radians
    wavelengths_m: Tuple[float, ...]  # the dispersion grid
    from_file: bool


def _incident(pos: Vec3) -> Vec3:
    return v3.neg(v3.unit(pos))


def generate_sources(beam: Vec3, polar: Vec3, wavelength_m: float, hdiv: Steps, vdiv: Steps,
                     disp: Steps, round_div: bool) -> SourceSet:
    """§5.3: horizontal (outer) × vertical × dispersion (inner), elliptical cut optional."""
    vert = v3.unit(v3.cross(beam, polar))
    start = v3.scale(beam, -SOURCE_DISTANCE_M)
    lambdas = [wavelength_m * (1.0 + disp.step * w - disp.range / 2.0) for w in range(disp.count)]
    sources: List[Source] = []
    points = []
    for i in range(hdiv.count):
        hd = hdiv.step * i - hdiv.range / 2.0
        for j in range(vdiv.count):
            vd = vdiv.step * j - vdiv.range / 2.0
            if round_div and _cut(hd, vd, hdiv, vdiv):
                continue
            points.append((hd, vd))
            pos = v3.rotate_axis(v3.rotate_axis(start, polar, vd), vert, hd)
            for lam in lambdas:
                sources.append(Source(pos, 1.0, lam, _incident(pos)))
    n = len(sources)
    sources = [Source(s.position, 1.0 / n, s.wavelength_m, s.incident) for s in sources]
    return SourceSet(tuple(sources), tuple(points), tuple(lambdas), False)


def _cut(hd: float, vd: float, h: Steps, v: Steps) -> bool:
    """Elliptical trim; a zero range gives 0/0 = NaN and nothing is cut."""
    try:
        th = (hd * hd - h.step * h.step / 4.0 * (1 - h.count % 2)) / h.range / h.range
    except ZeroDivisionError:
        th = math.nan
    try:
        tv = (vd * vd - v.step * v.step / 4.0 * (1 - v.count % 2)) / v.range / v.range
    except ZeroDivisionError:
        tv = math.nan
    return (th + tv) * 4.0 > 1.1


def sources_from_rows(rows: Sequence[Sequence[float]], beam: Vec3,
                      wavelength_m: float) -> Optional[SourceSet]:
    """§5.4: rows of (X, Y, Z, weight, λ) with NaN for missing columns; None if empty."""
    if not rows:
        return None
    out = []
    for row in rows:
        vals = list(row) + [math.nan] * (5 - len(row))
        pos = tuple(-SOURCE_DISTANCE_M * beam[i] if _missing(vals[i]) else vals[i]
                    for i in range(3))
        weight = 1.0 if _missing(vals[3]) else vals[3]
        lam = wavelength_m if _missing(vals[4]) else vals[4]
        out.append(Source(pos, weight, lam, _incident(pos)))  # type: ignore[arg-type]
    return SourceSet(tuple(out), (), (), True)


def _missing(x) -> bool:
    """A NaN column (a tensor value is looked at without its graph)."""
    return math.isnan(float(x.detach()) if isinstance(x, torch.Tensor) else x)
