"""Campaign specs: schema errors with file:line, expansion order, ids, shards."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchbragg.parity.campaign.cases import parse_shard, shard_of
from torchbragg.parity.campaign.expand import expand
from torchbragg.parity.campaign.generator import campaign_argv
from torchbragg.parity.campaign.spec import SpecError, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
version: 1
name: t
args: [-nopgm]
suites:
  - name: ex
    kind: cases
    cases:
      - name: a
        argv: -cell 100 100 100 90 90 90 -default_F 0.10 -detpixels 8
      - name: b
        runs: [[-hkl, "{inputs}/x.hkl"], [-default_F, "1"]]
  - name: grid
    kind: grid
    base: [-cell, 100, 100, 100, 90, 90, 90]
    groups:
      conv: [[], [-xds], [-denzo]]
      shape: [[], "-gauss_xtal"]
  - name: pw
    kind: pairwise
    dimensions:
      a: [[-N, "1"], [-N, "2"], [-N, "3"]]
      b: [[], [-xds], [-dials]]
      c: [[], [-nopolar]]
  - name: rnd
    kind: random
    count: 3
    seed: 7
  - name: guards
    kind: guards
    cases:
      - {name: nocell, argv: -default_F 1, exit: 9}
"""


def _expand(text, tmp_path):
    spec = parse_spec(text, str(tmp_path / "spec.yaml"))
    return expand(spec, str(tmp_path / "inputs"), campaign_argv, {"hkl": "in_P1.hkl"})


def test_expansion_ids_tokens_and_order(tmp_path):
    cases, notes = _expand(GOOD, tmp_path)
    ids = [c.id for c in cases]
    assert ids[:2] == ["ex/a", "ex/b"]
    assert ids[2:8] == [f"grid/g{k:04d}" for k in range(6)]
    assert [i for i in ids if i.startswith("rnd/")] == ["rnd/s7", "rnd/s8", "rnd/s9"]
    assert ids[-1] == "guards/nocell"
    a = cases[0]
    assert "0.10" in a.argv and a.argv[-1] == "-nopgm"  # tokens as written; suite args last
    b = cases[1]
    assert b.runs[0][:2] == ("-hkl", "inputs/x.hkl") and len(b.runs) == 2
    assert dict(cases[3].dims) == {"conv": "(none)", "shape": "-gauss_xtal"}
    assert cases[-1].expect_exit == 9
    assert notes == []
    again, _ = _expand(GOOD, tmp_path)
    assert [c.runs for c in again] == [c.runs for c in cases]


def test_pairwise_suite_covers_every_pair(tmp_path):
    cases, _ = _expand(GOOD, tmp_path)
    pw = [c for c in cases if c.suite == "pw"]
    dims = [dict(c.dims) for c in pw]
    values = {"a": ["-N 1", "-N 2", "-N 3"], "b": ["(none)", "-xds", "-dials"],
              "c": ["(none)", "-nopolar"]}
    for x in values:
        for y in values:
            if x < y:
                for vx in values[x]:
                    for vy in values[y]:
                        assert any(d[x] == vx and d[y] == vy for d in dims), (x, vx, y, vy)
    assert len(pw) <= 10


def test_random_suite_is_random_argv_of_the_seed(tmp_path):
    import random

    cases, _ = _expand(GOOD, tmp_path)
    rnd = next(c for c in cases if c.id == "rnd/s8")
    want = campaign_argv(random.Random(8), {"hkl": "in_P1.hkl"})
    assert list(rnd.argv) == want + ["-nopgm"]


def test_shards_partition_the_cases(tmp_path):
    cases, _ = _expand(GOOD, tmp_path)
    parts = [shard_of(cases, (i, 4)) for i in range(1, 5)]
    ids = sorted(c.id for p in parts for c in p)
    assert ids == sorted(c.id for c in cases)
    assert all(p for p in parts)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "x", "1/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


