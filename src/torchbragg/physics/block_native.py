"""The hot block by a small C helper on the CPU (docs/performance.md, "The native block").

``block_native.c`` does the arithmetic of :func:`block.block_accumulate
<torchbragg.physics.block.block_accumulate>` for the binary64 SQUARE block — Miller indices,
lattice factor, nearest-node F_cell, term and the ordered sum over the M rows — one
evaluation at a time, without the tensor path's [M, P] temporaries. The sines are torch's
own: the vector sine that ``torch.sin`` calls (MKL's ``vmdSin`` in torch's CPU library, used
only after it gave ``torch.sin``'s bits on a probe set) on pieces of 256 pixels per row, or —
where there is none — ``torch.sin`` itself on a buffer of the arguments the helper wrote.
The same binary64 operations in the same order (no fused multiply-adds, no fast-math), so
the same bits (tests/test_block_native.py).

Served: float64 mode, SQUARE crystals with whole-number N, a table or one ``default_F`` number,
no ``-oversample_thick/polar/omega``, nothing differentiated, CPU tensors. Everything else,
or where the helper cannot be built or :mod:`torchbragg.native` forbids it, takes the tensor
path. Compiled on first use into the cache (:mod:`torchbragg._cbuild`, ≈ 0.3 s).
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Callable, Optional

import torch

from torchbragg import native
from torchbragg.physics.block import block_accumulate

_lock = threading.Lock()
_lib = None
_failed = False
#: torch's vector sine as a C function pointer (or None: torch.sin on a buffer), and its mode
_vsin: Optional[int] = None
#: run the fused loop's AVX2 copy (where torch found the CPU able to: the same bits)
_avx2 = False
#: MKL's VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE: the accuracy torch's own calls ask for
VSIN_MODE = 0x2 | 0x140000 | 0x100
#: evaluations per sine-argument plane of one tile of the buffer path (up to six planes: 6 MiB)
TILE_EVALUATIONS = 131072
#: evaluations per thread below which a pass runs in the calling thread only
MIN_PER_THREAD = 16384


class _Block(ctypes.Structure):
    _fields_ = ([(name, ctypes.c_void_p) for name in ("dx", "dy", "dz")]
                + [("src", ctypes.c_double * 4), ("rows", ctypes.c_void_p),
                   ("n", ctypes.c_double * 3), ("active", ctypes.c_int64 * 3),
                   ("M", ctypes.c_int64), ("P", ctypes.c_int64)])


class _Grid(ctypes.Structure):
    _fields_ = [("grid", ctypes.c_void_p), ("padded", ctypes.c_void_p)] + [
        (name, ctypes.c_int64) for name in ("h_min", "k_min", "l_min", "h_range", "k_range",
                                            "l_range", "f32")]


class _Interp(ctypes.Structure):
    _fields_ = [("limit", ctypes.c_int64), ("row0", ctypes.c_int64),
                ("I_near_in", ctypes.c_void_p), ("I_near", ctypes.c_void_p),
                ("best", ctypes.c_void_p)]


def _load():
    """The loaded library, or None when it cannot be built or loaded."""
    global _lib, _failed, _avx2
    with _lock:
        if _lib is not None or _failed:
            return _lib
        try:
            lib = ctypes.CDLL(str(native.build_helper(native.BLOCK_HELPER)))
            i64, ptr = ctypes.c_int64, ctypes.c_void_p
            block = ctypes.POINTER(_Block)
            lib.tb_block_args.restype = None
            lib.tb_block_args.argtypes = [block, i64, i64, ptr]
            grid, interp = ctypes.POINTER(_Grid), ctypes.POINTER(_Interp)
            lib.tb_block_sum.restype = i64
            lib.tb_block_sum.argtypes = [block, i64, i64, ptr, grid, ctypes.c_double, interp,
                                         ptr, i64, ptr, ptr]
            lib.tb_block_fused.restype = i64
            lib.tb_block_fused.argtypes = [block, i64, i64, ptr, i64, grid, ctypes.c_double,
                                           interp, ptr, i64, ptr, ptr, i64]
            lib.tb_geometry.restype = None
            lib.tb_geometry.argtypes = [ctypes.c_void_p, i64, i64] + [ptr] * 9
            _lib = lib
            _find_vsin()
            _avx2 = cpu_has_avx2()
        except Exception:  # no compiler, failed build or load: the tensor path
            _failed = True
        return _lib


def _find_vsin() -> None:
    """Set :data:`_vsin` to torch's vector sine where its library exports one that gives
    ``torch.sin``'s bits on the probe set (arguments over ±2000, tiny ones, ±0, ±inf, NaN)."""
    global _vsin
    try:
        lib = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        fn = lib.vmdSin
    except (OSError, AttributeError):
        return
    fn.restype, fn.argtypes = None, [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int64]
    gen = torch.Generator().manual_seed(20261207)
    x = torch.cat([torch.rand(65536, generator=gen, dtype=torch.float64) * 4000 - 2000,
                   torch.randn(4096, generator=gen, dtype=torch.float64) * 1e-8,
                   torch.tensor([0.0, -0.0, 5e-324, float("inf"), -float("inf"), float("nan"),
                                 1e300, 3.141592653589793], dtype=torch.float64)])
    out = torch.empty_like(x)
    fn(x.numel(), x.data_ptr(), out.data_ptr(), VSIN_MODE)
    if torch.equal(out.view(torch.int64), torch.sin(x).view(torch.int64)):
        _vsin = ctypes.cast(fn, ctypes.c_void_p).value


