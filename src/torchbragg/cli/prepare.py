"""``torchbragg --prepare ARGS``: build, ahead, the compiled kernels that ``ARGS`` would use.

The command line is read as a run would read it (flags, input files; nothing is rendered and
no file is written, not even the ``-hkl`` cache). The packages the run would load are built
into the cache when missing (15–75 s each, once; docs/performance.md) and loaded once to
check them. One line per package on stdout: ``cached`` or ``built in N s``, and its path.
Exit status as for a run (9 for bad input); 0 also when the run would stay eager (the reason
is printed), e.g. with ``TORCHBRAGG_COMPILE=off`` or on a GPU.
"""
from __future__ import annotations

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
    from torchbragg.physics.fused import block_accumulate, evaluations
    from torchbragg.physics.render import rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan
    from torchbragg.rng import ShuffleTable

    loaded = parse_argv(argv)
    load_structure_factors(loaded, lambda line: None, write_cache=False)
    exp = build_experiment(loaded.config, ShuffleTable())
    check_limits(loaded, exp)
    st = loaded.state
    device = st.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float64 if st.dtype == "float64" else torch.float32
    plan = make_plan(exp, device, dtype)
    pixels = int(rendered_indices(plan, loaded.config.sampling.roi, loaded.mask).numel())
    work = evaluations(plan, pixels)
    reason = eager_reason(plan, work)
    if reason is not None:
        print(f"torchbragg: --prepare: nothing to build ({reason})")
        return 0
    paths = []
    if aot_chunk.chunk_possible(plan):
        paths.append(aot.package_path(aot_chunk.structure_of(plan), kind="chunk"))
    else:
        culled = (False, True) if plan.dmin_m > 0 else (False,)
        paths += [aot.package_path(aot.structure_of(plan, rows, c))
                  for rows in sorted(set(aot.split_rows(plan.lat_a.shape[0]))) for c in culled]
    missing = [p for p in paths if not p.exists()]
    notes: List[str] = []
    t0 = time.perf_counter()
    if aot_chunk.chunk_possible(plan):
        ok = aot_chunk.compiled_chunk(plan, True, notes.append) is not None
    else:
        ok = aot.compiled_block(plan, block_accumulate, True, notes.append) is not None
    for note in notes:
        print(f"torchbragg: {note}", file=sys.stderr)
    if not ok:
        print("torchbragg: --prepare: the compiled kernel could not be built; runs of this "
              "configuration stay eager", file=sys.stderr)
        return EXIT_INTERNAL
    took = time.perf_counter() - t0
    for path in paths:
        state = f"built in {took:.0f} s" if path in missing else "cached"
        print(f"torchbragg: --prepare: {state}: {path}")
    return 0
