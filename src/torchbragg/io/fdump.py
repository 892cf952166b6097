"""Structure-factor cache (``Fdump.bin``, ``-dump``), docs/behaviour/formats.md §3.

Layout: ASCII ``h_min h_max k_min k_max l_min l_max`` + ``\\n`` + form feed, then the whole
grid (extra slots included) as little-endian binary64, l fastest.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from torchbragg.errors import InputError
from torchbragg.io import cscan
from torchbragg.io.atomic import atomic_write
from torchbragg.io.sftable import MAX_GRID_ENTRIES, SFTable
from torchbragg.io.files import read_like_c


def fdump_bytes(table: SFTable) -> bytes:
    """The bytes of the cache file for ``table`` (docs/behaviour/formats.md §3.1)."""
    header = (f"{table.h_min} {table.h_max} {table.k_min} {table.k_max} "
              f"{table.l_min} {table.l_max}\n\f").encode("ascii")
    body = np.ascontiguousarray(table.grid, dtype="<f8").tobytes()
    return header + body


def write_fdump(path: str | os.PathLike, table: SFTable) -> None:
    """Write the cache atomically. Raises :class:`~torchbragg.errors.OutputError` on failure
    (the caller prints ``WARNING: unable to open dump file: FILE`` and continues)."""
    atomic_write(path, fdump_bytes(table))


def read_fdump(path: str | os.PathLike,
               err: Callable[[str], None] | None = None) -> SFTable | None:
    """Read a cache file as the C does (docs/behaviour/formats.md §3.2–3.3); ``None`` if it cannot
    be opened.

    The header is six ``%d`` conversions followed by a skip of *all* white space, so a body
    whose first bytes are white-space values (0x09–0x0D, 0x20) is read shifted (the C quirk,
    reproduced). Each (h, k) row of l_range+1 doubles is read in turn; a short file leaves the
    unread values 0, and ``err`` (stderr) gets ``fscanf: ...`` for each row of which nothing
    could be read. ``count`` is h_range·k_range·l_range. A header that does not parse raises
    :class:`~torchbragg.errors.InputError` (the C's behaviour is undefined there).
    """
    name = os.fspath(path)
    try:
        data = read_like_c(name)
    except InputError as exc:  # a FIFO, device or socket
        raise InputError(f"-dump {exc} (structure-factor cache)") from None
    if data is None:
        return None
    pos = 0
    bounds = []
    for _ in range(6):
        status, value, pos = cscan.scan_int(data, pos)
        if status != cscan.OK:
            raise InputError(f"ERROR: bad structure-factor cache header in {name}")
        bounds.append(value)
    pos = cscan.skip_space(data, pos)
    h_min, h_max, k_min, k_max, l_min, l_max = bounds
    h_range, k_range, l_range = h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1
    if h_range < 0 or k_range < 0 or l_range < 0:
        raise InputError(f"ERROR: bad structure-factor cache header in {name}")
    shape = (h_range + 1, k_range + 1, l_range + 1)
    total = shape[0] * shape[1] * shape[2]
    if total > MAX_GRID_ENTRIES:
        raise InputError(f"ERROR: cannot allocate structure-factor grid for {name}")
    body = data[pos:pos + 8 * total]
    if len(body) < 8 * total:
        row_bytes = 8 * shape[2]
        full_rows = shape[0] * shape[1]
        # rows that got at least one complete double (fread returned > 0)
        rows_read = (len(body) - 8) // row_bytes + 1 if len(body) >= 8 else 0
        if err is not None:
            for _ in range(full_rows - rows_read):
                err("fscanf: Success")
        # glibc fread copies whatever bytes it gets; the rest of the grid stays 0
        body = body + bytes(8 * total - len(body))
    grid = np.frombuffer(body, dtype="<f8").astype(np.float64).reshape(shape)
    return SFTable(h_min, h_max, k_min, k_max, l_min, l_max, grid,
                   h_range * k_range * l_range)
