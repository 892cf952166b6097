"""``python -m torchbragg.bench``: time torchbragg against the C reference (W1–W6, campaign).

Writes ``bench.json`` and ``bench.md`` (ratios torchbragg/C) into
``reports/bench/<UTC timestamp>/`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from torchbragg.bench.runner import run_workload, variants
from torchbragg.bench.workloads import workloads


def markdown(result: dict) -> str:
    helpers = ", ".join(result.get("prebuilt_helpers") or []) or "none"
    lines = [f"# torchbragg benchmark ({result['created']})", "",
             f"CPU: {result['cpu']}; threads: {result['torch_threads']}; device: {result['device']}; "
             f"repetitions: {result['reps']} (interleaved); torchbragg bytecode "
             f"{'compiled before timing' if result.get('bytecode') else 'NOT compiled'}; "
             f"native helpers built at install: {helpers} (the cold rows use them, as a "
             "fresh install does)", "",
             "| workload | variant | wall median (min–max) s | compute median s | CPU median s "
             "| peak RSS MiB | wall / C | CPU / C | float image |",
             "|---|---|---|---|---|---|---|---|---|"]
    if not result["workloads"]:
        lines[-3:] = ["No W workloads run."]
    for wname, rows in result["workloads"].items():
        if rows is None:
            lines.append(f"| {wname} | skipped (inputs not found: set TORCHBRAGG_INPUTS) | | | | |")
            continue
        c_wall = rows.get("C", {}).get("wall_median_s")
        c_cpu = rows.get("C", {}).get("cpu_median_s")
        c_sha = rows.get("C", {}).get("image_sha256")
        f64_sha = rows.get("torch-float64-eager", {}).get("image_sha256")
        for vname, r in rows.items():
            image = _image_cell(vname, r.get("image_sha256") or [], c_sha, f64_sha)
            warm = (f"; warm-up {r['warmup_wall_s']:.1f} s" if "warmup_wall_s" in r else "")
            ratio = f"{r['wall_median_s'] / c_wall:.2f}" if c_wall else "—"
            comp = f"{r['compute_median_s']:.2f}" if "compute_median_s" in r else "—"
            cpu = r.get("cpu_median_s")
            cpu_text = f"{cpu:.2f}" if cpu is not None else "—"
            cpu_ratio = f"{cpu / c_cpu:.2f}" if cpu is not None and c_cpu else "—"
            fail = f" ({r['failures']} failed)" if r["failures"] else ""
            lines.append(f"| {wname} | {vname}{fail} | {r['wall_median_s']:.2f} "
                         f"({r['wall_min_s']:.2f}–{r['wall_max_s']:.2f}) | {comp} | {cpu_text} | "
                         f"{r['peak_rss_mib']:.0f} | {ratio}{warm} | {cpu_ratio} | {image} |")
    return "\n".join(lines) + "\n"


def _image_cell(variant: str, sha: list, c_sha, f64_sha) -> str:
    """The float image's sha256 prefix, and which reference it equals byte for byte."""
    if not sha:
        return "—"
    text = sha[0][:12] if len(sha) == 1 else f"{len(sha)} different"
    if variant != "C" and sha == c_sha:
        return text + " (= C)"
    if variant not in ("C", "torch-float64-eager") and sha == f64_sha:
        return text + " (= float64 eager)"
    return text


def compile_bytecode() -> bool:
    """Byte-compile the torchbragg sources, as ``pip install`` does, so that every timed
    process loads ``.pyc`` files (with ``PYTHONDONTWRITEBYTECODE`` set, an editable checkout
    would otherwise recompile ~40 modules per process: ~30 ms). False where not writable."""
    import compileall

    import torchbragg

    try:
        return bool(compileall.compile_dir(Path(torchbragg.__file__).parent, quiet=2))
    except OSError:
        return False


def prebuilt_helpers() -> list:
    """The native helpers this install's prebuilt folder serves (a cold run loads them)."""
    from torchbragg import native

    return [spec.name for spec in native.HELPERS if native.prebuilt(spec) is not None]


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m torchbragg.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compiled", action="store_true",
                    help="skip the compiled (AOTInductor) variants")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--out", default=None, help="output folder (default reports/bench/<UTC>)")
    ap.add_argument("--campaign", type=int, default=200, metavar="N",
                    help="random campaign cases to time, both sides (default 200; 0: skip)")
    ap.add_argument("--cold", action="store_true",
                    help="also run W1–W5 with the default policy from an empty package cache "
                         "(a fresh user's first run)")
    ap.add_argument("--w6", type=int, default=200, metavar="N",
                    help="W6: N random small cases back to back, in-process and one process per "
                         "case (default 200; 0: skip)")
    ap.add_argument("--w6-processes", type=int, default=None, metavar="N",
                    help="W6 cases also run one process per case (default: all)")
    args = ap.parse_args(argv)
    if args.out and Path(args.out).exists():
        print(f"torchbragg.bench: --out {args.out}: already exists (the report would overwrite "
              "it; name a new folder)", file=sys.stderr)
        return 2
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out or Path("reports") / "bench" / stamp)
    out.mkdir(parents=True, exist_ok=False)
    vs = variants(device, compiled=not args.no_compiled, cold=args.cold)
    all_w = workloads()
    result = {"schema_version": 1, "created": stamp, "cpu": cpu_model(), "device": device,
              "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "python": platform.python_version(), "reps": args.reps,
              "bytecode": compile_bytecode(), "prebuilt_helpers": prebuilt_helpers(),
              "workloads": {}}
    for name in filter(None, args.workloads.split(",")):
        wl = all_w[name.strip()]
        print(f"{name}: {'skipped' if wl is None else 'running'}", file=sys.stderr, flush=True)
        result["workloads"][name] = (None if wl is None else
                                     run_workload(wl, vs, args.reps, args.timeout))
        (out / "bench.json").write_text(json.dumps(result, indent=1))
    text = markdown(result)
    if args.campaign > 0:
        from torchbragg.bench.campaign import markdown as campaign_markdown
        from torchbragg.bench.campaign import run_campaign_bench

        print(f"campaign: {args.campaign} random cases", file=sys.stderr, flush=True)
        result["campaign"] = run_campaign_bench(args.campaign)
        (out / "bench.json").write_text(json.dumps(result, indent=1))
        text += "\n".join(campaign_markdown(result["campaign"])) + "\n"
    if args.w6 > 0:
        from torchbragg.bench.runner import c_command
        from torchbragg.bench.w6 import markdown as w6_markdown
        from torchbragg.bench.w6 import run_w6

        print(f"W6: {args.w6} small random cases", file=sys.stderr, flush=True)
        result["w6"] = run_w6(args.w6, processes=args.w6_processes, c_command=c_command())
        (out / "bench.json").write_text(json.dumps(result, indent=1))
        text += "\n".join(w6_markdown(result["w6"])) + "\n"
    (out / "bench.md").write_text(text)
    sys.stdout.write(text)
    print(f"report: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
