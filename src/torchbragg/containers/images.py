"""Base images: the Dockerfile's ``ARG BASE_IMAGE`` default, digests, pinning.

``nox -s images -- --pin [cpu] [cuda]`` resolves each Dockerfile's base tag to the digest the
registry serves now (:func:`resolve_digest`) and writes ``tag@sha256:…`` into its
``ARG BASE_IMAGE=`` line (:func:`pin_base_images`), then builds.  Every build records the
digest of the base it used (:func:`ensure_base`, :func:`base_digest`) in the image's labels.  Programs are run through a
``run(argv) -> stdout`` callable, so the logic is tested with a fake (no registry needed).
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from torchbragg.containers.config import DOCKERFILES, PLACEHOLDER_DIGEST
from torchbragg.containers.errors import ContainerError

Runner = Callable[[list], str]
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ARG_LINE = "ARG BASE_IMAGE="


# --------------------------------------------------------------------------- base images
def base_image_default(dockerfile: Path) -> str:
    """The default of ``ARG BASE_IMAGE=`` in a Dockerfile."""
    for line in Path(dockerfile).read_text().splitlines():
        if line.startswith(_ARG_LINE):
            return line.split("=", 1)[1].strip()
    raise ContainerError(f"{dockerfile}: no 'ARG BASE_IMAGE=' line")


def split_digest(image: str) -> tuple[str, str | None]:
    """``name:tag@sha256:…`` → (``name:tag``, ``sha256:…``); (image, None) without a digest."""
    name, sep, digest = image.partition("@")
    return name, (digest if sep else None)


def is_pinned(image: str) -> bool:
    """A real ``@sha256:<64 hex>`` digest (not the all-zero placeholder of old Dockerfiles)."""
    _, digest = split_digest(image)
    return bool(digest) and digest != PLACEHOLDER_DIGEST and bool(_DIGEST.fullmatch(digest))


def run_program(argv: list) -> str:
    """Run ``argv`` and return its stdout; a missing program or a failure is a one-line
    :class:`ContainerError` (the last line the program wrote on stderr)."""
    try:
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True)
    except OSError as exc:
        raise ContainerError(f"{argv[0]}: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise ContainerError(f"`{shlex.join(map(str, argv))}` failed: {why}")
    return proc.stdout


def _repository(tag: str) -> str:
    """``python:3.11-slim`` → ``python``; ``host:5000/x/y:1`` → ``host:5000/x/y``."""
    last = tag.rsplit("/", 1)
    if ":" in last[-1]:
        return tag.rsplit(":", 1)[0]
    return tag


def resolve_digest(tag: str, docker: str = "docker", run: Runner = run_program) -> str:
    """The ``sha256:…`` digest the registry serves for ``tag`` now (the multi-platform index,
    as a pull records it): ``docker buildx imagetools inspect`` (no download), else
    ``docker pull`` and the image's RepoDigests. One-line :class:`ContainerError` on failure."""
    try:
        out = run([docker, "buildx", "imagetools", "inspect", "--format",
                   "{{.Manifest.Digest}}", tag]).strip()
        if _DIGEST.fullmatch(out):
            return out
    except ContainerError:
        pass  # no buildx plugin, or no registry: try the engine's own pull
    try:
        run([docker, "pull", tag])
        out = run([docker, "image", "inspect", "--format",
                   "{{range .RepoDigests}}{{println .}}{{end}}", tag])
    except ContainerError as exc:
        raise ContainerError(f"cannot resolve the digest of {tag}: {exc}") from None
    repo = _repository(tag)
    digests = [line.partition("@") for line in out.split()]
    matching = [d for name, _, d in digests if name == repo or name.endswith("/" + repo)]
    for digest in matching or [d for _, _, d in digests]:
        if _DIGEST.fullmatch(digest):
            return digest
    raise ContainerError(f"cannot resolve the digest of {tag}: the engine recorded no "
                         f"sha256 digest for it after the pull")


