"""``torchbragg-parity run`` and ``trace`` end to end with a fake C program and Torch command.

A real end-to-end test with the smoke preset runs when both ``python -m torchbragg`` and
``torchbragg-cref`` work, and is skipped with the reason otherwise.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shlex
import shutil
import subprocess
import sys

import pytest

from parity_helpers import FAKE_PROGRAM, PIXEL_LINES
from torchbragg.containers.bundles import annotate_bundle
from torchbragg.parity.bundle import verify_sha256
from torchbragg.parity.cli import main
from torchbragg.parity.pixels import DARK_FRACTION, preset_pixel_labels
from torchbragg.parity.pngwrite import decode_png
from torchbragg.parity.previews import MARKER_RGB
from torchbragg.parity.report import fallback_of, headline
from torchbragg.parity.run import RunOptions, parity_run
from torchbragg.parity.sides import absolutise_inputs, detector_size, strip_floatfile

SCHEMA_KEYS = {"schema_version", "verdict", "tolerance", "dtype", "device", "image", "pixels",
               "c", "py", "notes", "errors", "trace_compared", "trace_exit_status", "detector"}
BUNDLE_FILES = {"commands.txt", "env.json", "c.stdout.txt", "py.stdout.txt", "c.float.bin",
                "py.float.bin", "trace_c.log", "trace_py.log", "metrics.json", "summary.md",
                "sha256.txt", "c.png", "py.png", "diff.png", "rerun.sh"}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Fake C (--c-bin) and Torch (TORCHBRAGG_PY_CMD) commands around one fake program."""
    prog = tmp_path / "fake_nanobragg.py"
    prog.write_text(FAKE_PROGRAM)
    block = tmp_path / "block.txt"
    block.write_text(PIXEL_LINES)
    monkeypatch.setenv("FAKE_BLOCK", str(block))
    monkeypatch.setenv("TORCHBRAGG_PY_CMD", shlex.join([sys.executable, str(prog), "--side", "PY"]))
    monkeypatch.delenv("NB_C_BIN", raising=False)
    for var in ("TORCHBRAGG_RUNTIME", "TORCHBRAGG_RUNTIME_NOTE", "TORCHBRAGG_IMAGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return shlex.join([sys.executable, str(prog), "--side", "C"])


def _run(c_bin, tmp_path, *extra, pixels=((8, 9), (3, 12))):
    out = tmp_path / "bundle"
    argv = ["run", "--out", str(out), "--c-bin", c_bin]
    for s, f in pixels:
        argv += ["--pixel", str(s), str(f)]
    status = main([*argv, *extra, "--", "-detpixels", "16", "-nonoise"])
    metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() \
        else None
    return status, out, metrics


def test_run_pass_bundle(fake, tmp_path, capsys):
    status, out, m = _run(fake, tmp_path)
    assert status == 0, capsys.readouterr()
    assert SCHEMA_KEYS <= set(m)
    assert m["verdict"] == "PASS" and m["schema_version"] == 1
    assert m["dtype"] == "float64" and m["device"] == "cpu"
    assert m["image"]["byte_identical"] and m["detector"] == {"fpixels": 16, "spixels": 16}
    assert [p["pixel"] for p in m["pixels"]] == [[8, 9], [3, 12]]
    assert all(p["first_divergence"] is None and p["trace_compared"] for p in m["pixels"])
    assert all(p["c_value"] == p["py_value"] > 0 for p in m["pixels"])
    assert BUNDLE_FILES <= {p.name for p in out.iterdir()}
    summary = (out / "summary.md").read_text()
    assert summary.splitlines()[0] == "# PASS — custom command, 16×16, float64 cpu, direct"
    assert "dtype **float64**, device **cpu**" in summary and "![C](c.png)" in summary
    assert capsys.readouterr().out.startswith("# PASS — custom command")
    assert "| 1 | (8, 9) | traced pixel |" in summary and "C / max" in summary
    assert "Previews skipped" not in summary and "log scale shared" in summary
    assert m["warnings"] == [] and m["pixels"][0]["label"] == "traced pixel"
    assert m["pixels"][0]["c_over_max"] == pytest.approx(m["pixels"][0]["c_value"]
                                                         / m["image"]["max_ref"])
    assert m["previews"]["files"] == ["c.png", "py.png", "diff.png"]
    assert m["previews"]["scale"]["diff"]["all_zero"]
    assert "is **zero everywhere**" in summary
    # the bundle verifies with sha256sum -c
    if shutil.which("sha256sum"):
        proc = subprocess.run(["sha256sum", "-c", "sha256.txt"], cwd=out, capture_output=True)
        assert proc.returncode == 0
    env = json.loads((out / "env.json").read_text())
    assert env["dtype"] == "float64" and env["device"] == "cpu"
    assert env["inputs"] == [] and env["runtime"] == "direct"
    assert env["threads"]["c_side_env"] == {"OMP_NUM_THREADS": "1"}


def test_run_sides_isolated_and_commands_rerunnable(fake, tmp_path):
    (tmp_path / "in.hkl").write_text("0 0 0 1\n")
    out = tmp_path / "b"
    status = main(["run", "--out", str(out), "--c-bin", fake, "--pixel", "1", "1", "--",
                   "-detpixels", "8", "-hkl", "in.hkl", "-floatfile", "mine.bin"])
    assert status == 0
    c_out = (out / "c.stdout.txt").read_text()
    py_out = (out / "py.stdout.txt").read_text()
    assert "OMP_NUM_THREADS=1" in c_out
    # each side starts in an empty folder (no stale Fdump.bin) and finds the input file
    assert "cwd_entries=\n" in c_out and "cwd_entries=\n" in py_out
    assert f"-hkl {tmp_path / 'in.hkl'}" in c_out and "mine.bin" not in c_out
    assert "-device cpu -dtype float64" in py_out and "-device" not in c_out
    assert not (tmp_path / "Fdump.bin").exists() and not (tmp_path / "mine.bin").exists()
    # the input file's hash and size are recorded
    env = json.loads((out / "env.json").read_text())
    (rec,) = env["inputs"]
    assert rec["flag"] == "-hkl" and rec["path"] == str(tmp_path / "in.hkl")
    assert rec["size"] == 8 and rec["sha256"] == hashlib.sha256(b"0 0 0 1\n").hexdigest()
    summary = (out / "summary.md").read_text()
    assert rec["sha256"] in summary and "## Provenance" in summary
    # commands.txt runs from the bundle folder (scratch folders recreated under rerun/)
    commands = (out / "commands.txt").read_text().splitlines()
    assert str(tmp_path / "in.hkl") in "\n".join(commands)
    c_cmd = next(line for line in commands if "OMP_NUM_THREADS=1" in line)
    proc = subprocess.run(c_cmd, shell=True, capture_output=True, text=True, cwd=out)
    assert proc.returncode == 0 and "TRACE_C: F_cell 12" in proc.stdout
    assert (out / "rerun" / "c" / "float.bin").is_file()
    # rerun.sh reruns both sides in fresh scratch folders and compares the images
    work = tmp_path / "again"
    proc = subprocess.run(["bash", str(out / "rerun.sh"), str(work)], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "c float image identical to the bundle" in proc.stdout
    assert "py float image identical to the bundle" in proc.stdout
    assert "# PASS" in proc.stdout and (work / "py" / "float.bin").is_file()
    (tmp_path / "in.hkl").write_text("changed\n")
    proc = subprocess.run(["bash", str(out / "rerun.sh"), str(work)], capture_output=True,
                          text=True, timeout=120)
    assert "changed since the bundle" in proc.stderr
    (tmp_path / "in.hkl").unlink()
    proc = subprocess.run(["bash", str(out / "rerun.sh"), str(work)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "is missing" in proc.stderr


def test_run_pixel_labels_and_dark_transpose_warning(fake, tmp_path):
    # the fake image: a bright spot at (slow 4, fast 12); (12, 4) is dark
    out = tmp_path / "lab"
    opts = RunOptions(args=["-detpixels", "16"], pixels=[(12, 4), (4, 12), (8, 8)],
                      c_bin=fake, out=str(out), pixel_labels={(12, 4): "the users' pixel"})
    status, _, m = parity_run(opts)
    assert status == 0
    users, transpose, centre = m["pixels"]
    assert users["label"] == "the users' pixel" and transpose["label"] == "traced pixel"
    assert users["c_over_max"] < DARK_FRACTION and users["dark_with_bright_transpose"]
    assert users["transpose"]["pixel"] == [4, 12] and users["transpose"]["c_over_max"] > 0.1
    assert not transpose["dark_with_bright_transpose"] and centre["transpose"] is None
    assert centre["c_over_max"] == pytest.approx(1.0, rel=1e-3)
    (warning,) = m["warnings"]
    assert "the users' pixel (slow 12, fast 4) is dark" in warning
    summary = (out / "summary.md").read_text()
    assert "**WARNING**" in summary and "⚠ dark, transpose bright" in summary
    # the preview markers: pixel 1 boxed in green on c.png
    px, text = decode_png((out / "c.png").read_bytes())
    assert "1=(slow 12, fast 4)" in text["Markers"]
    zoom = m["previews"]["scale"]["zoom"]
    assert tuple(px[12 * zoom + zoom // 2 - (max(4, zoom // 2 + 3)), 4 * zoom + zoom // 2]) \
        == MARKER_RGB


def test_preset_pixel_labels():
    sup = preset_pixel_labels("supervisor")
    assert sup[(685, 1039)] == "the users' pixel" and "transpose" in sup[(1039, 685)]
    assert preset_pixel_labels("supervisor-like") == sup
    assert preset_pixel_labels("smoke") == {} and preset_pixel_labels(None) == {}

    class P:
        name = "mine"
        pixel_labels = {(1, 2): "spot"}

    assert preset_pixel_labels(P()) == {(1, 2): "spot"}


def test_headline_runtime_fallback_and_annotate(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHBRAGG_RUNTIME", "host")
    status, out, m = _run(fake, tmp_path, "--dtype", "float32")
    assert status == 0
    first = (out / "summary.md").read_text().splitlines()[0]
    assert first == "# PASS — custom command, 16×16, float32 cpu, host"
    note = ("preset 'supervisor' needs A.mat and scaled.hkl: not found; running the "
            "self-contained 'smoke' preset instead")
    annotate_bundle(out, "docker", note=note, image="torchbragg:cpu")
    text = (out / "summary.md").read_text()
    assert text.splitlines()[0] == ("# PASS — custom command, 16×16, float32 cpu, docker "
                                    "torchbragg:cpu — FALLBACK: running the self-contained "
                                    "'smoke' preset instead")
    assert "## Where this ran" in text and verify_sha256(out) == []
    assert json.loads((out / "metrics.json").read_text())["headline"]["runtime"].startswith(
        "docker")
    assert headline("FAIL", preset="supervisor", size=(2463, 2527), dtype="float64",
                    device="cpu", runtime="host") == \
        "# FAIL — preset supervisor, 2463×2527, float64 cpu, host"
    assert fallback_of(None, "all fine") is None
    assert fallback_of("no Docker engine answered (Cannot connect. Is it running?): running "
                       "the payload on the host instead (container: none); set X=1") == \
        "no Docker engine answered: running the payload on the host instead"


def test_run_trace_divergence_fails(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PERTURB_PY", "hkl_frac")
    status, out, m = _run(fake, tmp_path)
    assert status == 1 and m["verdict"] == "FAIL" and m["image"]["pass"]
    fd = m["pixels"][0]["first_divergence"]
    assert (fd["name"], fd["k"], fd["block"]) == ("hkl_frac", 0, "B")
    assert "**First divergence:**" in (out / "summary.md").read_text()


def test_run_image_difference_fails(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_IMAGE_SCALE_PY", "1.001")
    status, _, m = _run(fake, tmp_path)
    assert status == 1 and m["verdict"] == "FAIL" and not m["image"]["pass"]
    assert m["image"]["sum_ratio"] == pytest.approx(1.001, rel=1e-6)
    status, _, m = _run(fake, tmp_path / "x", "--tolerance", "1e-2", "--trace-tolerance", "1e-2")
    assert status == 0 and m["verdict"] == "PASS"


def test_run_without_c_traces_compares_images_only(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_NOTRACE_C", "1")
    status, out, m = _run(fake, tmp_path)
    assert status == 0 and m["verdict"] == "IMAGES_ONLY_PASS" and not m["trace_compared"]
    assert "printed no TRACE_C lines" in (out / "summary.md").read_text()
    assert [p["pixel"] for p in m["pixels"]] == [[8, 9], [3, 12]]


def test_run_pixel_not_traced_by_c_is_a_note(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_LASTONLY_C", "1")
    status, out, m = _run(fake, tmp_path)
    assert status == 0 and m["verdict"] == "PASS"
    first, second = m["pixels"]
    assert (first["pixel"], first["trace_compared"], first["c_traced"]) == ([8, 9], False, False)
    assert (second["pixel"], second["trace_compared"]) == ([3, 12], True)
    assert any("traced on the PY side only" in n for n in m["notes"])
    assert "not compared (no C trace)" in (out / "summary.md").read_text()


def test_run_side_failure_is_error(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL_PY", "9")
    status, out, m = _run(fake, tmp_path)
    assert status == 2 and m["verdict"] == "ERROR"
    assert any("PY side exited with status 9" in e for e in m["errors"])
    assert (out / "sha256.txt").exists()


def test_run_timeout(fake, tmp_path, monkeypatch):
    slow = tmp_path / "slow.py"
    slow.write_text("import time; time.sleep(30)\n")
    monkeypatch.setenv("TORCHBRAGG_PY_CMD", shlex.join([sys.executable, str(slow)]))
    status, _, m = _run(fake, tmp_path, "--timeout", "2")
    assert status == 2 and any("timed out" in e for e in m["errors"])


def test_run_usage_errors(fake, tmp_path, capsys):
    assert main(["run", "--c-bin", "no-such-program-xyz", "--", "-detpixels", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-program-xyz" in err and "Traceback" not in err
    assert main(["run", "--c-bin", fake]) == 2
    assert main(["run", "--bogus"]) == 2
    assert main(["frobnicate"]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("1")
    assert main(["run", "--out", str(tmp_path / "full"), "--c-bin", fake, "--",
                 "-detpixels", "4"]) == 2
    assert "not empty" in capsys.readouterr().err


def test_run_out_root_timestamped(fake, tmp_path):
    root = tmp_path / "reports"
    for _ in range(2):
        assert main(["run", "--out-root", str(root), "--c-bin", fake, "--pixel", "2", "2",
                     "--", "-detpixels", "8"]) == 0
    folders = sorted(p.name for p in root.iterdir())
    assert len(folders) == 2 and folders[0][:8].isdigit()


def test_run_preset_smoke_with_fakes(fake, tmp_path):
    out = tmp_path / "smoke"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--c-bin", fake,
                 "--dtype", "float32"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["preset"] == "smoke" and m["dtype"] == "float32"
    assert [p["pixel"] for p in m["pixels"]] == [[32, 32]]
    assert m["detector"] == {"fpixels": 64, "spixels": 64}


def test_supervisor_preset_without_inputs(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCHBRAGG_INPUTS", str(tmp_path / "nowhere"))
    assert main(["run", "--preset", "supervisor", "--c-bin", sys.executable]) == 2
    assert "TORCHBRAGG_INPUTS" in capsys.readouterr().err


def test_trace_subcommand(fake, tmp_path, capsys):
    out = tmp_path / "t.log"
    assert main(["trace", "--out", str(out), "--pixel", "4", "5", "--", "-detpixels", "8"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "TRACE_PY: trace_pixel 4 5"
    assert all(line.startswith("TRACE_PY: ") for line in lines)
    assert main(["trace", "--out", "-", "--pixel", "4", "5", "--", "-detpixels", "8"]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert main(["trace", "--out", "-", "--", "-detpixels", "8"]) == 2        # no pixel


def test_helpers(tmp_path):
    (tmp_path / "A.mat").write_text("")
    args = absolutise_inputs(["-mat", "A.mat", "-N", "5", "-hkl", "/abs.hkl", "-dump", "x"],
                             tmp_path)
    assert args == ["-mat", str(tmp_path / "A.mat"), "-N", "5", "-hkl", "/abs.hkl", "-dump", "x"]
    assert absolutise_inputs(["-dump", "F.bin"], tmp_path) == ["-dump", str(tmp_path / "F.bin")]
    assert strip_floatfile(["-floatfile", "a", "-N", "1", "-floatimage", "b"]) == ["-N", "1"]
    assert detector_size([], "  distance=1 (2463x2527 pixels)") == (2463, 2527)
    assert detector_size(["-detpixels_x", "10", "-detpixels_y", "20"]) == (10, 20)
    assert detector_size(["-detpixels", "7"]) == (7, 7)
    assert detector_size(["-N", "3"]) is None


# --------------------------------------------------------------------------- real sides
def _real_sides_reason() -> str | None:
    if not shutil.which("torchbragg-cref"):
        return "torchbragg-cref is not on PATH"
    try:
        proc = subprocess.run(["torchbragg-cref", "--print-path"], capture_output=True,
                              text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"torchbragg-cref --print-path failed: {exc}"
    if proc.returncode != 0:
        return f"torchbragg-cref --print-path exited {proc.returncode}"
    try:
        spec = importlib.util.find_spec("torchbragg.cli.main")
    except ImportError as exc:
        spec, reason = None, str(exc)
    else:
        reason = "module torchbragg.cli.main does not exist"
    return None if spec is not None else f"python -m torchbragg unavailable: {reason}"


def test_real_smoke_preset(tmp_path, monkeypatch):
    reason = _real_sides_reason()
    if reason:
        pytest.skip(f"real end-to-end parity run unavailable: {reason}")
    monkeypatch.delenv("TORCHBRAGG_PY_CMD", raising=False)
    monkeypatch.delenv("NB_C_BIN", raising=False)
    out = tmp_path / "real"
    status = main(["run", "--preset", "smoke", "--out", str(out), "--timeout", "500"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["errors"] == [], m["errors"]
    assert status == 0, (out / "summary.md").read_text()
    assert m["verdict"] == "PASS" and m["trace_compared"]
    assert m["pixels"][0]["pixel"] == [32, 32] and m["pixels"][0]["first_divergence"] is None
    env = json.loads((out / "env.json").read_text())
    assert env["c_reference_build_info"]                 # torchbragg-cref --build-info
    assert verify_sha256(out) == []
