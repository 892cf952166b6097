"""The progress meter on stderr: silent for runs shorter than about two seconds.

The renderer reports after every (layer, sub-pixel, source) step of a chunk, so updates come
from inside the chunk loop without changing the chunks (the image is the same whatever is
shown). On a terminal one line is rewritten in place at most every :data:`INTERVAL` s, each
text padded to clear the previous one; elsewhere (a pipe, a log file) a plain line is written
at every tenth of the work, without carriage returns. The time left is estimated from the
rate measured over the last :data:`RATE_WINDOW` s.
"""
from __future__ import annotations

import sys
import time
from collections import deque
from typing import Callable, Optional

#: seconds before the meter appears; seconds between two updates on a terminal
DELAY, INTERVAL = 2.0, 0.5
#: seconds of recent progress the rate (and so the time left) is measured over
RATE_WINDOW = 10.0


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def duration(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Call with (done, total) pixels; writes on ``stream`` (stderr) after ``delay`` seconds."""

    def __init__(self, enabled: bool, delay: float = DELAY, stream=None,
                 interval: float = INTERVAL, clock: Optional[Callable[[], float]] = None):
        self.enabled = enabled
        self.delay, self.interval = delay, interval
        self.stream = stream or sys.stderr
        self.terminal = _is_terminal(self.stream)
        self.clock = clock or time.monotonic
        self.start = self.clock()
        self.shown = False
        self.done = 0
        self.width = 0  # length of the text on the terminal line
        self.written_at = self.start
        self.tenth = -1  # last tenth of the work reported on a non-terminal
        self.samples: deque = deque()  # (time, done) over the last RATE_WINDOW seconds

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = self.clock()
        self.done = done = min(max(int(done), self.done), total)
        self.samples.append((now, done))
        while len(self.samples) > 2 and now - self.samples[1][0] >= RATE_WINDOW:
            self.samples.popleft()
        if not self.shown and now - self.start < self.delay:
            return
        if self.terminal:
            if self.shown and done < total and now - self.written_at < self.interval:
                return
            text = self.text(done, total, now)
            self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
            self.width = len(text)
        else:
            tenth = 10 * done // total
            if tenth <= self.tenth:
                return
            self.tenth = tenth
            self.stream.write(f"torchbragg: {self.text(done, total, now)}\n")
        self.stream.flush()
        self.shown, self.written_at = True, now

    def text(self, done: int, total: int, now: float) -> str:
        """``NN% done (d/t pixels, about T left)``; the rate is the recent one."""
        head = f"{100 * done // total:3d}% done ({done}/{total} pixels"
        if done >= total:
            return head + f", {duration(now - self.start)})"
        t0, d0 = self.samples[0]
        if done <= d0 or now <= t0:
            t0, d0 = self.start, 0
        if done <= d0 or now <= t0:
            return head + ")"
        return head + f", about {duration((total - done) * (now - t0) / (done - d0))} left)"

    def close(self) -> None:
        if self.shown and self.terminal:
            self.stream.write("\n")
            self.stream.flush()
