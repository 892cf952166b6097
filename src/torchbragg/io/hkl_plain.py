"""Bulk reading of a plain HKL file: every non-blank line ``h k l F`` (docs/behaviour/formats.md §2).

A plain file uses only digits, ``+``, ``-``, ``.``, spaces and line feeds; each non-blank
line holds four tokens; h, k, l are signed integers of at most nine digits; F is a signed
decimal number with at most one point, at least one digit and fewer than 300 characters.
Such a file passes the strict check of :func:`torchbragg.io.hkl.validate_hkl`, and the C's two
passes read it as the same records (pass 2's ``%d`` gives pass 1's values), so one parse
serves both. The check and the parse are whole-array numpy operations (about 10x faster than
the regular expressions on an 858k-line file); any file that is not plain returns ``None`` and
takes the exact path.
"""
from __future__ import annotations

import numpy as np

_ALLOWED = b"0123456789+-. \n"


def plain_records(data: bytes) -> np.ndarray | None:
    """The file's records as an (n, 4) float64 array (h, k, l, F), or ``None`` when the file
    is not plain (or holds no record)."""
    if not data or data.translate(None, _ALLOWED):
        return None
    u = np.frombuffer(data, dtype=np.uint8)
    newline = u == 10
    blank = newline | (u == 32)
    before = np.empty_like(blank)
    before[0], before[1:] = True, blank[:-1]
    after = np.empty_like(blank)
    after[-1], after[:-1] = True, blank[1:]
    first = ~blank & before  # a token's first character
    starts = np.flatnonzero(first)
    ends = np.flatnonzero(~blank & after)
    if starts.size == 0 or starts.size % 4:
        return None
    per_line = np.bincount(np.cumsum(newline)[starts])
    if ((per_line != 0) & (per_line != 4)).any():
        return None
    sign = (u == 43) | (u == 45)
    if (sign & ~first).any():  # a sign only as a token's first character
        return None
    digits = np.add.reduceat(((u >= 48) & (u <= 57)).astype(np.int64), starts)
    points = np.add.reduceat((u == 46).astype(np.int64), starts)
    length = ends - starts + 1
    index = (np.arange(starts.size) % 4) < 3
    ok_index = (points == 0) & (digits >= 1) & (digits <= 9)
    ok_f = (points <= 1) & (digits >= 1) & (length < 300)
    if not np.where(index, ok_index, ok_f).all():
        return None
    try:
        values = np.fromstring(data, dtype=np.float64, sep=" ")
    except ValueError:
        return None
    if values.size != starts.size:
        return None
    return values.reshape(-1, 4)
