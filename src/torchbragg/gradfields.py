"""Which configuration fields carry gradients, and the checks that no gradient is dropped.

Every field of :class:`~torchbragg.config.SimulationConfig` is either in :data:`DIFFERENTIABLE`
(a ``torch.Tensor`` there keeps its graph into the image) or in :data:`NOT_DIFFERENTIABLE`
(with the reason). :func:`check_fields` refuses a tensor that requires gradients in a field
of the second kind before anything runs; :func:`check_reached` refuses one whose graph does
not reach the rendered image (a field without effect in this configuration, e.g. the Kahn
factor with ``-nopolar``). Both raise :class:`~torchbragg.errors.InputError` naming the
field: a gradient is never dropped silently (docs/gradients.md).
"""
from __future__ import annotations

from dataclasses import fields
from typing import Dict, Iterator, List, Tuple

import torch

from torchbragg.config import SimulationConfig
from torchbragg.errors import InputError

SECTIONS = ("detector", "beam", "crystal", "structure_factors", "sampling")

#: field → what the gradient is with respect to (units), for docs/gradients.md
DIFFERENTIABLE: Dict[str, str] = {
    "detector.pixel_size_m": "pixel size (m)",
    "detector.detsize_f_m": "detector size (m; default beam centre and near point)",
    "detector.detsize_s_m": "detector size (m; default beam centre and near point)",
    "detector.distance_m": "detector distance (m)",
    "detector.close_distance_m": "near-point distance (m)",
    "detector.xbeam_m": "beam centre (m)",
    "detector.ybeam_m": "beam centre (m)",
    "detector.xclose_m": "near point (m)",
    "detector.yclose_m": "near point (m)",
    "detector.orgx_px": "near point (pixels)",
    "detector.orgy_px": "near point (pixels)",
    "detector.rotx_rad": "detector rotation (rad)",
    "detector.roty_rad": "detector rotation (rad)",
    "detector.rotz_rad": "detector rotation (rad)",
    "detector.twotheta_rad": "two-theta (rad)",
    "detector.fdet_vector": "fast axis (CUSTOM convention): panel rotation",
    "detector.sdet_vector": "slow axis (CUSTOM convention): panel rotation",
    "detector.beam_vector": "beam direction (CUSTOM convention)",
    "detector.polar_vector": "polarisation axis (CUSTOM convention)",
    "detector.spindle_axis": "spindle axis (CUSTOM convention)",
    "detector.twotheta_axis": "two-theta axis (CUSTOM convention)",
    "detector.pix0_vector_m": "panel origin (m; corrected profile, ignored by nanobragg: Q6)",
    "detector.thickness_m": "sensor thickness (m, > 0)",
    "detector.mu_per_m": "sensor attenuation (1/m)",
    "beam.wavelength_m": "wavelength (m)",
    "beam.fluence_per_m2": "fluence (photons/m²)",
    "beam.flux_per_s": "flux (photons/s; with an exposure)",
    "beam.exposure_s": "exposure (s; with a flux)",
    "beam.beamsize_m": "beam size (m; with a flux)",
    "beam.dispersion_fraction": "spectral dispersion (fraction)",
    "beam.hdivrange_rad": "divergence range (rad)",
    "beam.vdivrange_rad": "divergence range (rad)",
    "beam.hdivstep_rad": "divergence step (rad)",
    "beam.vdivstep_rad": "divergence step (rad)",
    "beam.sources": "source positions (m) and wavelengths (m); not the weights (Q19)",
    "beam.kahn_factor": "Kahn polarisation factor",
    "crystal.cell_A_rad": "cell lengths (Å) and angles (rad)",
    "crystal.amatrix": "orientation matrix",
    "crystal.misset_rad": "misset angles (rad)",
    "crystal.Na": "cells along a (continuous N)",
    "crystal.Nb": "cells along b (continuous N)",
    "crystal.Nc": "cells along c (continuous N)",
    "crystal.fudge": "shape fudge factor (ROUND, GAUSS)",
    "crystal.mosaic_spread_rad": "mosaic spread (rad; the domain draws fixed by the seed)",
    "crystal.phi0_rad": "φ start (rad)",
    "crystal.osc_rad": "oscillation range (rad)",
    "crystal.phistep_rad": "φ step (rad)",
    "structure_factors.default_F": "constant structure factor (without a table)",
    "structure_factors.grid": "structure factors of the table",
    "sampling.water_m": "water background thickness (m)",
}

