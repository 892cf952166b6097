"""Structure-factor lookup on tensors: nearest node and tricubic interpolation
(docs/behaviour/physics.md §7.5)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from torchbragg.config import StructureFactors
from torchbragg.physics import tricubic_native


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
    def uniform_F(self):
        """F_cell as one number where it is the same everywhere (no table, ``default_F`` a
        number), in the table dtype's value (as :meth:`nearest` fills it); else None."""
        if self.has_table or isinstance(self.default_F, torch.Tensor):
            return None
        return float(torch.tensor(self.default_F, dtype=self.padded.dtype))

    def nearest(self, h0, k0, l0):
        """``table[h0,k0,l0]`` inside the loaded range, else ``default_F``
        (docs/behaviour/formats.md §2.5)."""
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
        """True where the 4x4x4 neighbourhood leaves the grid (tested on fractional indices),
        or where an index is NaN (as the C reference)."""
        def axis(x, lo, rng):
            return ((x - lo) + 3 > rng) | (x - 2 < lo) | (x != x)
        return (axis(h, self.h_min, self.h_range) | axis(k, self.k_min, self.k_range)
                | axis(l, self.l_min, self.l_range))

    def interpolated(self, h, k, l, h0, k0, l0, limit: int = -1):
        """An interpolating pass on [M, P] evaluations: (F_cell, the nearest-node F, the
        out-of-range mask). F_cell is interpolated where in range, in the columns before
        ``limit`` (< 0: all), and the nearest node elsewhere. By the C helper where it serves
        (:mod:`tricubic_native`, one pass), else on tensors."""
        if tricubic_native.usable(self, h):
            return tricubic_native.lookup(self, h, k, l, h0, k0, l0, limit)
        nearest = self.nearest(h0, k0, l0)
        oor = self.out_of_interpolation_range(h, k, l)
        use = ~oor
        if 0 <= limit < h.shape[-1]:
            c = slice(0, limit)
            F_cell = torch.cat([torch.where(use[:, c], self.tricubic(h[:, c], k[:, c], l[:, c],
                                                                     use[:, c]), nearest[:, c]),
                                nearest[:, limit:]], dim=1)
        else:
            F_cell = torch.where(use, self.tricubic(h, k, l, use), nearest)
        return F_cell, nearest, oor

    def tricubic(self, h, k, l, valid):
        """4-point Lagrange interpolation along l, then k, then h (values where ``valid``).

        One gather of the 64 nodes per evaluation, weights per axis, the nested 1-D
        interpolations on all lines at once; on the CPU in pieces of :data:`PIECE`
        evaluations (cache-sized), or by the C helper of :mod:`tricubic_native` where it
        serves. The operations and their order are the C's (docs/behaviour/physics.md §7.5),
        so binary64 results are the same bits.
        """
        if tricubic_native.usable(self, h):
            return tricubic_native.tricubic(self, h, k, l, valid)
        shape = h.shape
        h, k, l, valid = (x.reshape(-1) for x in (h, k, l, valid))
        n = h.shape[0]
        step = PIECE if h.device.type == "cpu" and not torch.compiler.is_compiling() else n
        if n <= step:
            return self._tricubic(h, k, l, valid).reshape(shape)
        pieces = [self._tricubic(h[a:a + step], k[a:a + step], l[a:a + step], valid[a:a + step])
                  for a in range(0, n, step)]
        return torch.cat(pieces).reshape(shape)

    def _tricubic(self, h, k, l, valid):
        """:meth:`tricubic` on [n] tensors."""
        x = torch.stack((h, k, l))
        xf = torch.floor(x)
        sk, sl = self.k_range + 1, self.l_range + 1
        # flat index of node (hf − 1, kf − 1, lf − 1): exact in binary64 (grids < 2^53 entries)
        base = (((xf[0] - (self.h_min + 1)) * sk + (xf[1] - (self.k_min + 1))) * sl
                + (xf[2] - (self.l_min + 1)))
        # (int32 indices halve the index traffic; the grid has < 2^31 entries, io/hkl.py)
        small = not torch.compiler.is_compiling() and self.grid.numel() < 2 ** 31
        index = torch.int32 if small else torch.int64
        base = torch.where(valid, base, torch.zeros_like(base)).to(index)
        # the 64 nodes, rows ordered (m, j, i): y[m, 4j + i] = table[H_i, K_j, L_m]
        four = torch.arange(4, device=h.device, dtype=index)
        offsets = ((four[None, None, :] * sk + four[None, :, None]) * sl
                   + four[:, None, None]).reshape(64, 1)
        nodes = (base[None, :] + offsets).reshape(-1)
        if (3 * sk + 3) * sl + 3 >= self.grid.numel():
            # a table under 4 nodes along an axis: no evaluation is valid, but the dummy
            # neighbourhood at index 0 would reach past the grid's end
            nodes = nodes.clamp_(max=self.grid.numel() - 1)
        y = self.grid.index_select(0, nodes).reshape(4, 16, -1)
        w = _weights(x, xf)  # [4, axis, n]
        along_l = _lagrange4(w[:, 2:3], y).reshape(4, 4, -1)  # [j, i, n]
        along_k = _lagrange4(w[:, 1:2], along_l)  # [i, n]
        return _lagrange4(w[:, 0:1], along_k[:, None, :])[0]


#: evaluations per piece of :meth:`SFLookup.tricubic` on the CPU (64 nodes and the line
#: temporaries of a piece stay in the cache)
PIECE = 4096


def _weights(x, xf):
    """Π_{a≠j}(x − x_a) for j = 0..3 over the nodes x_a = xf − 1 + a, in ascending a (left to
    right, as the C's term numerators), stacked as [4, ...]."""
    d0, d1, d2, d3 = x - (xf - 1), x - xf, x - (xf + 1), x - (xf + 2)
    d01 = d0 * d1
    return torch.stack(((d1 * d2) * d3, (d0 * d2) * d3, d01 * d3, d01 * d2))


def _lagrange4(w, ys):
    """Σ_j w_j·y_j / Π_{a≠j}(x_j − x_a) over the first axis of ``ys`` [4, R, n], term by term,
    summed in order j = 0..3. The denominators of unit-spaced nodes are exactly −6, 2, −2, 6
    (``t + p / d`` as ``addcdiv``: the same two roundings)."""
    p = ys * w
    den = torch.tensor([-6.0, 2.0, -2.0, 6.0], dtype=p.dtype, device=p.device)
    total = p[0] / den[0]
    for j in (1, 2, 3):
        total = torch.addcdiv(total, p[j], den[j])
    return total
