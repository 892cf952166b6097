"""HKL text input (``-hkl``), docs/behaviour/formats.md §2: two passes over a stream of ``h k l F``
records.

Pass 1 reads records as four ``%lg`` numbers to find the index extremes and the record count;
pass 2 re-reads them as ``%d %d %d %lg`` and stores F. Both passes stop silently at the first
record that does not convert; line breaks carry no meaning. The common case (a file of plain
decimal tokens) is handled in bulk by a regular expression and numpy; the first record that
is not plain is handed to an exact emulation of the C library scanner (:mod:`.cscan`), which
continues from there, so odd tokens keep the C's prefix semantics.
"""
from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from torchbragg.errors import InputError
from torchbragg.io import cscan
from torchbragg.io.files import read_input
from torchbragg.io.hkl_plain import plain_extent, plain_records, store_plain
from torchbragg.io.sftable import MAX_GRID_ENTRIES, SFTable

if TYPE_CHECKING:
    from torchbragg.io.hkl_memo import HKLMemo

#: Initial extremes (C ``int`` variables).
EXTREME = 1_000_000_000

_F = rb"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_I = rb"[+-]?\d{1,9}"
_END = rb"(?![^ \t\n\v\f\r])"
# possessive quantifiers (Python >= 3.11) avoid useless backtracking; same matches either way
_POS = b"+" if sys.version_info >= (3, 11) else b""
_SP = rb"[ \t\n\v\f\r]*" + _POS
_SP1 = rb"[ \t\n\v\f\r]+" + _POS
#: Runs of records made of plain tokens (pass 1: four floats; pass 2: three ints and a float).
#: A plain token is one that the C scanner consumes entirely, with the value Python's float()
#: gives (both round correctly).
_PASS1_RUN = re.compile(rb"(?:" + _SP + (_F + _SP1) * 3 + _F + _END + rb")*" + _POS)
_PASS2_RUN = re.compile(rb"(?:" + _SP + (_I + _SP1) * 3 + _F + _END + rb")*" + _POS)

def _scan_records_float(data: bytes, pos: int) -> list[tuple[float, float, float, float]]:
    """Exact pass-1 scanning from ``pos``: ``%lg%lg%lg%lg`` until fewer than four convert."""
    out = []
    while True:
        rec = []
        for _ in range(4):
            status, value, pos = cscan.scan_double(data, pos)
            if status != cscan.OK:
                return out
            rec.append(value)
        out.append(tuple(rec))


def _scan_records_int(data: bytes, pos: int) -> list[tuple[int, int, int, float]]:
    """Exact pass-2 scanning from ``pos``: ``%d%d%d%lg`` until fewer than four convert."""
    out = []
    while True:
        rec = []
        for n in range(4):
            if n < 3:
                status, value, pos = cscan.scan_int(data, pos)
            else:
                status, value, pos = cscan.scan_double(data, pos)
            if status != cscan.OK:
                return out
            rec.append(value)
        out.append(tuple(rec))


def _pass1(data: bytes) -> np.ndarray:
    """All pass-1 records as an (n, 4) float64 array."""
    end = _PASS1_RUN.match(data).end()
    fast = np.array(list(map(float, data[:end].split())), dtype=np.float64).reshape(-1, 4)
    rest = _scan_records_float(data, end)
    if rest:
        fast = np.concatenate([fast, np.array(rest, dtype=np.float64).reshape(-1, 4)])
    return fast


def _pass2(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """All pass-2 records: (n, 3) int64 indices and (n,) float64 F values."""
    end = _PASS2_RUN.match(data).end()
    tokens = data[:end].split()
    idx = np.array(list(map(int, tokens[0::4] + tokens[1::4] + tokens[2::4])),
                   dtype=np.int64).reshape(3, -1).T
    fvals = np.array(list(map(float, tokens[3::4])), dtype=np.float64)
    rest = _scan_records_int(data, end)
    if rest:
        idx = np.concatenate([idx, np.array([r[:3] for r in rest], dtype=np.int64)])
        fvals = np.concatenate([fvals, np.array([r[3] for r in rest], dtype=np.float64)])
    return idx, fvals


def _extremes(col: np.ndarray) -> tuple[int, int]:
    """C update rule: compare in floating point, store the value truncated toward zero."""
    finite = col[np.isfinite(col)]
    if finite.size == col.size and (finite.size == 0 or np.abs(finite).max() < 2.0**31):
        # truncation is monotone, so the sequential result is trunc(min) / trunc(max)
        return _from_min_max(float(col.min()), float(col.max())) if col.size \
            else (EXTREME, -EXTREME)
    lo, hi = EXTREME, -EXTREME
    for x in col.tolist():
        if x < lo:
            lo = cscan.c_trunc_int(x)
        if x > hi:
            hi = cscan.c_trunc_int(x)
    return lo, hi


def _from_min_max(mn: float, mx: float) -> tuple[int, int]:
    """:func:`_extremes` of finite values below 2^31 in magnitude from their min and max."""
    return (int(mn) if mn < EXTREME else EXTREME, int(mx) if mx > -EXTREME else -EXTREME)


#: A whole file of strictly valid records (one per line, blank lines allowed).
_STRICT_LINE = (rb"[ \t\r\f\v]*(?:(?:[+-]?0*\d{1,9}[ \t\f\v]+){3}"
                rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\r\f\v]*)?")
