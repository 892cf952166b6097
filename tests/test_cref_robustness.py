"""torchbragg-cref on hostile input: outputs committed together, no symlink
following, no blocking reads, sizes checked before allocating, no undefined behaviour.

Every input is made here. ``TORCHBRAGG_CREF_BIN`` runs the cases on another build of the same
sources (scripts/cref_sanitize.sh points it at the ASan+UBSan build).
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from torchbragg import cref

CELL = ["-cell", "78", "78", "78", "90", "90", "90", "-default_F", "100", "-distance", "100"]
SMALL = CELL + ["-N", "5", "-detpixels", "8", "-pixel", "0.1", "-seed", "5", "-noprogress"]
OUTPUTS = ["floatimage.bin", "intimage.img", "image.pgm", "noiseimage.img"]
HANG_GUARD = 60  # s: a blocking read would run into this; the cases themselves take < 1 s


@pytest.fixture(scope="session")
def cref_bin() -> Path:
    env = os.environ.get("TORCHBRAGG_CREF_BIN")
    if env:
        return Path(env)
    try:
        return cref.binary_path()
    except Exception as exc:  # no compiler on this machine
        pytest.skip(f"cannot build the C reference: {exc}")


def run(binary, args, cwd, env=None, **kw):
    full_env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    kw.setdefault("capture_output", True)
    return subprocess.run([str(binary), *args], cwd=cwd, env=full_env, text=True,
                          timeout=HANG_GUARD, **kw)


def clean_stderr(proc) -> str:
    """The stderr of a refused run: one line, no sanitizer report."""
    assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def snapshot(folder: Path) -> dict:
    """name -> (bytes, mtime_ns) of every entry (symlinks by their target)."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            out[p.name] = ("->", os.readlink(p))
        elif p.is_file():
            out[p.name] = (p.read_bytes(), p.stat().st_mtime_ns)
        else:
            out[p.name] = ("other", p.stat().st_mode)
    return out


@pytest.fixture()
def done(cref_bin, tmp_path) -> Path:
    """A folder holding the outputs of one successful run (the files a failed run must keep)."""
    proc = run(cref_bin, SMALL, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUTS)
    return tmp_path


# ----------------------------------------------------------------------------- outputs
def test_bad_output_name_fails_before_rendering(cref_bin, done):
    before = snapshot(done)
    proc = run(cref_bin, SMALL + ["-distance", "120", "-pgmfile", "nothere/"], done)
    assert proc.returncode == 10
    assert "nothere/" in clean_stderr(proc)
    assert proc.stdout == ""  # refused before the banner, so before rendering
    assert snapshot(done) == before


def test_long_output_names(cref_bin, tmp_path):
    """A 250-byte name works (the temporary's name is short); one past NAME_MAX is refused
    before rendering."""
    ok = "f" * 246 + ".bin"
    proc = run(cref_bin, SMALL + ["-floatfile", ok, "-nonoise", "-nopgm"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ok, "intimage.img"])
    assert (tmp_path / ok).stat().st_size == 8 * 8 * 4
    long = "g" * 300
    proc = run(cref_bin, SMALL + ["-intfile", long], tmp_path)
    assert proc.returncode == 10 and long in clean_stderr(proc) and proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ok, "intimage.img"])


def test_planted_symlink_is_not_followed(cref_bin, done):
    """A symlink planted at the old temporary name NAME.tmp.<pid> (the shell's pid is the
    program's after exec) is neither followed nor removed."""
    victim = done / "victim"
    victim.write_bytes(b"precious")
    reference = (done / "floatimage.bin").read_bytes()
    script = f'ln -s victim floatimage.bin.tmp.$$ && exec "{cref_bin}" "$@"'
    proc = subprocess.run(["sh", "-c", script, "sh", *SMALL], cwd=done, capture_output=True,
                          text=True, timeout=HANG_GUARD, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_bytes() == b"precious"
    links = [p for p in done.iterdir() if p.is_symlink()]
    assert len(links) == 1 and os.readlink(links[0]) == "victim"
    assert (done / "floatimage.bin").read_bytes() == reference
    assert sorted(p.name for p in done.iterdir() if not p.is_symlink()) == sorted(
        OUTPUTS + ["victim"])


def _make_immutable(path: Path) -> bool:
    try:
        proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, timeout=30)
    except OSError:
        return False
    return proc.returncode == 0


