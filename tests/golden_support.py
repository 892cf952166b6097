"""Run a nanoBragg-compatible command on a golden case in a scratch folder (test helper)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: stdout lines that legitimately differ from the C reference's (documented in README)
VOLATILE = ("mmap(",)


def load_case(golden: Path, name: str) -> dict:
    return json.loads((golden / name / "case.json").read_text())


def case_names(golden: Path) -> list:
    return sorted(p.parent.name for p in golden.glob("*/case.json"))


def run_case(golden: Path, name: str, workdir: Path, cmd=None, extra=()) -> subprocess.CompletedProcess:
    """Run every argv of the case in ``workdir/<name>`` (inputs at ``../inputs``)."""
    case = load_case(golden, name)
    inputs = workdir / "inputs"
    if not inputs.exists():
        os.symlink(golden / "inputs", inputs)
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
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
