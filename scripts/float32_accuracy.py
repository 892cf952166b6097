#!/usr/bin/env python3
"""Accuracy of ``-dtype float32`` against the float64 image, on random command lines.

For seeds 0..N-1 the campaign's generator (``torchbragg.parity.random_argv``) draws a command
line; each is rendered in process in float64 and in float32 (eager: ``render``'s default compile
policy) and compared through the stored binary32 images (what ``-floatfile``
writes):

    relative L2 = ||f32 − f64||₂ / ||f64||₂      (norms in binary64)

All-zero float64 images are marked and left out of the distribution. A few fixed hard cases
(near-grazing detector at 1024², large N, a small cell at large detector angles) are added.

    PYTHONPATH=src python scripts/float32_accuracy.py --seeds 500 --jobs 2 --json out.json
    ... --hkl ../shared/golden/inputs/pattern.hkl --hkl …     (cases with -hkl, interpolation)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

#: the README's claim for -dtype float32
BOUND = 5e-6

#: fixed hard cases (name → argv)
HARD_CASES = {
    # a detector plane nearly containing the beam, on the default 1024² detector
    "grazing-1024": ("-sdet_vector 0.033882 0.999394 -0.008039 "
                     "-odet_vector 0.041618 0.006545 0.989103 -N 7 -default_F 35.8 "
                     "-cell 79.12 79.12 79.12 90 90 90"),
    # large N: sharp spots, sin(Nπh) with N·h in the hundreds
    "large-N": ("-cell 60 60 60 90 90 90 -N 30 -default_F 100 -lambda 1 -distance 60 "
                "-detpixels 256 -pixel 0.4 -oversample 1"),
    # a small cell at large detector angles: high-order reflections, large |q|
    "small-cell-angles": ("-cell 15 15 15 90 90 90 -N 12 -default_F 100 -lambda 0.8 "
                          "-distance 50 -detpixels 256 -pixel 0.3 -detector_rotx 25 "
                          "-detector_roty -20 -twotheta 70 -oversample 1"),
    # triclinic small cell, misset, grazing and large N
    "triclinic-grazing": ("-cell 17.3 21.9 19.4 71 104 83 -misset 31 -47 112 -N 25 "
                          "-default_F 10 -lambda 0.7 -sdet_vector 0.033882 0.999394 -0.008039 "
                          "-odet_vector 0.041618 0.006545 0.989103 -detpixels 256 "
                          "-oversample 1"),
}


def render_pair(argv):
    """(f64 image, f32 image) as float64 numpy arrays of the stored binary32 values."""
    import torch

    from torchbragg.cli.load import load_structure_factors, parse_argv
    from torchbragg.physics.render import render
    from torchbragg.physics.workload import rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan
    from torchbragg.rng import ShuffleTable

    out = []
    for dtype in (torch.float64, torch.float32):
        loaded = parse_argv(list(argv))
        load_structure_factors(loaded, lambda line: None)
        exp = build_experiment(loaded.config, ShuffleTable())
        plan = make_plan(exp, "cpu", dtype)
        indices = rendered_indices(plan, loaded.config.sampling.roi, loaded.mask)
        res = render(plan, indices)
        out.append(res.image.to(torch.float64).numpy())
    return out


def measure(item):
    """One case → dict with its relative L2 (None for an all-zero image) and timing."""
    import numpy as np

    name, argv = item
    t0 = time.perf_counter()
    here = os.getcwd()
    try:  # each case in an empty folder: -hkl writes Fdump.bin, which a later case would read
        with tempfile.TemporaryDirectory(prefix="f32acc-") as scratch:
            os.chdir(scratch)
            ref, img = render_pair(argv)
    except Exception as exc:  # noqa: BLE001 - a case the port refuses: report, do not stop
        return dict(name=name, argv=argv, error=f"{type(exc).__name__}: {exc}")
    finally:
        os.chdir(here)
    # (-point_pixel with -oversample_omega can overflow binary32 in both images: compare the
    # finite pixels, and count a case whose non-finite pixels differ as a mismatch)
    finite = np.isfinite(ref) & np.isfinite(img)
    nonfinite = int(ref.size - finite.sum())
    same_nonfinite = bool(np.array_equal(ref[~finite], img[~finite], equal_nan=True))
    ref, img = ref[finite], img[finite]
    norm = float(np.linalg.norm(ref))
    rel = None if norm == 0 else float(np.linalg.norm(img - ref)) / norm
    if not same_nonfinite or (norm == 0 and img.any()):
        rel = float("inf")
    return dict(name=name, argv=argv, rel_l2=rel, pixels=int(finite.size), nonfinite=nonfinite,
                max_rel=None if norm == 0 else float(np.abs(img - ref).max() / np.abs(ref).max()),
                seconds=round(time.perf_counter() - t0, 3))


def _worker_init():
    import torch

    torch.set_num_threads(1)


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarise(results, bound=BOUND):
    vals = sorted(r["rel_l2"] for r in results if r.get("rel_l2") is not None)
    worst = sorted((r for r in results if r.get("rel_l2") is not None),
                   key=lambda r: -r["rel_l2"])[:10]
    return dict(
        cases=len(results), measured=len(vals),
        all_zero=sum(1 for r in results if "error" not in r and r.get("rel_l2") is None),
        errors=sum(1 for r in results if "error" in r),
        with_nonfinite_pixels=sum(1 for r in results if r.get("nonfinite")),
        median=percentile(vals, 0.5), p90=percentile(vals, 0.9), p99=percentile(vals, 0.99),
        worst=vals[-1] if vals else None,
        over_bound=sum(1 for v in vals if v > bound), bound=bound,
        over_1e5=sum(1 for v in vals if v > 1e-5), over_1e4=sum(1 for v in vals if v > 1e-4),
        worst10=[dict(name=r["name"], rel_l2=r["rel_l2"], argv=" ".join(r["argv"]))
                 for r in worst])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=500, help="random cases: seeds 0..N-1")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-hard", action="store_true", help="skip the fixed hard cases")
    ap.add_argument("--hkl", action="append", default=[],
                    help="structure-factor file a random case may name with -hkl (repeatable; "
                         "absolute paths)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    from torchbragg.parity.random_argv import random_argv

    hkl = [os.path.abspath(x) for x in args.hkl]
    items = [(f"seed {s}", random_argv(random.Random(s), hkl))
             for s in range(args.first, args.first + args.seeds)]
    hard = [] if args.no_hard else [(name, cmd.split()) for name, cmd in HARD_CASES.items()]
    t0 = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.jobs, initializer=_worker_init) as pool:
            results = pool.map(measure, items + hard, chunksize=1)
    else:
        _worker_init()
        results = [measure(it) for it in items + hard]
    random_results, hard_results = results[:len(items)], results[len(items):]
    report = dict(
        seeds=[args.first, args.first + args.seeds], hkl_files=hkl,
        compile="off",
        seconds=round(time.perf_counter() - t0, 1), random=summarise(random_results),
        hard={r["name"]: r.get("rel_l2", r.get("error")) for r in hard_results},
        cases=results)
    s = report["random"]
    fmt = lambda v: "-" if v is None else f"{v:.2e}"  # noqa: E731
    print(f"{s['measured']} random cases ({s['all_zero']} all-zero, {s['errors']} errors) "
          f"in {report['seconds']} s: median {fmt(s['median'])}  p90 {fmt(s['p90'])}  "
          f"p99 {fmt(s['p99'])}  worst {fmt(s['worst'])}  > {BOUND:g}: {s['over_bound']}  "
          f"> 1e-5: {s['over_1e5']}  > 1e-4: {s['over_1e4']}")
    for w in s["worst10"]:
        print(f"  {w['rel_l2']:.2e}  {w['name']}: {w['argv']}")
    for name, value in report["hard"].items():
        print(f"  hard {name}: {fmt(value) if not isinstance(value, str) else value}")
    for r in results:
        if "error" in r:
            print(f"  error {r['name']}: {r['error']}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
