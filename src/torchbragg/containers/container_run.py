"""The payload run in a container: image id/size, source commit, bundles to reports/parity."""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from torchbragg.containers.bundles import collect_bundles
from torchbragg.containers.commands import container_user, inspect_id_command, run_command
from torchbragg.containers.config import REPORTS
from torchbragg.containers.shell import _log, _run


def image_size(image: str) -> int:
    out = _run(["docker", "image", "inspect", "--format", "{{.Size}}", image], capture=True)
    return int(out.stdout.strip())


def image_id(image: str) -> str:
    return _run(inspect_id_command(image), capture=True).stdout.strip()


def run_in_container(repo: Path, image: str, args: list[str], inputs: str | None,
                     gpu: bool = False, note: str = "") -> tuple[int, list[Path]]:
    """``docker run`` of the payload into a staging folder; bundles moved to reports/parity."""
    dest = Path(repo) / REPORTS
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile_dir(dest))
    os.chmod(staging, 0o777)  # the image's non-root user writes here when the caller is root
    argv = run_command(image, out_dir=str(staging), args=args, inputs=inputs, gpu=gpu,
                       user=container_user(), image_id=image_id(image))
    extra = ["-e", f"TORCHBRAGG_IMAGE={image}"]
    if note:
        extra += ["-e", f"TORCHBRAGG_RUNTIME_NOTE={note}"]
    commit = source_commit(repo)
    if commit:
        extra += ["-e", f"TORCHBRAGG_SOURCE_COMMIT={commit}"]
    argv[argv.index(image):argv.index(image)] = extra
    _log("$ " + shlex.join(argv))
    try:
        status = subprocess.run(argv).returncode
    finally:
        bundles = collect_bundles(staging, dest)
    return status, bundles


def source_commit(repo: Path) -> str | None:
    """``git rev-parse HEAD`` of the checkout the image was built from (``-dirty`` when it has
    uncommitted changes); the image has no .git, so the payload gets it as an environment
    variable and annotate_bundle records it in env.json."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def tempfile_dir(parent: Path) -> str:
    return tempfile.mkdtemp(prefix=".incoming-", dir=parent)

