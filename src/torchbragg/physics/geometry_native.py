"""A sub-pixel's detector geometry by the native block's C helper (docs/performance.md, "The
native block").

:func:`kernel._subpixel_geometry <torchbragg.physics.kernel>` forms, per sub-pixel step,
the lab position of every pixel of the chunk, its distance R, d̂ and the solid angle Ω (with
the "compute where still 0" rule, Q12, or every step with ``-oversample_omega``, Q14) in
about 25 tensor operations over the chunk. ``tb_geometry`` in ``block_native.c`` does the
same binary64 operations in the same order in one pass (so the same bits:
tests/test_geometry_native.py), writing d̂, Ω and ΣΩ.

Served: CPU, binary64 geometry (both compute modes), a flat detector, nothing differentiated,
a chunk whose recorder needs no per-evaluation values (the trace reads the position and R).
"""
from __future__ import annotations

import ctypes
from typing import Optional

import torch

from torchbragg import native
from torchbragg.physics import block_native

#: pixels per thread below which the pass runs in the calling thread only
MIN_PER_THREAD = 16384


class _Geom(ctypes.Structure):
    _fields_ = ([(name, ctypes.c_double * 3) for name in ("f", "s", "o", "pix0")]
                + [(name, ctypes.c_double) for name in ("delta", "half", "odet_t", "ps2",
                                                         "close")]
                + [(name, ctypes.c_int64) for name in ("n", "j", "i", "point_pixel",
                                                        "replace")])


def _numbers(*values) -> Optional[list]:
    """The values as Python floats, or None where one is a tensor that needs a gradient."""
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                return None
            out.extend(float(x) for x in v.detach().reshape(-1).tolist())
        else:
            out.append(float(v))
    return out


def subpixel_geometry(plan, differentiable: bool = False) -> Optional["NativeGeometry"]:
    """The native sub-pixel geometry for ``plan`` (the kernel's quiet chunks), or None where
    the tensor path forms it."""
    if (differentiable or not native.enabled() or plan.device.type != "cpu"
            or plan.geom_dtype != torch.float64 or plan.curved
            or torch.compiler.is_compiling()):
        return None
    numbers = _numbers(plan.fdet, plan.sdet, plan.odet, plan.pix0, plan.pixel_size_m,
                       plan.close_distance_m, plan.layer_spacing_m)
    if numbers is None or block_native._load() is None:
        return None
    return NativeGeometry(plan, numbers)


class NativeGeometry:
    """``tb_geometry`` for one plan: :meth:`__call__` gives a sub-pixel's d̂, Ω and ΣΩ."""

    def __init__(self, plan, numbers: list):
        axes, (pixel, close, spacing) = numbers[:12], numbers[12:]
        n = plan.oversample
        delta = pixel / n
        self.spacing = spacing
        self.g = _Geom((ctypes.c_double * 3)(*axes[0:3]), (ctypes.c_double * 3)(*axes[3:6]),
                       (ctypes.c_double * 3)(*axes[6:9]), (ctypes.c_double * 3)(*axes[9:12]),
                       delta, delta / 2.0, 0.0, pixel * pixel, close, n, 0, 0,
                       1 if plan.point_pixel else 0, 1 if plan.oversample_omega else 0)

    def __call__(self, s: torch.Tensor, f: torch.Tensor, t: int, j: int, i: int,
                 omega: torch.Tensor, omega_sum: torch.Tensor):
        """d̂ (three [P]), Ω and ΣΩ [P] of sub-pixel (j, i) of layer t for pixels (s, f),
        from the running Ω and ΣΩ (new tensors; the inputs are read only)."""
        g = self.g
        g.odet_t, g.j, g.i = t * self.spacing, j, i
        s64 = s.to(torch.int64).contiguous()
        f64 = f.to(torch.int64).contiguous()
        om_in, sum_in = omega.contiguous(), omega_sum.contiguous()
        P = s64.shape[0]
        out = torch.empty((5, P), dtype=torch.float64)
        ptrs = [out[k].data_ptr() for k in range(5)]
        lib = block_native._lib
        inputs = [x.data_ptr() for x in (s64, f64, om_in, sum_in)]
        native.split(P, lambda a, b: lib.tb_geometry(ctypes.addressof(g), a, b, *inputs, *ptrs),
                     MIN_PER_THREAD)
        return (out[0], out[1], out[2]), out[3], out[4]
