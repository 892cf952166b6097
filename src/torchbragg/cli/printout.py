"""``-printout`` / ``-printout_pixel``: the per-pixel diagnostic block (io.md §12)."""
from __future__ import annotations

import math
from typing import List

import torch

from torchbragg.cli.report import _vec_rows


def printout_selector(state):
    """A predicate over (slow, fast) tensors: which rendered pixels print a block."""
    if state.printout_pixel is None or state.printout_pixel[0] < 0:
        return lambda s, f: torch.ones_like(s, dtype=torch.bool)
    fast, slow = state.printout_pixel
    return lambda s, f: (s == slow) & (f == fast)


def printout_lines(blocks, plan, exp) -> List[str]:
    """Blocks in render order; values are those left by each pixel's last evaluation."""
    out: List[str] = []
    lam0 = exp.config.beam.wavelength_m
    M = plan.lat_a.shape[0]
    vecs = [tuple(plan.lat_a[M - 1].tolist()), tuple(plan.lat_b[M - 1].tolist()),
            tuple(plan.lat_c[M - 1].tolist())]
    for s_t, f_t, last in blocks:
        for r in range(s_t.numel()):
            x, y, z = (float(v[r]) for v in last["pos"])
            Sx, Sy, Sz = (float(v[r]) for v in last["S"])
            stol = 0.5 * math.sqrt(Sx * Sx + Sy * Sy + Sz * Sz)
            theta = 0.5 * math.atan2(math.sqrt(y * y + z * z), x)
            s2 = math.sin(theta) / (lam0 * 1e10)
            h, k, l, h0, k0, l0 = (float(v[r]) for v in last["hkl"])
            I = float(last["I"][r])
            out.append("%4d %4d : stol = %g or %g" % (int(f_t[r]), int(s_t[r]), stol, s2))
            out.append("at %g %g %g" % (x, y, z))
            out.append("hkl= %f %f %f  hkl0= %d %d %d" % (h, k, l, h0, k0, l0))
            out.append(" F_cell=%g  F_latt=%g   I = %g" % (float(last["F_cell"][r]),
                                                         float(last["F_latt"][r]), I))
            out.append("I/steps %15.10g" % (I / plan.steps))
            out.append("polar   %15.10g" % float(last["polar"][r]))
            out.append("omega   %15.10g" % float(last["omega"][r]))
            out.append("capfrac %15.10g" % float(last["capture"][r]))
            out.append("pixel   %15.10g" % float(last["value"][r].to(torch.float32)))
            out.append("real-space cell vectors (Angstrom):")
            out.append("     " + "  ".join("%-10s" % n for n in ("a", "b", "c")))
            out.extend(_vec_rows(*vecs, 1e10))
    return out
