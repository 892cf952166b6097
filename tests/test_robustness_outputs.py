"""The torchbragg side: bad input never blocks, hangs or ends in an internal error;
a failed run leaves every output untouched; signals and a closed stdout end cleanly.

Inputs are made by the tests in ``tmp_path``. Most runs are in-process (the console script's
``main``); what depends on the process (signals, closed standard streams) runs the real
entry point as a subprocess.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cli_assertions import assert_clean_failure

from torchbragg import errors

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
CELL = ["-cell", "100", "100", "100", "90", "90", "90"]
BASE = CELL + ["-default_F", "10", "-N", "2", "-detpixels", "16", "-nonoise", "-nopgm",
               "-noprogress", "-floatfile", "f.bin", "-intfile", "i.img"]


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def run(args, cwd, env=None, limit=60):
    """``main(args)`` in ``cwd``; a run that blocks for ``limit`` seconds fails the test."""
    from torchbragg.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old, saved = os.getcwd(), dict(os.environ)
    old_term, old_alarm = signal.getsignal(signal.SIGTERM), signal.signal(signal.SIGALRM, _alarm)
    os.environ.update(env or {})
    signal.alarm(limit)
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(args))
    except _Hang:
        pytest.fail(f"blocked for {limit} s: {args}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)
        os.chdir(old)
        os.environ.clear()
        os.environ.update(saved)
    return Result(rc, out.getvalue(), err.getvalue())


def spawn(args, cwd, preexec_fn=None, **kwargs):
    """The real entry point (``python -m torchbragg``) as a child process, with SIGINT and
    SIGTERM at their defaults (a suite run as a shell's background job would pass SIGINT on
    ignored, which the command keeps), then ``preexec_fn``."""
    def prepare():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if preexec_fn is not None:
            preexec_fn()

    env = dict(os.environ, PYTHONPATH=str(SRC), TORCHBRAGG_COMPILE="off")
    return subprocess.Popen([sys.executable, "-m", "torchbragg", *args], cwd=cwd, env=env,
                            preexec_fn=prepare, **kwargs)


def listing(folder: Path) -> dict:
    """Every entry of ``folder`` with its bytes (None for non-files)."""
    return {p.name: (p.read_bytes() if p.is_file() and not p.is_fifo() else None)
            for p in sorted(folder.iterdir())}


def _smv_header(folder: Path, name: str, lines: str, pixel_bytes: int = 0) -> None:
    raw = ("{\nHEADER_BYTES=512;\n" + lines + "}").encode() + b"\x0c"
    (folder / name).write_bytes(raw.ljust(512, b" ") + b"\x01\x00" * (pixel_bytes // 2))


# ----------------------------------------------------------------------------- inputs
NONREGULAR = [
    (["-hkl", "fifo"], "-hkl", "FIFO"),
    (["-img", "fifo"], "-img", "FIFO"),
    (["-mask", "fifo"], "-mask", "FIFO"),
    (["-mat", "fifo"], "-mat", "FIFO"),
    (["-sourcefile", "fifo"], "-sourcefile", "FIFO"),
    (["-stol", "fifo"], "-stol", "FIFO"),
    (["-hkl", "/dev/zero"], "-hkl", "/dev/zero"),
    (["-mat", "/dev/urandom"], "-mat", "/dev/urandom"),
    (["-img", "/dev/zero"], "-img", "/dev/zero"),
]


@pytest.mark.parametrize("args, flag, word", NONREGULAR, ids=[" ".join(c[0]) for c in NONREGULAR])
def test_fifo_and_device_inputs_refused_without_blocking(args, flag, word, tmp_path):
    os.mkfifo(tmp_path / "fifo")
    res = run(BASE + args, tmp_path)
    assert_clean_failure(res, errors.EXIT_INPUT, flag, word, "not a regular file")
    assert sorted(listing(tmp_path)) == ["fifo"]


def test_fifo_structure_factor_cache_refused(tmp_path):
    os.mkfifo(tmp_path / "Fdump.bin")
    args = [a for a in BASE if a not in ("-default_F", "10")]
    res = run(args, tmp_path)
    assert_clean_failure(res, errors.EXIT_INPUT, "-dump", "Fdump.bin", "FIFO")


@pytest.mark.parametrize("flag, size", [("-img", "2000000000"), ("-mask", "60000")])
def test_smv_header_sizes_checked_before_allocating(flag, size, tmp_path):
    """A 1 KiB file whose header claims 2e9 x 2e9 or 60000 x 60000 pixels."""
    _smv_header(tmp_path, "big.img", f"SIZE1={size};\nSIZE2={size};\nPIXEL_SIZE=0.1;\n", 512)
    res = run(CELL + ["-default_F", "10", "-nonoise", "-noprogress", flag, "big.img"], tmp_path)
    assert_clean_failure(res, errors.EXIT_INPUT, flag, "big.img")


def test_img_header_claiming_a_huge_detector_is_refused_by_the_limits(tmp_path):
    _smv_header(tmp_path, "big.img", "SIZE1=60000;\nSIZE2=60000;\nPIXEL_SIZE=0.1;\n")
    res = run(CELL + ["-default_F", "10", "-nonoise", "-noprogress", "-img", "big.img"],
              tmp_path, env={"TORCHBRAGG_MAX_MEMORY": str(2**30)})
    assert_clean_failure(res, errors.EXIT_INPUT, "refusing to run", "60000")


def test_detsize_overflow_is_bad_input(tmp_path):
    args = CELL + ["-default_F", "10", "-nonoise", "-noprogress", "-detsize", "1e308"]
    assert_clean_failure(run(args, tmp_path), errors.EXIT_INPUT, "-detsize")


def test_matrix_with_huge_entries_is_bad_input(tmp_path):
    (tmp_path / "big.mat").write_text("1e308 0 0\n0 1e308 0\n0 0 1e308\n")
    args = BASE[7:] + ["-mat", "big.mat"]
    assert_clean_failure(run(args, tmp_path), errors.EXIT_INPUT, "-mat", "big.mat", "singular")


def test_auto_oversample_of_a_huge_crystal_falls_back_to_one(tmp_path):
    """-N 30000000 recommends 9e6-fold oversampling; the C reference takes 1 from 1e6 on."""
    res = run(BASE + ["-N", "30000000"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "auto-selected 1-fold oversampling" in res.stdout
    assert "  1x1 pixel oversample steps" in res.stdout


def test_recommended_oversample_cap():
    from torchbragg.physics.sampling import recommended_oversample

    # recip_pix = 1e-10 m * 0.1 m / 1e-4 m = 1e-7 m; n = ceil(3 * xtal / 1e-7)
    assert recommended_oversample(3.3e-2, 1e-10, 0.1, 1e-4) == 990000
    assert recommended_oversample(3.4e-2, 1e-10, 0.1, 1e-4) == 1
    assert recommended_oversample(float("inf"), 1e-10, 0.1, 1e-4) == 1


# ----------------------------------------------------------------------------- numbers, argv
def test_non_ascii_digits_refused(tmp_path):
    from torchbragg.cli.cnum import atoi, strict_int

    assert strict_int("\uff11\uff16") is None and atoi("\uff11\uff16") == 0
    assert strict_int("16") == 16 and atoi("16") == 16
    res = run(BASE + ["-detpixels", "\uff11\uff16"], tmp_path)
    assert_clean_failure(res, errors.EXIT_INPUT, "-detpixels")
    res = run(BASE + ["-trace_pixel", "\u0661", "1"], tmp_path)
    assert_clean_failure(res, errors.EXIT_INPUT, "-trace_pixel")


class _CountingArgv(list):
    """A list that counts the elements handed out by slicing."""

    sliced = 0

    def __getitem__(self, item):
        got = super().__getitem__(item)
        if isinstance(item, slice):
            type(self).sliced += len(got)
        return got


def test_argument_checking_is_linear_in_the_tokens(monkeypatch):
    """Per token, a bounded number of pattern tests and of value tokens copied."""
    from torchbragg.cli import flags, strict
    from torchbragg.cli.state import ParseState
    from torchbragg.compat import get_profile

    tests = {"n": 0}
    real = flags.Flag.matches

    def counting(self, token):
        tests["n"] += 1
        return real(self, token)

    monkeypatch.setattr(flags.Flag, "matches", counting)
    per_token = {}
    for n in (3000, 12000):
        tokens = CELL + ["-distance", "100"] * n + [f"-foo{i}" for i in range(n)] + ["-N", "2"] * n
        argv = _CountingArgv(tokens)
        _CountingArgv.sliced, tests["n"] = 0, 0
        strict.check_argv(argv)
        flags.scan(argv, ParseState(), get_profile("nanobragg"))
        per_token[n] = (tests["n"] / len(tokens), _CountingArgv.sliced / len(tokens))
    for n, (pattern_tests, copied) in per_token.items():
        assert pattern_tests < 12 and copied <= 2 * flags.MAX_VALUES, (n, per_token)


# ----------------------------------------------------------------------------- outputs
HKL_ARGS = CELL + ["-hkl", "a.hkl", "-N", "2", "-detpixels", "16", "-noprogress",
                   "-nointerpolate", "-seed", "5", "-floatfile", "f.bin", "-intfile", "i.img",
                   "-pgmfile", "p.pgm", "-noisefile", "n.img"]
OUTPUTS = ["f.bin", "i.img", "p.pgm", "n.img", "Fdump.bin"]


def _old_outputs(folder: Path) -> dict:
    """An HKL file and an old version of every output; returns the folder's listing."""
    (folder / "a.hkl").write_text("0 0 0 10\n1 0 0 20\n-1 2 0 30\n")
    for name in OUTPUTS:
        (folder / name).write_bytes(b"old " + name.encode())
    return listing(folder)


