"""A memo of parsed HKL files: :func:`~torchbragg.io.hkl.read_hkl`'s table and warnings for a
file's bytes, kept in a folder, so that reading the same file again costs a hash and a load
instead of a parse (docs/performance.md, "HKL files").

An entry is keyed by the file's bytes (BLAKE2b), ``default_F``, the strict check and the
reader's own sources (a changed reader makes older entries unused). It is written only after
a successful parse, atomically (readers never see half an entry); the :data:`KEEP` most
recently used entries stay. A memo that cannot be read or written is a miss, never an error.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from torchbragg.io.sftable import SFTable

#: entries kept (the most recently used)
KEEP = 8
#: grids larger than this (bytes) are not kept
MAX_GRID_BYTES = 512 << 20
_READER = ("hkl.py", "hkl_plain.py", "cscan.py", "sftable.py", "hkl_memo.py")
_version: List[str] = []


def _reader_version() -> str:
    if not _version:
        digest = hashlib.blake2b(digest_size=8)
        for name in _READER:
            digest.update(Path(__file__).with_name(name).read_bytes())
        _version.append(digest.hexdigest())
    return _version[0]


class HKLMemo:
    """The memo in ``folder`` (created when first written)."""

    def __init__(self, folder: os.PathLike | str):
        self.folder = Path(folder)
        self._hashed: Tuple[Optional[bytes], object] = (None, None)  # (the bytes, their hash)

    def path(self, data: bytes, default_F: float, strict: bool) -> Path:
        """The entry file of a read."""
        if self._hashed[0] is not data:  # (a miss then a put hash the same bytes once)
            self._hashed = (data, hashlib.blake2b(data, digest_size=20))
        digest = self._hashed[1].copy()
        digest.update(f"{float(default_F).hex()}|{int(strict)}|{_reader_version()}".encode())
        return self.folder / f"hkl-{digest.hexdigest()}.npz"

    def get(self, data: bytes, default_F: float,
            strict: bool) -> Optional[Tuple[SFTable, List[str]]]:
        """(table, warning lines) of an earlier read of the same bytes, or None."""
        path = self.path(data, default_F, strict)
        try:
            with np.load(path, allow_pickle=False) as entry:
                meta = json.loads(bytes(entry["meta"]).decode())
                grid = np.ascontiguousarray(entry["grid"], dtype=np.float64)
            os.utime(path)
            leftovers = meta["leftovers"]
            if leftovers is not None:
                leftovers = (tuple(leftovers[0]), tuple(leftovers[1]))
            table = SFTable(*meta["extents"], grid, meta["count"], leftovers)
            return table, list(meta["warnings"])
        except Exception:  # (no entry, or one unreadable: a miss)
            return None

    def put(self, data: bytes, default_F: float, strict: bool, table: SFTable,
            warnings: List[str]) -> None:
        """Keep the result of a read (silently nothing where the folder is not writable)."""
        if table.grid.nbytes > MAX_GRID_BYTES:
            return
        meta = {"extents": [table.h_min, table.h_max, table.k_min, table.k_max, table.l_min,
                            table.l_max],
                "count": table.count, "leftovers": table.reader_leftovers,
                "warnings": warnings}
        buf = io.BytesIO()
        np.savez(buf, grid=table.grid,
                 meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
        path = self.path(data, default_F, strict)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".hkl-", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getbuffer())
            os.replace(tmp, path)
            self._prune()
        except OSError:
            return

    def _prune(self) -> None:
        entries = sorted(self.folder.glob("hkl-*.npz"), key=lambda p: p.stat().st_mtime,
                         reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
