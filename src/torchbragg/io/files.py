"""Reading an input file whole, with the C reference's ``fopen`` outcomes."""
from __future__ import annotations

import os
from typing import Optional

from torchbragg.errors import InputError


def read_like_c(path) -> Optional[bytes]:
    """The file's bytes; a folder reads as empty (``fopen`` succeeds, ``fread`` gets nothing);
    None when it cannot be opened."""
    try:
        with open(os.fspath(path), "rb") as fh:
            return fh.read()
    except IsADirectoryError:
        return b""
    except OSError:
        return None


def read_or_fail(path, flag: str) -> bytes:
    """The file's bytes, or an :class:`InputError` naming ``flag`` and the file (strict mode)."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"{flag} {name}: cannot open: {exc.strerror}") from exc
