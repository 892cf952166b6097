"""Every configuration field with a gradient-carrying tensor: a gradient that matches central
finite differences (float64, Richardson-extrapolated, ≤ 1e-6 relative), or a clear error.

Each case moves one field along a direction, x = x0 + t·v, and differentiates a weighted sum
of the image in t at t = 0. The same builder at t = 0 (a tensor of the float value) must give
the float path's bytes.
"""
from __future__ import annotations

from dataclasses import fields, replace

import pytest
import torch

from torchbragg import config_from_argv, simulate
from torchbragg.errors import InputError
from torchbragg.gradfields import DIFFERENTIABLE, NOT_DIFFERENTIABLE, SECTIONS
from torchbragg.physics.vec3 import RTD

BASE = ("-cell 60 70 80 85 95 100 -misset 10 20 30 -default_F 100 -N 4 -lambda 1.2 "
        "-distance 40 -detpixels 8 -pixel 0.4 -oversample 1 -polar 0.5")
CUSTOM = (" -fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 -beam_vector 1 0 0 "
          "-polar_vector 0 0 1 -spindle_axis 0 0 1")


def _move(x0, v, t):
    """x0 + t·v componentwise; components with v = 0 stay plain numbers."""
    if isinstance(x0, tuple):
        return tuple(_move(a, b, t) for a, b in zip(x0, v))
    return x0 + t * v if v != 0 else x0


def _set(cfg, path, value):
    section, name = path.split(".")
    return replace(cfg, **{section: replace(getattr(cfg, section), **{name: value})})


