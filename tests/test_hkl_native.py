"""The C reader of plain HKL files (io/hkl_native.c) gives the numpy reader's records."""
from __future__ import annotations

import random

import numpy as np
import pytest

from torchbragg import native
from torchbragg.io import hkl_plain

CASES = [
    b"1 2 3 4.5\n", b"-0 0 -0 -0.0\n", b"1 2 3 4", b"\n\n1 2 3 4\n\n", b"1 2 3\n",
    b"1 2 3 4 5\n", b"1.0 2 3 4\n", b"1 2 3 1.2.3\n", b"1 2 3 +\n", b"1 2 3 -.5\n",
    b"1 2 3 5.\n", b"1 2 3 1-2\n", b"1234567890 2 3 4\n", b"123456789 -2 +3 4\n",
    b"1 2 3 1234567890123456789.123456789\n", b"1 2 3 0.1234567890123456\n",
    b"1 2 3 " + b"9" * 299 + b"\n", b"1 2 3 " + b"9" * 300 + b"\n",
    b"1 2 3 0.00000000000000000000001\n", b" 1  2 3 4 \n 5 6 7 8", b"1 2 3 .", b"\n \n",
    b"1 2 3 4\n5 6 7\n", b"+1 -2 +3 +4.25\n",
]


@pytest.fixture
def reader():
    if hkl_plain._native_reader() is None:
        pytest.skip("the native HKL reader cannot be built here (no C compiler)")


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


@pytest.mark.parametrize("data", CASES)
def test_the_native_reader_gives_the_numpy_readers_records(data, reader):
    assert _same(hkl_plain.plain_records(data), hkl_plain.numpy_records(data))


def test_a_random_plain_file_reads_alike(reader):
    rng = random.Random(7)
    lines = []
    for _ in range(20000):
        h, k, l = (rng.randint(-999, 999) for _ in range(3))
        F = rng.choice([f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 12)}f}",
                        str(rng.randint(0, 10 ** 17)), f"{rng.random():.20f}"])
        lines.append(f"{' ' * rng.randint(0, 2)}{h} {k}  {l} {F}" + " " * rng.randint(0, 1))
        if rng.random() < 0.01:
            lines.append("")
    data = "\n".join(lines).encode()
    fast = hkl_plain.plain_records(data)
    assert fast is not None and fast.shape == (20000, 4)
    assert _same(fast, hkl_plain.numpy_records(data))


def test_without_the_helpers_the_numpy_reader_runs(monkeypatch):
    monkeypatch.setattr(hkl_plain, "numpy_records", lambda data: "numpy")
    with native.use_native(False):
        assert hkl_plain.plain_records(b"1 2 3 4\n") == "numpy"


def test_a_plain_table_reads_alike_with_and_without_the_helper(tmp_path, reader):
    """The helper's extents and stores (in record order: the last of duplicate indices wins)
    give the numpy path's table: grid bytes, extents, count, the reader's leftovers."""
    from torchbragg.io.hkl import read_hkl

    rng = random.Random(11)
    lines = [f"{rng.randint(-7, 5)} {rng.randint(-3, 9)} {rng.randint(-6, 6)} "
             f"{rng.uniform(0, 500):.{rng.randint(0, 9)}f}" for _ in range(3000)]
    lines.append(lines[5].rsplit(" ", 1)[0] + " 123.25")  # (a duplicate, stored last)
    path = tmp_path / "dup.hkl"
    path.write_text("\n".join(lines) + "\n")
    fast = read_hkl(path, default_F=7.5)
    with native.use_native(False):
        slow = read_hkl(path, default_F=7.5)
    h, k, l = (int(x) for x in lines[5].split()[:3])
    assert fast.grid[h - fast.h_min, k - fast.k_min, l - fast.l_min] == 123.25
    assert np.array_equal(fast.grid.view(np.int64), slow.grid.view(np.int64))
    assert ((fast.h_min, fast.h_max, fast.k_min, fast.k_max, fast.l_min, fast.l_max, fast.count,
             fast.reader_leftovers) == (slow.h_min, slow.h_max, slow.k_min, slow.k_max,
                                        slow.l_min, slow.l_max, slow.count,
                                        slow.reader_leftovers))


def test_the_helpers_extent_and_store_are_the_ones_used(monkeypatch, tmp_path, reader):
    """A plain table's extents and stores are the helper's (not numpy's) where it loads."""
    from torchbragg.io import hkl

    calls = []
    for name in ("plain_extent", "store_plain"):
        real = getattr(hkl, name)
        monkeypatch.setattr(hkl, name, lambda *a, _f=real, _n=name: calls.append(_n) or _f(*a))
    path = tmp_path / "t.hkl"
    path.write_text("1 2 3 4\n-1 0 2 5.5\n")
    table = hkl.read_hkl(path)
    assert calls == ["plain_extent", "store_plain"]
    assert (table.h_min, table.h_max, table.l_min, table.l_max) == (-1, 1, 2, 3)
    assert table.grid[0, 0 - table.k_min, 0] == 5.5 and table.grid[2, 2, 1] == 4.0