@pytest.mark.parametrize("text, line, words", [
    ("version: 2\nsuites: []\n", 1, "version 2 is not supported"),
    ("name: x\nsuites: []\n", 1, "needs version"),
    ("version: 1\nsuites:\n  - name: a\n    kind: nope\n", 4, "unknown kind 'nope'"),
    ("version: 1\nsuites:\n  - name: a\n    kind: grid\n    base: x\n", 3, "needs groups"),
    ("version: 1\nsuites:\n  - name: a\n    kind: random\n    count: 0\n", 5, "count must be >= 1"),
    ("version: 1\nsuites:\n  - name: a\n    kind: random\n    count: 2\n    colour: red\n", 6,
     "unknown key 'colour'"),
    ("version: 1\nsuites:\n  - name: a\n    kind: guards\n    cases:\n      - name: g\n"
     "        argv: -x\n", 6, "needs exit"),
    ("version: 1\nsuites:\n  - {name: a, kind: random, count: 1}\n"
     "  - {name: a, kind: random, count: 1}\n", 4, "used twice"),
    ("version: 1\nsuites:\n  - name: a b\n    kind: random\n    count: 1\n", 3, "no spaces"),
    ("version: 1\nsuites: [\n", 3, "not valid YAML"),
    ("version: 1\nsuites:\n  - name: a\n    kind: grid\n    groups:\n      d: []\n", 6,
     "has no values"),
    ("version: 1\nsuites:\n  - name: a\n    kind: cases\n    cases:\n      - name: c\n"
     "        argv: -a\n        runs: [[-b]]\n", 6, "give argv or runs"),
])
def test_bad_spec_names_file_and_line(text, line, words):
    with pytest.raises(SpecError) as info:
        parse_spec(text, "bad.yaml")
    msg = str(info.value)
    assert msg.startswith(f"bad.yaml:{line}:"), msg
    assert words in msg


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "absent.yaml")


def test_golden_suite_absent_is_a_note_or_an_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_GOLDEN", raising=False)
    text = "version: 1\nsuites:\n  - name: g\n    kind: golden\n    path: ${NO_SUCH_GOLDEN}\n"
    cases, notes = _expand(text, tmp_path)
    assert cases == [] and "absent" in notes[0] and "skipped" in notes[0]
    with pytest.raises(SpecError, match="absent"):
        _expand(text + "    required: true\n", tmp_path)


def test_golden_suite_links_inputs_relative_to_the_set(tmp_path):
    root = tmp_path / "myset"
    (root / "inputs").mkdir(parents=True)
    (root / "inputs" / "t.hkl").write_text("0 0 0 1\n")
    case = root / "c1"
    case.mkdir()
    (case / "case.json").write_text(json.dumps({
        "argv": ["-hkl", "../inputs/t.hkl"], "inputs": ["inputs/t.hkl"],
        "outputs": {"floatfile": "float.bin"}, "exit_code": 0,
        "stdout_volatile_lines": ["^mmap\\("]}))
    text = f"version: 1\nsuites:\n  - name: g\n    kind: golden\n    path: {root}\n"
    (c,), _ = _expand(text, tmp_path)
    assert c.id == "g/c1" and c.cwd == "myset/c1" and c.golden == str(case)
    assert c.links == (("myset/inputs/t.hkl", str((root / "inputs/t.hkl").resolve())),)
    assert c.volatile == ("^mmap\\(",)


@pytest.mark.parametrize("name", ["smoke", "coverage", "random"])
def test_committed_specs_load(name):
    spec = load_spec(REPO / "campaigns" / f"{name}.yaml")
    assert spec.name == name and spec.suites


def test_float_metrics_are_json_safe_with_non_finite_pixels():
    import numpy as np

    from torchbragg.parity.campaign.compare import float_metrics, score

    ref = np.array([1.0, np.inf, np.nan, 0.0], dtype="<f4")
    test = np.array([1.0, 2.0, np.nan, 0.0], dtype="<f4")
    m = float_metrics(ref, test, 2)
    json.dumps(m, allow_nan=False)
    assert m["non_finite_mismatch"] and m["worst_pixel"] == [0, 1] and m["worst_ref"] == "inf"
    assert score(m) == float("inf")
    zero = np.zeros(4, dtype="<f4")
    m = float_metrics(zero, np.array([0, 0, 1, 0], dtype="<f4"), 2)
    assert m["max_rel"] == "inf" and m["pixels_differing"] == 1
