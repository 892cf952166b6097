"""``torchbragg --prepare ARGS``: build, ahead, the compiled kernels that ``ARGS`` would use.

The command line is read as a run would read it (flags, input files; no file is written, not
even the ``-hkl`` cache). Its first two chunks are rendered with the compile mode ``on`` and
thrown away: the packages the run would load are built into the cache when missing (15 s to
a few minutes each, once; docs/performance.md), loaded and checked against the eager kernel's
bits as every run does. One line per package on stdout (``built`` or ``cached``, and its
path), then the time taken.
Exit status as for a run (9 for bad input); 0 also when the run would stay eager (the reason
is printed), e.g. with ``-compile off`` (or ``TORCHBRAGG_COMPILE=off``) or on a GPU.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import List

from torchbragg.cli.run_env import COMPILE_ENV, compile_policy
from torchbragg.cli.load import load_structure_factors, parse_argv
from torchbragg.cli.limits import check_limits
from torchbragg.errors import EXIT_INTERNAL


def prepare(argv: List[str]) -> int:
    """Build and load the packages of the run ``argv``; report them on stdout."""
    import torch

    from torchbragg.physics.compiled.packages import differs_marker
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
    policy = compile_policy(flag=st.compile)
    reason = policy.eager_reason(plan, work)
    if reason is not None:
        source = f"-compile {st.compile}" if st.compile else f"{COMPILE_ENV}={policy.mode}"
        print(f"torchbragg: --prepare: nothing to build ({source}: {reason})")
        return 0
    paths = policy.package_paths(plan)
    cached = {p: p.exists() for p in paths}
    t0 = time.perf_counter()
    notes: List[str] = []
    # two chunks through the renderer with building on: the packages, loaded and checked
    # against the eager kernel's bits exactly as a run does (block packages only where the
    # whole-chunk one is not possible or differs)
    sample = indices[:2 * chunk_pixels(plan)]
    with torch.no_grad():
        render(plan, sample, compile=replace(policy, mode="on", notify=notes.append))
    for note in notes:
        print(f"torchbragg: {note}", file=sys.stderr)
    took = time.perf_counter() - t0
    # (a whole-chunk package whose bits differ on this CPU is marked and not used)
    ready = [p for p in paths if p.exists() and not differs_marker(p).exists()]
    if not ready:
        print("torchbragg: --prepare: no compiled kernel could be built; runs of this "
              "configuration stay eager", file=sys.stderr)
        return EXIT_INTERNAL
    for path in ready:
        state = "cached" if cached[path] else "built"
        print(f"torchbragg: --prepare: {state}: {path}")
    print(f"torchbragg: --prepare: ready in {took:.0f} s")
    return 0
