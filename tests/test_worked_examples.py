"""The worked examples of docs/behaviour/physics.md §8 and the quick checks of Appendix B (no golden
data)."""
from __future__ import annotations

import math

import pytest
import torch

from torchbragg import config_from_argv, simulate
from torchbragg.config import DetectorConfig
from torchbragg.compat import NANOBRAGG
from torchbragg.physics.detector import build_detector
from torchbragg.physics.setup import R_E_SQR, build_experiment

EX1 = ("-cell 70 80 90 75 85 95 -misset 10 20 30 -default_F 100 -N 5 -lambda 1.5 "
       "-distance 120 -detpixels 64 -pixel 0.2")
EX2 = ("-cell 40 50 60 80 95 100 -misset 5 -3 12 -default_F 50 -N 4 -lambda 1.2 -distance 60 "
       "-detpixels 32 -pixel 0.5 -mosaic 1 -mosaic_dom 3 -divergence 1 -divsteps 3 "
       "-dispersion 2 -dispsteps 2 -phi 5 -osc 2 -phisteps 2 -detector_rotx 3 -detector_roty -2 "
       "-detector_rotz 4 -twotheta 10 -polar 0.9 -detector_thick 100 -detector_abs 300 "
       "-detector_thicksteps 2 -oversample 2 -water 0.02 -round_xtal")


@pytest.fixture(scope="module")
def example1():
    cfg = config_from_argv(EX1)
    return build_experiment(cfg), simulate(cfg).to(torch.float32)


@pytest.fixture(scope="module")
def example2():
    cfg = config_from_argv(EX2)
    return build_experiment(cfg), simulate(cfg).to(torch.float32)


def test_example1_setup(example1):
    exp, _ = example1
    assert exp.detector.pix0_m == pytest.approx((0.12, 0.0066, -0.0066), abs=1e-15)
    assert exp.steps == 4 and exp.oversample == 2
    assert exp.lattice.a0_m == (6.2189391538666779e-09, 2.5643509615902128e-09, -1.9362076196253745e-09)
    assert exp.lattice.b0_m == (-2.6264170362871665e-09, 6.8584095539101431e-09, 3.1724047570155076e-09)
    assert exp.lattice.c0_m == (3.4067007573281333e-09, 1.6225480112667538e-10, 8.3287492055849109e-09)


def test_example1_pixels_bit_identical(example1):
    _, img = example1
    # (fast, slow) -> value, docs/behaviour/physics.md §8.1; image is indexed [slow, fast]
    expected = {(20, 30): 0.056564442813396454, (0, 0): 0.15190072357654572,
                (32, 32): 315.17205810546875, (63, 63): 0.002450767206028104,
                (10, 50): 25.654632568359375, (43, 24): 372.8028564453125}
    for (f, s), value in expected.items():
        assert img[s, f].item() == value
    assert img.max().item() == 372.8028564453125
    assert img.double().sum().item() == pytest.approx(16915.12510494652, rel=1e-15)


def test_example2_setup(example2):
    exp, _ = example2
    d = exp.detector
    assert d.ratio == pytest.approx(0.9969563611936845, rel=1e-15)
    assert d.pix0_m == pytest.approx((0.06121295052708071, 0.00885492703567118, -0.00803859553726858), rel=1e-14)
    assert d.close_distance_m == pytest.approx(0.05963496357004183, rel=1e-15)
    assert exp.steps == 240
    assert exp.I_bg == pytest.approx(1767806.4137231554, rel=1e-15)
    assert len(exp.sources.sources) == 10 and exp.layers.count == 2


def test_example2_pixels_bit_identical(example2):
    _, img = example2
    expected = {(24, 12): 77.60523223876953, (0, 0): 0.8242568373680115,
                (20, 29): 0.6893319487571716, (16, 16): 26.936141967773438,
                (31, 31): 0.3721136450767517, (5, 12): 0.6694519519805908,
                (23, 31): 61.28733825683594}
    for (f, s), value in expected.items():
        assert img[s, f].item() == value
    assert img.double().sum().item() == pytest.approx(4130.069320097566, rel=1e-15)


def test_appendix_b_quick_checks():
    assert R_E_SQR * 125932015286227086360700780544.0 == 1.0
    det = build_detector(DetectorConfig(), NANOBRAGG)
    assert (det.fpixels, det.spixels) == (1024, 1024)
    assert det.xbeam_m == pytest.approx(0.05125) and det.fbeam_m == pytest.approx(0.0513)
    assert det.pix0_m == pytest.approx((0.1, 0.0513, -0.0513))
    assert det.dials_origin_mm == pytest.approx((-51.3, 51.3, -100.0))


@pytest.mark.parametrize("flags, count", [("-divergence 1 -divsteps 3", 5),
                                          ("-divergence 1 -divsteps 4", 12),
                                          ("-divergence 1 -divsteps 5", 13),
                                          ("-divergence 1 -hdivstep 0.3 -vdivstep 0.3", 13)])
def test_divergence_source_counts(flags, count):
    exp = build_experiment(config_from_argv("-cell 100 100 100 90 90 90 -default_F 1 " + flags))
    assert len(exp.sources.sources) == count


@pytest.mark.parametrize("flags, angles", [("-osc 1", [0, 0.5]), ("-phisteps 4", [0, 0.25, 0.5, 0.75]),
                                           ("-phistep 0.3 -phisteps 5", [0, 0.3])])
def test_phi_steps(flags, angles):
    exp = build_experiment(config_from_argv("-cell 100 100 100 90 90 90 -default_F 1 " + flags))
    got = [exp.phi.step * m * 180 / math.pi for m in range(exp.phi.count)]
    assert got == pytest.approx(angles)


def test_sensor_layers_default_mu():
    exp = build_experiment(config_from_argv("-cell 100 100 100 90 90 90 -default_F 1 -detector_thick 500"))
    assert exp.layers.count == 2
    assert exp.layers.spacing_m == pytest.approx(250e-6)
    assert exp.layers.mu_per_m == pytest.approx(2000.0)


def test_cubic_cell_axes():
    exp = build_experiment(config_from_argv("-cell 70 80 90 90 90 90 -default_F 1"))
    a0 = exp.lattice.a0_m
    assert a0[0] == pytest.approx(7e-9, rel=1e-15) and abs(a0[1]) < 1e-20 and abs(a0[2]) < 1e-20
