"""Run the C and Torch programs of a parity check, each in a clean scratch folder.

Both sides get the same nanoBragg arguments (input paths made absolute, ``-floatfile``
replaced by ``float.bin`` in their own working folder), the traced pixels as
``-trace_pixel S F`` (slow, fast) and, for the Torch side only, ``-device``/``-dtype``.
Every child runs in its own process group with a time limit (:data:`DEFAULT_TIMEOUT`); on
timeout, Ctrl-C or SIGTERM the whole group is ended (docs/parity.md).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_C_BIN = "torchbragg-cref"
C_BIN_ENV = "NB_C_BIN"
PY_CMD_ENV = "TORCHBRAGG_PY_CMD"
FLOAT_NAME = "float.bin"
#: seconds a side of ``run``/``trace`` may take unless ``--timeout`` says otherwise
DEFAULT_TIMEOUT = 1200.0
#: seconds a child gets between SIGTERM and SIGKILL when its group is ended
KILL_GRACE = 2.0
#: bytes of a child's stdout or stderr kept (the rest is cut, with a note)
OUTPUT_LIMIT = 64 << 20

_INPUT_PREFIXES = ("-hkl", "-mat", "-img", "-mask", "-sourcefile")
_INPUT_EXACT = ("-stol", "-4stol", "-Q")
#: flags whose operand is a file the program writes (substring patterns, as the CLI matches
#: them); ``-dump`` is one too when ``-hkl`` is present
OUTPUT_PATTERNS = ("-floatfile", "-floatimage", "-intfile", "-intimage", "-pgmfile",
                   "-pgmimage", "-noisefile", "-noiseimage", "-stolout")
_SIZE_RE = re.compile(r"\((\d+)x(\d+) pixels\)")


class ToolError(RuntimeError):
    """A usage or tool problem (exit status 2): missing program, bad arguments, …"""


def py_command(override: list[str] | None = None) -> list[str]:
    """The Torch command: ``override``, ``$TORCHBRAGG_PY_CMD`` or ``python -m torchbragg``."""
    if override:
        return list(override)
    env = os.environ.get(PY_CMD_ENV)
    return shlex.split(env) if env else [sys.executable, "-m", "torchbragg"]


def c_command(c_bin: str | None = None) -> list[str]:
    """The C command: ``--c-bin``, ``$NB_C_BIN`` or ``torchbragg-cref``; must be runnable."""
    text = c_bin or os.environ.get(C_BIN_ENV) or DEFAULT_C_BIN
    argv = shlex.split(text)
    if not argv:
        raise ToolError("empty C program command")
    exe = argv[0]
    found = shutil.which(exe) if os.sep not in exe else (exe if os.access(exe, os.X_OK) else None)
    if not found:
        raise ToolError(f"C program {exe!r} not found or not executable "
                        f"(give --c-bin CMD or set {C_BIN_ENV})")
    if os.sep in exe:
        argv[0] = str(Path(exe).resolve())
    return argv


def _has_hkl(args: list[str]) -> bool:
    return any(a.startswith("-") and "-hkl" in a for a in args)


def _is_input_flag(flag: str, has_hkl: bool) -> bool:
    return (flag.startswith(_INPUT_PREFIXES) or flag in _INPUT_EXACT
            or (flag.startswith("-dump") and flag != "-dump_pixel" and not has_hkl))


def input_files(args: list[str]) -> list[tuple[str, str]]:
    """(flag, path) of every input file operand (``-dump`` only when it is read: no -hkl)."""
    has_hkl = _has_hkl(args)
    return [(flag, args[i + 1]) for i, flag in enumerate(args[:-1])
            if _is_input_flag(flag, has_hkl) and not args[i + 1].startswith("-")]


def absolutise_inputs(args: list[str], cwd: Path | None = None) -> list[str]:
    """Make the file operands of input flags (-hkl, -mat, -img, -mask, …) absolute.

    ``-dump FILE`` is made absolute only when ``-hkl`` is absent (it is then read; with
    ``-hkl`` it would be written, which must stay inside the scratch folder).
    """
    cwd = Path(cwd or os.getcwd())
    has_hkl = _has_hkl(args)
    out = list(args)
    for i, flag in enumerate(args[:-1]):
        is_input = _is_input_flag(flag, has_hkl)
        value = args[i + 1]
        if is_input and not value.startswith("-") and not os.path.isabs(value):
            out[i + 1] = str((cwd / value).resolve())
    return out


def _is_floatfile(tok: str) -> bool:
    return tok.startswith("-") and ("-floatfile" in tok or "-floatimage" in tok)


def strip_floatfile(args: list[str]) -> list[str]:
    """Drop ``-floatfile X`` / ``-floatimage X`` (any token containing them, as the CLI
    matches): the harness names the float image itself."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if _is_floatfile(a):
            skip = True
            continue
        out.append(a)
    return out


