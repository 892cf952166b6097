"""How much a run is: the pixels it renders (ROI and mask), its kernel evaluations, and the
working memory per evaluation that sizes its chunks.

One place for these counts: the renderer, the compile policy and the CLI's up-front limits
(:mod:`torchbragg.cli.limits`) all use them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch

from torchbragg.physics.plan import KernelPlan
from torchbragg.physics.sampling import Sampling
from torchbragg.region import Region


def _product(pixels: int, oversample: int, layers: int, sources: int, *orientations: int) -> float:
    """pixels × oversample² × layers × sources × the orientation factors (φ steps × mosaic
    domains, or the plan's lattice rows), in binary64: an absurd count gives inf, not an
    exception."""
    n = float(pixels) * oversample * oversample * max(layers, 1) * sources
    for factor in orientations:
        n *= factor
    return n


@dataclass(frozen=True)
class Counts:
    """The counts of a run that its work and memory estimates are made of."""

    pixels: int  # rendered (ROI) pixels
    image_pixels: int
    oversample: int
    layers: int
    sources: int
    phisteps: int
    domains: int

    @property
    def evaluations(self) -> float:
        """Kernel evaluations: pixels × oversample² × layers × sources × φ steps ×
        domains."""
        return _product(self.pixels, self.oversample, self.layers, self.sources, self.phisteps,
                        self.domains)


def counts(detector, roi, sampling: Sampling, sources: int, oversample: int) -> Counts:
    """The counts of a run on ``detector`` (its ``fpixels``, ``spixels``) over ``roi``
    (:meth:`Region.of`), with ``sampling`` resolved, ``sources`` sources and ``oversample``
    sub-pixels per axis."""
    return Counts(pixels=Region.of(detector.fpixels, detector.spixels, roi).pixels,
                  image_pixels=detector.fpixels * detector.spixels, oversample=int(oversample),
                  layers=sampling.layers.count, sources=sources, phisteps=sampling.phi.count,
                  domains=sampling.domains)


def evaluations(plan, pixels: int) -> float:
    """Kernel evaluations of a run of ``plan`` over ``pixels`` pixels (as
    :attr:`Counts.evaluations`; the plan's lattice rows are its φ steps × domains): the
    measure of work the compile policy uses."""
    return _product(pixels, plan.oversample, plan.layers, plan.incident.shape[0],
                    plan.lat_a.shape[0])


#: bytes of working memory per (pixel × evaluation) held at once by the kernel (measured ≈ 300)
BYTES_PER_EVALUATION = 320
#: the CPU's working-memory ceiling (chunks there are cache-sized well below it)
DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024
#: share of the free memory one chunk's working set may take
FREE_MEMORY_SHARE = 4
#: the fewest pixels of a chunk
MIN_CHUNK_PIXELS = 1024


def bytes_per_pixel(rows):
    """Working memory (bytes) per pixel of a chunk with ``rows`` lattice rows (φ steps ×
    domains): the binary64 measure, kept in binary32 mode, whose Miller indices and reduced
    arguments are binary64 too."""
    return BYTES_PER_EVALUATION * rows + 256


def rendered_indices(plan: KernelPlan, roi, mask) -> torch.Tensor:
    """Flat (slow·F + fast) indices of pixels inside the ROI (:class:`Region`) and not masked,
    in C order."""
    keep = torch.from_numpy(Region.of(plan.fpixels, plan.spixels, roi).mask())
    if mask is not None:
        keep &= torch.as_tensor(mask, dtype=torch.bool)
    return torch.nonzero(keep.reshape(-1)).reshape(-1)


#: elements of one [M, P] block tensor that keep the eager kernel cache-friendly (measured on
#: W1–W4: 5–10 MB blocks are up to 2x faster than memory-sized ones, smaller ones pay Python
#: overhead per operation)
BLOCK_ELEMENTS = 655360


def memory_budget(device: torch.device) -> int:
    """Bytes of working memory for one chunk: a quarter of the device's free memory on CUDA;
    on the CPU a quarter of the available host memory, at most :data:`DEFAULT_BUDGET_BYTES`."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free) // FREE_MEMORY_SHARE
    available = _available_host_memory()
    if available is None:
        return DEFAULT_BUDGET_BYTES
    return min(DEFAULT_BUDGET_BYTES, available // FREE_MEMORY_SHARE)


def _available_host_memory() -> Optional[int]:
    """``MemAvailable`` of /proc/meminfo in bytes (Linux), else free physical pages, else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def chunk_pixels(plan: KernelPlan, budget_bytes: Optional[int] = None) -> int:
    """Pixels per kernel call: cache-sized blocks, within ``budget_bytes`` of working memory
    (default :func:`memory_budget`).

    On CUDA the block is sized by the memory budget alone (more parallel work per launch).
    """
    if budget_bytes is None:
        budget_bytes = memory_budget(plan.device)
    m = max(1, plan.lat_a.shape[0])
    by_memory = max(MIN_CHUNK_PIXELS, budget_bytes // bytes_per_pixel(m))
    if plan.device.type != "cpu":
        return by_memory
    return max(MIN_CHUNK_PIXELS, min(by_memory, 131072, BLOCK_ELEMENTS // m))
