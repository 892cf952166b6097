"""The structure-factor table that the HKL reader, the cache file and the HKL memo hold
(docs/behaviour/formats.md §2.3)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

#: Largest grid accepted (entries); beyond this the C's allocation would fail.
MAX_GRID_ENTRIES = 1 << 31


@dataclass(frozen=True, eq=False)
class SFTable:
    """Structure-factor grid of docs/behaviour/formats.md §2.3.

    ``grid[i, j, m]`` is F(h_min+i, k_min+j, l_min+m) (electrons, binary64); the grid has one
    extra slot per axis, shape (h_range+1, k_range+1, l_range+1). ``count`` is the C's
    ``hkls`` (record count of pass 1, or h_range·k_range·l_range for a cache).
    """

    h_min: int
    h_max: int
    k_min: int
    k_max: int
    l_min: int
    l_max: int
    grid: np.ndarray
    count: int
    #: an HKL file's last records: (h, k, l) of pass 1 and (h, k, l, F) of pass 2, which the
    #: C's variables still hold when the first pixel is printed (``-printout``); else None
    reader_leftovers: Optional[tuple] = None

    def __post_init__(self) -> None:
        shape = (self.h_range + 1, self.k_range + 1, self.l_range + 1)
        if tuple(self.grid.shape) != shape:
            raise ValueError(f"grid shape {self.grid.shape} does not match extents {shape}")

    @property
    def h_range(self) -> int:
        return self.h_max - self.h_min + 1

    @property
    def k_range(self) -> int:
        return self.k_max - self.k_min + 1

    @property
    def l_range(self) -> int:
        return self.l_max - self.l_min + 1

    def lookup(self, h: int, k: int, l: int, default_F: float) -> float:
        """Nearest-neighbour rule of docs/behaviour/formats.md §2.5 for already-rounded indices."""
        if (self.count > 0 and self.h_min <= h <= self.h_max and self.k_min <= k <= self.k_max
                and self.l_min <= l <= self.l_max):
            return float(self.grid[h - self.h_min, k - self.k_min, l - self.l_min])
        return default_F