def test_unwritable_intfile_leaves_the_float_file(cref_bin, done):
    """An immutable -intfile (chattr +i; else, for a non-root user, a read-only folder): the
    run fails and the float file written before it is not replaced."""
    target = done / "intimage.img"
    args = SMALL + ["-distance", "120"]
    if _make_immutable(target):
        try:
            before = snapshot(done)
            proc = run(cref_bin, args, done)
        finally:
            subprocess.run(["chattr", "-i", str(target)], capture_output=True, timeout=30)
        assert "intimage.img" in clean_stderr(proc)
    elif os.geteuid() != 0:
        ro = done / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        before = snapshot(done)
        try:
            proc = run(cref_bin, args + ["-intfile", "ro/intimage.img"], done)
        finally:
            ro.chmod(0o755)
        assert "ro/intimage.img" in clean_stderr(proc)
    else:
        pytest.skip("chattr +i is not supported here and root ignores read-only folders")
    assert proc.returncode == 10
    assert snapshot(done) == before


def _limit_file_size(nbytes):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # the program itself must cope
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return pre


def test_full_disk_after_the_float_file(cref_bin, done):
    """The float file (256 bytes) fits, the SMV (512 + 128 bytes) does not: exit 10, nothing
    replaced, no temporary left."""
    before = snapshot(done)
    proc = run(cref_bin, SMALL + ["-distance", "120"], done, preexec_fn=_limit_file_size(400))
    assert proc.returncode == 10
    assert "intimage.img" in clean_stderr(proc)
    assert snapshot(done) == before


