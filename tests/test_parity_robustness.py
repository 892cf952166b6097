"""torchbragg-parity under hostile conditions: hung children, output flags that leave the
scratch folder, existing bundles, a full disk and signals (docs/parity.md, "Robustness").

The sides are small fake programs (tests/parity_helpers.py) and shell scripts written here;
nothing needs torch or the C reference.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parity_helpers import FAKE_PROGRAM, PIXEL_LINES
from torchbragg.parity import sides
from torchbragg.parity.cli import build_parser, main
from torchbragg.parity.run import RunOptions

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Fake C (returned, for --c-bin) and Torch (TORCHBRAGG_PY_CMD) programs; TMPDIR is a
    folder of the test so the scratch folders can be checked."""
    prog = tmp_path / "fake_nanobragg.py"
    prog.write_text(FAKE_PROGRAM)
    block = tmp_path / "block.txt"
    block.write_text(PIXEL_LINES)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("FAKE_BLOCK", str(block))
    monkeypatch.setenv("TORCHBRAGG_PY_CMD", shlex.join([sys.executable, str(prog), "--side", "PY"]))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.delenv("NB_C_BIN", raising=False)
    monkeypatch.chdir(tmp_path)
    return shlex.join([sys.executable, str(prog), "--side", "C"])


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def _dead(pid: int) -> bool:
    """Gone or a zombie (whose parent, not us, reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _wait_dead(pid: int, seconds: float = 60.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if _dead(pid):
            return True
        time.sleep(0.05)
    return False


def _no_leftovers(parent: Path) -> None:
    assert not [p.name for p in parent.iterdir() if ".partial-" in p.name]


def _tree_digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- timeouts
def test_every_side_has_a_default_timeout():
    assert sides.DEFAULT_TIMEOUT > 0 and RunOptions(args=[]).timeout == sides.DEFAULT_TIMEOUT
    parser = build_parser()
    for cmd in (["run"], ["trace", "--out", "-"]):
        assert parser.parse_args(cmd).timeout == sides.DEFAULT_TIMEOUT
        assert parser.parse_args([*cmd, "--timeout", "7"]).timeout == 7.0


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "soon"])
def test_timeout_must_be_positive(value, capsys):
    assert main(["run", "--timeout", value, "--", "-detpixels", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--timeout" in err and "Traceback" not in err


def test_a_grandchild_holding_stdout_does_not_defeat_the_timeout(tmp_path):
    pids = tmp_path / "pids"
    prog = _script(tmp_path / "hold.sh",
                   f"sleep 600 &\necho $! > {pids}\necho started\nsleep 600\n")
    t0 = time.monotonic()
    done = sides.run_process([prog], tmp_path, None, timeout=1.0)
    assert time.monotonic() - t0 < 300        # not the 600 s of either sleep
    assert done.timed_out and "started" in done.stdout
    assert _wait_dead(int(pids.read_text()))


def test_a_child_leaving_a_grandchild_on_stdout_returns_and_the_group_ends(tmp_path):
    pids = tmp_path / "pids"
    prog = _script(tmp_path / "leave.sh", f"sleep 600 &\necho $! > {pids}\necho bye\n")
    t0 = time.monotonic()
    done = sides.run_process([prog], tmp_path, None, timeout=500.0)
    assert time.monotonic() - t0 < 300 and not done.timed_out
    assert done.returncode == 0 and done.stdout == "bye\n"
    assert _wait_dead(int(pids.read_text()))


def test_run_timeout_kills_the_side_and_its_grandchildren(fake, tmp_path, monkeypatch):
    pids = tmp_path / "pids"
    slow = _script(tmp_path / "slow.sh", f"sleep 600 &\necho $! > {pids}\nsleep 600\n")
    monkeypatch.setenv("TORCHBRAGG_PY_CMD", slow)
    out = tmp_path / "b"
    t0 = time.monotonic()
    status = main(["run", "--out", str(out), "--c-bin", fake, "--timeout", "1", "--",
                   "-detpixels", "8"])
    assert time.monotonic() - t0 < 300
    m = json.loads((out / "metrics.json").read_text())
    assert status == 2 and m["verdict"] == "ERROR" and m["py"]["timed_out"]
    assert any("PY side timed out" in e for e in m["errors"])
    assert _wait_dead(int(pids.read_text()))
    assert list((tmp_path / "tmp").iterdir()) == []      # scratch folders removed


# --------------------------------------------------------------------------- output flags
ESCAPES = [["-intfile", "../../x.img"], ["-noisefile", "/tmp/x.img"], ["-pgmfile", "../x.pgm"],
           ["-intimage", "sub/../../x.img"], ["-noiseimage", "../x"], ["-pgmimage", "/x"],
           ["-stolout", "../x.stol"], ["--intfile", "../x.img"],
           ["-hkl", "in.hkl", "-dump", "../Fdump.bin"], ["-hkl", "in.hkl", "-dump", "/x.bin"]]


@pytest.mark.parametrize("flags", ESCAPES, ids=lambda f: " ".join(f))
def test_output_flags_leaving_the_scratch_folder_are_refused(fake, tmp_path, capsys, flags):
    (tmp_path / "in.hkl").write_text("0 0 0 1\n")
    out = tmp_path / "b"
    status = main(["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "8", *flags])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert f"{flags[-2]} {flags[-1]}" in err and "scratch folder" in err
    assert not out.exists() and list((tmp_path / "tmp").iterdir()) == []
    assert main(["trace", "--out", "-", "--pixel", "1", "1", "--", "-detpixels", "8",
                 *flags]) == 2


def test_output_flags_inside_the_scratch_folder_run(fake, tmp_path):
    out = tmp_path / "b"
    assert main(["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "8",
                 "-intfile", "x.img", "-pgmfile", "./sub/../p.pgm", "-dump_pixel", "3", "4",
                 "-floatfile", "../../kept-out.bin"]) == 0
    assert not (tmp_path / "kept-out.bin").exists()    # -floatfile is the harness's own
    args = json.loads((out / "metrics.json").read_text())["args"]
    assert "../../kept-out.bin" not in args and "-intfile" in args


def test_dump_is_an_input_without_hkl(fake, tmp_path):
    assert sides.output_operands(["-dump", "/abs/F.bin"]) == []
    assert sides.output_operands(["-hkl", "x", "-dump", "F.bin"]) == [("-dump", "F.bin")]
    assert sides.strip_floatfile(["--floatfile", "a", "-N", "1", "-x-floatimage", "b"]) == \
        ["-N", "1"]


CAMPAIGN = """\
version: 1
name: escape
suites:
  - name: explicit
    kind: cases
    cases:
      - name: ok
        argv: -cell 10 10 10 90 90 90 -default_F 1 -detpixels 4
      - name: bad
        argv: -cell 10 10 10 90 90 90 -default_F 1 -detpixels 4 {flags}
