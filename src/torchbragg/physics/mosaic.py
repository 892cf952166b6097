"""Mosaic domain rotations drawn with the C's generator (docs/behaviour/physics.md §4.3–4.4), bit
for bit."""
from __future__ import annotations

import ctypes
import ctypes.util
import math
from typing import List, Tuple

import numpy as np
import torch

from torchbragg.physics import vec3 as v3
from torchbragg.rng import UniformStream, fl32

Matrix = Tuple[float, ...]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_THIRD_F32 = np.float32(1.0 / 3.0)


def _load_libm_powf():
    """The C library's ``powf`` (what the C reference calls), or None where unavailable."""
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = libm.powf
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float, ctypes.c_float]
    return fn


_LIBM_POWF = _load_libm_powf()


def _powf(x: float, y: np.float32) -> float:
    """Single-precision ``powf`` (binary32 arguments and result).

    Uses the C library's ``powf`` (glibc), as the C reference does; numpy's float32 power
    differs from it in the last bit for ~17 % of arguments (docs/behaviour/physics.md Appendix A).
    Fallback: double ``pow`` rounded to binary32, which agrees in >99.9 % of cases.
    """
    if _LIBM_POWF is not None:
        return float(_LIBM_POWF(x, float(y)))
    return fl32(math.pow(x, float(y)))


def random_rotation(stream: UniformStream, spread_rad: float) -> Matrix:
    """One rotation: three draws, a cap angle formed in binary32, Rodrigues matrix (§4.3)."""
    r1 = 2.0 * stream.next() - 1.0
    r2 = 2.0 * stream.next() - 1.0
    r3 = 2.0 * stream.next() - 1.0
    rho = math.sqrt(1.0 - r2 * r2)
    cap = _powf(fl32(1.0 - r3 * r3), _THIRD_F32)
    if isinstance(spread_rad, torch.Tensor):  # differentiable in the spread, same binary32 steps
        rot = cap_angle(spread_rad, cap)
        c, s = v3.cos(rot), v3.sin(rot)
    else:
        rot = fl32(fl32(spread_rad) * cap)
        c, s = math.cos(rot), math.sin(rot)
    vx = rho * math.sin(math.pi * r1)
    vy = rho * math.cos(math.pi * r1)
    vz = r2
    t = 1.0 - c
    return (
        c + t * vx * vx, t * vx * vy - s * vz, t * vx * vz + s * vy,
        t * vx * vy + s * vz, c + t * vy * vy, t * vy * vz - s * vx,
        t * vx * vz - s * vy, t * vy * vz + s * vx, c + t * vz * vz,
    )


def cap_angle(spread_rad: torch.Tensor, cap: float) -> torch.Tensor:
    """The rotation angle spread·cap of a tensor spread, formed in binary32 as the C does
    (Q26), with the derivative cap: a staircase of binary32 steps (6e-8 relative), which
    finite differences must step over (docs/gradients.md)."""
    return (spread_rad.to(torch.float32) * torch.tensor(cap, dtype=torch.float32)).double()


def domain_matrices(stream: UniformStream, spread_rad: float, count: int) -> List[Matrix]:
    """``count`` domains in order; domain 0 is replaced by the identity (Q26)."""
    mats = [random_rotation(stream, spread_rad) for _ in range(count)]
    if mats:
        mats[0] = IDENTITY
    return mats
