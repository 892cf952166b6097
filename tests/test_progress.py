"""The progress bar: stderr only, silent for short runs, off with -noprogress."""
from __future__ import annotations

import io

from torchbragg.cli.progress import Progress


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
