"""The C reference (torchbragg-cref) on the behaviours found with the golden-fuzz cases
(docs/behaviour/quirks.md): Q36, Q37, SMV header extent, zero sources, the final-cell oddball block,
-printout persistence, binary32 rms squares, PGM wrap and +0.0 stores.  Every input is made
here; the detectors are tiny."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest


CELL = ["-cell", "100", "100", "100", "90", "90", "90"]
BASE = CELL + ["-default_F", "100", "-N", "5", "-lambda", "1", "-distance", "100",
               "-detpixels", "16", "-pixel", "0.1", "-oversample", "1"]
OUTPUTS = ["-floatfile", "f.bin", "-intfile", "i.img", "-pgmfile", "p.pgm", "-noisefile",
           "n.img", "-seed", "7", "-noprogress"]



def run(binary, args, cwd: Path, threads: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.run([str(binary), *args, *OUTPUTS], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def ok(binary, args, cwd: Path, threads: int = 1) -> subprocess.CompletedProcess:
    cwd.mkdir(parents=True, exist_ok=True)
    proc = run(binary, args, cwd, threads)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    return proc


def floats(cwd: Path) -> np.ndarray:
    return np.fromfile(cwd / "f.bin", "<f4")


def smv_pixels(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes()[512:], "<u2")


def smv(path: Path, width: int, height: int, values, extra: str = "") -> None:
    """A minimal SMV file (docs/behaviour/formats.md §8) with unsigned 16-bit pixels."""
    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={width};\nSIZE2={height};\n{extra}}}\f")
    data = np.asarray(values, dtype="<u2").reshape(-1)
    assert data.size == width * height
    path.write_bytes(text.encode().ljust(512, b" ") + data.tobytes())


def with_detpixels(n: int) -> list:
    args = list(BASE)
    args[args.index("-detpixels") + 1] = str(n)
    return args


# ----------------------------------------------------------------------- Q36 -oversample_thick
def test_q36_oversample_thick_without_sensor_blanks_the_image(cref_bin, tmp_path):
    ok(cref_bin, BASE, tmp_path / "plain")
    plain = floats(tmp_path / "plain")
    assert plain.max() > 0
    proc = ok(cref_bin, BASE + ["-oversample_thick", "-printout_pixel", "3", "4"], tmp_path / "q")
    assert not floats(tmp_path / "q").any()
    assert re.search(r"^capfrac\s+0$", proc.stdout, re.M), proc.stdout
    assert "max_I = 0  at 0 0" in proc.stdout
    # -detector_abs 0 removes the sensor as well (thickness 0)
    ok(cref_bin, BASE + ["-detector_thick", "100", "-detector_abs", "0", "-oversample_thick"],
       tmp_path / "abs0")
    assert not floats(tmp_path / "abs0").any()
    # a real sensor gives real capture fractions
    ok(cref_bin, BASE + ["-detector_thick", "100", "-oversample_thick"], tmp_path / "thick")
    assert floats(tmp_path / "thick").max() > 0
    # corrected: no sensor means capture fraction 1, the toggle changes nothing
    ok(cref_bin, BASE + ["-oversample_thick", "-profile", "corrected"], tmp_path / "corr")
    assert floats(tmp_path / "corr").tobytes() == plain.tobytes()


# ----------------------------------------------------------------------- Q37 -mask size
MASK_WARNING = ("WARNING: -mask mask.img is {}x{} pixels but the detector is {}x{}: the mask is "
                "read with the detector's pixel indices")


def test_q37_mask_of_another_size_uses_detector_indices(cref_bin, tmp_path):
    mask = np.ones(8 * 4)  # 8 wide, 4 high: flat index 5 is 0
    mask[5] = 0
    tmp_path.mkdir(exist_ok=True)
    smv(tmp_path / "mask.img", 8, 4, mask)
    proc = ok(cref_bin, with_detpixels(4) + ["-mask", "mask.img"], tmp_path)
    assert proc.stderr.splitlines() == [MASK_WARNING.format(8, 4, 4, 4)]
    img = floats(tmp_path).reshape(4, 4)
    assert img[1, 1] == 0  # flat index 5 of the 4-wide detector
    assert (np.delete(img.reshape(-1), 5) > 0).all()


def test_q37_smaller_mask_ends_with_zeros_and_corrected_refuses(cref_bin, tmp_path):
    smv(tmp_path / "mask.img", 2, 2, np.ones(4))
    args = with_detpixels(4) + ["-mask", "mask.img"]
    proc = ok(cref_bin, args, tmp_path)
    assert proc.stderr.splitlines() == [MASK_WARNING.format(2, 2, 4, 4)]
    img = floats(tmp_path)
    assert (img[:4] > 0).all() and not img[4:].any()
    for name in ("f.bin", "i.img", "p.pgm", "n.img"):
        (tmp_path / name).unlink()
    proc = run(cref_bin, args + ["-profile", "corrected"], tmp_path)
    assert proc.returncode == 9
    assert proc.stderr.strip() == "ERROR: -mask mask.img is 2x2 pixels but the detector is 4x4"
    assert sorted(os.listdir(tmp_path)) == ["mask.img"]


# ----------------------------------------------------------------------- SMV header extent
@pytest.mark.parametrize("pixel_size", [None, 0.2])
def test_mask_header_sizes_set_the_extent_for_beam_center_y(cref_bin, tmp_path, pixel_size):
    extra = "BEAM_CENTER_Y=0.1;\n" + (f"PIXEL_SIZE={pixel_size};\n" if pixel_size else "")
    smv(tmp_path / "mask.img", 4, 5, np.ones(20), extra)
    args = CELL + ["-default_F", "100", "-N", "5", "-oversample", "1", "-mask", "mask.img"]
    proc = ok(cref_bin, args, tmp_path)
    # Ybeam = 5 pixels x (0.1 or 0.2 mm) - 0.1 mm
    want = "0.0004" if pixel_size is None else "0.0009"
    assert re.search(rf"Ybeam={want}\b", proc.stdout), proc.stdout


# ----------------------------------------------------------------------- zero sources
ZERO_SOURCES = ["-hdivstep", "0.387", "-hdivrange", "1.16", "-vdivstep", "1.16",
                "-vdivrange", "1.16"]


@pytest.mark.parametrize("threads", [1, 2])
def test_zero_sources_give_a_nan_image(cref_bin, tmp_path, threads):
    proc = ok(cref_bin, BASE + ZERO_SOURCES, tmp_path, threads)
    out = proc.stdout
    assert "  0 sources" in out
    assert "solid angle subtended by detector = inf steradian ( inf% sphere)" in out
    assert "max_I = 0  at 0 0" in out
    assert "mean= -nan rms= -nan rmsd= -nan" in out
    assert "intfile_scale = 1" in out and "pgm_scale = 1" in out
    assert "-nan photons on noise image (0 overloads)" in out
    img = floats(tmp_path)
    assert np.isnan(img).all() and np.signbit(img).all()  # 0/0: x86's default NaN
    assert not smv_pixels(tmp_path / "i.img").any()
    assert not smv_pixels(tmp_path / "n.img").any()
    assert not any((tmp_path / "p.pgm").read_bytes()[-256:])


# ----------------------------------------------------------------------- oddball block
ODDBALL_LABELS = ["sin(alpha_star)", "cos(alpha_star)", "sin(beta_star) ", "cos(beta_star) ",
                  "sin(gamma_star)", "cos(gamma_star)"]


def test_oddball_reciprocal_block_of_a_triclinic_misset_cell(cref_bin, tmp_path):
    args = ["-cell", "113.2", "107.2", "134.1", "109.5", "72.84", "95.9"] + BASE[7:]
    proc = ok(cref_bin, args + ["-misset", "65.41", "-41.94", "-46.2"], tmp_path)
    lines = proc.stdout.splitlines()
    at = lines.index("WARNING: oddball reciprocal cell angles:")
    assert [line.split(" = ")[0] for line in lines[at + 1:at + 7]] == ODDBALL_LABELS
    values = [float(line.split(" = ")[1]) for line in lines[at + 1:at + 7]]
    assert max(abs(v) for v in values) > 1.0000001
    assert all(len(line.split(" = ")[1].lstrip("-").replace(".", "")) >= 20
               for line in lines[at + 1:at + 7])  # %.25g
    assert lines[at + 7].startswith("Unit Cell: ")
    assert "WARNING: oddball cell angles:" not in lines


def test_oddball_block_after_the_matrix_file(cref_bin, tmp_path):
    # a -mat whose cell does not fit the -cell volume: the block follows "reading FILE"
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "A.mat").write_text("0.01 0.003 -0.002\n0.001 0.012 0.004\n-0.003 0.002 0.011\n")
    proc = ok(cref_bin, BASE + ["-mat", "A.mat"], tmp_path)
    lines = proc.stdout.splitlines()
    at = lines.index("WARNING: oddball reciprocal cell angles:")
    assert lines[at - 1] == "reading A.mat"
    assert lines[at + 7].startswith("Unit Cell: ")


def test_no_oddball_block_for_a_plain_cell(cref_bin, tmp_path):
    assert "oddball" not in ok(cref_bin, BASE + ["-misset", "10", "20", "30"], tmp_path).stdout


# ----------------------------------------------------------------------- statistics and bytes
def test_rms_squares_overflow_in_binary32(cref_bin, tmp_path):
    proc = ok(cref_bin, BASE + ["-lambda", "6.2", "-point_pixel", "-fluence", "1e39"], tmp_path)
    mean, rms, rmsd = re.search(r"mean= (\S+) rms= (\S+) rmsd= (\S+)", proc.stdout).groups()
    assert rms == "inf"
    assert np.isfinite(float(mean)) and np.isfinite(float(rmsd))
    img = floats(tmp_path)
    assert np.isfinite(img).all() and img.max() > 1.9e19


NEGATIVE = ["-twotheta", "-20.5", "-Xbeam", "8", "-beam_vector", "-0.02", "0.004", "1.03"]


def test_pgm_of_negative_intensities_wraps(cref_bin, tmp_path):
    ok(cref_bin, BASE + NEGATIVE + ["-pgmscale", "2.5"], tmp_path)
    img = floats(tmp_path)
    assert (img * 2.5 < -1).any()
    raw = (tmp_path / "p.pgm").read_bytes()
    assert raw[:-img.size] == b"P5\n16 16\n# pixels scaled by 2.5\n255\n"
    # min(value * scale, 255), truncated toward zero, modulo 256 (-3.7 -> 253)
    t = np.minimum(img.astype(np.float64) * 2.5, 255.0)
    want = (np.trunc(t).astype(np.int64) & 0xFF).astype(np.uint8)
    got = np.frombuffer(raw[-img.size:], np.uint8)
    assert got.tobytes() == want.tobytes()
    assert (got[img * 2.5 <= -1] > 128).all()


def test_negative_zero_sums_are_stored_as_positive_zero(cref_bin, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "small.hkl").write_text("".join(
        f"{h} {k} {l} 100\n" for h in range(-2, 3) for k in range(-2, 3) for l in range(-2, 3)))
    args = CELL + ["-hkl", "small.hkl", "-N", "5", "-detpixels", "16"] + NEGATIVE
    proc = ok(cref_bin, args + ["-trace_pixel", "0", "0"], tmp_path)
    assert "TRACE_C: I_pixel_final -0" in proc.stdout  # the pixel's sum is -0.0
    assert "TRACE_C: floatimage_accumulated 0" in proc.stdout
    img = floats(tmp_path)
    assert (img == 0).any() and not np.signbit(img).any()


# ----------------------------------------------------------------------- -printout
def blocks(stdout: str) -> list:
    """The -printout blocks: dicts of their lines by first word."""
    out, current = [], None
    for line in stdout.splitlines():
        head = re.search(r"(\s*\d+\s+\d+) : stol", line)
        if head:
            current = {"head": line[head.start():]}
            out.append(current)
        elif current is not None:
            for key in ("hkl", " F_cell", "polar", "capfrac", "X:"):
                if line.startswith(key):
                    current[key.strip()] = line
    return out


@pytest.mark.parametrize("with_table", [False, True])
def test_printout_values_persist_across_cut_pixels(cref_bin, tmp_path, with_table):
    args = BASE + ["-dmin", "100", "-printout"]
    tmp_path.mkdir(exist_ok=True)
    if with_table:
        (tmp_path / "t.hkl").write_text("0 0 0 10\n1 0 0 20\n2 1 0 30\n")
        args += ["-hkl", "t.hkl"]
    proc = ok(cref_bin, args, tmp_path, threads=2)
    found = blocks(proc.stdout)
    assert len(found) == 256
    cut = [float(b["polar"].split()[1]) == 0 for b in found]
    first_live = cut.index(False)
    assert first_live > 0 and any(cut[first_live:])
    # before any evaluation: what the set-up left (the HKL reader's last records)
    if with_table:
        assert found[0]["hkl"] == "hkl= 2.000000 1.000000 0.000000  hkl0= 6 6 0"
        assert found[0]["F_cell"].startswith(" F_cell=30  F_latt=0 ")
    else:
        assert found[0]["hkl"] == "hkl= 0.000000 0.000000 0.000000  hkl0= 6 6 0"
        assert found[0]["F_cell"].startswith(" F_cell=0  F_latt=0 ")
    setup_x = next(line for line in proc.stdout.splitlines() if line.startswith("X:"))
    assert found[0]["X:"] == setup_x
    # a cut pixel after an evaluated one shows the previous pixel's last evaluation
    for i in range(first_live + 1, len(found)):
        if cut[i]:
            for key in ("hkl", "F_cell", "X:"):
                assert found[i][key].split("I =")[0] == found[i - 1][key].split("I =")[0]


def test_printout_cell_vectors_are_the_last_domains(cref_bin, tmp_path):
    """the printed vectors are those after the phi and the mosaic rotation of the last
    evaluation, not the set-up ones or the phi-rotated lattice alone"""
    pick = ["-phi", "30", "-osc", "1", "-phisteps", "1", "-printout_pixel", "5", "5"]
    xs = []
    for name, extra in (("phi", []), ("mosaic", ["-mosaic", "1", "-mosaic_domains", "3"])):
        proc = ok(cref_bin, BASE + pick + extra, tmp_path / name)
        (block,) = blocks(proc.stdout)
        setup_x = next(line for line in proc.stdout.splitlines() if line.startswith("X:"))
        assert block["X:"] != setup_x
        xs.append(block["X:"])
    assert xs[0] != xs[1]


def test_interpolation_warning_precedes_the_block_of_its_pixel(cref_bin, tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "small.hkl").write_text("".join(
        f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}\n"
        for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)))
    args = CELL + ["-hkl", "small.hkl", "-N", "2", "-lambda", "1", "-distance", "50",
                   "-Xbeam", "0.5", "-Ybeam", "0.5", "-detpixels", "16", "-pixel", "0.1",
                   "-oversample", "1", "-printout"]
    lines = ok(cref_bin, args, tmp_path, threads=2).stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("WARNING: further warnings"))
    assert lines[at - 1].startswith("WARNING: out of range for three point interpolation: ")
    # the pixel during which it happened prints its block right after, on the same line
    assert re.match(r"WARNING: further warnings will not be printed!\s+\d+\s+\d+ : stol",
                    lines[at])
    before = sum(1 for line in lines[:at] if " : stol" in line)
    assert 0 < before < 255


@pytest.mark.parametrize("conv, pivot", [("-dials", "direct beam spot"), ("-xds", "sample"),
                                         ("-mosflm", "direct beam spot")])
def test_convention_flag_pivot_survives_a_custom_switch(cref_bin, tmp_path, conv, pivot):
    """docs/behaviour/physics.md §6.5: -dials sets pivot BEAM as a flag side effect (DIALS itself
    forces SAMPLE); a later vector flag selects CUSTOM, which keeps the flag's pivot."""
    import sys

    args = BASE + [conv, "-polar_vector", "0", "0", "1"]
    c = ok(cref_bin, args, tmp_path / "c")
    assert f"pivoting detector around {pivot}" in c.stdout
    (tmp_path / "py").mkdir()
    py = subprocess.run([sys.executable, "-m", "torchbragg", *args, *OUTPUTS],
                        cwd=tmp_path / "py", capture_output=True, text=True, timeout=300)
    assert py.stdout == c.stdout
    assert (tmp_path / "py" / "f.bin").read_bytes() == (tmp_path / "c" / "f.bin").read_bytes()


def test_source_direction_normalised_once(cref_bin, tmp_path):
    """docs/behaviour/physics.md §5.5: î = −unit(P), once, for the scattering vector (the
    polarization routine normalises its own copy again). A huge crystal (sin(Nπh) with N in the
    thousands) makes the last bit of î visible in the float image."""
    import sys

    for side in ("c", "py"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "s.txt").write_text("-10 -0.008 0.011\n")
    args = ["-cell", "57.58", "143.41", "84.21", "90", "90", "90", "-xtal_size", "0.1428",
            "-sample_width", "0.0004304", "-detpixels", "58", "-pixel", "0.1648", "-distance",
            "27.016", "-lambda", "1.3541", "-default_F", "422.33", "-oversample", "1",
            "-sourcefile", "s.txt"]
    c = ok(cref_bin, args, tmp_path / "c")
    py = subprocess.run([sys.executable, "-m", "torchbragg", *args, *OUTPUTS],
                        cwd=tmp_path / "py", capture_output=True, text=True, timeout=300)
    assert py.returncode == 0, py.stderr
    assert py.stdout == c.stdout
    assert (tmp_path / "py" / "f.bin").read_bytes() == (tmp_path / "c" / "f.bin").read_bytes()
