"""The compiled hot block: :func:`block.block_accumulate` as packages (:mod:`.packages`).

The block function is exported with the pixel count and the structure-factor grid size
dynamic and every run-dependent number as an input. It is the same function as the eager
path, so the arithmetic is the same operation by operation; the tests compare both bit for
bit.

One package serves a key (:class:`parts.PlanKey`: the static part of the block's plan fields
— block dtype, crystal shape, SQUARE axes with N ≤ 1, toggles, … — and a number of (φ,
domain) rows); a run's M rows are covered by pieces of 8, 4, 2 and 1 rows in order, the
accumulator carried from piece to piece (same additions, same order).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from torchbragg.physics.block import block_accumulate
from torchbragg.physics.compiled import packages, parts

#: row counts of the packages; M is split greedily into these, largest first
PIECES = (8, 4, 2, 1)


class BlockModule(torch.nn.Module):
    """``block_accumulate`` of the plan rebuilt from ``key`` and the inputs ``tensors``
    (:func:`parts.split`).

    ``dx, dy, dz``: binary64 [P] diffracted directions; ``source``: binary64 [4] (î, λ);
    ``I``, ``capture``, ``polar``, ``omega``: binary64 [P]; ``culled``: bool [P] (with
    ``-dmin``).
    """

    def __init__(self, key: parts.PlanKey):
        super().__init__()
        self.key = key

    def forward(self, dx, dy, dz, source, I, capture, polar, omega, tensors, culled=None):
        plan = parts.rebuild(self.key, tensors)
        src = (source[0], source[1], source[2], source[3])
        return block_accumulate(plan, (dx, dy, dz), src, culled, I, capture, polar, omega)


def key_of(plan, culled: bool) -> parts.PlanKey:
    """The key of the block package for ``plan`` (its rows: one piece)."""
    return parts.split(plan, parts.BLOCK, culled=culled)[0]


def build(piece, culled: bool, path: Path, cache: Path) -> None:
    """Export and compile the block package of ``piece`` (a plan restricted to one piece of
    rows; 10–55 s), written atomically to ``path``."""
    key, tensors = parts.split(piece, parts.BLOCK, culled=culled)
    n = packages.EXAMPLE_PIXELS
    f64 = torch.float64
    d = [torch.linspace(-0.3, 0.4, n, dtype=f64) + k for k in range(3)]
    acc = [torch.full((n,), v, dtype=f64) for v in (0.0, 1.0, 1.0, 1.0)]
    args = [*d, torch.tensor([0.0, 0.0, 1.0, 1e-10], dtype=f64), *acc, tensors]
    per_pixel = {0: torch.export.Dim("pixels", min=packages.MIN_PIXELS)}
    grid = torch.export.Dim("grid", min=packages.MIN_PIXELS)
    dynamic = [per_pixel] * 3 + [None] + [per_pixel] * 4 + [parts.dynamic_shapes(key, {"sf": grid})]
    if culled:
        args.append(torch.zeros(n, dtype=torch.bool))
        dynamic.append(per_pixel)
    packages.compile_package(BlockModule(key), tuple(args), dynamic, path, cache)


class CompiledBlock:
    """Callable with :func:`block.block_accumulate`'s signature, running the packages."""

    def __init__(self, plan, runners: Dict[tuple, object]):
        self.runners = runners
        self.pieces = [(count, parts.split(parts.rows(plan, start, count), parts.BLOCK)[1])
                       for start, count in _pieces(plan)]

    def __call__(self, plan, d, source, culled, I, capture, polar, omega):
        if not packages.fits(d[0].shape[0]):
            return block_accumulate(plan, d, source, culled, I, capture, polar, omega)
        d = [x.contiguous() for x in d]
        src = torch.stack(source)
        for count, tensors in self.pieces:
            args = [*d, src, I, capture, polar, omega, *tensors]
            if culled is not None:
                args.append(culled)
            I = self.runners[(count, culled is not None)].run(args)[0]
        return I


def split_rows(m: int) -> List[int]:
    """M as pieces of :data:`PIECES`, largest first (10 → 8, 2)."""
    out = []
    for size in PIECES:
        while m >= size:
            out.append(size)
            m -= size
    return out


def _pieces(plan) -> List[tuple]:
    """(first row, row count) of the pieces covering the plan's M rows."""
    out, start = [], 0
    for count in split_rows(plan.lat_a.shape[0]):
        out.append((start, count))
        start += count
    return out


def _packages(plan, cache: Path) -> Dict[tuple, tuple]:
    """(rows, culled) → (a plan of that many rows, path) for the packages a run loads: one
    per row count and d-min mode."""
    culled_options = (False, True) if plan.dmin_m > 0 else (False,)
    out = {}
    for _, count in _pieces(plan):
        piece = parts.rows(plan, 0, count)
        for culled in culled_options:
            out[(count, culled)] = piece, packages.package_path(cache, "block",
                                                                key_of(piece, culled))
    return out


def block_paths(plan, cache: Path) -> List[Path]:
    """The block packages a run of ``plan`` loads."""
    return [path for _, path in _packages(plan, cache).values()]


def compiled_block(plan, cache: Path, build_missing: bool,
                   notify: Optional[Callable[[str], None]] = None) -> Optional[CompiledBlock]:
    """A :class:`CompiledBlock` for ``plan``, or None when a package is missing and
    ``build_missing`` is false, or when compiling or loading fails (the caller stays eager)."""
    runners = {}
    for (count, culled), (piece, path) in sorted(_packages(plan, cache).items(),
                                                 key=lambda item: item[0]):
        runner = packages.load_or_build(
            path, lambda: build(piece, culled, path, cache),
            f"{str(plan.dtype).replace('torch.', '')} kernel ({count} rows)", build_missing,
            notify)
        if runner is None:
            return None
        runners[(count, culled)] = runner
    return CompiledBlock(plan, runners)
