"""The hot path as one function: block evaluation + ordered accumulation.

Same arithmetic, in the same order, as :mod:`block`; used where no per-evaluation side
information is needed (no trace, no printout, interpolation off, not the run's first φ loop).
Run eagerly, or as an ahead-of-time compiled package (:mod:`aot`) selected by
``TORCHBRAGG_COMPILE``; any compile or load failure falls back to eager.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

import torch

from torchbragg.physics.block import (accumulate, fractional_indices, low_dtype,
                                      scattering_vector, skip_mask, term)
from torchbragg.physics.lattice_factor import lattice_factor


def block_accumulate(plan, d, source, culled, I, capture, polar, omega):
    """I after adding one source's (φ × domain) block (no interpolation).

    ``d``: the pixels' diffracted unit vectors (three [P], geometry dtype); ``source``:
    (î_x, î_y, î_z, λ) as 0-d tensors.
    """
    S = scattering_vector(d, source)
    h, k, l = fractional_indices(plan, S)  # binary64 in both modes (block.low_dtype)
    h0, k0, l0 = torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)
    # (only F_latt² is used here: the reduced form's exact ±1 is left out, same bits)
    F_latt, _ = lattice_factor(h, k, l, h0, k0, l0, plan.shape, shifted=plan.shifted_lattice,
                               low=low_dtype(plan), signed=False)
    skip = skip_mask(plan, F_latt, culled)
    F_cell = plan.sf.nearest(h0, k0, l0)
    return accumulate(plan, I, term(F_cell, F_latt, I.dtype), skip, capture, polar, omega)


#: evaluations (pixels × rows × sources × sub-pixels) from which ``auto`` builds missing
#: packages: eager needs ~50 ns per evaluation more than compiled on 2 cores, so a build
#: (~25 s per package) pays for itself within the run from about here
AUTO_BUILD_EVALUATIONS = 2e9
#: evaluations below which ``auto`` keeps the eager block even with packages at hand
MIN_COMPILED_EVALUATIONS = 1e6
#: evaluations from which a run that finds no package for its configuration says so on stderr
#: (eager takes seconds longer there)
NOTE_MISSING_EVALUATIONS = 1e7
MISSING_NOTE = ("no compiled kernel for this configuration in the cache yet: rendering eagerly "
                "(slower); `torchbragg --prepare ARGS…` builds it once (15 s to a few minutes), or "
                "TORCHBRAGG_COMPILE=on builds it on the next run")


def compile_mode() -> str:
    """``TORCHBRAGG_COMPILE``: ``auto`` (default: use compiled packages when cached and the run
    is not tiny, build them for very large runs), ``on`` (always compiled, building missing
    packages), or ``off`` (eager only)."""
    mode = os.environ.get("TORCHBRAGG_COMPILE", "auto").lower()
    return mode if mode in ("auto", "on", "off") else "auto"


def get_block_fn(plan, work: float, differentiable: bool = False,
                 notify: Optional[Callable[[str], None]] = None):
    """The block function for a run of ``work`` evaluations: compiled (CPU, no gradients, see
    :mod:`aot`) or eager."""
    build = _policy(work, differentiable or _continuous_n(plan))
    if build is None:
        return block_accumulate
    from torchbragg.physics.aot import block_paths, compiled_block

    fn = compiled_block(plan, block_accumulate, build, notify)
    if fn is not None:
        return fn
    if (not build and notify is not None and plan.device.type == "cpu"
            and work >= NOTE_MISSING_EVALUATIONS and not all(p.exists() for p in block_paths(plan))):
        notify(MISSING_NOTE)
    return block_accumulate


def get_chunk_fn(plan, work: float, differentiable: bool = False,
                 notify: Optional[Callable[[str], None]] = None):
    """A compiled whole-chunk function (:mod:`aot_chunk`) where the configuration allows one
    and the policy wants it, else None."""
    build = _policy(work, differentiable or _continuous_n(plan))
    if build is None:
        return None
    from torchbragg.physics.aot_chunk import compiled_chunk

    return compiled_chunk(plan, build, notify)


def _continuous_n(plan) -> bool:
    """A tensor N (lattice_factor.sincg_continuous): the packages take the C's form only."""
    return any(plan.shape.continuous)


def _policy(work: float, differentiable: bool) -> Optional[bool]:
    """None: stay eager; else whether missing packages are to be built."""
    mode = compile_mode()
    if mode == "off" or differentiable or (mode == "auto" and work < MIN_COMPILED_EVALUATIONS):
        return None
    return mode == "on" or work >= AUTO_BUILD_EVALUATIONS
