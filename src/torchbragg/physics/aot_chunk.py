"""Ahead-of-time compiled chunk: the whole of :func:`kernel.render_chunk` as one package.

For the common configurations (no sensor thickness, no d-min cut, no interpolation, at most
:data:`MAX_STEPS` sub-pixel × source steps) the per-pixel geometry, Ω, polarization and the
hot block of a chunk fuse into one compiled call, so nothing of a chunk runs eagerly. It is the
same function as the eager path (traced through ``torch.export``), packaged, cached and loaded
as :mod:`aot` describes; the run's first φ loop (Q1), traces and ``-printout`` stay eager.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from torchbragg.physics import aot
from torchbragg.physics.fused import block_accumulate
from torchbragg.physics.kernel import ChunkResult, InterpolationPolicy, render_chunk

#: sub-pixel × source steps unrolled in one package (more: compile time grows, the block
#: package is used instead)
MAX_STEPS = 4


@dataclass(frozen=True)
class ChunkStructure:
    """What a chunk package bakes in (besides the block's structure with rows = M)."""

    dtype: str
    block: aot.BlockStructure
    oversample: int
    sources: int
    curved: bool
    point_pixel: bool
    nopolar: bool
    kahn_on: bool


def chunk_possible(plan) -> bool:
    """Configurations a chunk package covers (see the module docstring)."""
    return (plan.device.type == "cpu" and not plan.absorb and plan.layers == 1
            and plan.layer_spacing_m == 0 and plan.dmin_m <= 0 and not plan.interpolate
            and plan.oversample ** 2 * plan.incident.shape[0] <= MAX_STEPS)


def structure_of(plan) -> ChunkStructure:
    block = aot.structure_of(plan, plan.lat_a.shape[0], False)
    return ChunkStructure(block.dtype, block, int(plan.oversample), int(plan.incident.shape[0]),
                          bool(plan.curved), bool(plan.point_pixel), bool(plan.nopolar),
                          bool(plan.kahn_on))


class ChunkModule(torch.nn.Module):
    """``render_chunk`` with the plan's numbers as inputs.

    ``geom``: binary64 [5, 3] (f̂, ŝ, ô, pix0, beam); ``scalars``: binary64 [7] (pixel size,
    close distance, distance, Kahn factor, I_bg, r_e²Φ, steps); sources: ``incident``
    [Ns, 3], ``wavelength`` [Ns], ``polar_b``/``polar_e``/``polar_i`` [Ns, 3]; then the block inputs of
    :class:`aot.BlockModule`. Returns the chunk's values and ΣΩ per pixel.
    """

    def __init__(self, structure: ChunkStructure):
        super().__init__()
        self.structure = structure

    def forward(self, s, f, geom, scalars, incident, wavelength, polar_b, polar_e, polar_i,
                lat, shape_vals, sf_ints, padded):
        st = self.structure
        plan = aot.block_params(
            st.block, lat, shape_vals, sf_ints, padded, device=torch.device("cpu"),
            geom_dtype=torch.float64, pixel_size_m=scalars[0], oversample=st.oversample,
            fdet=geom[0], sdet=geom[1], odet=geom[2], pix0=geom[3], beam=geom[4],
            close_distance_m=scalars[1], distance_m=scalars[2], curved=st.curved,
            point_pixel=st.point_pixel, layers=1, layer_spacing_m=0.0, thickness_m=0.0,
            mu_per_m=0.0, absorb=False, incident=incident, wavelength_m=wavelength,
            first_lat=None,
            first_cols=(), kahn_factor=scalars[3], kahn_on=st.kahn_on, nopolar=st.nopolar,
            polar_b=polar_b, polar_e=polar_e, polar_incident=polar_i, dmin_m=0.0, I_bg=scalars[4],
            fluence_factor=scalars[5], steps=scalars[6], interpolate=False,
            interpolation_global_switch_off=False)
        res = render_chunk(plan, s, f, -1, InterpolationPolicy("off"), block_fn=block_accumulate)
        return res.value, res.omega_sum


def _example_inputs(plan):
    n = aot.EXAMPLE_PIXELS
    idx = torch.arange(n, dtype=torch.int64)
    return (idx // 256, idx % 256, *chunk_inputs(plan))


def chunk_inputs(plan) -> tuple:
    """The plan's numbers in :class:`ChunkModule`'s input order (after ``s``, ``f``)."""
    f64 = torch.float64
    geom = torch.stack([plan.fdet, plan.sdet, plan.odet, plan.pix0, plan.beam]).to(f64)
    scalars = torch.stack([torch.as_tensor(x, dtype=f64).reshape(()) for x in (
        plan.pixel_size_m, plan.close_distance_m, plan.distance_m, plan.kahn_factor,
        plan.I_bg, plan.fluence_factor, float(plan.steps))])
    sources = [x.to(f64).contiguous() for x in (plan.incident, plan.wavelength_m,
                                                 plan.polar_b, plan.polar_e,
                                                 plan.polar_incident)]
    return (geom.contiguous(), scalars, *sources, *aot.block_inputs(plan))


def build(structure: ChunkStructure, plan, path) -> None:
    pixels = torch.export.Dim("pixels", min=aot.MIN_PIXELS)
    grid = torch.export.Dim("grid", min=aot.MIN_PIXELS)
    dynamic = [{0: pixels}, {0: pixels}] + [None] * 10 + [{0: grid}]
    aot.compile_package(ChunkModule(structure), _example_inputs(plan), dynamic, path)


class CompiledChunk:
    """``(s, f) → ChunkResult`` through a loaded chunk package."""

    def __init__(self, plan, runner, path):
        self.runner, self.path = runner, path
        self.inputs = list(chunk_inputs(plan))

    def mark_differs(self) -> None:
        """Remember in the cache that this package's bits differ from eager on this CPU."""
        try:
            aot.differs_marker(self.path).touch()
        except OSError:  # a read-only cache: every run checks again
            pass

    def covers(self, s) -> bool:
        return s.shape[0] >= aot.MIN_PIXELS

    def __call__(self, s, f):
        value, omega_sum = self.runner.run([s.contiguous(), f.contiguous(), *self.inputs])
        return ChunkResult(value, omega_sum, None, None)


def compiled_chunk(plan, build_missing: bool,
                   notify: Optional[Callable[[str], None]] = None) -> Optional[CompiledChunk]:
    """A :class:`CompiledChunk` for ``plan``, or None (not covered, not cached and not to be
    built, or failed: the caller uses :func:`kernel.render_chunk`)."""
    if not chunk_possible(plan):
        return None
    structure = structure_of(plan)
    path = aot.package_path(structure, kind="chunk")
    if aot.differs_marker(path).exists():  # checked before on this machine: not bit-equal
        return None
    runner = aot.load_or_build(path, lambda: build(structure, plan, path),
                               f"{structure.dtype} kernel", build_missing, notify)
    return CompiledChunk(plan, runner, path) if runner is not None else None