# (case id, field, x0, direction v, extra argv, one-sided FD at a switch point)
CASES = [
    ("pixel", "detector.pixel_size_m", 4e-4, 4e-6, "", False),
    ("detsize_f", "detector.detsize_f_m", 3.2e-3, 4e-5, "", False),
    ("detsize_s", "detector.detsize_s_m", 3.2e-3, 4e-5, "", False),
    ("distance", "detector.distance_m", 0.04, 4e-4, "", False),
    ("close_distance", "detector.close_distance_m", 0.04, 4e-4, "", False),
    ("xbeam", "detector.xbeam_m", 1.7e-3, 4e-5, "", False),
    ("ybeam", "detector.ybeam_m", 1.5e-3, 4e-5, "", False),
    ("xclose", "detector.xclose_m", 1.7e-3, 4e-5, CUSTOM + " -pivot sample", False),
    ("yclose", "detector.yclose_m", 1.5e-3, 4e-5, CUSTOM + " -pivot sample", False),
    ("orgx", "detector.orgx_px", 4.2, 0.05, " -xds", False),
    ("orgy", "detector.orgy_px", 3.7, 0.05, " -xds", False),
    ("rotx", "detector.rotx_rad", 0.01, 1e-3, "", False),
    ("roty", "detector.roty_rad", -0.02, 1e-3, "", False),
    ("rotz", "detector.rotz_rad", 0.03, 1e-3, "", False),
    ("rotx_at_0", "detector.rotx_rad", 0.0, 1e-3, "", False),
    ("twotheta", "detector.twotheta_rad", 0.05, 1e-3, "", False),
    ("fdet", "detector.fdet_vector", (0.0, 0.0, 1.0), (0.0, 0.01, 0.0), CUSTOM, False),
    ("sdet", "detector.sdet_vector", (0.0, -1.0, 0.0), (0.01, 0.0, 0.01), CUSTOM, False),
    ("beam_vector", "detector.beam_vector", (1.0, 0.0, 0.0), (0.0, 0.01, 0.01), CUSTOM, False),
    ("polar_vector", "detector.polar_vector", (0.0, 0.0, 1.0), (0.0, 0.1, 0.0), CUSTOM, False),
    ("spindle", "detector.spindle_axis", (0.0, 0.0, 1.0), (0.1, 0.1, 0.0),
     CUSTOM + " -phi 5 -osc 2 -phisteps 2", False),
    ("twotheta_axis", "detector.twotheta_axis", (0.0, 0.0, -1.0), (0.1, 0.1, 0.0),
     CUSTOM + " -twotheta 3", False),
    ("pix0", "detector.pix0_vector_m", (0.04, 1.6e-3, -1.6e-3), (4e-4, 4e-5, 4e-5),
     " -profile corrected -pix0_vector 0.04 0.0016 -0.0016", False),
    ("thickness", "detector.thickness_m", 1e-4, 1e-6, " -detector_thick 100", False),
    ("attenuation", "detector.mu_per_m", 3000.0, 30.0,
     " -detector_thick 100 -detector_abs 333", False),
    ("wavelength", "beam.wavelength_m", 1.2e-10, 1.2e-12, "", False),
    ("fluence", "beam.fluence_per_m2", 1e24, 1e22, "", False),
    ("flux", "beam.flux_per_s", 1e12, 1e10, " -flux 1e12 -exposure 1 -beamsize 0.1", False),
    ("exposure", "beam.exposure_s", 1.0, 0.01, " -flux 1e12 -exposure 1 -beamsize 0.1", False),
    ("beamsize", "beam.beamsize_m", 1e-4, 1e-6, " -flux 1e12 -exposure 1 -beamsize 0.1", False),
    ("dispersion", "beam.dispersion_fraction", 0.02, 2e-4, " -dispersion 2 -dispsteps 3", False),
    ("dispersion_at_0", "beam.dispersion_fraction", 0.0, 2e-4, " -dispsteps 3", True),
    ("hdivrange", "beam.hdivrange_rad", 2e-3, 2e-5, " -hdivrange 0.1 -hdivsteps 3", False),
    ("hdivrange_at_0", "beam.hdivrange_rad", 0.0, 2e-5, " -hdivrange 0 -hdivsteps 3", True),
    ("vdivrange", "beam.vdivrange_rad", 2e-3, 2e-5, " -vdivrange 0.1 -vdivsteps 3", False),
    ("hdivstep", "beam.hdivstep_rad", 1e-3, 1e-5,
     " -hdivrange 0.1 -hdivstep 0.05 -round_div", False),
    ("vdivstep", "beam.vdivstep_rad", 1e-3, 1e-5,
     " -vdivrange 0.1 -vdivstep 0.05 -round_div", False),
    ("source_position", "beam.sources", ((-10.0, 0.1, 0.2, 1.0, 1.2e-10),),
     ((0.0, 0.01, 0.01, 0.0, 0.0),), "", False),
    ("source_wavelength", "beam.sources",
     ((-10.0, 0.0, 0.0, 1.0, 1.2e-10), (-10.0, 0.0, 0.0, 1.0, 1.25e-10)),
     ((0.0, 0.0, 0.0, 0.0, 1.2e-12), (0.0, 0.0, 0.0, 0.0, -1e-12)), "", False),
    ("kahn", "beam.kahn_factor", 0.5, 0.01, "", False),
    ("kahn_at_0", "beam.kahn_factor", 0.0, 0.01, " -polar 0", False),
    ("cell", "crystal.cell_A_rad", (60.0, 70.0, 80.0, 85 / RTD, 95 / RTD, 100 / RTD),
     (0.6, -0.5, 0.4, 0.003, 0.002, -0.004), "", False),
    ("amatrix", "crystal.amatrix",
     (0.02, 0.001, 0.0, -0.001, 0.018, 0.002, 0.0, -0.002, 0.015),
     (1e-4, 0.0, 1e-5, 0.0, -1e-4, 0.0, 2e-5, 0.0, 1e-4), "", False),
    ("misset", "crystal.misset_rad", (10 / RTD, 20 / RTD, 30 / RTD), (1e-3, -2e-3, 1e-3),
     "", False),
    ("N", "crystal.Na", 4.3, 0.03, "", False),
    ("N_whole", "crystal.Nb", 4.0, 0.03, "", False),
    ("N_round", "crystal.Nc", 5.0, 0.03, " -round_xtal", False),
    ("fudge", "crystal.fudge", 1.0, 0.01, " -gauss_xtal", False),
    ("mosaic_at_0", "crystal.mosaic_spread_rad", 0.0, 1e-3, " -mosaic_domains 3", True),
    ("phi0", "crystal.phi0_rad", 5 / RTD, 1e-3, " -osc 2 -phisteps 2", False),
    ("osc", "crystal.osc_rad", 2 / RTD, 1e-3, " -phi 5 -osc 2 -phisteps 2", False),
    ("phistep", "crystal.phistep_rad", 0.8 / RTD, 1e-4, " -phi 5 -osc 2 -phistep 0.8", False),
    ("default_F", "structure_factors.default_F", 100.0, 1.0, "", False),
    ("water", "sampling.water_m", 1e-4, 1e-6, " -water 100", False),
    ("water_at_0", "sampling.water_m", 0.0, 1e-6, "", False),
]