#: field → why it has no derivative
NOT_DIFFERENTIABLE: Dict[str, str] = {
    "detector.convention": "a choice",
    "detector.pivot": "a choice",
    "detector.fpixels": "a pixel count",
    "detector.spixels": "a pixel count",
    "detector.curved": "a switch",
    "detector.point_pixel": "a switch",
    "detector.thicksteps": "a layer count",
    "detector.odet_vector": ("used only when exactly of unit length, else replaced by "
                             "fdet × sdet (Q32): move fdet/sdet"),
    "beam.dispsteps": "a count of wavelengths",
    "beam.hdivsteps": "a count of divergence steps",
    "beam.vdivsteps": "a count of divergence steps",
    "beam.round_div": "a switch",
    "beam.nopolar": "a switch",
    "crystal.misset_random": "a switch",
    "crystal.misset_seed": "a random seed",
    "crystal.sample_x_m": "N = ceil(size/|a|) is piecewise constant: give Na/Nb/Nc as tensors",
    "crystal.sample_y_m": "N = ceil(size/|b|) is piecewise constant: give Na/Nb/Nc as tensors",
    "crystal.sample_z_m": "N = ceil(size/|c|) is piecewise constant: give Na/Nb/Nc as tensors",
    "crystal.shape": "a choice",
    "crystal.mosaic_domains": "a count of domains",
    "crystal.mosaic_seed": "a random seed",
    "crystal.phisteps": "a count of φ steps",
    "structure_factors.origin": "the table's layout",
    "structure_factors.ranges": "the table's layout",
    "structure_factors.count": "the table's size",
    "sampling.oversample": "a sub-pixel count",
    "sampling.oversample_thick": "a switch",
    "sampling.oversample_polar": "a switch",
    "sampling.oversample_omega": "a switch",
    "sampling.interpolate": "a switch",
    "sampling.dmin_m": "a resolution cut: piecewise constant",
    "sampling.roi": "a pixel selection",
    "sampling.mask": "a pixel selection",
}

#: column of an explicit source row that is read but never used by the C (Q19)
SOURCE_WEIGHT_COLUMN = 3


def _tensors(x) -> Iterator[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)


def graded(cfg: SimulationConfig) -> List[Tuple[str, torch.Tensor]]:
    """(field, tensor) for every tensor that requires gradients in the configuration."""
    out = []
    for section in SECTIONS:
        part = getattr(cfg, section)
        for f in fields(part):
            for t in _tensors(getattr(part, f.name)):
                if t.requires_grad:
                    out.append((f"{section}.{f.name}", t))
    return out


def check_fields(cfg: SimulationConfig) -> None:
    """Refuse a gradient-carrying tensor in a field that has no derivative (InputError)."""
    if not torch.is_grad_enabled():
        return
    for name, _t in graded(cfg):
        if name in NOT_DIFFERENTIABLE:
            raise InputError(f"{name}: not differentiable ({NOT_DIFFERENTIABLE[name]}); "
                             "give it as a plain number")
    for row in cfg.beam.sources or ():
        w = row[SOURCE_WEIGHT_COLUMN] if len(row) > SOURCE_WEIGHT_COLUMN else None
        if isinstance(w, torch.Tensor) and w.requires_grad:
            raise InputError("beam.sources: a source weight is not differentiable: it is read "
                             "but not used (Q19)")


def check_reached(cfg: SimulationConfig, image: torch.Tensor) -> None:
    """Refuse gradient-carrying fields whose graph does not reach ``image`` (InputError)."""
    wanted = graded(cfg)
    if not wanted:
        return
    reached = _graph_nodes(image)
    missing = sorted({name for name, t in wanted if _node(t) not in reached})
    if missing:
        raise InputError(f"{', '.join(missing)}: no effect on this image, so no gradient "
                         "(docs/gradients.md: how to start at a switch point)")


def _node(t: torch.Tensor):
    """The autograd node a tensor's gradient enters by (its AccumulateGrad for a leaf)."""
    if t.grad_fn is not None:
        return t.grad_fn
    return t.view_as(t).grad_fn.next_functions[0][0]


def _graph_nodes(out: torch.Tensor) -> set:
    seen = set()
    stack = [out.grad_fn] if out.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(n for n, _ in node.next_functions)
    return seen
