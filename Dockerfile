# torchbragg parity image, CPU (Python 3.11, torch 2.13.0+cpu, the bundled C reference).
# Plain Dockerfile syntax only: builds with the classic builder and with BuildKit alike.
# Every step is in scripts/container_build.sh, which Dockerfile.cuda shares and the tests run
# natively.  `nox -s images -- cpu` fills build/wheelhouse/cpu, builds with --network=none and
# the provenance build arguments below, and normalises the image (README, "Reproducing in
# containers").  By hand, online (pulls the base tag):
#   docker build -t torchbragg:cpu .
# Offline, on a local base image that has python3 (a compiler is optional: without one the
# build stage uses zig from the wheelhouse; `nox -s docker-smoke` makes such a base):
#   BASE_IMAGE=torchbragg-base:bookworm nox -s images -- cpu
# Own nanoBragg-compatible C program instead of the bundled one (a path inside the context):
#   docker build --build-arg C_SOURCE=local/nanoBragg.c -t torchbragg:cpu-upstream .
#
# BASE_IMAGE: python:3.11-slim-bookworm.  `nox -s images -- --pin` (an engine that reaches
# the registry) resolves the tag's digest and writes tag@sha256:... on this line; commit it.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# hadolint ignore=DL3006
FROM ${BASE_IMAGE} AS build
ARG BASE_IMAGE
ARG BASE_DIGEST=unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG TORCH_VERSION=2.13.0+cpu
ARG SOURCE_DATE_EPOCH
ARG LOCK=requirements/cpu.txt
ARG TOOLS_LOCK=requirements/build-tools.txt
ARG WHEELHOUSE=build/wheelhouse/cpu
ARG C_SOURCE=
ARG C_FLAGS=
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY . /src
RUN bash /src/scripts/container_build.sh build --src /src --prefix /opt/torchbragg \
        --lock "/src/${LOCK}" --wheelhouse "/src/${WHEELHOUSE}" \
        --tools-lock "/src/${TOOLS_LOCK}" --tools /opt/build-tools \
        --c-source "${C_SOURCE:+/src/${C_SOURCE}}" --c-flags "${C_FLAGS}" \
        --image-json /opt/torchbragg/image.json kind=cpu "base_image=${BASE_IMAGE}" \
        "base_digest=${BASE_DIGEST}" "revision=${REVISION}" "created=${CREATED}" \
        "torch=${TORCH_VERSION}"

# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG BASE_DIGEST=unknown
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG TORCH_VERSION=2.13.0+cpu
ARG SOURCE_DATE_EPOCH
LABEL org.opencontainers.image.title="torchbragg parity (CPU)" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      org.torchbragg.torch.version="${TORCH_VERSION}"
COPY --from=build /opt/torchbragg /opt/torchbragg
RUN bash /opt/torchbragg/scripts/container_build.sh runtime --prefix /opt/torchbragg \
        --user torchbragg --uid 10001
ENV PATH=/opt/torchbragg/venv/bin:${PATH} \
    PYTHON=/opt/torchbragg/venv/bin/python \
    TORCHBRAGG_PREFIX=/opt/torchbragg \
    TORCHBRAGG_CACHE=/opt/torchbragg/cache \
    TORCHBRAGG_RUNTIME=docker \
    PARITY_OUT=/out \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /out
ENTRYPOINT ["/opt/torchbragg/scripts/parity_payload.sh"]
CMD ["--preset", "supervisor-like"]