def cpu_has_avx2() -> bool:
    """Whether torch runs AVX2 (or AVX-512) kernels on this CPU: then so may the helper."""
    try:
        return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")
    except (AttributeError, RuntimeError):
        return False


def use_avx2(on: bool) -> bool:
    """Run the fused loop's AVX2 copy (``on``, where the CPU has AVX2) or its baseline copy;
    returns whether the AVX2 copy now runs (the same bits either way; tests run both)."""
    global _avx2
    _avx2 = bool(on) and _load() is not None and cpu_has_avx2()
    return _avx2


def use_vector_sine(on: bool) -> bool:
    """Let the helper call torch's vector sine (``on``, where found) or run ``torch.sin`` on a
    buffer; returns whether the vector sine is now in use (the same bits either way)."""
    global _vsin
    if _load() is None:
        return False
    _vsin = None
    if on:
        _find_vsin()
    return _vsin is not None


def serves(plan) -> bool:
    """Whether the helper's arithmetic covers ``plan``'s block (not whether it is built)."""
    shape, sf = plan.shape, plan.sf
    tensors = [*plan.lat_cols[0], *plan.lat_cols[1], *plan.lat_cols[2], plan.I_bg,
               plan.fluence_factor, sf.default_F, sf.padded]
    return (plan.device.type == "cpu" and plan.dtype == torch.float64
            and plan.geom_dtype == torch.float64 and not plan.shifted_lattice
            and shape.shape == "SQUARE" and not any(shape.continuous)
            and not any(isinstance(n, torch.Tensor) for n in (shape.Na, shape.Nb, shape.Nc))
            and not (plan.oversample_thick or plan.oversample_polar or plan.oversample_omega)
            and sf.padded.dtype in (torch.float64, torch.float32)
            and (sf.has_table or sf.uniform_F() is not None)  # (not a tensor default_F)
            and not any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors))


def may_serve(config, dtype: str) -> bool:
    """Whether the block is expected to serve a run of ``config`` in compute ``dtype``
    ("float32"/"float64") on the CPU: the guess, before there is a plan, that decides whether
    the command builds the lookup helper ahead (:func:`serves` decides the run)."""
    c, s = config.crystal, config.sampling
    return (dtype == "float64" and c.shape == "SQUARE"
            and not (s.oversample_thick or s.oversample_polar or s.oversample_omega))


