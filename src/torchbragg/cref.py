"""``torchbragg-cref``: the clean-room C reference of nanoBragg, built on first use.

The C sources in ``torchbragg/csrc`` are compiled with :func:`torchbragg._cbuild.build_cached`
(cached by source hash, compiler and flags; honours ``CC`` and ``CFLAGS``), then the process is
replaced by the binary (``os.execv``), so standard output, standard error and the exit status
are the program's own.

Launcher options (only as the first argument; everything else goes to the program):

``--print-path``  build if needed and print the binary's path
``--build-info``  print the compiler and the flags used

The program itself answers ``-h``/``--help`` (its usage text) and ``--version``
(``torchbragg-cref <package version>``) with exit 0, as ``torchbragg`` does.

OpenMP (``-fopenmp``) is added when the compiler accepts it (tested once per compiler and
cached) and ``TORCHBRAGG_CREF_OPENMP`` is not ``0``.  Results never depend on the thread count.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from torchbragg import _cbuild
from torchbragg.cli.streams import guard_standard_streams

NAME = "nanobragg-cref"
CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = [
    "nb_main.c",
    "nb_cli.c",
    "nb_geometry.c",
    "nb_crystal.c",
    "nb_io_read.c",
    "nb_io_write.c",
    "nb_noise.c",
    "nb_render.c",
    "nb_trace.c",
    "nb_check_num.c",
    "nb_check_argv.c",
    "nb_check.c",
    "nb_files.c",
]
HEADERS = ["nb.h"]
WARN_FLAGS = ["-Wall", "-Wextra"]


def source_paths() -> list[Path]:
    """C sources in build order; the header is hashed too (it is #included)."""
    return [CSRC / s for s in SOURCES]


def _openmp_supported(cc: str) -> bool:
    """Compile and link a tiny OpenMP program once per compiler; cache the answer."""
    cache = _cbuild.cache_root() / "build"
    key = "".join(ch if ch.isalnum() else "_" for ch in cc)
    marker = cache / f"openmp-{key}.ok"
    negative = cache / f"openmp-{key}.no"
    if marker.exists():
        return True
    if negative.exists():
        return False
    code = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    ok = False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "t.c"
        src.write_text(code)
        try:
            proc = subprocess.run(
                [*shlex.split(cc), "-fopenmp", "-o", str(Path(tmp) / "t"), str(src)],
                capture_output=True,
            )
            ok = proc.returncode == 0
        except OSError:
            ok = False
    try:
        cache.mkdir(parents=True, exist_ok=True)
        (marker if ok else negative).write_text("")
    except OSError:
        pass
    return ok


def build_flags() -> tuple[str, list[str]]:
    """(compiler, extra flags) used for the build (a cached build needs no compiler)."""
    cc = _cbuild.compiler_name()
    extra = list(WARN_FLAGS)
    if os.environ.get("TORCHBRAGG_CREF_OPENMP", "1") != "0" and _openmp_supported(cc):
        extra.append("-fopenmp")
    return cc, extra


def version_flag() -> str:
    """``-DNB_VERSION="<package version>"``: what ``torchbragg-cref --version`` prints (an
    argument list, no shell: the quotes reach the compiler as they are)."""
    from torchbragg._version import __version__

    return f'-DNB_VERSION="{__version__}"'


def binary_path() -> Path:
    """Build (if needed) and return the path of the C reference executable."""
    _, extra = build_flags()
    srcs = source_paths()
    # the header is part of the cache key through a -D flag carrying its hash
    digest = hashlib.sha256()
    for h in HEADERS:
        digest.update((CSRC / h).read_bytes())
    extra = extra + [f"-DNB_HEADER_HASH={digest.hexdigest()[:12]}", version_flag()]
    return _cbuild.build_cached(NAME, srcs, extra_flags=extra, libs=["-lm"])


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # a closed stdout/stderr: reopened on /dev/null (the C binary inherits them, so no output
    # file it opens gets descriptor 1 or 2) and writes that fail are dropped, as in torchbragg
    guard_standard_streams()
    try:
        if args and args[0] == "--build-info":
            cc, extra = build_flags()
            user = shlex.split(os.environ.get("CFLAGS", ""))
            path = binary_path()
            print(f"compiler: {cc}")
            print("flags: " + " ".join(_cbuild.PARITY_CFLAGS + extra + user))
            print(f"binary: {path}")
            return 0
        path = binary_path()
    except _cbuild.BuildError as exc:
        print(f"torchbragg-cref: {exc}", file=sys.stderr)
        return exc.exit_status
    if args and args[0] == "--print-path":
        print(path)
        return 0
    sys.stdout.flush()
    os.execv(str(path), [str(path), *args])
    return 127  # pragma: no cover - execv does not return


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
