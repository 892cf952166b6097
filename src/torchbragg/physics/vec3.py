"""Three-vector arithmetic with the C reference's exact evaluation order
(docs/behaviour/physics.md §1.4, App. A).

A vector is a tuple of three scalars. A scalar is a Python float (set-up, bit-identical to the
C library) or a 0-dim torch tensor (differentiable set-up); the elementary functions below
dispatch on the type, so the same set-up code serves both.
"""
from __future__ import annotations

import math
from typing import Tuple, Union

import torch

from torchbragg.physics import ieee

Scalar = Union[float, torch.Tensor]
Vec3 = Tuple[Scalar, Scalar, Scalar]

#: Degrees per radian as the C computes it; conversions divide by it
#: (docs/behaviour/physics.md §1.2).
RTD = 180.0 * (1.0 / math.pi)
#: Smallest normal double, the C's DBL_MIN.
DBL_MIN = 2.2250738585072014e-308


def _libm(x: torch.Tensor, value: torch.Tensor, exact) -> torch.Tensor:
    """``value`` (torch's, with its graph) moved onto the C library's result ``exact(x)`` for a
    0-dim tensor: torch's CPU sine and cosine differ from glibc's in the last bit for ~0.2 %
    of arguments, and the set-up must give the float path's bytes (docs/gradients.md)."""
    if x.dim() != 0:
        return value
    target = value.new_tensor(exact(float(x.detach())))
    return value + (target - value.detach())  # (the difference is exact: same binade)


def sin(x: Scalar) -> Scalar:
    return _libm(x, torch.sin(x), math.sin) if isinstance(x, torch.Tensor) else math.sin(x)


def cos(x: Scalar) -> Scalar:
    return _libm(x, torch.cos(x), math.cos) if isinstance(x, torch.Tensor) else math.cos(x)


def div(x: Scalar, y: Scalar) -> Scalar:
    """``x / y`` as one IEEE division also when only ``y`` is a tensor (torch evaluates
    ``number / tensor`` as ``number · (1/tensor)``: two roundings)."""
    if isinstance(y, torch.Tensor) and not isinstance(x, torch.Tensor):
        return y.new_tensor(x) / y
    return x / y


def sqrt(x: Scalar) -> Scalar:
    if isinstance(x, torch.Tensor):
        return ieee.sqrt(x)
    return math.sqrt(x) if x >= 0 else math.nan


def atan2(y: Scalar, x: Scalar) -> Scalar:
    if isinstance(y, torch.Tensor) or isinstance(x, torch.Tensor):
        return torch.atan2(torch.as_tensor(y), torch.as_tensor(x))
    return math.atan2(y, x)


def dot(u: Vec3, v: Vec3) -> Scalar:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def cross(u: Vec3, v: Vec3) -> Vec3:
    return (
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    )


def magnitude(v: Vec3) -> Scalar:
    return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def unit(v: Vec3) -> Vec3:
    """``v/|v|`` dividing each component; the zero vector stays zero (no error)."""
    m = magnitude(v)
    if not isinstance(m, torch.Tensor) and m == 0.0:
        return (v[0], v[1], v[2])
    return (div(v[0], m), div(v[1], m), div(v[2], m))


def scale(v: Vec3, s: Scalar) -> Vec3:
    return (v[0] * s, v[1] * s, v[2] * s)


def add(u: Vec3, v: Vec3) -> Vec3:
    return (u[0] + v[0], u[1] + v[1], u[2] + v[2])


def neg(v: Vec3) -> Vec3:
    return (-v[0], -v[1], -v[2])


def rescale(v: Vec3, length: Scalar) -> Vec3:
    """``v ← (length/|v|)·v`` with |v| ≤ 0 treated as 1 (docs/behaviour/physics.md §2.5)."""
    m = magnitude(v)
    if not isinstance(m, torch.Tensor) and m <= 0.0:
        m = 1.0
    factor = div(length, m)
    return scale(v, factor)


def rotate_xyz(v: Vec3, rx: Scalar, ry: Scalar, rz: Scalar) -> Vec3:
    """(R1) about lab x, then y, then z, right-handed; a step is skipped when its angle is 0."""
    x, y, z = v
    if _nonzero(rx):
        c, s = cos(rx), sin(rx)
        y, z = y * c - z * s, y * s + z * c
    if _nonzero(ry):
        c, s = cos(ry), sin(ry)
        x, z = x * c + z * s, -x * s + z * c
    if _nonzero(rz):
        c, s = cos(rz), sin(rz)
        x, y = x * c - y * s, x * s + y * c
    return (x, y, z)


def rotate_axis(v: Vec3, axis: Vec3, phi: Scalar) -> Vec3:
    """(R2) Rodrigues rotation of ``v`` by ``phi`` about ``axis`` (assumed unit, not normalised)."""
    c, s = cos(phi), sin(phi)
    d = (axis[0] * v[0] + axis[1] * v[1] + axis[2] * v[2]) * (1.0 - c)
    return (
        axis[0] * d + v[0] * c + (-axis[2] * v[1] + axis[1] * v[2]) * s,
        axis[1] * d + v[1] * c + (axis[2] * v[0] - axis[0] * v[2]) * s,
        axis[2] * d + v[2] * c + (-axis[1] * v[0] + axis[0] * v[1]) * s,
    )


def mat_apply(u: tuple, v: Vec3) -> Vec3:
    """(R3) row-major 3x3 matrix (9 scalars) times a vector."""
    return (
        u[0] * v[0] + u[1] * v[1] + u[2] * v[2],
        u[3] * v[0] + u[4] * v[1] + u[5] * v[2],
        u[6] * v[0] + u[7] * v[1] + u[8] * v[2],
    )


def _nonzero(angle: Scalar) -> bool:
    if isinstance(angle, torch.Tensor):
        return bool(angle.detach() != 0) or angle.requires_grad
    return angle != 0.0
