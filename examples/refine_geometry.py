"""Refine cell, misset and detector distance against a simulated image with gradients.

    python examples/refine_geometry.py [--out refine_loss.png] [--steps 60]

A reference image is simulated from the true parameters; the cell edge a, the three misset
angles and the detector distance are perturbed and recovered by L-BFGS on the squared image
difference, through the same simulation path as the ``torchbragg`` command. Prints the
relative parameter errors per step and saves a loss curve (PNG, log scale).
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import torch

from torchbragg import config_from_argv, simulate
from torchbragg.physics.vec3 import RTD

COMMAND = ("-cell 60 70 80 85 95 100 -misset 10 20 30 -default_F 100 -N 3 -lambda 1.2 "
           "-distance 50 -detpixels 48 -pixel 0.4 -oversample 1")
TRUTH = {"a_A": 60.0, "rx_deg": 10.0, "ry_deg": 20.0, "rz_deg": 30.0, "distance_mm": 50.0}
START = {"a_A": 60.3, "rx_deg": 10.15, "ry_deg": 19.9, "rz_deg": 30.1, "distance_mm": 50.6}


def image(cfg, p):
    cell = (p["a_A"], *cfg.crystal.cell_A_rad[1:])
    crystal = replace(cfg.crystal, cell_A_rad=cell,
                      misset_rad=(p["rx_deg"] / RTD, p["ry_deg"] / RTD, p["rz_deg"] / RTD))
    detector = replace(cfg.detector, distance_m=p["distance_mm"] / 1000.0)
    return simulate(replace(cfg, crystal=crystal, detector=detector))


def save_curve(losses, path):
    from PIL import Image, ImageDraw

    w, h, pad = 640, 400, 40
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    logs = [math.log10(max(v, 1e-300)) for v in losses]
    lo, hi = min(logs), max(logs)
    span = (hi - lo) or 1.0
    pts = [(pad + (w - 2 * pad) * i / max(1, len(logs) - 1),
            h - pad - (h - 2 * pad) * (v - lo) / span) for i, v in enumerate(logs)]
    draw.rectangle([pad, pad, w - pad, h - pad], outline="black")
    if len(pts) > 1:
        draw.line(pts, fill="blue", width=2)
    draw.text((pad, 10), f"log10(loss): {hi:.1f} -> {lo:.1f} over {len(logs) - 1} steps", fill="black")
    img.save(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="refine_loss.png")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    cfg = config_from_argv(COMMAND)
    with torch.no_grad():
        ref = image(cfg, {k: torch.tensor(v, dtype=torch.float64) for k, v in TRUTH.items()})
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in START.items()}
    opt = torch.optim.LBFGS(list(params.values()), lr=1, max_iter=1, tolerance_grad=1e-14,
                            tolerance_change=1e-20, history_size=20, line_search_fn="strong_wolfe")
    scale = float((ref * ref).sum())
    losses = []

    def closure():
        opt.zero_grad()
        loss = ((image(cfg, params) - ref) ** 2).sum() / scale
        loss.backward()
        return loss

    t0 = time.perf_counter()
    for step in range(args.steps):
        loss = float(opt.step(closure))
        losses.append(loss)
        errs = {k: abs(float(v) - TRUTH[k]) / abs(TRUTH[k]) for k, v in params.items()}
        print(f"step {step:3d} loss {loss:.3e} " + " ".join(f"{k}={e:.1e}" for k, e in errs.items()))
        if max(errs.values()) < 1e-7 or loss < 1e-24:
            break
    worst = max(abs(float(v) - TRUTH[k]) / abs(TRUTH[k]) for k, v in params.items())
    print(f"done in {time.perf_counter() - t0:.1f} s, {len(losses)} steps; worst relative error {worst:.2e}")
    save_curve(losses, args.out)
    print(f"loss curve: {args.out}")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
