"""Frozen configuration of one simulation, in physical units (named in each field).

A configuration holds what the user asked for after every command-line precedence rule has been
applied (docs/behaviour/cli.md §6); ``None`` marks a value left to the automatic rules of
docs/behaviour/physics.md (sampling counts, oversampling, interpolation, beam centre). The physics
set-up turns it into tensors. Build one with :func:`torchbragg.cli.parse.config_from_argv` or
directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from torchbragg.compat import NANOBRAGG, CompatProfile

Vec3 = Tuple[float, float, float]
Roi = Tuple[int, int, int, int]


@dataclass(frozen=True)
class DetectorConfig:
    """Detector placement and pixels (docs/behaviour/physics.md §6). Lengths in metres, angles in
    radians."""

    convention: str = "MOSFLM"
    #: pivot requested by flags; named conventions force their own (docs/behaviour/physics.md §6.5,
    #: Q2)
    pivot: str = "BEAM"
    pixel_size_m: float = 0.0001
    fpixels: int = 1024
    spixels: int = 1024
    detsize_f_m: float = 0.1024
    detsize_s_m: float = 0.1024
    distance_m: float = 0.1
    close_distance_m: Optional[float] = None
    xbeam_m: Optional[float] = None
    ybeam_m: Optional[float] = None
    xclose_m: Optional[float] = None
    yclose_m: Optional[float] = None
    orgx_px: Optional[float] = None
    orgy_px: Optional[float] = None
    rotx_rad: float = 0.0
    roty_rad: float = 0.0
    rotz_rad: float = 0.0
    twotheta_rad: float = 0.0
    #: user vectors for the CUSTOM convention (None = built-in default)
    fdet_vector: Optional[Vec3] = None
    sdet_vector: Optional[Vec3] = None
    odet_vector: Optional[Vec3] = None
    beam_vector: Optional[Vec3] = None
    polar_vector: Optional[Vec3] = None
    spindle_axis: Optional[Vec3] = None
    twotheta_axis: Optional[Vec3] = None
    #: detector origin override, honoured only when the profile does not ignore it (Q6)
    pix0_vector_m: Optional[Vec3] = None
    curved: bool = False
    point_pixel: bool = False
    thickness_m: float = 0.0
    #: attenuation coefficient μ (1/m); None = unset (1/thickness when a sensor is present)
    mu_per_m: Optional[float] = None
    thicksteps: Optional[int] = None


@dataclass(frozen=True)
class BeamConfig:
    """Incident beam, spectrum, divergence and polarization
    (docs/behaviour/physics.md §5, §7.10)."""

    wavelength_m: float = 1e-10
    fluence_per_m2: float = 125932015286227086360700780544.0
    flux_per_s: float = 0.0
    exposure_s: float = 1.0
    beamsize_m: float = 0.0001
    dispersion_fraction: float = 0.0
    dispsteps: Optional[int] = None
    hdivrange_rad: Optional[float] = None
    vdivrange_rad: Optional[float] = None
    hdivstep_rad: Optional[float] = None
    vdivstep_rad: Optional[float] = None
    hdivsteps: Optional[int] = None
    vdivsteps: Optional[int] = None
    round_div: bool = True
    #: explicit sources: (x, y, z, weight, wavelength_m) rows, NaN = missing column
    sources: Optional[Tuple[Tuple[float, float, float, float, float], ...]] = None
    kahn_factor: float = 0.0
    nopolar: bool = False


@dataclass(frozen=True)
class CrystalConfig:
    """Unit cell, orientation, size, shape and mosaicity (docs/behaviour/physics.md §2–4)."""

    #: a, b, c (Å), α, β, γ (rad) from ``-cell``; None when only a matrix is given
    cell_A_rad: Optional[Tuple[float, float, float, float, float, float]] = None
    #: MOSFLM A-matrix (9 numbers, rows x, y, z; columns a*, b*, c*; dimensionless)
    amatrix: Optional[Tuple[float, ...]] = None
    misset_rad: Optional[Vec3] = None
    misset_random: bool = False
    misset_seed: int = -12345678
    Na: int = 1
    Nb: int = 1
    Nc: int = 1
    sample_x_m: float = 0.0
    sample_y_m: float = 0.0
    sample_z_m: float = 0.0
    shape: str = "SQUARE"
    fudge: float = 1.0
    mosaic_spread_rad: Optional[float] = None
    mosaic_domains: Optional[int] = None
    mosaic_seed: int = -12345678
    phi0_rad: float = 0.0
    osc_rad: Optional[float] = None
    phistep_rad: Optional[float] = None
    phisteps: Optional[int] = None


@dataclass(frozen=True)
class StructureFactors:
    """Amplitude table on an integer grid (docs/behaviour/formats.md §2.3) or a constant
    ``default_F``."""

    default_F: float = 0.0
    #: (h_min, k_min, l_min) of the grid
    origin: Tuple[int, int, int] = (0, 0, 0)
    #: extents (h_range, k_range, l_range)
    ranges: Tuple[int, int, int] = (0, 0, 0)
    #: float64 array of shape (h_range+1, k_range+1, l_range+1), or None
    grid: object = None
    #: number of loaded entries ("hkls"); 0 = no table
    count: int = 0


@dataclass(frozen=True)
class SamplingConfig:
    """Sub-pixel sampling, resolution cut, interpolation and rendered region."""

    oversample: Optional[int] = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    #: True/False forces tricubic interpolation on/off; None = automatic (§7.5)
    interpolate: Optional[bool] = None
    dmin_m: float = 0.0
    water_m: float = 0.0
    #: inclusive (xmin, xmax, ymin, ymax) fast/slow pixel bounds; None = whole detector
    roi: Optional[Roi] = None
    #: bool array (spixels, fpixels): False = masked pixel (not rendered); None = no mask
    mask: object = None


@dataclass(frozen=True)
class SimulationConfig:
    """Everything the physics needs for one image."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    beam: BeamConfig = field(default_factory=BeamConfig)
    crystal: CrystalConfig = field(default_factory=CrystalConfig)
    structure_factors: StructureFactors = field(default_factory=StructureFactors)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    profile: CompatProfile = NANOBRAGG
