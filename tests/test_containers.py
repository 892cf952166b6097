"""Container tooling: the engine, image and run commands of torchbragg.containers, the
payload plan, base images and digest pinning (builds, locks and linters:
tests/test_container_build.py)."""
from __future__ import annotations

import shutil
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
    assert "--no-cache" in tc.build_command("cpu", no_cache=True)
    cmd = tc.build_command("cpu", context="/repo")
    assert cmd[cmd.index("-f") + 1] == "/repo/Dockerfile" and cmd[-1] == "/repo"


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
    assert "--include=python3,python3-venv" in deb and "bookworm" in deb  # no compiler
    wh = tc.wheelhouse_command("requirements/cpu.txt", "build/wheelhouse/cpu", "py")
    assert wh[:4] == ["py", "-m", "pip", "download"] and "--require-hashes" in wh
    imp = tc.import_command(tmp_path / "base.tar")
    assert imp[:4] == ["docker", "import", "--change", "ENV PATH=" + tc.commands.BASE_PATH]
    assert imp[-1] == tc.SMOKE_BASE_TAG


def test_collect_bundles(tmp_path):
    staging, dest = tmp_path / "staging", tmp_path / "reports"
    (staging / "20260101T000000Z").mkdir(parents=True)
    (staging / "20260101T000000Z" / "summary.md").write_text("# PASS\n")
    (dest / "20260101T000000Z").mkdir(parents=True)
    moved = tc.collect_bundles(staging, dest)
    assert moved == [dest / "20260101T000000Z-1"]
    assert (moved[0] / "summary.md").is_file() and not staging.exists()


# --------------------------------------------------------------------------- base images
def _label_lines(text: str) -> dict[str, str]:
    """The LABEL key="${ARG}" pairs of the runtime stage."""
    import re

    return dict(re.findall(r'(org\.[\w.]+)="\$\{(\w+)\}"', text))


def test_dockerfiles_base_image_labels_and_stages():
    for kind, name in tc.DOCKERFILES.items():
        text = (ROOT / name).read_text()
        default = tc.base_image_default(ROOT / name)
        tag, digest = tc.split_digest(default)
        assert tag == "python:3.11-slim-bookworm"  # Python 3.11 in both images
        assert digest is None or tc.is_pinned(default)  # a tag, or a real digest: no zeros
        assert text.index("ARG BASE_IMAGE=") < text.index("FROM ${BASE_IMAGE} AS build")
        build, runtime = text.split("FROM ${BASE_IMAGE} AS build")[1].split("FROM ${BASE_IMAGE}")
        assert "container_build.sh build" in build and "--tools-lock" in build
        assert "container_build.sh runtime" in runtime and "COPY --from=build" in runtime
        assert "USER 10001:10001" in runtime
        assert 'ENTRYPOINT ["/opt/torchbragg/scripts/parity_payload.sh"]' in runtime
        assert "# syntax=" not in text and "--mount" not in text  # no BuildKit-only syntax
        # every label from a build argument, and image.json gets the same values
        labels = _label_lines(runtime)
        assert set(tc.LABELS) <= set(labels)
        args = {"revision": "REVISION", "created": "CREATED", "base_image": "BASE_IMAGE",
                "base_digest": "BASE_DIGEST", "torch": "TORCH_VERSION"}
        for label, key in tc.LABELS.items():
            assert labels[label] == args[key]
            assert f'"{key}=${{{args[key]}}}"' in build
        # the labelled torch is the lock's
        torch_arg = next(ln for ln in text.splitlines() if ln.startswith("ARG TORCH_VERSION="))
        assert torch_arg.split("=", 1)[1] == tc.locked_torch(ROOT, kind)
        assert f"ARG WHEELHOUSE={tc.WHEELHOUSE}/{kind}" in build


def test_is_pinned():
    assert not tc.is_pinned("python:3.11-slim")
    assert not tc.is_pinned("python:3.11-slim@" + tc.PLACEHOLDER_DIGEST)
    assert tc.is_pinned("python:3.11-slim@sha256:" + "ab" * 32)


def test_resolve_base_image_env_override(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text("ARG BASE_IMAGE=python:3.11-slim@sha256:" + "ab" * 32 + "\n")
    assert tc.resolve_base_image(df, env={"BASE_IMAGE": "local:1"}) == "local:1"
    assert tc.resolve_base_image(df, env={}) == "python:3.11-slim@sha256:" + "ab" * 32


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
        return DIGEST_A

    pinned = tc.pin_base_images(root, ["cpu", "cuda"], resolve=resolve, log=said.append)
    assert asked == ["python:3.11-slim-bookworm", "python:3.11-slim-bookworm"]
    assert pinned == {"cpu": f"python:3.11-slim-bookworm@{DIGEST_A}",
                      "cuda": f"python:3.11-slim-bookworm@{DIGEST_A}"}
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
    assert tc.resolve_base_image(root / "Dockerfile", env={}) == pinned["cpu"]


def test_pin_base_images_failure_writes_nothing(tmp_path):
    root = _dockerfiles(tmp_path)
    before = {n: (root / n).read_text() for n in tc.DOCKERFILES.values()}

    asked = []

    def resolve(tag):
        asked.append(tag)
        if len(asked) == 2:  # the second Dockerfile's base
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


def test_ensure_base_pulls_when_missing_and_fails_in_one_line():
    said = []
    run = _fake_docker({"image inspect": f"python@{DIGEST_A}\n{DIGEST_B}\n"})
    assert tc.ensure_base("python:3.11-slim-bookworm", run=run, log=said.append) == DIGEST_A
    assert said == [] and not any("pull" in c for c in run.calls)
    run = _fake_docker({})  # not local, and the registry does not answer
    with pytest.raises(tc.ContainerError) as info:
        tc.ensure_base("python:3.11-slim-bookworm", run=run, log=said.append)
    msg = str(info.value)
    assert "\n" not in msg and "cannot pull the base image python:3.11-slim-bookworm" in msg
    assert "BASE_IMAGE=<image>" in msg and "nox -s base" in msg
    assert ["docker", "pull", "python:3.11-slim-bookworm"] in run.calls


def test_base_digest_pinned_registry_or_local_id():
    pinned = "python:3.11-slim@" + DIGEST_A
    assert tc.base_digest(pinned, run=_fake_docker({})) == DIGEST_A  # no engine asked
    run = _fake_docker({"image inspect": f"other/x@{DIGEST_A}\npython@{DIGEST_B}\n"
                                         "sha256:" + "c3" * 32 + "\n"})
    assert tc.base_digest("python:3.11-slim", run=run) == DIGEST_B
    local = "sha256:" + "d4" * 32
    run = _fake_docker({"image inspect": local + "\n"})  # imported: no RepoDigests
    assert tc.base_digest("torchbragg-base:bookworm", run=run) == local


# --------------------------------------------------------------------------- locks
