"""Generic multi-column text reader of docs/behaviour/formats.md §5.1 (``-sourcefile``,
``-stol``/``-4stol``/``-Q``).

Reproduces the C reader exactly: lines are read in chunks of at most 10 239 characters;
blank lines (only delimiters before the newline) are skipped; every other chunk is a record
whose columns start as NaN and are filled left to right with C ``atof`` values. Because the
end-of-record test looks for a remainder of exactly ``"\\n"``, a last line without a newline
or a CRLF line fills every remaining column with 0 instead of leaving it NaN.
"""
from __future__ import annotations

import os
import re

from torchbragg.errors import InputError
from torchbragg.io import cscan
from torchbragg.io.files import read_input, read_or_fail

DELIMITERS = b" \t,;:!"
NUMBER_CHARS = b"0123456789-+.EGeg"
#: fgets(buf, 10240, f) returns at most 10239 characters.
CHUNK = 10239


def _span(buf: bytes, pos: int, chars: bytes) -> int:
    """``pos + strspn(buf + pos, chars)``."""
    n = len(buf)
    while pos < n and buf[pos] in chars:
        pos += 1
    return pos


def _cspan(buf: bytes, pos: int, chars: bytes) -> int:
    """``pos + strcspn(buf + pos, chars)``."""
    n = len(buf)
    while pos < n and buf[pos] not in chars:
        pos += 1
    return pos


def _chunks(data: bytes):
    """What successive ``fgets(buf, 10240, f)`` calls return."""
    pos, n = 0, len(data)
    while pos < n:
        nl = data.find(b"\n", pos, pos + CHUNK)
        end = nl + 1 if nl >= 0 else min(pos + CHUNK, n)
        yield data[pos:end]
        pos = end


def parse_record(line: bytes, ncols: int) -> list[float] | None:
    """One chunk → ``ncols`` values (NaN = missing), or ``None`` for a blank line."""
    line = line.split(b"\0", 1)[0]  # C string functions stop at a NUL byte
    pos = _span(line, 0, DELIMITERS)
    if line[pos:] == b"\n":
        return None
    values = [float("nan")] * ncols
    for col in range(ncols):
        if line[pos:] == b"\n":
            break
        values[col] = cscan.atof(line, pos)
        pos = _span(line, pos, NUMBER_CHARS)
        if line[pos:] == b"\n":
            break
        pos = _cspan(line, pos, DELIMITERS)
        pos = _span(line, pos, DELIMITERS)
        if line[pos:] == b"\n":
            break
    return values


def parse_columns(data: bytes, ncols: int) -> list[list[float]]:
    """All records of ``data`` (file content) with ``ncols`` columns each."""
    out = []
    for chunk in _chunks(data):
        rec = parse_record(chunk, ncols)
        if rec is not None:
            out.append(rec)
    return out


def read_columns(path: str | os.PathLike, ncols: int) -> list[list[float]]:
    """Read a column file: one list of ``ncols`` floats per record (NaN = missing value).

    Raises :class:`~torchbragg.errors.InputError` when the file cannot be opened
    (``fopen(): REASON: FILE``) or holds no record (``no data in input file: FILE``); the
    callers turn either into exit status 9 (docs/behaviour/cli.md §7).
    """
    name = os.fspath(path)
    try:
        data = read_input(name)
    except IsADirectoryError:
        data = b""
    except OSError as exc:
        raise InputError(f"fopen(): {exc.strerror}: {name}") from exc
    rows = parse_columns(data, ncols)
    if not rows:
        raise InputError(f"no data in input file: {name}")
    return rows


def validate_sources(data: bytes, name: str) -> list[list[float]]:
    """Strict reading of a ``-sourcefile``. Every non-blank line holds three to five
    numbers ``X Y Z [weight [wavelength]]`` separated by the reader's delimiters; the
    position must not be zero and a given wavelength must be positive (metres). Refused: a
    non-numeric field (``# comment`` lines, which the C turns into a source at the origin),
    CRLF line endings and a short last line without a newline (the C sets the missing weight
    and wavelength to 0), lines longer than the reader's 10 239-character buffer, and a file
    with no source. Returns the records exactly as :func:`parse_columns` reads them."""
    lines = data.split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        where = f"{name} line {lineno}"
        if len(raw) + 1 > CHUNK:
            raise InputError(f"{where}: longer than {CHUNK} characters")
        if b"\r" in raw:
            raise InputError(f"{where}: CRLF (Windows) line ending; convert the file to LF")
        fields = [f for f in re.split(rb"[ \t,;:!]+", raw) if f]
        if not fields:
            continue
        for f in fields:
            if cscan.strict_float(f) is None:
                raise InputError(f"{where}: {cscan.show(f)} is not a finite number "
                                 "(expected X Y Z [weight [wavelength]])")
        if not 3 <= len(fields) <= 5:
            raise InputError(f"{where}: {len(fields)} values, expected 3 to 5 "
                             "(X Y Z [weight [wavelength]])")
        if lineno == len(lines) and len(fields) < 5:
            raise InputError(f"{where}: the last line has no newline; the reader would set "
                             "the missing columns to 0 (add a newline)")
        if not any(float(f) for f in fields[:3]):
            raise InputError(f"{where}: source position 0 0 0 has no direction")
        if len(fields) == 5 and not float(fields[4]) > 0:
            raise InputError(f"{where}: wavelength {fields[4].decode()} m must be positive")
    rows = parse_columns(data, 5)
    if not rows:
        raise InputError(f"{name}: no sources in the file")
    if not any(rows[-1][:3]):  # blanks after the last newline: the C reads a source at 0 0 0
        raise InputError(f"{name}: white space after the last newline (the reader would add a "
                         "source at 0 0 0); end the file with a newline")
    return rows


def read_sources_strict(path: str | os.PathLike) -> list[list[float]]:
    """:func:`validate_sources` on a file (a missing or unreadable file is an error)."""
    name = os.fspath(path)
    return validate_sources(read_or_fail(name, "-sourcefile"), f"-sourcefile {name}")
