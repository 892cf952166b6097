"""Shrinking diverging command lines (parity/campaign/shrink.py)."""
from __future__ import annotations

import random
import shlex

import pytest

from torchbragg.parity.campaign.shrink import reproducer, shrink, split_groups
from torchbragg.parity.random_argv import random_argv

TWELVE = [
    "-cell", "78.1", "78.1", "37.9", "90", "90", "90",
    "-misset", "12.5", "-33.1", "7.75",
    "-N", "7",
    "-default_F", "100",
    "-lambda", "1.2345",
    "-mosaic", "0.537", "-mosaic_domains", "6",
    "-distance", "123.456",
    "-detpixels", "64",
    "-pixel", "0.172",
    "-nopolar",
    "-beam_vector", "0.9", "0.1", "-0.2",
    "-floatfile", "out.bin",
]


def _flags(argv):
    return [g[0] for g in split_groups(argv)]


def _value(argv, flag, k=1):
    for g in split_groups(argv):
        if g[0] == flag:
            return g[k]
    return None


class Recorder:
    """A predicate wrapper that records its calls."""

    def __init__(self, pred):
        self.pred = pred
        self.calls = []

    def __call__(self, argv):
        assert isinstance(argv, list)
        self.calls.append(tuple(argv))
        return self.pred(argv)


# -- split_groups -----------------------------------------------------------------------------

def test_split_groups_real_examples():
    argv = ("-cell 10 20 30 90 90 120 -misset random -misset_seed 5 -roi 0 10 0 10 "
            "-beam_vector 0 -1 0 -nopolar -curved_det -N 3 -twotheta_axis 1 0 0 "
            "-printout_pixel 3 4 -oversample_thick -oversample 2 -misset 1 -2.5 3e1 "
            "-pix0_vector_mm -1 -2 -3 -img x.img -mosaic_domains 3 -hkl P1.hkl "
            "-Xbeam -12.5 -profile nanobragg -detector_abs inf").split()
    groups = split_groups(argv)
    assert groups == [
        ["-cell", "10", "20", "30", "90", "90", "120"],
        ["-misset", "random"],
        ["-misset_seed", "5"],
        ["-roi", "0", "10", "0", "10"],
        ["-beam_vector", "0", "-1", "0"],
        ["-nopolar"],
        ["-curved_det"],  # the C needs a token after it but does not read it
        ["-N", "3"],
        ["-twotheta_axis", "1", "0", "0"],
        ["-printout_pixel", "3", "4"],
        ["-oversample_thick"],  # skip-rest: not also -oversample with a value
        ["-oversample", "2"],
        ["-misset", "1", "-2.5", "3e1"],
        ["-pix0_vector_mm", "-1", "-2", "-3"],
        ["-img", "x.img"],
        ["-mosaic_domains", "3"],
        ["-hkl", "P1.hkl"],
        ["-Xbeam", "-12.5"],
        ["-profile", "nanobragg"],
        ["-detector_abs", "inf"],
    ]
    assert [t for g in groups for t in g] == argv


def test_split_groups_partial_cell_and_strays():
    # -cell reads up to six tokens not starting with '-' (a negative number ends it)
    assert split_groups(["-cell", "10", "-20", "-N", "2"]) == [["-cell", "10"], ["-20"], ["-N", "2"]]
    assert split_groups(["-cell", "50", "60", "70", "-nopolar"]) == [
        ["-cell", "50", "60", "70"], ["-nopolar"]]
    # unknown flags and values that no flag reads are groups of one
    assert split_groups(["-foo", "7", "-nopolar", "bar"]) == [["-foo"], ["7"], ["-nopolar"], ["bar"]]
    # values stop at a token that looks like a flag
    assert split_groups(["-beam_vector", "1", "-N", "3"]) == [["-beam_vector", "1"], ["-N", "3"]]
    # a flag missing its value (last) is alone
    assert split_groups(["-N"]) == [["-N"]]
    assert split_groups([]) == []


def test_split_groups_misset_seed_follows_the_profile():
    # Q7: in the nanobragg profile -misset_seed n a b is also -misset n a b
    assert split_groups(["-misset_seed", "5", "1", "2"]) == [["-misset_seed", "5", "1", "2"]]
    assert split_groups(["-misset_seed", "5", "1", "2", "-profile", "corrected"]) == [
        ["-misset_seed", "5"], ["1"], ["2"], ["-profile", "corrected"]]
    assert split_groups(["-misset_seed", "5", "-N", "2"]) == [["-misset_seed", "5"], ["-N", "2"]]