def _config(extra):
    return config_from_argv(BASE + extra)


def _weights(shape):
    g = torch.Generator().manual_seed(7)
    return 0.5 + torch.rand(shape, generator=g, dtype=torch.float64)


def _loss(cfg, path, x0, v, t):
    img = simulate(_set(cfg, path, _move(x0, v, t)))
    return (img * _weights(img.shape)).sum()


def _fd(f, h, one_sided):
    """Richardson-extrapolated central (or, at a switch point, one-sided) differences."""
    def d(s):
        if one_sided:
            return (-3 * f(0.0) + 4 * f(s) - f(2 * s)) / (2 * s)
        return (f(s) - f(-s)) / (2 * s)
    return (4 * d(h / 2) - d(h)) / 3  # both stencils' errors start at h²


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(case, tmp_path, monkeypatch):
    _id, path, x0, v, extra, one_sided = case
    monkeypatch.chdir(tmp_path)
    cfg = _config(extra)
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    loss = _loss(cfg, path, x0, v, t)
    (grad,) = torch.autograd.grad(loss, t)

    def f(s):
        with torch.no_grad():
            return float(_loss(cfg, path, x0, v, torch.tensor(s, dtype=torch.float64)))

    fd = _fd(f, 1e-2, one_sided)
    scale = max(abs(fd), 1e-6 * abs(float(loss.detach())))  # (0 at a symmetric switch point)
    assert abs(float(grad) - fd) <= 1e-6 * scale, (float(grad), fd)


#: cases with a float counterpart (a non-integer N has none)
BYTES_CASES = [c for c in CASES if c[0] != "N"]


@pytest.mark.parametrize("case", BYTES_CASES, ids=[c[0] for c in BYTES_CASES])
def test_tensor_forward_equals_float_path(case, tmp_path, monkeypatch):
    _id, path, x0, v, extra, _one_sided = case
    monkeypatch.chdir(tmp_path)
    cfg = _config(extra)
    floats = simulate(_set(cfg, path, x0))
    for requires_grad in (False, True):
        t = torch.tensor(0.0, dtype=torch.float64, requires_grad=requires_grad)
        img = simulate(_set(cfg, path, _move(x0, v, t))).detach()
        if _id.endswith("_at_0") and _id not in ("kahn_at_0", "rotx_at_0", "water_at_0"):
            # the differentiable branch at a switch point: n coincident sources instead of
            # one (each later source sees the d̂ the polarization re-normalised, as in the C)
            torch.testing.assert_close(img, floats, rtol=1e-9, atol=0)
        else:
            assert torch.equal(img, floats), int((img != floats).sum())


def _mosaic_gradient_and_fd(h):
    cfg = _config(" -mosaic 0.5 -mosaic_domains 3")
    path, x0, v = "crystal.mosaic_spread_rad", 0.5 / RTD, 0.05 / RTD
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(_loss(cfg, path, x0, v, t), t)

    def f(s):
        with torch.no_grad():
            return float(_loss(cfg, path, x0, v, torch.tensor(s, dtype=torch.float64)))
    return float(grad), _fd(f, h, False)


def test_mosaic_spread_gradient_is_that_of_the_smooth_cap_angle(monkeypatch):
    """At an ordinary spread: with the cap angle in binary64 (the smooth function whose
    derivative the binary32 one carries) to 1e-6; on the C's binary32 staircase (Q26) to the
    precision its steps allow at a step of 1 % of the spread."""
    from torchbragg.physics import mosaic

    grad, fd = _mosaic_gradient_and_fd(0.2)
    assert abs(grad - fd) <= 1e-4 * abs(fd), (grad, fd)
    monkeypatch.setattr(mosaic, "cap_angle", lambda spread, cap: spread * cap)
    grad, fd = _mosaic_gradient_and_fd(1e-2)
    assert abs(grad - fd) <= 1e-6 * abs(fd), (grad, fd)


