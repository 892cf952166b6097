"""Interleaved repetitions of each variant on each workload; timing and peak RSS per process."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional


#: every run writes its float image here (in its own folder), to compare the variants' outputs
IMAGE = "img.bin"
#: variant setting: the run gets an empty package cache of its own (TORCHBRAGG_CACHE)
COLD_CACHE = "_COLD_CACHE"


@dataclass
class Variant:
    name: str
    command: List[str]  # argv prefix; the workload's args follow
    env: Dict[str, str] = field(default_factory=dict)
    torch_side: bool = True


@dataclass
class Sample:
    wall_s: float
    compute_s: Optional[float]
    peak_rss_mib: float
    status: int
    image_sha256: Optional[str] = None  # of the -floatfile written by the run
    #: user + system CPU time of the process and its children (s): on a shared machine
    #: steadier than the wall time
    cpu_s: Optional[float] = None


def c_command() -> Optional[List[str]]:
    """The C side: ``$NB_C_BIN`` or the bundled reference (compiled on first use)."""
    env = os.environ.get("NB_C_BIN")
    if env:
        return env.split()
    try:
        path = subprocess.run([sys.executable, "-m", "torchbragg.cref", "--print-path"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError):
        return None
    return [path] if path else None


def variants(device: str, compiled: bool, cold: bool = False) -> List[Variant]:
    """C, then torchbragg per dtype: eager, compiled (warm cache), and with ``cold`` the
    default policy (``TORCHBRAGG_COMPILE=auto``) over an empty package cache per run."""
    worker = [sys.executable, "-m", "torchbragg.bench.worker"]
    out = []
    c = c_command()
    if c:
        out.append(Variant("C", c, {"OMP_NUM_THREADS": "1"}, torch_side=False))
    for dtype in ("float64", "float32"):
        # (the compiled packages are CPU code: on CUDA the kernel is the eager one)
        modes = [("eager", "off")] + ([("compiled", "on")] if compiled and device == "cpu" else [])
        if cold:
            modes.append(("cold", "auto"))
        for label, flag in modes:
            env = {"TORCHBRAGG_COMPILE": flag, "_DTYPE": dtype, "_DEVICE": device}
            if label == "cold":
                env[COLD_CACHE] = "1"
            out.append(Variant(f"torch-{dtype}-{label}", worker, env))
    return out


def run_once(variant: Variant, args: List[str], workdir: str, timeout: float) -> Sample:
    timing = os.path.join(workdir, "timing.json")
    env = dict(os.environ, **{k: v for k, v in variant.env.items() if not k.startswith("_")})
    if variant.env.get(COLD_CACHE):  # a package cache that starts empty, for this run only
        env["TORCHBRAGG_CACHE"] = os.path.join(workdir, "cold-cache")
    if variant.torch_side:
        cmd = [*variant.command, timing, *args, "-dtype", variant.env["_DTYPE"],
               "-device", variant.env["_DEVICE"]]
    else:
        cmd = [*variant.command, *args]
    rss_file = os.path.join(workdir, "rss.txt")
    gnu_time = shutil.which("time") if os.path.exists("/usr/bin/time") else None
    if gnu_time:  # the child's own peak RSS (wait4 would include the forked parent's pages)
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    compute = None
    if variant.torch_side and os.path.exists(timing):
        with open(timing) as fh:
            compute = json.load(fh).get("compute_s")
        os.unlink(timing)
    image = os.path.join(workdir, IMAGE)
    digest = hashlib.sha256(open(image, "rb").read()).hexdigest() if os.path.exists(image) else None
    rss_mib = usage.ru_maxrss / 1024.0
    if gnu_time and os.path.exists(rss_file):
        try:
            rss_mib = int(open(rss_file).read().split()[-1]) / 1024.0
        except (ValueError, IndexError):
            pass
    return Sample(wall, compute, rss_mib, os.waitstatus_to_exitcode(status), digest,
                  usage.ru_utime + usage.ru_stime)


def summarise(samples: List[Sample]) -> dict:
    walls = [s.wall_s for s in samples]
    comps = [s.compute_s for s in samples if s.compute_s is not None]
    out = {"reps": len(samples), "wall_median_s": statistics.median(walls),
           "wall_min_s": min(walls), "wall_max_s": max(walls),
           "peak_rss_mib": max(s.peak_rss_mib for s in samples),
           "failures": sum(1 for s in samples if s.status != 0),
           "image_sha256": sorted({s.image_sha256 for s in samples if s.image_sha256})}
    cpus = [s.cpu_s for s in samples if s.cpu_s is not None]
    if cpus:
        out["cpu_median_s"] = statistics.median(cpus)
    if comps:
        out.update(compute_median_s=statistics.median(comps), compute_min_s=min(comps),
                   compute_max_s=max(comps))
    return out


def is_compiled(variant: Variant) -> bool:
    return variant.env.get("TORCHBRAGG_COMPILE") == "on"


def run_workload(args: List[str], vs: List[Variant], reps: int, timeout: float) -> dict:
    """A B A B …: every variant once per round, ``reps`` rounds, each in a clean folder.

    Compiled variants first run once untimed: that run builds the compiled packages when the
    cache lacks them (its wall time is reported as ``warmup_wall_s``).
    """
    args = [*args, "-floatfile", IMAGE]
    samples: Dict[str, List[Sample]] = {v.name: [] for v in vs}
    warmup: Dict[str, float] = {}
    for v in vs:
        if is_compiled(v):
            workdir = tempfile.mkdtemp(prefix="tb-bench-")
            try:
                warmup[v.name] = run_once(v, args, workdir, timeout).wall_s
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    for _ in range(reps):
        for v in vs:
            workdir = tempfile.mkdtemp(prefix="tb-bench-")
            try:
                samples[v.name].append(run_once(v, args, workdir, timeout))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    out = {name: summarise(s) for name, s in samples.items()}
    for name, wall in warmup.items():
        out[name]["warmup_wall_s"] = wall
    return out
