"""Reading an input file whole, without blocking, with the C reference's ``fopen`` outcomes.

Inputs are opened with ``O_NONBLOCK`` and must be regular files (or folders, which read as
empty where the C's ``fopen`` succeeds): a FIFO with no writer would block a plain ``open``
for ever, ``/dev/zero`` or ``/dev/urandom`` would never end. Those raise
:class:`NotRegularFile`, an ``OSError`` whose ``strerror`` says what the file is.
"""
from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from torchbragg.errors import InputError

_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotRegularFile(OSError):
    """The path names a FIFO, device or socket (refused: reading it could block or not end)."""


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"  # pragma: no cover - every other type is listed


def open_input(path) -> int:
    """A descriptor of the regular file ``path`` (blocking mode restored), opened without
    blocking. Raises ``IsADirectoryError`` for a folder, :class:`NotRegularFile` for a FIFO,
    device or socket, ``OSError`` when it cannot be opened."""
    name = os.fspath(path)
    if "\0" in str(name):  # (possible from a batch file or the API, never from a real argv)
        raise OSError(errno.EINVAL, "a file name with a NUL character", name)
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if not stat.S_ISREG(mode):
            kind = _kind(mode)
            raise NotRegularFile(errno.EINVAL, f"{kind}, not a regular file", name)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_input(path) -> bytes:
    """The whole content of the regular file ``path`` (see :func:`open_input`)."""
    with os.fdopen(open_input(path), "rb") as fh:
        return fh.read()


def opens(path) -> bool:
    """Whether ``path`` opens for reading (the C's test for a cache); a FIFO, device or socket
    counts as opening, so that reading it reports it."""
    try:
        os.close(open_input(path))
    except (IsADirectoryError, NotRegularFile):
        return True
    except OSError:
        return False
    return True


def read_like_c(path) -> Optional[bytes]:
    """The file's bytes; a folder reads as empty (``fopen`` succeeds, ``fread`` gets nothing);
    None when it cannot be opened. A FIFO, device or socket raises :class:`InputError`."""
    name = os.fspath(path)
    try:
        return read_input(name)
    except IsADirectoryError:
        return b""
    except NotRegularFile as exc:
        raise InputError(f"{name}: {exc.strerror}") from None
    except OSError:
        return None


def read_or_fail(path, flag: str) -> bytes:
    """The file's bytes, or an :class:`InputError` naming ``flag`` and the file (strict mode)."""
    name = os.fspath(path)
    try:
        return read_input(name)
    except OSError as exc:
        raise InputError(f"{flag} {name}: cannot open: {exc.strerror}") from exc