"""


@pytest.mark.parametrize("flags", ["-intfile ../../x.img", "-noisefile /tmp/x.img",
                                   "-pgmfile inputs/in_P1.hkl", "-intfile {inputs}/x.img"])
def test_campaign_cases_writing_outside_their_root_are_refused(tmp_path, capsys, flags):
    spec = tmp_path / "spec.yaml"
    spec.write_text(CAMPAIGN.format(flags=flags))
    out = tmp_path / "c"
    assert main(["campaign", str(spec), "--out", str(out), "--c-bin", sys.executable,
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "case explicit/bad" in err and "scratch folder" in err
    assert not out.exists()
    _no_leftovers(tmp_path)


# --------------------------------------------------------------------------- existing bundles
def _image(path: Path, n: int = 4, scale: float = 1.0) -> str:
    import numpy as np
    (np.arange(n * n, dtype="<f4") * scale + 1).tofile(path)
    return str(path)


def test_compare_images_never_overwrites_a_bundle(tmp_path, capsys):
    ref, test = _image(tmp_path / "r.bin"), _image(tmp_path / "t.bin", scale=2)
    argv = ["compare-images", "--ref", ref, "--test", test, "--fpixels", "4", "--spixels", "4"]
    out = tmp_path / "cmp"
    assert main([*argv, "--out", str(out)]) == 1
    before = _tree_digest(out)
    assert {"summary.md", "metrics.json", "ref.png"} <= set(before)
    capsys.readouterr()
    assert main([*argv[:2], test, *argv[3:], "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(out) in err and "already exists" in err
    assert _tree_digest(out) == before
    (tmp_path / "afile").write_text("keep")
    assert main([*argv, "--out", str(tmp_path / "afile")]) == 2
    assert (tmp_path / "afile").read_text() == "keep"
    _no_leftovers(tmp_path)


def test_compare_traces_never_overwrites_a_bundle(tmp_path, capsys):
    trace = tmp_path / "t.log"
    trace.write_text(PIXEL_LINES + PIXEL_LINES.replace("TRACE_C: ", "TRACE_PY: "))
    out = tmp_path / "tr"
    argv = ["compare-traces", "--c", str(trace), "--py", str(trace), "--out", str(out)]
    assert main(argv) == 0
    before = _tree_digest(out)
    capsys.readouterr()
    assert main(argv) == 2
    assert str(out) in capsys.readouterr().err and _tree_digest(out) == before


def test_run_campaign_and_merge_never_overwrite_a_bundle(fake, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "8"]) == 0
    before = _tree_digest(out)
    spec = tmp_path / "spec.yaml"
    spec.write_text(CAMPAIGN.split("      - name: bad")[0])
    for argv in (["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "4"],
                 ["campaign", str(spec), "--out", str(out), "--c-bin", sys.executable],
                 ["merge", str(out), "--out", str(out)]):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(out) in err, (argv, err)
        assert _tree_digest(out) == before
    _no_leftovers(tmp_path)


# --------------------------------------------------------------------------- disk errors
def test_a_full_disk_names_the_file_and_leaves_no_bundle(fake, tmp_path, capsys, monkeypatch):
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))   # no file name, as write()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    out = tmp_path / "deep" / "er" / "b"
    status = main(["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "8"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert f"{out / 'metrics.json'}: No space left on device" in err and ": :" not in err
    assert not (tmp_path / "deep").exists()          # nor the parents it made
    assert list((tmp_path / "tmp").iterdir()) == []


def _small_tmpfs(folder: Path) -> str | None:
    """Mount a 64 KiB tmpfs on ``folder``; the reason when that is not possible."""
    folder.mkdir()
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    return None if proc.returncode == 0 else f"mount failed: {proc.stderr.strip()}"


def test_a_really_full_disk(fake, tmp_path, capsys):
    disk = tmp_path / "disk"
    reason = _small_tmpfs(disk)
    if reason:
        pytest.skip(reason)
    try:
        out = disk / "b"
        status = main(["run", "--out", str(out), "--c-bin", fake, "--", "-detpixels", "128"])
        err = capsys.readouterr().err
        assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert str(out) in err and "No space left on device" in err and ": :" not in err
        assert list(disk.iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# --------------------------------------------------------------------------- signals
def _default_signals():
    """In the child before exec: Ctrl-C and SIGTERM at their defaults (a shell's background
    job inherits SIGINT ignored, and the harness keeps an inherited "ignore")."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _harness(tmp_path: Path, argv: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "torchbragg.parity.cli", *argv],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": SRC, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_signals)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("slow_side", ["C", "PY"])
