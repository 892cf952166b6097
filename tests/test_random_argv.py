"""The random command-line generator (torchbragg.parity.random_argv): deterministic, valid,
varied, and within its work bound."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from torchbragg import config_from_argv
from torchbragg.parity.random_argv import MAX_EVALUATIONS, MAX_PIXELS, MIN_PIXELS, random_argv
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
