"""The native helpers compiled at install time (``pip install`` runs :func:`prebuild` from
``setup.py``) into the package's ``_prebuilt`` folder, which the cache consults first
(:func:`torchbragg._cbuild.prebuilt_dir`): a fresh install's first run then compiles nothing
(docs/performance.md, "Cold start").

Each helper is built under the key a run computes (the compiler's name, the flags, the
sources), so a helper built with another ``CC`` or ``CFLAGS``, or from an edited source, is
simply not found and the run builds its own into the cache as before. Nothing here fails an
install: without a compiler the helpers are left to be built on first use, which is said.

Imports no torch (it runs in pip's build environment).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, List


def prebuild(folder: Path, say: Callable[[str], None] = print) -> List[Path]:
    """Build every :data:`torchbragg.native.HELPERS` into ``folder`` (files of earlier
    builds there that are not rebuilt now are removed); return the libraries built. Never
    raises for a missing or failing compiler: ``say`` tells why, and runs build on first use."""
    from torchbragg import native
    from torchbragg._cbuild import BuildError

    folder = Path(folder)
    start = time.monotonic()
    built: List[Path] = []
    keep = set()  # (each library and its .flags line)
    for spec in native.HELPERS:
        try:
            built.append(native.build_helper(spec, out_dir=folder))
            keep |= {built[-1].name, f"{spec.name}.flags"}
        except (BuildError, OSError) as exc:
            say(f"torchbragg: native helper {spec.name} not built at install ({exc}); "
                "runs build it on first use (≈ 1 s)")
    if folder.is_dir():
        for old in folder.iterdir():
            if old.name not in keep:
                old.unlink(missing_ok=True)
    if built:
        say(f"torchbragg: {len(built)} native helpers built into {folder} "
            f"in {time.monotonic() - start:.1f} s")
    return built

