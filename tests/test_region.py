"""The region of interest, one definition (torchbragg/region.py): its mask, the renderer's
pixel indices and the limits' pixel count agree (docs/behaviour/formats.md §11)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from torchbragg import config_from_argv
from torchbragg.physics.setup import build_experiment, make_plan
from torchbragg.physics.workload import rendered_indices
from torchbragg.region import Region


def test_mask_bounds_are_inclusive():
    m = Region.of(6, 5, (2, 4, 1, 3)).mask()
    assert m.shape == (5, 6)
    assert m.sum() == 9 and m[1, 2] and m[3, 4] and not m[0, 2] and not m[1, 5]


def test_bounds_are_clipped_to_the_detector():
    r = Region.of(6, 5, (-3, 6, 2, 99))  # the CLI's default ROI ends one past the detector
    assert (r.fast, r.slow) == ((0, 5), (2, 4))
    assert r.pixels == 18 == r.mask().sum()
    assert Region.of(6, 5).pixels == 30 and Region.of(6, 5).mask().all()


@pytest.mark.parametrize("roi", [(4, 2, 0, 4), (7, 9, 0, 4), (0, 5, 5, 8)])
def test_an_empty_region_has_no_pixels(roi):
    r = Region.of(6, 5, roi)
    assert r.pixels == 0 and not r.mask().any()


@pytest.mark.parametrize("roi", [None, (1, 6, 0, 2), (3, 3, 4, 9), (5, 1, 0, 7)])
def test_indices_count_and_mask_agree(roi):
    plan = make_plan(build_experiment(config_from_argv(
        "-cell 100 100 100 90 90 90 -default_F 1 -N 2 -detpixels_f 7 -detpixels_s 6".split())))
    region = Region.of(7, 6, roi)
    mask = np.ones((6, 7), dtype=bool)
    mask[2, 3] = False
    indices = rendered_indices(plan, roi, mask)
    expected = np.flatnonzero(region.mask() & mask)
    assert torch.equal(indices, torch.from_numpy(expected))
    assert rendered_indices(plan, roi, None).numel() == region.pixels
