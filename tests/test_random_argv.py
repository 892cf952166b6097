"""The random command-line generator (torchbragg.parity.random_argv) and its input files
(torchbragg.parity.case_inputs): deterministic, valid, varied, and within its work bound."""
from __future__ import annotations

import contextlib
import hashlib
import io
import random
from collections import Counter

import pytest

from torchbragg import config_from_argv
from torchbragg.parity import case_inputs
from torchbragg.parity.random_argv import (MAX_EVALUATIONS, MAX_PIXELS, MIN_PIXELS,
                                           OUTPUT_NAMES, random_argv)
from torchbragg.physics.setup import build_experiment

SEEDS = range(300)
HKL = ("one.hkl", "two.hkl")


def _cases(hkl=()):
    return [random_argv(random.Random(seed), hkl) for seed in SEEDS]


def test_deterministic_for_a_seed():
    assert random_argv(random.Random(7)) == random_argv(random.Random(7))
    assert random_argv(random.Random(7), HKL) == random_argv(random.Random(7), HKL)
    assert random_argv(random.Random(7)) != random_argv(random.Random(8))
    # a pure function of the generator: the global random state plays no part
    random.seed(1)
    first = random_argv(random.Random(3))
    random.seed(2)
    assert random_argv(random.Random(3)) == first


def test_every_argv_parses_and_sets_up_within_the_work_bound():
    for argv in _cases():
        assert all(isinstance(tok, str) and tok for tok in argv)
        cfg = config_from_argv(argv)  # the CLI's loader: strict checks and limits included
        exp = build_experiment(cfg)
        det = exp.detector
        assert MIN_PIXELS <= det.fpixels <= MAX_PIXELS and MIN_PIXELS <= det.spixels <= MAX_PIXELS
        work = (det.fpixels * det.spixels * exp.oversample ** 2 * exp.layers.count
                * len(exp.sources.sources) * exp.phi.count * exp.mosaic_domains)
        assert work <= MAX_EVALUATIONS, argv


def test_hkl_files_are_named_but_not_read(tmp_path, monkeypatch):
    cases = _cases(HKL)
    named = [a[a.index("-hkl") + 1] for a in cases if "-hkl" in a]
    assert named and set(named) <= set(HKL)
    assert not any("-hkl" in a for a in _cases())
    # with the files present the cases parse (reading them writes Fdump.bin here)
    monkeypatch.chdir(tmp_path)
    for name in HKL:
        (tmp_path / name).write_text("".join(f"{h} {k} {l} {10 + abs(h + k + l)}\n"
                                             for h in range(-3, 4) for k in range(-3, 4)
                                             for l in range(-3, 4)))
    for argv in [a for a in cases if "-hkl" in a][:20]:
        assert config_from_argv(argv).structure_factors.count > 0


def test_variety():
    cases = _cases()
    flags = Counter(tok for argv in cases for tok in set(argv) if tok.startswith("-")
                    and not tok[1:2].isdigit())
    for family in ("-cell", "-default_F", "-N", "-Na", "-lambda", "-energy", "-distance",
                   "-close_distance", "-pixel", "-detpixels", "-detpixels_f",
                   "-detector_rotx", "-twotheta", "-fdet_vector", "-odet_vector",
                   "-beam_vector", "-mosflm", "-xds", "-denzo", "-adxv", "-dials", "-Xbeam",
                   "-Xclose", "-ORGX", "-oversample", "-oversample_thick", "-oversample_polar",
                   "-oversample_omega", "-detector_thick", "-detector_abs", "-phi", "-osc",
                   "-phisteps", "-mosaic", "-mosaic_domains", "-divergence", "-hdivrange",
                   "-dispersion", "-polar", "-nopolar", "-round_xtal", "-gauss_xtal",
                   "-tophat_spots", "-square_xtal", "-water", "-point_pixel", "-curved_det",
                   "-dmin", "-misset"):
        assert flags[family] > 0, family
    assert "random" in {a[a.index("-misset") + 1] for a in cases if "-misset" in a}
    oversample = {int(a[a.index("-oversample") + 1]) for a in cases}
    assert oversample == {1, 2, 3}
    ns = {int(a[a.index("-N") + 1]) for a in cases if "-N" in a}
    assert min(ns) == 1 and max(ns) >= 25
    cells = [a[a.index("-cell") + 1:a.index("-cell") + 7] for a in cases]
    assert any(len({c[3], c[4], c[5]}) == 3 for c in cells)  # triclinic
    assert len({tuple(a) for a in cases}) == len(cases)


@pytest.mark.parametrize("seed", [0, 1])
def test_near_grazing_detectors_are_drawn(seed):
    """Custom frames with the detector plane within 10° of containing the beam."""
    import math

    grazing = 0
    for s in range(seed * 1000, seed * 1000 + 300):
        argv = random_argv(random.Random(s))
        if "-odet_vector" in argv and "-beam_vector" not in argv:
            i = argv.index("-odet_vector")
            o = [float(x) for x in argv[i + 1:i + 4]]
            if abs(o[0]) / math.sqrt(sum(x * x for x in o)) < math.sin(math.radians(10.01)):
                grazing += 1
    assert grazing >= 5


