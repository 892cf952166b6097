"""Compile bundled C sources on first use into a per-user cache.

Used by the C reference launcher (``torchbragg-cref``) and by native helpers. The cache key is
a hash of the sources, the compiler's name and the flags, so a changed source or ``CC``/``CFLAGS``
triggers a rebuild; an unchanged one is reused, with no compiler needed (the container images
carry the cache built in their build stage and no compiler). Builds go to a temporary name and are renamed
into place, so concurrent first uses never see a half-written binary.

A build under the same key in the installed package's :func:`prebuilt_dir` (the native helpers,
compiled by ``pip install``: :mod:`torchbragg.prebuild`) is used in place of a cache entry, so a
fresh cache builds nothing; ``TORCHBRAGG_PREBUILT=0`` ignores that folder.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from torchbragg.errors import TorchBraggError

#: Flags that keep IEEE semantics identical to the upstream build (no FMA contraction, no
#: fast-math); user CFLAGS are appended after these.
PARITY_CFLAGS = ["-O2", "-std=c99", "-ffp-contract=off", "-fno-fast-math"]


class BuildError(TorchBraggError):
    """No compiler, or the compiler failed."""

    exit_status = 2


def cache_root() -> Path:
    """``$TORCHBRAGG_CACHE`` or ``$XDG_CACHE_HOME/torchbragg`` (default ``~/.cache/torchbragg``)."""
    env = os.environ.get("TORCHBRAGG_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torchbragg"


def prebuilt_dir() -> Path | None:
    """The installed package's folder of helpers built at install time, or None where
    ``TORCHBRAGG_PREBUILT=0`` says to ignore it."""
    if os.environ.get("TORCHBRAGG_PREBUILT", "").strip() == "0":
        return None
    return Path(__file__).with_name("_prebuilt")


def compiler_name() -> str:
    """The compiler the cache key names: ``$CC``, else the first of ``cc``, ``gcc``,
    ``clang`` on PATH, else ``cc`` (so a cache built with ``cc`` is found without one)."""
    cc = os.environ.get("CC")
    if cc:
        return cc
    return next((n for n in ("cc", "gcc", "clang") if shutil.which(n)), "cc")


def find_compiler() -> str:
    """The C compiler to run: :func:`compiler_name`, which must be on PATH."""
    name = compiler_name()
    if shutil.which(shlex.split(name)[0]):
        return name
    raise BuildError(
        "no C compiler found (set CC or install gcc/clang) to build the bundled C sources"
    )


#: helper name → (the thread building it in the background, set once that build has ended)
_background: dict = {}


def build_in_background(*jobs: tuple) -> None:
    """Start :func:`build_cached` for each job ``(name, sources, options)`` in order, on one
    daemon thread (the compiler then takes one core, beside the caller's work); a job whose
    name was started before is left out. A later :func:`build_cached` of one of these names
    waits for that build first, so no helper is built twice. Failures are silent here: the
    later call builds again and reports them."""
    jobs = tuple(job for job in jobs if job[0] not in _background)
    if not jobs:
        return
    ended = {name: threading.Event() for name, _, _ in jobs}

    def build() -> None:
        for name, sources, options in jobs:
            try:
                build_cached(name, sources, **options)
            except Exception:  # (reported by the caller's own build)
                pass
            finally:
                ended[name].set()

    thread = threading.Thread(target=build, name=f"tb-build-{jobs[0][0]}", daemon=True)
    for name, _, _ in jobs:
        _background[name] = (thread, ended[name])
    thread.start()


def _build_line(name: str, sources: list[Path], shared: bool, extra_flags, libs,
                headers) -> tuple[str, str, list[str], list[str]]:
    """(the build's file name, keyed by the compiler's name, the flags and the sources and
    headers; the compiler; its flags; the link options)."""
    cc = compiler_name()
    user_flags = shlex.split(os.environ.get("CFLAGS", ""))
    flags = PARITY_CFLAGS + list(extra_flags or []) + user_flags
    if shared:
        flags += ["-shared", "-fPIC"]
    link = list(libs or ["-lm"])
    digest = hashlib.sha256()
    for item in [cc, *flags, *link, str(shared)]:
        digest.update(item.encode() + b"\0")
    for src in [*sources, *(headers or [])]:
        digest.update(Path(src).read_bytes())
    return f"{name}-{digest.hexdigest()[:16]}{'.so' if shared else ''}", cc, flags, link


def prebuilt_entry(name: str, sources: list[Path], *, shared: bool = False,
                   extra_flags: list[str] | None = None, libs: list[str] | None = None,
                   headers: list[Path] | None = None) -> Path | None:
    """The install's build of what :func:`build_cached` would build with these arguments, or
    None where :func:`prebuilt_dir` has none under its key (or is ignored)."""
    folder = prebuilt_dir()
    if folder is None:
        return None
    entry = folder / _build_line(name, sources, shared, extra_flags, libs, headers)[0]
    return entry if entry.is_file() else None


def build_cached(
    name: str,
    sources: list[Path],
    *,
    shared: bool = False,
    extra_flags: list[str] | None = None,
    libs: list[str] | None = None,
    headers: list[Path] | None = None,
    out_dir: Path | None = None,
) -> Path:
    """Build ``sources`` into an executable (or shared library) and return its cached path:
    the cache's entry, else the install's (:func:`prebuilt_entry`), else a new build.

    ``headers``: files the sources include (found beside them); they are part of the cache
    key, so an edited header rebuilds. ``out_dir``: the folder built into (default the cache's
    ``build``; given, the install's folder is not consulted)."""
    pending = _background.get(name)
    if pending is not None and pending[0] is not threading.current_thread():
        pending[1].wait()
    file_name, cc, flags, link = _build_line(name, sources, shared, extra_flags, libs, headers)
    suffix = ".so" if shared else ""
    target = (cache_root() / "build" if out_dir is None else Path(out_dir)) / file_name
    if target.exists():
        return target
    installed = prebuilt_dir() if out_dir is None else None
    if installed is not None and (installed / file_name).is_file():
        return installed / file_name
    out_dir = target.parent
    find_compiler()  # raises BuildError when there is none to build with
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=suffix, dir=out_dir)
    os.close(fd)
    cmd = [*shlex.split(cc), *flags, "-o", tmp, *map(str, sources), *link]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        first = (proc.stderr.strip().splitlines() or ["(no output)"])[0]
        raise BuildError(f"building {name} failed: {shlex.join(cmd)}: {first}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
    # the command as it made the target (not the temporary name: the same build, the same line)
    made = [*shlex.split(cc), *flags, "-o", str(target), *map(str, sources), *link]
    (out_dir / f"{name}.flags").write_text(shlex.join(made) + "\n")
    return target
