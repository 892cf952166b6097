"""Container runs of the parity payload: the logic behind ``noxfile.py``.

Everything here is standard library only (no torch), so ``nox -l`` and the command-line
builders work before the package's dependencies are installed.  The functions that build
``docker`` command lines are pure and unit-tested (``tests/test_containers.py``); the few
that run programs (engine probes, the hand-started daemon of ``docker-smoke``) are thin.

Also a small command line used by ``scripts/parity_payload.sh``::

    python -m torchbragg.containers annotate BUNDLE --runtime host|docker [--note TEXT]
    python -m torchbragg.containers plan cpu|cuda [POSARGS...]     (prints the plan as JSON)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

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

DEFAULT_PRESET = "supervisor"
FALLBACK_PRESET = "smoke"

#: Debian suite and packages of the base image that ``docker-smoke`` makes with debootstrap
#: (python3 of bookworm is 3.11, like the default base image; the compiler is already in it,
#: so the build needs no network).
SMOKE_SUITE = "bookworm"
SMOKE_MIRROR = "http://deb.debian.org/debian"
SMOKE_PACKAGES = ("python3", "python3-venv", "gcc", "libc6-dev")
SMOKE_BASE_TAG = "torchbragg-smoke-base:bookworm"
SMOKE_IMAGE = "torchbragg:cpu-smoke"


PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


class ContainerError(RuntimeError):
    """A container step failed (the message is one line)."""


class EngineUnavailable(ContainerError):
    """No Docker engine answers and none could be started (a skip unless REQUIRE_DOCKER=1)."""


# --------------------------------------------------------------------------- environment
def require_docker(env: dict | None = None) -> bool:
    """``REQUIRE_DOCKER`` set to 1/true/yes: a missing engine or GPU is an error, not a skip."""
    value = (os.environ if env is None else env).get(REQUIRE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def find_inputs(repo: Path, env: dict | None = None) -> tuple[Path | None, str]:
    """The supervisor inputs folder and a sentence saying where it was looked for.

    ``$TORCHBRAGG_INPUTS``, else ``../shared/golden/inputs`` beside the checkout (the same
    rule as ``torchbragg.parity.presets``).  Returns (None, reason) when A.mat or scaled.hkl
    is missing.
    """
    env = os.environ if env is None else env
    given = env.get(INPUTS_ENV)
    path = Path(given) if given else Path(repo).resolve().parent / "shared" / "golden" / "inputs"
    missing = [n for n in SUPERVISOR_INPUTS if not (path / n).is_file()]
    where = f"${INPUTS_ENV}={given}" if given else f"{path} (set ${INPUTS_ENV} to change)"
    if missing:
        return None, f"{', '.join(missing)} not found in {where}"
    return path.resolve(), f"inputs from {where}"


def engine_status(docker: str = "docker", timeout: float = 20) -> tuple[bool, str]:
    """(True, server version) when a Docker engine answers, else (False, the reason)."""
    exe = shutil.which(docker)
    if not exe:
        return False, f"no '{docker}' command on PATH"
    try:
        proc = subprocess.run([exe, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"'{docker} version' did not answer within {timeout:g} s"
    except OSError as exc:
        return False, f"cannot run {docker}: {exc.strerror}"
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        return False, lines[-1].strip() if lines else f"'{docker} version' failed"
    return True, f"Docker engine {proc.stdout.strip()}"


def gpu_status(timeout: float = 20) -> tuple[bool, str]:
    """(True, GPU list) when ``nvidia-smi -L`` lists a GPU, else (False, the reason)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False, "no NVIDIA GPU: nvidia-smi is not on PATH"
    try:
        proc = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"no NVIDIA GPU: nvidia-smi failed ({exc})"
    gpus = [x for x in proc.stdout.splitlines() if x.startswith("GPU ")]
    if proc.returncode != 0 or not gpus:
        return False, "no NVIDIA GPU: nvidia-smi -L lists none"
    return True, "; ".join(gpus)


