"""Standard streams that cannot fail a run, as in the C (whose ``printf`` errors are ignored).

* A closed descriptor 0, 1 or 2 is reopened on ``/dev/null`` first, so that no file the run
  opens later gets its number (console text written there would land in an output file).
* ``sys.stdout`` and ``sys.stderr`` are wrapped so that a write or flush that fails (a closed
  pipe, ``torchbragg ... | head -1``; EPIPE, EIO, ENOSPC) is dropped silently, with everything
  written after it: the run goes on, writes its files and exits 0 as the C does.
"""
from __future__ import annotations

import os
import sys


class QuietStream:
    """A text stream whose failures are ignored (the first one discards all later output)."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = stream is None

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except (OSError, ValueError):  # (ValueError: the stream was closed)
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _reopen_closed_descriptors() -> None:
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, flags)  # the lowest free number: fd itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def guard_standard_streams() -> None:
    """Apply both measures to this process (the console script's second step)."""
    _reopen_closed_descriptors()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, QuietStream):
            setattr(sys, name, QuietStream(stream))
