"""Errors that end a run with a one-line message and a documented exit status.

Exit statuses, shared by ``torchbragg``, ``torchbragg-cref`` and ``torchbragg-parity``:

* 0 — success
* 2 — usage error of a helper tool (``torchbragg-parity``; ``torchbragg-cref`` launcher
  options, no C compiler)
* 9 — bad input: unusable flag value, flag missing its value, missing or malformed input
  file, a configuration too large to run (the C reference's status for input problems)
* 10 — an output file cannot be written
* 70 — internal error (a bug: please report it; ``--debug`` or ``TORCHBRAGG_DEBUG=1`` shows
  the traceback)
* 130 — interrupted (Ctrl-C, SIGINT); 143 — terminated (SIGTERM). No partial file is left.

Messages are one line on standard error; no traceback unless debugging is on.
"""
from __future__ import annotations

import os
import signal

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INPUT = 9
EXIT_OUTPUT = 10
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: Every documented status (README "Exit status and errors"; tests check this set).
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_USAGE: "usage error of a helper tool",
    EXIT_INPUT: "bad input",
    EXIT_OUTPUT: "an output file cannot be written",
    EXIT_INTERNAL: "internal error",
    EXIT_INTERRUPTED: "interrupted (SIGINT)",
    EXIT_TERMINATED: "terminated (SIGTERM)",
}


class TorchBraggError(Exception):
    """Base class: carries the exit status the CLI returns."""

    exit_status = EXIT_INPUT


class InputError(TorchBraggError):
    """A flag value or an input file cannot be used (names the flag, file or line)."""

    exit_status = EXIT_INPUT


class UsageError(InputError):
    """Missing required inputs: the C prints its usage text and exits 9 (``prefix``: what it
    prints before the usage text)."""

    def __init__(self, message: str, prefix: str = ""):
        super().__init__(message)
        self.prefix = prefix


class ResourceError(InputError):
    """The configuration needs more work or memory than can fit (refused up front)."""

    exit_status = EXIT_INPUT


class OutputError(TorchBraggError):
    """An output file cannot be written."""

    exit_status = EXIT_OUTPUT


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every ``finally`` (temporary files) runs."""

    exit_status = EXIT_TERMINATED


def debug_enabled(argv=None) -> bool:
    """``--debug`` on the command line or ``TORCHBRAGG_DEBUG`` set to a non-empty, non-0 value."""
    env = os.environ.get("TORCHBRAGG_DEBUG", "")
    return (env not in ("", "0")) or bool(argv and "--debug" in argv)


def _raise_terminated(signum, frame):  # pragma: no cover - exercised through subprocesses
    raise Terminated()


def install_sigterm_handler() -> None:
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt) in the main thread."""
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError, AttributeError):  # not the main thread / no SIGTERM
        pass


def install_signal_handlers() -> None:
    """The command-line tools' first step: SIGTERM raises :class:`Terminated`, SIGINT
    ``KeyboardInterrupt`` (Python's own handler, put back if it was replaced; an inherited
    "ignore" is kept, e.g. for a background job)."""
    install_sigterm_handler()
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except (ValueError, OSError, AttributeError):
        pass


def ignore_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on (a process about to exit)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError, AttributeError):
            pass


def interrupt_status(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return getattr(exc, "exit_status", EXIT_INTERRUPTED)


def report_interrupt(prog: str, exc: BaseException) -> int:
    """One line on stderr for Ctrl-C or SIGTERM; the exit status."""
    import sys

    status = interrupt_status(exc)
    print(f"{prog}: " + ("terminated" if status == 143 else "interrupted"), file=sys.stderr)
    return status


def report_internal_error(prog: str, exc: BaseException) -> int:
    """One line on stderr for a bug (the caller re-raises instead when debugging)."""
    import sys

    print(f"{prog}: internal error: {type(exc).__name__}: {exc} (run with --debug for the "
          "traceback)", file=sys.stderr)
    return EXIT_INTERNAL
