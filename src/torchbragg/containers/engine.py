"""Docker engine and GPU probes; a ``dockerd`` started and stopped by hand."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from torchbragg.containers.commands import dockerd_command
from torchbragg.containers.errors import ContainerError, EngineUnavailable
from torchbragg.containers.shell import _apt_install, _log


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


# --------------------------------------------------------------------------- dockerd by hand
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



# --------------------------------------------------------------------------- a lasting engine
def engine_dir(env: dict | None = None) -> Path:
    """Where ``engine start`` keeps its dockerd (socket, images): ``$TORCHBRAGG_DOCKERD``, else
    ``~/.cache/torchbragg/dockerd``."""
    env = os.environ if env is None else env
    given = env.get("TORCHBRAGG_DOCKERD")
    return Path(given) if given else Path.home() / ".cache" / "torchbragg" / "dockerd"


def start_engine(root: Path) -> str:
    """Start Debian's dockerd by hand in ``root`` unless it runs there already; returns its
    DOCKER_HOST.  It keeps running (and keeps its images) until :func:`stop_engine`."""
    daemon = Daemon(root)
    ok, _ = engine_status_at(daemon.host)
    if not ok:
        if not shutil.which("dockerd"):
            _apt_install(["docker.io"])
        try:
            daemon.start()
        except (ContainerError, OSError) as exc:
            raise ContainerError(f"dockerd could not start: {exc}") from None
    return daemon.host


def stop_engine(root: Path, timeout: float = 30) -> bool:
    """SIGTERM the dockerd that :func:`start_engine` started in ``root`` (its pidfile);
    False when none runs there."""
    try:
        pid = int((Path(root) / "docker.pid").read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.5)
    for mount in reversed(mounts_under(Path(root))):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    return True


def engine_status_at(host: str) -> tuple[bool, str]:
    """:func:`engine_status` of the engine at ``host`` (a ``unix://`` socket)."""
    saved = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = host
    try:
        return engine_status(timeout=5)
    finally:
        if saved is None:
            os.environ.pop("DOCKER_HOST", None)
        else:
            os.environ["DOCKER_HOST"] = saved