_STRICT_FILE = re.compile(rb"(?:" + _STRICT_LINE + rb"\n)*" + _STRICT_LINE)
_BIG_EXPONENT = re.compile(rb"[eE][+-]?0*\d{3}|\d{300}")


def validate_hkl(data: bytes, name: str) -> None:
    """Strict check of an HKL file: one ``h k l F`` record per line, h k l whole
    numbers, F a finite number; blank lines allowed; at least one record.

    The C reads the file as a token stream and stops silently at the first record it cannot
    convert (a comment, an index written ``1.0``), or regroups the tokens of a file with extra
    columns: both give a plausible-looking wrong image. Files that pass this check are read
    identically by the C's two passes. Raises :class:`InputError` naming the file and line.
    """
    if _STRICT_FILE.fullmatch(data) and not _BIG_EXPONENT.search(data):
        if not data.strip():
            raise InputError(f"{name}: no reflections in the file (expected lines of h k l F)")
        return
    records = 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        tokens = line.split()
        if not tokens and not line.replace(b"\r", b"").strip(b" \t\f\v"):
            continue
        _check_hkl_line(tokens, f"{name} line {lineno}")
        records += 1
    if records == 0:
        raise InputError(f"{name}: no reflections in the file (expected lines of h k l F)")


def _check_hkl_line(tokens: list, where: str) -> None:
    for k, tok in enumerate(tokens[:4]):
        label = "hklF"[k]
        if k < 3:
            if cscan.STRICT_INT.fullmatch(tok):
                if abs(int(tok)) >= 10**9:
                    raise InputError(f"{where}: Miller index {label} = {tok.decode()} out of range")
                continue
            if cscan.strict_float(tok) is not None:
                raise InputError(f"{where}: Miller index {label} = {tok.decode()} is not a "
                                 "whole number")
            raise InputError(f"{where}: {cscan.show(tok)} is not a number (expected h k l F)")
        if cscan.strict_float(tok) is None:
            raise InputError(f"{where}: structure factor {cscan.show(tok)} is not a finite number")
    if len(tokens) < 4:
        raise InputError(f"{where}: {len(tokens)} values, expected 4 (h k l F)")
    if len(tokens) > 4:
        raise InputError(f"{where}: {len(tokens)} values, expected 4 (h k l F); extra columns "
                         "would be misread")


def read_hkl(path: str | os.PathLike, default_F: float = 0.0,
             log: Callable[[str], None] | None = None, strict: bool = False,
             memo: Optional["HKLMemo"] = None) -> SFTable:
    """Read an HKL text file exactly as the C reference does (docs/behaviour/formats.md §2).

    ``default_F`` (electrons) pre-fills the addressable part of the grid when non-zero.
    ``log`` receives each stdout line the C prints, in order (docs/behaviour/cli.md §8 row 26,
    without the dump-file line, which belongs to the cache writer). Raises
    :class:`~torchbragg.errors.InputError` when the file cannot be opened
    (``ERROR: unable to open FILE.``), when no record is read (``ERROR: not enough HKL
    indices in FILE``, after the three ``h:``/``k:``/``l:`` lines have gone through ``log``)
    or when the grid is too large to allocate. ``strict`` (the CLI) first applies
    :func:`validate_hkl`. ``memo`` (:class:`~torchbragg.io.hkl_memo.HKLMemo`) keeps parsed
    files: the same bytes read again give the same table and lines without a parse.
    """
    log = log or (lambda line: None)
    name = os.fspath(path)
    data = _file_bytes(name, strict)
    known = memo.get(data, default_F, strict) if memo is not None else None
    if known is not None:
        table, warnings = known
        log(f"counting entries in {name}")
        for line in warnings + _initializing_lines(default_F):
            log(line)
        log(f"re-reading {name}")
        return table
    warnings: list = []

    def warn(line: str) -> None:
        warnings.append(line)
        log(line)

    table = _parse(data, name, default_F, log, warn, strict)
    if memo is not None:
        memo.put(data, default_F, strict, table, warnings)
    return table


def _file_bytes(name: str, strict: bool) -> bytes:
    try:
        return read_input(name)
    except IsADirectoryError as exc:
        if strict:
            raise InputError(f"-hkl {name}: is a folder") from exc
        return b""  # fopen() succeeds on a directory; every read then fails
    except OSError as exc:
        if strict:
            raise InputError(f"-hkl {name}: cannot open: {exc.strerror}") from exc
        raise InputError(f"ERROR: unable to open {name}.") from exc


