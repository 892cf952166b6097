"""``nox -s docker-smoke``: an offline CPU image from a debootstrap base, the payload run in
it and on the host, the Torch float images compared."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from torchbragg.containers.commands import (
    build_command,
    debootstrap_command,
    host_payload,
    import_command,
    shell_line,
    wheelhouse_command,
)
from torchbragg.containers.config import (
    LOCKS,
    REPORTS,
    SMOKE_BASE_TAG,
    SMOKE_IMAGE,
    SMOKE_PACKAGES,
    SMOKE_SUITE,
    WHEELHOUSE,
)
from torchbragg.containers.container_run import image_id, image_size, run_in_container
from torchbragg.containers.engine import ensure_engine, mounts_under
from torchbragg.containers.errors import ContainerError
from torchbragg.containers.plan import find_inputs, payload_args, split_posargs
from torchbragg.containers.shell import _apt_install, _log, _run


def smoke_cache(env: dict | None = None) -> Path:
    """Where ``docker-smoke`` keeps the debootstrap base tarball between runs."""
    env = os.environ if env is None else env
    base = env.get("TORCHBRAGG_CACHE") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "torchbragg")
    return Path(base) / "docker-smoke"


def ensure_smoke_base(work: Path) -> str:
    """The local base image (debootstrap bookworm + python3, venv, gcc), imported once and
    kept as a tarball in :func:`smoke_cache`."""
    probe = subprocess.run(["docker", "image", "inspect", SMOKE_BASE_TAG], capture_output=True)
    if probe.returncode == 0:
        return SMOKE_BASE_TAG
    key = "-".join([SMOKE_SUITE, *SMOKE_PACKAGES])
    cache = smoke_cache()
    tarball = cache / f"base-{key}.tar"
    if not tarball.is_file():
        if not shutil.which("debootstrap"):
            _apt_install(["debootstrap"])
        rootfs = Path(work) / "rootfs"
        t0 = time.monotonic()
        _run(debootstrap_command(rootfs), capture=True)
        _log(f"debootstrap took {time.monotonic() - t0:.0f} s")
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        _run(["tar", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.replace(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    _run(import_command(tarball), capture=True)
    return SMOKE_BASE_TAG


def run_smoke(repo: Path, posargs=(), python: str | None = None) -> dict:
    """``nox -s docker-smoke``: build the CPU image with no network from a debootstrap base
    and a host wheelhouse, run the payload in it and on the host, compare the Torch float
    images.  Raises EngineUnavailable (skip) or ContainerError (failure); returns the result."""
    repo = Path(repo).resolve()
    result: dict = {"schema_version": 1}
    tmp = Path(tempfile.mkdtemp(prefix="tb-dockerd-"))
    work = Path(tempfile.mkdtemp(prefix="tb-smoke-"))
    daemon = None
    saved_host = os.environ.get("DOCKER_HOST")
    try:
        daemon = ensure_engine(tmp)
        result["engine"] = "started by hand (dockerd)" if daemon else "running engine"
        base = ensure_smoke_base(work)
        wheelhouse = repo / WHEELHOUSE
        wheelhouse.mkdir(parents=True, exist_ok=True)
        _run(wheelhouse_command(str(repo / LOCKS["cpu"]), str(wheelhouse), python))
        t0 = time.monotonic()
        _run(build_command("cpu", tag=SMOKE_IMAGE, context=str(repo),
                           build_args={"BASE_IMAGE": base}) , cwd=repo)
        result["build_seconds"] = round(time.monotonic() - t0, 1)
        result["image"] = SMOKE_IMAGE
        result["image_id"] = image_id(SMOKE_IMAGE)
        result["image_size_bytes"] = image_size(SMOKE_IMAGE)
        inputs = find_inputs(repo)
        _, rest = split_posargs(posargs)
        args, notes, error = payload_args(rest, inputs[0], inputs[1])
        if error:
            raise ContainerError(error)
        for n in notes:
            _log(n)
        result["payload_args"] = args
        t0 = time.monotonic()
        status, bundles = run_in_container(repo, SMOKE_IMAGE, args,
                                           str(inputs[0]) if inputs[0] else None,
                                           note="docker-smoke: container run")
        result["container_seconds"] = round(time.monotonic() - t0, 1)
        if len(bundles) != 1:
            raise ContainerError(f"the container wrote {len(bundles)} bundles (status {status})")
        result["container_bundle"] = str(bundles[0])
        result["container_status"] = status
        before = set((repo / REPORTS).iterdir())
        argv, env = host_payload(repo, args, runtime_note="docker-smoke: host reference run",
                                 python=python)
        t0 = time.monotonic()
        _log("$ " + shell_line(argv, env))
        host_status = subprocess.run(argv, env={**os.environ, **env}).returncode
        result["host_seconds"] = round(time.monotonic() - t0, 1)
        new = sorted(set((repo / REPORTS).iterdir()) - before)
        if len(new) != 1:
            raise ContainerError(f"the host run wrote {len(new)} bundles (status {host_status})")
        result["host_bundle"] = str(new[0])
        result["host_status"] = host_status
        for tag in ("py", "c"):
            c_sha = _sha256(bundles[0] / f"{tag}.float.bin")
            h_sha = _sha256(new[0] / f"{tag}.float.bin")
            result[f"{tag}_float_sha256"] = {"container": c_sha, "host": h_sha}
        py = result["py_float_sha256"]
        result["torch_float_identical"] = py["container"] is not None and \
            py["container"] == py["host"]
        return result
    finally:
        if daemon is not None:
            daemon.stop()
            if saved_host is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved_host
            if not mounts_under(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _sha256(path: Path) -> str | None:
    if not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

