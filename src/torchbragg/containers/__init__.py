"""Container runs of the parity payload: the logic behind ``noxfile.py``.

Everything here is standard library only (no torch), so ``nox -l`` and the command-line
builders work before the package's dependencies are installed.  The functions that build
``docker`` command lines are pure and unit-tested (``tests/test_containers.py``); the few
that run programs (engine probes, the hand-started daemon of ``docker-smoke``) are thin.

Modules, one job each (every public name is re-exported here):

``config``         image names, Dockerfiles, locks, mounts, folders, presets
``errors``         ContainerError, EngineUnavailable
``plan``           how parity-cpu/parity-cuda runs: payload arguments, docker/local/skip/error
``images``         the Dockerfile's BASE_IMAGE default, base digests, pinning
``reproduce``      provenance build arguments, the normalisation of a built image
``build``          wheelhouse, docker build, normalise: what the sessions build with
``commands``       pure builders of docker/dockerd/debootstrap/pip command lines
``bundles``        moving bundles out of the staging folder, annotating where they ran
``engine``         Docker engine and GPU probes, a dockerd started and stopped by hand
``container_run``  the payload run in a container into reports/parity
``smoke``          the ``docker-smoke`` procedure
``shell``          logged subprocess steps of docker-smoke
``cli``            the small command line below

Also a small command line used by ``scripts/parity_payload.sh``::

    python -m torchbragg.containers annotate BUNDLE --runtime host|docker [--note TEXT]
    python -m torchbragg.containers plan cpu|cuda [POSARGS...]     (prints the plan as JSON)
    python -m torchbragg.containers engine start|stop  (a dockerd by hand; start prints the
                                                        DOCKER_HOST line to eval)
"""
from __future__ import annotations

from torchbragg.containers.build import build_image, fill_wheelhouse, wheelhouse_dir
from torchbragg.containers.bundles import annotate_bundle, collect_bundles, image_record
from torchbragg.containers.cli import main
from torchbragg.containers.commands import (
    build_command,
    container_user,
    debootstrap_command,
    dockerd_command,
    host_payload,
    import_command,
    inspect_id_command,
    run_command,
    shell_line,
    wheelhouse_command,
)
from torchbragg.containers.config import (
    DEFAULT_PRESET,
    DOCKERFILES,
    IMAGE_CPU,
    IMAGE_CUDA,
    IMAGE_JSON,
    IMAGES,
    INPUTS_ENV,
    INPUTS_MOUNT,
    LABELS,
    LOCKS,
    OUT_MOUNT,
    PAYLOAD,
    PLACEHOLDER_DIGEST,
    REPORTS,
    REQUIRE_ENV,
    SMOKE_BASE_TAG,
    SMOKE_IMAGE,
    SMOKE_MIRROR,
    SMOKE_PACKAGES,
    SMOKE_SUITE,
    SUPERVISOR_INPUTS,
    SUPERVISOR_PRESET,
    TOOLS_LOCK,
    WHEELHOUSE,
)
from torchbragg.containers.container_run import (
    image_id,
    image_size,
    run_in_container,
    source_commit,
    tempfile_dir,
)
from torchbragg.containers.engine import (
    Daemon,
    engine_status,
    ensure_engine,
    gpu_status,
    mounts_under,
)
from torchbragg.containers.errors import ContainerError, EngineUnavailable
from torchbragg.containers.images import (
    base_digest,
    base_image_default,
    ensure_base,
    images_posargs,
    is_pinned,
    pin_base_images,
    resolve_base_image,
    resolve_digest,
    set_base_image,
    split_digest,
)
from torchbragg.containers.plan import (
    Plan,
    find_inputs,
    payload_args,
    plan_parity,
    require_docker,
    split_posargs,
)
from torchbragg.containers.reproduce import (
    clamp_layer,
    iso_utc,
    locked_torch,
    normalise,
    normalise_config,
    provenance_args,
    source_date_epoch,
)
from torchbragg.containers.smoke import ensure_smoke_base, run_smoke, smoke_cache

__all__ = [
    "DEFAULT_PRESET", "DOCKERFILES", "IMAGE_CPU", "IMAGE_CUDA", "IMAGE_JSON", "IMAGES",
    "INPUTS_ENV", "INPUTS_MOUNT", "LABELS", "LOCKS", "TOOLS_LOCK", "OUT_MOUNT", "PAYLOAD", "PLACEHOLDER_DIGEST",
    "REPORTS", "REQUIRE_ENV", "SMOKE_BASE_TAG", "SMOKE_IMAGE", "SMOKE_MIRROR", "SMOKE_PACKAGES",
    "SMOKE_SUITE", "SUPERVISOR_INPUTS", "SUPERVISOR_PRESET", "WHEELHOUSE",
    "ContainerError", "EngineUnavailable", "Daemon", "Plan",
    "annotate_bundle", "base_digest", "base_image_default", "build_command", "build_image",
    "clamp_layer", "collect_bundles", "ensure_base", "fill_wheelhouse", "image_record",
    "iso_utc", "locked_torch", "normalise", "normalise_config", "provenance_args",
    "source_date_epoch", "wheelhouse_dir",
    "container_user", "debootstrap_command", "dockerd_command", "engine_status",
    "ensure_engine", "ensure_smoke_base", "find_inputs", "gpu_status", "host_payload",
    "image_id", "image_size", "images_posargs", "import_command", "inspect_id_command",
    "is_pinned", "main", "mounts_under", "payload_args", "pin_base_images", "plan_parity",
    "require_docker", "resolve_base_image", "resolve_digest", "set_base_image",
    "run_command", "run_in_container", "run_smoke", "shell_line", "smoke_cache",
    "source_commit", "split_digest", "split_posargs", "tempfile_dir", "wheelhouse_command",
]
