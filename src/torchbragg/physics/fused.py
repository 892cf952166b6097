"""The hot path as one function for ``torch.compile``: block evaluation + ordered accumulation.

Same arithmetic, in the same order, as :mod:`block` (eager); used only where no per-evaluation
side information is needed (no trace, no printout, interpolation off, not the run's first
φ loop). Compilation happens lazily, once per process and plan shape; any failure falls back
to eager for the rest of the run.
"""
from __future__ import annotations

import os

import torch

from torchbragg.physics.block import accumulate
from torchbragg.physics.lattice_factor import lattice_factor


def block_accumulate(plan, Sx, Sy, Sz, culled, I, capture, polar, omega):
    """I after adding one source's (φ × domain) block (no interpolation)."""
    Sx, Sy, Sz = Sx[None, :], Sy[None, :], Sz[None, :]
    c = plan.lat_cols
    h = c[0][0] * Sx + c[0][1] * Sy + c[0][2] * Sz
    k = c[1][0] * Sx + c[1][1] * Sy + c[1][2] * Sz
    l = c[2][0] * Sx + c[2][1] * Sy + c[2][2] * Sz
    h0, k0, l0 = torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)
    F_latt, _ = lattice_factor(h, k, l, h0, k0, l0, plan.shape, shifted=plan.shifted_lattice)
    skip = None if plan.water_on else F_latt == 0
    if culled is not None:
        skip = culled[None, :].expand_as(h) if skip is None else skip | culled[None, :]
    if skip is None:
        skip = torch.zeros_like(h, dtype=torch.bool)
    F_cell = plan.sf.nearest(h0, k0, l0)
    term = (F_cell * F_cell * F_latt * F_latt).to(I.dtype)
    return accumulate(plan, I, term, skip, capture, polar, omega)


_COMPILED = {}


def compile_mode() -> str:
    """``TORCHBRAGG_COMPILE``: ``on``, ``off`` or ``auto`` (default: big images only)."""
    return os.environ.get("TORCHBRAGG_COMPILE", "auto").lower()


def get_block_fn(plan, work: int):
    """The compiled block function when worth it (``work`` = pixel·evaluations), else eager."""
    mode = compile_mode()
    if mode == "off" or (mode == "auto" and work < 2e8):
        return block_accumulate
    key = id(plan)
    if key not in _COMPILED:
        try:
            _COMPILED[key] = torch.compile(block_accumulate, dynamic=False, fullgraph=False)
        except Exception:  # pragma: no cover - compile unavailable: stay eager
            _COMPILED[key] = block_accumulate
    return _COMPILED[key]
