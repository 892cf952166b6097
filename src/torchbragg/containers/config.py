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
#: The build stage's C compiler when the base has none (zig, from ziglang's wheel).
TOOLS_LOCK = "requirements/build-tools.txt"

OUT_MOUNT = "/out"
INPUTS_MOUNT = "/inputs"
#: Host folder (relative to the repository) of the wheelhouses, one per kind
#: (``build/wheelhouse/cpu``: the ``WHEELHOUSE`` build argument's default in Dockerfile).
WHEELHOUSE = "build/wheelhouse"
REPORTS = "reports/parity"
PAYLOAD = "scripts/parity_payload.sh"

#: What ``parity-cpu``/``parity-cuda`` and the payload run when given no preset and no command:
#: the users' supervisor geometry on the project's own generated crystal (no input files
#: needed, nothing to fall back from).
DEFAULT_PRESET = "supervisor-like"
#: The users' own supervisor command; needs A.mat and scaled.hkl (``$TORCHBRAGG_INPUTS``).
SUPERVISOR_PRESET = "supervisor"

#: Debian suite and packages of the local base image that ``nox -s base`` and
#: ``docker-smoke`` make with debootstrap: python3 of bookworm is 3.11, like the default base
#: image's, and, like it, no compiler (the build stage takes zig from the wheelhouse).
SMOKE_SUITE = "bookworm"
SMOKE_MIRROR = "http://deb.debian.org/debian"
SMOKE_PACKAGES = ("python3", "python3-venv")
SMOKE_BASE_TAG = "torchbragg-base:bookworm"
SMOKE_IMAGE = "torchbragg:cpu-smoke"


PLACEHOLDER_DIGEST = "sha256:" + "0" * 64

#: The images' OCI labels and the key of each in ``/opt/torchbragg/image.json`` (written in
#: the build stage from the same build arguments; the payload copies it into env.json).
LABELS = {
    "org.opencontainers.image.revision": "revision",
    "org.opencontainers.image.created": "created",
    "org.opencontainers.image.base.name": "base_image",
    "org.opencontainers.image.base.digest": "base_digest",
    "org.torchbragg.torch.version": "torch",
}
IMAGE_JSON = "image.json"
