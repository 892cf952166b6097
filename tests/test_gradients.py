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


def test_gradient_matches_central_differences_medium_case():
    """d(sum of image)/d(parameter) against central differences of the CLI's float64 path."""
    cfg = config_from_argv("-cell 100 100 100 90 90 90 -misset 5 3 1 -default_F 100 -N 5 "
                           "-lambda 1 -distance 100 -detpixels 64 -pixel 0.1 -oversample 2")

    def total(d_mm, rx):
        det = replace(cfg.detector, distance_m=d_mm / 1000)
        crystal = replace(cfg.crystal, misset_rad=(rx, 3 / RTD, 1 / RTD))
        return simulate(replace(cfg, detector=det, crystal=crystal)).sum()

    d, rx = f64(100.0, 5 / RTD)
    total(d, rx).backward()
    with torch.no_grad():
        for x, grad, h in ((d, d.grad, 1e-3), (rx, rx.grad, 1e-6)):
            x0 = x.detach().clone()
            args_p = [d.detach().clone(), rx.detach().clone()]
            args_m = [d.detach().clone(), rx.detach().clone()]
            i = 0 if x is d else 1
            args_p[i] = x0 + h
            args_m[i] = x0 - h
            fd = (total(*args_p) - total(*args_m)) / (2 * h)
            assert float(grad) == pytest.approx(float(fd), rel=1e-6)


def test_chunked_backward_equals_single_chunk():
    cfg = config_from_argv(BASE)
    grads = []
    for chunk in (None, 7):
        d, = f64(40.0)
        img = simulate(replace(cfg, detector=replace(cfg.detector, distance_m=d / 1000)),
                       chunk_pixels=chunk)
        img.sum().backward()
        grads.append(float(d.grad))
    assert grads[0] == pytest.approx(grads[1], rel=1e-12)


@pytest.mark.slow
def test_refinement_example_recovers_parameters(tmp_path):
    """examples/refine_geometry.py: 17 parameters from a noisy SMV image to 1e-4 relative."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "refine_geometry.py"
    argv = sys.argv
    sys.argv = [str(script), "--out", str(tmp_path / "loss.png")]
    try:
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    assert done.value.code == 0  # every parameter within 1e-4 relative of the truth
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_continuous_n_lies_between_whole_numbers_near_the_peaks():
    cfg = config_from_argv(BASE.replace("-detpixels 5", "-detpixels 24"))

    def image(n):
        t = torch.tensor(n, dtype=torch.float64)
        return simulate(replace(cfg, crystal=replace(cfg.crystal, Na=t, Nb=t, Nc=t)))

    i4, i5 = image(4.0), image(5.0)
    peaks = i4 > 0.5 * i4.max()
    assert int(peaks.sum()) >= 4
    for n in (4.01, 4.3, 4.5, 4.7, 4.99):
        img = image(n)
        assert bool((img <= i5.max()).all()), n  # bounded (the C's form has poles here)
        assert bool(((img >= i4) & (img <= i5))[peaks].all()), n


def test_refining_n_converges():
    cfg = config_from_argv(BASE.replace("-detpixels 5", "-detpixels 16"))

    def image(n):
        return simulate(replace(cfg, crystal=replace(cfg.crystal, Na=n, Nb=n, Nc=n)))

    target = image(torch.tensor(4.37, dtype=torch.float64)).detach()
    n = torch.tensor(4.9, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([n], max_iter=40, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        loss = ((image(n) - target) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    assert float(n.detach()) == pytest.approx(4.37, rel=1e-8)
