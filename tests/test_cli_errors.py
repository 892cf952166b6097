"""Bad input: one line on stderr, a documented exit status, no output file left or changed."""
from __future__ import annotations

import subprocess
import sys

import pytest

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "10", "-N", "2",
        "-detpixels", "16", "-nonoise", "-nopgm", "-noprogress"]


def run(args, cwd):
    return subprocess.run([sys.executable, "-m", "torchbragg", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def assert_clean_failure(proc, status, word):
    assert proc.returncode == status
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and word in lines[0], proc.stderr


def test_success_writes_outputs(tmp_path):
    proc = run(BASE, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "floatimage.bin").stat().st_size == 16 * 16 * 4
    assert (tmp_path / "intimage.img").stat().st_size == 512 + 16 * 16 * 2
    assert not list(tmp_path.glob("*.tmp*"))


def test_missing_hkl_file(tmp_path):
    proc = run(BASE + ["-hkl", "nope.hkl"], tmp_path)
    assert_clean_failure(proc, 9, "nope.hkl")
    assert list(tmp_path.iterdir()) == []


def test_missing_structure_factors_prints_usage(tmp_path):
    proc = run(["-cell", "100", "100", "100", "90", "90", "90", "-detpixels", "8"], tmp_path)
    assert proc.returncode == 9
    assert "ERROR: no hkl file and no dump file to read." in proc.stdout
    assert "usage: nanoBragg" in proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_no_arguments(tmp_path):
    proc = run([], tmp_path)
    assert proc.returncode == 9 and "usage:" in proc.stdout and "Traceback" not in proc.stderr


def test_unwritable_output_folder_leaves_nothing(tmp_path):
    proc = run(BASE + ["-intfile", "missing_dir/int.img"], tmp_path)
    assert_clean_failure(proc, 10, "missing_dir")
    assert list(tmp_path.iterdir()) == []


def test_existing_outputs_untouched_on_error(tmp_path):
    (tmp_path / "floatimage.bin").write_bytes(b"old")
    proc = run(BASE + ["-sourcefile", "absent.txt"], tmp_path)
    assert_clean_failure(proc, 9, "absent.txt")
    assert (tmp_path / "floatimage.bin").read_bytes() == b"old"


@pytest.mark.parametrize("args, word", [
    (["-detector_thick"], "-detector_thick"),
    (["-dtype", "half"], "-dtype"),
    (["-profile", "strict"], "-profile"),
    (["-trace_pixel", "a", "b"], "-trace_pixel"),
    (["-mat", "absent.mat"], "absent.mat"),
    (["-detpixels", "-3"], "pixels"),
])
def test_bad_flags(args, word, tmp_path):
    proc = run(BASE + args, tmp_path)
    assert_clean_failure(proc, 9, word)
    assert list(tmp_path.iterdir()) == []


def test_empty_hkl_file(tmp_path):
    (tmp_path / "empty.hkl").write_text("# nothing\n")
    proc = run(BASE + ["-hkl", "empty.hkl"], tmp_path)
    assert_clean_failure(proc, 9, "empty.hkl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.hkl"]


def test_mask_size_mismatch_refused_by_the_corrected_profile(tmp_path):
    """(The default profile reads it as the C does, Q37: tests/test_c_behaviours.py.)"""
    from torchbragg.io.smv import SMVHeader, write_smv
    import numpy as np

    header = SMVHeader.from_si(fpixels=8, spixels=8, pixel_size=1e-4, distance=0.1,
                               wavelength=1e-10, xbeam=0, ybeam=0, fbeam=0, sbeam=0,
                               detsize_s=8e-4, dials_origin_mm=(0, 0, 0), orgx=0, orgy=0,
                               close_distance=0.1, phi0=0, osc=0, twotheta=0)
    write_smv(tmp_path / "mask.img", header, np.ones((8, 8), dtype=np.uint16))
    proc = run(BASE + ["-mask", "mask.img", "-detpixels", "16", "-profile", "corrected"],
               tmp_path)
    assert_clean_failure(proc, 9, "mask.img")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.img"]


# ------------------------------------------------------------------ -h, --help, --version
@pytest.mark.parametrize("args", [["-h"], ["--help"], BASE + ["-h"], ["-distance", "-h"],
                                  ["-profile", "corrected", "--help", "--version"]])
def test_help_prints_the_usage_and_exits_0(args, tmp_path):
    """Exact tokens anywhere on the line (also where a value is missing), in every profile;
    nothing is read or written."""
    proc = run(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: nanoBragg -mat auto.mat -hkl Fs.hkl\n")
    assert "-dtype float32|float64" in proc.stdout and "--version" in proc.stdout
    assert proc.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--version"], ["--version", "-h"], BASE + ["--version"]])
def test_version_exits_0(args, tmp_path):
    from torchbragg import __version__

    proc = run(args, tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"torchbragg {__version__}\n", "")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["-hkl"], ["-help"], ["-version"], ["--h"], ["-H"]])
def test_only_the_exact_tokens_ask_for_help(args):
    """-hkl starts with -h and -help contains it: neither is a help request (the C's reading
    stays: -hkl is the structure-factor file, the others unknown flags)."""
    from torchbragg.cli.usage import contact_request

    assert contact_request(args) is None
    assert contact_request(["-hkl", "P1.hkl", "-h"]) == "help"


def test_parity_version_and_help():
    from torchbragg import __version__

    for args, status, start in ((["--version"], 0, f"torchbragg-parity {__version__}\n"),
                                (["-h"], 0, "usage: torchbragg-parity")):
        proc = subprocess.run([sys.executable, "-m", "torchbragg.parity.cli", *args],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == status and proc.stdout.startswith(start), proc.stderr
