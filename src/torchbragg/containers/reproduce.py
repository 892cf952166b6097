"""Reproducible images: the provenance build arguments and the normalisation of a built image.

The classic builder (the only one of Debian's engine) dates every layer and the image config
at build time, so two ``--no-cache`` builds of the same sources differ.  :func:`normalise`
rewrites a built image the way BuildKit's ``SOURCE_DATE_EPOCH`` + ``rewrite-timestamp``
would: ``docker save``, every file of the image's own layers (those above the base's) dated
no later than ``SOURCE_DATE_EPOCH``, the config's creation dates set to it and the build
container's id dropped, ``docker load``.  Identical sources then give an identical image id.
The tar rewriting is pure (:func:`clamp_layer`, :func:`normalise_config`) and unit-tested.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path
from typing import IO

from torchbragg.containers.config import LOCKS
from torchbragg.containers.errors import ContainerError

_TIME_KEYS = ("mtime", "atime", "ctime")


def iso_utc(epoch: int) -> str:
    """``2026-12-06T18:00:00Z`` for an epoch in seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def source_date_epoch(repo: Path, env: dict | None = None) -> int:
    """``$SOURCE_DATE_EPOCH``, else the committer date of HEAD, else 0."""
    if env and env.get("SOURCE_DATE_EPOCH"):
        return int(env["SOURCE_DATE_EPOCH"])
    try:
        out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return 0
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else 0


def locked_torch(repo: Path, kind: str) -> str:
    """The torch version the kind's lock pins (``torch==X``), as ``torch.__version__`` says."""
    text = (Path(repo) / LOCKS[kind]).read_text()
    found = re.search(r"^torch==(\S+)", text, flags=re.M)
    if not found:
        raise ContainerError(f"{LOCKS[kind]}: no torch==VERSION line")
    return found.group(1)


def provenance_args(repo: Path, kind: str, base: str, base_digest: str,
                    revision: str | None, env: dict | None = None) -> dict[str, str]:
    """The build arguments that become the OCI labels and ``/opt/torchbragg/image.json``."""
    epoch = source_date_epoch(repo, env)
    return {
        "BASE_IMAGE": base,
        "BASE_DIGEST": base_digest,
        "REVISION": revision or "unknown",
        "CREATED": iso_utc(epoch),
        "SOURCE_DATE_EPOCH": str(epoch),
        "TORCH_VERSION": locked_torch(repo, kind),
    }


# --------------------------------------------------------------------------- tar rewriting
def clamp_layer(src: IO[bytes], dst: IO[bytes], epoch: int) -> str:
    """Copy the layer tar ``src`` to ``dst`` with every entry dated no later than ``epoch``
    and no access/change times; returns the ``sha256:`` digest of what was written."""
    hasher = _HashingWriter(dst)
    with tarfile.open(fileobj=src, mode="r|") as tin, \
            tarfile.open(fileobj=hasher, mode="w|", format=tarfile.PAX_FORMAT) as tout:
        for member in tin:
            member.mtime = min(int(member.mtime), epoch)
            member.pax_headers = {k: v for k, v in member.pax_headers.items()
                                  if k not in _TIME_KEYS}
            tout.addfile(member, tin.extractfile(member) if member.isreg() else None)
    return "sha256:" + hasher.sha.hexdigest()


class _HashingWriter:
    """A write-only file object that hashes what passes through it."""

    def __init__(self, fh: IO[bytes]):
        self.fh, self.sha = fh, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


def normalise_config(config: dict, diff_ids: list[str], base_layers: int, epoch: int) -> dict:
    """The image config with the new layer digests, its own history and its creation dated
    ``epoch``, and no build-container id (the base's history is kept as it is)."""
    out = json.loads(json.dumps(config))
    when = iso_utc(epoch)
    out["created"] = when
    out["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    for key in ("container", "container_config"):
        out.pop(key, None)
    if isinstance(out.get("config"), dict):
        out["config"]["Hostname"] = ""
        out["config"]["Image"] = ""  # the id of the build's intermediate parent image
    seen_layers = 0
    for entry in out.get("history", []):
        if seen_layers >= base_layers:
            entry["created"] = when
        if not entry.get("empty_layer"):
            seen_layers += 1
    return out


def config_bytes(config: dict) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- docker
def _docker(argv: list[str], capture: bool = True) -> str:
    proc = subprocess.run(["docker", *argv], capture_output=capture, text=True)
    if proc.returncode != 0:
        why = ((proc.stderr or "").strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise ContainerError(f"docker {argv[0]} failed: {why}")
    return proc.stdout or ""


def layer_count(image: str) -> int:
    return len(json.loads(_docker(["image", "inspect", "--format", "{{json .RootFS.Layers}}",
                                   image])) or [])


def normalise(image: str, base: str, epoch: int, work: Path | None = None, log=print) -> str:
    """Rewrite the built ``image`` (a tag) reproducibly (module docstring); returns its new
    id.  The unnormalised image is removed."""
    old_id = _docker(["image", "inspect", "--format", "{{.Id}}", image]).strip()
    base_layers = layer_count(base)
    tmp = Path(tempfile.mkdtemp(prefix="tb-normalise-", dir=work))
    try:
        saved, out_tar = tmp / "saved.tar", tmp / "normalised.tar"
        t0 = time.monotonic()
        _docker(["save", "-o", str(saved), image])
        with tarfile.open(saved) as tin, tarfile.open(out_tar, "w",
                                                      format=tarfile.PAX_FORMAT) as tout:
            [entry] = json.load(tin.extractfile("manifest.json"))
            config = json.load(tin.extractfile(entry["Config"]))
            diff_ids, names = [], []
            for i, name in enumerate(entry["Layers"]):
                if i < base_layers:
                    diff_ids.append(config["rootfs"]["diff_ids"][i])
                    _add_file(tout, name, tin.extractfile(name), tin.getmember(name).size)
                    names.append(name)
                    continue
                layer = tmp / f"layer-{i}.tar"
                with open(layer, "wb") as fh:
                    diff = clamp_layer(tin.extractfile(name), fh, epoch)
                diff_ids.append(diff)
                new_name = f"{diff.split(':')[1]}/layer.tar"
                with open(layer, "rb") as fh:
                    _add_file(tout, new_name, fh, layer.stat().st_size)
                layer.unlink()
                names.append(new_name)
            new_config = config_bytes(normalise_config(config, diff_ids, base_layers, epoch))
            new_id = "sha256:" + hashlib.sha256(new_config).hexdigest()
            _add_bytes(tout, f"{new_id.split(':')[1]}.json", new_config)
            manifest = [{"Config": f"{new_id.split(':')[1]}.json", "RepoTags": [image],
                         "Layers": names}]
            _add_bytes(tout, "manifest.json", json.dumps(manifest).encode())
        saved.unlink()
        _docker(["load", "-i", str(out_tar)])
        if old_id != new_id:
            subprocess.run(["docker", "image", "rm", old_id], capture_output=True)
        log(f"normalised {image}: {old_id[:19]} -> {new_id[:19]} "
            f"({time.monotonic() - t0:.0f} s)")
        return new_id
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _add_file(tout: tarfile.TarFile, name: str, fh: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    tout.addfile(info, fh)


def _add_bytes(tout: tarfile.TarFile, name: str, data: bytes) -> None:
    _add_file(tout, name, io.BytesIO(data), len(data))
