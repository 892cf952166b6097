"""Behaviours of the C program found off the golden cases (golden-fuzz, random command lines),
each with inputs made here (docs/behaviour/quirks.md lists them)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from torchbragg import config_from_argv, simulate

BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 "
        "-detpixels 16 -pixel 0.1 -oversample 1 ")
OUTPUTS = ["-floatfile", "f.bin", "-intfile", "i.img", "-pgmfile", "p.pgm", "-noisefile",
           "n.img", "-seed", "7"]


def image(args: str, profile: str = "nanobragg") -> np.ndarray:
    return simulate(config_from_argv(BASE + args + f" -profile {profile}")).numpy()


def cli(tmp_path, args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torchbragg", *args.split(), *OUTPUTS],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)


def floats(tmp_path) -> np.ndarray:
    return np.fromfile(tmp_path / "f.bin", "<f4")


def smv(path, width: int, height: int, values, extra: str = "") -> None:
    """A minimal SMV file (docs/behaviour/formats.md §8) with unsigned 16-bit pixels."""
    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={width};\nSIZE2={height};\n{extra}}}\f")
    data = np.asarray(values, dtype="<u2").reshape(-1)
    assert data.size == width * height
    path.write_bytes(text.encode().ljust(512, b" ") + data.tobytes())


# ---------------------------------------------------------------- Q36 -oversample_thick

def test_q36_oversample_thick_without_sensor_blanks_the_image():
    plain = image("")
    assert plain.max() > 0
    assert not image("-oversample_thick").any()
    # -detector_abs 0 removes the sensor too (T = 0, μ = 0)
    assert not image("-detector_thick 100 -detector_abs 0 -oversample_thick").any()
    # with a sensor the formula gives real capture fractions
    assert image("-detector_thick 100 -oversample_thick").max() > 0
    # corrected: no sensor means capture 1, so the toggle changes nothing
    assert np.array_equal(image("-oversample_thick", "corrected"), plain)


# ---------------------------------------------------------------- Q37 -mask size

def test_q37_mask_of_another_size_is_read_with_detector_indices(tmp_path):
    mask = np.ones((4, 8))  # 8 wide, 4 high: flat index 5 is 0
    mask.reshape(-1)[5] = 0
    smv(tmp_path / "mask.img", 8, 4, mask)
    proc = cli(tmp_path, BASE.replace("-detpixels 16", "-detpixels 4") + "-mask mask.img")
    assert proc.returncode == 0, proc.stderr
    assert "-mask mask.img: 8x4 pixels but the detector has 4x4" in proc.stderr
    img = floats(tmp_path).reshape(4, 4)
    assert img[1, 1] == 0  # flat index 5 of a 4-wide detector
    assert (np.delete(img.reshape(-1), 5) > 0).all()


def test_q37_smaller_mask_ends_with_zeros_and_corrected_refuses(tmp_path):
    smv(tmp_path / "mask.img", 2, 2, np.ones(4))
    args = BASE.replace("-detpixels 16", "-detpixels 4") + "-mask mask.img"
    proc = cli(tmp_path, args)
    assert proc.returncode == 0, proc.stderr
    img = floats(tmp_path)
    assert (img[:4] > 0).all() and not img[4:].any()
    (tmp_path / "f.bin").unlink()
    proc = cli(tmp_path, args + " -profile corrected")
    assert proc.returncode == 9
    assert "-mask mask.img: 2x2 pixels but the detector has 4x4" in proc.stderr
    assert not (tmp_path / "f.bin").exists()


def test_mask_header_sizes_set_the_extent_for_beam_center_y(tmp_path):
    # no PIXEL_SIZE: the extent is 4 x 0.1 mm all the same; Ybeam = 0.4 mm - 0.1 mm
    smv(tmp_path / "mask.img", 4, 4, np.ones(16), "BEAM_CENTER_Y=0.1;\n")
    proc = cli(tmp_path, BASE.replace("-detpixels 16 ", "") + "-mask mask.img")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"Ybeam=0\.0003\b", proc.stdout), proc.stdout


# ---------------------------------------------------------------- zero sources

def test_zero_sources_give_a_nan_image_and_c_statistics(tmp_path):
    proc = cli(tmp_path, BASE + "-hdivstep 0.387 -hdivrange 1.16 -vdivstep 1.16 "
               "-vdivrange 1.16")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "  0 sources" in out
    assert "solid angle subtended by detector = inf steradian ( inf% sphere)" in out
    assert "max_I = 0  at 0 0" in out
    assert "mean= -nan rms= -nan rmsd= -nan" in out
    assert "-nan photons on noise image (0 overloads)" in out
    assert np.isnan(floats(tmp_path)).all()
    smv_pixels = np.frombuffer((tmp_path / "i.img").read_bytes()[512:], "<u2")
    assert not smv_pixels.any()


# ---------------------------------------------------------------- report

def test_oddball_reciprocal_angles_after_the_final_cell(tmp_path):
    proc = cli(tmp_path, BASE.replace("-cell 100 100 100 90 90 90",
                                      "-cell 113.2 107.2 134.1 109.5 72.84 95.9")
               + "-misset 65.41 -41.94 -46.2")
    lines = proc.stdout.splitlines()
    at = lines.index("WARNING: oddball reciprocal cell angles:")
    labels = [line.split(" = ")[0] for line in lines[at + 1:at + 7]]
    assert labels == ["sin(alpha_star)", "cos(alpha_star)", "sin(beta_star) ", "cos(beta_star) ",
                      "sin(gamma_star)", "cos(gamma_star)"]
    values = [float(line.split(" = ")[1]) for line in lines[at + 1:at + 7]]
    assert max(abs(v) for v in values) > 1.0000001
    assert lines[at + 7].startswith("Unit Cell: ")
    assert "oddball" not in cli(tmp_path, BASE).stdout


def test_rms_squares_overflow_in_binary32(tmp_path):
    proc = cli(tmp_path, BASE + "-lambda 6.2 -point_pixel -fluence 1e39")
    stats = re.search(r"mean= (\S+) rms= (\S+) rmsd= (\S+)", proc.stdout).groups()
    assert stats[1] == "inf"
    assert all(np.isfinite(float(x)) for x in (stats[0], stats[2]))
    assert floats(tmp_path).max() < 3.4e38  # the pixels themselves are finite


def test_negative_zero_pixels_are_stored_as_positive_zero(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # reading a table writes Fdump.bin into the working folder
    table = tmp_path / "small.hkl"
    table.write_text("".join(f"{h} {k} {l} 100\n" for h in range(-2, 3) for k in range(-2, 3)
                             for l in range(-2, 3)))
    args = (f"-cell 100 100 100 90 90 90 -hkl {table} -N 5 -twotheta -20.5 -Xbeam 8 "
            "-beam_vector -0.02 0.004 1.03 -detpixels 32")
    values = simulate(config_from_argv(args)).numpy()
    assert (np.signbit(values) & (values == 0)).any()  # the sum is -0.0 there
    assert cli(tmp_path, args).returncode == 0
    img = floats(tmp_path)
    assert (img == 0).any() and not (np.signbit(img) & (img == 0)).any()


# ---------------------------------------------------------------- Q1 with -dmin

def test_q1_first_phi_loop_is_at_the_first_pixel_the_dmin_cut_leaves():
    args = "-N 6 -detpixels 64 -dmin 50 -osc 8"
    quirk = image(args).reshape(-1)
    corrected = image(args, "corrected").reshape(-1)
    first = int(np.flatnonzero(quirk)[0])
    assert first > 0  # the corner pixels are cut
    # that pixel alone averages the unrotated and rotated lattice, as in the corrected run
    assert quirk[first] == corrected[first]
    later = np.flatnonzero(quirk)[1:]
    assert (quirk[later] != corrected[later]).any()


# ---------------------------------------------------------------- -printout leftovers

def _blocks(stdout: str) -> list:
    """The printout blocks: dicts of the lines by their first word."""
    out, current = [], None
    for line in stdout.splitlines():
        if re.match(r"^\s*\d+\s+\d+ : stol", line):
            current = {"head": line}
            out.append(current)
        elif current is not None:
            for key in ("hkl", " F_cell", "polar", "X:"):
                if line.startswith(key):
                    current[key.strip()] = line
    return out


@pytest.mark.parametrize("with_table", [False, True])
def test_printout_values_persist_across_cut_pixels(tmp_path, with_table):
    args = BASE + "-dmin 100 -printout"
    if with_table:
        (tmp_path / "t.hkl").write_text("0 0 0 10\n1 0 0 20\n2 1 0 30\n")
        args = args.replace("-default_F 100", "-default_F 100 -hkl t.hkl")
    proc = cli(tmp_path, args)
    assert proc.returncode == 0, proc.stderr
    blocks = _blocks(proc.stdout)
    assert len(blocks) == 256
    cut = [float(b["polar"].split()[1]) == 0 for b in blocks]
    first_live = cut.index(False)
    assert first_live > 0 and any(cut[first_live:])
    # before any evaluation: what the set-up left (the HKL reader's last records)
    hkl0 = "hkl= 2.000000 1.000000 0.000000  hkl0= 6 6 0" if with_table else \
        "hkl= 0.000000 0.000000 0.000000  hkl0= 6 6 0"
    assert blocks[0]["hkl"] == hkl0
    assert blocks[0]["F_cell"].startswith(" F_cell=%s  F_latt=0 " % ("30" if with_table else "0"))
    setup_x = next(line for line in proc.stdout.splitlines() if line.startswith("X:"))
    assert blocks[0]["X:"] == setup_x
    # a cut pixel after an evaluated one shows the previous pixel's last evaluation
    for i in range(first_live + 1, len(blocks)):
        if cut[i]:
            for key in ("hkl", "F_cell", "X:"):
                assert blocks[i][key].split("I =")[0] == blocks[i - 1][key].split("I =")[0]


@pytest.mark.parametrize("args", ["", "-detpixels 8", "-default_F 0 -N 2"])
def test_missing_structure_factors_reported_before_the_cell(tmp_path, args):
    """docs/behaviour/cli.md §7: with no -hkl, no cache and default_F 0, the ERROR line comes first
    (even when the cell is missing too), glued to the usage text; torchbragg's extensions go to
    stderr."""
    proc = cli(tmp_path, args)
    assert proc.returncode == 9
    lines = proc.stdout.splitlines()
    assert lines[1] == ("ERROR: no hkl file and no dump file to read."
                        "usage: nanoBragg -mat auto.mat -hkl Fs.hkl")
    assert "torchbragg extensions" not in proc.stdout and "torchbragg extensions" in proc.stderr


def test_missing_cell_with_a_cache_prints_the_usage_only(tmp_path):
    (tmp_path / "Fdump.bin").write_bytes(b"")
    proc = cli(tmp_path, "-detpixels 8")
    assert proc.returncode == 9
    assert proc.stdout.splitlines()[1] == "usage: nanoBragg -mat auto.mat -hkl Fs.hkl"