RENAME_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
/* rename() of a staged temporary onto a name ending in $NB_FAIL_RENAME fails with EIO */
int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    const char *fail = getenv("NB_FAIL_RENAME");
    size_t n = strlen(to), m = fail ? strlen(fail) : 0;
    if (fail && n >= m && strcmp(to + n - m, fail) == 0 && strstr(from, ".nb")) {
        errno = EIO;
        return -1;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "rename");
    return real(from, to);
}
"""


@pytest.fixture(scope="session")
def rename_shim(tmp_path_factory) -> Path:
    from torchbragg import _cbuild

    try:
        cc = _cbuild.find_compiler()
    except Exception as exc:
        pytest.skip(f"no C compiler for the rename shim: {exc}")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.c").write_text(RENAME_SHIM)
    proc = subprocess.run([cc, "-shared", "-fPIC", "-o", str(d / "shim.so"), str(d / "shim.c"),
                           "-ldl"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return d / "shim.so"


@pytest.mark.parametrize("existing", [True, False])
def test_refused_rename_puts_replaced_files_back(cref_bin, tmp_path, rename_shim, existing):
    """The float file is renamed into place first; when the SMV's rename is then refused, the
    float file is put back (or removed, when there was none) and no temporary or backup is
    left."""
    if existing:
        proc = run(cref_bin, SMALL, tmp_path)
        assert proc.returncode == 0, proc.stderr
    before = snapshot(tmp_path)
    env = {"LD_PRELOAD": str(rename_shim), "NB_FAIL_RENAME": "intimage.img",
           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
    proc = run(cref_bin, SMALL + ["-distance", "120"], tmp_path, env=env)
    assert proc.returncode == 10
    assert "intimage.img" in clean_stderr(proc)
    assert snapshot(tmp_path) == before


def _hkl(path: Path, F: float) -> Path:
    path.write_text("".join(f"{h} {k} {l} {F}\n" for h in range(-2, 3) for k in range(-2, 3)
                            for l in range(-2, 3)))
    return path


def test_fdump_not_replaced_by_a_failed_run(cref_bin, tmp_path):
    args = SMALL + ["-nonoise", "-nopgm", "-hkl"]
    proc = run(cref_bin, args + [str(_hkl(tmp_path / "a.hkl", 10))], tmp_path)
    assert proc.returncode == 0, proc.stderr
    dump = tmp_path / "Fdump.bin"
    first = dump.read_bytes()
    b = str(_hkl(tmp_path / "b.hkl", 20))
    (tmp_path / "empty.stol").write_text("\n")
    failures = [
        (args + [b, "-stol", "empty.stol"], {}, 9),  # fails after the HKL file was read
        (args + [b], {"TORCHBRAGG_MAX_WORK": "1"}, 9),  # the work limit
        (args + [b, "-intfile", "nothere/x.img"], {}, 10),  # an output folder
    ]
    for argv, env, code in failures:
        proc = run(cref_bin, argv, tmp_path, env=env)
        assert proc.returncode == code, (argv, proc.stderr)
        clean_stderr(proc)
        assert dump.read_bytes() == first
        assert not [p for p in os.listdir(tmp_path) if p.startswith(".nb")]
    proc = run(cref_bin, args + [b], tmp_path)
    assert proc.returncode == 0 and dump.read_bytes() != first  # a good run does replace it


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_rendering_leaves_no_temporary(cref_bin, tmp_path, sig, code):
    """The Fdump cache is staged before rendering; a signal then removes its temporary and
    leaves the old cache."""
    hkl = str(_hkl(tmp_path / "a.hkl", 10))
    args = CELL + ["-N", "5", "-pixel", "0.1", "-nonoise", "-nopgm", "-hkl", hkl]
    assert run(cref_bin, args + ["-detpixels", "8"], tmp_path).returncode == 0
    before = snapshot(tmp_path)
    _hkl(tmp_path / "a.hkl", 20)
    before["a.hkl"] = snapshot(tmp_path)["a.hkl"]
    proc = subprocess.Popen([str(cref_bin), *args, "-detpixels", "2048", "-oversample", "16"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        for line in proc.stdout:  # flushed just before the pixel loop
            if "pixel oversample steps" in line:
                break
        assert [p for p in os.listdir(tmp_path) if p.startswith(".nb")]  # the staged cache
        proc.send_signal(sig)
        proc.wait(timeout=HANG_GUARD)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert snapshot(tmp_path) == before


def test_stdout_closed_or_a_broken_pipe(cref_bin, done):
    """As the upstream program: exit 0 and the same outputs."""
    reference = snapshot(done)
    for p in OUTPUTS:
        (done / p).unlink()
    proc = run(cref_bin, SMALL, done, capture_output=False, stdout=subprocess.DEVNULL,
               stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0, proc.stderr
    for p in OUTPUTS:
        assert (done / p).read_bytes() == reference[p][0]
        (done / p).unlink()
    r, w = os.pipe()
    os.close(r)
    try:
        proc = run(cref_bin, SMALL, done, capture_output=False, stdout=w,
                   stderr=subprocess.PIPE, restore_signals=True)
    finally:
        os.close(w)
    assert proc.returncode == 0, proc.stderr
    for p in OUTPUTS:
        assert (done / p).read_bytes() == reference[p][0]


# ----------------------------------------------------------------------------- inputs
@pytest.mark.parametrize("flag", ["-hkl", "-img", "-mask", "-mat", "-sourcefile", "-stol"])
def test_fifo_without_writer_is_refused(cref_bin, tmp_path, flag):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = run(cref_bin, SMALL + [flag, str(fifo)], tmp_path)
    assert proc.returncode == 9
    line = clean_stderr(proc)
    assert flag in line and str(fifo) in line and "FIFO" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


@pytest.mark.parametrize("flag,device", [("-hkl", "/dev/zero"), ("-mat", "/dev/urandom"),
                                         ("-img", "/dev/zero"), ("-sourcefile", "/dev/zero")])
def test_device_is_refused(cref_bin, tmp_path, flag, device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    proc = run(cref_bin, SMALL + [flag, device], tmp_path)
    assert proc.returncode == 9
    line = clean_stderr(proc)
    assert flag in line and device in line
    assert list(tmp_path.iterdir()) == []


def _smv(path: Path, w: int, h: int, data: bytes = b"", header_bytes: int = 512) -> Path:
    text = (f"{{\nHEADER_BYTES={header_bytes};\nDIM=2;\nBYTE_ORDER=little_endian;\n"
            f"TYPE=unsigned_short;\nSIZE1={w};\nSIZE2={h};\nPIXEL_SIZE=0.1;\n}}\f").encode()
    path.write_bytes(text.ljust(512, b" ") + data)
    return path


@pytest.mark.parametrize("flag,w,h,env", [
    ("-mask", 60000, 60000, {}),  # 7.2 GB of pixel data claimed by a 512-byte file
    ("-img", 50000, 40000, {"TORCHBRAGG_MAX_MEMORY": "1e10"}),  # 2e9 pixels: 32 GB > limit
    ("-img", 60000, 60000, {"TORCHBRAGG_MAX_MEMORY": "1e10"}),
])
def test_smv_header_sizes_checked_before_allocating(cref_bin, tmp_path, flag, w, h, env):
    img = _smv(tmp_path / "big.img", w, h)
    proc = run(cref_bin, SMALL + [flag, str(img)], tmp_path, env=env)
    assert proc.returncode == 9
    line = clean_stderr(proc)
    assert flag in line and str(img) in line
    assert [p.name for p in tmp_path.iterdir()] == ["big.img"]


def test_smv_header_bytes_beyond_the_file(cref_bin, tmp_path):
    img = _smv(tmp_path / "h.img", 8, 8, header_bytes=99999999)
    proc = run(cref_bin, SMALL + ["-img", str(img)], tmp_path)
    assert proc.returncode == 9 and "HEADER_BYTES" in clean_stderr(proc)


def test_smv_with_pixels_still_read(cref_bin, tmp_path):
    """The checks keep a good mask working: zero-flagged pixels are skipped."""
    mask = bytearray(b"\x01\x00" * 64)
    mask[0:2] = b"\x00\x00"
    m = _smv(tmp_path / "m.img", 8, 8, bytes(mask))
    proc = run(cref_bin, SMALL + ["-mask", str(m), "-nonoise", "-nopgm"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    pix = (tmp_path / "floatimage.bin").read_bytes()
    assert pix[:4] == b"\0\0\0\0" and pix[4:8] != b"\0\0\0\0"


# ----------------------------------------------------------------------------- numbers
def test_detsize_beyond_int_range(cref_bin, tmp_path):
    proc = run(cref_bin, CELL + ["-detsize", "1e308"], tmp_path)
    assert proc.returncode == 9
    assert "detector size" in clean_stderr(proc)
    assert list(tmp_path.iterdir()) == []


def test_matrix_values_too_large(cref_bin, tmp_path):
    (tmp_path / "big.mat").write_text("1e308 0 0\n0 1e308 0\n0 0 1e308\n")
    proc = run(cref_bin, ["-mat", "big.mat", "-default_F", "100", "-detpixels", "8"], tmp_path)
    assert proc.returncode == 9
    assert "-mat big.mat" in clean_stderr(proc)
    assert [p.name for p in tmp_path.iterdir()] == ["big.mat"]


@pytest.mark.parametrize("flag", ["-seed", "-mosaic_seed", "-misset_seed"])
def test_most_negative_seed(cref_bin, tmp_path, flag):
    """-n of the most negative long: read like the Python CLI (saturated to the int range),
    so it renders as -2147483648 does; ordinary seeds are stored as -n."""
    extra = ["-mosaic_spread", "1", "-mosaic_domains", "2"] if flag == "-mosaic_seed" else []
    extra += ["-misset", "random"] if flag == "-misset_seed" else []
    images = []
    for value in ["-9223372036854775808", "-2147483648"]:
        d = tmp_path / value.lstrip("-")[:4]
        d.mkdir()
        proc = run(cref_bin, SMALL + extra + ["-nopgm", flag, value], d)
        assert proc.returncode == 0, proc.stderr
        assert "runtime error" not in proc.stderr
        images.append([(d / p).read_bytes() for p in ("floatimage.bin", "noiseimage.img")])
        if flag == "-seed":
            assert "  seed: 2147483648\n" in proc.stdout
    assert images[0] == images[1]
    proc = run(cref_bin, SMALL + ["-nopgm", "-seed", "12345"], tmp_path)
    assert "  seed: -12345\n" in proc.stdout


def test_huge_crystal_auto_oversample_is_capped(cref_bin, tmp_path):
    """-N 30000000 asks for a millions-fold oversample; as the upstream program, the
    automatic choice falls back to 1 and the run is quick."""
    proc = run(cref_bin, CELL + ["-N", "30000000", "-detpixels", "8", "-nonoise", "-nopgm"],
               tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "auto-selected 1-fold oversampling" in proc.stdout


def test_launcher_with_stdout_closed(cref_bin, done, tmp_path):
    """``torchbragg-cref`` itself (the Python launcher before the exec) with descriptor 1
    closed: no traceback, exit 0, the same outputs; nothing of the report lands in a file."""
    reference = snapshot(done)
    work = tmp_path / "launcher"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "torchbragg.cref", *SMALL], cwd=work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          preexec_fn=lambda: os.close(1), timeout=HANG_GUARD)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for p in OUTPUTS:
        assert (work / p).read_bytes() == reference[p][0]
