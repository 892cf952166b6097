"""Reading the harness's own input files without blocking: regular files only, bounded.

A FIFO without a writer, a device such as ``/dev/zero`` or a folder given as an image,
trace, spec, baseline or shard file is refused at once instead of hanging or filling memory.
"""
from __future__ import annotations

import errno
import os
import stat

#: bytes read at most from a text input (trace, spec, baseline, metrics.json)
TEXT_LIMIT = 1 << 30


def read_regular(path, limit: int = TEXT_LIMIT) -> bytes:
    """The bytes of the regular file ``path``; OSError naming it (strerror says why) for
    anything else or for a file longer than ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size} bytes, more than the {limit} allowed",
                          str(path))
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > limit:                  # it grew while being read
        raise OSError(errno.EFBIG, f"more than the {limit} bytes allowed", str(path))
    return data


def read_text(path, limit: int = TEXT_LIMIT, errors: str = "strict") -> str:
    """:func:`read_regular` decoded as UTF-8 (UnicodeDecodeError with ``errors="strict"``)."""
    return read_regular(path, limit).decode("utf-8", errors=errors)