def test_successful_run_replaces_every_output(tmp_path):
    before = _old_outputs(tmp_path)
    res = run(HKL_ARGS, tmp_path)
    assert res.returncode == 0, res.stderr
    after = listing(tmp_path)
    assert sorted(after) == sorted(before)  # no temporary or backup left
    for name in OUTPUTS:
        assert after[name] != before[name], name
    assert after["Fdump.bin"].startswith(b"-1 1 0 2 0 0\n\f")


@pytest.mark.parametrize("args, word", [
    (["-pgmfile", "nothere/"], "nothere/"),
    (["-intfile", "nodir/i.img"], "nodir"),
    (["-noisefile", "adir"], "adir"),
    (["-floatfile", "x" * 256], "longer than"),
])
def test_unwritable_output_fails_before_rendering(args, word, tmp_path):
    before = _old_outputs(tmp_path)
    (tmp_path / "adir").mkdir()
    before["adir"] = None
    res = run(HKL_ARGS + args, tmp_path)
    assert_clean_failure(res, errors.EXIT_OUTPUT, "cannot write", word)
    assert "writing" not in res.stdout and "counting entries" not in res.stdout
    assert listing(tmp_path) == before


def test_output_name_of_250_bytes_works(tmp_path):
    _old_outputs(tmp_path)
    name = "x" * 250
    res = run(HKL_ARGS + ["-floatfile", name], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / name).stat().st_size == 16 * 16 * 4
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tb")]


