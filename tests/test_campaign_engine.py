"""Campaign runs against the bundled C reference: verdicts, bundles, injected divergences,
C faults, golden suites, shards and baselines (tiny detectors: seconds each)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchbragg.parity.bundle import verify_sha256
from torchbragg.parity.campaign.engine import CampaignOptions, run_campaign
from torchbragg.parity.campaign.merge import merge_bundles
from torchbragg.parity.campaign.shrink import split_groups
from torchbragg.parity.cli import main as parity_main

pytestmark = pytest.mark.skipif(shutil.which("torchbragg-cref") is None,
                                reason="torchbragg-cref is not installed")

BASE = ("-cell 70 80 90 90 90 90 -default_F 100 -lambda 1.5 -distance 90 -pixel 0.3 "
        "-detpixels 20 -seed 4 -Xbeam 3 -Ybeam 4 -N 3")

GRID = f"""\
version: 1
name: grid
suites:
  - name: grid
    kind: grid
    base: {BASE}
    groups:
      polar: [[], [-nopolar]]
      conv: [[], [-xds]]
  - name: guards
    kind: guards
    cases:
      - {{name: no_cell, argv: -default_F 1 -detpixels 8, exit: 9}}
"""


def _wrapper(tmp_path: Path, name: str, body: str) -> str:
    """An executable C program: torchbragg-cref behind a Python function of argv."""
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport os, sys, random\nargv = sys.argv[1:]\n{body}\n"
                    "os.execvp('torchbragg-cref', ['torchbragg-cref', *argv])\n")
    path.chmod(0o755)
    return str(path)


#: -default_F x1.001 when -nopolar is present (the injected divergence)
PERTURB = """\
if '-nopolar' in argv:
    for i, tok in enumerate(argv[:-1]):
        if tok == '-default_F':
            argv[i + 1] = repr(float(argv[i + 1]) * 1.001)
