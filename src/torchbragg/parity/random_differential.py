"""Differential check of the random suite: torchbragg against torchbragg-cref, byte for byte.

For each seed, the case ``random_argv(random.Random(seed), inputs=FILE_NAMES)`` (plus
``-floatfile float.bin``) runs in two scratch folders, each holding the files of
``case_inputs.write_inputs``: once as ``python -m torchbragg ... -dtype float64``, once as the
C reference. Compared: the exit status, standard output (exact, after dropping the C's
``NN% done`` progress lines and its ``mmap(FILE) = ADDRESS`` pointer, the two documented
differences) and every file left in the folder (names and bytes). Standard error is reported
but not judged (the programs name themselves in their messages).

    python -m torchbragg.parity.random_differential --seeds 0:300 --jobs 2 --out /tmp/diff
    python scripts/random_differential.py ...          # the same

Writes ``results.jsonl`` (one line per seed) and prints a summary; exit status 1 when a case
differs. TORCHBRAGG_COMPILE is set to ``off`` unless given (speed). :func:`check_seed` runs
one case (the tests use it for a handful of seeds).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from torchbragg import cref
from torchbragg.parity.case_inputs import FILE_NAMES, write_inputs
from torchbragg.parity.families import families_of
from torchbragg.parity.random_argv import random_argv

#: progress lines; one can follow the interpolation warning, which has no newline
_PROGRESS = re.compile(r"(?<![\d.])\d+% done\n")
_MMAP = re.compile(r"^(mmap\(.*\) = )\S+$", re.M)


def normalise(stdout: str) -> str:
    return _MMAP.sub(r"\g<1>ADDRESS", _PROGRESS.sub("", stdout))


def run_side(cmd, cwd: Path, timeout: float):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.setdefault("TORCHBRAGG_COMPILE", "off")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")
    except subprocess.TimeoutExpired:
        rc, out, err = "timeout", "", ""
    return rc, out, err, time.perf_counter() - t0


def files_of(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def first_difference(a: str, b: str) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: py {x!r} | c {y!r}"
    return f"line count py {len(la)} | c {len(lb)}"


def check_seed(seed: int, root: Path, c_bin: str, timeout: float, keep: bool) -> dict:
    argv = random_argv(random.Random(seed), inputs=FILE_NAMES)
    case = argv + ["-floatfile", "float.bin"]
    base = root / f"seed{seed:06d}"
    shutil.rmtree(base, ignore_errors=True)
    dirs = {"py": base / "py", "c": base / "c"}
    for d in dirs.values():
        write_inputs(d)
    py = run_side([sys.executable, "-m", "torchbragg", *case, "-dtype", "float64"],
                  dirs["py"], timeout)
    c = run_side([c_bin, *case], dirs["c"], timeout)
    diffs = []
    if py[0] != c[0]:
        diffs.append(f"exit status py {py[0]} c {c[0]}")
    so_py, so_c = normalise(py[1]), normalise(c[1])
    if so_py != so_c:
        diffs.append("stdout " + first_difference(so_py, so_c))
    f_py, f_c = files_of(dirs["py"]), files_of(dirs["c"])
    if set(f_py) != set(f_c):
        diffs.append(f"files py-only {sorted(set(f_py) - set(f_c))} c-only "
                     f"{sorted(set(f_c) - set(f_py))}")
    for name in sorted(set(f_py) & set(f_c)):
        if f_py[name] != f_c[name]:
            a, b = f_py[name], f_c[name]
            pos = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            diffs.append(f"file {name} differs (sizes {len(a)}/{len(b)}, first byte {pos})")
    result = {"seed": seed, "argv": argv, "families": sorted(families_of(argv)),
              "rc_py": py[0], "rc_c": c[0], "seconds_py": round(py[3], 2),
              "seconds_c": round(c[3], 2), "differences": diffs,
              "stderr_py": py[2][-2000:], "stderr_c": c[2][-2000:],
              "files": sorted(f_py)}
    if diffs or keep:  # the streams beside the two folders (not inside: those are compared)
        for side, res in (("py", py), ("c", c)):
            (base / f"{side}.stdout").write_text(res[1], encoding="latin-1")
            (base / f"{side}.stderr").write_text(res[2], encoding="latin-1")
        (base / "argv.txt").write_text(" ".join(case) + "\n")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return result


def parse_seeds(text: str) -> list:
    if ":" in text:
        a, b = text.split(":")
        return list(range(int(a), int(b)))
    return [int(x) for x in text.split(",")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0:300")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="reports/random-differential")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true", help="keep the folders of agreeing cases")
    args = ap.parse_args(argv)
    root = Path(args.out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    c_bin = str(cref.binary_path())
    seeds = parse_seeds(args.seeds)
    results = []
    with open(root / "results.jsonl", "w") as log, \
            cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(check_seed, s, root, c_bin, args.timeout, args.keep): s
                   for s in seeds}
        for fut in cf.as_completed(futures):
            res = fut.result()
            results.append(res)
            log.write(json.dumps(res) + "\n")
            log.flush()
            if res["differences"]:
                print(f"seed {res['seed']}: DIFFERENT: {'; '.join(res['differences'])}\n"
                      f"  argv: {' '.join(res['argv'])}", flush=True)
    bad = [r for r in results if r["differences"]]
    rcs = {}
    for r in results:
        rcs[str(r["rc_py"])] = rcs.get(str(r["rc_py"]), 0) + 1
    print(f"{len(results)} cases, {len(bad)} different; exit statuses (py) {rcs}; "
          f"py {sum(r['seconds_py'] for r in results):.0f} s, "
          f"c {sum(r['seconds_c'] for r in results):.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
