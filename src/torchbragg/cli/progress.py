"""A progress bar on stderr that appears only for runs longer than about two seconds."""
from __future__ import annotations

import sys
import time


class Progress:
    """Call with (done, total) pixels; prints ``NN% done`` on stderr after ``delay`` seconds."""

    def __init__(self, enabled: bool, delay: float = 2.0, stream=None):
        self.enabled = enabled
        self.delay = delay
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self.shown = False
        self.last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        elapsed = time.monotonic() - self.start
        if elapsed < self.delay and done < total:
            return
        if elapsed < self.delay and not self.shown:
            return
        percent = int(100 * done / total)
        if percent != self.last:
            eta = elapsed / max(done, 1) * (total - done)
            self.stream.write(f"\r{percent:3d}% done ({done}/{total} pixels, ~{eta:.0f} s left)")
            self.stream.flush()
            self.last = percent
            self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