@pytest.mark.parametrize("seed", range(40))
def test_split_groups_on_random_argv(seed):
    argv = random_argv(random.Random(seed))
    groups = split_groups(argv)
    assert [t for g in groups for t in g] == argv
    for g in groups:
        assert g[0].startswith("-") and not g[0][1:2].isdigit(), g  # no stray values


# -- shrink -------------------------------------------------------------------------------------

def _needs_mosaic_and_N(argv):
    flags = _flags(argv)
    return "-mosaic" in flags and "-N" in flags


def test_keeps_exactly_the_needed_groups():
    pred = Recorder(_needs_mosaic_and_N)
    res = shrink(TWELVE, pred, keep=("-floatfile",))
    assert res.reproduced and not res.exhausted
    assert _flags(res.argv) == ["-N", "-mosaic", "-floatfile"]
    assert res.argv == ["-N", "1", "-mosaic", "0", "-floatfile", "out.bin"]
    assert len(res.removed) == len(split_groups(TWELVE)) - 3
    assert ["-nopolar"] in res.removed and ["-cell", "78.1", "78.1", "37.9", "90", "90", "90"] in res.removed
    assert (["-N", "7"], ["-N", "1"]) in res.simplified
    assert res.tries == len(pred.calls) == len(set(pred.calls))  # cached: no repeated calls
    assert pred.calls[0] == tuple(TWELVE)
    assert res.tries <= 60


def test_keep_groups_are_never_removed_nor_changed():
    res = shrink(TWELVE, lambda a: "-nopolar" in a, keep=("-floatfile", "-detpixels"))
    assert res.argv == ["-detpixels", "64", "-nopolar", "-floatfile", "out.bin"]


def test_everything_removable():
    res = shrink(TWELVE, lambda a: True)
    assert res.argv == []
    assert res.tries == 2
    res = shrink(TWELVE, lambda a: True, keep=("-floatfile",))
    assert res.argv == ["-floatfile", "out.bin"]


def test_no_divergence_leaves_the_argv():
    pred = Recorder(lambda a: False)
    res = shrink(TWELVE, pred)
    assert res.argv == TWELVE and not res.reproduced and res.tries == 1
    assert res.removed == [] and res.simplified == []


def test_detector_size_goes_to_the_smallest_failing():
    def pred(argv):
        v = _value(argv, "-detpixels")
        return v is not None and int(v) >= 20

    res = shrink(TWELVE, pred)
    assert res.argv == ["-detpixels", "20"]
    assert (["-detpixels", "64"], ["-detpixels", "20"]) in res.simplified


def test_detector_size_halves():
    seen = []

    def pred(argv):
        v = _value(argv, "-detpixels_f")
        if v is not None:
            seen.append(int(v))
        return v is not None and int(v) % 16 == 0  # only multiples of 16 fail

    res = shrink(["-detpixels_f", "128", "-N", "3"], pred)
    assert res.argv == ["-detpixels_f", "16"]
    assert seen[:5] == [128, 128, 1, 64, 32]


def test_count_goes_to_one_or_the_smallest_failing():
    res = shrink(["-N", "30", "-phisteps", "9"], lambda a: _value(a, "-phisteps") is not None)
    assert res.argv == ["-phisteps", "1"]

    res = shrink(["-mosaic_domains", "10", "-N", "3"],
                 lambda a: int(_value(a, "-mosaic_domains") or 0) > 3)
    assert res.argv == ["-mosaic_domains", "4"]


def test_numbers_become_rounder():
    def pred(argv):
        lam = _value(argv, "-lambda")
        dist = _value(argv, "-distance")
        return lam is not None and float(lam) > 1.2 and dist is not None and float(dist) > 50

    res = shrink(TWELVE, pred)
    assert res.argv == ["-lambda", "1.23", "-distance", "100"]


def test_negative_numbers_keep_their_sign():
    res = shrink(["-Xbeam", "-12.5", "-nopolar"],
                 lambda a: _value(a, "-Xbeam") is not None and float(_value(a, "-Xbeam")) < -5)
    assert res.argv == ["-Xbeam", "-10"]


