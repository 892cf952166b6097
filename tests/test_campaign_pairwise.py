"""Pairwise covering arrays (parity/campaign/pairwise.py)."""
from __future__ import annotations

import itertools

import pytest

from torchbragg.parity.campaign.pairwise import (
    all_pairs,
    covering_array,
    pairs_covered,
    uncovered_pairs,
)


def _dims(*sizes):
    return {f"d{i}": [f"v{i}_{a}" for a in range(n)] for i, n in enumerate(sizes)}


SHAPES = [
    (3,) * 10,
    (5, 4, 3, 2),
    (2,) * 20,
    (4,) * 8,
    (1, 3, 3),
    (3, 1, 1, 4),
    (2, 2),
    (3,) * 4,
    (6, 5, 4, 3, 3, 2, 2),
    (5,) * 25,
]


@pytest.mark.parametrize("sizes", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_full_coverage_and_well_formed(sizes):
    dims = _dims(*sizes)
    cases = covering_array(dims)
    assert uncovered_pairs(cases, dims) == []
    assert pairs_covered(cases, dims) == all_pairs(dims)
    for case in cases:
        assert list(case) == list(dims)  # every dimension, in table order
        for name, value in case.items():
            assert value in dims[name]
    lower = max((a * b for a, b in itertools.combinations(sizes, 2)), default=1)
    assert len(cases) >= lower


@pytest.mark.parametrize("sizes,bound", [
    ((3,) * 10, 20),
    ((5, 4, 3, 2), 22),
    ((3,) * 4, 9),
    ((2,) * 20, 12),
    ((1, 3, 3), 9),
    ((4,) * 8, 30),
])
def test_size_bounds(sizes, bound):
    assert len(covering_array(_dims(*sizes))) <= bound


def test_much_smaller_than_the_product():
    dims = _dims(*(3,) * 10)
    assert len(covering_array(dims)) * 1000 < 3 ** 10


def test_deterministic_for_a_seed():
    dims = _dims(4, 3, 3, 2, 5, 2)
    assert covering_array(dims, seed=7) == covering_array(dims, seed=7)
    for seed in range(5):
        assert uncovered_pairs(covering_array(dims, seed=seed), dims) == []


def test_does_not_touch_global_random_state():
    import random

    random.seed(123)
    before = random.random()
    random.seed(123)
    covering_array(_dims(3, 3, 3, 3))
    assert random.random() == before


def test_mapping_order_is_the_case_order():
    dims = {"z": [1, 2], "a": ["x", "y"], "m": [None, ()]}
    for case in covering_array(dims):
        assert list(case) == ["z", "a", "m"]


def test_hashable_values_of_any_kind():
    dims = {
        "beam": [(), ("-divergence", "1", "-divsteps", "3"), ("-dispersion", "2")],
        "shape": [None, "-round_xtal", "-gauss_xtal"],
        "n": [1, 2.5, True],
        "frozen": [frozenset({1}), frozenset()],
    }
    cases = covering_array(dims)
    assert uncovered_pairs(cases, dims) == []
    # True and 1 are different values here (type matters)
    assert {type(c["n"]) for c in cases} == {int, float, bool}


def test_repeated_values_count_once():
    dims = {"a": [1, 1, 2], "b": ["x", "x"]}
    cases = covering_array(dims)
    assert uncovered_pairs(cases, dims) == []
    assert len(cases) == 2


def test_edge_shapes():
    assert covering_array({}) == [{}]
    assert covering_array({"a": [1, 2, 3]}) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert covering_array({"a": [1], "b": [2]}) == [{"a": 1, "b": 2}]
    with pytest.raises(ValueError):
        covering_array({"a": [1], "b": []})


def _brute_force_impossible(dims, ok):
    names = list(dims)
    possible = set()
    for combo in itertools.product(*dims.values()):
        case = dict(zip(names, combo))
        if ok(case):
            for i, j in itertools.combinations(range(len(names)), 2):
                possible.add(((names[i], combo[i]), (names[j], combo[j])))
    return [p for p in all_pairs(dims) if p not in possible]


CONSTRAINTS = [
    # a forbidden pair
    lambda c: not (c["d0"] == "v0_0" and c["d1"] == "v1_1"),
    # a conditional triple: d2 = v2_2 needs d0 = v0_2 (pairs of v2_2 with other d0 impossible)
    lambda c: c["d2"] != "v2_2" or c["d0"] == "v0_2",
    # a value that is never valid
    lambda c: c["d3"] != "v3_0",
    # only few cases valid at all
    lambda c: (c["d0"], c["d1"]) in {("v0_0", "v1_0"), ("v0_1", "v1_1"), ("v0_2", "v1_2")},
    # parity constraint over many dimensions
    lambda c: sum(int(v[-1]) for v in c.values()) % 2 == 0,
]


@pytest.mark.parametrize("index", range(len(CONSTRAINTS)))
def test_constraints_respected_and_impossible_pairs_reported(index):
    ok = CONSTRAINTS[index]
    dims = _dims(3, 3, 3, 2, 2, 3)
    calls = []

    def constraint(case):
        calls.append(dict(case))
        return ok(case)

    cases = covering_array(dims, seed=1, constraints=constraint)
    assert cases
    assert all(ok(c) for c in cases)
    assert all(set(c) == set(dims) for c in calls)  # called with complete cases only
    assert uncovered_pairs(cases, dims) == _brute_force_impossible(dims, ok)
    # still small: at most the unconstrained size plus a margin
    assert len(cases) <= 2 * len(covering_array(dims)) + 5


def test_nothing_valid_gives_no_cases():
    dims = _dims(2, 2, 2)
    cases = covering_array(dims, constraints=lambda c: False)
    assert cases == []
    assert uncovered_pairs(cases, dims) == all_pairs(dims)


def test_constrained_is_deterministic():
    dims = _dims(4, 3, 3, 2, 2)
    ok = CONSTRAINTS[1]
    assert covering_array(dims, seed=3, constraints=ok) == covering_array(dims, seed=3, constraints=ok)


def test_pairs_covered_counts_partial_cases():
    dims = {"a": [1, 2], "b": [3, 4], "c": [5]}
    got = pairs_covered([{"a": 1, "b": 3}, {"a": 2, "c": 5, "zzz": 0}], dims)
    assert got == [(("a", 1), ("b", 3)), (("a", 2), ("c", 5))]
    assert len(uncovered_pairs([], dims)) == len(all_pairs(dims)) == 4 + 2 + 2
