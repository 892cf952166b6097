"""Lattice transform F_latt for the four crystal shapes (docs/behaviour/physics.md §2.7), on
tensors."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from torchbragg.physics import ieee

ROUND_NORM = 0.723601254558268
GAUSS_WIDTH = 0.63
TOPHAT_CUTOFF = 0.3969


@dataclass(frozen=True)
class ShapeParams:
    shape: str  # SQUARE, ROUND, GAUSS, TOPHAT
    Na: float
    Nb: float
    Nc: float
    fudge: float
    a_star: Tuple[float, float, float]  # Å⁻¹ (fixed, Q17)
    b_star: Tuple[float, float, float]
    c_star: Tuple[float, float, float]
    #: per axis: N was given as a tensor (continuous N, :func:`sincg_continuous`)
    continuous: Tuple[bool, bool, bool] = (False, False, False)
    #: per axis: that tensor's value as a float when it is a whole number, else None
    whole: Tuple[Optional[float], Optional[float], Optional[float]] = (None, None, None)


def _differentiable(*xs) -> bool:
    return torch.is_grad_enabled() and any(isinstance(x, torch.Tensor) and x.requires_grad
                                           for x in xs)


def _safe(x: torch.Tensor, at_zero: torch.Tensor) -> torch.Tensor:
    """x with its zeros replaced by 1, so the unselected branch of a ``where`` has finite
    gradients (only when gradients are being recorded; values are unchanged where used)."""
    return torch.where(at_zero, torch.ones_like(x), x)


def sincg(x: torch.Tensor, n) -> torch.Tensor:
    """``sin(x·N)/sin(x)``, and N at x == 0."""
    zero = x == 0
    if not isinstance(n, torch.Tensor) and not _differentiable(x):
        # (the same operations, in place on the temporaries: fewer passes eagerly)
        return torch.sin(x * n).div_(torch.sin(x)).masked_fill_(zero, n)
    xs = _safe(x, zero) if _differentiable(x, n) else x
    at_zero = n * torch.ones_like(x) if isinstance(n, torch.Tensor) else torch.full_like(x, n)
    return torch.where(zero, at_zero, torch.sin(xs * n) / torch.sin(xs))


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """``3·(sin(x)/x − cos(x))/x²``, and 1 at x == 0."""
    zero = x == 0
    xs = _safe(x, zero) if _differentiable(x) else x
    value = 3.0 * (torch.sin(xs) / xs - torch.cos(xs)) / (xs * xs)
    return torch.where(zero, torch.ones_like(x), value)


def sincg_continuous(x: torch.Tensor, x0: torch.Tensor, n: torch.Tensor,
                     whole: Optional[float] = None) -> torch.Tensor:
    """The SQUARE factor for a continuous (tensor) N: bounded and smooth between integers.

    With δ = x − x0 ∈ [−½, ½] (x0 the nearest node) and N_r = round(N):

        F(x, N) = (−1)^((N_r − 1)·x0) · sin(N·π·δ)/sin(π·δ)        (N at δ = 0)

    For whole-number N this *is* the C's ``sin(N·π·x)/sin(π·x)`` (the identity of
    :func:`sincg_shifted`), and then the C's form gives the value, to the bit (``whole``),
    with this one's derivative in N. Between integers |F| ≤ N (|sin(N·u)| ≤ N·sin(u) for
    0 ≤ u ≤ π/2), F² is smooth in x and N near every node, and continuous at the half-integer
    cells' edges, where its slope in x jumps by 2·N·π·sin(N·π) against a peak of N². (The
    C's form itself has poles at every node x0 ≠ 0 for non-integer N.)
    """
    d = x - x0
    zero = d == 0
    u = math.pi * _safe(d, zero)
    den = torch.sin(u)

    def reduced(m):
        return torch.where(zero, m.to(d.dtype), torch.sin(u * m) / den)

    nr = torch.round(n.detach())
    sign = 1.0 - 2.0 * torch.remainder((nr - 1.0) * x0, 2.0)
    if whole is None:
        return sign * reduced(n)
    # the C's value; the difference term is exactly 0 and carries d/dN
    return sincg(math.pi * x, whole) + sign * (reduced(n) - reduced(n.detach()))


def sincg_shifted(x: torch.Tensor, x0: torch.Tensor, n: float, low=None,
                  signed: bool = True) -> torch.Tensor:
    """``sincg(π·x, N)`` for whole-number N from reduced arguments (binary32 mode).

    With δ = x − x0 ∈ [−½, ½] and N·δ = m + r (m the nearest integer, r ∈ [−½, ½]):

        sin(N·π·x)/sin(π·x) = (−1)^(m + (N−1)·x0) · sin(π·r)/sin(π·δ)

    Mathematically identical to the C's ``sin(N·π·x)/sin(π·x)``. δ, N·δ, m, r and the sign
    are formed in the indices' dtype (binary64; δ and r are exact there but for the rounding
    of N·δ), and only the two sines and their quotient in ``low`` (binary32): both sines then
    have arguments of at most π/2 known to binary32's relative precision, so the factor keeps
    it everywhere — at the centre of a spot and near the zeros of sin(N·π·x) alike. (The
    plain form in binary32 is off by ~|N·x|·6e-8 in the argument: 1e-4 relative at high
    resolution; sin(N·π·δ) still by ~N·6e-8, 1e-5 relative near its zeros.)

    ``signed=False`` leaves out the factor (−1)^…: where only F_latt² is used (the fused
    block) the result is the same to the bit, since a sign change is exact.
    """
    d = x - x0
    t = d * n
    m = torch.round(t)
    grad = _differentiable(x, x0)
    r = t - m if grad else t.sub_(m)
    if low is not None:
        d, r = d.to(low), r.to(low)
    zero = d == 0
    if grad:
        value = torch.sin(math.pi * r) / torch.sin(math.pi * _safe(d, zero))
    else:  # (the same operations in place on the temporaries: faster eagerly)
        value = torch.sin(r.mul_(math.pi)).div_(torch.sin(d.mul_(math.pi)))
    value = torch.where(zero, n, value)
    if not signed:
        return value
    parity = torch.remainder(m + (n - 1.0) * x0, 2.0)
    sign = 1.0 - 2.0 * parity  # +1 for even, −1 for odd
    return value * (sign.to(low) if low is not None else sign)


def square_factors(h, k, l, h0, k0, l0, p: ShapeParams, shifted: bool = False, low=None,
                   signed: bool = True):
    """Per-axis SQUARE factors (exactly 1 for an axis with N ≤ 1, Q18)."""
    one = torch.ones_like(h, dtype=low or h.dtype)
    out = []
    for x, x0, n, cont, whole in zip((h, k, l), (h0, k0, l0), (p.Na, p.Nb, p.Nc),
                                     p.continuous, p.whole):
        if cont:  # (binary32 mode: in binary64, then rounded)
            factor = sincg_continuous(x, x0, n, whole)
            out.append(factor.to(low) if low is not None else factor)
        elif not isinstance(n, torch.Tensor) and n <= 1:
            out.append(one)
        elif shifted:
            out.append(sincg_shifted(x, x0, n, low, signed))
        elif low is not None:  # (N as a package input, binary32 mode) in binary64
            out.append(sincg(math.pi * x, n).to(low))
        else:
            out.append(sincg(math.pi * x, n))
    return tuple(out)


def lattice_factor(h, k, l, h0, k0, l0, p: ShapeParams, shifted: bool = False, low=None,
                   signed: bool = True):
    """F_latt and, for SQUARE, the three axis factors (else None).

    ``shifted`` selects the reduced-argument form of the SQUARE factors (binary32 mode); the
    default is the C's own evaluation (bit parity in binary64).

    ``low``: the block dtype of binary32 mode, where the indices h, k, l, h0, k0, l0 are
    binary64 (see :func:`block.fractional_indices`). SQUARE factors are then evaluated in
    ``low`` on the reduced arguments (:func:`sincg_shifted`). The other shapes are evaluated
    in binary64, exactly as in float64 mode, and returned in binary64: each costs one
    transcendental per evaluation, ROUND's ``sin(x)/x − cos(x)`` cancels at the centre of a
    spot (binary32 loses ~6e-8/x² there), and GAUSS's underflow of ``exp`` and TOPHAT's cut-off
    decide F_latt == 0, which skips an evaluation (and, with ``-oversample_*``, the
    multiplication of the running sum, Q14): their skip mask and term are then those of
    float64 mode.

    ``signed=False``: the reduced SQUARE factors without their exact ±1 (see
    :func:`sincg_shifted`), for callers that use only F_latt².
    """
    if p.shape == "SQUARE":
        fa, fb, fc = square_factors(h, k, l, h0, k0, l0, p, shifted, low, signed)
        return fa * fb * fc, (fa, fb, fc)
    dh, dk, dl = h - h0, k - k0, l - l0
    nabc = p.Na * p.Nb * p.Nc
    if p.shape == "ROUND":
        hrad2 = dh * dh * p.Na * p.Na + dk * dk * p.Nb * p.Nb + dl * dl * p.Nc * p.Nc
        arg = hrad2 * p.fudge
        if _differentiable(arg):  # sqrt has an infinite slope at 0: keep the graph finite
            zero = arg == 0
            root = torch.where(zero, torch.zeros_like(arg), ieee.sqrt(_safe(arg, zero)))
        else:
            root = ieee.sqrt(arg)
        return nabc * ROUND_NORM * sinc3(math.pi * root), None
    a, b, c = p.a_star, p.b_star, p.c_star
    dx = dh * a[0] + dk * b[0] + dl * c[0]
    dy = dh * a[1] + dk * b[1] + dl * c[1]
    dz = dh * a[2] + dk * b[2] + dl * c[2]
    rstar2 = (dx * dx + dy * dy + dz * dz) * p.Na * p.Na * p.Nb * p.Nb * p.Nc * p.Nc
    if p.shape == "GAUSS":
        return nabc * torch.exp(-(rstar2 / GAUSS_WIDTH * p.fudge)), None
    inside = rstar2 * p.fudge < TOPHAT_CUTOFF
    return torch.where(inside, nabc * torch.ones_like(h), torch.zeros_like(h)), None
