"""Logged subprocess steps of ``docker-smoke`` (and installing missing Debian packages)."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

from torchbragg.containers.errors import ContainerError, EngineUnavailable


def _log(msg: str) -> None:
    print(f"docker-smoke: {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], env: dict | None = None, capture: bool = False, **kw):
    _log("$ " + shlex.join(argv))
    proc = subprocess.run(argv, env=env, text=True,
                          capture_output=capture, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] if capture else []
        raise ContainerError(f"{shlex.join(argv[:3])}... exited with {proc.returncode}"
                             + (f": {tail[0]}" if tail else ""))
    return proc


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EngineUnavailable(f"{', '.join(packages)} missing and apt-get is not usable "
                                f"(not root or not Debian)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        try:
            _run(argv, env=env, capture=True)
        except ContainerError as exc:
            raise EngineUnavailable(f"cannot install {', '.join(packages)}: {exc}") from None