def test_a_signal_ends_both_sides_and_leaves_no_bundle(fake, tmp_path, signum, status,
                                                       slow_side):
    pids = tmp_path / "pids"
    slow = _script(tmp_path / "slow.sh",
                   f"sleep 600 &\necho $! >> {pids}\necho $$ >> {pids}\nsleep 600\n")
    c_bin, py_cmd = (slow, os.environ["TORCHBRAGG_PY_CMD"]) if slow_side == "C" \
        else (fake, slow)
    out = tmp_path / "reports" / "b"
    proc = _harness(tmp_path, ["run", "--out", str(out), "--c-bin", c_bin, "--",
                               "-detpixels", "8"],
                    {"TORCHBRAGG_PY_CMD": py_cmd, "TMPDIR": str(tmp_path / "tmp")})
    end = time.monotonic() + 300
    while time.monotonic() < end and len(pids.read_text().split() if pids.exists() else []) < 2:
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) >= 2, "the slow side did not start"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == status, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert all(_wait_dead(pid) for pid in children)
    assert not (tmp_path / "reports").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


# --------------------------------------------------------------------------- input files
def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return str(path)


def test_input_files_that_would_block_are_refused(tmp_path, capsys):
    fifo = _fifo(tmp_path / "fifo")
    img = _image(tmp_path / "r.bin")
    spec = tmp_path / "spec.yaml"
    spec.write_text(CAMPAIGN.split("      - name: bad")[0])
    shard = tmp_path / "shard"
    shard.mkdir()
    _fifo(shard / "metrics.json")
    cases = [
        (["compare-images", "--ref", fifo, "--test", img, "--fpixels", "4", "--spixels", "4"],
         fifo),
        (["compare-images", "--ref", img, "--test", "/dev/zero", "--fpixels", "4",
          "--spixels", "4"], "/dev/zero"),
        (["compare-images", "--ref", img, "--test", img, "--fpixels", "0", "--spixels", "4"],
         "positive"),
        (["compare-traces", "--c", fifo, "--py", fifo], fifo),
        (["compare-traces", "--c", "/dev/zero", "--py", "/dev/zero"], "/dev/zero"),
        (["campaign", fifo, "--out", str(tmp_path / "c1")], fifo),
        (["campaign", str(spec), "--baseline", "/dev/zero", "--c-bin", sys.executable,
          "--out", str(tmp_path / "c2")], "/dev/zero"),
        (["merge", str(shard), "--out", str(tmp_path / "m")], str(shard)),
    ]
    for argv, word in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err and "Traceback" not in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "r.bin", "shard", "spec.yaml"]


