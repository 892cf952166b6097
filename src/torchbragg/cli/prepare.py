"""``torchbragg --prepare ARGS``: build, ahead, the compiled kernels that ``ARGS`` would use.

The command line is read as a run would read it (flags, input files; no file is written, not
even the ``-hkl`` cache). Its first two chunks are rendered with ``TORCHBRAGG_COMPILE=on`` and
thrown away: the packages the run would load are built into the cache when missing (15 s to
a few minutes each, once; docs/performance.md), loaded and checked against the eager kernel's
bits as every run does. One line per package on stdout (``built`` or ``cached``, and its
path), then the time taken.
Exit status as for a run (9 for bad input); 0 also when the run would stay eager (the reason
is printed), e.g. with ``TORCHBRAGG_COMPILE=off`` or on a GPU.
"""
from __future__ import annotations

import os
import sys
import time
from typing import List, Optional

from torchbragg.cli.load import load_structure_factors, parse_argv
from torchbragg.cli.limits import check_limits
from torchbragg.errors import EXIT_INTERNAL


def eager_reason(plan, work: float) -> Optional[str]:
    """Why a run of ``plan`` with ``work`` evaluations would never use a package, or None."""
    from torchbragg.physics.fused import MIN_COMPILED_EVALUATIONS, compile_mode

    mode = compile_mode()
    if mode == "off":
        return "TORCHBRAGG_COMPILE=off: runs stay eager"
    if plan.device.type != "cpu":
        return f"the compiled kernels are CPU code; a {plan.device.type} run is eager"
    if mode == "auto" and work < MIN_COMPILED_EVALUATIONS:
        return (f"{work:.3g} evaluations: under {MIN_COMPILED_EVALUATIONS:.0e}, "
                "TORCHBRAGG_COMPILE=auto keeps such runs eager")
    return None


def prepare(argv: List[str]) -> int:
    """Build and load the packages of the run ``argv``; report them on stdout."""
    import torch

    from torchbragg.physics import aot, aot_chunk
    from torchbragg.physics.render import render
    from torchbragg.physics.workload import chunk_pixels, evaluations, rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan
    from torchbragg.rng import ShuffleTable

    loaded = parse_argv(argv)
    load_structure_factors(loaded, lambda line: None, write_cache=False)
    exp = build_experiment(loaded.config, ShuffleTable())
    check_limits(loaded, exp)
    st = loaded.options
    device = st.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float64 if st.dtype == "float64" else torch.float32
    plan = make_plan(exp, device, dtype)
    indices = rendered_indices(plan, loaded.config.sampling.roi, loaded.mask)
    work = evaluations(plan, int(indices.numel()))
    reason = eager_reason(plan, work)
    if reason is not None:
        print(f"torchbragg: --prepare: nothing to build ({reason})")
        return 0
    paths = [aot.package_path(aot_chunk.structure_of(plan), kind="chunk")
             if aot_chunk.chunk_possible(plan) else None] + aot.block_paths(plan)
    paths = [p for p in paths if p is not None]
    cached = {p: p.exists() for p in paths}
    t0 = time.perf_counter()
    notes: List[str] = []
    # two chunks through the renderer with building on: the packages, loaded and checked
    # against the eager kernel's bits exactly as a run does (block packages only where the
    # whole-chunk one is not possible or differs)
    sample = indices[:2 * chunk_pixels(plan)]
    old = os.environ.get("TORCHBRAGG_COMPILE")
    os.environ["TORCHBRAGG_COMPILE"] = "on"
    try:
        with torch.no_grad():
            render(plan, sample, notify=notes.append)
    finally:
        if old is None:
            os.environ.pop("TORCHBRAGG_COMPILE")
        else:
            os.environ["TORCHBRAGG_COMPILE"] = old
    for note in notes:
        print(f"torchbragg: {note}", file=sys.stderr)
    took = time.perf_counter() - t0
    # (a whole-chunk package whose bits differ on this CPU is marked and not used)
    ready = [p for p in paths if p.exists() and not aot.differs_marker(p).exists()]
    if not ready:
        print("torchbragg: --prepare: no compiled kernel could be built; runs of this "
              "configuration stay eager", file=sys.stderr)
        return EXIT_INTERNAL
    for path in ready:
        state = "cached" if cached[path] else "built"
        print(f"torchbragg: --prepare: {state}: {path}")
    print(f"torchbragg: --prepare: ready in {took:.0f} s")
    return 0
