"""Every public golden case: float image, SMV/PGM/noise/Fdump bytes and stdout against the C.

Needs the golden folder (``$TORCHBRAGG_GOLDEN`` or ``../shared/golden``); skipped otherwise.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import find_golden
from golden_support import case_names, comparable_stdout, load_case, run_case

GOLDEN = find_golden()
CASES = case_names(GOLDEN) if GOLDEN else []
pytestmark = pytest.mark.skipif(GOLDEN is None, reason="golden data not found: set "
                                "TORCHBRAGG_GOLDEN or provide ../shared/golden")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(scope="module")
def results(workdir):
    return {}


def _run(name, workdir, results):
    if name not in results:
        results[name] = run_case(GOLDEN, name, workdir, extra=["-dtype", "float64"])
    return results[name]


@pytest.mark.parametrize("name", CASES)
def test_outputs_match_c(name, workdir, results):
    proc = _run(name, workdir, results)
    case = load_case(GOLDEN, name)
    assert proc.returncode == case["exit_code"], proc.stderr
    folder = workdir / name
    for role, fname in case["outputs"].items():
        if role == "stdout":
            continue
        ref = (GOLDEN / name / fname).read_bytes()
        got = (folder / fname).read_bytes()
        if role == "floatfile":
            a = np.frombuffer(ref, "<f4").astype(np.float64)
            b = np.frombuffer(got, "<f4").astype(np.float64)
            assert a.shape == b.shape
            peak = np.abs(a).max() or 1.0
            assert np.abs(a - b).max() / peak <= 1e-6
            assert np.linalg.norm(a - b) / (np.linalg.norm(a) or 1.0) <= 1e-6
        else:
            assert got == ref, f"{role} {fname} differs"


@pytest.mark.parametrize("name", CASES)
def test_stdout_matches_c(name, workdir, results):
    proc = _run(name, workdir, results)
    ref = (GOLDEN / name / load_case(GOLDEN, name)["outputs"]["stdout"]).read_text()
    assert comparable_stdout(proc.stdout) == comparable_stdout(ref)
