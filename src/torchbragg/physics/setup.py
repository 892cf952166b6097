"""From a configuration to the resolved experiment, in the C's set-up order
(docs/behaviour/physics.md §1.7).

:func:`build_experiment` resolves every automatic choice and returns scalars (Python floats,
bit-identical to the C set-up) plus what the console report prints; :func:`make_plan` turns it
into the kernel's tensors on a device and dtype.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

from torchbragg.cfloat import div
from torchbragg.config import SimulationConfig
from torchbragg.physics import vec3 as v3
from torchbragg.physics.crystal import Lattice, build_lattice, cells_from_size
from torchbragg.physics.detector import DetectorGeometry, build_detector
from torchbragg.physics.lattice_factor import ShapeParams
from torchbragg.physics.mosaic import domain_matrices
from torchbragg.physics.plan import KernelPlan
from torchbragg.physics.sampling import (Layers, Sampling, Steps, recommended_oversample,
                                         resolve_sampling)
from torchbragg.physics.sources import SourceSet, generate_sources, sources_from_rows
from torchbragg.physics.structure_factors import SFLookup
from torchbragg.rng import ShuffleTable, UniformStream

R_E_SQR = 7.94079248018965e-30  # m²
AVOGADRO = 6.02214179e23
WATER_F = 2.57
WATER_MW = 18.0


@dataclass
class Experiment:
    """Resolved set-up: geometry, crystal, sampling, sources and the report's values."""

    config: SimulationConfig
    detector: DetectorGeometry
    lattice: Lattice
    Na: int
    Nb: int
    Nc: int
    sample_m: Tuple[float, float, float]
    clip_warnings: List[str]
    fluence: float
    flux: float
    sampling: Sampling
    mosaics: list
    oversample: int
    oversample_auto: bool
    oversample_recommended: int
    interpolate: bool
    interpolate_auto: bool
    sources: SourceSet
    steps: int
    I_bg: float
    xtal_max_m: float
    phi_lattices: list = field(default_factory=list)

    @property
    def phi(self) -> Steps:
        return self.sampling.phi

    @property
    def hdiv(self) -> Steps:
        return self.sampling.hdiv

    @property
    def vdiv(self) -> Steps:
        return self.sampling.vdiv

    @property
    def disp(self) -> Steps:
        return self.sampling.disp

    @property
    def layers(self) -> Layers:
        return self.sampling.layers

    @property
    def mosaic_domains(self) -> int:
        return self.sampling.domains

    @property
    def mosaic_spread_rad(self):
        """Radians (a float, or the configuration's tensor)."""
        return self.sampling.spread

    @property
    def mosaic_warning(self) -> str:
        return self.sampling.mosaic_warning


def build_experiment(cfg: SimulationConfig, table: Optional[ShuffleTable] = None) -> Experiment:
    """Resolve the configuration (docs/behaviour/physics.md §1.7 steps 3–16)."""
    table = table if table is not None else ShuffleTable()
    b, c, s = cfg.beam, cfg.crystal, cfg.sampling
    fluence, flux, sample, clips = _beam_on_sample(b, c)
    # steps 6-9: detector, sampling
    det = build_detector(cfg.detector, cfg.profile)
    smp = resolve_sampling(cfg)
    interp, interp_auto = _interpolation(cfg)
    # steps 11-12: crystal, N, oversampling
    lattice = build_lattice(c, b.wavelength_m, table)
    Na, Nb, Nc = cells_from_size(c, lattice, sample)
    xtal_max = max(_f(v3.magnitude(lattice.a0_m) * Na), _f(v3.magnitude(lattice.b0_m) * Nb),
                   _f(v3.magnitude(lattice.c0_m) * Nc))
    recommended = recommended_oversample(xtal_max, _f(b.wavelength_m), _f(det.distance_m),
                                         _f(det.pixel_size_m))
    auto = s.oversample is None or s.oversample <= 0
    oversample = recommended if auto else int(s.oversample)
    # step 14: sources
    srcs = None
    if b.sources:
        srcs = sources_from_rows(b.sources, det.beam, b.wavelength_m)
    if srcs is None:
        srcs = generate_sources(det.beam, det.polar, b.wavelength_m, smp.hdiv, smp.vdiv, smp.disp,
                                b.round_div)
    # step 15: mosaic domains (the stream always draws, Q26); a tensor spread keeps its graph
    # (gradients in the spread, the draws fixed by the seed)
    mosaics = domain_matrices(UniformStream(table, c.mosaic_seed), smp.spread, smp.domains)
    # step 16
    steps = len(srcs.sources) * smp.domains * smp.phi.count * oversample * oversample
    w = s.water_m
    I_bg = WATER_F * WATER_F * R_E_SQR * fluence * w * w * w * 1e6 * AVOGADRO / WATER_MW
    exp = Experiment(cfg, det, lattice, Na, Nb, Nc, sample, clips, fluence, flux, smp, mosaics,
                     oversample, auto, recommended, interp, interp_auto, srcs, steps, I_bg,
                     xtal_max)
    exp.phi_lattices = phi_lattice_tables(exp)
    return exp


