"""Report bundles: the timestamped folder, env.json, commands.txt and sha256.txt."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from torchbragg.parity.sides import input_files, run_process

SHA_FILE = "sha256.txt"


class BundleError(OSError):
    """The report folder cannot be created or written (exit status 2)."""


def timestamp(now: float | None = None) -> str:
    """UTC timestamp like ``20261129T012345Z``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


class StagedBundle:
    """A bundle folder built beside its final place and renamed there at the end.

    The constructor only checks the target: with ``out`` the folder itself, which must not
    exist or be an empty folder; otherwise ``out_root/<UTC timestamp>`` (``-1``, ``-2``, …
    when taken at the end). ``with stage:`` creates the missing parent folders and a hidden
    ``.NAME.partial-XXXXXXXX`` folder beside the target (:attr:`path`, where the files are
    written); a clean exit renames it into place (:attr:`final`), an exception removes it
    and the parents it made. An ``OSError`` becomes a :class:`BundleError` naming the path
    and the system's reason. An existing bundle is never written into or replaced.
    """

    def __init__(self, out: str | os.PathLike | None = None,
                 out_root: str | os.PathLike = "reports/parity"):
        self.path: Path | None = None
        self.final: Path | None = None
        self._made: list[Path] = []
        if out is not None:
            self._target, self._stamped = Path(out), False
            _check_free(self._target)
        else:
            self._target, self._stamped = Path(out_root) / timestamp(), True
            if self._target.parent.exists() and not self._target.parent.is_dir():
                raise BundleError(f"{self._target.parent} exists and is not a folder")

    def __enter__(self) -> "StagedBundle":
        parent = self._target.parent
        try:
            self._make_parents(parent)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self._target.name[:60]}.partial-",
                                              dir=parent))
            self.path.chmod(0o777 & ~_umask())      # mkdtemp's 0700: as a plain mkdir
        except OSError as exc:
            self._discard()
            raise BundleError(f"cannot create {_failed_path(exc, parent)}: "
                              f"{exc.strerror or exc}") from None
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            try:
                self.final = self._commit()
                return
            except BaseException as error:
                exc = error
                self._discard()
                if not isinstance(error, OSError) or isinstance(error, BundleError):
                    raise
        else:
            self._discard()
        if isinstance(exc, OSError) and not isinstance(exc, BundleError):
            if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
                _, dst, why = exc.args[0][0]       # copytree: the first file that failed
                exc = OSError(None, str(why), dst)
            raise BundleError(f"cannot write the bundle {self._shown(exc)}: "
                              f"{exc.strerror or exc}") from None

    def _shown(self, exc: OSError) -> str:
        """The failing path, under the final name; the bundle folder when unknown."""
        name = exc.filename if isinstance(exc.filename, str) else None
        if name and self.path is not None and name.startswith(str(self.path)):
            return str(self._target) + name[len(str(self.path)):]
        return name or str(self._target)

    def _make_parents(self, parent: Path) -> None:
        missing = []
        while not parent.exists():
            missing.append(parent)
            if parent.parent == parent:
                break
            parent = parent.parent
        for folder in reversed(missing):
            folder.mkdir()
            self._made.append(folder)

    def _commit(self) -> Path:
        if not self._stamped:
            try:
                os.rename(self.path, self._target)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise BundleError(f"output folder {self._target} already exists and is "
                                      "not empty") from None
                raise
            return self._target
        for i in range(1000):
            name = self._target.name if i == 0 else f"{self._target.name}-{i}"
            path = self._target.with_name(name)
            try:
                path.mkdir()             # reserve the name, then replace the empty folder
            except FileExistsError:
                continue
            os.rename(self.path, path)
            return path
        raise BundleError(f"cannot find a free folder name under {self._target.parent}")

    def _discard(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:
                break


def _umask() -> int:
    """The process's umask (set back at once; called before any worker thread starts)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_free(path: Path) -> None:
    """BundleError unless ``path`` is absent or an empty folder (not a link)."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        raise BundleError(f"output folder {path} already exists and is not a folder")
    try:
        empty = not any(path.iterdir())
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not empty:
        raise BundleError(f"output folder {path} already exists and is not empty")


def _failed_path(exc: OSError, default: Path) -> str:
    return exc.filename if isinstance(exc.filename, str) else str(default)


def write_text(path, text: str) -> None:
    """``Path(path).write_text(text)``, the OSError naming ``path`` (ENOSPC has no name)."""
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def write_json(path, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def copy_file(src, dst) -> None:
    """``shutil.copyfile``, the OSError naming ``dst`` for a write error (a full disk)."""
    try:
        shutil.copyfile(src, dst)
    except OSError as exc:
        name = exc.filename2 or exc.filename or str(dst)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            name = str(dst)
        raise OSError(exc.errno, exc.strerror, name) from None


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sha256(bundle) -> Path:
    """Write ``sha256.txt`` (``sha256sum`` format) covering every other file in ``bundle``."""
    bundle = Path(bundle)
    lines = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        if rel == SHA_FILE:
            continue
        lines.append(f"{sha256_of(path)}  {rel}\n")
    target = bundle / SHA_FILE
    write_text(target, "".join(lines))
    return target


def verify_sha256(bundle) -> list[str]:
    """Files whose digest does not match ``sha256.txt`` (empty list when all verify)."""
    bundle = Path(bundle)
    bad = []
    for line in (bundle / SHA_FILE).read_text().splitlines():
        digest, _, rel = line.partition("  ")
        path = bundle / rel
        if not path.is_file() or sha256_of(path) != digest:
            bad.append(rel)
    return bad


# --------------------------------------------------------------------------- env.json
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _run_text(argv: list[str], cwd=None, timeout: float = 120) -> str | None:
    """A helper program's stdout (None when it fails, cannot start or times out)."""
    done = run_process(argv, cwd, None, timeout)
    return done.stdout.strip() if done.returncode == 0 and not done.timed_out else None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def git_info(start: Path) -> dict:
    top = _run_text(["git", "-C", str(start), "rev-parse", "--show-toplevel"], timeout=20)
    if not top:
        return {"commit": None, "dirty": None}
    commit = _run_text(["git", "-C", top, "rev-parse", "HEAD"], timeout=20)
    status = _run_text(["git", "-C", top, "status", "--porcelain", "--untracked-files=no"],
                       timeout=30)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def compiler_version() -> str | None:
    for cc in [os.environ.get("CC"), "cc", "gcc", "clang"]:
        if cc and shutil.which(shlex.split(cc)[0]):
            out = _run_text([*shlex.split(cc), "--version"], timeout=20)
            if out:
                return out.splitlines()[0]
    return None


def c_build_info(c_cmd: list[str]) -> str | dict | None:
    """``torchbragg-cref --build-info`` (JSON when it prints JSON).

    Only asked of ``torchbragg-cref``: another nanoBragg-compatible program would take the
    unknown flag as a reason to run a default simulation.
    """
    if not c_cmd or Path(c_cmd[0]).name != "torchbragg-cref":
        return None
    out = _run_text([*c_cmd, "--build-info"], timeout=300)
    if out is None:
        return None
    try:
        return json.loads(out)
    except ValueError:
        pairs = [line.partition(": ") for line in out.splitlines()]
        if pairs and all(sep for _, sep, _ in pairs):
            return {key.strip(): value.strip() for key, _, value in pairs}
        return out


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        try:
            import torch
            if torch.cuda.is_available():
                return torch.cuda.get_device_name(torch.device(device))
            return "cuda requested, not available"
        except Exception as exc:  # noqa: BLE001 - report, never fail the bundle
            return f"unknown ({type(exc).__name__})"
    return cpu_model() or "cpu"


#: ISA extensions worth recording (x86 /proc/cpuinfo ``flags``, aarch64 ``Features``).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512cd",
             "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
             "asimd", "sve", "sve2")
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "TORCH_NUM_THREADS", "OMP_PROC_BIND", "KMP_AFFINITY")