def _initializing_lines(default_F: float) -> list:
    if default_F == 0:
        return []
    return [f"initializing to default_F = {default_F:g}:", "done initializing:"]


def _parse(data: bytes, name: str, default_F: float, log, warn, strict: bool) -> SFTable:
    """:func:`read_hkl` on the file's bytes; ``warn`` gets the non-integer warnings."""
    plain = plain_records(data)  # (a plain file passes the strict check; one parse for both)
    if strict and plain is None:
        validate_hkl(data, f"-hkl {name}")

    log(f"counting entries in {name}")
    rec = _pass1(data) if plain is None else plain
    hkls = int(rec.shape[0])
    if plain is None:  # (a plain file's indices are whole numbers: nothing to warn of)
        _warn_non_integers(rec, warn)
    (h_min, h_max), (k_min, k_max), (l_min, l_max) = _extents(rec, plain is not None)
    h_range, k_range, l_range = h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1
    if h_range < 0 or k_range < 0 or l_range < 0:
        log(f"h: {h_min} - {h_max}")
        log(f"k: {k_min} - {k_max}")
        log(f"l: {l_min} - {l_max}")
        raise InputError(f"ERROR: not enough HKL indices in {name}")
    shape = (h_range + 1, k_range + 1, l_range + 1)
    if shape[0] * shape[1] * shape[2] > MAX_GRID_ENTRIES:
        raise InputError(f"ERROR: cannot allocate a {shape[0]}x{shape[1]}x{shape[2]} "
                         f"structure-factor grid for {name}")
    try:
        grid = np.zeros(shape, dtype=np.float64)
    except MemoryError as exc:
        raise InputError(f"ERROR: cannot allocate structure-factor grid for {name}") from exc
    if default_F != 0:
        grid[:h_range, :k_range, :l_range] = default_F
    for line in _initializing_lines(default_F):
        log(line)

    log(f"re-reading {name}")
    origin = (h_min, k_min, l_min)
    if plain is not None:  # (pass 2 reads pass 1's records; at least one)
        last = plain[-1].tolist()
        leftovers = (tuple(last[:3]), (*map(int, last[:3]), last[3]))
        if not store_plain(grid, plain, origin):
            _store(grid, plain[:, :3].astype(np.int64), plain[:, 3], origin)
        return SFTable(h_min, h_max, k_min, k_max, l_min, l_max, grid, hkls, leftovers)
    idx, fvals = _pass2(data)
    leftovers = None  # what the reader leaves in the C's h, k, l, F_cell, l0 (-printout)
    if hkls:
        pass2 = (0, 0, 0, 0.0) if not fvals.size else (*map(int, idx[-1]), float(fvals[-1]))
        leftovers = (tuple(float(x) for x in rec[-1, :3]), pass2)
    if fvals.size:
        _store(grid, idx, fvals, origin)
    return SFTable(h_min, h_max, k_min, k_max, l_min, l_max, grid, hkls, leftovers)


def _warn_non_integers(rec: np.ndarray, warn) -> None:
    """Pass 1's non-integer warnings, in record order, h then k then l."""
    idx3 = rec[:, :3]
    bad = np.nonzero((idx3 != np.floor(idx3)).any(axis=1))[0]
    for n in bad.tolist():
        for axis, label in enumerate("hkl"):
            x = float(rec[n, axis])
            if x != np.floor(x):
                warn(f"WARNING: non-integer value for {label} ({x:g}) at line {n:d}")


def _extents(rec: np.ndarray, plain: bool) -> tuple:
    """(min, max) of h, k and l by :func:`_extremes`' rule; a plain file's whole indices
    below 10^9 take its fast case, from the C helper's one pass where it is loaded."""
    found = plain_extent(rec) if plain else None
    if found is None:
        return tuple(_extremes(rec[:, a]) for a in range(3))
    return tuple(_from_min_max(lo, hi) for lo, hi in found)


def _store(grid: np.ndarray, idx: np.ndarray, fvals: np.ndarray, origin) -> None:
    """Pass 2's stores into ``grid``: the last of duplicate indices wins."""
    shape = grid.shape
    off = idx - np.array(origin, dtype=np.int64)
    # stores that fall outside the allocation (possible only when pass 2 re-aligns
    # differently from pass 1) would corrupt memory in the C; they are dropped here
    ok = ((off >= 0) & (off < np.array(shape, dtype=np.int64))).all(axis=1)
    off, fvals = off[ok], fvals[ok]
    lin = np.ravel_multi_index(tuple(off.T), shape)
    if np.bincount(lin, minlength=1).max() <= 1:  # (no index twice: the common case)
        grid.reshape(-1)[lin] = fvals
        return
    rev_lin = lin[::-1]
    uniq, first_in_rev = np.unique(rev_lin, return_index=True)
    grid.reshape(-1)[uniq] = fvals[::-1][first_in_rev]