def test_a_signal_ends_a_campaign_and_its_c_pool(tmp_path):
    pids = tmp_path / "pids"
    slow = _script(tmp_path / "slow.sh", f"echo $$ >> {pids}\nsleep 600\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(CAMPAIGN.split("      - name: bad")[0].replace("name: escape\n",
                                                                "name: escape\ntimeout: 550\n"))
    out = tmp_path / "camp"
    proc = _harness(tmp_path, ["campaign", str(spec), "--out", str(out), "--c-bin", slow,
                               "--jobs", "2", "--py-cmd", slow, "--quiet"],
                    {"TMPDIR": str(tmp_path)})
    end = time.monotonic() + 300
    while time.monotonic() < end and len(pids.read_text().split() if pids.exists() else []) < 2:
        time.sleep(0.05)
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) >= 2, "the slow side did not start"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert time.monotonic() - t0 < 300           # not the sleeps' 600 s
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert all(_wait_dead(pid) for pid in children)
    assert json.loads((out / "metrics.json").read_text())["interrupted"]
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("module", ["torchbragg.parity.early_signals", "torchbragg.parity.cli"])
@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "terminated")])
def test_a_signal_while_loading_is_one_line(module, signum, status, word):
    """The state between loading the modules and main(): a signal leaves at once."""
    code = (f"import os, time, {module}; os.kill(os.getpid(), {int(signum)}); time.sleep(30); "
            "print('not reached')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=300,
                          preexec_fn=_default_signals)
    assert (proc.returncode, proc.stderr, proc.stdout) == (status, f"torchbragg-parity: {word}\n",
                                                           "")


def test_main_replaces_the_early_handlers():
    code = ("import signal; from torchbragg.parity.cli import main; "
            "from torchbragg.parity.early_signals import early_signal; "
            "assert signal.getsignal(signal.SIGINT) is early_signal; "
            "main(['compare-images']); "
            "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, "
            "signal.getsignal(signal.SIGTERM) is not early_signal)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": SRC}, timeout=300,
                          preexec_fn=_default_signals)
    assert proc.stdout == "True True\n", proc.stderr