def output_operands(args: list[str]) -> list[tuple[str, str]]:
    """(flag, path) of every file operand the program would write: the
    :data:`OUTPUT_PATTERNS` flags, and ``-dump`` (``-dump_pixel`` too) when ``-hkl`` is
    present."""
    has_hkl = _has_hkl(args)
    return [(tok, args[i + 1]) for i, tok in enumerate(args[:-1])
            if tok.startswith("-") and (any(p in tok for p in OUTPUT_PATTERNS)
                                        or (has_hkl and "-dump" in tok))]


def leaves_folder(path: str, cwd: str = ".", links: tuple[str, ...] = ()) -> bool:
    """Whether writing ``path`` from the folder ``cwd`` (relative to a scratch root holding
    the symbolic links ``links``) could reach outside that root: an absolute path, a
    ``..`` above the root, or a path through one of the links."""
    if os.path.isabs(path):
        return True
    target = os.path.normpath(os.path.join(cwd, path))
    if target == ".." or target.startswith("../"):
        return True
    return any(target == link or target.startswith(link.rstrip("/") + "/") for link in links)


def check_outputs(args: list[str], cwd: str = ".", links: tuple[str, ...] = (),
                  where: str = "") -> None:
    """ToolError naming the first output flag whose file would leave the scratch folder."""
    for flag, path in output_operands(args):
        if leaves_folder(path, cwd, links):
            raise ToolError(f"{where}{flag} {path}: output files must stay in the side's "
                            "scratch folder (give a relative name without '..')")


def trace_flags(pixels: list[tuple[int, int]]) -> list[str]:
    return [tok for s, f in pixels for tok in ("-trace_pixel", str(s), str(f))]


def c_argv(c_cmd, args, pixels) -> list[str]:
    return [*c_cmd, *args, "-floatfile", FLOAT_NAME, *trace_flags(pixels)]


def py_argv(py_cmd, args, pixels, device, dtype) -> list[str]:
    return [*py_cmd, *args, "-floatfile", FLOAT_NAME, *trace_flags(pixels),
            "-device", device, "-dtype", dtype]



def shell_command(argv: list[str], cwd, env: dict[str, str] | None = None) -> str:
    """A re-runnable shell line: create and enter ``cwd``, set ``env``, run ``argv``."""
    env_part = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    cmd = shlex.join(argv)
    cwd_q = shlex.quote(str(cwd))
    return f"mkdir -p {cwd_q} && cd {cwd_q} && " + (f"env {env_part} " if env_part else "") + cmd


@dataclass
class SideRun:
    """What one side did."""

    label: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    start_error: str | None = None

    @property
    def float_path(self) -> Path:
        return self.cwd / FLOAT_NAME

    @property
    def ok(self) -> bool:
        return self.start_error is None and not self.timed_out and self.returncode == 0

    def problem(self) -> str | None:
        if self.start_error:
            return f"{self.label} side could not start: {self.start_error}"
        if self.timed_out:
            return f"{self.label} side timed out after {self.seconds:.0f} s"
        if self.returncode != 0:
            tail = (self.stderr.strip() or self.stdout.strip()).splitlines()[-1:] or [""]
            return f"{self.label} side exited with status {self.returncode}: {tail[0][:200]}"
        if not self.float_path.is_file():
            return f"{self.label} side wrote no float image ({FLOAT_NAME})"
        return None

    def shell(self) -> str:
        return shell_command(self.argv, self.cwd, self.env)

    def to_json(self) -> dict:
        return {"command": self.argv, "cwd": str(self.cwd), "env": self.env,
                "exit_code": self.returncode, "seconds": round(self.seconds, 3),
                "timed_out": self.timed_out, "start_error": self.start_error}


@dataclass
class Finished:
    """How a child process ended (``returncode`` None: it could not start)."""

    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    start_error: str | None = None


_ACTIVE: set[int] = set()        # process groups of the children now running
_ACTIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()    # set by end_children: start nothing, end what runs


