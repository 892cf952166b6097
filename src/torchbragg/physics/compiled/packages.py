"""Compiled packages on disk: names, build keys, building, loading, pruning.

A package is one function exported by ``torch.export`` and compiled by AOTInductor into a
``.pt2`` file under the policy's cache folder (``<cache>/aoti/``); later processes load it in
milliseconds with the C++ loader, without importing the compiler. The compiler is imported
only while a package is built (``torch._inductor`` takes seconds to import), and its own
cache variable points into ``<cache>/inductor`` only during that build.
"""
from __future__ import annotations

import functools
import getpass
import hashlib
import logging
import os
import re
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import torch

from torchbragg.physics import (block, ieee, kernel, lattice_factor, plan, recorder,
                                structure_factors, vec3)

#: smallest pixel count the packages take (export treats sizes 0 and 1 specially)
MIN_PIXELS = 2
#: pixels of the export's example inputs: the compiler sizes its threading from them (a
#: small example gives single-threaded loops)
EXAMPLE_PIXELS = 65536
#: packages of another build key (older torchbragg or torch) unused for this long are deleted
#: when a new package is built
STALE_AFTER_S = 14 * 86400
#: ops that stay calls into ATen inside the compiled code, so that compiled and eager agree
#: bit for bit: the eager CPU kernels (MKL's VML) and the compiler's own versions differ in the
#: last bit — SLEEF's sin/cos/exp for ~2 % of arguments (the VML ones match the C library's
#: far more often); for sqrt the compiler's is the correctly rounded one and VML's is 1 ulp
#: off for ~1 % of arguments (see docs/performance.md)
LIBRARY_OPS = ("sin", "cos", "exp", "atan2", "sqrt")
INDUCTOR_ENV = "TORCHINDUCTOR_CACHE_DIR"

#: the modules whose arithmetic a package contains (their sources are in the build key)
_PHYSICS = (block, ieee, kernel, lattice_factor, plan, recorder, structure_factors, vec3)
_COMPILED = ("packages.py", "parts.py", "block.py", "chunk.py")


def fits(pixels: int) -> bool:
    """Whether a call of ``pixels`` pixels can go through a package (else: eager)."""
    return pixels >= MIN_PIXELS


def package_path(folder: Path, kind: str, key) -> Path:
    """The file of a package: ``{folder}/aoti/{kind}-{dtype}-{build}-{key}.pt2``, where
    *build* hashes the torch version, CPU ISA and physics sources (what makes older packages
    stale) and *key* the package's key (:class:`parts.PlanKey`: the plan's static part)."""
    return Path(folder) / "aoti" / (f"{kind}-{key.dtype}-{build_key()}-"
                                    f"{_hash(*map(repr, key.items))[:12]}.pt2")


def _hash(*items) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(str(item).encode() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def build_key() -> str:
    """This process's build key (the sources are read and hashed once)."""
    here = Path(__file__).parent
    sources = [Path(mod.__file__) for mod in _PHYSICS] + [here / name for name in _COMPILED]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    return _hash(torch.__version__, torch.backends.cpu.get_cpu_capability(),
                 digest.hexdigest())[:8]


def prune_stale(folder: Path, now: Optional[float] = None) -> List[Path]:
    """Delete packages in ``folder`` from other builds not loaded for :data:`STALE_AFTER_S`
    (loading touches a package); returns the deleted paths."""
    now = time.time() if now is None else now
    key = build_key()
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
    kernel's bits on this machine (later runs skip the package)."""
    return path.with_suffix(".differs")


def _torch_default_inductor_dir() -> str:
    """TorchInductor's own default, ``<tmp>/torchinductor_<user>`` (as
    ``torch._inductor.runtime.cache_dir_utils.default_cache_dir``, without importing it)."""
    try:
        user = getpass.getuser()
    except (KeyError, ModuleNotFoundError, OSError):
        user = f"uid_{os.getuid()}" if hasattr(os, "getuid") else "unknown_user"
    return os.path.abspath(os.path.join(tempfile.gettempdir(),
                                        "torchinductor_" + re.sub(r'[\\/:*?"<>|]', "_", user)))


def inductor_folder(cache: Path) -> Path:
    """Where a build's compiler files go: a ``TORCHINDUCTOR_CACHE_DIR`` the user set, else
    ``<cache>/inductor`` (TorchInductor's default, which importing it writes into the
    variable, is not the user's)."""
    current = os.environ.get(INDUCTOR_ENV)
    if current and os.path.abspath(current) != _torch_default_inductor_dir():
        return Path(os.path.abspath(current))
    return Path(os.path.abspath(Path(cache) / "inductor"))


@contextmanager
def inductor_cache(cache: Path) -> Iterator[Path]:
    """TorchInductor's cache (generated C++, kernels, locks, precompiled headers) in
    :func:`inductor_folder` for the time of one build; the variable and the header folder
    are put back afterwards. Left alone, inductor writes hundreds of MB to
    ``/tmp/torchinductor_<user>``, and its precompiled headers go there whatever the
    variable says (their folder is fixed when ``torch._inductor.codecache`` is imported)."""
    folder = inductor_folder(cache)
    old = os.environ.get(INDUCTOR_ENV)
    os.environ[INDUCTOR_ENV] = str(folder)  # before the import: it fixes the folder
    import torch._inductor.codecache as codecache  # (heavy: only when a package is built)
    from torch._inductor.utils import clear_caches

    headers = codecache._HEADER_DIR, codecache._HEADER_LOCK_DIR
    codecache._HEADER_DIR = os.path.join(folder, "precompiled_headers")
    codecache._HEADER_LOCK_DIR = os.path.join(codecache._HEADER_DIR, "locks")
    clear_caches()
    try:
        yield folder
    finally:
        clear_caches()
        codecache._HEADER_DIR, codecache._HEADER_LOCK_DIR = headers
        if old is None:
            os.environ.pop(INDUCTOR_ENV, None)
        else:
            os.environ[INDUCTOR_ENV] = old


def _library_transcendentals() -> None:
    """:data:`LIBRARY_OPS` as calls into ATen in the compiled code (called while building:
    the compiler is imported only then)."""
    from torch._inductor import lowering

    for name in LIBRARY_OPS:
        op = getattr(torch.ops.aten, name).default
        if op not in lowering.fallbacks:
            lowering.make_fallback(op, warn=False)


def compile_package(module: torch.nn.Module, args: tuple, dynamic: list, path: Path,
                    cache: Path) -> None:
    """``torch.export`` + AOTInductor, written atomically to ``path`` (the compiler's files in
    :func:`inductor_cache`)."""
    with inductor_cache(cache):
        import torch._inductor

        _library_transcendentals()
        with torch.no_grad():
            program = torch.export.export(module, args, dynamic_shapes=tuple(dynamic))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".package-", suffix=".pt2", dir=path.parent)
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
