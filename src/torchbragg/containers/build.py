"""Building an image the way ``nox -s images|parity-*|docker-smoke`` do: the base in the
engine (pulled, or local), the kind's wheelhouse filled, ``docker build --network=none`` of a
context of the checkout's files and that wheelhouse only, with the provenance build
arguments, then :func:`~torchbragg.containers.reproduce.normalise`."""
from __future__ import annotations

import os
import shlex
import subprocess
import tarfile
import time
from pathlib import Path

from torchbragg.containers.commands import build_command, wheelhouse_command
from torchbragg.containers.config import (
    DOCKERFILES,
    IMAGES,
    LOCKS,
    TOOLS_LOCK,
    WHEELHOUSE,
)
from torchbragg.containers.container_run import image_size, source_commit
from torchbragg.containers.errors import ContainerError
from torchbragg.containers.images import ensure_base, resolve_base_image
from torchbragg.containers.reproduce import normalise, provenance_args
from torchbragg.containers.shell import _log


def wheelhouse_dir(repo: Path, kind: str) -> Path:
    return Path(repo) / WHEELHOUSE / kind


def fill_wheelhouse(repo: Path, kind: str, python: str | None = None) -> Path:
    """``pip download`` the kind's lock and the build tools' lock into its wheelhouse (the
    host's network; the build itself has none)."""
    dest = wheelhouse_dir(repo, kind)
    dest.mkdir(parents=True, exist_ok=True)
    for lock in (LOCKS[kind], TOOLS_LOCK):
        argv = wheelhouse_command(str(Path(repo) / lock), str(dest), python)
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            raise ContainerError(f"cannot fill {dest.relative_to(repo)} from {lock}: {why}")
    return dest


def context_files(repo: Path, kind: str) -> list[str]:
    """The build context of ``kind``: the checkout's files that git tracks or would track
    (not what .gitignore leaves out), and the kind's own wheelhouse; sorted, repo-relative."""
    proc = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                           "--exclude-standard"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ContainerError(f"cannot list the build context: {proc.stderr.strip()}")
    names = {n for n in proc.stdout.split("\0") if n and (Path(repo) / n).is_file()}
    wheels = wheelhouse_dir(repo, kind)
    names |= {str(p.relative_to(repo)) for p in wheels.glob("*.whl")}
    return sorted(names)


def write_context(repo: Path, names: list[str], fh, epoch: int) -> None:
    """The context as a tar stream (``docker build -`` reads it): root-owned, dated no later
    than ``epoch``, in a fixed order, so the COPY layer does not depend on the checkout."""
    with tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            path = Path(repo) / name
            info = tar.gettarinfo(str(path), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = min(int(info.mtime), epoch)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with open(path, "rb") as data:
                tar.addfile(info, data)


def docker_build(repo: Path, kind: str, *, tag: str, build_args: dict[str, str],
                 no_cache: bool, epoch: int) -> None:
    """``docker build`` of :func:`context_files` sent as a tar on stdin."""
    argv = build_command(kind, tag=tag, context="-", build_args=build_args, no_cache=no_cache)
    argv[argv.index("-f") + 1] = DOCKERFILES[kind]  # a path inside the context
    _log("$ " + shlex.join(argv) + " < context.tar")
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    try:
        write_context(repo, context_files(repo, kind), proc.stdin, epoch)
    except BrokenPipeError:
        pass  # docker stopped reading: its status says why
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise ContainerError(f"docker build of {DOCKERFILES[kind]} exited with {proc.returncode}"
                             f" (its output above says why)")


def build_image(repo: Path, kind: str, *, tag: str | None = None, no_cache: bool = False,
                env: dict | None = None, python: str | None = None, log=_log) -> dict:
    """Build and normalise the ``kind`` image; returns what was built (ids, base, times)."""
    repo = Path(repo).resolve()
    env = os.environ if env is None else env
    tag = tag or IMAGES[kind]
    base = resolve_base_image(repo / DOCKERFILES[kind], env)
    digest = ensure_base(base, log=log)
    t0 = time.monotonic()
    fill_wheelhouse(repo, kind, python)
    fetched = time.monotonic() - t0
    args = provenance_args(repo, kind, base, digest, source_commit(repo), env)
    args["WHEELHOUSE"] = f"{WHEELHOUSE}/{kind}"
    t0 = time.monotonic()
    docker_build(repo, kind, tag=tag, build_args=args, no_cache=no_cache,
                 epoch=int(args["SOURCE_DATE_EPOCH"]))
    built = time.monotonic() - t0
    t0 = time.monotonic()
    image_id = normalise(tag, base, int(args["SOURCE_DATE_EPOCH"]), log=log)
    return {
        "image": tag, "image_id": image_id, "image_size_bytes": image_size(tag),
        "base_image": base, "base_digest": digest, "build_args": args,
        "wheelhouse_seconds": round(fetched, 1), "build_seconds": round(built, 1),
        "normalise_seconds": round(time.monotonic() - t0, 1),
    }
