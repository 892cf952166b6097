"""The bulk reader of plain HKL files gives exactly the exact two-pass reader's records, and
declines (``None``) every file that is not plain, which then takes the exact path."""
from __future__ import annotations

import random

import numpy as np
import pytest

from torchbragg.io import hkl, hkl_plain
from torchbragg.io.hkl_plain import plain_records


def _index(rng):
    text = str(rng.randint(-999_999_999, 999_999_999) if rng.random() < 0.05
               else rng.randint(-40, 40))
    if rng.random() < 0.1:
        text = ("+" if not text.startswith("-") else "") + text
    if rng.random() < 0.05 and not text.startswith(("-", "+")):
        text = "00" + text[-7:]
    return text


def _value(rng):
    forms = [lambda: f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 17)}f}",
             lambda: str(rng.randint(0, 10**12)),
             lambda: f".{rng.randint(0, 10**6)}", lambda: f"{rng.randint(0, 99)}.",
             lambda: "-0", lambda: "+0.000",
             lambda: "9" * 40 + "." + "1" * 30]
    return rng.choice(forms)()


def _plain_file(rng):
    lines = []
    for _ in range(rng.randint(1, 60)):
        if rng.random() < 0.1:
            lines.append(" " * rng.randint(0, 3))
            continue
        seps = [" " * rng.randint(1, 3) for _ in range(3)]
        tokens = [_index(rng), _index(rng), _index(rng), _value(rng)]
        lines.append(" " * rng.randint(0, 2) + "".join(t + s for t, s in zip(tokens, seps))
                     + tokens[3] + " " * rng.randint(0, 2))
    text = "\n".join(lines) + ("\n" if rng.random() < 0.7 else "")
    return text.encode()


@pytest.mark.parametrize("step", [1 << 20, 5])  # (5: a step per line or two)
@pytest.mark.parametrize("seed", range(40))
def test_plain_files_read_as_the_exact_passes(seed, step, monkeypatch):
    monkeypatch.setattr(hkl_plain, "STEP", step)
    data = _plain_file(random.Random(seed))
    plain = plain_records(data)
    if not data.split():
        assert plain is None
        return
    assert plain is not None
    hkl.validate_hkl(data, "f")  # a plain file passes the strict check
    assert plain.tobytes() == hkl._pass1(data).tobytes()
    idx, fvals = hkl._pass2(data)
    assert np.array_equal(idx, plain[:, :3].astype(np.int64))
    assert fvals.tobytes() == plain[:, 3].tobytes()


@pytest.mark.parametrize("text", [
    b"1 2 3 4.5\t\n",            # a tab
    b"1 2 3 4e5\n",               # an exponent
    b"1 2 3.0 4\n",               # an index with a point
    b"1234567890 0 0 1\n",        # ten digits
    b"1 2 3\n",                   # three tokens
    b"1 2 3 4 5\n",               # five
    b"1 2 3 4\n5 6 7\n8\n",       # regrouped tokens
    b"1-2 0 0 1\n",               # a sign inside a token
    b"- 0 0 1\n", b"1 2 3 .\n",  # no digit
    b"1 2 3 1.2.3\n",             # two points
    b"# comment\n1 2 3 4\n",
    b"1 2 3 4\r\n",               # a carriage return
    b"", b" \n \n",
])
@pytest.mark.parametrize("step", [1 << 20, 5])
def test_files_that_are_not_plain_are_declined(text, step, monkeypatch):
    monkeypatch.setattr(hkl_plain, "STEP", step)
    assert plain_records(text) is None


def test_read_hkl_uses_the_same_records_either_way(tmp_path, monkeypatch):
    path = tmp_path / "p.hkl"
    rng = random.Random(7)
    path.write_text("".join(f"{rng.randint(-9, 9)} {rng.randint(-9, 9)} {rng.randint(0, 9)} "
                            f"{rng.uniform(0, 100):.{rng.randint(0, 12)}f}\n" for _ in range(500)))
    fast = hkl.read_hkl(path, default_F=3.0, strict=True)
    monkeypatch.setattr(hkl, "plain_records", lambda data: None)
    exact = hkl.read_hkl(path, default_F=3.0, strict=True)
    assert fast.grid.tobytes() == exact.grid.tobytes()
    assert (fast.h_min, fast.h_max, fast.k_min, fast.l_max, fast.count) == \
        (exact.h_min, exact.h_max, exact.k_min, exact.l_max, exact.count)


def test_short_tokens_convert_as_strtod():
    """Tokens of at most 15 digits take the m / 10^f conversion: the bits of a correctly
    rounded conversion (numpy's, strtod's), over the forms of a plain file."""
    rng = random.Random(11)
    forms = [lambda: f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 10)}f}",
             lambda: f"{rng.randint(0, 10 ** 15 - 1)}",
             lambda: f"0.{rng.randint(0, 10 ** 14):014d}", lambda: f".{rng.randint(0, 10 ** 6)}",
             lambda: f"{rng.randint(0, 99)}.", lambda: f"-{rng.randint(0, 9)}.{rng.randint(0, 9)}",
             lambda: "-0", lambda: "+0.000", lambda: "000123.4500",
             lambda: f"{rng.randint(1, 10 ** 7)}.{rng.randint(0, 10 ** 8 - 1):08d}"]
    lines = [f"{rng.randint(-99, 99)} {rng.randint(-9, 9)} -0 {rng.choice(forms)()}"
             for _ in range(5000)]
    data = ("\n".join(lines) + "\n").encode()
    plain = plain_records(data)
    assert plain is not None
    assert plain.tobytes() == np.fromstring(data, dtype=np.float64, sep=" ").tobytes()
    assert plain.tobytes() == hkl._pass1(data).tobytes()
