"""The hot path as one function for ``torch.compile``: block evaluation + ordered accumulation.

Same arithmetic, in the same order, as :mod:`block` (eager); used only where no per-evaluation
side information is needed (no trace, no printout, interpolation off, not the run's first
φ loop). Compilation happens lazily, once per process and plan shape; any failure falls back
to eager for the rest of the run.
"""
from __future__ import annotations

import os

import torch

from torchbragg.physics.block import accumulate, fractional_indices, skip_mask
from torchbragg.physics.lattice_factor import lattice_factor


def block_accumulate(plan, Sx, Sy, Sz, culled, I, capture, polar, omega):
    """I after adding one source's (φ × domain) block (no interpolation)."""
    h, k, l = fractional_indices(plan, (Sx, Sy, Sz))
    h0, k0, l0 = torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)
    F_latt, _ = lattice_factor(h, k, l, h0, k0, l0, plan.shape, shifted=plan.shifted_lattice)
    skip = skip_mask(plan, F_latt, culled)
    F_cell = plan.sf.nearest(h0, k0, l0)
    term = (F_cell * F_cell * F_latt * F_latt).to(I.dtype)
    return accumulate(plan, I, term, skip, capture, polar, omega)


_COMPILED = {}


def compile_mode() -> str:
    """``TORCHBRAGG_COMPILE``: ``off`` (default: bit parity with the C), ``on``, or ``auto``
    (compile only runs of more than 2e8 evaluations, where compile time pays off)."""
    return os.environ.get("TORCHBRAGG_COMPILE", "off").lower()


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
