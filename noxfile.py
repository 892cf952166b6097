"""nox sessions for torchbragg; the logic is in src/torchbragg/containers/ (unit-tested).

Sessions run in the current environment (``pip install -e . nox`` first: torch comes from the
pinned wheel, not from a fresh virtualenv), except ``lint``, which gets its own with the tools
of pyproject's ``lint`` extra.  ``REQUIRE_DOCKER=1`` turns a missing engine or GPU into an
error.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))
from torchbragg import containers as tc  # noqa: E402  (standard library only)

nox.options.sessions = ["tests", "lint"]
nox.options.error_on_external_run = False


def _say(session: nox.Session, message: str) -> None:
    """Log to stderr (nox's log goes there)."""
    session.log(message)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite (pytest) in the current environment."""
    session.run("python", "-m", "pytest", *session.posargs, external=True)


@nox.session(reuse_venv=True)
def lint(session: nox.Session) -> None:
    """Ruff, hadolint, check-jsonschema, zizmor and shellcheck over the repository."""
    project = nox.project.load_toml(str(ROOT / "pyproject.toml"))["project"]
    session.install(*project["optional-dependencies"]["lint"])
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    checks = [
        ["ruff", "check", "."],
        ["hadolint", "Dockerfile", "Dockerfile.cuda"],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows],
        ["zizmor", "--offline", *workflows],
        ["shellcheck", "scripts/container_build.sh", "scripts/parity_payload.sh", ".ci/run"],
        ["shellcheck", "--severity=warning", *sorted(str(p) for p in ROOT.glob("scripts/*.sh"))],
    ]
    failed = []
    for argv in checks:  # run every tool, then fail once, naming the ones that failed
        try:
            session.run(*argv)
        except nox.command.CommandFailed:
            failed.append(argv[0])
    if failed:
        session.error(f"lint failed: {', '.join(failed)}")


def _parity(session: nox.Session, kind: str) -> None:
    gpu = tc.gpu_status() if kind == "cuda" else (True, "")
    plan = tc.plan_parity(kind, session.posargs, engine=tc.engine_status(), gpu=gpu,
                          inputs=tc.find_inputs(ROOT))
    for note in plan.notes:
        _say(session, f"parity-{kind}: {note}")
    if plan.mode == "error":
        session.error(plan.reason)
    if plan.mode == "skip":
        session.skip(plan.reason)
    if plan.mode == "local":
        _say(session, f"parity-{kind}: {plan.reason}")
        argv, env = tc.host_payload(ROOT, plan.args,
                                    runtime_note=" ".join([plan.reason, *plan.notes]))
        session.run(*argv, env=env, external=True)
        return
    _build_image(session, kind)
    status, bundles = tc.run_in_container(ROOT, tc.IMAGES[kind], plan.args, plan.inputs,
                                          gpu=kind == "cuda", note=" ".join(plan.notes))
    for bundle in bundles:
        _say(session, f"parity-{kind}: bundle {bundle.relative_to(ROOT)}")
    if status != 0:
        session.error(f"the payload exited with {status} (1: parity FAIL, 2: error)")


def _build_image(session: nox.Session, kind: str) -> None:
    """Build the ``kind`` image offline from its wheelhouse, labelled and normalised."""
    try:
        built = tc.build_image(ROOT, kind, log=lambda m: _say(session, m))
    except tc.ContainerError as exc:  # no registry, no such base, no wheels: one line
        session.error(f"{tc.DOCKERFILES[kind]}: {exc}")
    _say(session, f"{built['image']}: id {built['image_id']}, "
                  f"{built['image_size_bytes'] / 1e6:.0f} MB, built in "
                  f"{built['build_seconds']:.0f} s on {built['base_image']} "
                  f"({built['base_digest']})")


@nox.session(name="parity-cpu", venv_backend="none", tags=["docker"])
def parity_cpu(session: nox.Session) -> None:
    """Parity payload in the CPU image (no network); `-- --local` or no engine: on the host."""
    _parity(session, "cpu")


@nox.session(name="parity-cuda", venv_backend="none", tags=["docker", "gpu"])
def parity_cuda(session: nox.Session) -> None:
    """Parity payload in the CUDA image with --gpus all --device cuda; skips without a GPU."""
    _parity(session, "cuda")


@nox.session(venv_backend="none")
def campaign(session: nox.Session) -> None:
    """A parity campaign (docs/campaign.md): `-- [smoke|coverage|random|SPEC] [--container]
    [torchbragg-parity campaign options]`; on the host, or in the CPU image."""
    from torchbragg.containers.campaign import (CAMPAIGN_REPORTS, campaign_plan,
                                                container_mounts, payload_args)

    try:
        plan = campaign_plan(ROOT, session.posargs)
    except tc.ContainerError as exc:
        session.error(str(exc))
    args = payload_args(ROOT, plan)
    if not plan.container:
        argv, env = tc.host_payload(ROOT, args, runtime_note="nox -s campaign on the host",
                                    out_root=str(ROOT / CAMPAIGN_REPORTS))
        session.run(*argv, env=env, external=True, success_codes=[0, 3])
        return
    ok, why = tc.engine_status()
    if not ok:
        session.error(f"campaign --container: no Docker engine: {why}")
    _build_image(session, "cpu")
    out = ROOT / CAMPAIGN_REPORTS
    out.mkdir(parents=True, exist_ok=True)
    argv = tc.run_command(tc.IMAGES["cpu"], out_dir=str(out), args=args,
                          user=tc.container_user())
    argv[argv.index(tc.IMAGES["cpu"]):argv.index(tc.IMAGES["cpu"])] = container_mounts(ROOT)
    session.run(*argv, external=True, success_codes=[0, 3])


@nox.session(venv_backend="none", tags=["docker"])
def images(session: nox.Session) -> None:
    """Build the CPU and CUDA images offline from their wheelhouses, labelled and normalised
    (posargs: cpu and/or cuda; BASE_IMAGE=<local image> offline); `--pin` first writes the
    digest the registry serves for each base tag into the Dockerfile's ARG BASE_IMAGE."""
    try:
        kinds, pin = tc.images_posargs(session.posargs)
    except tc.ContainerError as exc:
        session.error(str(exc))
    ok, why = tc.engine_status()
    if not ok:
        fail = session.error if pin or tc.require_docker() else session.skip
        fail(f"no Docker engine: {why}" + (" (--pin needs one)" if pin else ""))
    if pin:
        try:
            tc.pin_base_images(ROOT, kinds, log=lambda m: _say(session, f"images --pin: {m}"))
        except tc.ContainerError as exc:
            session.error(f"images --pin: {exc}")
    for kind in kinds:
        _build_image(session, kind)


@nox.session(venv_backend="none", tags=["docker"])
def base(session: nox.Session) -> None:
    """Make the local base image torchbragg-base:bookworm (debootstrap: bookworm's python3,
    no compiler) in the running engine, for offline builds: BASE_IMAGE=torchbragg-base:bookworm."""
    ok, why = tc.engine_status()
    if not ok:
        session.error(f"base: no Docker engine: {why}")
    try:
        image = tc.ensure_smoke_base(ROOT / "build")
    except tc.ContainerError as exc:
        session.error(f"base: {exc}")
    _say(session, f"base: {image} ({tc.base_digest(image)}); build on it with "
                  f"BASE_IMAGE={image} nox -s images")


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Run the benchmarks: python -m torchbragg.bench with posargs."""
    session.run("python", "-m", "torchbragg.bench", *session.posargs, external=True)


@nox.session(name="docker-smoke", venv_backend="none", tags=["docker"])
def docker_smoke(session: nox.Session) -> None:
    """Build the CPU image offline twice (one image id), check its Torch float image equals
    the host's and its bundle records the base digest, image id and labels."""
    t0 = time.monotonic()
    try:
        result = tc.run_smoke(ROOT, session.posargs, python=sys.executable)
    except tc.EngineUnavailable as exc:
        (session.error if tc.require_docker() else session.skip)(f"docker-smoke: {exc}")
    except tc.ContainerError as exc:
        session.error(f"docker-smoke: {exc}")
    result["total_seconds"] = round(time.monotonic() - t0, 1)
    out = ROOT / "reports" / "docker-smoke"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    py = result["py_float_sha256"]
    _say(session, f"docker-smoke: image {result['image_size_bytes'] / 1e6:.0f} MB, built in "
                  f"{' s and '.join(f'{t:.0f}' for t in result['build_seconds'])} s "
                  f"(--no-cache, twice): ids {result['image_id']} and "
                  f"{result['rebuild_image_id']}; base {result['base_image']} "
                  f"({result['base_digest']}); Torch float image sha256 container "
                  f"{py['container']} host {py['host']}; result {path.relative_to(ROOT)}")
    failures = [why for ok, why in (
        (result["reproducible"], "two --no-cache builds gave two image ids"),
        (result["provenance_recorded"], "env.json lacks the base digest, image id or labels"),
        (not result["compiler_in_runtime"], "the runtime image carries a C compiler"),
        (result["torch_float_identical"], "the Torch float image differs between container "
                                          "and host"),
        (result["container_status"] == 0 and result["host_status"] == 0,
         f"payload status container {result['container_status']}, host "
         f"{result['host_status']}"),
    ) if not ok]
    if failures:
        session.error("docker-smoke: " + "; ".join(failures))
