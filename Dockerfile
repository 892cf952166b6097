# torchbragg parity image, CPU (Python 3.11, torch 2.13.0+cpu, the bundled C reference).
# Plain Dockerfile syntax only: builds with the classic builder and with BuildKit alike.
# Every step is in scripts/container_build.sh, which Dockerfile.cuda shares and the tests run
# natively.  Offline build (what `nox -s docker-smoke` does):
#   pip download --no-deps --require-hashes --only-binary=:all: -r requirements/cpu.txt -d build/wheelhouse
#   docker build --network=none -t torchbragg:cpu .
# Own nanoBragg-compatible C program instead of the bundled one (a path inside the context):
#   docker build --build-arg C_SOURCE=local/nanoBragg.c -t torchbragg:cpu-upstream .
#
# BASE_IMAGE default: python:3.11-slim-bookworm pinned by digest.
# PIN with `nox -s images -- --pin` (a Docker engine that reaches the registry): it
# resolves each base tag's current digest and writes it on the ARG line of both Dockerfiles
# (`-- --pin cpu`: this one only), then builds; commit the change.  An all-zero digest is
# the placeholder of an unpinned file: `nox -s images|parity-cpu` then pin the tag's digest
# for that build only, print it and record it in the bundle's env.json.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000

# hadolint ignore=DL3006
FROM ${BASE_IMAGE} AS build
ARG LOCK=requirements/cpu.txt
ARG WHEELHOUSE=build/wheelhouse
ARG C_SOURCE=
ARG C_FLAGS=
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY . /src
RUN bash /src/scripts/container_build.sh build --src /src --prefix /opt/torchbragg \
        --lock "/src/${LOCK}" --wheelhouse "/src/${WHEELHOUSE}" \
        --c-source "${C_SOURCE:+/src/${C_SOURCE}}" --c-flags "${C_FLAGS}"

# hadolint ignore=DL3006
FROM ${BASE_IMAGE}
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
