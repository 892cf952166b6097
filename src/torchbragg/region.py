"""The region of interest, defined once: the ``-roi`` bounds clipped to the detector
(docs/behaviour/formats.md §11, inclusive bounds).

The renderer's pixel set (:func:`torchbragg.physics.workload.rendered_indices`), the writers'
and statistics' mask and the limits' pixel count all derive from :class:`Region`. numpy only
(the io package needs no torch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class Region:
    """Fast indices ``fast[0]..fast[1]`` × slow indices ``slow[0]..slow[1]`` (inclusive) of a
    ``fpixels`` × ``spixels`` detector; empty along an axis whose first index is past its last."""

    fpixels: int
    spixels: int
    fast: Tuple[int, int]
    slow: Tuple[int, int]

    @classmethod
    def of(cls, fpixels: int, spixels: int,
           roi: Optional[Tuple[int, int, int, int]] = None) -> "Region":
        """The ROI ``(xmin, xmax, ymin, ymax)`` (None: the whole detector) clipped to it."""
        if roi is None:
            roi = (0, fpixels - 1, 0, spixels - 1)
        xmin, xmax, ymin, ymax = roi
        return cls(fpixels, spixels, (max(xmin, 0), min(xmax, fpixels - 1)),
                   (max(ymin, 0), min(ymax, spixels - 1)))

    @property
    def pixels(self) -> int:
        """Pixels inside the region."""
        return (max(0, self.fast[1] - self.fast[0] + 1)
                * max(0, self.slow[1] - self.slow[0] + 1))

    def mask(self) -> np.ndarray:
        """Boolean (spixels, fpixels) array, True inside the region."""
        fast = np.arange(self.fpixels)
        slow = np.arange(self.spixels)
        return (((slow >= self.slow[0]) & (slow <= self.slow[1]))[:, None]
                & ((fast >= self.fast[0]) & (fast <= self.fast[1]))[None, :])
