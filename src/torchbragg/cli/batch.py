"""``torchbragg --batch FILE``: many command lines in one process.

Each non-blank line of FILE (``-`` for standard input) is one ``torchbragg`` argument list,
split as a POSIX shell would split it (quotes, backslashes; ``#`` starts a comment), and runs
exactly as its own ``torchbragg`` invocation would: the same stdout, stderr, files and exit
status, in the batch's working folder. What is shared is only what costs time to make again:
the imports and torch's start-up (≈1 s a process) and the loaded compiled kernels.

A line that fails is reported on stderr (``torchbragg: batch line N: exit status S``) and the
batch goes on; at the end one summary line is printed on stderr. The batch's exit status is 0
when every line succeeded, else the first failing line's status. Ctrl-C or SIGTERM stops the
batch (130 / 143) after the line that was running has cleaned up.
"""
from __future__ import annotations

import shlex
import sys
from typing import Callable, Iterable, List, Sequence, Tuple

from torchbragg.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, report_interrupt

BATCH_FLAG = "--batch"


class BatchFileError(Exception):
    """The batch file cannot be read or a line cannot be split (one-line message)."""


def read_lines(path: str) -> List[Tuple[int, List[str]]]:
    """(line number, argv) for each non-blank, non-comment line of ``path`` (``-``: stdin)."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchFileError(f"{BATCH_FLAG} {path}: cannot read: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            argv = shlex.split(line, comments=True)
        except ValueError as exc:
            raise BatchFileError(f"{BATCH_FLAG} {path}: line {number}: {exc}") from None
        if argv:
            if argv[0] == BATCH_FLAG:
                raise BatchFileError(f"{BATCH_FLAG} {path}: line {number}: a batch cannot "
                                     "name another batch")
            out.append((number, argv))
    return out


def run_lines(lines: Iterable[Tuple[int, Sequence[str]]],
              run_one: Callable[[List[str]], int]) -> List[Tuple[int, int]]:
    """Run each line through ``run_one`` (argv → exit status); (line number, status) pairs.

    Stops after a line interrupted by Ctrl-C or SIGTERM."""
    statuses = []
    for number, argv in lines:
        try:
            status = run_one(list(argv))
        except KeyboardInterrupt as exc:  # between two lines (a run reports its own)
            status = report_interrupt("torchbragg", exc)
        statuses.append((number, status))
        if status != 0:
            print(f"torchbragg: batch line {number}: exit status {status}", file=sys.stderr)
        if status in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            break
    return statuses


def batch_status(statuses: Sequence[Tuple[int, int]]) -> int:
    """0 when every line succeeded, else the first failing line's status."""
    return next((status for _, status in statuses if status != 0), 0)


def run_batch(argv: Sequence[str], run_one: Callable[[List[str]], int]) -> int:
    """``--batch FILE`` (``argv`` without the flag): every line, a summary; the exit status."""
    if len(argv) != 1:
        print(f"torchbragg: error: {BATCH_FLAG} takes exactly one FILE (one command line per "
              "line; - for standard input)", file=sys.stderr)
        return EXIT_INPUT
    try:
        lines = read_lines(argv[0])
    except BatchFileError as exc:
        print(f"torchbragg: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    statuses = run_lines(lines, run_one)
    failed = [number for number, status in statuses if status != 0]
    skipped = len(lines) - len(statuses)
    summary = f"torchbragg: batch: {len(statuses)} of {len(lines)} lines run, {len(failed)} failed"
    if failed:
        summary += " (lines " + ", ".join(map(str, failed[:10])) + (", …" if len(failed) > 10
                                                                     else "") + ")"
    if skipped:
        summary += f", {skipped} not run (interrupted)"
    print(summary, file=sys.stderr)
    return batch_status(statuses)
