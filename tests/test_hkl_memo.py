"""The parsed-HKL memo (io/hkl_memo.py): a second read of the same bytes gives the same table,
the same console lines and no parse; anything else is a miss."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from torchbragg.io import hkl as hkl_mod
from torchbragg.io.hkl import read_hkl
from torchbragg.io.hkl_memo import KEEP, HKLMemo

TEXT = "1 2 3 10.5\n-2 0 1 7\n1 2 3 11\n0 0 0.5 3\n"  # a duplicate and a non-integer index


def _read(path, memo, default_F=0.0):
    lines = []
    table = read_hkl(path, default_F, lines.append, strict=False, memo=memo)
    return table, lines


def _same(a, b):
    assert (a.h_min, a.h_max, a.k_min, a.k_max, a.l_min, a.l_max, a.count) == (
        b.h_min, b.h_max, b.k_min, b.k_max, b.l_min, b.l_max, b.count)
    assert a.grid.tobytes() == b.grid.tobytes()
    assert a.reader_leftovers == b.reader_leftovers


@pytest.mark.parametrize("default_F", [0.0, 100.0])
def test_second_read_is_the_first_without_a_parse(tmp_path, monkeypatch, default_F):
    path = tmp_path / "in.hkl"
    path.write_text(TEXT)
    memo = HKLMemo(tmp_path / "memo")
    first, lines1 = _read(path, memo, default_F)
    assert any("non-integer value for l" in line for line in lines1)
    assert len(list((tmp_path / "memo").glob("hkl-*.npz"))) == 1

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(hkl_mod, "_parse", no_parse)
    second, lines2 = _read(path, memo, default_F)
    _same(first, second)
    assert lines2 == lines1
    monkeypatch.undo()
    plain, lines3 = _read(path, None, default_F)  # no memo: the reference
    _same(plain, second)
    assert lines3 == lines2


def test_other_bytes_or_default_F_miss(tmp_path):
    path = tmp_path / "in.hkl"
    path.write_text(TEXT)
    memo = HKLMemo(tmp_path / "memo")
    _read(path, memo)
    path.write_text(TEXT.replace("7\n", "8\n"))
    changed, _ = _read(path, memo)
    assert changed.lookup(-2, 0, 1, 0.0) == 8.0
    _read(path, memo, default_F=1.0)
    assert len(list((tmp_path / "memo").glob("hkl-*.npz"))) == 3


def test_unreadable_entry_is_a_miss_and_unwritable_folder_no_error(tmp_path):
    path = tmp_path / "in.hkl"
    path.write_text(TEXT)
    memo = HKLMemo(tmp_path / "memo")
    first, lines = _read(path, memo)
    entry = memo.path(path.read_bytes(), 0.0, False)
    entry.write_bytes(b"not a memo")
    again, lines2 = _read(path, memo)
    _same(first, again)
    assert lines2 == lines
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    third, _ = _read(path, HKLMemo(blocked / "memo"))
    _same(first, third)


def test_only_the_most_recent_entries_stay(tmp_path):
    memo = HKLMemo(tmp_path / "memo")
    for n in range(KEEP + 3):
        path = tmp_path / f"{n}.hkl"
        path.write_text(f"0 0 {n} 1\n")
        _read(path, memo)
        entry = memo.path(path.read_bytes(), 0.0, False)
        os.utime(entry, (n, n))  # ordered by use
    kept = sorted(p.name for p in (tmp_path / "memo").glob("hkl-*.npz"))
    assert len(kept) == KEEP
    newest = memo.path((tmp_path / f"{KEEP + 2}.hkl").read_bytes(), 0.0, False)
    assert newest.name in kept
    assert all(stat.S_ISREG(p.stat().st_mode) for p in (tmp_path / "memo").iterdir())


def test_cli_run_writes_and_uses_the_memo(tmp_path, monkeypatch):
    """Two runs of the command with the same -hkl: the same stdout and image, the second
    from the memo in the cache folder."""
    from torchbragg.cli.main import run

    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.hkl").write_text(TEXT.replace("0 0 0.5 3\n", "0 0 0 3\n"))
    argv = ("-cell 50 50 50 90 90 90 -hkl in.hkl -N 3 -lambda 1 -distance 50 -detpixels 16 "
            "-nonoise -nopgm -noprogress -compile off -floatfile").split()
    assert run(argv + ["a.bin"]) == 0
    assert len(list((tmp_path / "cache" / "hkl").glob("hkl-*.npz"))) == 1
    monkeypatch.setattr(hkl_mod, "_parse", lambda *a, **k: pytest.fail("parsed again"))
    assert run(argv + ["b.bin"]) == 0
    a = np.fromfile(tmp_path / "a.bin", np.float32)
    b = np.fromfile(tmp_path / "b.bin", np.float32)
    assert a.tobytes() == b.tobytes() and a.any()
