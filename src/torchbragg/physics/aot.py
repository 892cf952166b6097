"""Ahead-of-time compiled hot block: :func:`fused.block_accumulate` through AOTInductor.

The block function is exported (``torch.export``) with the pixel count and the structure-factor
grid size dynamic and every run-dependent number as an input, compiled once by AOTInductor into
a package under the user's cache (``<cache>/aoti/``), and loaded by later processes in a few
milliseconds, without importing the compiler. It is the same function as the eager path, so
the arithmetic is the same operation by operation; the tests compare both bit for bit.

One package serves a *structure* (block dtype, crystal shape, axes with N ≤ 1, toggles, …)
and a fixed number of (φ, domain) rows; a run's M rows are covered by pieces of 8, 4, 2 and 1
rows in order, the accumulator carried from piece to piece (same additions, same order).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import astuple, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional

import torch

from torchbragg.physics.fused import block_accumulate
from torchbragg.physics.lattice_factor import ShapeParams
from torchbragg.physics.structure_factors import SFLookup

#: row counts of the packages; M is split greedily into these, largest first
PIECES = (8, 4, 2, 1)
#: smallest chunk the packages take (export treats sizes 0 and 1 specially)
MIN_PIXELS = 2


@dataclass(frozen=True)
class BlockStructure:
    """Everything a package bakes in: a different value needs a different package."""

    dtype: str  # block dtype, "float64" or "float32"
    shape: str  # SQUARE, ROUND, GAUSS, TOPHAT
    unit_axes: tuple  # (Na ≤ 1, Nb ≤ 1, Nc ≤ 1): the SQUARE factor is exactly 1 (Q18)
    shifted: bool  # reduced-argument SQUARE factors (binary32 mode)
    water_on: bool  # F_latt == 0 evaluations still count (water background)
    culled: bool  # a d-min cut mask is an input
    toggles: tuple  # (-oversample_thick, _polar, _omega): factors inside the sum (Q14)
    rows: int  # (φ, domain) rows per call
    table: bool  # an HKL table is loaded (else F_cell is default_F: no lookup)


def structure_of(plan, rows: int, culled: bool) -> BlockStructure:
    p = plan.shape
    unit = tuple(not isinstance(n, torch.Tensor) and n <= 1 for n in (p.Na, p.Nb, p.Nc))
    return BlockStructure(str(plan.dtype).replace("torch.", ""), p.shape, unit,
                          bool(plan.shifted_lattice), bool(plan.water_on), culled,
                          (bool(plan.oversample_thick), bool(plan.oversample_polar),
                           bool(plan.oversample_omega)), rows, bool(plan.sf.has_table))


class BlockModule(torch.nn.Module):
    """``block_accumulate`` with the plan's numbers as tensors (the export's inputs).

    ``dx, dy, dz``: binary64 [P] diffracted directions; ``source``: binary64 [4] (î, λ);
    ``lat``: binary64 [rows, 9] (a_x, a_y, a_z, b_x, …, c_z); ``shape_vals``: binary64 [13] (Na, Nb, Nc,
    fudge, a*, b*, c*); ``sf_ints``: int64 [6] (h_min, k_min, l_min, h_range, k_range,
    l_range); ``padded``: the padded structure-factor grid (without a table: [default_F]).
    """

    def __init__(self, structure: BlockStructure):
        super().__init__()
        self.structure = structure

    def forward(self, dx, dy, dz, source, I, capture, polar, omega, lat, shape_vals, sf_ints,
                padded, culled=None):
        plan = block_params(self.structure, lat, shape_vals, sf_ints, padded)
        src = (source[0], source[1], source[2], source[3])
        return block_accumulate(plan, (dx, dy, dz), src, culled, I, capture, polar, omega)


def _source_digest() -> str:
    """Hash of the modules whose arithmetic a package contains."""
    from torchbragg.physics import (aot_chunk, block, fused, ieee, kernel, lattice_factor,
                                    structure_factors, vec3)

    digest = hashlib.sha256()
    for mod in (sys.modules[__name__], aot_chunk, block, fused, ieee, kernel, lattice_factor,
                structure_factors, vec3):
        digest.update(Path(mod.__file__).read_bytes())
    return digest.hexdigest()


def package_path(structure, kind: str = "block") -> Path:
    """The cache file of a structure: ``{kind}-{dtype}-{build}-{structure}.pt2``, where
    *build* hashes the torch version, CPU ISA and physics sources (what makes older packages
    stale) and *structure* the structure's fields."""
    from torchbragg._cbuild import cache_root

    return cache_root() / "aoti" / (f"{kind}-{structure.dtype}-{_build_key()}-"
                                    f"{_hash(*map(repr, astuple(structure)))[:12]}.pt2")


