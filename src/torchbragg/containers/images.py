"""Base images: the Dockerfile's ``ARG BASE_IMAGE`` default, digests, pinning."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from torchbragg.containers.config import PLACEHOLDER_DIGEST
from torchbragg.containers.errors import ContainerError


# --------------------------------------------------------------------------- base images
def base_image_default(dockerfile: Path) -> str:
    """The default of ``ARG BASE_IMAGE=`` in a Dockerfile."""
    for line in Path(dockerfile).read_text().splitlines():
        if line.startswith("ARG BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise ContainerError(f"{dockerfile}: no 'ARG BASE_IMAGE=' line")


def split_digest(image: str) -> tuple[str, str | None]:
    """``name:tag@sha256:…`` → (``name:tag``, ``sha256:…``); (image, None) without a digest."""
    name, sep, digest = image.partition("@")
    return name, (digest if sep else None)


def is_pinned(image: str) -> bool:
    """A real (non-placeholder) ``@sha256:<64 hex>`` digest."""
    _, digest = split_digest(image)
    if not digest or not digest.startswith("sha256:") or digest == PLACEHOLDER_DIGEST:
        return False
    hexpart = digest[len("sha256:"):]
    return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


def resolve_base_image(dockerfile: Path, env: dict | None = None, docker: str = "docker",
                       log=print) -> str | None:
    """The ``BASE_IMAGE`` build argument to pass, or None to keep the Dockerfile's default.

    ``$BASE_IMAGE`` wins.  A placeholder digest in the Dockerfile is replaced by the digest the
    engine resolves for the tag (``docker pull`` then RepoDigests), said on stderr so it can be
    written into the Dockerfile."""
    env = os.environ if env is None else env
    if env.get("BASE_IMAGE"):
        return env["BASE_IMAGE"]
    default = base_image_default(dockerfile)
    if is_pinned(default):
        return None
    tag, _ = split_digest(default)
    subprocess.run([docker, "pull", tag], check=True)
    out = subprocess.run([docker, "image", "inspect", "--format",
                          "{{range .RepoDigests}}{{println .}}{{end}}", tag],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        raise ContainerError(f"the engine gave no digest for {tag}")
    pinned = f"{tag}@{out[0].partition('@')[2]}"
    log(f"{dockerfile}: BASE_IMAGE has a placeholder digest; pinned {pinned} for this build "
        f"(write it into the Dockerfile's ARG BASE_IMAGE line)")
    return pinned
