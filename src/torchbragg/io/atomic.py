"""All-or-nothing file writes: the outputs of a run are committed together.

:class:`OutputSet` stages every file in a temporary of its destination folder, created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` (never an existing file, never through a symlink) under a
short name (``.tbXXXXXXXX.tmp``, so a 255-byte output name still works), written and flushed
to disk. :meth:`OutputSet.commit` renames them all into place once all were written; if a
rename fails, or SIGINT/SIGTERM arrives meanwhile (noted, then acted on), the files already
replaced get their old content back (hard-link backups). A failure or interruption at any point leaves every
pre-existing file untouched and no temporary behind.

:func:`check_output` is the test made before rendering: folder present and writable, the name
not a folder, not too long, not immutable or append-only.
"""
from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
from typing import List, Optional, Tuple

from torchbragg.errors import OutputError

_FS_IOC_GETFLAGS = 0x80086601  # Linux _IOR('f', 1, long)
_IMMUTABLE_OR_APPEND = 0x10 | 0x20  # FS_IMMUTABLE_FL | FS_APPEND_FL
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _folder(path: str) -> str:
    return os.path.dirname(path) or "."


def _locked(path: str, follow: bool) -> bool:
    """Whether ``path`` has the immutable or append-only attribute (Linux; False elsewhere)."""
    try:
        import fcntl

        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
        fd = os.open(path, flags)
    except (ImportError, OSError):
        return False
    try:
        got = fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(8))
        return bool(int.from_bytes(got[:4], "little") & _IMMUTABLE_OR_APPEND)
    except OSError:  # a file system without attributes
        return False
    finally:
        os.close(fd)


def check_output(path: str | os.PathLike) -> None:
    """Raise :class:`OutputError` ``cannot write PATH: REASON`` if ``path`` cannot be
    replaced by a new file."""
    path = os.fspath(path)
    name = os.path.basename(path)
    folder = _folder(path)

    def fail(reason: str):
        raise OutputError(f"cannot write {path}: {reason}")

    if name in ("", ".", ".."):
        fail("the name is a folder, not a file")
    if "\0" in path:  # (possible from a batch file or the API, never from a real argv)
        fail("the name holds a NUL character")
    if not os.path.isdir(folder):
        fail(f"folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or _locked(folder, True):
        fail(f"folder {folder} is not writable")
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(name)) > name_max:
        fail(f"file name longer than {name_max} bytes")
    if os.path.isdir(path):
        fail("it is a folder")
    if os.path.lexists(path) and _locked(path, False):
        fail("the file is immutable or append-only")


def _short_name(folder: str, kind: str) -> str:
    return os.path.join(folder, f".tb{secrets.token_hex(4)}.{kind}")


def _create_exclusive(folder: str) -> Tuple[int, str]:
    """A new temporary file in ``folder``: descriptor and name (mode 0666 minus the umask, as
    a C ``fopen(path, "w")`` creates)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = _short_name(folder, "tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", folder)


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while view:
        done = os.write(fd, view)
        view = view[done:]
    os.fsync(fd)


def _unlink_quietly(path: Optional[str]) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


class OutputSet:
    """The files of one run: :meth:`stage` each, then :meth:`commit` all (a context manager
    that discards what was not committed)."""

    def __init__(self):
        self._staged: List[Tuple[str, str]] = []  # (temporary, destination)

    def __enter__(self) -> "OutputSet":
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def stage(self, path: str | os.PathLike, data) -> None:
        """Write ``data`` to a new temporary beside ``path`` (raises :class:`OutputError`)."""
        path = os.fspath(path)
        tmp = None
        try:
            fd, tmp = _create_exclusive(_folder(path))
            try:
                _write_all(fd, data)
            finally:
                os.close(fd)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._staged.append((tmp, path))

    def discard(self) -> None:
        """Remove every staged temporary (nothing of it reaches its destination)."""
        for tmp, _ in self._staged:
            _unlink_quietly(tmp)
        self._staged = []

    def commit(self) -> None:
        """Rename every staged file into place, in staging order; all or nothing."""
        done: List[Tuple[str, Optional[str]]] = []  # (destination, backup of its old file)
        with _DeferredSignals() as deferred:
            try:
                for tmp, path in self._staged:
                    backup = _backup(path)
                    done.append((path, backup))  # (undoing a rename not yet made is harmless)
                    try:
                        os.rename(tmp, path)
                    except OSError as exc:
                        done.pop()
                        _put_back(path, backup)
                        raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
                if deferred.received:
                    raise KeyboardInterrupt  # an interrupt during the commit undoes it
            except BaseException:
                for path, backup in reversed(done):
                    _restore(path, backup)
                self.discard()
                raise
            for _, backup in done:
                _unlink_quietly(backup)
            self._staged = []


class _DeferredSignals:
    """SIGINT and SIGTERM only noted while the commit runs (Python handlers are process-wide,
    unlike a signal mask, which other threads would escape); on leaving, the old handlers
    are back and a noted signal is sent again, so it acts as it would have."""

    def __init__(self):
        self.received: List[int] = []
        self._old: dict = {}

    def __enter__(self) -> "_DeferredSignals":
        try:
            for sig in _SIGNALS:
                old = signal.getsignal(sig)
                if old is not None and old is not signal.SIG_IGN:  # (None: not Python's)
                    signal.signal(sig, lambda signum, frame: self.received.append(signum))
                    self._old[sig] = old
        except ValueError:  # not the main thread: signals act at once (the commit undoes)
            pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(self.received):
            os.kill(os.getpid(), sig)


def _backup(path: str) -> Optional[str]:
    """A second name for the file now at ``path`` (None if there is none), to restore it: a
    hard link, or where there are none (or for a symlink) the old entry moved aside."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {path}: it is a folder")
    folder = _folder(path)
    for _ in range(100):
        backup = _short_name(folder, "bak")
        if os.path.lexists(backup):
            continue
        try:
            if not stat.S_ISLNK(mode):
                try:
                    os.link(path, backup, follow_symlinks=False)
                    return backup
                except FileExistsError:
                    continue
                except OSError:
                    pass
            os.rename(path, backup)
            return backup
        except OSError as exc:  # e.g. an immutable file
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from exc
    raise OutputError(f"cannot write {path}: no free backup name in {folder}")


def _restore(path: str, backup: Optional[str]) -> None:
    """Undo a rename into ``path``: the old file back, or the new one removed if there was
    none."""
    try:
        if backup is None:
            os.unlink(path)
        else:
            _put_back(path, backup)
    except OSError:
        pass


def _put_back(path: str, backup: Optional[str]) -> None:
    """Put the old file, kept as ``backup``, back at ``path`` (a hard link to the file still
    there is just removed)."""
    if backup is None:
        return
    try:
        if os.path.lexists(path) and os.path.samestat(os.lstat(path), os.lstat(backup)):
            os.unlink(backup)  # rename() of two links to one file would do nothing
        else:
            os.rename(backup, path)
    except OSError:
        pass


def atomic_write(path: str | os.PathLike, data: bytes | bytearray | memoryview) -> None:
    """Write one file all-or-nothing (:class:`OutputSet` with a single file). Raises
    :class:`~torchbragg.errors.OutputError` ``cannot write <path>: <reason>`` on failure."""
    with OutputSet() as out:
        out.stage(path, data)
        out.commit()