def block_fn(plan, differentiable: bool = False) -> Callable:
    """The block function for ``plan``: the native block where it serves, else
    :func:`block.block_accumulate`. The helper is built and loaded at the first block (a run
    whose blocks all take other paths never builds it); where that fails the native block
    hands every block to :func:`block.block_accumulate`."""
    if (differentiable or not native.enabled() or not serves(plan)
            or torch.compiler.is_compiling() or _failed):
        return block_accumulate
    return NativeBlock(plan)


def interpolating_block(plan, differentiable: bool = False) -> Optional["NativeBlock"]:
    """The native interpolating block for ``plan``'s ``on`` passes (the kernel's
    ``NativeBlock.interpolating``), or None where the tensor path runs them: where the plan
    does not interpolate, the helper does not serve it (:func:`serves`, and a binary64
    table), or it cannot be built or loaded (it is built and loaded here)."""
    sf = plan.sf
    if (differentiable or not plan.interpolate or not native.enabled() or not serves(plan)
            or torch.compiler.is_compiling() or not sf.has_table
            or sf.grid.dtype != torch.float64 or sf.padded.dtype != torch.float64):
        return None
    return NativeBlock(plan) if _load() is not None else None


class NativeBlock:
    """:func:`block.block_accumulate` for one plan by the C helper (same call, same bits), and
    the interpolating block of its ``on`` passes (:meth:`interpolating`)."""

    def __init__(self, plan, cols=None):
        shape, sf = plan.shape, plan.sf
        # cols: the φ × domain tables (plan.first_cols: those of the run's first φ loop, Q1)
        cols = plan.lat_cols if cols is None else cols
        self._fresh = None
        # [M, 9] rows a_x a_y a_z b_x … c_z, binary64, contiguous for the helper
        self.rows = torch.cat([c.reshape(-1, 1) for axis in cols for c in axis], dim=1)
        self.rows = self.rows.to(torch.float64).contiguous()
        self.M = self.rows.shape[0]
        n = [float(shape.Na), float(shape.Nb), float(shape.Nc)]
        active = [1 if x > 1 else 0 for x in n]
        self.planes = 2 * sum(active)
        # (the helper's view of the block; each call sets its pixel pointers and count)
        self.blk = _Block(None, None, None, (ctypes.c_double * 4)(), self.rows.data_ptr(),
                          (ctypes.c_double * 3)(*n), (ctypes.c_int64 * 3)(*active), self.M, 0)
        self.water = 1 if plan.water_on else 0
        self.FF = 0.0
        self.grid = None
        F = sf.uniform_F()
        if F is None:  # a table: the padded grid, looked up per evaluation (and the grid)
            self.padded = sf.padded.contiguous()
            self.table = sf.grid.contiguous()
            self.grid = _Grid(self.table.data_ptr(), self.padded.data_ptr(), sf.h_min,
                              sf.k_min, sf.l_min, sf.h_range, sf.k_range, sf.l_range,
                              1 if self.padded.dtype == torch.float32 else 0)
        else:
            self.FF = F * F

    def __call__(self, plan, d, source, culled, I, capture, polar, omega):
        if _load() is None:  # (no compiler, failed build or load)
            return block_accumulate(plan, d, source, culled, I, capture, polar, omega)
        out = torch.empty_like(I)
        self._run(d, source, culled, I.contiguous(), out, None)
        return out

    def fresh(self, plan) -> "NativeBlock":
        """The block with the tables of the run's first φ loop (Q1), for its one pixel."""
        if self._fresh is None:
            self._fresh = NativeBlock(plan, plan.first_cols)
        return self._fresh

    def interpolating(self, d, source, culled, I, I_near, best, limit: int, row0: int):
        """One block of an ``on`` pass, as the kernel's eager interpolating block (tricubic
        F_cell where in range and before pixel ``limit``, the nearest node's elsewhere): new
        I and I_near (or None) sums, and ``best`` (each pixel's first out-of-range
        evaluation, run-wide index from ``row0``, or −1; or None) updated in place. Returns
        (I, I_near, whether a pixel's ``best`` was set)."""
        out = torch.empty_like(I)
        near_in = I_near.contiguous() if I_near is not None else None
        near = torch.empty_like(I_near) if I_near is not None else None
        ip = _Interp(limit, row0, *(x.data_ptr() if x is not None else None
                                    for x in (near_in, near, best)))
        hits = self._run(d, source, culled, I.contiguous(), out, ip)
        return out, near, hits > 0

    def _run(self, d, source, culled, I_in, I, ip) -> int:
        """I (contiguous) = I_in after adding rows 0..M−1 for pixel directions ``d`` (three
        [P]) and ``source`` (î_x, î_y, î_z, λ); ``ip``: the interpolating pass's state, or
        None. Returns the pixels whose first out-of-range evaluation was found."""
        d = [x.contiguous() for x in d]
        flags = culled.to(torch.uint8).contiguous() if culled is not None else None
        blk = self.blk
        blk.dx, blk.dy, blk.dz = (x.data_ptr() for x in d)
        blk.src[:] = [float(x) for x in source]
        blk.P = I.shape[0]
        grid = ctypes.byref(self.grid) if self.grid is not None else None
        culled_ptr = flags.data_ptr() if flags is not None else None
        per_thread = max(1, MIN_PER_THREAD // max(1, self.M))
        vsin, avx2 = _vsin, int(_avx2)
        hits = []
        if vsin is not None:  # (one pass, each thread its own pixels)
            ip_ref = ctypes.byref(ip) if ip is not None else None
            native.split(I.shape[0], lambda a, b: hits.append(_lib.tb_block_fused(
                blk, a, b, vsin, VSIN_MODE, grid, self.FF, ip_ref, culled_ptr, self.water,
                I_in.data_ptr(), I.data_ptr(), avx2)), per_thread)
            return sum(hits)
        tile = max(1, TILE_EVALUATIONS // max(1, self.M))
        for start in range(0, I.shape[0], tile):
            stop = min(I.shape[0], start + tile)
            blk.dx, blk.dy, blk.dz = (x[start:stop].data_ptr() for x in d)
            blk.P = stop - start
            culled_tile = flags[start:stop].data_ptr() if flags is not None else None
            ip_tile = _tile_interp(ip, start, I.element_size()) if ip is not None else None
            hits.append(self._buffered(blk, I_in[start:stop], I[start:stop], grid, ip_tile,
                                       culled_tile, per_thread))
        return sum(hits)

    def _buffered(self, blk, I_in, I, grid, ip, culled, per_thread) -> int:
        """I = I_in after adding rows 0..M−1 (contiguous views of the tile's pixels) with
        ``torch.sin`` on a buffer of the sines' arguments."""
        P = I.shape[0]
        args = torch.empty(self.planes * self.M * P, dtype=torch.float64)
        if self.planes:
            native.split(P, lambda a, b: _lib.tb_block_args(blk, a, b, args.data_ptr()),
                         per_thread)
            torch.sin(args, out=args)
        hits = []
        ip_ref = ctypes.byref(ip) if ip is not None else None
        native.split(P, lambda a, b: hits.append(_lib.tb_block_sum(
            blk, a, b, args.data_ptr(), grid, self.FF, ip_ref, culled, self.water,
            I_in.data_ptr(), I.data_ptr())), per_thread)
        return sum(hits)


def _tile_interp(ip: _Interp, start: int, size: int) -> _Interp:
    """``ip`` for the tile of pixels from ``start`` (its pointers moved, its limit counted
    from the tile; ``size``: bytes per binary64 or int64 entry)."""
    limit = ip.limit if ip.limit < 0 else max(0, ip.limit - start)
    return _Interp(limit, ip.row0, *(x + start * size if x else None
                                     for x in (ip.I_near_in, ip.I_near, ip.best)))


def _after_fork_in_child() -> None:
    """A lock held by another thread at a fork would never be released in the child."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
