"""Many command lines in one process: ``torchbragg --batch FILE`` and ``api.run_command``."""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchbragg.api import run_command
from torchbragg.cli.batch import BatchFileError, batch_status, read_lines, run_lines

SMALL = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 48 -nonoise -nopgm"
LINES = [
    f"{SMALL} -floatfile a.bin -intfile a.img",
    f"{SMALL} -floatfile 'b c.bin' -dtype float32 -misset 10 20 30",
    f"{SMALL} -hkl missing.hkl -floatfile never.bin",
    f"{SMALL} -mosaic 0.5 -mosaic_domains 3 -floatfile d.bin -roi 5 30 10 40",
]


def _cli(args, cwd):
    env = dict(os.environ, TORCHBRAGG_COMPILE="off",
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    return subprocess.run([sys.executable, "-m", "torchbragg", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "lines.txt"}


def test_batch_equals_one_process_per_line(tmp_path):
    import shlex

    one, batch = tmp_path / "one", tmp_path / "batch"
    one.mkdir(), batch.mkdir()
    singles = [_cli(shlex.split(line), one) for line in LINES]
    (batch / "lines.txt").write_text("# comment\n\n" + "\n".join(LINES) + "\n")
    run = _cli(["--batch", "lines.txt"], batch)
    assert [r.returncode for r in singles] == [0, 0, 9, 0]
    assert run.returncode == 9  # the first failing line's status
    assert run.stdout == "".join(r.stdout for r in singles)
    assert _files(batch) == _files(one) and "never.bin" not in _files(batch)
    assert "batch line 5: exit status 9" in run.stderr  # (two header lines before line 3)
    assert run.stderr.rstrip().endswith("4 of 4 lines run, 1 failed (lines 5)")


def test_batch_file_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("-N 5 'unclosed\n")
    with pytest.raises(BatchFileError, match="line 1"):
        read_lines(str(bad))
    nested = tmp_path / "nested.txt"
    nested.write_text("--batch other.txt\n")
    with pytest.raises(BatchFileError, match="another batch"):
        read_lines(str(nested))
    with pytest.raises(BatchFileError, match="cannot read"):
        read_lines(str(tmp_path / "absent.txt"))
    run = _cli(["--batch", "absent.txt"], tmp_path)
    assert run.returncode == 9 and run.stderr.count("\n") == 1 and "absent.txt" in run.stderr


def test_batch_stops_when_interrupted():
    calls = []

    def fake(argv):
        calls.append(argv)
        return 130 if argv == ["stop"] else 0

    statuses = run_lines([(1, ["a"]), (2, ["stop"]), (3, ["never"])], fake)
    assert statuses == [(1, 0), (2, 130)] and calls == [["a"], ["stop"]]
    assert batch_status(statuses) == 130 and batch_status([(1, 0), (2, 0)]) == 0


def test_run_command_in_process(tmp_path, monkeypatch):
    import shlex
    import signal

    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    api, cli = tmp_path / "api", tmp_path / "cli"
    api.mkdir(), cli.mkdir()
    handler, here = signal.getsignal(signal.SIGTERM), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        ok = run_command(LINES[0], cwd=str(api))
        bad = run_command(shlex.split(LINES[2]), cwd=str(api))
    assert (ok, bad) == (0, 9)
    assert signal.getsignal(signal.SIGTERM) == handler and os.getcwd() == here
    singles = [_cli(shlex.split(line), cli) for line in (LINES[0], LINES[2])]
    assert out.getvalue() == "".join(r.stdout for r in singles)
    assert err.getvalue() == "".join(r.stderr for r in singles)
    assert _files(api) == _files(cli)


def test_prepare_says_when_nothing_is_to_be_built(tmp_path, monkeypatch, capsys):
    from torchbragg.cli.main import main

    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    assert main(["--prepare", *SMALL.split()]) == 0
    assert "TORCHBRAGG_COMPILE=off" in capsys.readouterr().out
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "auto")
    assert main(["--prepare", *SMALL.split()]) == 0  # 48² pixels: under 10⁶ evaluations
    assert "keeps such runs eager" in capsys.readouterr().out
    assert main(["--prepare", *SMALL.split(), "-hkl", "missing.hkl"]) == 9
    assert "missing.hkl" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
