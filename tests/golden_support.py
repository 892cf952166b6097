"""Run a nanoBragg-compatible command on a golden case in a scratch folder (test helper).

Layout (as the reference runs were made): ``<root>/<set>/<case>`` is the working folder,
``<root>/<set>/inputs`` the set's inputs (argv paths ``../inputs/...``) and ``<root>/golden``
the golden set (the golden-fuzz cases read ``../../golden/inputs/...``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import find_golden

#: stdout lines that legitimately differ from the C reference's (documented in README)
VOLATILE = ("mmap(",)


def load_case(golden: Path, name: str) -> dict:
    return json.loads((golden / name / "case.json").read_text())


def case_names(golden: Path) -> list:
    return sorted(p.parent.name for p in golden.glob("*/case.json"))


def case_folder(golden: Path, name: str, root: Path) -> Path:
    """The working folder of case ``name`` of set ``golden`` under ``root`` (made here)."""
    base = root / golden.name
    base.mkdir(parents=True, exist_ok=True)
    for link, target in ((base / "inputs", golden / "inputs"), (root / "golden", find_golden())):
        if target is not None and not os.path.lexists(link):
            os.symlink(target, link)
    folder = base / name
    folder.mkdir(exist_ok=True)
    return folder


def run_case(golden: Path, name: str, root: Path, cmd=None, extra=()) -> subprocess.CompletedProcess:
    """Run every argv of the case in its folder under ``root``; the last run's result."""
    case = load_case(golden, name)
    folder = case_folder(golden, name, root)
    cmd = list(cmd or [sys.executable, "-m", "torchbragg"])
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = None
    for argv in case.get("runs") or [case["argv"]]:
        proc = subprocess.run([*cmd, *argv, *extra], cwd=folder, capture_output=True, text=True,
                              env=env, timeout=900)
    return proc


def comparable_stdout(text: str) -> list:
    return [line for line in text.splitlines()
            if not line.startswith(VOLATILE) and not line.rstrip().endswith("% done")]
