"""Every golden case: float image, SMV/PGM/noise/Fdump bytes, stdout and exit status against
the upstream C program's stored outputs.

Two sets: the public golden cases (``$TORCHBRAGG_GOLDEN`` or ``../shared/golden``) and the
golden-fuzz cases, random command lines on which the behaviour reference was wrong
(``$TORCHBRAGG_GOLDEN_FUZZ`` or ``../shared/golden-fuzz``). Each is skipped, saying so, when
absent. Float images must be byte-identical in float64.
"""
from __future__ import annotations

import pytest

from conftest import NO_FUZZ, NO_GOLDEN, find_golden, find_golden_fuzz
from golden_support import case_names, comparable_stdout, load_case, run_case

SETS = {"golden": find_golden(), "fuzz": find_golden_fuzz()}
REASONS = {"golden": NO_GOLDEN, "fuzz": NO_FUZZ}


def _params():
    out = []
    for key, path in SETS.items():
        if path is None:
            out.append(pytest.param(key, "absent", marks=pytest.mark.skip(reason=REASONS[key])))
        else:
            out.extend((key, name) for name in case_names(path))
    return out


PARAMS = _params()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("golden")


@pytest.fixture(scope="module")
def results():
    return {}


def _run(key, name, root, results):
    if (key, name) not in results:
        results[key, name] = run_case(SETS[key], name, root, extra=["-dtype", "float64"])
    return results[key, name]


@pytest.mark.parametrize("key, name", PARAMS)
def test_outputs_match_c(key, name, root, results):
    proc = _run(key, name, root, results)
    golden = SETS[key]
    case = load_case(golden, name)
    assert proc.returncode == case["exit_code"], proc.stderr
    folder = root / golden.name / name
    for role, fname in case["outputs"].items():
        if role == "stdout":
            continue
        got = (folder / fname).read_bytes()
        assert got == (golden / name / fname).read_bytes(), f"{role} {fname} differs"


@pytest.mark.parametrize("key, name", PARAMS)
def test_stdout_matches_c(key, name, root, results):
    proc = _run(key, name, root, results)
    golden = SETS[key]
    ref = (golden / name / load_case(golden, name)["outputs"]["stdout"]).read_text()
    assert comparable_stdout(proc.stdout) == comparable_stdout(ref)
