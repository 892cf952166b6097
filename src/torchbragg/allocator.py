"""Process-level allocator setting for the command-line tools (glibc only).

Tensors of a few hundred KiB to tens of MiB are allocated and freed for every chunk. With
glibc's defaults each such allocation is a fresh ``mmap`` whose pages are zero-filled on first
touch; on virtual machines a page fault costs microseconds, which made ``fill``/``copy`` of the
per-pixel arrays several times slower than the arithmetic. Raising the mmap and trim
thresholds keeps freed blocks in the heap for reuse. Peak RSS is unchanged; memory is returned
to the system at exit.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks up to this size come from the heap (glibc caps the value at 32 MiB on 64-bit)
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
#: free heap above this is kept for reuse instead of being returned
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_done = False


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; False where glibc's ``mallopt`` is unavailable."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        ok = bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and ok
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