def test_tensor_forward_equals_float_path_larger_image():
    """Many fields as tensors at once, 96x96 with spots (cell, misset, geometry, beam)."""
    cfg = config_from_argv("-cell 60 70 80 85 95 100 -misset 10 20 30 -default_F 100 -N 4 "
                           "-lambda 1.2 -distance 60 -detpixels 96 -pixel 0.2 -oversample 1 "
                           "-polar 0.3 -mosaic 0.2 -mosaic_domains 2 -water 0.05")
    t = lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True)  # noqa: E731
    c, d, b = cfg.crystal, cfg.detector, cfg.beam
    tensors = replace(
        cfg, crystal=replace(c, cell_A_rad=tuple(t(x) for x in c.cell_A_rad),
                             misset_rad=tuple(t(x) for x in c.misset_rad),
                             mosaic_spread_rad=t(c.mosaic_spread_rad)),
        detector=replace(d, distance_m=t(d.distance_m), rotx_rad=t(0.002),
                         pixel_size_m=t(d.pixel_size_m)),
        beam=replace(b, wavelength_m=t(b.wavelength_m), kahn_factor=t(b.kahn_factor)),
        sampling=replace(cfg.sampling, water_m=t(cfg.sampling.water_m)))
    floats = simulate(replace(cfg, detector=replace(d, rotx_rad=0.002)))
    assert torch.equal(simulate(tensors).detach(), floats)


def test_docs_table_names_every_field():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "gradients.md").read_text()
    for name in _all_fields():
        section, field = name.split(".")
        assert f"`{name}`" in text or f"`{field}`" in text, name


def _all_fields():
    cfg = config_from_argv(BASE)
    return [f"{s}.{f.name}" for s in SECTIONS for f in fields(getattr(cfg, s))]


def test_every_field_is_classified():
    names = _all_fields()
    assert set(names) == set(DIFFERENTIABLE) | set(NOT_DIFFERENTIABLE)
    assert not set(DIFFERENTIABLE) & set(NOT_DIFFERENTIABLE)
    claimed = {c[1] for c in CASES} | {"structure_factors.grid"}  # (test_gradients.py)
    assert claimed == set(DIFFERENTIABLE), set(DIFFERENTIABLE) ^ claimed


@pytest.mark.parametrize("path", sorted(NOT_DIFFERENTIABLE))
def test_not_differentiable_field_is_refused(path):
    cfg = config_from_argv(BASE)
    section, name = path.split(".")
    current = getattr(getattr(cfg, section), name)
    value = float(current) if isinstance(current, (int, float)) and current is not None else 1.0
    t = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    with pytest.raises(InputError, match=path.replace(".", r"\.")):
        simulate(_set(cfg, path, t))


@pytest.mark.parametrize("path,extra", [
    ("beam.kahn_factor", " -nopolar"),  # no polarisation factor at all
    ("crystal.mosaic_spread_rad", ""),  # 0 without a domain count: one domain
    ("beam.hdivrange_rad", " -hdivrange 0"),  # 0 without a step count: one source
    ("detector.pix0_vector_m", " -pix0_vector 0.04 0.0016 -0.0016"),  # ignored (Q6)
    ("crystal.fudge", ""),  # SQUARE does not use it
])
def test_field_without_effect_is_refused(path, extra):
    cfg = config_from_argv(BASE + extra)
    current = getattr(getattr(cfg, path.split(".")[0]), path.split(".")[1])
    x0 = current if current is not None else 0.0
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(InputError, match="no effect"):
        simulate(_set(cfg, path, _move(x0, tuple(0.01 for _ in x0) if isinstance(x0, tuple)
                                       else 1.0, t)))


def test_source_weight_is_refused():
    cfg = config_from_argv(BASE)
    w = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    with pytest.raises(InputError, match="Q19"):
        simulate(_set(cfg, "beam.sources", ((-10.0, 0.0, 0.0, w, 1.2e-10),)))