def _chattr(path: Path, flag: str) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    except OSError:
        return False


def test_immutable_output_fails_before_rendering(tmp_path):
    before = _old_outputs(tmp_path)
    if not _chattr(tmp_path / "i.img", "+i"):
        pytest.skip("chattr +i not permitted here (needs root and a file system with attributes)")
    try:
        res = run(HKL_ARGS, tmp_path)
    finally:
        _chattr(tmp_path / "i.img", "-i")
    assert_clean_failure(res, errors.EXIT_OUTPUT, "i.img", "immutable")
    assert listing(tmp_path) == before


def test_disk_full_after_the_float_file_changes_nothing(tmp_path, monkeypatch):
    """The second file written (the SMV image) meets ENOSPC: the staged float file and cache
    are discarded, every old file stays."""
    import errno

    from torchbragg.io import atomic

    before = _old_outputs(tmp_path)
    real, calls = atomic._write_all, []

    def write_all(fd, data):
        calls.append(len(data))
        if len(calls) == 3:  # Fdump.bin, f.bin, then i.img
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_all", write_all)
    res = run(HKL_ARGS, tmp_path)
    assert_clean_failure(res, errors.EXIT_OUTPUT, "i.img", "No space left")
    assert listing(tmp_path) == before


def test_disk_full_on_a_small_tmpfs(tmp_path):
    """The same with a real file system that fits the float image but not the SMV image."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        before = _old_outputs(mnt)
        args = [a if a != "16" else "256" for a in HKL_ARGS] + ["-nopgm", "-nonoise"]
        res = run(args, mnt)
        assert_clean_failure(res, errors.EXIT_OUTPUT, "i.img", "No space left")
        assert listing(mnt) == before
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_failed_rename_during_the_commit_restores_the_renamed_files(tmp_path, monkeypatch):
    from torchbragg.io import atomic

    before = _old_outputs(tmp_path)
    real = os.rename

    def rename(src, dst):
        if str(dst).endswith("p.pgm") and ".tb" in str(src):
            raise PermissionError(1, "Operation not permitted")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "rename", rename)
    res = run(HKL_ARGS, tmp_path)
    assert_clean_failure(res, errors.EXIT_OUTPUT, "p.pgm", "not permitted")
    assert listing(tmp_path) == before


def test_interrupt_during_the_commit_restores_every_file(tmp_path, monkeypatch):
    from torchbragg.io import atomic

    before = _old_outputs(tmp_path)
    real, sent = os.rename, []

    def rename(src, dst):
        real(src, dst)
        if not sent:  # Ctrl-C right after the first file reached its place
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(atomic.os, "rename", rename)
    # (Ctrl-C raises here even where the suite inherited SIGINT ignored)
    before_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        res = run(HKL_ARGS, tmp_path)
    finally:
        signal.signal(signal.SIGINT, before_handler)
    assert res.returncode == errors.EXIT_INTERRUPTED, res.stderr
    assert sent and listing(tmp_path) == before


@pytest.mark.parametrize("args, env, word", [
    (["-device", "cuda"], {}, "-device cuda"),
    ([], {"TORCHBRAGG_MAX_WORK": "10"}, "refusing to run"),
])
def test_refused_run_leaves_the_structure_factor_cache(args, env, word, tmp_path):
    if args and __import__("torch").cuda.is_available():
        pytest.skip("a CUDA device is present: -device cuda runs")
    before = _old_outputs(tmp_path)
    res = run(HKL_ARGS + args, tmp_path, env=env)
    assert_clean_failure(res, errors.EXIT_INPUT, word)
    assert listing(tmp_path) == before


def test_unwritable_cache_is_a_warning_as_in_the_c(tmp_path):
    _old_outputs(tmp_path)
    res = run(HKL_ARGS + ["-dump", "nodir/F.bin"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "WARNING: unable to open dump file: nodir/F.bin" in res.stdout


def test_symlinks_are_never_written_through(tmp_path, monkeypatch):
    """A symlink planted at the temporary's name is skipped (O_EXCL|O_NOFOLLOW); one at the
    destination is replaced, not followed."""
    from torchbragg.io import atomic

    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, tmp_path / ".tbaaaaaaaa.tmp")
    os.symlink(victim, tmp_path / "out.img")
    names = iter(["aaaaaaaa", "bbbbbbbb", "cccccccc"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(names))
    atomic.atomic_write(tmp_path / "out.img", b"new")
    assert victim.read_bytes() == b"precious"
    assert os.path.islink(tmp_path / ".tbaaaaaaaa.tmp")
    assert not os.path.islink(tmp_path / "out.img")
    assert (tmp_path / "out.img").read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == [".tbaaaaaaaa.tmp", "out.img", "victim"]


# ----------------------------------------------------------------------------- process level
def _catches_sigterm(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, errors.EXIT_INTERRUPTED),
                                         (signal.SIGTERM, errors.EXIT_TERMINATED)])
def test_signal_while_importing_ends_cleanly(sig, status, tmp_path):
    """The signal arrives as soon as the entry point has its handlers, while numpy and torch
    are still being imported (nothing printed yet)."""
    import time

    proc = spawn(BASE, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _catches_sigterm(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    with open(f"/proc/{proc.pid}/maps") as fh:
        torch_loaded = "libtorch" in fh.read()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    res = Result(proc.returncode, out.decode(), err.decode())
    assert not torch_loaded and res.stdout == ""
    assert_clean_failure(res, status, "interrupted" if status == 130 else "terminated")
    assert os.listdir(tmp_path) == []


def test_closed_stdout_is_ignored_as_in_the_c(tmp_path):
    proc = spawn(BASE, tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                 preexec_fn=lambda: os.close(1))
    err = proc.communicate(timeout=300)[1].decode()
    assert proc.returncode == 0 and err == "", err
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "i.img"]
    assert (tmp_path / "f.bin").stat().st_size == 16 * 16 * 4


def test_broken_pipe_on_stdout_is_ignored_as_in_the_c(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout fails with EPIPE
    try:
        proc = spawn(BASE, tmp_path, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    err = proc.communicate(timeout=300)[1].decode()
    assert proc.returncode == 0 and err == "", err
    assert sorted(os.listdir(tmp_path)) == ["f.bin", "i.img"]


def test_quiet_stream_drops_output_after_a_failure():
    from torchbragg.cli.streams import QuietStream

    class Failing(io.StringIO):
        def write(self, text):
            if "fail" in text:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    inner = Failing()
    quiet = QuietStream(inner)
    quiet.write("a\n")
    quiet.write("fail\n")
    quiet.write("b\n")
    quiet.flush()
    assert inner.getvalue() == "a\n" and quiet.broken
    assert QuietStream(None).write("x") == 1


@pytest.mark.parametrize("flag, status", [("-hkl", 9), ("-mat", 9), ("-floatfile", 10),
                                          ("-pgmfile", 10)])
def test_a_name_with_a_nul_character(tmp_path, monkeypatch, capsys, flag, status):
    """Possible through ``--batch`` or the API (never from a real argv): one line, the flag's
    documented status, no output written."""
    from torchbragg.api import run_command

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    rc = run_command(["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "1",
                      "-detpixels", "8", "-noprogress", flag, "a\0b"])
    err = capsys.readouterr().err
    assert rc == status, err
    assert "NUL character" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
