"""Render an image: chunk the rendered pixels, run the kernel, keep the C's processing order.

Handles the two run-level effects of processing order (single-thread C semantics whatever the
chunking): the first φ loop of the run (Q1) and the global interpolation switch-off (Q11).
Memory is bounded by the chunk size (pixels per kernel call).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch.utils.checkpoint import checkpoint

from torchbragg.physics.fused import block_accumulate, get_block_fn, get_chunk_fn
from torchbragg.physics.kernel import InterpolationPolicy, render_chunk
from torchbragg.physics.plan import KernelPlan

#: bytes of working memory per (pixel × evaluation) held at once by the kernel (measured ≈ 300)
BYTES_PER_EVALUATION = 320
#: the CPU's working-memory ceiling (chunks there are cache-sized well below it)
DEFAULT_BUDGET_BYTES = 512 * 1024 * 1024
#: share of the free memory one chunk's working set may take
FREE_MEMORY_SHARE = 4


@dataclass
class RenderResult:
    image: torch.Tensor  # [S, F] float32 (the C's stored image)
    values: torch.Tensor  # [S, F] compute dtype, before the float32 store
    omega_sum: float  # Σ Ω over rendered pixels, layers and sub-pixels
    interpolation_warning: Optional[tuple]  # (h, k, l, h0, k0, l0) of the switch-off
    #: per-pixel values of the last evaluation for the ``printout`` pixels, in render order
    printout: Optional[list] = None


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
    itemsize = torch.finfo(plan.dtype).bits // 8
    per_pixel = BYTES_PER_EVALUATION * m * itemsize // 8 + 256
    by_memory = max(1024, budget_bytes // per_pixel)
    if plan.device.type != "cpu":
        return by_memory
    return max(1024, min(by_memory, 131072, BLOCK_ELEMENTS // m))


def render(plan: KernelPlan, indices: torch.Tensor, *, chunk: Optional[int] = None,
           progress: Optional[Callable[[int, int], None]] = None, recorder=None,
           on_interpolation_off: Optional[Callable[[tuple], None]] = None,
           printout: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
           notify: Optional[Callable[[str], None]] = None) -> RenderResult:
    """Render ``indices`` (flat pixel indices in C order) and return the image.

    ``notify`` receives one-line notes (building the compiled kernel).
    """
    S, F = plan.spixels, plan.fpixels
    chunk = chunk or chunk_pixels(plan)
    indices = indices.to(plan.device)
    total = int(indices.numel())
    dense = total == S * F  # every pixel rendered: chunk n covers flat pixels [start, stop)
    alloc = torch.empty if dense else torch.zeros
    values = alloc(S * F, device=plan.device, dtype=plan.geom_dtype)
    omega_total = torch.zeros((), device=plan.device, dtype=torch.float64)
    interp_on = plan.interpolate
    warning = None
    blocks: list = []
    differentiable = torch.is_grad_enabled() and plan_requires_grad(plan)
    work = (total * plan.lat_a.shape[0] * plan.incident.shape[0] * plan.layers
            * plan.oversample * plan.oversample)
    chunk_fn = get_chunk_fn(plan, work, differentiable, notify)
    # (with a compiled chunk only the run's first chunk is rendered here: keep it eager)
    block_fn = block_accumulate if chunk_fn else get_block_fn(plan, work, differentiable, notify)
    for start in range(0, total, chunk):
        idx = indices[start:start + chunk]
        s = torch.div(idx, F, rounding_mode="floor")
        f = idx - s * F
        fresh = 0 if (start == 0 and plan.first_lat is not None) else -1
        chunk_rec = recorder.for_chunk(s, f) if recorder is not None else None
        policy = InterpolationPolicy("on" if interp_on else "off")
        keep = printout is not None
        if (chunk_fn is not None and chunk_fn.covers(s) and fresh < 0 and chunk_rec is None
                and not keep and not interp_on):
            res = chunk_fn(s, f)
        elif differentiable:  # keep one chunk's graph at a time: recompute it in backward
            res = checkpoint(render_chunk, plan, s, f, fresh, policy, chunk_rec, keep, block_fn,
                             use_reentrant=False)
        else:
            res = render_chunk(plan, s, f, fresh, policy, chunk_rec, keep, block_fn)
        if res.first_out_of_range is not None:
            row, index = res.first_out_of_range
            if chunk_rec is not None:
                chunk_rec = recorder.for_chunk(s, f)
            res = render_chunk(plan, s, f, fresh, InterpolationPolicy("split", row, index),
                               chunk_rec, keep)
            warning = res.switch_off_hkl
            interp_on = False
            if on_interpolation_off is not None:
                on_interpolation_off(warning)
        if chunk_rec is not None:
            chunk_rec.finish(res.value)
        if keep and res.last is not None:
            rows = torch.nonzero(printout(s, f)).reshape(-1)
            if rows.numel():
                blocks.append((s[rows], f[rows], _select(res.last, rows)))
        if dense:  # in place: the image is touched once (page faults are costly)
            values[start:start + chunk] = res.value
        else:
            values[idx] = res.value
        omega_total = omega_total + res.omega_sum.to(torch.float64).sum()
        if progress is not None:
            progress(min(start + chunk, total), total)
    values = values.reshape(S, F)
    image = values.to(torch.float32)
    return RenderResult(image, values, float(omega_total.detach()), warning, blocks)


def plan_requires_grad(plan: KernelPlan) -> bool:
    """True when any run-level tensor of the plan carries a gradient graph."""
    for value in vars(plan).values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, torch.Tensor) and item.requires_grad:
                return True
    return plan.sf.padded.requires_grad or any(
        isinstance(v, torch.Tensor) and v.requires_grad for v in vars(plan.shape).values())


def _select(last: dict, rows: torch.Tensor) -> dict:
    out = {}
    for key, val in last.items():
        out[key] = tuple(v[rows] for v in val) if isinstance(val, tuple) else val[rows]
    return out
