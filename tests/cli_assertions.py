"""Assertions shared by the command-line robustness tests."""
from __future__ import annotations


def assert_clean_failure(res, status, *words):
    """Exit ``status``, no traceback, one stderr line holding each of ``words``."""
    assert res.returncode == status, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
