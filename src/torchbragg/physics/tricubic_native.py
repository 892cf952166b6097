"""Structure-factor lookups by a small C helper on the CPU (docs/performance.md,
"Structure-factor interpolation").

``tricubic_native.c`` does the arithmetic of :class:`SFLookup
<torchbragg.physics.structure_factors.SFLookup>`'s nearest node, range test and tricubic
interpolation one evaluation at a time (the same binary64 operations in the same order, so
the same bits) without the tensor path's temporaries, four neighbourhood rows per vector
instruction (AVX2 where the CPU has it, chosen at run time; ``-O3``, still without fused
multiply-adds or fast-math); the evaluations are split over
``torch.get_num_threads()`` threads (each result depends on its own evaluation only).
Compiled on first use into the cache (:mod:`torchbragg._cbuild`); where it cannot be built or
loaded, on other devices, while compiling, with gradients, or where :mod:`torchbragg.native`
forbids the helpers, the tensor path runs.
"""
from __future__ import annotations

import ctypes
import os
import threading
from typing import Optional

import torch

from torchbragg import native

_lock = threading.Lock()
_funcs: Optional[dict] = None
_failed = False
#: evaluations per thread below which the helper runs in the calling thread only
MIN_PER_THREAD = 16384


class _Table(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_void_p), ("padded", ctypes.c_void_p)] + [
        (name, ctypes.c_int64) for name in ("h_min", "k_min", "l_min", "h_range", "k_range",
                                            "l_range")]


def _load() -> Optional[dict]:
    """{(kind, grid dtype): C function}, or None when the helper cannot be built or loaded."""
    global _funcs, _failed
    with _lock:
        if _funcs is not None or _failed:
            return _funcs
        try:
            lib = ctypes.CDLL(str(native.build_helper(native.TRICUBIC_HELPER)))
            i64, ptr, table = ctypes.c_int64, ctypes.c_void_p, ctypes.POINTER(_Table)
            lib.tb_select_isa.restype, lib.tb_select_isa.argtypes = ctypes.c_int, [ctypes.c_int]
            funcs = {"select_isa": lib.tb_select_isa}
            for dtype, suffix in ((torch.float64, "f64"), (torch.float32, "f32")):
                fn = getattr(lib, f"tb_tricubic_{suffix}")
                fn.restype, fn.argtypes = None, [table] + [ptr] * 5 + [i64]
                funcs["tricubic", dtype] = fn
                fn = getattr(lib, f"tb_lookup_{suffix}")
                fn.restype, fn.argtypes = None, [table] + [ptr] * 6 + [i64] * 4 + [ptr] * 3
                funcs["lookup", dtype] = fn
            _funcs = funcs
        except Exception:  # no compiler, failed build or load: the tensor path
            _failed = True
        return _funcs


def load_in_background() -> None:
    """Start building (on first use) and loading the helper on a thread, so that a run that
    will interpolate overlaps the compiler with its file reading; the first lookup waits for
    it. Nothing where :mod:`torchbragg.native` forbids the helpers or it is loaded."""
    if native.enabled() and _funcs is None and not _failed:
        threading.Thread(target=_load, name="tb-lookup-build", daemon=True).start()


def available() -> bool:
    """Whether the helper is built and loaded (and allowed by :mod:`torchbragg.native`)."""
    return native.enabled() and _load() is not None


def select_isa(best: bool) -> bool:
    """Run the AVX2 copies of the loops where the CPU has AVX2 (``best``) or the baseline ones;
    returns whether the AVX2 copies now run (the same bits either way; tests run both)."""
    funcs = _load()
    return bool(funcs and funcs["select_isa"](1 if best else 0))


def usable(sf, h: torch.Tensor) -> bool:
    """Whether the helper can serve a lookup of ``h`` (and k, l alike) in the table of ``sf``
    (an :class:`SFLookup` with a table)."""
    if not native.enabled() or torch.compiler.is_compiling():
        return False
    grid, padded = sf.grid, sf.padded
    if (grid.device.type != "cpu" or h.device.type != "cpu" or h.dtype != torch.float64
            or grid.dtype not in (torch.float64, torch.float32) or padded.dtype != grid.dtype):
        return False
    if torch.is_grad_enabled() and (grid.requires_grad or padded.requires_grad
                                    or h.requires_grad):
        return False
    return _load() is not None


def _table(sf, grid: torch.Tensor, padded: torch.Tensor) -> _Table:
    return _Table(grid.data_ptr(), padded.data_ptr(), sf.h_min, sf.k_min, sf.l_min,
                  sf.h_range, sf.k_range, sf.l_range)


def tricubic(sf, h, k, l, valid) -> torch.Tensor:
    """Interpolated F (binary64) at ``h, k, l`` where ``valid``, 0 elsewhere (only where
    :func:`usable`)."""
    grid, padded = sf.grid.contiguous(), sf.padded.contiguous()
    table = _table(sf, grid, padded)
    fn = _funcs["tricubic", grid.dtype]
    shape = h.shape
    h, k, l = (x.detach().contiguous().reshape(-1) for x in (h, k, l))
    valid = valid.contiguous().reshape(-1).to(torch.bool)
    out = torch.empty_like(h)
    native.split(h.numel(), lambda a, b: fn(table, h[a:].data_ptr(), k[a:].data_ptr(),
                                            l[a:].data_ptr(), valid[a:].data_ptr(),
                                            out[a:].data_ptr(), b - a), MIN_PER_THREAD)
    return out.reshape(shape)


def lookup(sf, h, k, l, h0, k0, l0, limit: int):
    """An interpolating pass on [M, P] evaluations: (F_cell in binary64, the nearest-node F
    in the table's dtype, the out-of-range mask), as :meth:`SFLookup.interpolated` (only
    where :func:`usable`)."""
    grid, padded = sf.grid.contiguous(), sf.padded.contiguous()
    table = _table(sf, grid, padded)
    fn = _funcs["lookup", grid.dtype]
    shape = h.shape
    P = shape[-1] if len(shape) else 1
    xs = [x.detach().contiguous().reshape(-1) for x in (h, k, l, h0, k0, l0)]
    F_cell = torch.empty_like(xs[0])
    near = torch.empty(F_cell.shape, dtype=grid.dtype)
    oor = torch.empty(F_cell.shape, dtype=torch.bool)
    ptrs = [x.data_ptr() for x in xs]
    native.split(F_cell.numel(), lambda a, b: fn(table, *ptrs, a, b, P, limit,
                                                 F_cell.data_ptr(), near.data_ptr(),
                                                 oor.data_ptr()), MIN_PER_THREAD)
    return F_cell.reshape(shape), near.reshape(shape), oor.reshape(shape)


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: a lock held by one of them at the
    fork would never be released there."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
