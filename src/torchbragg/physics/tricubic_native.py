"""Tricubic structure-factor lookup by a small C helper on the CPU (docs/performance.md,
"Structure-factor interpolation").

``tricubic_native.c`` does the arithmetic of :meth:`SFLookup._tricubic
<torchbragg.physics.structure_factors.SFLookup._tricubic>` one evaluation at a time (the same
binary64 operations in the same order, so the same bits) without the tensor path's 64-node
temporaries; the evaluations are split over ``torch.get_num_threads()`` threads (each result
depends on its own evaluation only). Compiled on first use into the cache
(:mod:`torchbragg._cbuild`); where it cannot be built or loaded, on other devices, while
compiling, with gradients, or with ``TORCHBRAGG_NATIVE=0``, the tensor path runs.
"""
from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import torch

_SRC = Path(__file__).with_name("tricubic_native.c")
_lock = threading.Lock()
_funcs: Optional[dict] = None
_failed = False
_pool: Optional[ThreadPoolExecutor] = None
#: evaluations per thread below which the helper runs in the calling thread only
MIN_PER_THREAD = 16384


def _load() -> Optional[dict]:
    """{grid dtype: C function}, or None when the helper cannot be built or loaded."""
    global _funcs, _failed
    with _lock:
        if _funcs is not None or _failed:
            return _funcs
        try:
            from torchbragg._cbuild import build_cached

            lib = ctypes.CDLL(str(build_cached("tricubic_native", [_SRC], shared=True)))
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            funcs = {}
            for dtype, name in ((torch.float64, "tb_tricubic_f64"),
                                (torch.float32, "tb_tricubic_f32")):
                fn = getattr(lib, name)
                fn.restype = None
                fn.argtypes = [ptr, i64, i64, i64, i64, i64, i64, ptr, ptr, ptr, ptr, ptr, i64]
                funcs[dtype] = fn
            _funcs = funcs
        except Exception:  # no compiler, failed build or load: the tensor path
            _failed = True
        return _funcs


def available() -> bool:
    """Whether the helper is built and loaded (and not disabled by ``TORCHBRAGG_NATIVE=0``)."""
    return os.environ.get("TORCHBRAGG_NATIVE", "1") != "0" and _load() is not None


def usable(grid: torch.Tensor, h: torch.Tensor) -> bool:
    """Whether the helper can serve a lookup of ``h`` (and k, l alike) in ``grid``."""
    if os.environ.get("TORCHBRAGG_NATIVE", "1") == "0" or torch.compiler.is_compiling():
        return False
    if grid.device.type != "cpu" or h.device.type != "cpu" or h.dtype != torch.float64:
        return False
    if grid.dtype not in (torch.float64, torch.float32):
        return False
    if torch.is_grad_enabled() and (grid.requires_grad or h.requires_grad):
        return False
    return _load() is not None


def tricubic(grid: torch.Tensor, strides: tuple, origin: tuple, h, k, l, valid) -> torch.Tensor:
    """Interpolated F (binary64) at ``h, k, l`` where ``valid``, 0 elsewhere.

    ``grid``: the flat C-ordered table; ``strides`` = (k_range + 1, l_range + 1);
    ``origin`` = (h_min, k_min, l_min). Call only where :func:`usable`."""
    fn = _load()[grid.dtype]
    sk, sl = strides
    grid = grid.contiguous()
    last = grid.numel() - 1 - (3 * sk * sl + 3 * sl + 3)  # the largest valid first node
    shape = h.shape
    h, k, l = (x.detach().contiguous().reshape(-1) for x in (h, k, l))
    valid = valid.contiguous().reshape(-1).to(torch.bool)
    out = torch.empty_like(h)
    n = h.numel()

    def run(a: int, b: int) -> None:
        if b > a:
            fn(grid.data_ptr(), sk, sl, last, *origin, h[a:].data_ptr(), k[a:].data_ptr(),
               l[a:].data_ptr(), valid[a:].data_ptr(), out[a:].data_ptr(), b - a)

    parts = max(1, min(threads(), n // MIN_PER_THREAD))
    if parts == 1:
        run(0, n)
    else:  # (ctypes releases the GIL during the call)
        bounds = [n * i // parts for i in range(parts + 1)]
        futures = [_executor().submit(run, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
        run(bounds[0], bounds[1])
        for f in futures:
            f.result()
    return out.reshape(shape)


def threads() -> int:
    """Threads a lookup may use: torch's intra-op count."""
    return torch.get_num_threads()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                       thread_name_prefix="tb-tricubic")
        return _pool