# ---------------------------------------------------------------- inputs, outputs, families

ALL = case_inputs.FILE_NAMES


def _with_inputs(seeds=SEEDS, **kw):
    return [random_argv(random.Random(seed), inputs=ALL, **kw) for seed in seeds]


def _values(argv, flag):
    return [argv[i + 1] for i, tok in enumerate(argv[:-1]) if tok == flag]


def test_write_inputs_is_deterministic_and_names_its_files(tmp_path):
    names = case_inputs.write_inputs(tmp_path / "a")
    assert names == case_inputs.FILE_NAMES and set(names) == set(case_inputs.ROLES)
    case_inputs.write_inputs(tmp_path / "b")
    digest = {}
    for role, name in names.items():
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        assert a == b and a, role
        digest[role] = hashlib.sha256(a).hexdigest()
    assert len(set(digest.values())) == len(digest)
    assert all(n.startswith("in_") and n != "Fdump.bin" for n in names.values())
    assert not set(names.values()) & set(OUTPUT_NAMES.values())
    paths = case_inputs.input_paths(tmp_path / "c")
    assert all((tmp_path / "c" / n).is_file() for n in names.values())
    assert paths["hkl"] == str(tmp_path / "c" / names["hkl"])


def test_input_files_are_valid_for_the_strict_readers(tmp_path):
    from torchbragg.io.columns import read_sources_strict
    from torchbragg.io.fdump import read_fdump
    from torchbragg.io.hkl import read_hkl
    from torchbragg.io.matfile import read_mat_strict
    from torchbragg.io.smv import read_smv_strict

    names = case_inputs.write_inputs(tmp_path)
    p = {role: tmp_path / name for role, name in names.items()}
    table = read_hkl(p["hkl"])
    assert 300 <= table.count <= 1000
    assert table.h_min < 0 and table.k_min < 0 and table.l_min < 0
    assert len(read_mat_strict(p["mat"])) == 9
    assert len(read_sources_strict(p["sourcefile"])) == case_inputs.SOURCE_COUNT
    for role, need in (("img", False), ("mask", True)):
        img = read_smv_strict(p[role], "-" + role, need_pixels=need)
        assert (img.width, img.height) == (case_inputs.SMV_FPIXELS, case_inputs.SMV_SPIXELS)
        assert img.get("PIXEL_SIZE") == case_inputs.SMV_PIXEL_MM
    mask = read_smv_strict(p["mask"], "-mask", need_pixels=True).pixels
    assert 0 < (mask == 0).sum() < mask.size // 2
    assert read_smv_strict(p["img"], "-img", False).get("OSC_RANGE") == case_inputs.SMV_OSC_RANGE_DEG
    cache = read_fdump(p["fdump"])
    assert cache.h_min == -3 and cache.grid[0, 0, 0] == 20.0
    # the first stored double starts with a newline byte: the reader skips it
    # (docs/behaviour/formats.md §3.3)
    assert p["fdump_ws"].read_bytes()[p["fdump_ws"].read_bytes().index(b"\f") + 1] == 0x0A
    assert read_fdump(p["fdump_ws"]).grid[0, 0, 0] != 1.0000000000000022


def test_inputs_are_named_only_when_given():
    plain = _cases()
    given = _with_inputs()
    for argv in plain:
        assert not {"-mat", "-sourcefile", "-img", "-mask", "-stol", "-4stol", "-Q"} & set(argv)
    named = Counter(tok for argv in given for tok in argv if tok in ALL.values())
    assert set(named) == set(ALL.values()), named
    only = {"mat": ALL["mat"]}
    for seed in range(100):
        argv = random_argv(random.Random(seed), inputs=only)
        assert not set(argv) & (set(ALL.values()) - {ALL["mat"]})
    # hkl_files and inputs["hkl"] are both candidates
    both = {a[a.index("-hkl") + 1] for seed in SEEDS
            for a in [random_argv(random.Random(seed), HKL, inputs=ALL)] if "-hkl" in a}
    assert both == set(HKL) | {ALL["hkl"]}


