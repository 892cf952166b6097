"""Report bundles: folder naming, sha256.txt, env.json, presets."""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys

import pytest

from torchbragg.parity import bundle, presets, sides
from torchbragg.parity.bundle import BundleError, StagedBundle, timestamp, write_sha256


def test_timestamp_format():
    assert timestamp(0) == "19700101T000000Z"


def _staged(out=None, root=None, files=("keep.txt",)):
    stage = StagedBundle(out, root) if out is not None else StagedBundle(None, root)
    with stage:
        for name in files:
            (stage.path / name).write_text("x")
    return stage.final


def test_timestamped_folders_are_never_reused(tmp_path):
    first = _staged(root=tmp_path)
    second = _staged(root=tmp_path, files=())
    third = _staged(root=tmp_path, files=())
    assert len({first, second, third}) == 3
    assert (first / "keep.txt").read_text() == "x"
    assert re.fullmatch(r"\d{8}T\d{6}Z", first.name)
    assert all(re.fullmatch(r"\d{8}T\d{6}Z(-\d+)?", p.name) for p in (second, third))
    assert all(p.parent == tmp_path for p in (first, second, third))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in
                                                                (first, second, third))


def test_explicit_out_must_be_new_or_empty(tmp_path):
    out = tmp_path / "b"
    assert _staged(out, files=()) == out
    assert _staged(out) == out                 # empty: reusable
    with pytest.raises(BundleError, match="not empty"):
        StagedBundle(out)
    assert (out / "keep.txt").read_text() == "x"


def test_sha256_verifies_with_sha256sum(tmp_path):
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"\0\1\2")
    (tmp_path / "name with space.md").write_text("s")
    write_sha256(tmp_path)
    lines = (tmp_path / "sha256.txt").read_text().splitlines()
    assert len(lines) == 3 and not any("sha256.txt" in line for line in lines)
    assert bundle.verify_sha256(tmp_path) == []
    if shutil.which("sha256sum"):
        proc = subprocess.run(["sha256sum", "-c", "sha256.txt"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "a.txt").write_text("changed\n")
    assert bundle.verify_sha256(tmp_path) == ["a.txt"]


def test_environment_keys(monkeypatch):
    monkeypatch.setenv("TORCHBRAGG_IMAGE_DIGEST", "sha256:abc")
    env = bundle.environment("cpu", "float64", ["nanoBragg"], ["python", "-m", "torchbragg"])
    for key in ("python", "torch", "numpy", "compiler", "c_reference_build_info", "git",
                "device", "device_name", "dtype", "cpu_model", "container_image_digest"):
        assert key in env
    assert env["container_image_digest"] == "sha256:abc"
    assert env["c_reference_build_info"] is None       # only torchbragg-cref is asked
    assert set(env["git"]) == {"commit", "dirty"}
    json.dumps(env, allow_nan=False)
    monkeypatch.delenv("TORCHBRAGG_IMAGE_DIGEST")
    assert bundle.environment("cpu", "float32", [], [])["container_image_digest"] == "none"


def test_environment_provenance(tmp_path, monkeypatch):
    (tmp_path / "A.mat").write_bytes(b"1 0 0\n")
    monkeypatch.setenv("TORCHBRAGG_IMAGE", "torchbragg:cpu")
    monkeypatch.setenv("TORCHBRAGG_RUNTIME", "docker")
    args = ["-mat", str(tmp_path / "A.mat"), "-hkl", str(tmp_path / "gone.hkl"), "-N", "3",
            "-dump", str(tmp_path / "F.bin")]            # -dump is written when -hkl is given
    env = bundle.environment("cpu", "float64", [sys.executable], [], args=args,
                             c_env={"OMP_NUM_THREADS": "1"})
    mat, hkl = env["inputs"]
    assert (mat["flag"], mat["size"], mat["exists"]) == ("-mat", 6, True)
    assert mat["sha256"] == hashlib.sha256(b"1 0 0\n").hexdigest()
    assert (hkl["flag"], hkl["exists"], hkl["sha256"]) == ("-hkl", False, None)
    assert [r["flag"] for r in bundle.input_records(["-dump", "F.bin"])] == ["-dump"]
    th = env["threads"]
    assert th["c_side_env"] == {"OMP_NUM_THREADS": "1"} and "OMP_NUM_THREADS" in th["env"]
    assert isinstance(th["torch_num_threads"], int) and "torch_parallel_info" in th
    assert env["cpu_isa"] is None or isinstance(env["cpu_isa"], list)
    assert env["c_program"]["binary"]["sha256"] and env["c_program"]["compiler"] is None
    assert env["container_image"] == "torchbragg:cpu" and env["runtime"] == "docker"
    json.dumps(env, allow_nan=False)


def test_shell_command_quotes(tmp_path):
    line = sides.shell_command(["prog", "-hkl", "a b.hkl"], tmp_path / "w d",
                                {"OMP_NUM_THREADS": "1"})
    assert line.startswith("mkdir -p ") and "env OMP_NUM_THREADS=1 prog -hkl 'a b.hkl'" in line


# --------------------------------------------------------------------------- presets
def test_smoke_preset():
    p = presets.get_preset("smoke")
    assert p.pixels == [(32, 32)] and "-detpixels" in p.args and "-hkl" not in p.args


def test_supervisor_preset_needs_inputs(monkeypatch, tmp_path):
    monkeypatch.setenv(presets.INPUTS_ENV, str(tmp_path))
    with pytest.raises(presets.PresetError, match=presets.INPUTS_ENV):
        presets.get_preset("supervisor")
    (tmp_path / "A.mat").write_text("")
    (tmp_path / "scaled.hkl").write_text("")
    p = presets.get_preset("supervisor")
    assert p.pixels == [(685, 1039), (1039, 685)]
    assert str(tmp_path / "A.mat") in p.args and str(tmp_path / "scaled.hkl") in p.args


def test_unknown_preset():
    with pytest.raises(presets.PresetError):
        presets.get_preset("nope")


def test_supervisor_preset_is_the_golden_command(golden_dir, monkeypatch):
    monkeypatch.setenv(presets.INPUTS_ENV, str(golden_dir / "inputs"))
    case = json.loads((golden_dir / "supervisor_full" / "case.json").read_text())
    argv = list(case["argv"])
    i = argv.index("-floatfile")
    del argv[i:i + 2]                              # the harness names the float image itself
    inputs = str((golden_dir / "inputs").resolve())
    want = [a.replace("../inputs", inputs) for a in argv]
    assert presets.get_preset("supervisor").args == want
    assert [tuple(p) for p in case["trace_pixels"]] == presets.get_preset("supervisor").pixels
