"""The kernel's inputs: every per-run quantity as tensors on the compute device
(docs/behaviour/physics.md §7.11).

Each field declares what a compiled package (physics/compiled/parts.py) does with it:
:func:`static` values are baked into a package (they are its key: another value needs
another package), :func:`tensor` values are its exported inputs (numbers become 0-d binary64
tensors), :func:`nested` values are split the same way by their own rule, and a
:func:`fixed` field has the one value a whole-chunk package covers. Fields marked
``block=True`` are the ones the hot block reads (the block packages take only those); the
others are not read by a package's code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from torchbragg.physics.lattice_factor import ShapeParams
from torchbragg.physics.structure_factors import SFLookup

STATIC, TENSOR, NESTED, FIXED = "static", "tensor", "nested", "fixed"


def static(block: bool = False):
    """A field baked into the packages (part of their key)."""
    return field(metadata={"package": STATIC, "block": block})


def tensor(block: bool = False):
    """A field that is an input of the packages (a tensor, a tuple of them, or a number)."""
    return field(metadata={"package": TENSOR, "block": block})


def nested(block: bool = False):
    """A field whose value has its own static and tensor parts (physics/compiled/parts.py)."""
    return field(metadata={"package": NESTED, "block": block})


def fixed(value):
    """A field that whole-chunk packages take only with this value."""
    return field(metadata={"package": FIXED, "value": value})


@dataclass
class KernelPlan:
    """Run-level constants of the pixel loop. Lengths in metres, angles in radians."""

    device: torch.device = fixed(torch.device("cpu"))
    #: dtype of the [pixels × (φ, domain)] block's lattice and structure factors (the Miller
    #: indices are binary64 in both modes: block.low_dtype)
    dtype: torch.dtype = static(block=True)
    #: dtype of per-pixel geometry, factors and the accumulator (always binary64)
    geom_dtype: torch.dtype = fixed(torch.float64)
    #: reduced-argument lattice factors (binary32 block, see lattice_factor.sincg_shifted)
    shifted_lattice: bool = static(block=True)
    fpixels: int
    spixels: int
    pixel_size_m: float = tensor()
    oversample: int = static()
    # detector (final axes, origin; 3-vectors as tensors of shape [3])
    fdet: torch.Tensor = tensor()
    sdet: torch.Tensor = tensor()
    odet: torch.Tensor = tensor()
    pix0: torch.Tensor = tensor()
    beam: torch.Tensor = tensor()
    close_distance_m: float = tensor()
    distance_m: float = tensor()
    curved: bool = static()
    point_pixel: bool = static()
    # sensor
    layers: int = fixed(1)
    layer_spacing_m: float = fixed(0.0)
    thickness_m: float
    mu_per_m: float
    #: the capture fraction comes from the absorption formula (§6.10); False: it is 1
    absorb: bool = fixed(False)
    # sources [Ns, 3], [Ns]
    incident: torch.Tensor = tensor()
    #: î as the polarization factor sees it: normalised once more
    #: (docs/behaviour/physics.md Appendix A) [Ns, 3]
    polar_incident: torch.Tensor = tensor()
    wavelength_m: torch.Tensor = tensor()
    # lattice per (φ step, domain), flattened to M = phisteps·domains rows of [M, 3] (binary64)
    lat_a: torch.Tensor
    lat_b: torch.Tensor
    lat_c: torch.Tensor
    #: the tables used by the first φ loop of the run (Q1), or None when identical
    first_lat: Optional[tuple]
    #: lat_a/b/c as components: ((a_x, a_y, a_z), (b_x, …), (c_x, …)), each [M, 1]
    lat_cols: tuple = tensor(block=True)
    #: the same for ``first_lat`` (empty when it is None)
    first_cols: tuple
    phisteps: int
    domains: int
    shape: ShapeParams = nested(block=True)
    sf: SFLookup = nested(block=True)
    # polarization
    kahn_factor: float = tensor()
    kahn_on: bool = static()  # kahn_factor ≠ 0 (the ψ term is evaluated)
    nopolar: bool = static()
    polar_b: torch.Tensor = tensor()  # [Ns, 3] unit(p̂ × î) per source
    polar_e: torch.Tensor = tensor()  # [Ns, 3] unit(î × B) per source
    # toggles and scalars
    oversample_thick: bool = static(block=True)
    oversample_polar: bool = static(block=True)
    oversample_omega: bool = static(block=True)
    dmin_m: float = fixed(0.0)
    water_on: bool = static(block=True)
    I_bg: float = tensor()
    fluence_factor: float = tensor()  # r_e²·Φ
    fluence: float
    steps: int = tensor()
    interpolate: bool = fixed(False)
    interpolation_global_switch_off: bool
