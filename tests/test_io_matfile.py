"""MOSFLM matrix reader (docs/behaviour/formats.md §4)."""
from __future__ import annotations

from torchbragg.io.matfile import read_mat


def test_nine_numbers_any_layout(tmp_path):
    p = tmp_path / "a.mat"
    p.write_text("0.0100 0.0020 0.0000\n0 0.01 0\n0 0\n0.01\n 1 2 3 U matrix\n 100 100 100\n")
    v = read_mat(p)
    assert v == [0.01, 0.002, 0.0, 0, 0.01, 0, 0, 0, 0.01]
    # group 1 = x components of a*, b*, c*: a* = (0.01, 0, 0), b* = (0.002, 0.01, 0)
    a_star = (v[0], v[3], v[6])
    b_star = (v[1], v[4], v[7])
    assert a_star == (0.01, 0, 0) and b_star == (0.002, 0.01, 0)


def test_missing_file(tmp_path):
    assert read_mat(tmp_path / "none.mat") is None


def test_unparsable_group(tmp_path):
    p = tmp_path / "b.mat"
    p.write_text("1 2 3\nfoo 5 6\n7 8 9\n")
    errs: list[str] = []
    assert read_mat(p, errs.append) == [1, 2, 3, 0, 0, 0, 0, 0, 0]
    assert len(errs) == 2 and all(e.startswith("fscanf: ") for e in errs)


def test_end_of_file_is_silent(tmp_path):
    p = tmp_path / "c.mat"
    p.write_text("1 2 3\n4\n")
    errs: list[str] = []
    assert read_mat(p, errs.append) == [1, 2, 3, 4, 0, 0, 0, 0, 0]
    assert errs == []


def test_golden_matrix(golden_dir):
    v = read_mat(golden_dir / "inputs" / "A.mat")
    assert v == [-0.02837711, -0.00305386, 0.02535816, -0.02871390, 0.01019549, -0.01400049,
                 0.01050048, -0.03209440, -0.01036054]
