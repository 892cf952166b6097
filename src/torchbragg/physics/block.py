"""The (φ step × mosaic domain) block of one (layer, sub-pixel, source): layout [M, P].

Rows are the M = phisteps·domains evaluations in the C's order (φ outer, domain inner),
columns the P pixels of the chunk, so each evaluation's row is contiguous for the ordered
accumulation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from torchbragg.physics.lattice_factor import lattice_factor
from torchbragg.physics.plan import KernelPlan


@dataclass
class Block:
    h: torch.Tensor  # [M, P] fractional Miller indices
    k: torch.Tensor
    l: torch.Tensor
    h0: torch.Tensor  # [M, P] nearest nodes, ceil(x − 0.5)
    k0: torch.Tensor
    l0: torch.Tensor
    F_latt: torch.Tensor
    axes: Optional[tuple]  # SQUARE per-axis factors
    F_cell: torch.Tensor
    skip: torch.Tensor  # [M, P] evaluations that add nothing
    first_out_of_range: Optional[torch.Tensor]  # [P] flat index per pixel, −1 if none
    switch_off_hkl: Optional[tuple]
    #: nearest-node F everywhere (an ``on`` pass with the global switch-off, Q11)
    F_near: Optional[torch.Tensor] = None


def scattering_vector(d, source):
    """S = (d̂ − î)/λ in m⁻¹ for diffracted directions ``d`` (three [P]) and ``source`` =
    (î_x, î_y, î_z, λ in m)."""
    ix, iy, iz, lam = source
    return (d[0] - ix) / lam, (d[1] - iy) / lam, (d[2] - iz) / lam


def miller(S, table):
    """h = a·S (left to right: a_x S_x + a_y S_y + a_z S_z) for every row of ``table``."""
    Sx, Sy, Sz = S
    ax, ay, az = table
    return ax * Sx + ay * Sy + az * Sz


def low_dtype(plan):
    """The block dtype when it is lower than binary64 (binary32 mode), else None.

    Binary32 mode is mixed precision. In binary64: the Miller indices h = a·S (|h| reaches
    hundreds at high resolution, where a binary32 h is off by ~|h|·6e-8, and N·π times that
    in the lattice factor's argument; the products also cancel), their nearest nodes
    h0 = ceil(h − ½) (so F_cell comes from the same table entries as in float64 mode), the
    reduced arguments h − h0 (exact), the non-SQUARE lattice factors (see
    :func:`lattice_factor.lattice_factor`), the tricubic interpolation weights, and the term
    F_cell²·F_latt² (:func:`term`). In binary32: the SQUARE factors' sines on the reduced
    arguments (the bulk of the work: 6 sines per evaluation) and the structure-factor table.
    """
    return None if plan.dtype == torch.float64 else plan.dtype


def fractional_indices(plan: KernelPlan, S):
    """[M, P] fractional h, k, l for pixel scattering vectors ``S`` (three [P] tensors).

    ``S`` and the lattice tables are binary64 in both modes (see :func:`low_dtype`)."""
    S = tuple(x[None, :] for x in S)
    return tuple(miller(S, cols) for cols in plan.lat_cols)


def term(F_cell, F_latt, dtype):
    """F_cell²·F_latt² in ``dtype`` (binary64, the accumulator's): in binary32 the product
    underflows for faint evaluations (GAUSS tails), which the ``-oversample_*`` toggles can
    multiply back into view (Q14: the running sum is multiplied by Ω, P, capture each step)."""
    F_latt = F_latt.to(dtype)
    if isinstance(F_cell, torch.Tensor):  # (else one number: (F·F) once, the same roundings)
        F_cell = F_cell.to(dtype)
        if not (F_cell.requires_grad or F_latt.requires_grad):
            return (F_cell * F_cell).mul_(F_latt).mul_(F_latt)  # (in place: fewer temporaries)
    return F_cell * F_cell * F_latt * F_latt


def skip_mask(plan: KernelPlan, F_latt, culled):
    """Evaluations that add nothing: F_latt == 0 without water, or a d-min cut (§7.1)."""
    skip = None if plan.water_on else F_latt == 0
    if culled is not None:
        skip = culled[None, :].expand_as(F_latt) if skip is None else skip | culled[None, :]
    return torch.zeros_like(F_latt, dtype=torch.bool) if skip is None else skip


def block_accumulate(plan, d, source, culled, I, capture, polar, omega):
    """I after adding one source's (φ × domain) block: the hot path as one function.

    The same arithmetic, in the same order, as :func:`evaluate_block` + :func:`accumulate`,
    where no per-evaluation side information is needed (no trace, no printout, nearest-node
    F_cell, not the run's first φ loop); also the function the compiled packages contain
    (physics/compiled/). ``d``: the pixels' diffracted unit vectors (three [P], geometry
    dtype); ``source``: (î_x, î_y, î_z, λ) as 0-d tensors.
    """
    S = scattering_vector(d, source)
    h, k, l = fractional_indices(plan, S)  # binary64 in both modes (low_dtype)
    h0, k0, l0 = torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)
    # (only F_latt² is used here: the reduced form's exact ±1 is left out, same bits)
    F_latt, _ = lattice_factor(h, k, l, h0, k0, l0, plan.shape, shifted=plan.shifted_lattice,
                               low=low_dtype(plan), signed=False)
    skip = skip_mask(plan, F_latt, culled)
    F_cell = plan.sf.uniform_F()  # (one number without a table: no [M, P] fill)
    if F_cell is None:
        F_cell = plan.sf.nearest(h0, k0, l0)
    return accumulate(plan, I, term(F_cell, F_latt, I.dtype), skip, capture, polar, omega)


def evaluate_block(plan: KernelPlan, S, culled, policy, outer: int, fresh_row: int,
                   limit: int = -1) -> Block:
    """Miller indices, lattice and structure factors for one source (S in binary64).

    ``limit`` (≥ 0, an ``on`` pass): only pixels before it are interpolated — a pixel at or
    after an out-of-range evaluation of an earlier pixel of the chunk ends up nearest-node.
    """
    h, k, l = fractional_indices(plan, S)
    if fresh_row >= 0:  # the run's first φ loop (Q1): this pixel uses the fresh tables
        r = slice(fresh_row, fresh_row + 1)
        S_row = tuple(x[None, r] for x in S)
        fresh = [miller(S_row, cols) for cols in plan.first_cols]
        h, k, l = (torch.cat([x[:, :r.start], f, x[:, r.stop:]], dim=1)
                   for x, f in zip((h, k, l), fresh))
    # nearest node ceil(x − 0.5): exact halves go down (docs/behaviour/quirks.md Q33)
    h0, k0, l0 = torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)
    F_latt, axes = lattice_factor(h, k, l, h0, k0, l0, plan.shape, shifted=plan.shifted_lattice,
                                  low=low_dtype(plan))
    skip = skip_mask(plan, F_latt, culled)
    F_cell, first, hkl_at, near = _structure_factor(plan, policy, h, k, l, h0, k0, l0, skip,
                                                    outer, limit)
    return Block(h, k, l, h0, k0, l0, F_latt, axes, F_cell, skip, first, hkl_at, near)


def _structure_factor(plan, policy, h, k, l, h0, k0, l0, skip, outer, limit=-1):
    """F_cell per evaluation; in an ``on`` pass also the first out-of-range index per pixel
    and (with the global switch-off) the nearest-node F."""
    sf = plan.sf
    if not plan.interpolate or policy.mode == "off":
        return sf.nearest(h0, k0, l0), None, None, None
    M, P = h.shape
    if policy.mode == "split":
        nearest = sf.nearest(h0, k0, l0)
        oor = sf.out_of_interpolation_range(h, k, l)
        rows = outer * M + torch.arange(M, device=h.device)[:, None]
        cols = torch.arange(P, device=h.device)[None, :]
        before = (cols < policy.row) | ((cols == policy.row) & (rows < policy.index))
        use = before & ~oor
        hkl_at = None
        if policy.row < P and outer * M <= policy.index < (outer + 1) * M:
            m = policy.index - outer * M
            hkl_at = tuple(float(x[m, policy.row]) for x in (h, k, l, h0, k0, l0))
        return torch.where(use, sf.tricubic(h, k, l, use), nearest), None, hkl_at, None
    F_cell, nearest, oor = sf.interpolated(h, k, l, h0, k0, l0, limit)
    if not plan.interpolation_global_switch_off:
        return F_cell, None, None, None
    trig = oor & ~skip
    if trig.device.type == "cpu" and not bool(trig.any()):  # (no sync on a GPU)
        return F_cell, None, None, nearest
    hit = trig.any(dim=0)
    idx = torch.argmax(trig.to(torch.int8), dim=0)
    first = torch.where(hit, outer * M + idx, torch.full_like(idx, -1))
    return F_cell, first, None, nearest


def accumulate(plan: KernelPlan, I, term, skip, capture, polar, omega):
    """Add the M evaluations in order; with toggles multiply the running sum after each (Q14)."""
    toggles = plan.oversample_thick or plan.oversample_polar or plan.oversample_omega
    if not toggles:
        # (in place where no gradient needs the product: one pass fewer eagerly)
        term = (torch.where(skip, torch.zeros_like(term), term) if term.requires_grad
                else term.masked_fill_(skip, 0.0))
        for m in range(term.shape[0]):
            I = I + term[m]
        return I
    for m in range(term.shape[0]):
        new = I + term[m]
        if plan.oversample_thick:
            new = new * capture
        if plan.oversample_polar:
            new = new * polar
        if plan.oversample_omega:
            new = new * omega
        I = torch.where(skip[m], I, new)
    return I
