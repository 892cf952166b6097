"""W6: many small images back to back, in one process and one process per case.

The cases are the parity campaign's random command lines (:func:`parity.campaign.generator.
campaign_argv`, seeds ``seed``…, the project's own input files), each in its own scratch
folder with ``-floatfile w6.bin`` and ``-dtype float64`` added. Timed three ways, each over
every case: torchbragg in this process (:func:`torchbragg.api.run_command`, the ``--batch``
path), torchbragg as one process per case, and the C reference (one process per case). The
two torchbragg ways must give the same exit statuses and float images (counted).

Target: ≥ 5 cases/s in-process on 2 cores; the C does ~50.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

TARGET_CASES_PER_S = 5.0
IMAGE = "w6.bin"


def cases(count: int, seed: int, names: dict) -> List[List[str]]:
    """The ``count`` command lines of seeds ``seed``, ``seed + 1``, …"""
    from torchbragg.parity.campaign.generator import campaign_argv

    return [campaign_argv(random.Random(seed + i), names) + ["-floatfile", IMAGE]
            for i in range(count)]


def _case_dir(root: Path, label: str, i: int, inputs: Path) -> Path:
    folder = root / label / f"case{i:04d}"
    folder.mkdir(parents=True)
    os.symlink(inputs, folder / "inputs")
    return folder


def _digest(folder: Path) -> Optional[str]:
    path = folder / IMAGE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _in_process(argv: List[str], folder: Path) -> int:
    from torchbragg.api import run_command

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return run_command(argv, cwd=str(folder))


def _subprocess(command: Sequence[str], env: dict) -> Callable[[List[str], Path], int]:
    def run(argv: List[str], folder: Path) -> int:
        return subprocess.run([*command, *argv], cwd=folder, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=600).returncode
    return run


def _timed(label: str, run, lines, root: Path, inputs: Path) -> dict:
    statuses, digests = [], []
    t0 = time.perf_counter()
    for i, argv in enumerate(lines):
        folder = _case_dir(root, label, i, inputs)
        statuses.append(run(list(argv), folder))
        digests.append(_digest(folder))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "cases_per_s": len(lines) / wall, "statuses": statuses,
            "digests": digests}


def run_w6(count: int = 200, seed: int = 0, processes: Optional[int] = None,
           c_command: Optional[List[str]] = None) -> dict:
    """Time W6; ``processes`` cases (default all) are also run one process per case."""
    from torchbragg.parity.campaign.generator import write_campaign_inputs

    root = Path(tempfile.mkdtemp(prefix="torchbragg-bench-w6-"))
    try:
        inputs = root / "inputs"
        names = write_campaign_inputs(inputs)
        lines = cases(count, seed, names)
        tail = ["-dtype", "float64"]
        torch_lines = [argv + tail for argv in lines]
        per = lines[:count if processes is None else processes]
        out = {"cases": count, "seed": seed, "per_process_cases": len(per),
               "compile": os.environ.get("TORCHBRAGG_COMPILE", "auto"),
               "target_cases_per_s": TARGET_CASES_PER_S}
        _in_process(["--version"], root)  # imports outside the timing (the process exists)
        inproc = _timed("inprocess", _in_process, torch_lines, root, inputs)
        env = dict(os.environ)
        proc = _timed("process", _subprocess([sys.executable, "-m", "torchbragg"], env),
                      [argv + tail for argv in per], root, inputs)
        n = len(per)
        out["in_process"] = _row(inproc)
        out["per_process"] = _row(proc)
        out["same_status"] = sum(a == b for a, b in zip(inproc["statuses"], proc["statuses"]))
        out["same_image"] = sum(a == b for a, b in zip(inproc["digests"], proc["digests"]))
        out["compared"] = n
        if c_command:
            c = _timed("c", _subprocess(c_command, dict(env, OMP_NUM_THREADS="1")), lines,
                       root, inputs)
            out["c"] = _row(c)
            out["c_same_image"] = sum(a == b for a, b in zip(inproc["digests"], c["digests"]))
        out["within_target"] = out["in_process"]["cases_per_s"] >= TARGET_CASES_PER_S
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _row(timed: dict) -> dict:
    return {"wall_s": round(timed["wall_s"], 3), "cases_per_s": round(timed["cases_per_s"], 2),
            "failures": sum(1 for s in timed["statuses"] if s != 0)}


def markdown(row: dict) -> List[str]:
    lines = ["", f"## W6: {row['cases']} random small cases (seeds {row['seed']}…), back to back",
             "", "| path | cases | wall s | cases/s | non-zero exits |", "|---|---|---|---|---|"]
    for key, label, n in (("in_process", "torchbragg in-process (run_command / --batch)",
                           row["cases"]),
                          ("per_process", "torchbragg, one process per case",
                           row["per_process_cases"]),
                          ("c", "C reference, one process per case", row["cases"])):
        if key in row:
            r = row[key]
            lines.append(f"| {label} | {n} | {r['wall_s']:.1f} | {r['cases_per_s']:.2f} | "
                         f"{r['failures']} |")
    lines += ["", f"In-process target ≥ {row['target_cases_per_s']:.0f} cases/s: "
              f"{'met' if row['within_target'] else 'NOT met'}. In-process and one process "
              f"per case agree on {row['same_status']}/{row['compared']} exit statuses and "
              f"{row['same_image']}/{row['compared']} float images"
              + (f"; {row['c_same_image']}/{row['cases']} images equal the C's"
                 if "c_same_image" in row else "")
              + f" (TORCHBRAGG_COMPILE={row['compile']})."]
    return lines
