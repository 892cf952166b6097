"""The switch for the small C helpers — structure-factor lookups
(:mod:`torchbragg.physics.tricubic_native`), the fused binary64 block
(:mod:`torchbragg.physics.block_native`) and the noise image (:mod:`torchbragg.io.noise`) —
and the thread pool that splits their work.

Each helper gives the bits of its tensor or Python path, only faster, so the switch changes no
output. On by default; the command line turns it off with ``TORCHBRAGG_NATIVE=0`` (read at
its edge, :mod:`torchbragg.cli.run_env`), API callers with :func:`use_native`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional, Tuple


class Helper(NamedTuple):
    """How a helper is built: cache name, source and the headers it includes (relative to the
    package), extra compiler flags."""

    name: str
    source: str
    flags: Tuple[str, ...] = ()
    headers: Tuple[str, ...] = ()


#: the native blocks (:mod:`torchbragg.physics.block_native`; also read by the command line,
#: which starts the first build before torch is imported)
BLOCK_HELPER = Helper("block_native", "physics/block_native.c", ("-O3", "-fno-trapping-math"),
                      ("physics/tricubic_core.h",))
#: the HKL reader of plain files (:mod:`torchbragg.io.hkl_plain`)
HKL_HELPER = Helper("hkl_native", "io/hkl_native.c")
#: the structure-factor lookups (:mod:`torchbragg.physics.tricubic_native`)
TRICUBIC_HELPER = Helper("tricubic_native", "physics/tricubic_native.c", ("-O3",),
                         ("physics/tricubic_core.h",))
#: the noise image (:mod:`torchbragg.io.noise`; used whatever :func:`enabled` says)
NOISE_HELPER = Helper("noise_native", "io/noise_native.c")
#: every helper built from a :class:`Helper` spec (``pip install`` and the container images
#: build them all: :mod:`torchbragg.prebuild`)
HELPERS = (HKL_HELPER, BLOCK_HELPER, TRICUBIC_HELPER, NOISE_HELPER)

_enabled = [True]


def enabled() -> bool:
    """Whether the helpers may be used (each is also skipped where it cannot be built)."""
    return _enabled[0]


def set_enabled(on: bool) -> None:
    """Allow (True) or forbid (False) the helpers for this process."""
    _enabled[0] = bool(on)


@contextmanager
def use_native(on: bool) -> Iterator[None]:
    """Allow or forbid the helpers inside a ``with`` block (the previous setting after it)."""
    before = _enabled[0]
    _enabled[0] = bool(on)
    try:
        yield
    finally:
        _enabled[0] = before


def _build_arguments(spec: Helper):
    """``spec`` as :func:`torchbragg._cbuild.build_cached`'s arguments."""
    here = Path(__file__).parent
    return (spec.name, [here / spec.source]), {
        "shared": True, "extra_flags": list(spec.flags),
        "headers": [here / h for h in spec.headers]}


def build_helper(spec: Helper, out_dir: Optional[Path] = None) -> Path:
    """The shared library of helper ``spec``: the install's prebuilt one, else built into the
    cache on first use (into ``out_dir`` where given); raises
    :class:`torchbragg._cbuild.BuildError` where it cannot be built."""
    from torchbragg._cbuild import build_cached

    args, options = _build_arguments(spec)
    return build_cached(*args, **options, out_dir=out_dir)


def prebuilt(spec: Helper) -> Optional[Path]:
    """The install's build of helper ``spec`` (:mod:`torchbragg.prebuild`), or None where it
    has none for this compiler, these flags and sources."""
    from torchbragg._cbuild import prebuilt_entry

    args, options = _build_arguments(spec)
    return prebuilt_entry(*args, **options)


def build_in_background(*specs: Helper) -> None:
    """Start :func:`build_helper` for each of ``specs`` in order on one thread, where the
    helpers are allowed (a later build of one of them waits for it; a failure here is the
    later build's to report)."""
    from torchbragg._cbuild import build_in_background as start

    if enabled():
        start(*((args[0], args[1], options)
                for args, options in map(_build_arguments, specs)))


_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None


def threads() -> int:
    """Threads a helper may use: torch's intra-op count."""
    import torch

    return torch.get_num_threads()


def split(n: int, run: Callable[[int, int], None], min_per_thread: int) -> None:
    """``run(a, b)`` over [0, n) in one part per thread, each of at least ``min_per_thread``
    items (the helpers are called through ctypes, which releases the GIL)."""
    parts = max(1, min(threads(), n // max(1, min_per_thread)))
    bounds = [n * i // parts for i in range(parts + 1)]
    futures = [_executor().submit(run, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    if n:
        run(bounds[0], bounds[1])
    for f in futures:
        f.result()


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's pool threads (work given to that pool would
    never run): it starts its own pool when it needs one."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                       thread_name_prefix="tb-native")
        return _pool