def test_output_names_and_seeds():
    cases = _with_inputs(range(400))
    for argv in cases:
        assert "-floatfile" not in argv and "-floatimage" not in argv
        for tok in argv:
            if tok.startswith("out_"):
                assert tok in OUTPUT_NAMES.values()
        # noise on (the default, or -noisefile after -nonoise) needs a seed (else the clock)
        noise_on = True
        for tok in argv:
            if tok == "-nonoise":
                noise_on = False
            elif tok in ("-noisefile", "-noiseimage"):
                noise_on = True
        if noise_on:
            assert "-seed" in argv, argv
        if "random" in argv:
            assert "-misset_seed" in argv, argv
        if "-printout" in argv:  # every rendered pixel: only over a small ROI
            x0, x1, y0, y1 = (int(v) for v in argv[argv.index("-roi") + 1:][:4])
            assert (x1 - x0 + 1) * (y1 - y0 + 1) <= 64
        dumps = _values(argv, "-dump")
        if "-hkl" in argv:  # a written cache never overwrites an input
            assert set(dumps) <= {OUTPUT_NAMES["dump"]}
    flags = Counter(tok for argv in cases for tok in set(argv))
    for flag in ("-intfile", "-pgmfile", "-noisefile", "-nonoise", "-nopgm", "-pgmscale",
                 "-scale", "-adc", "-seed", "-printout", "-printout_pixel", "-roi", "-dump",
                 "-progress", "-noprogress", "-stolout"):
        assert flags[flag] > 0, flag
    quiet = _with_inputs(range(200), outputs=False)
    for argv in quiet:
        assert not any(tok.startswith("out_") for tok in argv), argv
    assert any(ALL["fdump"] in a for a in quiet)  # reading a cache is an input, still drawn


def test_every_argv_with_inputs_parses_within_the_work_bound(tmp_path, monkeypatch):
    case_inputs.write_inputs(tmp_path)
    monkeypatch.chdir(tmp_path)
    with_files = 0
    for argv in _with_inputs():
        with contextlib.redirect_stdout(io.StringIO()):
            cfg = config_from_argv(argv)
        exp = build_experiment(cfg)
        det = exp.detector
        assert MIN_PIXELS <= det.fpixels <= MAX_PIXELS and MIN_PIXELS <= det.spixels <= MAX_PIXELS
        work = (det.fpixels * det.spixels * exp.oversample ** 2 * exp.layers.count
                * len(exp.sources.sources) * exp.phi.count * exp.mosaic_domains)
        assert work <= MAX_EVALUATIONS, argv
        with_files += any(tok in ALL.values() for tok in argv)
        (tmp_path / "Fdump.bin").unlink(missing_ok=True)  # written by -hkl without -dump
    assert with_files > 50


def test_new_families_are_varied():
    cases = _with_inputs(range(500))
    flags = Counter(tok for argv in cases for tok in set(argv))
    for flag in ("-mat", "-sourcefile", "-img", "-mask", "-hkl", "-dump", "-pivot",
                 "-spindle_axis", "-twotheta_axis", "-pix0_vector", "-detsize", "-detsize_f",
                 "-detpixels_x", "-xtal_size", "-sample_thick", "-width", "-fluence", "-flux",
                 "-exposure", "-beamsize", "-polar_vector", "-hdivstep", "-phistep",
                 "-mosaicity", "-detector_absorb", "-detector_thicksteps", "-wave", "-MW",
                 "-coherent", "-stol", "-intimage", "-noiseimage", "-pgmimage"):
        assert flags[flag] > 0, flag
    assert {"inf", "0"} <= {a[a.index("-detector_abs") + 1] for a in cases if "-detector_abs" in a}
    pivots = {a[a.index("-pivot") + 1] for a in cases if "-pivot" in a}
    assert pivots == {"beam", "sample"}
    # both orders of a random misset and its seed (seed first: random; after: Q7 angles)
    orders = set()
    for a in cases:
        if "random" in a:
            orders.add(a.index("-misset_seed") < a.index("-misset"))
    assert orders == {True, False}
    # -mask of another size than the detector (Q37) sometimes
    assert any("-mask" in a and "-detpixels" in " ".join(a) for a in cases)


def test_a_few_cases_agree_with_the_c_reference(tmp_path):
    """Seeds 307-309 (with -img/-mask, -sourcefile, a cache, -printout and -stol): the random
    campaign finds torchbragg and torchbragg-cref identical in every role (the full check:
    torchbragg-parity campaign campaigns/random.yaml)."""
    import shutil

    from torchbragg.parity.campaign.engine import CampaignOptions, run_campaign

    if shutil.which("torchbragg-cref") is None:
        pytest.skip("torchbragg-cref is not installed")
    spec = tmp_path / "r.yaml"
    spec.write_text("version: 1\nsuites:\n  - {name: r, kind: random, count: 3, seed: 307}\n")
    status, _, m = run_campaign(CampaignOptions(spec=str(spec), out=str(tmp_path / "o"),
                                                quiet=True, shrink=False))
    assert {r["id"]: r["verdict"] for r in m["cases"]} == {
        "r/s307": "identical", "r/s308": "identical", "r/s309": "identical"}, m["cases"]
    assert status == 0
    families = set().union(*(r["families"] for r in m["cases"]))
    assert {"smv_input", "sourcefile", "fdump", "printout", "amorphous"} <= families
