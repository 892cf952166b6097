#!/usr/bin/env python3
"""Eager render time of ``-dtype float32`` (and float64) on a few workloads, in process.

    PYTHONPATH=src python scripts/float32_speed.py [--reps 5] [--cases T1,T2] [--json out]

Times :func:`render` only (no start-up, parsing or files), median of ``--reps`` runs (wall
and process CPU time; with ``--threads 1`` the CPU time is robust to other load), eager
(``render``'s default compile policy). Run it with two source trees' ``PYTHONPATH`` to compare them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 "
CASES = {
    "T1-1024": BASE + "-detpixels 1024 -oversample 1",
    "T2-256-os2": BASE + "-detpixels 256 -oversample 2",
    "T3-round-256": BASE + "-detpixels 256 -oversample 2 -round_xtal",
    "T4-gauss-256": BASE + "-detpixels 256 -oversample 2 -gauss_xtal",
    # block-heavy (M = 50 rows per pixel): W2 of the benchmark on 256² pixels
    "W2-256": ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 "
               "-pixel 0.4 -detpixels 256 -mosaic 0.5 -mosaic_domains 10 -phisteps 5 -osc 0.5 "
               "-oversample 2"),
    "W2-round-256": ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 "
                     "-pixel 0.4 -detpixels 256 -mosaic 0.5 -mosaic_domains 10 -phisteps 5 "
                     "-osc 0.5 -oversample 2 -round_xtal"),
    "W2-gauss-256": ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 "
                     "-pixel 0.4 -detpixels 256 -mosaic 0.5 -mosaic_domains 10 -phisteps 5 "
                     "-osc 0.5 -oversample 2 -gauss_xtal"),
    "W2": ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 "
           "-pixel 0.1 -detpixels 1024 -mosaic 0.5 -mosaic_domains 10 -phisteps 5 -osc 0.5 "
           "-oversample 2"),
}


def timed(argv, dtype, reps):
    import torch

    from torchbragg.cli.load import load_structure_factors, parse_argv
    from torchbragg.physics.render import render
    from torchbragg.physics.workload import rendered_indices
    from torchbragg.physics.setup import build_experiment, make_plan
    from torchbragg.rng import ShuffleTable

    loaded = parse_argv(list(argv))
    load_structure_factors(loaded, lambda line: None)
    exp = build_experiment(loaded.config, ShuffleTable())
    plan = make_plan(exp, "cpu", getattr(torch, dtype))
    indices = rendered_indices(plan, loaded.config.sampling.roi, loaded.mask)
    times, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        render(plan, indices)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return times, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cases", default="T1-1024,T2-256-os2")
    ap.add_argument("--dtypes", default="float32")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    os.chdir(tempfile.mkdtemp(prefix="f32speed-"))
    out = {}
    for name in args.cases.split(","):
        for dtype in args.dtypes.split(","):
            times, cpu = timed(CASES[name].split(), dtype, args.reps)
            out[f"{name} {dtype}"] = dict(median=statistics.median(times), min=min(times),
                                          times=times, cpu=cpu)
            print(f"{name:14s} {dtype}: wall median {statistics.median(times):.3f} s  "
                  f"min {min(times):.3f} s   cpu median {statistics.median(cpu):.3f} s  "
                  f"min {min(cpu):.3f} s", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
