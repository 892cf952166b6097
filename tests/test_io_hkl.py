"""HKL text input (docs/behaviour/formats.md §2), including the quirk table of §2.4."""
from __future__ import annotations

import time

import numpy as np
import pytest

from torchbragg.errors import InputError
from torchbragg.io import cscan
from torchbragg.io.hkl import _pass1, _pass2, _scan_records_float, _scan_records_int, read_hkl


def _read(tmp_path, text, default_F=0.0, name="in.hkl"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    lines: list[str] = []
    table = read_hkl(path, default_F, lines.append)
    return table, lines, str(path)


def _F(table, h, k, l):
    return table.grid[h - table.h_min, k - table.k_min, l - table.l_min]


def test_spec_example_extents_duplicates_and_messages(tmp_path):
    t, lines, p = _read(tmp_path, "0 0 0 10\n1 0 0 20\n-1 2 0 30\n0 0 1 40\n1 0 0 25\n")
    assert (t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max) == (-1, 1, 0, 2, 0, 1)
    assert (t.h_range, t.k_range, t.l_range) == (3, 3, 2)
    assert t.grid.shape == (4, 4, 3) and t.grid.dtype == np.float64
    assert _F(t, 1, 0, 0) == 25  # duplicate: last wins
    assert _F(t, -1, 2, 0) == 30 and _F(t, 0, 0, 1) == 40 and _F(t, 0, 0, 0) == 10
    assert t.count == 5
    assert lines == [f"counting entries in {p}", f"re-reading {p}"]
    assert t.lookup(1, 0, 0, 7.0) == 25 and t.lookup(2, 0, 0, 7.0) == 7.0


def test_default_F_prefill_excludes_extra_slots(tmp_path):
    t, lines, p = _read(tmp_path, "0 0 0 10\n1 1 1 20\n", default_F=3.5)
    assert lines == [f"counting entries in {p}", "initializing to default_F = 3.5:",
                     "done initializing:", f"re-reading {p}"]
    g = t.grid
    assert g.shape == (3, 3, 3)
    assert g[0, 0, 0] == 10 and g[1, 1, 1] == 20 and g[0, 1, 0] == 3.5
    assert (g[2, :, :] == 0).all() and (g[:, 2, :] == 0).all() and (g[:, :, 2] == 0).all()


def test_decimal_point_index_stops_pass2(tmp_path):
    t, lines, p = _read(tmp_path, "0 0 0 1\n1.5 0 0 2\n1 0 0 3\n")
    assert lines[1] == "WARNING: non-integer value for h (1.5) at line 1"
    assert t.count == 3 and (t.h_min, t.h_max) == (0, 1)
    assert _F(t, 0, 0, 0) == 1 and _F(t, 1, 0, 0) == 0  # dropped


def test_all_indices_with_point_zero(tmp_path):
    t, lines, p = _read(tmp_path, "0.0 0.0 0.0 10\n1.0 0.0 0.0 20\n", default_F=4)
    assert not any("WARNING" in line for line in lines)
    assert t.count == 2
    assert t.grid[0, 0, 0] == 4 and t.grid[1, 0, 0] == 4


def test_exponent_index(tmp_path):
    t, _, _ = _read(tmp_path, "1e1 0 0 5\n")
    assert (t.h_min, t.h_max, t.count) == (10, 10, 1)
    assert not t.grid.any()


def test_plus_sign_and_exponent_F(tmp_path):
    t, _, _ = _read(tmp_path, "+1 0 0 2.5e1\n")
    assert _F(t, 1, 0, 0) == 25


def test_extra_columns_are_regrouped(tmp_path):
    # docs/behaviour/formats.md §2.4: a 5-column file produced records (0,0,0,10), (1,1,0,0),
    # (20,2,2,0)
    t, _, _ = _read(tmp_path, "0 0 0 10 1\n1 0 0 20 2\n2 0 0 30 3\n")
    assert t.count == 3
    assert (t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max) == (0, 20, 0, 2, 0, 2)
    assert _F(t, 0, 0, 0) == 10 and _F(t, 1, 1, 0) == 0 and _F(t, 20, 2, 2) == 0


def test_comment_in_the_middle_stops(tmp_path):
    t, _, _ = _read(tmp_path, "1 0 0 1\n# comment\n2 0 0 2\n")
    assert t.count == 1 and (t.h_min, t.h_max) == (1, 1)


def test_negative_indices_and_truncation(tmp_path):
    t, lines, _ = _read(tmp_path, "-3 -2 -1 5\n-1.5 2.7 0 6\n")
    assert (t.h_min, t.h_max) == (-3, -1)
    assert (t.k_min, t.k_max) == (-2, 2)  # 2.7 stored as 2
    assert _F(t, -3, -2, -1) == 5
    assert lines[1:3] == ["WARNING: non-integer value for h (-1.5) at line 1",
                          "WARNING: non-integer value for k (2.7) at line 1"]


def test_line_breaks_carry_no_meaning(tmp_path):
    t, _, _ = _read(tmp_path, "1 2\n3 4 5\n6\n7 8")
    assert t.count == 2 and _F(t, 1, 2, 3) == 4 and _F(t, 5, 6, 7) == 8


@pytest.mark.parametrize("text", ["", "# comment\n1 2 3 4\n", "1 2 3\n"])
def test_no_records(tmp_path, text):
    path = tmp_path / "bad.hkl"
    path.write_text(text)
    lines: list[str] = []
    with pytest.raises(InputError) as info:
        read_hkl(path, 0.0, lines.append)
    assert info.value.exit_status == 9
    assert str(info.value) == f"ERROR: not enough HKL indices in {path}"
    assert lines[1:] == ["h: 1000000000 - -1000000000", "k: 1000000000 - -1000000000",
                         "l: 1000000000 - -1000000000"]


def test_cannot_open(tmp_path):
    with pytest.raises(InputError) as info:
        read_hkl(tmp_path / "missing.hkl", 0.0, None)
    assert info.value.exit_status == 9
    assert "missing.hkl" in str(info.value)


def test_scanf_prefix_semantics_l_index_with_point(tmp_path):
    # %d reads "1" from "1.0"; %lg then reads ".0" as F = 0: the record is stored with F 0
    # and the stream is re-aligned (the C's scanf semantics; see the report).
    t, _, _ = _read(tmp_path, "0 0 1.0 10\n", default_F=5)
    assert t.count == 1 and _F(t, 0, 0, 1) == 0.0


ODD = [
    b"1 2 3 4\n5 6 7 8",
    b"1 2 3 4abc 5 6 7 8",
    b"1.5.3 2 3 4 5 6 7 8",
    b"1-2 3 4 5 6 7 8 9",
    b"1 2 3 1e 4 5 6 7",
    b"1 2 3 0x10 1 2 3 inf 4 5 6 nan 1 2 3 -",
    b"  +1 -2 +3 .5\n 4. 5 6 7e+1\n1 2 3 1e+ 9 9 9",
    b"1 2 3 4 12345678901 2 3 4 -9999999999999999999999 1 1 1",
    b"1 2 3 4\x00 5 6 7 8",
    b"1\t2\v3\f4\r5 6 7 8 1 2 3 4.5e-3",
]


@pytest.mark.parametrize("data", ODD)
def test_fast_path_equals_exact_scanner(data):
    rec = _pass1(data)
    exact = np.array(_scan_records_float(data, 0), dtype=np.float64).reshape(-1, 4)
    np.testing.assert_array_equal(rec, exact)
    idx, fv = _pass2(data)
    ex2 = _scan_records_int(data, 0)
    assert idx.tolist() == [list(r[:3]) for r in ex2]
    np.testing.assert_array_equal(fv, np.array([r[3] for r in ex2], dtype=np.float64))


def test_scanner_details():
    assert cscan.scan_double(b"  1e+", 0) == (cscan.OK, 1.0, 5)
    assert cscan.scan_double(b"abc", 0)[0] == cscan.FAIL
    assert cscan.scan_double(b"   ", 0)[0] == cscan.EOF
    assert cscan.scan_double(b"-x", 0)[0] == cscan.FAIL
    assert cscan.scan_double(b"0x1p4", 0)[:2] == (cscan.OK, 16.0)
    assert cscan.scan_int(b"1.5", 0) == (cscan.OK, 1, 1)
    assert cscan.scan_int(b".5", 0)[0] == cscan.FAIL
    assert cscan.scan_int(b"4294967297", 0)[1] == 1  # (int) of a long: low 32 bits
    assert cscan.strtod_at(b" 12abc", 0) == (12.0, 3)
    assert cscan.strtod_at(b"x", 0) == (0.0, 0)
    assert cscan.atof(b"-inf") == float("-inf")


def test_golden_scaled_hkl_fast(golden_dir):
    path = golden_dir / "inputs" / "scaled.hkl"
    t0 = time.perf_counter()
    t = read_hkl(path, 0.0, None)
    elapsed = time.perf_counter() - t0
    assert (t.h_min, t.h_max, t.k_min, t.k_max, t.l_min, t.l_max) == (-24, 24, -28, 28, -31, 30)
    assert t.count == 64333
    assert _F(t, 23, 15, -1) == 23.0 and _F(t, 23, 14, -1) == 31.39
    assert elapsed < 1.0, elapsed


def test_golden_supervisor_messages(golden_dir):
    # stdout lines of a golden run (relative path as given on its command line)
    import os
    cwd = os.getcwd()
    os.chdir(golden_dir / "supervisor_full")
    try:
        lines: list[str] = []
        read_hkl("../inputs/scaled.hkl", 0.0, lines.append)
    finally:
        os.chdir(cwd)
    stdout = (golden_dir / "supervisor_full" / "stdout.txt").read_text().splitlines()
    start = stdout.index(lines[0])
    assert stdout[start:start + len(lines)] == lines
