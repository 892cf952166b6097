"""``-printout`` / ``-printout_pixel``: the per-pixel diagnostic block
(docs/behaviour/formats.md §12).

The kernel's last-evaluation recorder (:meth:`Printout.recorder`) hands each selected pixel's
values to :meth:`Printout.emit` in pixel order; the values follow the C's persistence rules
(:mod:`torchbragg.physics.leftovers`).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from torchbragg.cfloat import div, fmt
from torchbragg.cli.report import _vec_rows
from torchbragg.physics.leftovers import LastEvaluation, initial_carry


class Printout:
    """Selects the printed pixels and writes their blocks through ``write`` (one line each)."""

    def __init__(self, state, exp, sf_table, write: Callable[[str], None]):
        self.pixel = state.printout_pixel
        self.lam0 = exp.config.beam.wavelength_m
        self.steps = exp.steps
        self.write = write
        lat = exp.lattice
        reader = sf_table.reader_leftovers if sf_table is not None else None
        self.initial = initial_carry(lat.a0_m, lat.b0_m, lat.c0_m, reader)

    def recorder(self) -> LastEvaluation:
        """The run's recorder (:mod:`torchbragg.physics.recorder`) that prints the blocks."""
        return LastEvaluation(self.initial, self.select, self.emit)

    def select(self, s: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Pixels that print a block: all, or the one ``-printout_pixel FAST SLOW`` names."""
        if self.pixel is None or self.pixel[0] < 0:
            return torch.ones_like(s, dtype=torch.bool)
        fast, slow = self.pixel
        return (s == slow) & (f == fast)

    def emit(self, slow: int, fast: int, v: dict) -> None:
        x, y, z = v["pos"]
        Sx, Sy, Sz = v["S"]
        stol = 0.5 * math.sqrt(Sx * Sx + Sy * Sy + Sz * Sz)
        # beam along +x (docs/behaviour/formats.md §12)
        theta = 0.5 * math.atan2(math.sqrt(y * y + z * z), x)
        s2 = math.sin(theta) / (self.lam0 * 1e10)
        h, k, l, h0, k0, l0 = v["hkl"]
        I = v["I"]
        a = v["vectors"]
        lines = [
            "%4d %4d : stol = %s or %s" % (fast, slow, fmt("%g", stol), fmt("%g", s2)),
            "at %s %s %s" % tuple(fmt("%g", c) for c in (x, y, z)),
            "hkl= %s %s %s  hkl0= %d %d %d" % (*(fmt("%f", c) for c in (h, k, l)),
                                               *map(_c_int, (h0, k0, l0))),
            " F_cell=%s  F_latt=%s   I = %s" % (fmt("%g", v["F_cell"]), fmt("%g", v["F_latt"]),
                                                fmt("%g", I)),
            "I/steps %s" % fmt("%15.10g", div(I, self.steps)),
            "polar   %s" % fmt("%15.10g", v["polar"]),
            "omega   %s" % fmt("%15.10g", v["omega"]),
            "capfrac %s" % fmt("%15.10g", v["capture"]),
            "pixel   %s" % fmt("%15.10g", v["value"]),
            "real-space cell vectors (Angstrom):",
            "     " + "  ".join("%-10s" % n for n in ("a", "b", "c")),
            *_vec_rows(a[0:3], a[3:6], a[6:9], 1e10),
        ]
        for line in lines:
            self.write(line)


def _c_int(x: float) -> int:
    """A rounded index as the C's ``int`` holds it (x86 converts NaN/±inf to INT_MIN)."""
    return int(x) if math.isfinite(x) else -2147483648