"""


def _campaign(tmp_path, text, out="out", **kw):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    kw.setdefault("jobs", 2)
    kw.setdefault("quiet", True)
    return run_campaign(CampaignOptions(spec=str(spec), out=str(tmp_path / out), **kw))


def _verdicts(metrics):
    return {r["id"]: r["verdict"] for r in metrics["cases"]}


def test_identical_campaign_and_its_bundle(tmp_path):
    status, out, m = _campaign(tmp_path, GRID)
    assert status == 0, m["verdicts"]
    assert _verdicts(m) == {"grid/g0000": "identical", "grid/g0001": "identical",
                            "grid/g0002": "identical", "grid/g0003": "identical",
                            "guards/no_cell": "guard_ok"}
    for name in ("summary.md", "metrics.json", "baseline.json", "sha256.txt", "commands.txt",
                 "env.json", "inputs/in_P1.hkl"):
        assert (out / name).is_file(), name
    assert verify_sha256(out) == []
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# PASS") and "## Feature coverage" in summary
    rec = m["cases"][0]
    assert rec["roles"]["float:floatimage.bin"] == "identical"
    assert {"convention", "polarisation"} <= set(m["cases"][3]["families"])
    assert not (out / "cases").exists()  # sub-bundles only for divergent cases
    base = json.loads((out / "baseline.json").read_text())
    assert base["verdicts"] == _verdicts(m)


def test_injected_divergence_is_caught_traced_and_shrunk(tmp_path):
    c_bin = _wrapper(tmp_path, "perturbed_c", PERTURB)
    status, out, m = _campaign(tmp_path, GRID, c_bin=c_bin)
    assert status == 1
    v = _verdicts(m)
    affected = [i for i, r in zip(v, m["cases"]) if "-nopolar" in r["argv"]]
    assert len(affected) == 2
    assert all(v[i] == "divergent" for i in affected)
    assert all(v[i] in ("identical", "guard_ok") for i in v if i not in affected)
    needed = {"-nopolar", "-default_F", "-cell"}
    for rec in m["cases"]:
        if rec["id"] not in affected:
            continue
        assert rec["trace"]["first_divergence"]["name"] == "F_cell"
        rep = rec["reproducer"]
        flags = {g[0] for g in split_groups(rep["argv"])}
        assert needed <= flags, rep
        assert len(flags - needed) <= 3, rep
        sub = out / rec["bundle"]
        for name in ("case.json", "reproducer.sh", "trace_c.log", "trace_py.log",
                     "c.floatimage.bin", "py.floatimage.bin"):
            assert (sub / name).is_file(), name
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# FAIL") and "`F_cell`" in summary
    assert "diff.png" in os.listdir(out) or "PIL" not in sys.modules


def test_a_nondeterministic_c_is_a_c_fault(tmp_path):
    c_bin = _wrapper(tmp_path, "flaky_c", "argv += ['-default_F', str(random.uniform(1, 99))]")
    text = f"version: 1\nsuites:\n  - name: one\n    kind: cases\n    cases:\n" \
           f"      - {{name: a, argv: {BASE}}}\n"
    status, out, m = _campaign(tmp_path, text, c_bin=c_bin)
    assert _verdicts(m) == {"one/a": "c_fault"}
    assert "not deterministic" in m["cases"][0]["reason"]
    assert status == 3


def test_a_crashing_c_is_a_c_fault(tmp_path):
    c_bin = _wrapper(tmp_path, "crashing_c", "os.kill(os.getpid(), 11)")
    text = f"version: 1\nsuites:\n  - name: one\n    kind: cases\n    cases:\n" \
           f"      - {{name: a, argv: {BASE}}}\n"
    status, _, m = _campaign(tmp_path, text, c_bin=c_bin)
    assert m["cases"][0]["verdict"] == "c_fault" and "signal 11" in m["cases"][0]["reason"]


def _golden_set(tmp_path: Path) -> Path:
    """A one-case golden set made with torchbragg-cref (the format of case.json)."""
    root = tmp_path / "gold"
    case = root / "cubic"
    case.mkdir(parents=True)
    argv = BASE.split() + ["-floatfile", "float.bin", "-intfile", "int.img", "-nopgm"]
    proc = subprocess.run(["torchbragg-cref", *argv], cwd=case, capture_output=True, text=True)
    (case / "stdout.txt").write_text(proc.stdout)
    (case / "noiseimage.img").unlink()
    (case / "case.json").write_text(json.dumps({
        "argv": argv, "inputs": [], "exit_code": proc.returncode,
        "outputs": {"floatfile": "float.bin", "intfile": "int.img", "stdout": "stdout.txt"}}))
    return root


def test_golden_suite_uses_stored_outputs(tmp_path):
    root = _golden_set(tmp_path)
    text = f"version: 1\nsuites:\n  - name: g\n    kind: golden\n    path: {root}\n"
    status, _, m = _campaign(tmp_path, text, out="ok", c_bin="/nonexistent/c")
    assert status == 0 and _verdicts(m) == {"g/cubic": "identical"}
    data = bytearray((root / "cubic" / "float.bin").read_bytes())
    data[400] ^= 1
    (root / "cubic" / "float.bin").write_bytes(bytes(data))
    status, _, m = _campaign(tmp_path, text, out="bad")
    assert status == 1 and m["cases"][0]["verdict"] == "divergent"
    assert m["cases"][0]["reason"].startswith("float")


def test_four_shards_merged_equal_the_unsharded_run(tmp_path):
    c_bin = _wrapper(tmp_path, "perturbed_c", PERTURB)
    text = GRID + "  - name: rnd\n    kind: random\n    count: 3\n    seed: 11\n"
    _, _, whole = _campaign(tmp_path, text, out="whole", c_bin=c_bin, shrink=False)
    shards = []
    for i in range(1, 5):
        status, out, m = _campaign(tmp_path, text, out=f"s{i}", c_bin=c_bin, shrink=False,
                                   shard=(i, 4))
        assert m["shard"] == [i, 4] and m["cases_total"] == whole["cases_total"]
        shards.append(str(out))
    status, merged_dir, merged = merge_bundles(shards[::-1], str(tmp_path / "merged"))
    assert [r["id"] for r in merged["cases"]] == [r["id"] for r in whole["cases"]]
    assert _verdicts(merged) == _verdicts(whole)
    assert merged["verdicts"] == whole["verdicts"] and status == 1
    assert verify_sha256(merged_dir) == []
    assert sorted(os.listdir(merged_dir / "cases")) == sorted(os.listdir(
        tmp_path / "whole" / "cases"))
    with pytest.raises(Exception, match="shards 1..4"):
        merge_bundles(shards[:3], str(tmp_path / "partial"))


def test_baseline_flips_decide_the_exit_status(tmp_path):
    c_bin = _wrapper(tmp_path, "perturbed_c", PERTURB)
    _, good, _ = _campaign(tmp_path, GRID, out="good")
    _, bad, _ = _campaign(tmp_path, GRID, out="bad", c_bin=c_bin, shrink=False)
    # now failing where the baseline passed: new failures, exit 1
    status, _, m = _campaign(tmp_path, GRID, out="b1", c_bin=c_bin, shrink=False,
                             baseline=str(good / "baseline.json"))
    assert status == 1 and len(m["baseline"]["new_failures"]) == 2
    # the same known failures: exit 0
    status, _, m = _campaign(tmp_path, GRID, out="b2", c_bin=c_bin, shrink=False,
                             baseline=str(bad / "baseline.json"))
    assert status == 0 and len(m["baseline"]["known_failures"]) == 2
    # fixed since the baseline
    status, out, m = _campaign(tmp_path, GRID, out="b3", baseline=str(bad / "metrics.json"))
    assert status == 0 and len(m["baseline"]["newly_fixed"]) == 2
    assert "newly fixed: 2" in (out / "summary.md").read_text()


def test_float32_cases_are_within_tolerance(tmp_path):
    status, _, m = _campaign(tmp_path, GRID, dtype="float32")
    assert status == 0
    assert set(_verdicts(m).values()) <= {"identical", "within_tolerance", "guard_ok"}
    assert "within_tolerance" in _verdicts(m).values()


def test_command_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsuites:\n  - name: a\n    kind: nope\n")
    assert parity_main(["campaign", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{bad}:4:" in err
    assert not (tmp_path / "o").exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep")
    good = tmp_path / "good.yaml"
    good.write_text(GRID)
    assert parity_main(["campaign", str(good), "--out", str(full)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (full / "x").read_text() == "keep"
    assert parity_main(["campaign", str(good), "--shard", "5/4"]) == 2