def test_vectors_become_unit_axes():
    def pred(argv):
        v = [_value(argv, "-beam_vector", k) for k in (1, 2, 3)]
        return v[0] is not None and float(v[0]) > 0.5

    res = shrink(TWELVE, pred)
    assert res.argv == ["-beam_vector", "1", "0", "0"]

    # the nearest axis first: -y here
    res = shrink(["-fdet_vector", "0.1", "-0.95", "0.2"],
                 lambda a: len(a) == 4 and a[0] == "-fdet_vector")
    assert res.argv == ["-fdet_vector", "0", "-1", "0"]

    # no axis reproduces: components are rounded instead
    def pred2(argv):
        g = split_groups(argv)
        return bool(g) and g[0][0] == "-beam_vector" and all(float(x) != 0 for x in g[0][1:])

    res = shrink(["-beam_vector", "0.9123", "0.1234", "-0.2345"], pred2)
    assert res.argv == ["-beam_vector", "1", "1", "-1"]


def test_cell_angles_try_90_and_edges_keep_positive():
    def pred(argv):
        g = [x for x in split_groups(argv) if x[0] == "-cell"]
        return bool(g) and len(g[0]) == 7 and float(g[0][6]) > 100 and float(g[0][1]) > 10

    res = shrink(["-cell", "34.9", "39.85", "171.21", "104.16", "100.18", "118.49", "-N", "4"], pred)
    assert res.argv == ["-cell", "30", "40", "200", "90", "90", "120"]


def test_misset_random_and_file_names_stay():
    res = shrink(["-misset", "random", "-hkl", "P1.hkl", "-N", "2"],
                 lambda a: "random" in a and "P1.hkl" in a)
    assert res.argv == ["-misset", "random", "-hkl", "P1.hkl"]


def test_max_tries_is_respected_and_the_best_so_far_returned():
    full = shrink(TWELVE, _needs_mosaic_and_N, keep=("-floatfile",))
    assert not full.exhausted
    sizes = []
    for limit in (1, 2, 5, 13, full.tries - 1, full.tries, full.tries + 10):
        pred = Recorder(_needs_mosaic_and_N)
        res = shrink(TWELVE, pred, keep=("-floatfile",), max_tries=limit)
        assert len(pred.calls) == res.tries <= limit
        assert res.exhausted == (limit < full.tries)
        assert _needs_mosaic_and_N(res.argv) and "-floatfile" in res.argv  # still failing
        sizes.append(len(res.argv))
    assert sizes == sorted(sizes, reverse=True)  # more tries, never a longer result
    assert sizes[0] == len(TWELVE) and sizes[-1] == len(full.argv)
    res = shrink(TWELVE, _needs_mosaic_and_N, max_tries=5)
    assert res.exhausted and len(res.argv) < len(TWELVE)


def test_deterministic():
    def pred(argv):
        return _needs_mosaic_and_N(argv) and "-beam_vector" in argv

    a = shrink(TWELVE, pred, keep=("-floatfile",))
    b = shrink(list(TWELVE), pred, keep=("-floatfile",))
    assert a == b


def test_order_and_repeated_flags_are_preserved():
    argv = ["-N", "5", "-nopolar", "-N", "3", "-mosaic", "1"]

    def pred(a):  # the last -N wins in the scan: needs two -N with the first larger
        vals = [int(g[1]) for g in split_groups(a) if g[0] == "-N" and len(g) == 2]
        return len(vals) == 2 and vals[0] > vals[1]

    res = shrink(argv, pred)
    assert res.argv == ["-N", "2", "-N", "1"]


def test_input_is_not_mutated():
    argv = list(TWELVE)
    shrink(argv, _needs_mosaic_and_N)
    assert argv == TWELVE


@pytest.mark.parametrize("seed", range(8))
def test_random_argv_shrinks_to_a_failing_subsequence_of_groups(seed):
    argv = random_argv(random.Random(seed))
    target = split_groups(argv)[len(split_groups(argv)) // 2][0]

    res = shrink(argv, lambda a: target in a, max_tries=100)
    assert res.argv[0] == target and _flags(res.argv) == [target]


# -- reproducer -----------------------------------------------------------------------------------

def test_reproducer_is_a_shell_line():
    argv = ["-hkl", "my file.hkl", "-N", "3", "-floatfile", "$HOME.bin"]
    line = reproducer(argv)
    assert line == "nanoBragg -hkl 'my file.hkl' -N 3 -floatfile '$HOME.bin'"
    assert shlex.split(line) == ["nanoBragg", *argv]
    assert reproducer(["-N", "3"], program="./nanoBragg") == "./nanoBragg -N 3"
    assert reproducer([]) == "nanoBragg"
