"""Bulk reading of a plain HKL file: every non-blank line ``h k l F`` (docs/behaviour/formats.md §2).

A plain file uses only digits, ``+``, ``-``, ``.``, spaces and line feeds; each non-blank
line holds four tokens; h, k, l are signed integers of at most nine digits; F is a signed
decimal number with at most one point, at least one digit and fewer than 300 characters.
Such a file passes the strict check of :func:`torchbragg.io.hkl.validate_hkl`, and the C's two
passes read it as the same records (pass 2's ``%d`` gives pass 1's values), so one parse
serves both. The check and the parse are one pass of a small C helper (``hkl_native.c``,
≈ 30 ms for an 858k-line file), or where it cannot be built whole-array numpy operations
(≈ 0.3–0.45 s; about 10x faster than the regular expressions), with the same values; any file
that is not plain returns ``None`` and takes the exact path.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Optional

import numpy as np

from torchbragg import native

_ALLOWED = b"0123456789+-. \n"
#: bytes per step of :func:`plain_records` (whole lines)
STEP = 1 << 20
#: tokens up to this many characters are converted by :func:`_short_decimals`
SHORT = 24
#: 10^0 … 10^22, each exact in binary64
_POW10 = np.array([float(10 ** i) for i in range(23)])


def plain_records(data: bytes) -> np.ndarray | None:
    """The file's records as an (n, 4) float64 array (h, k, l, F), or ``None`` when the file
    is not plain (or holds no record): by the C helper, else :func:`numpy_records`."""
    if not data or data.translate(None, _ALLOWED):
        return None
    fn = _native_reader()
    if fn is not None:
        out = np.empty(4 * (data.count(b"\n") + 1), dtype=np.float64)
        count = fn(data, len(data), out.ctypes.data, out.size)
        return out[:count].reshape(-1, 4) if count > 0 else None
    return numpy_records(data)


def numpy_records(data: bytes) -> np.ndarray | None:
    """:func:`plain_records` by whole-array numpy operations (``data`` holds only the plain
    characters).

    Read in steps of whole lines of about :data:`STEP` bytes (each line's tokens are
    checked and converted on their own): the temporaries stay small and are reused, where
    the whole file at once touched ≈ 400 MB of fresh memory for crystal.hkl (13 MB), whose
    page faults cost more than the parse on a virtual machine."""
    u = np.frombuffer(data, dtype=np.uint8)
    parts = []
    a = 0
    while a < u.size:
        b = data.find(b"\n", min(a + STEP, u.size) - 1) + 1 or u.size  # after a line feed
        values = _step_values(data[a:b], u[a:b])
        if values is None:
            return None
        parts.append(values)
        a = b
    values = np.concatenate(parts)
    return values.reshape(-1, 4) if values.size else None


def _step_values(data: bytes, u: np.ndarray) -> np.ndarray | None:
    """The tokens of whole lines ``data`` (``u``: its bytes) as a flat float64 array, or
    ``None`` when they are not plain."""
    newline = u == 10
    blank = newline | (u == 32)
    before = np.empty_like(blank)
    before[0], before[1:] = True, blank[:-1]
    after = np.empty_like(blank)
    after[-1], after[:-1] = True, blank[1:]
    first = ~blank & before  # a token's first character
    starts = np.flatnonzero(first)
    ends = np.flatnonzero(~blank & after)
    if starts.size == 0:
        return np.empty(0)
    # tokens per line: those before each line feed, less those before the previous one
    lines = np.searchsorted(starts, np.append(np.flatnonzero(newline), u.size))
    per_line = np.diff(lines, prepend=0)
    if ((per_line != 0) & (per_line != 4)).any():
        return None
    sign = (u == 43) | (u == 45)
    if (sign & ~first).any():  # a sign only as a token's first character
        return None
    digits = np.add.reduceat(((u >= 48) & (u <= 57)).view(np.uint8), starts, dtype=np.int32)
    points = np.add.reduceat((u == 46).view(np.uint8), starts, dtype=np.int32)
    length = ends - starts + 1
    index = (np.arange(starts.size) % 4) < 3
    ok_index = (points == 0) & (digits >= 1) & (digits <= 9)
    ok_f = (points <= 1) & (digits >= 1) & (length < 300)
    if not np.where(index, ok_index, ok_f).all():
        return None
    values = _short_decimals(u, starts, length) if digits.max() <= 15 else None
    if values is None:
        try:
            values = np.fromstring(data, dtype=np.float64, sep=" ")
        except ValueError:
            return None
        if values.size != starts.size:
            return None
    return values


def _short_decimals(u: np.ndarray, starts: np.ndarray, length: np.ndarray) -> np.ndarray | None:
    """The tokens' values (checked plain, at most 15 digits each), or None when a token is
    longer than :data:`SHORT` characters.

    Each token's digits make an integer m < 10^15 (exact in binary64) with f ≤ 22 digits after
    the point; m / 10^f is then one correctly rounded division of exact operands: the value
    that strtod gives (the C's ``%lg``)."""
    if length.max() > SHORT:
        return None
    mantissa = np.zeros(starts.size, dtype=np.int64)
    fraction = np.zeros(starts.size, dtype=np.int64)
    seen_point = np.zeros(starts.size, dtype=bool)
    padded = np.concatenate([u, np.full(SHORT, 32, dtype=np.uint8)])
    for c in range(int(length.max())):
        b = padded[starts + c]
        inside = length > c
        digit = inside & (b >= 48) & (b <= 57)
        mantissa = np.where(digit, mantissa * 10 + (b.astype(np.int64) - 48), mantissa)
        fraction += digit & seen_point
        seen_point |= inside & (b == 46)
    values = mantissa.astype(np.float64) / _POW10[fraction]
    return np.where(u[starts] == 45, -values, values)


def plain_extent(rec: np.ndarray) -> tuple | None:
    """((h_min, h_max), (k_min, k_max), (l_min, l_max)) of :func:`plain_records`' records
    ``rec`` as floats, by the C helper in one pass; None where it is not loaded (the caller
    then takes numpy's min and max: the same values)."""
    lib = _native_lib()
    if lib is None:
        return None
    rec = np.ascontiguousarray(rec, dtype=np.float64)
    lo, hi = np.empty(3), np.empty(3)
    lib.tb_hkl_extent(rec.ctypes.data, rec.shape[0], lo.ctypes.data, hi.ctypes.data)
    return tuple((float(a), float(b)) for a, b in zip(lo, hi))


def store_plain(grid: np.ndarray, rec: np.ndarray, origin) -> bool:
    """Store :func:`plain_records`' records ``rec`` into ``grid`` (C-contiguous float64, node
    [0, 0, 0] at index ``origin``) in record order, the last of duplicate indices winning,
    records outside the grid skipped, by the C helper; False (nothing stored) where it is
    not loaded."""
    lib = _native_lib()
    if lib is None or not grid.flags.c_contiguous or grid.dtype != np.float64:
        return False
    rec = np.ascontiguousarray(rec, dtype=np.float64)
    lib.tb_hkl_store(rec.ctypes.data, rec.shape[0], grid.ctypes.data, *grid.shape,
                     *(int(o) for o in origin))
    return True


_lock = threading.Lock()
_lib = [None, False]  # (the loaded helper, or None; whether loading was tried)


def _native_reader() -> Optional[ctypes._CFuncPtr]:
    """The helper's reader, or None where the helpers are forbidden or it cannot be built."""
    lib = _native_lib()
    return None if lib is None else lib.tb_hkl_plain


def _native_lib() -> Optional[ctypes.CDLL]:
    """The helper, or None where the helpers are forbidden or it cannot be built or loaded."""
    if not native.enabled():
        return None
    with _lock:
        if not _lib[1]:
            _lib[1] = True
            try:
                lib = ctypes.CDLL(str(native.build_helper(native.HKL_HELPER)))
                i64, ptr = ctypes.c_int64, ctypes.c_void_p
                lib.tb_hkl_plain.restype = i64
                lib.tb_hkl_plain.argtypes = [ctypes.c_char_p, i64, ptr, i64]
                lib.tb_hkl_extent.restype = None
                lib.tb_hkl_extent.argtypes = [ptr, i64, ptr, ptr]
                lib.tb_hkl_store.restype = None
                lib.tb_hkl_store.argtypes = [ptr, i64, ptr, i64, i64, i64, i64, i64, i64]
                _lib[0] = lib
            except Exception:  # no compiler, failed build or load: numpy
                pass
        return _lib[0]
