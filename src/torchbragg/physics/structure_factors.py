"""Structure-factor lookup on tensors: nearest node and tricubic interpolation (model.md §7.5)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from torchbragg.config import StructureFactors


@dataclass
class SFLookup:
    """A structure-factor grid on the compute device, with the C's range rules."""

    grid: torch.Tensor  # flattened (h_range+1)*(k_range+1)*(l_range+1), or a 1-element dummy
    h_min: int
    k_min: int
    l_min: int
    h_range: int
    k_range: int
    l_range: int
    default_F: float
    has_table: bool

    @classmethod
    def build(cls, sf: StructureFactors, device, dtype) -> "SFLookup":
        if sf.grid is None or sf.count <= 0:
            grid = torch.zeros(1, device=device, dtype=dtype)
            return cls(grid, 0, 0, 0, 0, 0, 0, float(sf.default_F), False)
        grid = torch.as_tensor(sf.grid, dtype=torch.float64).to(device=device, dtype=dtype)
        return cls(grid.reshape(-1), *sf.origin, *sf.ranges, float(sf.default_F), True)

    # ------------------------------------------------------------------ helpers
    def _flat_index(self, ih, ik, il):
        return (ih * (self.k_range + 1) + ik) * (self.l_range + 1) + il

    def nearest(self, h0, k0, l0):
        """``table[h0,k0,l0]`` inside the loaded range, else ``default_F`` (io.md §2.5)."""
        if not self.has_table:
            return torch.full_like(h0, self.default_F)
        inside = (
            (h0 >= self.h_min) & (h0 <= self.h_min + self.h_range - 1)
            & (k0 >= self.k_min) & (k0 <= self.k_min + self.k_range - 1)
            & (l0 >= self.l_min) & (l0 <= self.l_min + self.l_range - 1)
        )
        ih = torch.where(inside, h0 - self.h_min, torch.zeros_like(h0)).long()
        ik = torch.where(inside, k0 - self.k_min, torch.zeros_like(k0)).long()
        il = torch.where(inside, l0 - self.l_min, torch.zeros_like(l0)).long()
        values = self.grid[self._flat_index(ih, ik, il)]
        return torch.where(inside, values, torch.full_like(values, self.default_F))

    def out_of_interpolation_range(self, h, k, l):
        """True where the 4x4x4 neighbourhood leaves the grid (tested on fractional indices)."""
        def axis(x, lo, rng):
            return ((x - lo) + 3 > rng) | (x - 2 < lo)
        return (axis(h, self.h_min, self.h_range) | axis(k, self.k_min, self.k_range)
                | axis(l, self.l_min, self.l_range))

    def tricubic(self, h, k, l, valid):
        """4-point Lagrange interpolation along l, then k, then h (values where ``valid``)."""
        hf, kf, lf = torch.floor(h), torch.floor(k), torch.floor(l)
        zero = torch.zeros_like(h)
        bh = torch.where(valid, hf - 1 - self.h_min, zero).long()
        bk = torch.where(valid, kf - 1 - self.k_min, zero).long()
        bl = torch.where(valid, lf - 1 - self.l_min, zero).long()
        along_k = []
        for i in range(4):
            along_l = []
            for j in range(4):
                ys = [self.grid[self._flat_index(bh + i, bk + j, bl + m)] for m in range(4)]
                along_l.append(_lagrange4(l, lf - 1, ys))
            along_k.append(_lagrange4(k, kf - 1, along_l))
        return _lagrange4(h, hf - 1, along_k)


def _lagrange4(x, x0, ys):
    """Σ_j y_j·Π_{i≠j}(x−x_i)/Π_{i≠j}(x_j−x_i) over nodes x0..x0+3, term by term, in order."""
    nodes = [x0, x0 + 1, x0 + 2, x0 + 3]
    total = None
    for j in range(4):
        others = [nodes[i] for i in range(4) if i != j]
        num = (x - others[0]) * (x - others[1]) * (x - others[2]) * ys[j]
        den = (nodes[j] - others[0]) * (nodes[j] - others[1]) * (nodes[j] - others[2])
        term = num / den
        total = term if total is None else total + term
    return total
