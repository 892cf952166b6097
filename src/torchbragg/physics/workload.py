"""How much a run is: the pixels it renders (ROI and mask), its kernel evaluations, and the
working memory per evaluation that sizes its chunks.

One place for these counts: the renderer, the compile policy and the CLI's up-front limits
all use them.
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from torchbragg.physics.plan import KernelPlan


def evaluations(plan, pixels: int) -> int:
    """Kernel evaluations of a run over ``pixels`` pixels (rows × sources × layers ×
    sub-pixels each): the measure of work the compile policy uses."""
    return (pixels * plan.lat_a.shape[0] * plan.incident.shape[0] * plan.layers
            * plan.oversample * plan.oversample)


#: bytes of working memory per (pixel × evaluation) held at once by the kernel (measured ≈ 300)
BYTES_PER_EVALUATION = 320
#: the CPU's working-memory ceiling (chunks there are cache-sized well below it)
DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024
#: share of the free memory one chunk's working set may take
FREE_MEMORY_SHARE = 4


def rendered_indices(plan: KernelPlan, roi, mask) -> torch.Tensor:
    """Flat (slow·F + fast) indices of pixels inside the ROI and not masked, in C order."""
    S, F = plan.spixels, plan.fpixels
    keep = torch.ones((S, F), dtype=torch.bool)
    if roi is not None:
        xmin, xmax, ymin, ymax = roi
        fast = torch.arange(F)[None, :]
        slow = torch.arange(S)[:, None]
        keep &= (fast >= xmin) & (fast <= xmax) & (slow >= ymin) & (slow <= ymax)
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
    # (the measured bytes are binary64's; in binary32 mode the Miller indices and their
    # reduced arguments are binary64 too, so the same estimate is kept)
    per_pixel = BYTES_PER_EVALUATION * m + 256
    by_memory = max(1024, budget_bytes // per_pixel)
    if plan.device.type != "cpu":
        return by_memory
    return max(1024, min(by_memory, 131072, BLOCK_ELEMENTS // m))
