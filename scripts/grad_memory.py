"""Peak memory of a forward + backward pass on the 1024x1024 default detector.

    python scripts/grad_memory.py [--chunk N]

Prints the peak resident set size (MiB) and the time; the pixel chunking bounds the graph
held at once (each chunk is recomputed in the backward pass).
"""
from __future__ import annotations

import argparse
import resource
import time
from dataclasses import replace

import torch

from torchbragg import config_from_argv, simulate


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunk", type=int, default=None)
    args = ap.parse_args()
    cfg = config_from_argv("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2")
    d = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    t0 = time.perf_counter()
    img = simulate(replace(cfg, detector=replace(cfg.detector, distance_m=d)),
                   chunk_pixels=args.chunk)
    img.sum().backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"forward+backward 1024x1024: {time.perf_counter() - t0:.1f} s, "
          f"peak RSS {peak:.0f} MiB, d(sum)/d(distance) = {float(d.grad):.6g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
