"""IEEE-exact elementary operations where torch's CPU kernels are not.

``torch.sqrt`` on the CPU goes through MKL's VML, whose binary64 result is 1 ulp away from
the correctly rounded square root (what the C library and the CPU instruction return) for
about 1 % of arguments. :func:`sqrt` returns the correctly rounded root.
"""
from __future__ import annotations

import numpy as np
import torch

#: Veltkamp splitting constant for binary64: 2^27 + 1
_SPLIT64 = 134217729.0
#: for binary32: 2^12 + 1
_SPLIT32 = 4097.0


def sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded square root (as C's ``sqrt``), with torch.sqrt's gradient.

    Eager CPU tensors use NumPy's square root (the CPU's IEEE instruction, ~30x cheaper than
    the correction below); inside a graph being exported for compilation, and on devices
    other than CUDA (whose hardware root is already exact), ``torch.sqrt`` is corrected with
    :func:`_corrected`.
    """
    if x.device.type == "cuda":
        return torch.sqrt(x)
    xd = x.detach()
    if x.device.type == "cpu" and not torch.compiler.is_compiling():
        exact = torch.empty_like(xd)
        with np.errstate(invalid="ignore"):  # √(negative) is NaN, as in C, without a warning
            np.sqrt(xd.numpy(), out=exact.numpy())
    else:
        with torch.no_grad():
            exact = _corrected(torch.sqrt(xd), xd)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return exact
    r = torch.sqrt(x)
    return r + (exact - r.detach())


def _corrected(rd: torch.Tensor, xd: torch.Tensor) -> torch.Tensor:
    """``rd`` (within 1 ulp of √xd) moved to the correctly rounded root.

    The residual ``x − r²`` is computed exactly (Dekker's product, no FMA) and ``r`` moves one
    ulp up or down when ``x`` lies beyond the midpoint to its neighbour:
    ``(r ± u/2)² = r² ± r·u + u²/4`` with ``u`` the ulp on that side.
    """
    split = _SPLIT64 if rd.dtype == torch.float64 else _SPLIT32
    t = rd * split
    hi = t - (t - rd)
    lo = rd - hi
    p = rd * rd
    e = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo  # r·r = p + e exactly
    res = (xd - p) - e  # x − r²
    inf = torch.full_like(rd, float("inf"))
    up = torch.nextafter(rd, inf)
    down = torch.nextafter(rd, -inf)
    u_up = up - rd
    u_down = rd - down
    go_up = res > rd * u_up + 0.25 * u_up * u_up
    go_down = res < -(rd * u_down) + 0.25 * u_down * u_down
    fixed = torch.where(go_up, up, torch.where(go_down, down, rd))
    return torch.where(torch.isfinite(rd) & (rd > 0), fixed, rd)
