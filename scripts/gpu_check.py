"""One prepared GPU check: W1–W4 on CUDA against the CPU images, with timings.

    python scripts/gpu_check.py [--workloads W1,W2,W3,W4] [--out gpu_check.json]

For each workload: the float64 CPU image (reference), then CUDA float64 and float32 (one
warm-up, then a timed run with synchronisation). Reports max|d|/peak and relative L2 against
the CPU image and the timings; exits 1 if CUDA float64 departs from the CPU image by more
than 1e-6 (max|d|/peak) or CUDA float32 has relative L2 above 1e-4.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from torchbragg import config_from_argv, simulate
from torchbragg.bench.workloads import workloads


def timed(cfg, device, dtype):
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    img = simulate(cfg, device=device, dtype=dtype)
    if device == "cuda":
        torch.cuda.synchronize()
    return img.to("cpu", torch.float64), time.perf_counter() - t0


def compare(ref, img):
    peak = ref.abs().max().item() or 1.0
    return {"max_abs_over_peak": (img - ref).abs().max().item() / peak,
            "rel_l2": ((img - ref).norm() / (ref.norm() or 1.0)).item()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W1,W2,W3,W4")
    ap.add_argument("--out", default="gpu_check.json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device available", file=sys.stderr)
        return 2
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "results": {}}
    ok = True
    for name in args.workloads.split(","):
        argv = workloads()[name]
        if argv is None:
            print(f"{name}: skipped (inputs not found; set TORCHBRAGG_INPUTS)")
            continue
        cfg = config_from_argv(argv)
        ref, t_cpu = timed(cfg, "cpu", torch.float64)
        row = {"cpu_float64_s": t_cpu}
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):
            timed(cfg, "cuda", dtype)  # warm-up (kernels, caches)
            img, t = timed(cfg, "cuda", dtype)
            row[f"cuda_{label}_s"] = t
            row[f"cuda_{label}"] = compare(ref, img)
        ok &= row["cuda_float64"]["max_abs_over_peak"] <= 1e-6
        ok &= row["cuda_float32"]["rel_l2"] <= 1e-4
        report["results"][name] = row
        print(name, json.dumps(row), flush=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
