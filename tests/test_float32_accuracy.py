"""``-dtype float32`` against the float64 image: relative L2 ≤ 5e-6 on hard cases.

Each case is one where the binary32 block lost precision before the mixed-precision kernel
(relative L2 of the old kernel in brackets): a detector plane nearly containing the beam
(high-order reflections, 1e-4), large N (4e-5), a small cell at large detector angles (1e-5),
a curved detector with N = 30 near the zeros of sin(N·π·h) (3e-4), GAUSS tails that underflow
in binary32 under ``-oversample_omega`` (5e-3), the TOPHAT cut-off (1e-1) and the centre of
ROUND spots (3e-2). ``scripts/float32_accuracy.py`` measures the same on random command lines.
"""
from __future__ import annotations

import math

import pytest
import torch

from torchbragg import config_from_argv, simulate
from torchbragg.physics.lattice_factor import sincg, sincg_shifted

BOUND = 5e-6

GRAZING = ("-sdet_vector 0.033882 0.999394 -0.008039 -odet_vector 0.041618 0.006545 0.989103 "
           "-N 7 -default_F 35.8 -cell 79.12 79.12 79.12 90 90 90")
CASES = {
    "grazing": GRAZING + " -detpixels 192 -pixel 0.5 -oversample 1",
    "large-N": ("-cell 60 60 60 90 90 90 -N 30 -default_F 100 -lambda 1 -distance 60 "
                "-detpixels 128 -pixel 0.8 -oversample 1"),
    "small-cell-angles": ("-cell 15 15 15 90 90 90 -N 12 -default_F 100 -lambda 0.8 -distance 50 "
                          "-detpixels 128 -pixel 0.6 -detector_rotx 25 -detector_roty -20 "
                          "-twotheta 70 -oversample 1"),
    "curved-near-zeros": ("-cell 29.78 29.78 32.31 90 90 90 -N 30 -default_F 831.07 "
                          "-lambda 2.0975 -fdet_vector -0.975284 0.10491 -0.194458 "
                          "-sdet_vector 0.212299 0.201043 -0.956301 "
                          "-odet_vector -0.0612314 -0.973948 -0.218347 -distance 32.706 "
                          "-detector_rotz -5.047 -curved_det -detpixels 104 -pixel 0.0943 "
                          "-oversample 2"),
    "gauss-oversample-omega": ("-cell 25.15 25.15 79.71 90 90 90 -Na 17 -Nb 30 -Nc 4 -gauss_xtal "
                               "-default_F 805.37 -lambda 1.4018 -distance 52.439 "
                               "-detpixels_f 92 -detpixels_s 46 -pixel 0.8142 -oversample 3 "
                               "-oversample_omega"),
    "tophat-cutoff": ("-distance 29.966 -detpixels_f 77 -detpixels_s 84 -pixel 0.6792 "
                      "-Xbeam -82.739 -Ybeam -52.244 -cell 198.58 198.58 170.49 90 90 90 -N 15 "
                      "-tophat_spots -default_F 876.83 -lambda 0.78562 -divergence 1.714 "
                      "-divsteps 1 -oversample 2 -mosaic 0.5204 -mosaic_domains 8"),
    "round-centre": ("-dials -distance 251.82 -detpixels 69 -pixel 0.0571 "
                     "-cell 117.57 49.8 143.19 90 98.76 90 -Na 14 -Nb 2 -Nc 14 -round_xtal "
                     "-fudge 0.5031 -default_F 893.27 -energy 22674.9 -divergence 0.0005273 "
                     "-divsteps 3 -dispersion 3.832 -dispsteps 1 -oversample 1"),
}


@pytest.fixture(autouse=True)
def _eager_in_scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (no Fdump.bin from the working folder is read)


def relative_l2(cmd: str) -> float:
    """||f32 − f64||₂ / ||f64||₂ of the stored binary32 images."""
    cfg = config_from_argv(cmd)
    ref = simulate(cfg, dtype=torch.float64, compile="off").to(torch.float32).double()
    img = simulate(cfg, dtype=torch.float32, compile="off").to(torch.float32).double()
    assert float(ref.abs().max()) > 0
    return float((img - ref).norm() / ref.norm())


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_image_within_bound(name):
    assert relative_l2(CASES[name]) <= BOUND


def test_reduced_sincg_keeps_binary32_precision_everywhere():
    """sin(N·π·x)/sin(π·x) from binary64 indices, evaluated in binary32 (the SQUARE factor of
    float32 mode), against the binary64 plain form: a few binary32 ulps relative, also at
    |x| in the hundreds and near the zeros of sin(N·π·x)."""
    gen = torch.Generator().manual_seed(22)
    x = (torch.rand(200_000, generator=gen, dtype=torch.float64) - 0.5) * 1000.0
    x0 = torch.ceil(x - 0.5)
    for n in (2.0, 7.0, 30.0, 47.0):
        ref = sincg(math.pi * x, n)
        got = sincg_shifted(x, x0, n, torch.float32)
        assert got.dtype == torch.float32
        rel = ((got.double() - ref).abs() / ref.abs()).max()
        assert float(rel) < 2e-6, n
        # the unsigned form (used where only F_latt² matters) squares to the same bits
        unsigned = sincg_shifted(x, x0, n, torch.float32, signed=False)
        assert torch.equal(unsigned * unsigned, got * got)
