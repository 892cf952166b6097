"""Flag families (torchbragg.parity.families): every flag of the CLI has one, families_of
matches tokens as the scan does, and the random suite covers every family."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from torchbragg.cli.flags import FLAGS
from torchbragg.parity.case_inputs import FILE_NAMES
from torchbragg.parity.families import FAMILIES, FAMILY_OF, NOT_DRAWN, families_of
from torchbragg.parity.random_argv import random_argv


def test_every_flag_pattern_has_a_family():
    missing = [f.pattern for f in FLAGS if f.pattern not in FAMILY_OF]
    assert not missing, f"flags without a family (add them to families.FAMILIES): {missing}"


def test_no_stale_or_duplicate_patterns():
    known = {f.pattern for f in FLAGS} | {"-img", "-mask"}
    listed = [p for pats in FAMILIES.values() for p in pats]
    assert len(listed) == len(set(listed))
    assert set(listed) == known


def test_torchbragg_extensions_form_their_own_family():
    assert set(FAMILIES["torchbragg"]) == {f.pattern for f in FLAGS if f.extension} == {
        "-trace_pixel", "-dtype", "-device", "-profile", "-chunk_pixels", "-compile"}
    assert NOT_DRAWN == {"torchbragg"}


@pytest.mark.parametrize("argv, expected", [
    (["-mosflm"], {"convention"}),
    (["-twotheta_axis", "1", "0", "0"], {"rotation", "twotheta"}),  # the Q4 collision
    (["-misset_seed", "5"], {"cell"}),
    (["-printout_pixel", "1", "2"], {"printout"}),
    (["-detpixels_f", "10", "-detsize", "5"], {"detector_size"}),
    (["-oversample_thick"], {"oversampling"}),  # skip-rest: not -oversample's value flag too
    (["-dump_pixel", "1", "2"], {"fdump"}),
    (["-polar_vector", "0", "0", "1"], {"polarisation"}),
    (["-pix0_vector_mm", "1", "2", "3"], {"convention"}),
    (["-xtal_size", "0.1", "-N", "3", "-sample_height", "0.01"], {"crystal_size"}),
    (["-adc", "-5"], {"scale"}),  # a negative number is not a flag
    (["-hkl", "-mosflm"], {"structure_factors"}),  # a value position is not a flag
    (["-cell", "10", "20", "30", "90", "90", "90", "-water", "5"], {"cell", "water"}),
    (["-misset", "random", "-img", "x.img"], {"cell", "smv_input"}),
    (["-misset", "-1", "-2", "-3", "-nopolar"], {"cell", "polarisation"}),
    (["-fdet_vector", "0", "-1", "0", "-xds"], {"convention"}),
    (["-dtype", "float64", "-trace_pixel", "1", "2"], {"torchbragg"}),
    (["-xbeam", "5", "cell"], set()),  # case-sensitive; plain words are ignored
    (["-progress", "-noprogress", "-wavelength", "1"], {"progress", "wavelength"}),
    (["-stolout", "out.stol"], {"amorphous"}),  # length > 7 (docs/behaviour/cli.md §3.2)
])
def test_families_of(argv, expected):
    assert families_of(argv) == expected


def test_seeded_draws_cover_every_family():
    counts = Counter()
    for seed in range(500):
        counts.update(families_of(random_argv(random.Random(seed), inputs=FILE_NAMES)))
    uncovered = [f for f in FAMILIES if f not in NOT_DRAWN and counts[f] == 0]
    assert not uncovered, f"families never drawn in 500 seeds: {uncovered} ({dict(counts)})"
    assert counts["torchbragg"] == 0
    # not a single lucky draw: every family shows up a few times
    assert min(counts[f] for f in FAMILIES if f not in NOT_DRAWN) >= 10, dict(counts)


def test_without_inputs_the_file_families_are_not_drawn():
    counts = Counter()
    for seed in range(200):
        counts.update(families_of(random_argv(random.Random(seed))))
    for family in ("sourcefile", "smv_input"):
        assert counts[family] == 0, family
