"""Crystal set-up: cell, orientation matrix, misset, real/reciprocal vectors
(docs/behaviour/physics.md §2.1–2.6).

Reciprocal vectors in Å⁻¹, real-space vectors returned in metres, angles in radians.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from torchbragg.config import CrystalConfig
from torchbragg.physics import vec3 as v3
from torchbragg.physics.mosaic import random_rotation
from torchbragg.physics.vec3 import DBL_MIN, RTD, Vec3
from torchbragg.rng import ShuffleTable, UniformStream


@dataclass(frozen=True)
class CellReport:
    """Printed cell parameters (display only, docs/behaviour/physics.md §2.5)."""

    cell: Tuple[float, float, float, float, float, float]  # Å and degrees
    recip: Tuple[float, float, float, float, float, float]  # Å⁻¹ and degrees
    volume_A3: float
    #: the "oddball cell angles" warning blocks of the printed cell (docs/behaviour/cli.md §8.2
    #: row 15)
    warnings: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Lattice:
    """The reference orientation (φ = 0, no mosaic) and the fixed reciprocal vectors."""

    a0_m: Vec3
    b0_m: Vec3
    c0_m: Vec3
    a_star: Vec3  # Å⁻¹, after misset, never rotated (used by ROUND/GAUSS/TOPHAT, Q17)
    b_star: Vec3
    c_star: Vec3
    report: CellReport
    misset_rad: Optional[Vec3]  # angles applied (random misset: the drawn ones)
    warnings: Tuple[str, ...] = ()


def _clamp_sine(x):
    return x.clamp(-1.0, 1.0) if isinstance(x, torch.Tensor) else min(1.0, max(-1.0, x))


def _clamp_cosine(x):
    """A cosine whose square exceeds 1 becomes +1 (regardless of sign,
    docs/behaviour/physics.md §2.1)."""
    if isinstance(x, torch.Tensor):
        return torch.where(x * x > 1.0, torch.ones_like(x), x)
    return 1.0 if x * x > 1.0 else x


def reciprocal_from_cell(a, b, c, alpha, beta, gamma):
    """§2.1: default-orientation reciprocal vectors and the angle-formula volume (Å³); the
    triclinic angle drift is reproduced (docs/behaviour/quirks.md Q9)."""
    warnings = []
    sin, cos = v3.sin, v3.cos
    s = (alpha + beta + gamma) / 2.0
    skew = abs(sin(s) * sin(s - alpha) * sin(s - beta) * sin(s - gamma))
    volume = 2.0 * a * b * c * v3.sqrt(skew)
    if volume <= 0.0:
        warnings.append(f"WARNING: impossible unit cell volume: {float(volume):g}")
        volume = DBL_MIN
    vstar = v3.div(1.0, volume)
    a_s = b * c * sin(alpha) * vstar
    b_s = c * a * sin(beta) * vstar
    c_s = a * b * sin(gamma) * vstar
    if a_s <= 0.0 or b_s <= 0.0 or c_s <= 0.0:
        warnings.append("WARNING: impossible reciprocal cell lengths: "
                        f"{float(a_s):g} {float(b_s):g} {float(c_s):g}")
        a_s, b_s, c_s = (abs(x) if abs(x) > 0 else DBL_MIN for x in (a_s, b_s, c_s))
    sin_as = v3.div(v3.div(a * vstar, b_s), c_s)
    sin_bs = v3.div(v3.div(b * vstar, a_s), c_s)
    sin_gs = v3.div(v3.div(c * vstar, a_s), b_s)
    cos_as = v3.div(cos(beta) * cos(gamma) - cos(alpha), sin(beta) * sin(gamma))
    cos_bs = v3.div(cos(gamma) * cos(alpha) - cos(beta), sin(gamma) * sin(alpha))
    cos_gs = v3.div(cos(alpha) * cos(beta) - cos(gamma), sin(alpha) * sin(beta))
    # (the reference labels the last line ``cos9gamma_star)``, docs/behaviour/cli.md §8.2 row 12)
    warnings += _oddball("reciprocal ", "_star", ((sin_as, cos_as), (sin_bs, cos_bs),
                                                   (sin_gs, cos_gs)), "cos9gamma_star)")
    sin_as, sin_bs, sin_gs = (_clamp_sine(x) for x in (sin_as, sin_bs, sin_gs))
    cos_as, cos_bs, cos_gs = (_clamp_cosine(x) for x in (cos_as, cos_bs, cos_gs))
    a_star = (a_s, 0.0, 0.0)
    b_star = (b_s * cos_gs, b_s * sin_gs, 0.0)
    c_star = (c_s * cos_bs, v3.div(c_s * (cos_as - cos_bs * cos_gs), sin_gs),
              v3.div(c_s * volume, a * b * c * sin_gs))
    return a_star, b_star, c_star, volume, warnings


def misset_from_matrix(u) -> Vec3:
    """§2.4 steps 1–2: Euler angles (rx, ry, rz) that reproduce rotation matrix ``u``."""
    u = list(u)
    for _ in range(2):
        for row in range(3):
            r = u[3 * row:3 * row + 3]
            m = math.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2])
            u[3 * row:3 * row + 3] = [r[0] / m, r[1] / m, r[2] / m]
    if u[6] * u[6] < 1.0:
        rx = math.atan2(u[7], u[8])
        ry = math.atan2(-u[6], math.sqrt(u[7] * u[7] + u[8] * u[8]))
        rz = math.atan2(u[3], u[0])
    else:
        pi = 4.0 * math.atan2(1.0, 1.0)
        rx, ry, rz = pi, pi / 2.0, math.atan2(u[1], -u[4])
    return (rx, ry, rz)


def build_lattice(cfg: CrystalConfig, wavelength_m: float, table: ShuffleTable) -> Lattice:
    """§2.1–2.5: reciprocal vectors from ``-cell``/``-mat``, misset, then real-space vectors."""
    warnings = []
    cell = cfg.cell_A_rad
    a_star = b_star = c_star = (0.0, 0.0, 0.0)
    volume = None
    if cell is not None:
        a_star, b_star, c_star, volume, w = reciprocal_from_cell(*cell)
        warnings += w
    if cfg.amatrix is not None:
        m = cfg.amatrix
        factor = v3.div(1e-10, wavelength_m)
        a_star = (m[0] * factor, m[3] * factor, m[6] * factor)
        b_star = (m[1] * factor, m[4] * factor, m[7] * factor)
        c_star = (m[2] * factor, m[5] * factor, m[8] * factor)
    misset = cfg.misset_rad
    if cfg.misset_random:
        stream = UniformStream(table, cfg.misset_seed)
        misset = misset_from_matrix(random_rotation(stream, 90.0))
    if misset is not None:
        a_star, b_star, c_star = (v3.rotate_xyz(v, *misset) for v in (a_star, b_star, c_star))

    # §2.5
    A = v3.cross(a_star, b_star)
    B = v3.cross(b_star, c_star)
    C = v3.cross(c_star, a_star)
    vstar = v3.dot(a_star, B)
    if cell is not None:
        B = v3.rescale(B, v3.div(cell[0], volume))
        C = v3.rescale(C, v3.div(cell[1], volume))
        A = v3.rescale(A, v3.div(cell[2], volume))
        vstar = v3.div(1.0, volume)
    volume = v3.div(1.0, vstar) if bool(vstar != 0.0) else math.inf
    a_real = v3.scale(B, volume)
    b_real = v3.scale(C, volume)
    c_real = v3.scale(A, volume)
    a_star = v3.scale(v3.cross(b_real, c_real), vstar)
    b_star = v3.scale(v3.cross(c_real, a_real), vstar)
    c_star = v3.scale(v3.cross(a_real, b_real), vstar)
    report = _cell_report(*(_floats(v) for v in (a_real, b_real, c_real, a_star, b_star, c_star)),
                          float(volume.detach()) if isinstance(volume, torch.Tensor) else volume)
    to_m = lambda v: (v[0] * 1e-10, v[1] * 1e-10, v[2] * 1e-10)  # noqa: E731
    return Lattice(to_m(a_real), to_m(b_real), to_m(c_real), a_star, b_star, c_star, report,
                   misset if cfg.misset_random else cfg.misset_rad, tuple(warnings))


def _floats(v):
    return tuple(float(x.detach()) if isinstance(x, torch.Tensor) else float(x) for x in v)


def _sin_cos(x, y, other_len, volume):
    """Unclamped sine and cosine of the angle between edges ``x`` and ``y``
    (docs/behaviour/physics.md §2.5): sin = |other|·V/|x|/|y|, cos = x·y/|x|/|y|, divided in that
    order (matches the C's last bits; β takes its edges in the order a, c)."""
    lx, ly = v3.magnitude(x), v3.magnitude(y)
    if lx * ly == 0:
        return math.nan, math.nan
    return other_len * volume / lx / ly, v3.dot(x, y) / lx / ly


def _angle(sin_v, cos_v):
    """Degrees from the clamped sine and cosine (§2.1 clamping rules)."""
    sin_v = min(1.0, max(-1.0, sin_v)) if sin_v == sin_v else sin_v
    cos_v = 1.0 if cos_v * cos_v > 1.0 else cos_v
    return math.atan2(sin_v, cos_v) * RTD


def _oddball(title: str, suffix: str, pairs, cos_gamma_label: str = "") -> list:
    """The C's warning block when a cell angle's sine or cosine exceeds ±1.0000001
    (docs/behaviour/cli.md §8.2 rows 12 and 15): a title line, then sin/cos of α, β, γ as
    ``%.25g``."""
    if not any(abs(x) > 1.0000001 for pair in pairs for x in pair):
        return []
    lines = [f"WARNING: oddball {title}cell angles:"]
    for name, (sin_v, cos_v) in zip(("alpha", "beta", "gamma"), pairs):
        label = f"{name}{suffix})" + (" " if name == "beta" else "")
        lines.append(f"sin({label} = {sin_v:.25g}")
        cos_label = cos_gamma_label if name == "gamma" and cos_gamma_label else f"cos({label}"
        lines.append(f"{cos_label} = {cos_v:.25g}")
    return lines


def _cell_report(a, b, c, a_s, b_s, c_s, volume) -> CellReport:
    la, lb, lc = (v3.magnitude(v) for v in (a, b, c))
    las, lbs, lcs = (v3.magnitude(v) for v in (a_s, b_s, c_s))
    vstar = 1.0 / volume if volume != 0 else math.inf
    real = (_sin_cos(b, c, las, volume), _sin_cos(a, c, lbs, volume),
            _sin_cos(a, b, lcs, volume))
    recip = (_sin_cos(b_s, c_s, la, vstar), _sin_cos(a_s, c_s, lb, vstar),
             _sin_cos(a_s, b_s, lc, vstar))
    warnings = _oddball("", "", real) + _oddball("reciprocal ", "_star", recip)
    return CellReport((la, lb, lc, *(_angle(*p) for p in real)),
                      (las, lbs, lcs, *(_angle(*p) for p in recip)), volume, tuple(warnings))


def cells_from_size(cfg: CrystalConfig, lattice: Lattice, sample_m: Vec3) -> Tuple[int, int, int]:
    """§2.6: N from crystal sizes (after beam clipping), then every N ≤ 1 becomes 1."""
    counts = [cfg.Na, cfg.Nb, cfg.Nc]
    for i, (size, vec) in enumerate(zip(sample_m, (lattice.a0_m, lattice.b0_m, lattice.c0_m))):
        if size > 0:
            counts[i] = math.ceil(size / float(v3.magnitude(vec)))
    # a tensor N (continuous crystal size, for gradients) is kept as is, clamped at 1
    return tuple(n.clamp(min=1.0) if isinstance(n, torch.Tensor) else max(1, int(n))
                 for n in counts)  # type: ignore[return-value]
