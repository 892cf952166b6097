"""Render an image: chunk the rendered pixels, run the kernel, keep the C's processing order.

Handles the two run-level effects of processing order (single-thread C semantics whatever the
chunking): the first φ loop of the run (Q1) and the global interpolation switch-off (Q11).
Memory is bounded by the chunk size (pixels per kernel call).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch.utils.checkpoint import checkpoint

from torchbragg.physics.compiled import EAGER, CompilePolicy
from torchbragg.physics.kernel import (ChunkResult, InterpolationPolicy, first_true,
                                       first_uncut_pixel, render_chunk)
from torchbragg.physics.plan import KernelPlan
from torchbragg.physics.recorder import NULL_RECORDER, Recorder
from torchbragg.physics.workload import chunk_pixels, evaluations

@dataclass
class RenderResult:
    image: torch.Tensor  # [S, F] float32 (the C's stored image)
    values: torch.Tensor  # [S, F] compute dtype, before the float32 store
    omega_sum: float  # Σ Ω over rendered pixels, layers and sub-pixels


def render(plan: KernelPlan, indices: torch.Tensor, *, chunk: Optional[int] = None,
           progress: Optional[Callable[[int, int], None]] = None,
           recorder: Recorder = NULL_RECORDER,
           on_interpolation_off: Optional[Callable[[tuple], None]] = None,
           compile: CompilePolicy = EAGER) -> RenderResult:
    """Render ``indices`` (flat pixel indices in C order) and return the image.

    ``recorder`` (:mod:`~torchbragg.physics.recorder`: the trace, ``-printout``'s, or both
    combined) gives one recorder per kernel call and writes each chunk's per-pixel output
    after its final pass; the interpolation warning (``on_interpolation_off``) comes between
    the pixels where the C prints it. ``compile`` chooses the kernel functions
    (:class:`~torchbragg.physics.compiled.CompilePolicy`; the default renders eagerly).
    """
    chunk = chunk or chunk_pixels(plan)
    indices = indices.to(plan.device)
    total = int(indices.numel())
    image = _Image(plan, total)
    interp_on = plan.interpolate
    differentiable = torch.is_grad_enabled() and plan_requires_grad(plan)
    kernels = compile.kernels(plan, evaluations(plan, total), differentiable)
    first_loop_pending = plan.first_lat is not None  # the run's first φ loop is still to come
    recorder.start()

    def run_chunk(s, f, fresh, policy, chunk_rec, step):
        # (a whole-chunk package where the chunk needs nothing per evaluation)
        if (kernels.chunk is not None and fresh < 0 and not chunk_rec.needs_evaluations
                and policy.mode == "off"):
            return kernels.whole_chunk(s, f, lambda: render_chunk(
                plan, s, f, fresh, policy, chunk_rec, kernels.block, step))
        if differentiable:  # keep one chunk's graph at a time: recompute it in backward
            return checkpoint(render_chunk, plan, s, f, fresh, policy, chunk_rec, kernels.block,
                              use_reentrant=False)
        return render_chunk(plan, s, f, fresh, policy, chunk_rec, kernels.block, step,
                            interpolating=kernels.interpolating, geometry=kernels.geometry)

    for start in range(0, total, chunk):
        idx = indices[start:start + chunk]
        s = torch.div(idx, plan.fpixels, rounding_mode="floor")
        f = idx - s * plan.fpixels
        policy = InterpolationPolicy("on" if interp_on else "off")
        step = _stepper(plan, progress, start, int(idx.numel()), total)
        res, fresh, chunk_rec = _first_pass(plan, s, f, first_loop_pending, policy, recorder,
                                            run_chunk, step)
        first_loop_pending = first_loop_pending and fresh < 0
        interp_on = interp_on and res.first_out_of_range is None  # (Q11) off from this chunk
        res = _final_pass(plan, s, f, fresh, res, recorder, chunk_rec, step,
                          on_interpolation_off)
        image.add(start, idx, res)
        if progress is not None:
            progress(min(start + chunk, total), total)
    recorder.close()
    return image.result()


class _Image:
    """The values of the rendered pixels, filled chunk by chunk, and their Σ Ω."""

    def __init__(self, plan: KernelPlan, total: int):
        self.shape = (plan.spixels, plan.fpixels)
        self.dense = total == plan.spixels * plan.fpixels  # chunk n: flat pixels [start, stop)
        alloc = torch.empty if self.dense else torch.zeros
        self.values = alloc(plan.spixels * plan.fpixels, device=plan.device,
                            dtype=plan.geom_dtype)
        self.omega = torch.zeros((), device=plan.device, dtype=torch.float64)

    def add(self, start: int, idx: torch.Tensor, res: ChunkResult) -> None:
        """The chunk of flat pixel indices ``idx``, the ``start``-th rendered on."""
        if self.dense:  # in place: the image is touched once (page faults are costly)
            self.values[start:start + idx.shape[0]] = res.value
        else:
            self.values[idx] = res.value
        self.omega = self.omega + res.omega_sum.to(torch.float64).sum()

    def result(self) -> RenderResult:
        values = self.values.reshape(self.shape)
        # the C adds each value to a zeroed binary32 pixel: -0.0 is stored as +0.0
        # (docs/behaviour/formats.md §9)
        image = (values + 0.0).to(torch.float32)
        return RenderResult(image, values, float(self.omega.detach()))


def _stepper(plan: KernelPlan, progress, start: int, count: int, total: int):
    """Progress within the chunk of ``count`` pixels from ``start``: a callable for after each
    of its (layer, sub-pixel, source) steps, or None."""
    if progress is None:
        return None
    steps = plan.layers * plan.oversample * plan.oversample * plan.incident.shape[0]
    done = [0]

    def step():
        done[0] = min(done[0] + 1, steps)  # (a chunk rendered again reports no more)
        progress(start + count * done[0] // steps, total)
    return step


def _first_pass(plan: KernelPlan, s, f, pending: bool, policy, recorder: Recorder, run,
                step):
    """The chunk rendered by ``run``; while the run's first φ loop is ``pending`` (Q1), at the
    pixel estimated to run it, and again where the kernel's exact ``uncut`` moves it.
    Returns the result, that pixel's row (or −1) and the chunk's recorder."""
    fresh = -1
    if pending:
        fresh = 0 if plan.dmin_m <= 0 else first_uncut_pixel(plan, s, f)
    chunk_rec = recorder.for_chunk(plan, s, f)
    res = run(s, f, fresh, policy, chunk_rec, step)
    if pending and res.uncut is not None and first_true(res.uncut) != fresh:
        fresh = first_true(res.uncut)  # the estimate missed by an ulp: render again
        chunk_rec = recorder.for_chunk(plan, s, f)
        res = run(s, f, fresh, policy, chunk_rec, step)
    return res, fresh, chunk_rec


def _final_pass(plan: KernelPlan, s, f, fresh: int, res, recorder: Recorder,
                chunk_rec: Recorder, step, warn) -> ChunkResult:
    """The chunk's final result, its per-pixel output written. Where interpolation switches
    off in it (Q11) the warning (``warn``, or None) comes before the switching pixel's output;
    a recorder that needs the evaluations has the whole chunk rendered again (``split``),
    else :func:`_switch_off`."""
    if res.first_out_of_range is None:
        chunk_rec.emit()
        return res
    row, index = res.first_out_of_range
    if chunk_rec.needs_evaluations:
        chunk_rec = recorder.for_chunk(plan, s, f)
        res = render_chunk(plan, s, f, fresh, InterpolationPolicy("split", row, index), chunk_rec,
                           step=step)
        hkl = res.switch_off_hkl
    else:
        res, hkl = _switch_off(plan, s, f, fresh, res, row, index)
    chunk_rec.emit(row)
    if warn is not None:
        warn(hkl)
    chunk_rec.emit()
    return res


def _switch_off(plan: KernelPlan, s, f, fresh: int, res, row: int, index: int):
    """The chunk's values when interpolation switches off at evaluation ``index`` of pixel
    ``row`` (Q11): pixels before it as interpolated, that pixel rendered again alone
    (interpolated up to the evaluation, nearest from it), later pixels nearest-node (the
    pass's second accumulator). Returns the result and the warning's (h, k, l, h0, k0, l0)."""
    r = slice(row, row + 1)
    one = render_chunk(plan, s[r], f[r], 0 if fresh == row else -1,
                       InterpolationPolicy("split", 0, index))
    value = torch.cat([res.value[:row], one.value, res.value_near[row + 1:]])
    return ChunkResult(value, res.omega_sum, None, None, res.uncut), one.switch_off_hkl


def plan_requires_grad(plan: KernelPlan) -> bool:
    """True when any run-level tensor of the plan carries a gradient graph."""
    for value in vars(plan).values():
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, torch.Tensor) and item.requires_grad:
                return True
    return plan.sf.padded.requires_grad or any(
        isinstance(v, torch.Tensor) and v.requires_grad for v in vars(plan.shape).values())


