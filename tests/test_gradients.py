"""Gradients through the public API: gradcheck per parameter group (float64, tiny detector)."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from torchbragg import config_from_argv, simulate
from torchbragg.physics.vec3 import RTD

BASE = ("-cell 60 70 80 85 95 100 -misset 10 20 30 -default_F 100 -N 4 -lambda 1.2 "
        "-distance 40 -detpixels 5 -pixel 0.4 -oversample 1 -polar 0.5")


def f64(*values):
    return tuple(torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values)


def check(build, inputs, base=BASE, eps=1e-7):
    cfg0 = config_from_argv(base)

    def fn(*xs):
        return simulate(build(cfg0, *xs))

    assert torch.autograd.gradcheck(fn, inputs, eps=eps, atol=1e-4, rtol=1e-4)


def test_cell():
    def build(cfg, a, b, c, al, be, ga):
        return replace(cfg, crystal=replace(cfg.crystal, cell_A_rad=(a, b, c, al, be, ga)))
    check(build, f64(60.0, 70.0, 80.0, 85 / RTD, 95 / RTD, 100 / RTD))


def test_misset():
    def build(cfg, rx, ry, rz):
        return replace(cfg, crystal=replace(cfg.crystal, misset_rad=(rx, ry, rz)))
    check(build, f64(10 / RTD, 20 / RTD, 30 / RTD))


def test_orientation_matrix():
    base = ("-mat MAT -default_F 100 -N 4 -lambda 1.2 -distance 40 -detpixels 5 -pixel 0.4 "
            "-oversample 1")
    cfg0 = config_from_argv(BASE)
    values = [0.02, 0.001, 0.0, -0.001, 0.018, 0.002, 0.0, -0.002, 0.015]
    A = torch.tensor(values, dtype=torch.float64, requires_grad=True)

    def fn(a):
        crystal = replace(cfg0.crystal, amatrix=tuple(a[i] for i in range(9)), cell_A_rad=None,
                          misset_rad=None)
        return simulate(replace(cfg0, crystal=crystal))

    del base
    assert torch.autograd.gradcheck(fn, (A,), eps=1e-9, atol=1e-6, rtol=1e-4)


def test_detector_distance_and_beam_centre():
    def build(cfg, d_mm, xb_mm, yb_mm):  # millimetres keep finite differences well scaled
        det = replace(cfg.detector, distance_m=d_mm / 1000, xbeam_m=xb_mm / 1000,
                      ybeam_m=yb_mm / 1000)
        return replace(cfg, detector=det)
    check(build, f64(40.0, 1.1, 0.9))


def test_detector_rotations_and_twotheta():
    def build(cfg, rx, ry, rz, tt):
        det = replace(cfg.detector, rotx_rad=rx, roty_rad=ry, rotz_rad=rz, twotheta_rad=tt)
        return replace(cfg, detector=det)
    check(build, f64(0.01, -0.02, 0.03, 0.05))


def test_wavelength_fluence_kahn():
    def build(cfg, lam_A, log_flu, kahn):
        beam = replace(cfg.beam, wavelength_m=lam_A * 1e-10, fluence_per_m2=10 ** log_flu,
                       kahn_factor=kahn)
        return replace(cfg, beam=beam)
    check(build, f64(1.2, 24.0, 0.5))


def test_mosaic_spread():
    # the cap angle is formed in binary32 as in the C (Q26): finite differences need a step
    # well above its rounding
    def build(cfg, spread_deg):
        crystal = replace(cfg.crystal, mosaic_spread_rad=spread_deg / RTD, mosaic_domains=3)
        return replace(cfg, crystal=crystal)
    check(build, f64(0.5), eps=2e-3)


def test_structure_factor_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [f"{h} {k} {l} {10 + h + 2 * k + 3 * l + 20}" for h in range(-3, 4)
             for k in range(-3, 4) for l in range(-3, 4)]
    (tmp_path / "t.hkl").write_text("\n".join(lines) + "\n")
    cfg0 = config_from_argv(BASE + " -hkl t.hkl -nointerpolate")
    grid = torch.as_tensor(cfg0.structure_factors.grid, dtype=torch.float64).clone()
    grid.requires_grad_(True)

    def fn(g):
        return simulate(replace(cfg0, structure_factors=replace(cfg0.structure_factors, grid=g)))

    img = fn(grid)
    img.sum().backward()
    assert grid.grad is not None and grid.grad.abs().sum() > 0
    # gradcheck on a few entries through a small differentiable slice
    sub = grid.detach()[2:5, 2:5, 2:5].clone().requires_grad_(True)

    def fn_sub(s):
        g = grid.detach().clone()
        g = torch.cat([g[:2], torch.cat([g[2:5, :2], torch.cat([g[2:5, 2:5, :2], s, g[2:5, 2:5, 5:]], 2),
                                         g[2:5, 5:]], 1), g[5:]], 0)
        return fn(g)
    assert torch.autograd.gradcheck(fn_sub, (sub,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_crystal_size_continuous():
    def build(cfg, na, nb, nc):
        return replace(cfg, crystal=replace(cfg.crystal, Na=na, Nb=nb, Nc=nc))
    check(build, f64(4.0, 4.5, 5.0))


def test_round_shape_gradients_finite():
    cfg0 = config_from_argv(BASE + " -round_xtal")
    d, = f64(0.04)
    img = simulate(replace(cfg0, detector=replace(cfg0.detector, distance_m=d)))
    img.sum().backward()
    assert torch.isfinite(d.grad)