def _beam_on_sample(b, c):
    """Step 4 (§7.10, Q21): fluence (photons/m²), flux (photons/s), the crystal's (x, y, z)
    size (m) clipped by the beam size, and the clipping warnings."""
    fluence = b.fluence_per_m2
    if b.flux_per_s != 0 and b.exposure_s > 0 and b.beamsize_m >= 0:
        fluence = _div(_div(b.flux_per_s * b.exposure_s, b.beamsize_m), b.beamsize_m)
    sx, sy, sz = c.sample_x_m, c.sample_y_m, c.sample_z_m
    clips = []
    if b.beamsize_m >= 0:
        if b.beamsize_m < sy:
            clips.append(f"WARNING: clipping sample ({sy:g} m high) with beam ({b.beamsize_m:g} m)")
            sy = b.beamsize_m
        if b.beamsize_m < sz:
            clips.append(f"WARNING: clipping sample ({sz:g} m wide) with beam ({b.beamsize_m:g} m)")
            sz = b.beamsize_m
    flux = b.flux_per_s
    if b.exposure_s > 0:
        flux = fluence / b.exposure_s * b.beamsize_m * b.beamsize_m
    return fluence, flux, (sx, sy, sz), clips


def interpolation_requested(cfg: SimulationConfig) -> bool:
    """Whether step 10 (§7.5) interpolates given a structure-factor grid: the flag, else
    automatically where an N ≤ 2 (the N values before the crystal sizes, Q10)."""
    c, s = cfg.crystal, cfg.sampling
    if s.interpolate is None:
        return c.Na <= 2 or c.Nb <= 2 or c.Nc <= 2
    return bool(s.interpolate)


def _interpolation(cfg: SimulationConfig) -> Tuple[bool, bool]:
    """Step 10 (§7.5): (interpolate, decided automatically); never without a structure-factor
    grid."""
    sfs = cfg.structure_factors
    interp = interpolation_requested(cfg) and sfs.count > 0 and sfs.grid is not None
    return interp, cfg.sampling.interpolate is None


def _div(x, y):
    """IEEE ``x / y`` (±inf, NaN) for floats, one true division when a tensor is involved."""
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return v3.div(x, y)
    return div(x, y)


