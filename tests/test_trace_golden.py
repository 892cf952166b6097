"""TRACE_PY lines from the kernel agree with the stored TRACE_C logs (docs/behaviour/trace.md §9
tolerances)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import find_golden
from golden_support import case_names, load_case, run_case

GOLDEN = find_golden()
TRACED = []
if GOLDEN:
    for name in case_names(GOLDEN):
        for tr in load_case(GOLDEN, name).get("traces", []):
            TRACED.append(pytest.param(name, tuple(tr["pixel"]), tr["file"],
                                       id=f"{name}-{tr['pixel'][0]}-{tr['pixel'][1]}"))
pytestmark = pytest.mark.skipif(GOLDEN is None, reason="golden data not found: set "
                                "TORCHBRAGG_GOLDEN or provide ../shared/golden")


@pytest.mark.parametrize("name, pixel, logfile", TRACED)
def test_trace_matches_c(name, pixel, logfile, tmp_path):
    proc = run_case(GOLDEN, name, tmp_path, extra=["-trace_pixel", str(pixel[0]), str(pixel[1])])
    assert proc.returncode == 0, proc.stderr
    py_log = tmp_path / "py.log"
    py_log.write_text(proc.stdout)
    assert f"TRACE_PY: trace_pixel {pixel[0]} {pixel[1]}" in proc.stdout
    cmp = subprocess.run(
        [sys.executable, "-c", "from torchbragg.parity.cli import main; raise SystemExit(main())",
         "compare-traces", "--c", str(GOLDEN / name / logfile), "--py", str(py_log),
         "--out", str(tmp_path / "cmp")], capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout[-3000:]
