"""Multi-column text reader (docs/behaviour/formats.md §5.1) and the quirk table."""
from __future__ import annotations

import math

import pytest

from torchbragg.errors import InputError
from torchbragg.io.columns import CHUNK, parse_columns, read_columns


def _rows(text, ncols=5):
    return parse_columns(text if isinstance(text, bytes) else text.encode(), ncols)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y)
        for u, v in zip(x, y):
            assert (math.isnan(u) and math.isnan(v)) or u == v, (x, y)


NAN = float("nan")


def test_full_and_short_rows():
    _same(_rows("-10 0 0 1.0 6.2e-10\n-10 -0.03 0.03\n"),
          [[-10, 0, 0, 1.0, 6.2e-10], [-10, -0.03, 0.03, NAN, NAN]])


def test_last_line_without_newline_gives_zeros():
    _same(_rows("1 2 3\n4 5 6"), [[1, 2, 3, NAN, NAN], [4, 5, 6, 0, 0]])


def test_crlf_gives_zeros():
    _same(_rows("1 2 3\r\n4 5 6\r\n"), [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]])


def test_comment_line_is_a_record_of_zeros():
    _same(_rows("# comment\n"), [[0, 0, 0, 0, 0]])


def test_text_value_is_zero():
    _same(_rows("x=-10 5\n", 2), [[0, 5]])


def test_mixed_separators():
    _same(_rows("-10,0.01;0\n"), [[-10, 0.01, 0, NAN, NAN]])
    _same(_rows("1:2!3\t4 ,; 5\n"), [[1, 2, 3, 4, 5]])


def test_blank_lines_skipped_but_crlf_only_is_a_record():
    _same(_rows("\n  \t,;\n1 2\n\n", 2), [[1, 2]])
    _same(_rows("\r\n", 2), [[0, 0]])


def test_leading_delimiters_and_trailing_text():
    _same(_rows("  ,1 2 3 4 5 6 7\n"), [[1, 2, 3, 4, 5]])
    _same(_rows("1 2   \n", 3), [[1, 2, NAN]])


def test_long_line_is_split_in_chunks():
    line = "1 " * 6000 + "9\n"  # longer than one chunk
    rows = _rows(line, 2)
    assert len(rows) == 2
    assert rows[0] == [1.0, 1.0] and rows[1] == [1.0, 1.0]
    # exactly 10 239 characters before the newline: the newline alone is a blank chunk
    line = "1 " * (CHUNK // 2) + "9\n"
    assert len(line) == CHUNK + 1
    assert _rows(line, 2) == [[1.0, 1.0]]
    _same(_rows("7" * (CHUNK - 1) + " 5\n", 2), [[float("7" * (CHUNK - 1)), 0.0], [5, NAN]])


def test_two_column_file(tmp_path):
    p = tmp_path / "air.stol"
    p.write_text("0.0 5\n0.1 4.5\n0.2\n")
    _same(read_columns(p, 2), [[0.0, 5], [0.1, 4.5], [0.2, NAN]])


def test_errors(tmp_path):
    with pytest.raises(InputError) as info:
        read_columns(tmp_path / "none.txt", 5)
    assert info.value.exit_status == 9 and "none.txt" in str(info.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(InputError) as info:
        read_columns(empty, 2)
    assert "empty.txt" in str(info.value)


def test_golden_sources(golden_dir):
    rows = read_columns(golden_dir / "inputs" / "sources.txt", 5)
    _same(rows, [[-10, 0, 0, 1.0, 6.2e-10], [-10, 0.05, 0, 0.5, 6.0e-10],
                 [-10, 0, -0.04, 2.0, 6.4e-10], [-10, -0.03, 0.03, NAN, NAN]])
