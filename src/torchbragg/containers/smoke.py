"""``nox -s docker-smoke``: the offline CPU image built twice on a debootstrap base (one image
id), the payload run in it and on the host, the Torch float images and the provenance checked."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from torchbragg.containers.build import build_image
from torchbragg.containers.commands import (
    debootstrap_command,
    host_payload,
    import_command,
    shell_line,
)
from torchbragg.containers.config import (
    LABELS,
    REPORTS,
    SMOKE_BASE_TAG,
    SMOKE_IMAGE,
    SMOKE_PACKAGES,
    SMOKE_SUITE,
)
from torchbragg.containers.container_run import run_in_container
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
    """The local base image (debootstrap bookworm + python3, venv; no compiler), imported
    once into the engine and kept as a tarball in :func:`smoke_cache`."""
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
    """``nox -s docker-smoke``: build the CPU image twice with ``--no-cache`` and no network
    on the local debootstrap base (no compiler: zig from the wheelhouse), check that both
    builds give one image id, run the payload in it and on the host, compare the Torch float
    images and check the bundle's provenance (base digest, image id, labels).  Raises
    EngineUnavailable (skip) or ContainerError (failure); returns the result."""
    repo = Path(repo).resolve()
    result: dict = {"schema_version": 2}
    tmp = Path(tempfile.mkdtemp(prefix="tb-dockerd-"))
    work = Path(tempfile.mkdtemp(prefix="tb-smoke-"))
    daemon = None
    saved_host = os.environ.get("DOCKER_HOST")
    try:
        daemon = ensure_engine(tmp)
        result["engine"] = "started by hand (dockerd)" if daemon else "running engine"
        env = {**os.environ, "BASE_IMAGE": ensure_smoke_base(work)}
        builds = []
        for _ in range(2):
            builds.append(build_image(repo, "cpu", tag=SMOKE_IMAGE, no_cache=True, env=env,
                                      python=python))
        first = builds[0]
        result.update({k: first[k] for k in ("image", "image_id", "image_size_bytes",
                                             "base_image", "base_digest")})
        result["build_seconds"] = [b["build_seconds"] for b in builds]
        result["normalise_seconds"] = [b["normalise_seconds"] for b in builds]
        result["rebuild_image_id"] = builds[1]["image_id"]
        result["reproducible"] = builds[0]["image_id"] == builds[1]["image_id"]
        result["labels"] = image_labels(SMOKE_IMAGE)
        result["compiler_in_runtime"] = _has_compiler(SMOKE_IMAGE)
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
        env_json = json.loads((bundles[0] / "env.json").read_text())
        result["env_json"] = {k: env_json.get(k) for k in (
            "container_image_id", "base_image", "base_digest", "image_labels")}
        before = set((repo / REPORTS).iterdir())
        argv, host_env = host_payload(repo, args, runtime_note="docker-smoke: host reference run",
                                      python=python)
        t0 = time.monotonic()
        _log("$ " + shell_line(argv, host_env))
        host_status = subprocess.run(argv, env={**os.environ, **host_env}).returncode
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
        result["provenance_recorded"] = (
            env_json.get("base_digest") == result["base_digest"]
            and env_json.get("container_image_id") == result["image_id"]
            and env_json.get("image_labels") == result["labels"])
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


def image_labels(image: str) -> dict:
    """The image's labels that torchbragg sets (config.LABELS), from ``docker image inspect``."""
    out = _run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
               capture=True).stdout
    labels = json.loads(out) or {}
    return {k: v for k, v in labels.items() if k in LABELS}


def _has_compiler(image: str) -> bool:
    """Whether ``cc``, ``gcc`` or ``clang`` is on the image's PATH."""
    proc = subprocess.run(["docker", "run", "--rm", "--network=none", "--entrypoint", "sh",
                           image, "-c", "command -v cc || command -v gcc || command -v clang"],
                          capture_output=True, text=True)
    return proc.returncode == 0


def _sha256(path: Path) -> str | None:
    if not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

