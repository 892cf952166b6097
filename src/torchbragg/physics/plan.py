"""The kernel's inputs: every per-run quantity as tensors on the compute device
(docs/behaviour/physics.md §7.11)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from torchbragg.physics.lattice_factor import ShapeParams
from torchbragg.physics.structure_factors import SFLookup


@dataclass
class KernelPlan:
    """Run-level constants of the pixel loop. Lengths in metres, angles in radians."""

    device: torch.device
    #: dtype of the [pixels × (φ, domain)] block's lattice and structure factors (the Miller
    #: indices are binary64 in both modes: block.low_dtype)
    dtype: torch.dtype
    #: dtype of per-pixel geometry, factors and the accumulator (always binary64)
    geom_dtype: torch.dtype
    #: reduced-argument lattice factors (binary32 block, see lattice_factor.sincg_shifted)
    shifted_lattice: bool
    fpixels: int
    spixels: int
    pixel_size_m: float
    oversample: int
    # detector (final axes, origin; 3-vectors as tensors of shape [3])
    fdet: torch.Tensor
    sdet: torch.Tensor
    odet: torch.Tensor
    pix0: torch.Tensor
    beam: torch.Tensor
    close_distance_m: float
    distance_m: float
    curved: bool
    point_pixel: bool
    # sensor
    layers: int
    layer_spacing_m: float
    thickness_m: float
    mu_per_m: float
    #: the capture fraction comes from the absorption formula (§6.10); False: it is 1
    absorb: bool
    # sources [Ns, 3], [Ns]
    incident: torch.Tensor
    #: î as the polarization factor sees it: normalised once more
    #: (docs/behaviour/physics.md Appendix A) [Ns, 3]
    polar_incident: torch.Tensor
    wavelength_m: torch.Tensor
    # lattice per (φ step, domain), flattened to M = phisteps·domains rows of [M, 3] (binary64)
    lat_a: torch.Tensor
    lat_b: torch.Tensor
    lat_c: torch.Tensor
    #: the tables used by the first φ loop of the run (Q1), or None when identical
    first_lat: Optional[tuple]
    #: lat_a/b/c as components: ((a_x, a_y, a_z), (b_x, …), (c_x, …)), each [M, 1]
    lat_cols: tuple
    #: the same for ``first_lat`` (empty when it is None)
    first_cols: tuple
    phisteps: int
    domains: int
    shape: ShapeParams
    sf: SFLookup
    # polarization
    kahn_factor: float
    kahn_on: bool  # kahn_factor ≠ 0 (the ψ term is evaluated)
    nopolar: bool
    polar_b: torch.Tensor  # [Ns, 3] unit(p̂ × î) per source
    polar_e: torch.Tensor  # [Ns, 3] unit(î × B) per source
    # toggles and scalars
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool
    dmin_m: float
    water_on: bool
    I_bg: float
    fluence_factor: float  # r_e²·Φ
    fluence: float
    steps: int
    interpolate: bool
    interpolation_global_switch_off: bool