def end_group(pgid: int, grace: float = KILL_GRACE) -> None:
    """SIGTERM to the process group ``pgid``, SIGKILL after ``grace`` seconds if any
    member is left (the group leader is not reaped here)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                try:
                    os.killpg(pgid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                if _exited(pgid):     # only the (unreaped) leader may be left
                    break
                time.sleep(0.02)


def end_children() -> None:
    """End every child process group still running and start no new one until
    :func:`allow_children` (Ctrl-C or SIGTERM while worker threads run children)."""
    _STOPPING.set()
    with _ACTIVE_LOCK:
        groups = list(_ACTIVE)
    for pgid in groups:
        end_group(pgid, grace=0.5)


def allow_children() -> None:
    _STOPPING.clear()


def _exited(pid: int) -> bool:
    """Whether the child ``pid`` has exited (it is left to be reaped by Popen)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _read(fh) -> str:
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    data = fh.read(OUTPUT_LIMIT).decode("utf-8", errors="replace")
    if size > OUTPUT_LIMIT:
        data += f"\n[torchbragg-parity: {size - OUTPUT_LIMIT} more bytes not kept]\n"
    return data


def run_process(argv: list[str], cwd=None, env: dict[str, str] | None = None,
                timeout: float | None = DEFAULT_TIMEOUT) -> Finished:
    """Run ``argv`` in its own session with stdout/stderr in anonymous files.

    Waits for the child itself (not for its pipes: a grandchild holding the output open
    cannot stall it), at most ``timeout`` seconds (None: no limit); then, and on any
    exception such as Ctrl-C, its whole process group is ended (SIGTERM, then SIGKILL).
    """
    t0 = time.monotonic()
    if _STOPPING.is_set():
        return Finished(None, "", "", 0.0, start_error="the harness is stopping")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return Finished(None, "", "", 0.0, start_error=f"{argv[0]}: {exc.strerror or exc}")
        with _ACTIVE_LOCK:
            _ACTIVE.add(proc.pid)
        timed_out = False
        try:
            deadline = None if timeout is None else t0 + timeout
            delay = 0.001
            while not _exited(proc.pid) and not _STOPPING.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        finally:
            end_group(proc.pid)          # stragglers too: the leader is not reaped yet
            proc.wait()
            with _ACTIVE_LOCK:
                _ACTIVE.discard(proc.pid)
        return Finished(proc.returncode, _read(out), _read(err), time.monotonic() - t0,
                        timed_out=timed_out)


def run_side(label: str, argv: list[str], cwd: Path, env_extra: dict[str, str],
             timeout: float | None = DEFAULT_TIMEOUT) -> SideRun:
    """Run ``argv`` in ``cwd`` with ``env_extra`` added (:func:`run_process`)."""
    side = SideRun(label, argv, cwd, dict(env_extra))
    done = run_process(argv, cwd, {**os.environ, **env_extra}, timeout)
    side.returncode, side.stdout, side.stderr = done.returncode, done.stdout, done.stderr
    side.seconds, side.timed_out, side.start_error = done.seconds, done.timed_out, \
        done.start_error
    return side


def scratch_dir(label: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"torchbragg-parity-{label}-"))


def detector_size(args: list[str], *stdouts: str) -> tuple[int, int] | None:
    """(fpixels, spixels) from a program's set-up line ``(FxS pixels)``, else from the flags."""
    for text in stdouts:
        m = _SIZE_RE.search(text or "")
        if m:
            return int(m.group(1)), int(m.group(2))
    f = s = None
    for i, flag in enumerate(args[:-1]):
        try:
            value = int(float(args[i + 1]))
        except ValueError:
            continue
        if flag == "-detpixels":
            f = s = value
        elif flag in ("-detpixels_x", "-detpixels_f"):
            f = value
        elif flag in ("-detpixels_y", "-detpixels_s"):
            s = value
    if f is None and s is None:
        return None
    return (f or s, s or f)


def float_value(path: Path, fpixels: int, pixel: tuple[int, int]) -> float | None:
    """The float image value at (slow, fast), read without loading the whole file."""
    s, f = pixel
    if f < 0 or f >= fpixels or s < 0:
        return None
    import struct
    try:
        with open(path, "rb") as fh:
            fh.seek((s * fpixels + f) * 4)
            raw = fh.read(4)
    except OSError:
        return None
    return struct.unpack("<f", raw)[0] if len(raw) == 4 else None
