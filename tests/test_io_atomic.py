"""All-or-nothing writes."""
from __future__ import annotations

import os

import pytest

from torchbragg.errors import OutputError
from torchbragg.io.atomic import atomic_write


def test_write_and_replace(tmp_path):
    p = tmp_path / "out.bin"
    atomic_write(p, b"abc")
    assert p.read_bytes() == b"abc"
    atomic_write(p, memoryview(b"xy"))
    assert p.read_bytes() == b"xy"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        p = tmp_path / "m.bin"
        atomic_write(p, b"1")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o640


def test_missing_folder(tmp_path):
    p = tmp_path / "no" / "such" / "file.img"
    with pytest.raises(OutputError) as info:
        atomic_write(p, b"data")
    assert info.value.exit_status == 10
    assert str(info.value).startswith(f"cannot write {p}: ")


def test_failure_leaves_nothing(tmp_path):
    target = tmp_path / "adir"
    target.mkdir()
    with pytest.raises(OutputError):
        atomic_write(target, b"data")  # cannot replace a directory
    assert sorted(os.listdir(tmp_path)) == ["adir"]
    assert os.listdir(target) == []
