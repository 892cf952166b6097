"""What the C's loop variables hold after each pixel: the values ``-printout`` prints.

The C keeps h, k, l, their nearest nodes, F_latt, F_cell and the rotated cell vectors in
variables that persist across pixels (docs/behaviour/quirks.md, printout). A pixel whose sources are
all cut by ``-dmin`` therefore prints the values of the last evaluation of an *earlier* pixel,
and F_cell is the last one computed (evaluations skipped for F_latt = 0 compute none). Before
the first evaluation of the run they hold what the set-up left (:func:`initial_carry`).

:class:`LastEvaluation` is ``-printout``'s recorder (:mod:`~torchbragg.physics.recorder`):
the kernel has it record, per pixel of a chunk, the values of the pixel's own last evaluations
and whether it had any (:class:`Leftovers`); :func:`fill_forward` then takes the missing ones
from the pixels before it, in the C's pixel order, and from the previous chunk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch

from torchbragg.physics.recorder import Recorder

#: columns of ``Leftovers.evaluation``: h, k, l, h0, k0, l0, F_latt, then a, b, c (metres)
EVAL_COLUMNS = 16


@dataclass
class Leftovers:
    """Per-pixel values [P] of one chunk, in the per-pixel (geometry) dtype."""

    pos: Tuple[torch.Tensor, ...]  # last sub-pixel position (m)
    S: Tuple[torch.Tensor, ...]  # last source's scattering vector (m⁻¹)
    evaluation: torch.Tensor  # [P, EVAL_COLUMNS] from the last evaluation not cut by -dmin
    evaluated: torch.Tensor  # [P] bool: the pixel had such an evaluation
    F_cell: torch.Tensor  # [P] the last F_cell computed (F_latt ≠ 0 or water)
    F_cell_set: torch.Tensor  # [P] bool

    @classmethod
    def empty(cls, P: int, dtype: torch.dtype, device) -> "Leftovers":
        zeros = torch.zeros(P, dtype=dtype, device=device)
        no = torch.zeros(P, dtype=torch.bool, device=device)
        return cls((zeros,) * 3, (zeros,) * 3,
                   torch.zeros((P, EVAL_COLUMNS), dtype=dtype, device=device), no, zeros, no)

    def record(self, plan, pos, S, blk, culled: Optional[torch.Tensor], fresh_row: int) -> None:
        """Update with one (layer, sub-pixel, source) block: ``blk`` rows are the M
        evaluations in order; ``fresh_row`` (or −1) is the pixel running the first φ loop."""
        dt = self.evaluation.dtype
        self.pos, self.S = pos, S
        live = ~culled if culled is not None else torch.ones_like(self.evaluated)
        row = torch.stack([x[-1].to(dt) for x in (blk.h, blk.k, blk.l, blk.h0, blk.k0, blk.l0,
                                                  blk.F_latt)], dim=1)
        vectors = _last_vectors(plan.lat_a, plan.lat_b, plan.lat_c, dt).expand(row.shape[0], 9)
        if fresh_row >= 0:
            vectors = vectors.clone()
            vectors[fresh_row] = _last_vectors(*plan.first_lat, dt)[0]
        self.evaluation = torch.where(live[:, None], torch.cat([row, vectors], dim=1),
                                      self.evaluation)
        self.evaluated = self.evaluated | live
        computed = ~blk.skip
        M = computed.shape[0]
        last = M - 1 - torch.argmax(computed.flip(0).to(torch.int8), dim=0)
        F = blk.F_cell.gather(0, last[None, :])[0].to(dt)
        has = computed.any(dim=0)
        self.F_cell = torch.where(has, F, self.F_cell)
        self.F_cell_set = self.F_cell_set | has


def _last_vectors(a, b, c, dtype) -> torch.Tensor:
    """[1, 9]: the cell vectors of the last (φ, domain) row of a table."""
    return torch.cat([a[-1], b[-1], c[-1]]).to(dtype)[None, :]


def initial_carry(a0, b0, c0, reader: Optional[tuple], dtype=torch.float64, device="cpu"):
    """The values before any evaluation: the set-up cell vectors, F_latt = 0, and what the HKL
    reader left (``reader`` = (h, k, l) of pass 1's last record, (h, k, l, F) of pass 2's, or
    None): h, k, l from pass 1, F_cell and l0 from pass 2, h0 = k0 = 6 (observed; left by the
    C's set-up loops, docs/behaviour/quirks.md)."""
    h = k = l = F = l0 = 0.0
    if reader is not None:
        (h, k, l), (_, _, l0, F) = reader
    evaluation = torch.tensor([h, k, l, 6.0, 6.0, float(l0), 0.0, *a0, *b0, *c0], dtype=dtype,
                              device=device)
    return evaluation, torch.tensor(float(F), dtype=dtype, device=device)


def fill_forward(left: Leftovers, carry):
    """Missing values taken from the previous pixel that had them, else from ``carry`` (the
    state after the previous chunk). Returns (evaluation [P, 16], F_cell [P], new carry)."""
    evaluation = _fill(left.evaluation, left.evaluated, carry[0])
    F_cell = _fill(left.F_cell[:, None], left.F_cell_set, carry[1][None])[:, 0]
    return evaluation, F_cell, (evaluation[-1], F_cell[-1])


def _fill(values: torch.Tensor, is_set: torch.Tensor, carry: torch.Tensor) -> torch.Tensor:
    P = values.shape[0]
    idx = torch.where(is_set, torch.arange(P, device=values.device), torch.full_like(
        is_set, -1, dtype=torch.long))
    idx = torch.cummax(idx, dim=0).values
    return torch.where((idx >= 0)[:, None], values[idx.clamp(min=0)], carry[None, :])


class LastEvaluation(Recorder):
    """``-printout``'s recorder: each selected pixel's values, in pixel order, to ``emit``.

    ``initial``: the values before the run's first evaluation (:func:`initial_carry`);
    ``select(s, f)``: the [P] mask of the pixels that print; ``emit(slow, fast, values)``
    receives a pixel's values as Python floats (docs/behaviour/formats.md §12).
    """

    def __init__(self, initial, select: Callable, emit: Callable[[int, int, dict], None]):
        self.carry = initial  # the C's variables after the chunks written so far
        self.select, self.write = select, emit

    def for_chunk(self, plan, s, f) -> Recorder:
        return _ChunkLast(self, plan, s, f)


class _ChunkLast(Recorder):
    """One kernel call's :class:`Leftovers` and the pixels' own factors."""

    needs_evaluations = True

    def __init__(self, owner: LastEvaluation, plan, s, f):
        self.owner, self.s, self.f = owner, s, f
        self.left = Leftovers.empty(s.shape[0], plan.geom_dtype, plan.device)
        self.rows: Optional[list] = None  # the printing rows not yet written
        self.factors: dict = {}
        self.filled: tuple = ()

    def block(self, plan, k, pos, S, blk, culled, fresh):
        self.left.record(plan, pos, S, blk, culled, fresh)

    def finish(self, plan, I, capture, polar, omega, incident, d, value):
        self.factors = dict(I=I, polar=polar, omega=omega, capture=capture, value=value)

    def emit(self, stop=None):
        if self.rows is None:  # the chunk's first output: its values follow the carry
            evaluation, F_cell, self.owner.carry = fill_forward(self.left, self.owner.carry)
            self.filled = (evaluation, F_cell)
            self.rows = torch.nonzero(self.owner.select(self.s, self.f)).reshape(-1).tolist()
        done = len(self.rows) if stop is None else sum(1 for r in self.rows if r < stop)
        for r in self.rows[:done]:
            self.owner.write(int(self.s[r]), int(self.f[r]), self.pixel_values(r))
        self.rows = self.rows[done:]

    def pixel_values(self, r: int) -> dict:
        """Row ``r``'s printout values as Python floats (docs/behaviour/formats.md §12)."""
        evaluation, F_cell = self.filled
        out = {key: float(self.factors[key][r]) for key in ("I", "polar", "omega", "capture")}
        out["value"] = float(self.factors["value"][r].to(torch.float32))
        out["pos"] = tuple(float(x[r]) for x in self.left.pos)
        out["S"] = tuple(float(x[r]) for x in self.left.S)
        row = evaluation[r].tolist()
        out["hkl"], out["F_latt"], out["vectors"] = tuple(row[:6]), row[6], tuple(row[7:])
        out["F_cell"] = float(F_cell[r])
        return out
