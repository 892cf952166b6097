"""Structure-factor cache (docs/behaviour/formats.md §3)."""
from __future__ import annotations

import struct

import numpy as np

from torchbragg.io.fdump import fdump_bytes, read_fdump, write_fdump
from torchbragg.io.hkl import SFTable, read_hkl


def _example(tmp_path):
    p = tmp_path / "ex.hkl"
    p.write_text("0 0 0 10\n1 0 0 20\n-1 2 0 30\n0 0 1 40\n1 0 0 25\n")
    return read_hkl(p, 0.0, None)


def test_spec_example_bytes(tmp_path):
    t = _example(tmp_path)
    data = fdump_bytes(t)
    assert len(data) == 398
    assert data[:14] == b"-1 1 0 2 0 1\n\f"
    body = np.frombuffer(data[14:], dtype="<f8").reshape(4, 4, 3)
    assert body[2, 0, 0] == 25  # F(1,0,0), h index 1 - h_min
    assert body[1, 0, 0] == 10 and body[0, 2, 0] == 30 and body[1, 0, 1] == 40
    assert (body[3] == 0).all() and (body[:, 3] == 0).all() and (body[:, :, 2] == 0).all()


def test_write_read_roundtrip(tmp_path):
    t = _example(tmp_path)
    out = tmp_path / "Fdump.bin"
    write_fdump(out, t)
    assert out.read_bytes() == fdump_bytes(t)
    back = read_fdump(out)
    assert (back.h_min, back.h_max, back.k_min, back.k_max, back.l_min, back.l_max) == \
        (-1, 1, 0, 2, 0, 1)
    np.testing.assert_array_equal(back.grid, t.grid)
    assert back.count == 3 * 3 * 2


def test_missing_file_gives_none(tmp_path):
    assert read_fdump(tmp_path / "nope.bin") is None


def test_whitespace_skip_quirk_shifts_body(tmp_path):
    grid = np.zeros((3, 3, 3))
    grid[0, 0, 0] = 1.0000000000000022  # bytes 0a 00 00 00 00 00 f0 3f
    grid[0, 0, 1] = 5.0
    assert struct.pack("<d", grid[0, 0, 0])[0] == 0x0A
    t = SFTable(0, 1, 0, 1, 0, 1, grid, 8)
    path = tmp_path / "q.bin"
    write_fdump(path, t)
    back = read_fdump(path)
    shifted = np.frombuffer(path.read_bytes()[len(b"0 1 0 1 0 1\n\f") + 1:] + bytes(1), "<f8")
    np.testing.assert_array_equal(back.grid.reshape(-1), shifted)
    assert back.grid[0, 0, 0] != grid[0, 0, 0]


def test_short_body_leaves_zeros_and_reports_rows(tmp_path):
    grid = np.arange(1, 28, dtype=np.float64).reshape(3, 3, 3)
    t = SFTable(0, 1, 0, 1, 0, 1, grid, 8)
    data = fdump_bytes(t)
    path = tmp_path / "short.bin"
    header = len(b"0 1 0 1 0 1\n\f")
    path.write_bytes(data[:header + 8 * 4 + 3])  # one full row, one double of the next, 3 bytes
    errs: list[str] = []
    back = read_fdump(path, errs.append)
    flat = back.grid.reshape(-1)
    assert flat[:4].tolist() == [1, 2, 3, 4] and (flat[5:] == 0).all()
    assert len(errs) == 9 - 2 and all(e.startswith("fscanf: ") for e in errs)


def test_golden_fdump_roundtrip(golden_dir, tmp_path):
    case = golden_dir / "sparse_hkl_default_F_fdump"
    ref = (case / "Fdump.bin").read_bytes()
    t = read_fdump(case / "Fdump.bin")
    assert t.count == t.h_range * t.k_range * t.l_range == 16
    out = tmp_path / "Fdump.bin"
    write_fdump(out, t)
    assert out.read_bytes() == ref
    # and the HKL reader with the case's -default_F produces the same cache
    assert fdump_bytes(read_hkl(golden_dir / "inputs" / "sparse.hkl", 10.0, None)) == ref
