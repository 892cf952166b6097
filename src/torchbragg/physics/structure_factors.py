"""Structure-factor lookup on tensors: nearest node and tricubic interpolation (model.md §7.5)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from torchbragg.config import StructureFactors


@dataclass
class SFLookup:
    """A structure-factor grid on the compute device, with the C's range rules."""

    grid: torch.Tensor  # flattened (h_range+1)*(k_range+1)*(l_range+1), or a 1-element dummy
    #: the grid padded by one slot of default_F on each side of each axis, flattened; a
    #: clamped index then lands in the padding exactly when the node is outside the table
    padded: torch.Tensor
    h_min: int
    k_min: int
    l_min: int
    h_range: int
    k_range: int
    l_range: int
    default_F: float  # (a 0-d tensor inside compiled packages)
    has_table: bool

    @classmethod
    def build(cls, sf: StructureFactors, device, dtype) -> "SFLookup":
        if sf.grid is None or sf.count <= 0:
            grid = torch.zeros(1, device=device, dtype=dtype)
            F = sf.default_F  # (a tensor keeps its graph: gradients in a constant F)
            F = F.to(device=device, dtype=dtype) if isinstance(F, torch.Tensor) else float(F)
            return cls(grid, grid, 0, 0, 0, 0, 0, 0, F, False)
        grid = torch.as_tensor(sf.grid, dtype=torch.float64)
        hr, kr, lr = sf.ranges
        padded = torch.full((hr + 2, kr + 2, lr + 2), float(sf.default_F), dtype=torch.float64)
        padded[1:hr + 1, 1:kr + 1, 1:lr + 1] = grid[:hr, :kr, :lr]
        grid = grid.to(device=device, dtype=dtype).reshape(-1)
        padded = padded.to(device=device, dtype=dtype).reshape(-1)
        return cls(grid, padded, *sf.origin, *sf.ranges, float(sf.default_F), True)

    # ------------------------------------------------------------------ helpers
    def _flat_index(self, ih, ik, il):
        return (ih * (self.k_range + 1) + ik) * (self.l_range + 1) + il

    def nearest(self, h0, k0, l0):
        """``table[h0,k0,l0]`` inside the loaded range, else ``default_F`` (io.md §2.5)."""
        if not self.has_table:
            F = self.default_F
            return (F.expand_as(h0) if isinstance(F, torch.Tensor)
                    else torch.full_like(h0, F, dtype=self.padded.dtype))
        # float → int64 maps NaN and huge values to INT64_MIN, which clamps into the padding
        ih = (h0.long() - (self.h_min - 1)).clamp_(0, self.h_range + 1)
        ik = (k0.long() - (self.k_min - 1)).clamp_(0, self.k_range + 1)
        il = (l0.long() - (self.l_min - 1)).clamp_(0, self.l_range + 1)
        flat = (ih * (self.k_range + 2) + ik) * (self.l_range + 2) + il
        return self.padded[flat]

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
