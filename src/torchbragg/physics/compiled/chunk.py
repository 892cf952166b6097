"""The compiled chunk: the whole of :func:`kernel.render_chunk` as one package.

For the common configurations (no sensor thickness, no d-min cut, no interpolation, at most
:data:`MAX_STEPS` sub-pixel × source steps) the per-pixel geometry, Ω, polarization and the
hot block of a chunk fuse into one compiled call, so nothing of a chunk runs eagerly. It is the
same function as the eager path (traced through ``torch.export``), packaged, cached and loaded
as :mod:`.packages` describes; the run's first φ loop (Q1), traces and ``-printout`` stay
eager. A run's first compiled chunk is also rendered eagerly and compared bit for bit
(:meth:`CompiledChunk.render`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import torch

from torchbragg.physics.block import block_accumulate
from torchbragg.physics.compiled import packages, parts
from torchbragg.physics.kernel import ChunkResult, InterpolationPolicy, render_chunk

#: sub-pixel × source steps unrolled in one package (more: compile time grows, the block
#: package is used instead)
MAX_STEPS = 4
DIFFERS_NOTE = ("the compiled kernel differs from the eager one in the last bits on this CPU; "
                "running without it (remembered in the cache)")


def covers(plan) -> bool:
    """Configurations a chunk package covers: the plan's fixed fields (plan.py: no sensor, no
    d-min cut, no interpolation, …) and at most :data:`MAX_STEPS` steps per chunk."""
    return parts.covered(plan) and plan.oversample ** 2 * plan.incident.shape[0] <= MAX_STEPS


class ChunkModule(torch.nn.Module):
    """``render_chunk`` of the plan rebuilt from ``key`` and the inputs ``tensors``
    (:func:`parts.split`), for the pixels (``s``, ``f``): int64 [P]. Returns the chunk's
    values and ΣΩ per pixel."""

    def __init__(self, key: parts.PlanKey):
        super().__init__()
        self.key = key

    def forward(self, s, f, tensors):
        plan = parts.rebuild(self.key, tensors)
        res = render_chunk(plan, s, f, -1, InterpolationPolicy("off"), block_fn=block_accumulate)
        return res.value, res.omega_sum


def build(plan, path: Path, cache: Path) -> None:
    """Export and compile the chunk package of ``plan`` (45–260 s), written atomically to
    ``path``."""
    key, tensors = parts.split(plan, parts.CHUNK)
    idx = torch.arange(packages.EXAMPLE_PIXELS, dtype=torch.int64)
    pixels = {0: torch.export.Dim("pixels", min=packages.MIN_PIXELS)}
    grid = torch.export.Dim("grid", min=packages.MIN_PIXELS)
    dynamic = [pixels, pixels, parts.dynamic_shapes(key, {"sf": grid})]
    packages.compile_package(ChunkModule(key), (idx // 256, idx % 256, tensors), dynamic, path,
                             cache)


class CompiledChunk:
    """``(s, f) → ChunkResult`` through a loaded chunk package, checked once against eager."""

    def __init__(self, plan, runner, path: Path,
                 notify: Optional[Callable[[str], None]] = None):
        self.runner, self.path, self.notify = runner, path, notify
        self.inputs = parts.split(plan, parts.CHUNK)[1]
        self.verified = False  # the package has reproduced the eager kernel's bits once
        self.differs = False  # it did not: the run goes on without it

    def __call__(self, s, f) -> ChunkResult:
        value, omega_sum = self.runner.run([s.contiguous(), f.contiguous(), *self.inputs])
        return ChunkResult(value, omega_sum, None, None)

    def render(self, s, f, eager: Callable[[], ChunkResult]) -> ChunkResult:
        """The chunk (``s``, ``f``) through the package; ``eager()`` renders it with
        :func:`kernel.render_chunk` instead (too few pixels), and renders the first chunk
        once more for the comparison. A package whose bits differ is marked in the cache
        (later runs skip it) and dropped (:attr:`differs`)."""
        if not packages.fits(s.shape[0]):
            return eager()
        if self.verified:
            return self(s, f)
        reference = eager()
        self.verified = _same_bits(self(s, f), reference)
        if not self.verified:  # (seen with AVX2 builds: last-bit differences in float64)
            self.differs = True
            self._mark_differs()
            if self.notify is not None:
                self.notify(DIFFERS_NOTE)
        return reference

    def _mark_differs(self) -> None:
        """Remember in the cache that this package's bits differ from eager on this CPU."""
        try:
            packages.differs_marker(self.path).touch()
        except OSError:  # a read-only cache: every run checks again
            pass


def _same_bits(a: ChunkResult, b: ChunkResult) -> bool:
    """Two chunk results with bit-identical (binary64) values and solid angles."""
    return all(torch.equal(x.contiguous().view(torch.int64), y.contiguous().view(torch.int64))
               for x, y in ((a.value, b.value), (a.omega_sum, b.omega_sum)))


def chunk_path(plan, cache: Path) -> Path:
    """The chunk package a run of ``plan`` loads."""
    return packages.package_path(cache, "chunk", parts.split(plan, parts.CHUNK)[0])


def compiled_chunk(plan, cache: Path, build_missing: bool,
                   notify: Optional[Callable[[str], None]] = None) -> Optional[CompiledChunk]:
    """A :class:`CompiledChunk` for ``plan`` (a covered configuration), or None (not cached
    and not to be built, known to differ from eager here, or failed)."""
    path = chunk_path(plan, cache)
    if packages.differs_marker(path).exists():  # checked before on this machine: not bit-equal
        return None
    what = f"{str(plan.dtype).replace('torch.', '')} kernel"
    runner = packages.load_or_build(path, lambda: build(plan, path, cache), what,
                                    build_missing, notify)
    return CompiledChunk(plan, runner, path, notify) if runner is not None else None