# --------------------------------------------------------------------------- the plan
@dataclass
class Plan:
    """What a ``parity-cpu``/``parity-cuda`` session does.

    ``mode``: ``docker`` (build the image, run the payload in it), ``local`` (run the payload
    on the host), ``skip`` (nothing to do, say ``reason``) or ``error`` (fail with ``reason``).
    """

    kind: str
    mode: str
    args: list[str]
    reason: str = ""
    inputs: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def split_posargs(posargs) -> tuple[bool, list[str]]:
    """Remove the session's own ``--local`` flag (before any ``--``); return (local, rest)."""
    args = list(posargs)
    head, sep, tail = _split_dashdash(args)
    local = "--local" in head
    head = [a for a in head if a != "--local"]
    return local, head + sep + tail


def _split_dashdash(args: list[str]) -> tuple[list[str], list[str], list[str]]:
    if "--" in args:
        i = args.index("--")
        return args[:i], ["--"], args[i + 1:]
    return args, [], []


def _option_value(args: list[str], name: str) -> str | None:
    head, _, _ = _split_dashdash(args)
    for i, a in enumerate(head):
        if a == name and i + 1 < len(head):
            return head[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def payload_args(rest: list[str], inputs: Path | None, inputs_reason: str,
                 device: str | None = None) -> tuple[list[str], list[str], str | None]:
    """(harness arguments, notes, error) for the payload.

    No ``--preset`` and no nanoBragg command after ``--``: the default preset ``supervisor``,
    or — its third-party inputs being absent — the self-contained ``smoke`` preset with a note
    saying so.  An explicit ``--preset supervisor`` without inputs is an error (no silent
    substitution of what the user asked for).  ``device`` adds ``--device`` unless given.
    """
    args = list(rest)
    notes: list[str] = []
    head, sep, tail = _split_dashdash(args)
    preset = _option_value(args, "--preset")
    if preset is None and not tail:
        if inputs is not None:
            preset = DEFAULT_PRESET
        else:
            preset = FALLBACK_PRESET
            notes.append(f"preset 'supervisor' needs A.mat and scaled.hkl: {inputs_reason}; "
                         f"running the self-contained 'smoke' preset instead")
        head = ["--preset", preset] + head
    elif preset == DEFAULT_PRESET and inputs is None:
        return [], notes, f"--preset supervisor needs A.mat and scaled.hkl: {inputs_reason}"
    if device and _option_value(head, "--device") is None:
        head = head + ["--device", device]
    return head + sep + tail, notes, None


def plan_parity(kind: str, posargs, *, engine: tuple[bool, str], gpu: tuple[bool, str],
                inputs: tuple[Path | None, str], env: dict | None = None) -> Plan:
    """Decide how ``parity-<kind>`` runs; pure (the probes' answers are arguments)."""
    if kind not in DOCKERFILES:
        raise ValueError(f"unknown kind {kind!r}")
    require = require_docker(env)
    local, rest = split_posargs(posargs)
    device = "cuda" if kind == "cuda" else None
    args, notes, error = payload_args(rest, inputs[0], inputs[1], device)
    inputs_path = str(inputs[0]) if inputs[0] is not None else None
    if error:
        return Plan(kind, "error", args, error, inputs_path, notes)
    if kind == "cuda" and not gpu[0]:
        mode = "error" if require else "skip"
        return Plan(kind, mode, args, f"parity-cuda: {gpu[1]}", inputs_path, notes)
    if local:
        return Plan(kind, "local", args, "--local: the payload runs on the host, no container",
                    inputs_path, notes)
    if not engine[0]:
        if require:
            return Plan(kind, "error", args,
                        f"{REQUIRE_ENV}=1 and no Docker engine answered: {engine[1]}",
                        inputs_path, notes)
        return Plan(kind, "local", args,
                    f"no Docker engine answered ({engine[1]}): running the payload on the host "
                    f"instead (container: none); set {REQUIRE_ENV}=1 to make this an error",
                    inputs_path, notes)
    return Plan(kind, "docker", args, engine[1], inputs_path, notes)


# --------------------------------------------------------------------------- base images
def base_image_default(dockerfile: Path) -> str:
    """The default of ``ARG BASE_IMAGE=`` in a Dockerfile."""
    for line in Path(dockerfile).read_text().splitlines():
        if line.startswith("ARG BASE_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise ContainerError(f"{dockerfile}: no 'ARG BASE_IMAGE=' line")


def split_digest(image: str) -> tuple[str, str | None]:
    """``name:tag@sha256:…`` → (``name:tag``, ``sha256:…``); (image, None) without a digest."""
    name, sep, digest = image.partition("@")
    return name, (digest if sep else None)


def is_pinned(image: str) -> bool:
    """A real (non-placeholder) ``@sha256:<64 hex>`` digest."""
    _, digest = split_digest(image)
    if not digest or not digest.startswith("sha256:") or digest == PLACEHOLDER_DIGEST:
        return False
    hexpart = digest[len("sha256:"):]
    return len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


def resolve_base_image(dockerfile: Path, env: dict | None = None, docker: str = "docker",
                       log=print) -> str | None:
    """The ``BASE_IMAGE`` build argument to pass, or None to keep the Dockerfile's default.

    ``$BASE_IMAGE`` wins.  A placeholder digest in the Dockerfile is replaced by the digest the
    engine resolves for the tag (``docker pull`` then RepoDigests), said on stderr so it can be
    written into the Dockerfile."""
    env = os.environ if env is None else env
    if env.get("BASE_IMAGE"):
        return env["BASE_IMAGE"]
    default = base_image_default(dockerfile)
    if is_pinned(default):
        return None
    tag, _ = split_digest(default)
    subprocess.run([docker, "pull", tag], check=True)
    out = subprocess.run([docker, "image", "inspect", "--format",
                          "{{range .RepoDigests}}{{println .}}{{end}}", tag],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        raise ContainerError(f"the engine gave no digest for {tag}")
    pinned = f"{tag}@{out[0].partition('@')[2]}"
    log(f"{dockerfile}: BASE_IMAGE has a placeholder digest; pinned {pinned} for this build "
        f"(write it into the Dockerfile's ARG BASE_IMAGE line)")
    return pinned


# --------------------------------------------------------------------------- command lines
def build_command(kind: str, *, tag: str | None = None, context: str = ".",
                  build_args: dict[str, str] | None = None, network_none: bool = True,
                  docker: str = "docker") -> list[str]:
    """``docker build`` of the CPU or CUDA image (``--network=none`` for offline builds)."""
    cmd = [docker, "build", "-f", DOCKERFILES[kind], "-t", tag or IMAGES[kind]]
    if network_none:
        cmd.append("--network=none")
    for key, value in (build_args or {}).items():
        cmd += ["--build-arg", f"{key}={value}"]
    cmd.append(context)
    return cmd


def run_command(image: str, *, out_dir: str, args: list[str], inputs: str | None = None,
                gpu: bool = False, user: str | None = None, image_id: str | None = None,
                docker: str = "docker") -> list[str]:
    """``docker run`` of the payload: no network, bundle into ``out_dir`` mounted at /out,
    the supervisor inputs mounted read-only at /inputs."""
    cmd = [docker, "run", "--rm", "--network=none", "--cap-drop=ALL",
           "--security-opt=no-new-privileges", "-v", f"{out_dir}:{OUT_MOUNT}"]
    if inputs:
        cmd += ["-v", f"{inputs}:{INPUTS_MOUNT}:ro", "-e", f"{INPUTS_ENV}={INPUTS_MOUNT}"]
    if image_id:
        cmd += ["-e", f"TORCHBRAGG_IMAGE_DIGEST={image_id}"]
    if gpu:
        cmd += ["--gpus", "all"]
    if user:
        cmd += ["--user", user]
    cmd.append(image)
    cmd += list(args)
    return cmd


def container_user(uid: int | None = None, gid: int | None = None) -> str | None:
    """``--user UID:GID`` so the bundle belongs to the caller; None for root (the image's own
    non-root user runs, and the staging folder is made writable for it)."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    return None if uid == 0 else f"{uid}:{gid}"


def inspect_id_command(image: str, docker: str = "docker") -> list[str]:
    return [docker, "image", "inspect", "--format", "{{.Id}}", image]


def host_payload(repo: Path, args: list[str], *, runtime_note: str,
                 out_root: str | None = None, python: str | None = None
                 ) -> tuple[list[str], dict[str, str]]:
    """(argv, extra environment) that run the identical payload on the host."""
    env = {
        "PARITY_OUT": str(Path(repo) / REPORTS) if out_root is None else out_root,
        "TORCHBRAGG_RUNTIME": "host",
        "TORCHBRAGG_RUNTIME_NOTE": runtime_note,
        "PYTHON": python or sys.executable,
    }
    return ["bash", str(Path(repo) / PAYLOAD), *args], env


def wheelhouse_command(lock: str, dest: str, python: str | None = None) -> list[str]:
    """``pip download`` of the hash-locked requirements into a wheelhouse (offline builds)."""
    return [python or sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "-r", lock, "-d", dest]


def dockerd_command(tmp: Path) -> list[str]:
    """A hand-started Debian ``dockerd``: socket, data root, exec root and pidfile in ``tmp``."""
    tmp = Path(tmp)
    return ["dockerd", "--storage-driver=overlay2", "--bridge=none", "--iptables=false",
            "--ip6tables=false", f"--host=unix://{tmp}/docker.sock",
            f"--data-root={tmp}/data", f"--exec-root={tmp}/exec", f"--pidfile={tmp}/docker.pid"]


def debootstrap_command(rootfs: Path, suite: str = SMOKE_SUITE, mirror: str = SMOKE_MIRROR,
                        packages=SMOKE_PACKAGES) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", suite,
            str(rootfs), mirror]


def import_command(tarball: Path, tag: str = SMOKE_BASE_TAG, docker: str = "docker") -> list[str]:
    return [docker, "import", str(tarball), tag]


def shell_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + shlex.join(argv)


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
        text = summary.read_text()
        summary.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    env_path = bundle / "env.json"
    if env_path.is_file():
        data = json.loads(env_path.read_text())
        data["container"] = "none" if runtime == "host" else runtime
        data["container_note"] = note or None
        if os.environ.get("TORCHBRAGG_SOURCE_COMMIT"):
            data["source_commit"] = os.environ["TORCHBRAGG_SOURCE_COMMIT"]
        env_path.write_text(json.dumps(data, indent=2) + "\n")
    from torchbragg.parity.bundle import write_sha256  # the package is installed here

    write_sha256(bundle)


# --------------------------------------------------------------------------- docker-smoke
class Daemon:
    """A ``dockerd`` started by hand (``docker-smoke``), stopped by its PID."""

    def __init__(self, tmp: Path, log=None):
        self.tmp = Path(tmp)
        self.proc: subprocess.Popen | None = None
        self.log = log

    @property
    def host(self) -> str:
        return f"unix://{self.tmp}/docker.sock"

    def start(self, timeout: float = 60) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        logfile = open(self.tmp / "dockerd.log", "wb")  # noqa: SIM115 - lives with the daemon
        self.proc = subprocess.Popen(dockerd_command(self.tmp), stdout=logfile,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        env = {**os.environ, "DOCKER_HOST": self.host}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ContainerError(f"dockerd exited with {self.proc.returncode}: "
                                     f"{self.last_log_line()}")
            ok = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, env=env).returncode == 0
            if ok:
                return
            time.sleep(1)
        raise ContainerError(f"dockerd did not answer within {timeout:g} s: "
                             f"{self.last_log_line()}")

    def last_log_line(self) -> str:
        try:
            lines = (self.tmp / "dockerd.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(empty log)"

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the daemon by its PID, wait, then unmount what it left under ``tmp``."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for mount in reversed(mounts_under(self.tmp)):
            subprocess.run(["umount", "-l", mount], capture_output=True)


def mounts_under(path: Path) -> list[str]:
    """Mount points below ``path`` (from /proc/self/mounts), outermost first."""
    root = str(Path(path).resolve())
    found = []
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            point = line.split()[1].encode().decode("unicode_escape")
            if point == root or point.startswith(root + "/"):
                found.append(point)
    except OSError:
        pass
    return sorted(set(found), key=len)


def smoke_cache(env: dict | None = None) -> Path:
    """Where ``docker-smoke`` keeps the debootstrap base tarball between runs."""
    env = os.environ if env is None else env
    base = env.get("TORCHBRAGG_CACHE") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "torchbragg")
    return Path(base) / "docker-smoke"


def _log(msg: str) -> None:
    print(f"docker-smoke: {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], env: dict | None = None, capture: bool = False, **kw):
    _log("$ " + shlex.join(argv))
    proc = subprocess.run(argv, env=env, text=True,
                          capture_output=capture, **kw)
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] if capture else []
        raise ContainerError(f"{shlex.join(argv[:3])}... exited with {proc.returncode}"
                             + (f": {tail[0]}" if tail else ""))
    return proc


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise EngineUnavailable(f"{', '.join(packages)} missing and apt-get is not usable "
                                f"(not root or not Debian)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        try:
            _run(argv, env=env, capture=True)
        except ContainerError as exc:
            raise EngineUnavailable(f"cannot install {', '.join(packages)}: {exc}") from None


def ensure_engine(tmp: Path) -> Daemon | None:
    """Use the engine that answers, else start Debian's dockerd by hand (installing docker.io
    when missing).  Returns the started Daemon (to stop), or None for an existing engine."""
    ok, why = engine_status()
    if ok:
        _log(f"using the running {why}")
        return None
    _log(f"no engine answers ({why}); starting dockerd by hand")
    if not shutil.which("dockerd") or not shutil.which("docker"):
        _apt_install(["docker.io"])
    daemon = Daemon(tmp)
    try:
        daemon.start()
    except (ContainerError, OSError) as exc:
        daemon.stop()
        raise EngineUnavailable(f"dockerd could not start: {exc}") from None
    os.environ["DOCKER_HOST"] = daemon.host
    return daemon


def ensure_smoke_base(work: Path) -> str:
    """The local base image (debootstrap bookworm + python3, venv, gcc), imported once and
    kept as a tarball in :func:`smoke_cache`."""
    probe = subprocess.run(["docker", "image", "inspect", SMOKE_BASE_TAG], capture_output=True)
    if probe.returncode == 0:
        return SMOKE_BASE_TAG
    key = "-".join([SMOKE_SUITE, *SMOKE_PACKAGES])
    cache = smoke_cache()
    tarball = cache / f"base-{key}.tar"
    if not tarball.is_file():
        if not shutil.which("debootstrap"):
            _apt_install(["debootstrap"])
        rootfs = Path(work) / "rootfs"
        t0 = time.monotonic()
        _run(debootstrap_command(rootfs), capture=True)
        _log(f"debootstrap took {time.monotonic() - t0:.0f} s")
        cache.mkdir(parents=True, exist_ok=True)
        partial = tarball.with_suffix(".partial")
        _run(["tar", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.replace(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    _run(import_command(tarball), capture=True)
    return SMOKE_BASE_TAG


def image_size(image: str) -> int:
    out = _run(["docker", "image", "inspect", "--format", "{{.Size}}", image], capture=True)
    return int(out.stdout.strip())


def image_id(image: str) -> str:
    return _run(inspect_id_command(image), capture=True).stdout.strip()


def run_in_container(repo: Path, image: str, args: list[str], inputs: str | None,
                     gpu: bool = False, note: str = "") -> tuple[int, list[Path]]:
    """``docker run`` of the payload into a staging folder; bundles moved to reports/parity."""
    dest = Path(repo) / REPORTS
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile_dir(dest))
    os.chmod(staging, 0o777)  # the image's non-root user writes here when the caller is root
    argv = run_command(image, out_dir=str(staging), args=args, inputs=inputs, gpu=gpu,
                       user=container_user(), image_id=image_id(image))
    extra = ["-e", f"TORCHBRAGG_IMAGE={image}"]
    if note:
        extra += ["-e", f"TORCHBRAGG_RUNTIME_NOTE={note}"]
    commit = source_commit(repo)
    if commit:
        extra += ["-e", f"TORCHBRAGG_SOURCE_COMMIT={commit}"]
    argv[argv.index(image):argv.index(image)] = extra
    _log("$ " + shlex.join(argv))
    try:
        status = subprocess.run(argv).returncode
    finally:
        bundles = collect_bundles(staging, dest)
    return status, bundles


def source_commit(repo: Path) -> str | None:
    """``git rev-parse HEAD`` of the checkout the image was built from (``-dirty`` when it has
    uncommitted changes); the image has no .git, so the payload gets it as an environment
    variable and annotate_bundle records it in env.json."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=20)
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def tempfile_dir(parent: Path) -> str:
    return tempfile.mkdtemp(prefix=".incoming-", dir=parent)


def run_smoke(repo: Path, posargs=(), python: str | None = None) -> dict:
    """``nox -s docker-smoke``: build the CPU image with no network from a debootstrap base
    and a host wheelhouse, run the payload in it and on the host, compare the Torch float
    images.  Raises EngineUnavailable (skip) or ContainerError (failure); returns the result."""
    repo = Path(repo).resolve()
    result: dict = {"schema_version": 1}
    tmp = Path(tempfile.mkdtemp(prefix="tb-dockerd-"))
    work = Path(tempfile.mkdtemp(prefix="tb-smoke-"))
    daemon = None
    saved_host = os.environ.get("DOCKER_HOST")
    try:
        daemon = ensure_engine(tmp)
        result["engine"] = "started by hand (dockerd)" if daemon else "running engine"
        base = ensure_smoke_base(work)
        wheelhouse = repo / WHEELHOUSE
        wheelhouse.mkdir(parents=True, exist_ok=True)
        _run(wheelhouse_command(str(repo / LOCKS["cpu"]), str(wheelhouse), python))
        t0 = time.monotonic()
        _run(build_command("cpu", tag=SMOKE_IMAGE, context=str(repo),
                           build_args={"BASE_IMAGE": base}) , cwd=repo)
        result["build_seconds"] = round(time.monotonic() - t0, 1)
        result["image"] = SMOKE_IMAGE
        result["image_id"] = image_id(SMOKE_IMAGE)
        result["image_size_bytes"] = image_size(SMOKE_IMAGE)
        inputs = find_inputs(repo)
        _, rest = split_posargs(posargs)
        args, notes, error = payload_args(rest, inputs[0], inputs[1])
        if error:
            raise ContainerError(error)
        for n in notes:
            _log(n)
        result["payload_args"] = args
        t0 = time.monotonic()
        status, bundles = run_in_container(repo, SMOKE_IMAGE, args,
                                           str(inputs[0]) if inputs[0] else None,
                                           note="docker-smoke: container run")
        result["container_seconds"] = round(time.monotonic() - t0, 1)
        if len(bundles) != 1:
            raise ContainerError(f"the container wrote {len(bundles)} bundles (status {status})")
        result["container_bundle"] = str(bundles[0])
        result["container_status"] = status
        before = set((repo / REPORTS).iterdir())
        argv, env = host_payload(repo, args, runtime_note="docker-smoke: host reference run",
                                 python=python)
        t0 = time.monotonic()
        _log("$ " + shell_line(argv, env))
        host_status = subprocess.run(argv, env={**os.environ, **env}).returncode
        result["host_seconds"] = round(time.monotonic() - t0, 1)
        new = sorted(set((repo / REPORTS).iterdir()) - before)
        if len(new) != 1:
            raise ContainerError(f"the host run wrote {len(new)} bundles (status {host_status})")
        result["host_bundle"] = str(new[0])
        result["host_status"] = host_status
        for tag in ("py", "c"):
            c_sha = _sha256(bundles[0] / f"{tag}.float.bin")
            h_sha = _sha256(new[0] / f"{tag}.float.bin")
            result[f"{tag}_float_sha256"] = {"container": c_sha, "host": h_sha}
        py = result["py_float_sha256"]
        result["torch_float_identical"] = py["container"] is not None and \
            py["container"] == py["host"]
        return result
    finally:
        if daemon is not None:
            daemon.stop()
            if saved_host is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved_host
            if not mounts_under(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _sha256(path: Path) -> str | None:
    if not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torchbragg.containers")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("annotate", help="record where the payload ran in a bundle")
    p.add_argument("bundle")
    p.add_argument("--runtime", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--image", default=None)
    p = sub.add_parser("plan", help="print what parity-cpu/parity-cuda would do, as JSON")
    p.add_argument("kind", choices=sorted(DOCKERFILES))
    p.add_argument("posargs", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if opts.cmd == "annotate":
        annotate_bundle(Path(opts.bundle), opts.runtime, opts.note, opts.image)
        return 0
    repo = Path(__file__).resolve().parents[2]
    plan = plan_parity(opts.kind, opts.posargs, engine=engine_status(), gpu=gpu_status(),
                       inputs=find_inputs(repo))
    print(plan.to_json())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
