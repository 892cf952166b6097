"""Pure builders of the command lines the sessions run (docker build/run/import/inspect,
dockerd, debootstrap, pip download, the host payload)."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from torchbragg.containers.config import (
    DOCKERFILES,
    IMAGES,
    INPUTS_ENV,
    INPUTS_MOUNT,
    OUT_MOUNT,
    PAYLOAD,
    REPORTS,
    SMOKE_BASE_TAG,
    SMOKE_MIRROR,
    SMOKE_PACKAGES,
    SMOKE_SUITE,
)


# --------------------------------------------------------------------------- command lines
def build_command(kind: str, *, tag: str | None = None, context: str = ".",
                  build_args: dict[str, str] | None = None, network_none: bool = True,
                  no_cache: bool = False, docker: str = "docker") -> list[str]:
    """``docker build`` of the CPU or CUDA image (``--network=none`` for offline builds)."""
    cmd = [docker, "build", "-f", str(Path(context) / DOCKERFILES[kind]),
           "-t", tag or IMAGES[kind]]
    if network_none:
        cmd.append("--network=none")
    if no_cache:
        cmd.append("--no-cache")
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(context)
    return cmd


def run_command(image: str, *, out_dir: str, args: list[str], inputs: str | None = None,
                gpu: bool = False, user: str | None = None, image_id: str | None = None,
                docker: str = "docker") -> list[str]:
    """``docker run`` of the payload: no network, bundle into ``out_dir`` mounted at /out,
    the supervisor inputs mounted read-only at /inputs."""
    cmd = [docker, "run", "--rm", "--network=none", "--cap-drop=ALL",
           "--security-opt=no-new-privileges", "-v", f"{out_dir}:{OUT_MOUNT}"]
    if inputs:
        cmd += ["-v", f"{inputs}:{INPUTS_MOUNT}:ro", "-e", f"{INPUTS_ENV}={INPUTS_MOUNT}"]
    if image_id:
        cmd += ["-e", f"TORCHBRAGG_IMAGE_DIGEST={image_id}"]
    if gpu:
        cmd += ["--gpus", "all"]
    if user:
        cmd += ["--user", user]
    cmd.append(image)
    cmd += list(args)
    return cmd


def container_user(uid: int | None = None, gid: int | None = None) -> str | None:
    """``--user UID:GID`` so the bundle belongs to the caller; None for root (the image's own
    non-root user runs, and the staging folder is made writable for it)."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    return None if uid == 0 else f"{uid}:{gid}"


def inspect_id_command(image: str, docker: str = "docker") -> list[str]:
    return [docker, "image", "inspect", "--format", "{{.Id}}", image]


def host_payload(repo: Path, args: list[str], *, runtime_note: str,
                 out_root: str | None = None, python: str | None = None
                 ) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) that run the identical payload on the host."""
    env = {
        "PARITY_OUT": str(Path(repo) / REPORTS) if out_root is None else out_root,
        "TORCHBRAGG_RUNTIME": "host",
        "TORCHBRAGG_RUNTIME_NOTE": runtime_note,
        "PYTHON": python or sys.executable,
    }
    return ["bash", str(Path(repo) / PAYLOAD), *args], env


def wheelhouse_command(lock: str, dest: str, python: str | None = None) -> list[str]:
    """``pip download`` of the hash-locked requirements into a wheelhouse (offline builds);
    files already there are checked against the hashes, not fetched again.  pip's own
    configuration says where torch's CPU wheel is (``PIP_EXTRA_INDEX_URL``, a find-links)."""
    return [python or sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "-r", lock, "-d", dest]


def dockerd_command(tmp: Path) -> list[str]:
    """A hand-started Debian ``dockerd``: socket, data root, exec root and pidfile in ``tmp``."""
    tmp = Path(tmp)
    return ["dockerd", "--storage-driver=overlay2", "--bridge=none", "--iptables=false",
            "--ip6tables=false", f"--host=unix://{tmp}/docker.sock",
            f"--data-root={tmp}/data", f"--exec-root={tmp}/exec", f"--pidfile={tmp}/docker.pid"]


def debootstrap_command(rootfs: Path, suite: str = SMOKE_SUITE, mirror: str = SMOKE_MIRROR,
                        packages=SMOKE_PACKAGES) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite,
            str(rootfs), mirror]


#: The PATH an imported root file system gets (``docker import`` sets no environment).
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def import_command(tarball: Path, tag: str = SMOKE_BASE_TAG, docker: str = "docker") -> list[str]:
    return [docker, "import", "--change", f"ENV PATH={BASE_PATH}", str(tarball), tag]


def shell_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + shlex.join(argv)

