"""The progress meter: stderr only, silent for short runs, off with -noprogress; rewritten in
place on a terminal (pseudo-terminal), plain lines every tenth on a pipe; updates from inside
the chunk loop without changing the image."""
from __future__ import annotations

import io
import os
import pty
import tty

import torch

from torchbragg import config_from_argv
from torchbragg.cli.progress import Progress, duration
from torchbragg.physics.render import render
from torchbragg.physics.workload import rendered_indices
from torchbragg.physics.setup import build_experiment, make_plan


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_appears_after_delay():
    out = io.StringIO()
    bar = Progress(True, delay=0.0, stream=out)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    text = out.getvalue()
    assert "50% done" in text and "100% done" in text and text.endswith("\n")


def test_progress_silent_for_short_runs_and_when_disabled():
    out = io.StringIO()
    bar = Progress(True, delay=3600.0, stream=out)
    bar(10, 100)
    bar(100, 100)
    bar.close()
    off = io.StringIO()
    disabled = Progress(False, delay=0.0, stream=off)
    disabled(50, 100)
    disabled.close()
    assert out.getvalue() == "" and off.getvalue() == ""


def _read_all(fd) -> str:
    chunks = []
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode()


def test_terminal_rewrites_one_line_in_place():
    master, slave = pty.openpty()
    tty.setraw(slave)  # (no "\n" → "\r\n" translation: the bytes as written)
    try:
        stream = os.fdopen(slave, "w", closefd=False)
        clock = Clock()
        bar = Progress(True, stream=stream, clock=clock)
        assert bar.terminal
        total = 1_000_000
        for k in range(1, 49):  # 6 s: a step every 1/8 s (exact), 12 500 pixels each
            clock.t = k / 8
            bar(k * 12_500, total)
        clock.t = 30.0
        bar(total, total)
        bar.close()
        text = _read_all(master)
    finally:
        os.close(master), os.close(slave)
    updates = text.split("\r")[1:]
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    # first visible at 2 s, then at most every 0.5 s: 2.0, 2.5, …, 6.0 → 9, plus the last one
    assert len(updates) == 10
    assert updates[0].startswith(" 20% done (200000/1000000 pixels, about 8 s left)")
    assert [u.split("%")[0].strip() for u in updates[:-1]] == [str(p) for p in range(20, 61, 5)]
    # rate 100 000 px/s measured → the estimate is the true remaining time
    assert "about 4 s left" in updates[-2] and updates[-2].startswith(" 60% done")
    last = updates[-1].rstrip("\n")
    # each update covers what the previous one wrote (the final text is shorter)
    assert len(updates[-2]) > len(last.rstrip()) and len(last) == len(updates[-2])
    assert last.rstrip().endswith("100% done (1000000/1000000 pixels, 30 s)")


def test_pipe_gets_a_line_every_tenth_and_no_carriage_returns():
    read, write = os.pipe()
    try:
        stream = os.fdopen(write, "w", closefd=False)
        clock = Clock()
        bar = Progress(True, stream=stream, clock=clock)
        assert not bar.terminal
        for i in range(1, 1001):
            clock.t = i * 0.01
            bar(i * 100, 100_000)
        bar.close()
        stream.flush()
        text = _read_all(read)
    finally:
        os.close(read), os.close(write)
    lines = text.splitlines()
    assert "\r" not in text and text.endswith("\n")
    # shown from 2 s (20 %) on, once per tenth
    assert [line.split("%")[0].split()[-1] for line in lines] == [str(p) for p in
                                                                   range(20, 101, 10)]
    assert all(line.startswith("torchbragg: ") for line in lines)


def test_duration_text():
    assert [duration(s) for s in (0.4, 59, 61, 3599, 7260)] == [
        "0 s", "59 s", "1 min 01 s", "59 min 59 s", "2 h 01 min"]


def test_updates_come_from_inside_chunks_and_leave_the_image_unchanged():
    # Kahn polarization (atan2 depends on the tensor's length, not on what is shown)
    args = ("-cell 70 80 90 85 95 100 -default_F 30 -N 4 -lambda 1.1 -distance 60 "
            "-detpixels 36 -pixel 0.3 -oversample 2 -polar 0.8 -hdivrange 0.3 -hdivsteps 2 "
            "-mosaic 0.5 -mosaic_domains 2").split()
    plan = make_plan(build_experiment(config_from_argv(args)), "cpu", torch.float64)
    idx = rendered_indices(plan, None, None)
    calls = []
    shown = render(plan, idx, chunk=500, progress=lambda d, t: calls.append((d, t))).values
    plain = render(plan, idx, chunk=500).values
    assert torch.equal(shown.view(torch.int64), plain.view(torch.int64))
    done = [d for d, _ in calls]
    chunks = -(-36 * 36 // 500)
    # 2×2 sub-pixels × 2 sources: 8 reports per chunk, then one at its end
    assert len(done) == chunks * 9 and done == sorted(done) and done[-1] == 36 * 36
    assert done[:9] == [500 * k // 8 for k in range(1, 9)] + [500]
