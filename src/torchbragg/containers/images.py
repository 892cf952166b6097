"""Base images: the Dockerfile's ``ARG BASE_IMAGE`` default, digests, pinning.

``nox -s images -- --pin [cpu] [cuda]`` resolves each Dockerfile's base tag to the digest the
registry serves now (:func:`resolve_digest`) and writes ``tag@sha256:…`` into its
``ARG BASE_IMAGE=`` line (:func:`pin_base_images`), then builds.  Programs are run through a
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
    """A real (non-placeholder) ``@sha256:<64 hex>`` digest."""
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


def resolve_base_image(dockerfile: Path, env: dict | None = None, docker: str = "docker",
                       log=print, run: Runner = run_program) -> str | None:
    """The ``BASE_IMAGE`` build argument to pass, or None to keep the Dockerfile's default.

    ``$BASE_IMAGE`` wins.  A placeholder digest in the Dockerfile is replaced, for this build,
    by the digest resolved for the tag (:func:`resolve_digest`), said on stderr with the
    command that writes it into the Dockerfile."""
    env = os.environ if env is None else env
    if env.get("BASE_IMAGE"):
        return env["BASE_IMAGE"]
    default = base_image_default(dockerfile)
    if is_pinned(default):
        return None
    tag, _ = split_digest(default)
    pinned = f"{tag}@{resolve_digest(tag, docker, run)}"
    log(f"{dockerfile}: BASE_IMAGE has a placeholder digest; pinned {pinned} for this build "
        f"(`nox -s images -- --pin` writes it into the Dockerfiles)")
    return pinned