def _f(x) -> float:
    """A plain float (set-up decisions never carry gradients)."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def phi_angles(exp: Experiment) -> List[float]:
    """φ_m = φ0 + phistep·m (radians)."""
    phi0 = exp.config.crystal.phi0_rad
    return [phi0 + exp.phi.step * m for m in range(exp.phi.count)]


def phi_lattice_tables(exp: Experiment):
    """Per φ step: the (a, b, c) used by later φ loops and by the first loop of the run (Q1)."""
    lat = exp.lattice
    base = (lat.a0_m, lat.b0_m, lat.c0_m)
    axis = exp.detector.spindle
    angles = phi_angles(exp)
    rotated = [tuple(v3.rotate_axis(v, axis, ang) for v in base) if ang != 0 else None
               for ang in angles]
    if not exp.config.profile.phi_zero_carry_over:
        # (a tensor angle of 0 is rotated too: the same values, with its graph)
        return [[r if r is not None else (tuple(v3.rotate_axis(v, axis, ang) for v in base)
                                          if isinstance(ang, torch.Tensor) else base)
                 for r, ang in zip(rotated, angles)]] * 2
    last_nonzero = next((r for r in reversed(rotated) if r is not None), base)
    later, first = [], []
    prev_later, prev_first = last_nonzero, base
    for r in rotated:
        if r is not None:
            prev_later = prev_first = r
        later.append(prev_later)
        first.append(prev_first)
    return [later, first]


def _apply_mosaic(exp: Experiment, table):
    """[M] rows (φ outer, domain inner) of a, b, c with U_q applied when the spread is > 0."""
    rows_a, rows_b, rows_c = [], [], []
    for abc in table:
        for U in exp.mosaics:
            vecs = [v3.mat_apply(U, v) for v in abc] if _mosaic_on(exp) else abc
            rows_a.append(vecs[0])
            rows_b.append(vecs[1])
            rows_c.append(vecs[2])
    return rows_a, rows_b, rows_c


def _mosaic_on(exp: Experiment) -> bool:
    """Domain rotations are applied: spread > 0, or a tensor spread (also at 0: the
    differentiable branch, docs/gradients.md)."""
    return isinstance(exp.mosaic_spread_rad, torch.Tensor) or exp.mosaic_spread_rad > 0


def _same(a, b) -> bool:
    """Identical nested tables (tensors compared by identity: a differentiable set-up)."""
    if _has_tensor(a) or _has_tensor(b):
        return a is b
    return a == b


def _fixed_unit(v):
    """Repeated in-place normalisation converges; the C's polar routine re-normalises
    (docs/behaviour/physics.md Appendix A)."""
    if _has_tensor(v):
        return v3.unit(v)
    for _ in range(4):
        u = v3.unit(v)
        if u == v:
            break
        v = u
    return v


def _has_tensor(x) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tensor(v) for v in x)
    return False


def to_tensor(x, device, dtype) -> torch.Tensor:
    """Nested scalars → tensor; tensors inside (set-up with requires_grad) keep their graph."""
    if not _has_tensor(x):
        return torch.tensor(x, device=device, dtype=dtype)
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=dtype)
    return torch.stack([to_tensor(v, device, dtype) for v in x])


def scalar(x, device, dtype):
    """A Python float stays a float (cheapest in the kernel); a tensor moves to the device."""
    return x.to(device=device, dtype=dtype) if isinstance(x, torch.Tensor) else x


def make_plan(exp: Experiment, device="cpu", dtype=torch.float64) -> KernelPlan:
    """The kernel's tensors on ``device``/``dtype``."""
    dev = torch.device(device)
    geom = torch.float64
    T = lambda x: to_tensor(x, dev, geom)  # noqa: E731
    det = exp.detector
    later, first = exp.phi_lattices
    lat_later = _apply_mosaic(exp, later)
    lat_first = _apply_mosaic(exp, first)
    # (binary64 in both modes: the Miller indices are binary64, block.low_dtype)
    first_lat = None if _same(lat_first, lat_later) else tuple(T(x) for x in lat_first)
    lat_tensors = tuple(T(x) for x in lat_later)
    cols = lambda tabs: tuple(tuple(t[:, i:i + 1].contiguous() for i in range(3)) for t in tabs)  # noqa: E731
    # î = −unit(P) (docs/behaviour/physics.md §5.5) for the scattering vector; the polarization
    # routine normalises its own copy once more, and p̂ in place for good
    # (docs/behaviour/physics.md Appendix A)
    incident = [s.incident for s in exp.sources.sources]
    polar_incident = [v3.unit(inc) for inc in incident]
    polar = _fixed_unit(det.polar)
    pb, pe = [], []
    for inc in polar_incident:
        B = v3.unit(v3.cross(polar, inc))
        pb.append(B)
        pe.append(v3.unit(v3.cross(inc, B)))
    cfg = exp.config
    lat = exp.lattice
    N = [n.to(dev, geom) if isinstance(n, torch.Tensor) else float(n)
         for n in (exp.Na, exp.Nb, exp.Nc)]
    continuous = tuple(isinstance(n, torch.Tensor) for n in N)
    whole = tuple(_whole(n) if c else None for n, c in zip(N, continuous))
    shape = ShapeParams(cfg.crystal.shape, *N, cfg.crystal.fudge, lat.a_star, lat.b_star,
                        lat.c_star, continuous, whole)
    return KernelPlan(
        device=dev, dtype=dtype, geom_dtype=geom, shifted_lattice=_shifted(dtype, N),
        fpixels=det.fpixels, spixels=det.spixels,
        pixel_size_m=scalar(det.pixel_size_m, dev, geom), oversample=exp.oversample,
        fdet=T(det.fdet), sdet=T(det.sdet), odet=T(det.odet), pix0=T(det.pix0_m), beam=T(det.beam),
        close_distance_m=scalar(det.close_distance_m, dev, geom),
        distance_m=scalar(det.distance_m, dev, geom), curved=det.curved,
        point_pixel=det.point_pixel, layers=exp.layers.count,
        layer_spacing_m=scalar(exp.layers.spacing_m, dev, geom),
        thickness_m=scalar(exp.layers.thickness_m, dev, geom),
        mu_per_m=scalar(exp.layers.mu_per_m, dev, geom), absorb=_absorbs(exp), incident=T(incident),
        polar_incident=T(polar_incident),
        wavelength_m=T([s.wavelength_m for s in exp.sources.sources]),
        lat_a=lat_tensors[0], lat_b=lat_tensors[1], lat_c=lat_tensors[2], first_lat=first_lat,
        lat_cols=cols(lat_tensors), first_cols=cols(first_lat) if first_lat is not None else (),
        phisteps=exp.phi.count, domains=exp.mosaic_domains, shape=shape,
        sf=SFLookup.build(cfg.structure_factors, dev, dtype),
        kahn_factor=scalar(cfg.beam.kahn_factor, dev, geom),
        kahn_on=_switched_on(cfg.beam.kahn_factor), nopolar=cfg.beam.nopolar,
        polar_b=T(pb), polar_e=T(pe), oversample_thick=cfg.sampling.oversample_thick,
        oversample_polar=cfg.sampling.oversample_polar,
        oversample_omega=cfg.sampling.oversample_omega, dmin_m=cfg.sampling.dmin_m,
        water_on=_switched_on(cfg.sampling.water_m), I_bg=scalar(exp.I_bg, dev, geom),
        fluence_factor=scalar(R_E_SQR * exp.fluence, dev, geom),
        fluence=scalar(exp.fluence, dev, geom), steps=exp.steps, interpolate=exp.interpolate,
        interpolation_global_switch_off=cfg.profile.interpolation_global_switch_off,
    )


def _whole(n: torch.Tensor):
    """The value of a continuous N as a float when it is a whole number, else None."""
    v = float(n.detach())
    return v if v.is_integer() else None


def _switched_on(x) -> bool:
    """A term the C evaluates only for a non-zero value; a tensor always takes the evaluated
    (differentiable) branch, so that its derivative at 0 is right (docs/gradients.md)."""
    return isinstance(x, torch.Tensor) or x != 0


def _absorbs(exp: Experiment) -> bool:
    """Capture fractions from the absorption formula: with a sensor, or (Q36) with
    ``-oversample_thick`` and none, where the formula gives 0."""
    cfg = exp.config
    return exp.layers.thickness_m > 0 or (cfg.sampling.oversample_thick
                                          and cfg.profile.thick_capture_without_sensor)


def _shifted(dtype: torch.dtype, N) -> bool:
    """Reduced-argument SQUARE factors in binary32 (lattice_factor.sincg_shifted); its sign
    rule needs whole-number N, so a continuous (tensor) N keeps the plain form."""
    return dtype != torch.float64 and all(isinstance(n, float) and n.is_integer() for n in N)
