"""Bundles the payload wrote: moved out of the staging folder, annotated with where they ran."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from torchbragg.containers.config import IMAGE_JSON, LABELS


# --------------------------------------------------------------------------- bundles
def collect_bundles(staging: Path, dest_root: Path) -> list[Path]:
    """Move every bundle folder the container wrote into ``staging`` to ``dest_root``
    (suffix ``-1``, ``-2``… on a name clash); remove ``staging``; return the new paths."""
    staging, dest_root = Path(staging), Path(dest_root)
    dest_root.mkdir(parents=True, exist_ok=True)
    moved = []
    for child in sorted(p for p in staging.iterdir() if p.is_dir()):
        target = dest_root / child.name
        i = 0
        while target.exists():
            i += 1
            target = dest_root / f"{child.name}-{i}"
        shutil.move(str(child), str(target))
        moved.append(target)
    shutil.rmtree(staging, ignore_errors=True)
    return moved


def annotate_bundle(bundle: Path, runtime: str, note: str = "", image: str | None = None
                    ) -> None:
    """Say where the payload ran: a section at the end of ``summary.md``, ``container`` keys
    in ``env.json``; then rewrite ``sha256.txt`` (the verdict line stays first)."""
    bundle = Path(bundle)
    where = ("host, no container" if runtime == "host"
             else f"{runtime} container" + (f" `{image}`" if image else ""))
    digest = os.environ.get("TORCHBRAGG_IMAGE_DIGEST") or "none"
    lines = ["", "## Where this ran", "", f"Runtime: **{where}** (container image: `{digest}`)."]
    if note:
        lines += ["", note]
    summary = bundle / "summary.md"
    if summary.is_file():
        text = _restate_headline(bundle, text=summary.read_text(),
                                 runtime=runtime if runtime == "host" else
                                 f"{runtime}" + (f" {image}" if image else ""), note=note)
        summary.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    env_path = bundle / "env.json"
    if env_path.is_file():
        data = json.loads(env_path.read_text())
        data["container"] = "none" if runtime == "host" else runtime
        data["container_note"] = note or None
        data.update(image_record(runtime))
        if os.environ.get("TORCHBRAGG_SOURCE_COMMIT"):
            data["source_commit"] = os.environ["TORCHBRAGG_SOURCE_COMMIT"]
        env_path.write_text(json.dumps(data, indent=2) + "\n")
    from torchbragg.parity.bundle import write_sha256  # the package is installed here

    write_sha256(bundle)


def image_record(runtime: str, env: dict | None = None) -> dict:
    """The env.json keys of the image the payload ran in: its id (``$TORCHBRAGG_IMAGE_DIGEST``,
    which ``docker run -e`` passes; ``unknown`` when not passed), the base image and its
    digest, and the image's OCI labels (from ``$TORCHBRAGG_PREFIX/image.json``, baked in at
    build time).  On the host all are ``none``."""
    env = os.environ if env is None else env
    if runtime == "host":
        return {"container_image_id": "none", "base_image": "none", "base_digest": "none",
                "image_labels": None}
    path = Path(env.get("TORCHBRAGG_PREFIX") or "/opt/torchbragg") / IMAGE_JSON
    try:
        baked = json.loads(path.read_text())
    except (OSError, ValueError):
        baked = {}
    return {
        "container_image_id": env.get("TORCHBRAGG_IMAGE_DIGEST") or "unknown",
        "base_image": baked.get("base_image", "unknown"),
        "base_digest": baked.get("base_digest", "unknown"),
        "image_labels": {label: baked[key] for label, key in LABELS.items() if key in baked}
        or None,
    }


def _restate_headline(bundle: Path, text: str, runtime: str, note: str) -> str:
    """A ``run`` bundle's first line names the runtime and any fallback: restate it with the
    payload's runtime and note (the verdict line stays first; metrics.json follows)."""
    metrics_path = bundle / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return text
    head = metrics.get("headline") if isinstance(metrics, dict) else None
    if not isinstance(head, dict) or not text.startswith("# "):
        return text
    from torchbragg.parity.report import fallback_of, headline

    head = {**head, "runtime": runtime,
            "fallback": head.get("fallback") or fallback_of(note)}
    metrics["headline"] = head
    metrics_path.write_text(json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    first, sep, rest = text.partition("\n")
    return headline(**head) + sep + rest
