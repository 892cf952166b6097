"""Names the container sessions share: images, Dockerfiles, locks, mounts, folders, presets."""
from __future__ import annotations

INPUTS_ENV = "TORCHBRAGG_INPUTS"
SUPERVISOR_INPUTS = ("A.mat", "scaled.hkl")
REQUIRE_ENV = "REQUIRE_DOCKER"

IMAGE_CPU = "torchbragg:cpu"
IMAGE_CUDA = "torchbragg:cuda"
DOCKERFILES = {"cpu": "Dockerfile", "cuda": "Dockerfile.cuda"}
IMAGES = {"cpu": IMAGE_CPU, "cuda": IMAGE_CUDA}
LOCKS = {"cpu": "requirements/cpu.txt", "cuda": "requirements/cuda.txt"}

OUT_MOUNT = "/out"
INPUTS_MOUNT = "/inputs"
#: Host folder (relative to the repository) the ``WHEELHOUSE`` build argument points at.
WHEELHOUSE = "build/wheelhouse"
REPORTS = "reports/parity"
PAYLOAD = "scripts/parity_payload.sh"

#: What ``parity-cpu``/``parity-cuda`` and the payload run when given no preset and no command:
#: the users' supervisor geometry on the project's own generated crystal (no input files
#: needed, nothing to fall back from).
DEFAULT_PRESET = "supervisor-like"
#: The users' own supervisor command; needs A.mat and scaled.hkl (``$TORCHBRAGG_INPUTS``).
SUPERVISOR_PRESET = "supervisor"

#: Debian suite and packages of the base image that ``docker-smoke`` makes with debootstrap
#: (python3 of bookworm is 3.11, like the default base image; the compiler is already in it,
#: so the build needs no network).
SMOKE_SUITE = "bookworm"
SMOKE_MIRROR = "http://deb.debian.org/debian"
SMOKE_PACKAGES = ("python3", "python3-venv", "gcc", "libc6-dev")
SMOKE_BASE_TAG = "torchbragg-smoke-base:bookworm"
SMOKE_IMAGE = "torchbragg:cpu-smoke"


PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