def set_base_image(dockerfile: Path, image: str) -> bool:
    """Write ``image`` as the ``ARG BASE_IMAGE=`` default; True when the file changed."""
    path = Path(dockerfile)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(_ARG_LINE):
            end = "\n" if line.endswith("\n") else ""
            lines[i] = f"{_ARG_LINE}{image}{end}"
            break
    else:
        raise ContainerError(f"{dockerfile}: no 'ARG BASE_IMAGE=' line")
    new = "".join(lines)
    if new == text:
        return False
    tmp = path.with_name(f".{path.name}.pin")
    tmp.write_text(new)
    os.replace(tmp, path)
    return True


def images_posargs(posargs: Iterable[str]) -> tuple[list[str], bool]:
    """``nox -s images -- [--pin] [cpu] [cuda]`` → (kinds, pin); kinds default to both."""
    args = list(posargs)
    pin = "--pin" in args
    kinds = [a for a in args if a != "--pin"]
    unknown = [a for a in kinds if a not in DOCKERFILES]
    if unknown:
        raise ContainerError(f"images: unknown argument {unknown[0]!r} "
                             f"(use --pin and/or {', '.join(sorted(DOCKERFILES))})")
    return kinds or sorted(DOCKERFILES), pin


def pin_base_images(root: Path, kinds: Iterable[str], resolve: Callable[[str], str] | None = None,
                    log=print) -> dict[str, str]:
    """Resolve the base tag of each ``kind``'s Dockerfile and write ``tag@digest`` into its
    ``ARG BASE_IMAGE=`` line (all resolved before any file is written); returns kind → image."""
    resolve = resolve or resolve_digest
    pinned = {}
    for kind in kinds:
        dockerfile = Path(root) / DOCKERFILES[kind]
        tag, _ = split_digest(base_image_default(dockerfile))
        digest = resolve(tag)
        if not _DIGEST.fullmatch(digest):
            raise ContainerError(f"cannot resolve the digest of {tag}: got {digest!r}")
        pinned[kind] = f"{tag}@{digest}"
    for kind, image in pinned.items():
        changed = set_base_image(Path(root) / DOCKERFILES[kind], image)
        log(f"{DOCKERFILES[kind]}: ARG BASE_IMAGE={image}" + ("" if changed else " (unchanged)"))
    return pinned


def resolve_base_image(dockerfile: Path, env: dict | None = None) -> str:
    """The base image to build on: ``$BASE_IMAGE`` (e.g. a local image, offline), else the
    Dockerfile's ``ARG BASE_IMAGE=`` default (a tag, or ``tag@sha256:…`` once pinned)."""
    env = os.environ if env is None else env
    return env.get("BASE_IMAGE") or base_image_default(dockerfile)


def ensure_base(image: str, docker: str = "docker", run: Runner = run_program, log=print) -> str:
    """Make sure ``image`` is in the engine (pull it when it is not); return its digest
    (:func:`base_digest`).  A failed pull is one line naming the offline way out."""
    try:
        run([docker, "image", "inspect", "--format", "{{.Id}}", image])
    except ContainerError:
        log(f"pulling the base image {image}")
        try:
            run([docker, "pull", image])
        except ContainerError as exc:
            why = str(exc).rsplit("failed: ", 1)[-1]
            raise ContainerError(
                f"cannot pull the base image {image}: {why}; offline, build on a local image "
                f"that has python3: BASE_IMAGE=<image> (`docker images` lists them, "
                f"`nox -s base` makes torchbragg-base:bookworm)") from None
    return base_digest(image, docker, run)


def base_digest(image: str, docker: str = "docker", run: Runner = run_program) -> str:
    """The digest that identifies the base: the ``@sha256:`` of a pinned reference, else the
    registry digest the engine recorded for the image's repository, else (a local image with
    no registry digest) its image id."""
    _, digest = split_digest(image)
    if digest and _DIGEST.fullmatch(digest):
        return digest
    out = run([docker, "image", "inspect", "--format",
               "{{range .RepoDigests}}{{println .}}{{end}}{{.Id}}", image])
    lines = out.split()
    repo = _repository(image)
    for line in lines[:-1]:
        name, _, found = line.partition("@")
        if (name == repo or name.endswith("/" + repo)) and _DIGEST.fullmatch(found):
            return found
    if lines and _DIGEST.fullmatch(lines[-1]):
        return lines[-1]
    raise ContainerError(f"cannot tell the digest of the base image {image}")
