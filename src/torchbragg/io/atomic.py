"""All-or-nothing file writes.

Every output file is written to a temporary file in the destination folder, flushed to disk and
renamed over the destination, so a reader never sees a partial file and a failed write leaves
nothing behind (the destination keeps its old content, if any).
"""
from __future__ import annotations

import os
import tempfile

from torchbragg.errors import OutputError


def _umask() -> int:
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def atomic_write(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, ``os.replace``).

    The new file gets mode 0666 minus the umask, as a C ``fopen(path, "w")`` would.
    Raises :class:`~torchbragg.errors.OutputError` ``cannot write <path>: <reason>`` on failure.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=folder)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"cannot write {path}: {reason}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