def cpu_isa() -> list[str] | None:
    """The :data:`ISA_FLAGS` the first CPU of /proc/cpuinfo advertises (None: unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            have = set(value.split())
            return [f for f in ISA_FLAGS if f in have]
    return None


def file_record(path, flag: str | None = None) -> dict:
    """{flag, path, exists, size, sha256} of an input (or program) file."""
    p = Path(path)
    rec = {"flag": flag} if flag is not None else {}
    rec["path"] = str(p)
    if p.is_file():
        rec.update(exists=True, size=p.stat().st_size, sha256=sha256_of(p))
    else:
        rec.update(exists=False, size=None, sha256=None)
    return rec


def input_records(args: list[str] | None) -> list[dict]:
    """sha256 and size of every input file named on the command line (-hkl, -mat, -img,
    -mask, -sourcefile, -stol, -4stol, -Q; -dump when it is read)."""
    return [file_record(path, flag) for flag, path in input_files(list(args or []))]


def _parallel_info(text: str) -> dict:
    """``torch.__config__.parallel_info()`` as {key: value} (``at::get_num_threads()``: "2")."""
    info, libs = {}, []
    for line in text.splitlines():
        key, sep, value = line.strip().partition(" : ")
        if sep:
            info[key.strip()] = value.strip()
        elif line.strip() and not line.startswith("\t") and not line.endswith(":"):
            libs.append(line.strip())
    info["libraries"] = libs
    return info


def thread_info(py_env: dict[str, str] | None = None,
                c_env: dict[str, str] | None = None) -> dict:
    """Torch and BLAS thread counts as the harness process sees them (the Torch side runs
    with the same environment plus ``py_env``; the C side with ``c_env``)."""
    seen = {**os.environ, **(py_env or {})}
    out: dict = {"measured_in": "harness process (the Torch side's environment)",
                 "env": {k: seen.get(k) for k in THREAD_ENV},
                 "c_side_env": dict(c_env or {})}
    try:
        import torch

        out["torch_num_threads"] = torch.get_num_threads()
        out["torch_num_interop_threads"] = torch.get_num_interop_threads()
        out["torch_parallel_info"] = _parallel_info(torch.__config__.parallel_info())
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        show = torch.__config__.show()
        for key in ("BLAS_INFO", "LAPACK_INFO"):
            marker = key + "="
            if marker in show:
                out[key.lower()] = show.split(marker, 1)[1].split(",", 1)[0].strip()
    except Exception as exc:  # noqa: BLE001 - report, never fail the bundle
        out["torch_error"] = f"{type(exc).__name__}: {exc}"
    try:
        import threadpoolctl  # optional: not a dependency

        out["threadpoolctl"] = [
            {k: d.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                   "filepath")}
            for d in threadpoolctl.threadpool_info()]
    except ImportError:
        out["threadpoolctl"] = None
    except Exception as exc:  # noqa: BLE001
        out["threadpoolctl"] = f"{type(exc).__name__}: {exc}"
    return out


def c_program(c_cmd: list[str], build_info) -> dict:
    """The C program's compiler, flags and binary: from ``--build-info`` when it answered
    (plus the compiler's version and the cached build command), else the executable's hash."""
    out: dict = {"command": list(c_cmd)}
    info = build_info if isinstance(build_info, dict) else {}
    cc = info.get("compiler")
    if cc:
        out["compiler"] = cc
        version = _run_text([*shlex.split(cc), "--version"], timeout=20)
        out["compiler_version"] = version.splitlines()[0] if version else None
    if info.get("flags") is not None:
        out["flags"] = info["flags"]
    binary = info.get("binary")
    if binary:
        out["binary"] = file_record(binary)
        flags_file = Path(binary).parent / (Path(binary).name.rsplit("-", 1)[0] + ".flags")
        if flags_file.is_file():
            cmd = flags_file.read_text().strip()
            out["last_build_command"] = cmd
            out["last_build_command_matches_flags"] = bool(info.get("flags")) and \
                info["flags"] in cmd
            out["last_build_command_note"] = (
                "the most recent torchbragg-cref build in the cache; it may have built another "
                "cached binary (other sources, same flags)")
    elif c_cmd:
        exe = c_cmd[0] if os.sep in c_cmd[0] else (shutil.which(c_cmd[0]) or c_cmd[0])
        out["binary"] = file_record(exe)
        out["files"] = [file_record(a) for a in c_cmd[1:] if Path(a).is_file()]  # scripts
        out["compiler"] = None
        out["flags"] = None
        out["note"] = "not torchbragg-cref: compiler and flags unknown; the binary is hashed"
    return out


def runtime_name() -> str:
    """Where the harness runs: ``$TORCHBRAGG_RUNTIME`` (set by the payload script) or
    ``direct`` (run by hand)."""
    return os.environ.get("TORCHBRAGG_RUNTIME") or "direct"


def environment(device: str, dtype: str, c_cmd: list[str], py_cmd: list[str], *,
                args: list[str] | None = None, c_env: dict[str, str] | None = None,
                py_env: dict[str, str] | None = None) -> dict:
    """The content of env.json (``args``: the nanoBragg arguments, for the input hashes)."""
    here = Path(__file__).resolve().parent
    build_info = c_build_info(c_cmd)
    return {
        "schema_version": 1,
        "created_utc": timestamp(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "torchbragg": _version("torchbragg"),
        "compiler": compiler_version(),
        "c_reference_build_info": build_info,
        "c_program": c_program(c_cmd, build_info),
        "c_command": c_cmd,
        "py_command": py_cmd,
        "inputs": input_records(args),
        "git": git_info(here),
        "device": device,
        "device_name": device_name(device),
        "dtype": dtype,
        "cpu_model": cpu_model(),
        "cpu_isa": cpu_isa(),
        "cpu_count": os.cpu_count(),
        "threads": thread_info(py_env, c_env),
        "runtime": runtime_name(),
        "runtime_note": os.environ.get("TORCHBRAGG_RUNTIME_NOTE") or None,
        "container_image": os.environ.get("TORCHBRAGG_IMAGE") or "none",
        "container_image_digest": os.environ.get("TORCHBRAGG_IMAGE_DIGEST") or "none",
    }


# --------------------------------------------------------------------------- re-running
RERUN_DIR = "rerun"


def _side_line(side, folder: str) -> str:
    """One side as a shell line run from the bundle folder (a subshell: cwd stays put)."""
    env_part = " ".join(f"{k}={shlex.quote(v)}" for k, v in side.env.items())
    return (f"(mkdir -p {folder} && cd {folder} && " + (f"env {env_part} " if env_part else "")
            + shlex.join(side.argv) + ")")


def write_rerun(bundle, c, py, inputs: list[dict], size, tolerance: float | None = None,
                python: str | None = None) -> None:
    """``commands.txt`` (one line per side, run from the bundle folder) and ``rerun.sh``
    (recreates the scratch folders, checks the inputs' sha256, reruns both sides, compares
    the new images with each other and with the bundle's)."""
    bundle = Path(bundle)
    python = python or sys.executable
    q = shlex.quote
    in_lines = [f"#   {r['flag']} {r['path']}  sha256 {r['sha256'] or 'MISSING'}" for r in inputs]
    write_text(bundle / "commands.txt", "\n".join([
        "# Run from this bundle folder (cd into it first); each line recreates its scratch "
        f"folder under {RERUN_DIR}/.",
        "# ./rerun.sh does both, checks the inputs and compares the images.",
        "# Input files (absolute paths; sha256 and size also in env.json):",
        *(in_lines or ["#   none"]),
        f"# C side (reference); originally run in {c.cwd}",
        _side_line(c, f"{RERUN_DIR}/c"),
        f"# Torch side; originally run in {py.cwd}",
        _side_line(py, f"{RERUN_DIR}/py"), ""]))

    def run_block(side, tag: str) -> list[str]:
        env_part = " ".join(f"{k}={q(v)}" for k, v in side.env.items())
        return [f'echo "rerun.sh: {side.label} side in $work/{tag}" >&2',
                f'(cd "$work/{tag}" && ' + (f"env {env_part} " if env_part else "")
                + shlex.join(side.argv) + f' >stdout.txt 2>stderr.txt); {tag}_status=$?']

    compare = []
    if size is not None:
        tol = [] if tolerance is None else ["--tolerance", repr(tolerance)]
        compare = [
            "for tag in c py; do",
            '    if [ -f "$here/$tag.float.bin" ] && cmp -s "$here/$tag.float.bin" '
            '"$work/$tag/float.bin"; then',
            '        echo "rerun.sh: $tag float image identical to the bundle\'s $tag.float.bin"',
            "    else",
            '        echo "rerun.sh: $tag float image DIFFERS from the bundle\'s '
            '$tag.float.bin (or it has none)"',
            "    fi",
            "done",
            f'{q(python)} -c "import sys; from torchbragg.parity.cli import main; '
            f'sys.exit(main(sys.argv[1:]))" compare-images --ref "$work/c/float.bin" '
            f'--test "$work/py/float.bin" --fpixels {size[0]} --spixels {size[1]} '
            + " ".join(tol),
        ]
    else:
        compare = ['echo "rerun.sh: the detector size is unknown; images not compared" >&2',
                   "exit 0"]
    checks = [f"check_input {q(r['path'])} {q(r['sha256'] or '')}" for r in inputs]
    script = [
        "#!/usr/bin/env bash",
        "# Re-run both sides of this torchbragg-parity bundle and compare their float images.",
        f"#   ./rerun.sh [WORKDIR]    (default WORKDIR: {RERUN_DIR}/ beside this script)",
        f"# Original scratch folders: C {c.cwd}, PY {py.cwd} (removed after the run).",
        "# Both sides inherit this shell's environment (the run had PYTHONPATH="
        f"{os.environ.get('PYTHONPATH', '(unset)')}).",
        "# Exit status: that of compare-images (0 pass, 1 fail); 2 when an input is missing",
        "# or a side fails.",
        "set -uo pipefail",
        'here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
        f'work="${{1:-$here/{RERUN_DIR}}}"',
        "missing=0",
        "check_input() {",
        '    if [ ! -f "$1" ]; then',
        '        echo "rerun.sh: input file $1 is missing" >&2; missing=1; return',
        "    fi",
        '    if [ -n "$2" ] && command -v sha256sum >/dev/null 2>&1; then',
        '        got="$(sha256sum "$1" | cut -d" " -f1)"',
        '        [ "$got" = "$2" ] || echo "rerun.sh: WARNING: $1 changed since the bundle '
        '(sha256 $got, was $2)" >&2',
        "    fi",
        "}",
        *checks,
        '[ "$missing" = 0 ] || exit 2',
        'rm -rf "$work/c" "$work/py"',
        'mkdir -p "$work/c" "$work/py" || exit 2',
        *run_block(c, "c"),
        *run_block(py, "py"),
        f'echo "rerun.sh: exit status C $c_status, PY $py_status (in the bundle: C '
        f'{c.returncode}, PY {py.returncode})"',
        'if [ "$c_status" != 0 ] || [ "$py_status" != 0 ]; then exit 2; fi',
        *compare, ""]
    path = bundle / "rerun.sh"
    write_text(path, "\n".join(script))
    path.chmod(0o755)