def _hash(*items) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(str(item).encode() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def _build_key() -> str:
    """This process's build key (the sources are read and hashed once)."""
    return _hash(torch.__version__, torch.backends.cpu.get_cpu_capability(),
                 _source_digest())[:8]


#: packages of another build key (older torchbragg or torch) unused for this long are deleted
#: when a new package is built
STALE_AFTER_S = 14 * 86400


def prune_stale(folder: Path, now: Optional[float] = None) -> List[Path]:
    """Delete packages in ``folder`` from other builds not loaded for :data:`STALE_AFTER_S`
    (loading touches a package); returns the deleted paths."""
    now = time.time() if now is None else now
    key = _build_key()
    removed = []
    for path in folder.glob("*.pt2"):
        parts = path.stem.split("-")
        try:
            if (len(parts) == 4 and parts[2] == key) or now - path.stat().st_mtime < STALE_AFTER_S:
                continue
            path.unlink()
            removed.append(path)
            differs_marker(path).unlink(missing_ok=True)
        except OSError:  # another process's file, or a read-only cache: leave it
            continue
    return removed


def differs_marker(path: Path) -> Path:
    """The file beside a chunk package saying that its first chunk differed from the eager
    kernel's bits on this machine (later runs skip the package; see render)."""
    return path.with_suffix(".differs")


#: pixels of the export's example inputs: the compiler sizes its threading from them (a
#: small example gives single-threaded loops)
EXAMPLE_PIXELS = 65536


def _example_inputs(structure: BlockStructure, pixels: int = EXAMPLE_PIXELS):
    dt = getattr(torch, structure.dtype)
    f64 = torch.float64
    d = [torch.linspace(-0.3, 0.4, pixels, dtype=f64) + k for k in range(3)]
    source = torch.tensor([0.0, 0.0, 1.0, 1e-10], dtype=f64)
    acc = [torch.full((pixels,), v, dtype=f64) for v in (0.0, 1.0, 1.0, 1.0)]
    lat = torch.linspace(1.0, 2.0, structure.rows * 9, dtype=f64).reshape(structure.rows, 9)
    shape_vals = torch.linspace(2.0, 3.0, 13, dtype=f64)
    sf_ints = torch.tensor([-3, -3, -3, 6, 6, 6], dtype=torch.int64)
    padded = torch.linspace(0.0, 1.0, 8 * 8 * 8, dtype=dt)
    args = [*d, source, *acc, lat, shape_vals, sf_ints, padded]
    if structure.culled:
        args.append(torch.zeros(pixels, dtype=torch.bool))
    return tuple(args)


#: ops that stay calls into ATen inside the compiled code, so that compiled and eager agree
#: bit for bit: the eager CPU kernels (MKL's VML) and the compiler's own versions differ in the
#: last bit — SLEEF's sin/cos/exp for ~2 % of arguments (the VML ones match the C library's
#: far more often); for sqrt the compiler's is the correctly rounded one and VML's is 1 ulp
#: off for ~1 % of arguments (see docs/performance.md)
LIBRARY_OPS = ("sin", "cos", "exp", "atan2", "sqrt")


def _library_transcendentals() -> None:
    from torch._inductor import lowering

    for name in LIBRARY_OPS:
        op = getattr(torch.ops.aten, name).default
        if op not in lowering.fallbacks:
            lowering.make_fallback(op, warn=False)


def build(structure: BlockStructure, path: Path) -> None:
    """Export and compile one block package (10–15 s), written atomically to ``path``."""
    pixels = torch.export.Dim("pixels", min=MIN_PIXELS)
    grid = torch.export.Dim("grid", min=MIN_PIXELS)
    per_pixel = {0: pixels}
    dynamic = [per_pixel] * 3 + [None] + [per_pixel] * 4 + [None, None, None, {0: grid}]
    if structure.culled:
        dynamic.append(per_pixel)
    compile_package(BlockModule(structure), _example_inputs(structure), dynamic, path)


INDUCTOR_ENV = "TORCHINDUCTOR_CACHE_DIR"
_inductor_dir_set: Optional[str] = None  # the value this module last put into the environment


def _torch_default_inductor_dir() -> str:
    """TorchInductor's own default, ``<tmp>/torchinductor_<user>`` (as
    ``torch._inductor.runtime.cache_dir_utils.default_cache_dir``, without importing it)."""
    import getpass
    import re

    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        user = f"uid_{os.getuid()}" if hasattr(os, "getuid") else "unknown_user"
    return os.path.abspath(os.path.join(tempfile.gettempdir(),
                                        "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user)))


def use_inductor_cache() -> Path:
    """Point TorchInductor's cache (generated C++, kernels, locks, precompiled headers) at
    ``<cache>/inductor`` and return it; a ``TORCHINDUCTOR_CACHE_DIR`` the user set is kept.

    Left alone, inductor writes to ``/tmp/torchinductor_<user>`` (hundreds of MB that outlive
    the run): importing ``torch._inductor`` sets the variable to that default, and the
    precompiled headers go there whatever the variable says. A value equal to that default,
    or to the one this function set for an earlier cache root, is not the user's: replaced."""
    global _inductor_dir_set
    from torchbragg._cbuild import cache_root

    current = os.environ.get(INDUCTOR_ENV)
    if current and os.path.abspath(current) not in (_inductor_dir_set,
                                                    _torch_default_inductor_dir()):
        folder = os.path.abspath(current)
    else:
        folder = os.path.abspath(cache_root() / "inductor")
        os.environ[INDUCTOR_ENV] = folder
        _inductor_dir_set = folder
    codecache = sys.modules.get("torch._inductor.codecache")
    if codecache is not None and hasattr(codecache, "_HEADER_DIR"):
        codecache._HEADER_DIR = os.path.join(folder, "precompiled_headers")
        codecache._HEADER_LOCK_DIR = os.path.join(codecache._HEADER_DIR, "locks")
    return Path(folder)


def compile_package(module: torch.nn.Module, args: tuple, dynamic: list, path: Path) -> None:
    """``torch.export`` + AOTInductor, written atomically to ``path``."""
    use_inductor_cache()  # before torch._inductor is imported: its import fixes the folder
    import torch._inductor  # heavy: only when a package is built

    use_inductor_cache()  # (again: the precompiled-header folder is set by that import)
    _library_transcendentals()
    with torch.no_grad():
        program = torch.export.export(module, args, dynamic_shapes=tuple(dynamic))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".block-", suffix=".pt2", dir=path.parent)
    os.close(fd)
    inductor_log = logging.getLogger("torch._inductor")
    level = inductor_log.level
    try:
        # (the compiler notes each ATen call it keeps, and a deprecation inside torch)
        inductor_log.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch._inductor.aoti_compile_and_package(program, package_path=tmp)
        os.replace(tmp, path)
    finally:
        inductor_log.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path: Path):
    """A loaded package (the C++ loader: no compiler import); its time stamp marks the use."""
    runner = torch._C._aoti.AOTIModelPackageLoader(str(path), "model", False, 1, -1)
    try:
        os.utime(path)
    except OSError:  # a read-only cache
        pass
    return runner


class CompiledBlock:
    """Callable with :func:`fused.block_accumulate`'s signature, running the packages."""

    def __init__(self, plan, runners: Dict[tuple, object], eager: Callable):
        self.runners, self.eager = runners, eager
        self.lat, self.shape_vals, self.sf_ints, self.padded = block_inputs(plan)

    def __call__(self, plan, d, source, culled, I, capture, polar, omega):
        if d[0].shape[0] < MIN_PIXELS:
            return self.eager(plan, d, source, culled, I, capture, polar, omega)
        d = [x.contiguous() for x in d]
        src = torch.stack(source)
        start = 0
        for rows in split_rows(self.lat.shape[0]):
            args = [*d, src, I, capture, polar, omega, self.lat[start:start + rows],
                    self.shape_vals, self.sf_ints, self.padded]
            if culled is not None:
                args.append(culled)
            I = self.runners[(rows, culled is not None)].run(args)[0]
            start += rows
        return I


def block_inputs(plan):
    """The plan's block numbers as package inputs: lat [M, 9], shape_vals, sf_ints, padded."""
    lat = torch.cat([c for cols in plan.lat_cols for c in cols], dim=1).contiguous()
    p = plan.shape
    shape_vals = torch.tensor([float(x) for x in (p.Na, p.Nb, p.Nc, p.fudge,
                                                  *p.a_star, *p.b_star, *p.c_star)],
                              dtype=torch.float64)
    sf = plan.sf
    if sf.has_table:
        ints, padded = (sf.h_min, sf.k_min, sf.l_min, sf.h_range, sf.k_range,
                        sf.l_range), sf.padded
    else:  # F_cell = padded[0] everywhere (the grid size stays ≥ the export's minimum)
        ints = (0, 0, 0, -1, -1, -1)
        padded = torch.full((MIN_PIXELS,), sf.default_F, dtype=plan.dtype)
    return lat, shape_vals, torch.tensor(ints, dtype=torch.int64), padded.contiguous()


def block_params(structure: BlockStructure, lat, shape_vals, sf_ints, padded, **extra):
    """A plan-like namespace for :func:`fused.block_accumulate` from package inputs."""
    cols = tuple(tuple(lat[:, 3 * v + i:3 * v + i + 1] for i in range(3)) for v in range(3))
    n = [1.0 if unit else shape_vals[i] for i, unit in enumerate(structure.unit_axes)]
    vec = lambda j: (shape_vals[j], shape_vals[j + 1], shape_vals[j + 2])  # noqa: E731
    shape = ShapeParams(structure.shape, *n, shape_vals[3], vec(4), vec(7), vec(10))
    sf = SFLookup(padded, padded, *(sf_ints[i] for i in range(6)), padded[0], structure.table)
    return SimpleNamespace(dtype=getattr(torch, structure.dtype), lat_cols=cols, shape=shape,
                           shifted_lattice=structure.shifted, water_on=structure.water_on,
                           sf=sf, oversample_thick=structure.toggles[0],
                           oversample_polar=structure.toggles[1],
                           oversample_omega=structure.toggles[2], **extra)


def split_rows(m: int) -> List[int]:
    """M as pieces of :data:`PIECES`, largest first (10 → 8, 2)."""
    out = []
    for size in PIECES:
        while m >= size:
            out.append(size)
            m -= size
    return out


def block_paths(plan) -> List[Path]:
    """The block packages a CPU run of ``plan`` loads (one per row piece and d-min mode)."""
    culled_options = (False, True) if plan.dmin_m > 0 else (False,)
    return [package_path(structure_of(plan, rows, c))
            for rows in sorted(set(split_rows(plan.lat_a.shape[0]))) for c in culled_options]


def compiled_block(plan, eager: Callable, build_missing: bool,
                   notify: Optional[Callable[[str], None]] = None):
    """A :class:`CompiledBlock` for ``plan`` (CPU), or None when a package is missing and
    ``build_missing`` is false, or when compiling or loading fails (the caller stays eager)."""
    if plan.device.type != "cpu":
        return None
    culled_options = (False, True) if plan.dmin_m > 0 else (False,)
    needed = {(rows, c) for rows in split_rows(plan.lat_a.shape[0]) for c in culled_options}
    runners = {}
    for rows, culled in sorted(needed):
        structure = structure_of(plan, rows, culled)
        path = package_path(structure)
        runner = load_or_build(path, lambda: build(structure, path),
                               f"{structure.dtype} kernel ({rows} rows)", build_missing, notify)
        if runner is None:
            return None
        runners[(rows, culled)] = runner
    return CompiledBlock(plan, runners, eager)


def load_or_build(path: Path, build_it: Callable[[], None], what: str, build_missing: bool,
                  notify: Optional[Callable[[str], None]] = None):
    """The loaded package at ``path``, built first (``build_it``) when missing and allowed;
    None when missing and not to be built, or when building or loading fails (with a note)."""
    note = notify or (lambda line: None)
    try:
        if not path.exists():
            if not build_missing:
                return None
            note(f"compiling the {what} once into {path.parent} (15 s to a few minutes; "
                 "later runs load it in milliseconds) …")
            t0 = time.perf_counter()
            build_it()
            note(f"compiled in {time.perf_counter() - t0:.0f} s")
            prune_stale(path.parent)
        return load(path)
    except Exception as exc:  # noqa: BLE001 - any compiler/loader failure: eager
        note(f"compiled kernel unavailable ({type(exc).__name__}: {exc}); running eager")
        return None
