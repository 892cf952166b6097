"""The clean-room C reference (torchbragg-cref): build, bad input, threads, profiles, sanitizers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from torchbragg import cref

REPO = Path(__file__).resolve().parents[1]
CELL = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100"]
QUIET = ["-nonoise", "-nopgm", "-noprogress"]



def run(binary, args, cwd, threads=1, **kw):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.run([str(binary), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, **kw)


def read_float(path: Path, shape=None) -> np.ndarray:
    data = np.fromfile(path, dtype="<f4")
    return data.reshape(shape) if shape else data


# ----------------------------------------------------------------------------- build
def test_print_path_and_build_info(cref_bin):
    out = subprocess.run([sys.executable, "-m", "torchbragg.cref", "--print-path"],
                         capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()) == cref_bin
    assert os.access(cref_bin, os.X_OK)
    info = subprocess.run([sys.executable, "-m", "torchbragg.cref", "--build-info"],
                          capture_output=True, text=True, check=True).stdout
    assert "compiler:" in info and "-ffp-contract=off" in info and "-std=c99" in info


def test_launcher_execs_binary(cref_bin, tmp_path):
    """exit status and stdout are the binary's own (usage error -> 9)."""
    proc = subprocess.run([sys.executable, "-m", "torchbragg.cref"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 9
    assert "ERROR: no hkl file and no dump file to read." in proc.stdout
    assert "usage: nanoBragg" in proc.stdout


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_warning_free(cc, tmp_path):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    srcs = [str(p) for p in cref.source_paths()]
    flags = ["-Wall", "-Wextra", "-O2", "-std=c99", "-ffp-contract=off", "-Werror"]
    proc = subprocess.run([cc, *flags, "-o", str(tmp_path / "nb"), *srcs, "-lm"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""


def test_makefile_builds(tmp_path):
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make/cc not installed")
    dst = tmp_path / "csrc"
    shutil.copytree(cref.CSRC, dst)
    proc = subprocess.run(["make", "-C", str(dst), "OPENMP=0"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (dst / "nanobragg-cref").exists()


# ----------------------------------------------------------------------------- bad input
def _smv(path: Path, header: str, total=600):
    raw = header.encode() + b"\x0c"
    path.write_bytes(raw + b" " * (total - len(raw)))


BAD_CASES = {
    "detector_thick_last": ["-detpixels", "16", "-detector_thick"],
    "detector_abs_last": ["-detpixels", "16", "-detector_abs"],
    "thicksteps_last": ["-detpixels", "16", "-detector_thicksteps"],
    "trace_pixel_short": ["-detpixels", "16", "-trace_pixel", "3"],
    "profile_unknown": ["-detpixels", "16", "-profile", "bogus"],
    # (the default profile reads it as the C does, Q37; the corrected one refuses it)
    "mask_dimension_mismatch": ["-mask", "mask.img", "-detpixels", "16", "-profile", "corrected"],
    "smv_missing_size": ["-img", "nosize.img", "-detpixels", "16"],
    "smv_missing_header_bytes": ["-img", "nohb.img", "-detpixels", "16"],
}


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_input_exits_9_without_output(cref_bin, tmp_path, name):
    _smv(tmp_path / "mask.img", "{\nHEADER_BYTES=512;\nSIZE1=8;\nSIZE2=6;\nPIXEL_SIZE=0.1;\n}",
         total=512 + 2 * 48)
    _smv(tmp_path / "nosize.img", "{\nHEADER_BYTES=512;\nDIM=2;\nPIXEL_SIZE=0.1;\n}")
    _smv(tmp_path / "nohb.img", "{\nHEADER_BYTEZ=512;\nSIZE1=8;\nSIZE2=8;\n}")
    before = set(os.listdir(tmp_path))
    proc = run(cref_bin, CELL + ["-floatfile", "f.bin", "-intfile", "i.img"] + BAD_CASES[name],
               tmp_path)
    assert proc.returncode == 9, (proc.returncode, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR"), proc.stderr
    assert set(os.listdir(tmp_path)) == before  # no partial or temporary output


def test_short_smv_is_exit_9(cref_bin, tmp_path):
    (tmp_path / "short.img").write_bytes(b"{\nHEADER_BYTES=512;\n")
    proc = run(cref_bin, ["-img", "short.img"] + CELL + ["-detpixels", "8"] + QUIET, tmp_path)
    assert proc.returncode == 9
    assert proc.stderr.startswith("ERROR: -img short.img: SMV header truncated")


def test_unwritable_output_leaves_nothing(cref_bin, tmp_path):
    proc = run(cref_bin, CELL + ["-detpixels", "8", "-floatfile", "nodir/f.bin"] + QUIET, tmp_path)
    assert proc.returncode == 10  # output errors exit 10, checked before rendering
    assert "ERROR: cannot write nodir/f.bin" in proc.stderr
    assert sorted(os.listdir(tmp_path)) == []


# ----------------------------------------------------------------------------- threads
def _has_openmp(cref_bin) -> bool:
    info = subprocess.run([sys.executable, "-m", "torchbragg.cref", "--build-info"],
                          capture_output=True, text=True).stdout
    return "-fopenmp" in info


THREAD_CASES = {
    # Q1: phi starts at exactly 0 with several steps (stale orientation after the first loop)
    "phi0_carry_over": CELL + ["-N", "5", "-lambda", "1", "-distance", "100", "-detpixels", "48",
                               "-phi", "0", "-osc", "2", "-phisteps", "3", "-mosaic", "0.5",
                               "-mosaic_domains", "3", "-polar", "0.9"],
    # Q11: interpolation runs out of neighbours mid-image
    "interp_switch_off": ["-cell", "100", "100", "100", "90", "90", "90", "-hkl", "small.hkl",
                          "-N", "2", "-lambda", "6.2", "-distance", "50", "-Xbeam", "0.5",
                          "-Ybeam", "0.5", "-detpixels", "40", "-oversample", "2"],
}


def _small_hkl(path: Path):
    lines = []
    for h in range(-3, 4):
        for k in range(-3, 4):
            for l in range(-3, 4):
                lines.append(f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", sorted(THREAD_CASES))
def test_thread_count_independence(cref_bin, tmp_path, name):
    if not _has_openmp(cref_bin):
        pytest.skip("C reference built without OpenMP")
    images, stdouts = [], []
    for threads in (1, 2, 3):
        d = tmp_path / f"t{threads}"
        d.mkdir()
        _small_hkl(d / "small.hkl")
        proc = run(cref_bin, THREAD_CASES[name] + QUIET + ["-floatfile", "f.bin",
                   "-intfile", "i.img"], d, threads=threads)
        assert proc.returncode == 0, proc.stderr
        images.append((d / "f.bin").read_bytes())
        stdouts.append([l for l in proc.stdout.splitlines() if "mmap(" not in l])
    assert images[0] == images[1] == images[2]
    assert stdouts[0] == stdouts[1] == stdouts[2]
    if name == "interp_switch_off":
        assert any("out of range for three point interpolation" in l for l in stdouts[0])


# ----------------------------------------------------------------------------- profiles
def _image(cref_bin, d: Path, args, threads=1):
    d.mkdir(exist_ok=True)
    proc = run(cref_bin, args + QUIET + ["-floatfile", "f.bin", "-intfile", "i.img"], d,
               threads=threads)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    return (d / "f.bin").read_bytes(), proc.stdout


BASE = CELL + ["-N", "5", "-lambda", "1", "-distance", "100", "-detpixels", "32", "-pixel", "0.1"]


def test_profile_corrected_q1_true_phi0(cref_bin, tmp_path):
    osc = ["-osc", "2", "-phisteps", "2"]
    corr, _ = _image(cref_bin, tmp_path / "a", BASE + ["-profile", "corrected", "-phi", "0"] + osc)
    dflt, _ = _image(cref_bin, tmp_path / "b", BASE + ["-phi", "0"] + osc)
    # a tiny non-zero start angle avoids the carry-over in the reference
    tiny, _ = _image(cref_bin, tmp_path / "c", BASE + ["-phi", "1e-30"] + osc)
    assert corr == tiny
    assert corr != dflt


def test_profile_corrected_q4_twotheta_axis(cref_bin, tmp_path):
    common = BASE + ["-fdet_vector", "0", "0", "1"]
    corr, _ = _image(cref_bin, tmp_path / "a", common + ["-profile", "corrected", "-twotheta",
                                                         "5", "-twotheta_axis", "0", "0", "-1"])
    dflt, _ = _image(cref_bin, tmp_path / "b", common + ["-twotheta_axis", "0", "0", "-1",
                                                         "-twotheta", "5"])
    assert corr == dflt


def test_profile_corrected_q6_pix0_honoured(cref_bin, tmp_path):
    pix0 = ["-pix0_vector_mm", "100", "1.7", "-1.6"]
    corr, out = _image(cref_bin, tmp_path / "a", BASE + ["-profile", "corrected"] + pix0 +
                       ["-trace_pixel", "0", "0"])
    dflt, out_d = _image(cref_bin, tmp_path / "b", BASE + pix0 + ["-trace_pixel", "0", "0"])
    line = [l for l in out.splitlines() if l.startswith("TRACE_C: pix0_vector ")][0]
    assert np.allclose([float(x) for x in line.split()[2:]], [0.1, 0.0017, -0.0016], rtol=1e-15)
    line_d = [l for l in out_d.splitlines() if l.startswith("TRACE_C: pix0_vector ")][0]
    assert not np.allclose([float(x) for x in line_d.split()[2:]], [0.1, 0.0017, -0.0016])
    assert corr != dflt
    # derived Fclose/Sclose follow the honoured origin (docs/behaviour/physics.md §6.6 step 6)
    assert "Fclose=0.0016 Sclose=0.0017" in out


def test_profile_corrected_q7_misset_seed(cref_bin, tmp_path):
    corr, _ = _image(cref_bin, tmp_path / "a", BASE + ["-profile", "corrected", "-misset_seed",
                                                       "30", "-oversample", "1"])
    plain, _ = _image(cref_bin, tmp_path / "b", BASE + ["-oversample", "1"])
    dflt, _ = _image(cref_bin, tmp_path / "c", BASE + ["-misset_seed", "30", "-oversample", "1"])
    assert corr == plain and dflt != plain


def test_profile_corrected_q11_per_evaluation(cref_bin, tmp_path):
    args = THREAD_CASES["interp_switch_off"]
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        _small_hkl(tmp_path / d / "small.hkl")
    corr, _ = _image(cref_bin, tmp_path / "a", args + ["-profile", "corrected"])
    dflt, _ = _image(cref_bin, tmp_path / "b", args)
    c = np.frombuffer(corr, "<f4").reshape(40, 40)
    f = np.frombuffer(dflt, "<f4").reshape(40, 40)
    assert not np.array_equal(c, f)
    if _has_openmp(cref_bin):
        (tmp_path / "c").mkdir()
        _small_hkl(tmp_path / "c" / "small.hkl")
        corr2, _ = _image(cref_bin, tmp_path / "c", args + ["-profile", "corrected"], threads=2)
        assert corr2 == corr


# ----------------------------------------------------------------------------- sanitizers
def test_sanitizers_script(tmp_path):
    from conftest import find_golden

    golden = find_golden()
    if golden is None:
        pytest.skip("golden data not found")
    if shutil.which("clang") is None and shutil.which("gcc") is None:
        pytest.skip("no compiler for the sanitizer build")
    proc = subprocess.run(["bash", str(REPO / "scripts" / "cref_sanitize.sh"), str(golden)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "0 failed" in proc.stdout


def test_stolout_is_a_known_flag(cref_bin, tmp_path):
    """As torchbragg (docs/behaviour/cli.md §3.2, length > 7): no unknown-flag warning, an inert
    file flag."""
    args = ["-cell", "100", "-default_F", "1", "-detpixels", "8", "-nonoise", "-nopgm",
            "-stolout", "out.stol"]
    proc = run(cref_bin, args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "unknown flag" not in proc.stderr and not (tmp_path / "out.stol").exists()
    assert run(cref_bin, args[:-1], tmp_path).returncode == 9  # missing its file name


# ----------------------------------------------------------------------- -h, --version
@pytest.mark.parametrize("args", [["-h"], ["--help"], CELL + ["-profile", "corrected", "-h"]])
def test_help_exits_0(cref_bin, tmp_path, args):
    proc = run(cref_bin, args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: nanoBragg -mat auto.mat -hkl Fs.hkl\n")
    assert "torchbragg-cref extensions:" in proc.stdout and proc.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_version_exits_0(cref_bin, tmp_path):
    from torchbragg import __version__

    for argv in ([str(cref_bin), "--version"], [sys.executable, "-m", "torchbragg.cref",
                                                "--version"]):
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert (proc.returncode, proc.stdout) == (0, f"torchbragg-cref {__version__}\n")
    assert list(tmp_path.iterdir()) == []


def test_hkl_is_not_a_help_request(cref_bin, tmp_path):
    """-hkl starts with -h: still the structure-factor file (missing here: exit 9)."""
    proc = run(cref_bin, CELL + ["-hkl", "absent.hkl", "-detpixels", "8"] + QUIET, tmp_path)
    assert proc.returncode == 9
