"""Run a case on one side: the C program in a subprocess, torchbragg in this process.

Each side gets its own scratch root with the case's input links; the command lines run in
``root/case.cwd``. What a side wrote is every regular file found there afterwards (links to
inputs excluded). The Torch side runs in the campaign's process — one import of torch, the
compiled packages reused — unless a Torch command is given (then as a subprocess too).
"""
from __future__ import annotations

import io
import os
import signal
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from torchbragg.parity.campaign.cases import Case
from torchbragg.parity.sides import ToolError, check_outputs, run_side


@dataclass
class SideResult:
    """What one side did on a case (the last run's exit status and output streams)."""

    label: str
    commands: list[list[str]]
    cwd: Path
    exit: int | None = None
    stdout: str = ""
    stderr: str = ""
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    timed_out: bool = False
    start_error: str | None = None

    @property
    def crashed(self) -> bool:
        """Killed by a signal (a negative status from subprocess)."""
        return self.exit is not None and self.exit < 0

    def fault(self) -> str | None:
        """Why this run says nothing about the other side (could not start, timeout, signal)."""
        if self.start_error:
            return f"{self.label}: could not start: {self.start_error}"
        if self.timed_out:
            return f"{self.label}: timed out after {self.seconds:.0f} s"
        if self.crashed:
            return f"{self.label}: killed by signal {-self.exit}"
        return None


def prepare(case: Case, root: Path) -> Path:
    """Make ``root`` with the case's input links; the working folder (created)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, target in case.links:
        where = root / rel
        where.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(where):
            os.symlink(target, where)
    cwd = root / case.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    return cwd


def written_files(cwd: Path) -> dict[str, Path]:
    """Regular files under ``cwd`` (not through links), by path relative to it."""
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(cwd):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and path.is_file():
                out[str(path.relative_to(cwd))] = path
    return dict(sorted(out.items()))


def confine_outputs(case: Case) -> None:
    """ToolError when a run of ``case`` would write a file outside its scratch root (an
    absolute path, ``..`` above the root, or through an input link)."""
    links = tuple(rel for rel, _ in case.links)
    for argv in case.runs:
        check_outputs(list(argv), case.cwd, links, where=f"case {case.id}: ")


def _refused(side: SideResult, case: Case, argv: Sequence[str]) -> bool:
    """Refuse (as a start error) a run whose output would leave the scratch root: the
    shrinker's variants are checked here, the spec's cases when it is expanded."""
    try:
        check_outputs(list(argv), case.cwd, tuple(rel for rel, _ in case.links))
    except ToolError as exc:
        side.start_error = f"refused: {exc}"
        return True
    return False


def run_c(case: Case, root: Path, c_cmd: Sequence[str], label: str = "C",
          extra: Sequence[str] = ()) -> SideResult:
    """Every run of ``case`` with the C program (``OMP_NUM_THREADS=1``)."""
    cwd = prepare(case, root)
    side = SideResult(label, [], cwd)
    t0 = time.monotonic()
    for argv in case.runs:
        if _refused(side, case, argv):
            break
        cmd = [*c_cmd, *argv, *extra]
        side.commands.append(cmd)
        left = case.timeout - (time.monotonic() - t0)
        _subprocess(side, cmd, cwd, {"OMP_NUM_THREADS": "1"}, max(left, 1.0))
        if side.fault():
            break
    side.seconds = time.monotonic() - t0
    side.files = written_files(cwd)
    return side


def _subprocess(side: SideResult, cmd: list[str], cwd: Path, env: dict[str, str],
                timeout: float) -> None:
    """One run of ``cmd`` (:func:`parity.sides.run_side`); its outcome into ``side``."""
    run = run_side(side.label, cmd, cwd, env, timeout)
    side.exit, side.stdout, side.stderr = run.returncode, run.stdout, run.stderr
    side.timed_out, side.start_error = run.timed_out, run.start_error


class _CaseTimeout(BaseException):
    """Raised in the main thread by SIGALRM: escapes torchbragg's own error handling."""


def _alarm(signum, frame):
    raise _CaseTimeout()


def run_torch(case: Case, root: Path, device: str, dtype: str,
              py_cmd: Sequence[str] | None = None, extra: Sequence[str] = ()) -> SideResult:
    """Every run of ``case`` with torchbragg (``-device``/``-dtype`` appended)."""
    cwd = prepare(case, root)
    side = SideResult("PY", [], cwd)
    tail = [*extra, "-device", device, "-dtype", dtype]
    t0 = time.monotonic()
    for argv in case.runs:
        if _refused(side, case, argv):
            break
        args = [*argv, *tail]
        left = max(case.timeout - (time.monotonic() - t0), 1.0)
        if py_cmd:
            cmd = [*py_cmd, *args]
            side.commands.append(cmd)
            _subprocess(side, cmd, cwd, {}, left)
        else:
            side.commands.append(["torchbragg", *args])
            _in_process(side, args, cwd, left)
        if side.fault():
            break
    side.seconds = time.monotonic() - t0
    side.files = written_files(cwd)
    return side


def _in_process(side: SideResult, args: list[str], cwd: Path, timeout: float) -> None:
    """``torchbragg.cli.main.main(args)`` in ``cwd`` with its streams captured."""
    from torchbragg.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    use_alarm = hasattr(signal, "SIGALRM") and _main_thread()
    old_handler = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if use_alarm else {}
    try:
        os.chdir(cwd)
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        with redirect_stdout(out), redirect_stderr(err):
            side.exit = main(args)
    except _CaseTimeout:
        side.timed_out = True
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_handler)
        os.chdir(old_cwd)
        for sig, handler in handlers.items():   # main() installs its own: the campaign's
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    side.stdout, side.stderr = out.getvalue(), err.getvalue()
    if side.exit in (130, 143):  # Ctrl-C / SIGTERM reached torchbragg: stop the campaign
        raise KeyboardInterrupt


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def golden_side(case: Case) -> SideResult:
    """The stored outputs of a golden case, as a side."""
    import json

    folder = Path(case.golden or "")
    meta = json.loads((folder / "case.json").read_text())
    outputs = dict(meta.get("outputs", {}))
    stdout_name = outputs.pop("stdout", None)
    side = SideResult("golden", [list(r) for r in case.runs], folder,
                      exit=int(meta.get("exit_code", 0)))
    if stdout_name:
        side.stdout = (folder / stdout_name).read_text(errors="replace")
    side.files = {name: folder / name for name in sorted(outputs.values())
                  if (folder / name).is_file()}
    return side
