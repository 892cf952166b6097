"""Run the C and Torch programs of a parity check, each in a clean scratch folder.

Both sides get the same nanoBragg arguments (input paths made absolute, ``-floatfile``
replaced by ``float.bin`` in their own working folder), the traced pixels as
``-trace_pixel S F`` (slow, fast) and, for the Torch side only, ``-device``/``-dtype``.
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
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_C_BIN = "torchbragg-cref"
C_BIN_ENV = "NB_C_BIN"
PY_CMD_ENV = "TORCHBRAGG_PY_CMD"
FLOAT_NAME = "float.bin"

_INPUT_PREFIXES = ("-hkl", "-mat", "-img", "-mask", "-sourcefile")
_INPUT_EXACT = ("-stol", "-4stol", "-Q")
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


def _is_input_flag(flag: str, has_hkl: bool) -> bool:
    return (flag.startswith(_INPUT_PREFIXES) or flag in _INPUT_EXACT
            or (flag.startswith("-dump") and flag != "-dump_pixel" and not has_hkl))


def input_files(args: list[str]) -> list[tuple[str, str]]:
    """(flag, path) of every input file operand (``-dump`` only when it is read: no -hkl)."""
    has_hkl = any(a.startswith("-hkl") for a in args)
    return [(flag, args[i + 1]) for i, flag in enumerate(args[:-1])
            if _is_input_flag(flag, has_hkl) and not args[i + 1].startswith("-")]


def absolutise_inputs(args: list[str], cwd: Path | None = None) -> list[str]:
    """Make the file operands of input flags (-hkl, -mat, -img, -mask, …) absolute.

    ``-dump FILE`` is made absolute only when ``-hkl`` is absent (it is then read; with
    ``-hkl`` it would be written, which must stay inside the scratch folder).
    """
    cwd = Path(cwd or os.getcwd())
    has_hkl = any(a.startswith("-hkl") for a in args)
    out = list(args)
    for i, flag in enumerate(args[:-1]):
        is_input = _is_input_flag(flag, has_hkl)
        value = args[i + 1]
        if is_input and not value.startswith("-") and not os.path.isabs(value):
            out[i + 1] = str((cwd / value).resolve())
    return out


def strip_floatfile(args: list[str]) -> list[str]:
    """Drop ``-floatfile X`` / ``-floatimage X``: the harness names the float image itself."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith(("-floatfile", "-floatimage")):
            skip = True
            continue
        out.append(a)
    return out


def trace_flags(pixels: list[tuple[int, int]]) -> list[str]:
    return [tok for s, f in pixels for tok in ("-trace_pixel", str(s), str(f))]


def c_argv(c_cmd, args, pixels) -> list[str]:
    return [*c_cmd, *args, "-floatfile", FLOAT_NAME, *trace_flags(pixels)]


def py_argv(py_cmd, args, pixels, device, dtype) -> list[str]:
    return [*py_cmd, *args, "-floatfile", FLOAT_NAME, *trace_flags(pixels),
            "-device", device, "-dtype", dtype]


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
        from torchbragg.parity.bundle import shell_command
        return shell_command(self.argv, self.cwd, self.env)

    def to_json(self) -> dict:
        return {"command": self.argv, "cwd": str(self.cwd), "env": self.env,
                "exit_code": self.returncode, "seconds": round(self.seconds, 3),
                "timed_out": self.timed_out, "start_error": self.start_error}


def run_side(label: str, argv: list[str], cwd: Path, env_extra: dict[str, str],
             timeout: float | None) -> SideRun:
    """Run ``argv`` in ``cwd`` with ``env_extra`` added; kill its process group on timeout."""
    side = SideRun(label, argv, cwd, dict(env_extra))
    env = {**os.environ, **env_extra}
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    except OSError as exc:
        side.start_error = f"{argv[0]}: {exc.strerror or exc}"
        return side
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        side.timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    side.seconds = time.monotonic() - t0
    side.returncode = proc.returncode
    side.stdout = out.decode("utf-8", errors="replace")
    side.stderr = err.decode("utf-8", errors="replace")
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
