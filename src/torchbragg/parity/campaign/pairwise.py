"""Pairwise (2-way) covering arrays for the parity campaign.

:func:`covering_array` turns a table of *dimensions* (a name → the values it may take) into a
short list of *cases* (a name → one value each) such that every pair of values of every two
dimensions appears together in at least one case.  Ten dimensions of three values each take
18 cases instead of 59 049; four dimensions of 5, 4, 3 and 2 values take 20 (the lower bound:
the two largest dimensions alone need 5 × 4 cases).

The construction is the greedy one-case-at-a-time scheme of AETG (Cohen et al., 1997): every
new case starts from the value that is part of the most still-uncovered pairs, the other
dimensions are filled in a random order, each with the value that covers the most new pairs
together with the values already chosen; several such candidates are drawn and the best is
kept.  A last pass drops cases whose pairs are all held by other cases.  A few seeded restarts
are made; without constraints the in-parameter-order construction IPOG (Lei & Tai, 1998) is
tried as well, and the shortest array is returned.

Determinism: the only source of randomness is ``random.Random(seed).random()`` (the Mersenne
Twister's 53-bit floats, identical on every platform and Python version; ``randrange``,
``choice`` and ``shuffle`` are not used), and the mapping is iterated in its own order, so a
seed and a table name one array.

Constraints: ``constraints(case)`` is called with *complete* cases only (a dict holding every
dimension) and returns False for a combination that must not be run.  No returned case is
rejected by it.  A pair that no valid case holds is left out; :func:`uncovered_pairs` lists
those (``uncovered_pairs(cases, dimensions)``).  A pair is declared impossible after a
bounded search: greedy and random completions, then an exhaustive enumeration of the other
dimensions when they have at most :data:`EXHAUSTIVE_LIMIT` combinations (so the verdict is
exact for such tables).

Values may be any hashable objects (strings, tuples of argv tokens, None, numbers); repeated
values within one dimension count once (equality *and* type: ``1`` and ``True`` differ).
"""
from __future__ import annotations

import random
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

Case = Dict[str, object]
#: ((name_i, value_i), (name_j, value_j)) with dimension i before j in the table
Pair = Tuple[Tuple[str, object], Tuple[str, object]]

#: candidates drawn per case
CANDIDATES = 24
#: seeded restarts of the whole construction (the shortest array wins)
RESTARTS = 4
#: random completions tried for a pair that the greedy cases could not hold validly
RANDOM_COMPLETIONS = 64
#: exhaustive search bound (combinations of the other dimensions) for an uncovered pair
EXHAUSTIVE_LIMIT = 50_000


def _key(value: object) -> Tuple[str, object]:
    return (type(value).__module__ + "." + type(value).__qualname__, value)


def _normalise(dimensions: Mapping[str, Sequence[object]]) -> Tuple[List[str], List[List[object]]]:
    names: List[str] = []
    values: List[List[object]] = []
    for name, vals in dimensions.items():
        seen: Dict[Tuple[str, object], object] = {}
        for v in vals:
            seen.setdefault(_key(v), v)
        if not seen:
            raise ValueError(f"dimension {name!r} has no values")
        names.append(name)
        values.append(list(seen.values()))
    return names, values


class _Builder:
    """One construction run: uncovered-pair bookkeeping over value indices."""

    def __init__(self, sizes: List[int], rng: random.Random,
                 valid: Optional[Callable[[Tuple[int, ...]], bool]]):
        self.sizes = sizes
        self.k = len(sizes)
        self.rng = rng
        self.valid = valid
        k = self.k
        # unc[i][j] (i < j): bytearray of sizes[i] * sizes[j], 1 = uncovered
        self.unc: List[List[Optional[bytearray]]] = [[None] * k for _ in range(k)]
        # count[i][a]: uncovered pairs that value a of dimension i is part of
        self.count = [[0] * n for n in sizes]
        self.left = 0
        for i in range(k):
            for j in range(i + 1, k):
                self.unc[i][j] = bytearray(b"\x01" * (sizes[i] * sizes[j]))
                self.left += sizes[i] * sizes[j]
            for a in range(sizes[i]):
                self.count[i][a] = sum(sizes[j] for j in range(k) if j != i)
        self.impossible: List[Tuple[int, int, int, int]] = []

    # -- helpers ---------------------------------------------------------------------------
    def _rand(self, n: int) -> int:
        return min(int(self.rng.random() * n), n - 1)

    def _is_unc(self, i: int, a: int, j: int, b: int) -> bool:
        if i > j:
            i, a, j, b = j, b, i, a
        return bool(self.unc[i][j][a * self.sizes[j] + b])

    def _gain(self, row: Sequence[int]) -> int:
        g = 0
        for i in range(self.k):
            for j in range(i + 1, self.k):
                g += self.unc[i][j][row[i] * self.sizes[j] + row[j]]
        return g

    def _mark(self, i: int, a: int, j: int, b: int) -> None:
        cell = a * self.sizes[j] + b
        if self.unc[i][j][cell]:
            self.unc[i][j][cell] = 0
            self.count[i][a] -= 1
            self.count[j][b] -= 1
            self.left -= 1

    def add(self, row: Sequence[int]) -> None:
        for i in range(self.k):
            for j in range(i + 1, self.k):
                self._mark(i, row[i], j, row[j])

    def _best_value(self, d: int, fixed: List[Tuple[int, int]]) -> int:
        best: List[int] = []
        top = -1
        for v in range(self.sizes[d]):
            s = 0
            for (f, fv) in fixed:
                s += self._is_unc(d, v, f, fv)
            if s > top:
                top, best = s, [v]
            elif s == top:
                best.append(v)
        if len(best) > 1:  # prefer values still part of many uncovered pairs, then chance
            most = max(self.count[d][v] for v in best)
            best = [v for v in best if self.count[d][v] == most]
        return best[self._rand(len(best))]

    def _order(self, dims: List[int]) -> List[int]:
        dims = list(dims)
        for n in range(len(dims) - 1, 0, -1):  # Fisher-Yates on random() only
            m = self._rand(n + 1)
            dims[n], dims[m] = dims[m], dims[n]
        return dims

    def _fill(self, row: List[Optional[int]]) -> List[int]:
        fixed = [(d, v) for d, v in enumerate(row) if v is not None]
        for d in self._order([d for d, v in enumerate(row) if v is None]):
            v = self._best_value(d, fixed)
            row[d] = v
            fixed.append((d, v))
        return row  # type: ignore[return-value]

    # -- one case ----------------------------------------------------------------------------
    def _candidate(self) -> List[int]:
        top = max(c for cs in self.count for c in cs)
        starts = [(d, v) for d in range(self.k) for v in range(self.sizes[d])
                  if self.count[d][v] == top]
        d, v = starts[self._rand(len(starts))]
        row: List[Optional[int]] = [None] * self.k
        row[d] = v
        return self._fill(row)

    def _repair(self, row: List[int], frozen: Set[int]) -> Optional[List[int]]:
        """A valid row close to ``row`` (one value changed, best gain first), or None."""
        options = []
        for d in range(self.k):
            if d in frozen:
                continue
            for v in range(self.sizes[d]):
                if v != row[d]:
                    alt = list(row)
                    alt[d] = v
                    options.append((-self._gain(alt), d, v, alt))
        options.sort(key=lambda o: o[:3])
        for *_, alt in options:
            if self.valid(tuple(alt)):
                return alt
        return None

    def _complete(self, fixed: Dict[int, int]) -> Optional[List[int]]:
        """A valid row holding the values ``fixed`` (dimension → value), or None."""
        base: List[Optional[int]] = [fixed.get(d) for d in range(self.k)]
        row = self._fill(list(base))
        if self.valid is None or self.valid(tuple(row)):
            return row
        fixed_dims = set(fixed)
        rep = self._repair(row, fixed_dims)
        if rep is not None:
            return rep
        free = [d for d in range(self.k) if d not in fixed_dims]
        for _ in range(RANDOM_COMPLETIONS):
            alt = list(base)
            for d in free:
                alt[d] = self._rand(self.sizes[d])
            if self.valid(tuple(alt)):
                return alt  # type: ignore[return-value]
        total = 1
        for d in free:
            total *= self.sizes[d]
            if total > EXHAUSTIVE_LIMIT:
                return None
        alt = list(base)
        for d in free:
            alt[d] = 0
        for _ in range(total):  # odometer over the free dimensions
            if self.valid(tuple(alt)):
                return alt  # type: ignore[return-value]
            for d in reversed(free):
                alt[d] += 1
                if alt[d] < self.sizes[d]:
                    break
                alt[d] = 0
        return None

    def _first_uncovered(self) -> Tuple[int, int, int, int]:
        for i in range(self.k):
            for j in range(i + 1, self.k):
                cells = self.unc[i][j]
                cell = cells.find(1)
                if cell >= 0:
                    return i, cell // self.sizes[j], j, cell % self.sizes[j]
        raise AssertionError("no uncovered pair left")

    def run(self) -> List[List[int]]:
        rows: List[List[int]] = []
        while self.left:
            best, best_gain = None, 0
            for _ in range(CANDIDATES):
                row = self._candidate()
                if self.valid is not None and not self.valid(tuple(row)):
                    row = self._repair(row, set())
                    if row is None:
                        continue
                g = self._gain(row)
                if g > best_gain:
                    best, best_gain = row, g
            if best is None:  # no valid candidate covers anything: work pair by pair
                i, a, j, b = self._first_uncovered()
                best = self._complete({i: a, j: b})
                if best is None:
                    self.impossible.append((i, a, j, b))
                    self._mark(i, a, j, b)
                    continue
            self.add(best)
            rows.append(best)
        return _drop_redundant(rows, self.k)


def _drop_redundant(rows: List[List[int]], k: int) -> List[List[int]]:
    held: Dict[Tuple[int, int, int, int], int] = {}
    for row in rows:
        for i in range(k):
            for j in range(i + 1, k):
                p = (i, row[i], j, row[j])
                held[p] = held.get(p, 0) + 1
    kept: List[List[int]] = []
    for row in reversed(rows):
        ps = [(i, row[i], j, row[j]) for i in range(k) for j in range(i + 1, k)]
        if ps and all(held[p] > 1 for p in ps):
            for p in ps:
                held[p] -= 1
        else:
            kept.append(row)
    kept.reverse()
    return kept


def _ipog(sizes: List[int], rng: random.Random) -> List[List[int]]:
    """IPOG: all pairs of the two largest dimensions, then one dimension at a time (horizontal
    growth: the best value per existing case; vertical growth: the pairs left go to cases with a
    free slot, or to new cases).  Free slots left at the end take the first value."""
    k = len(sizes)
    order = sorted(range(k), key=lambda d: -sizes[d])
    d0, d1 = order[0], order[1]
    rows: List[List[Optional[int]]] = []
    for a in range(sizes[d0]):
        for b in range(sizes[d1]):
            r: List[Optional[int]] = [None] * k
            r[d0], r[d1] = a, b
            rows.append(r)
    for t in range(2, k):
        d = order[t]
        prev = order[:t]
        todo = {(p, pv, v) for p in prev for pv in range(sizes[p]) for v in range(sizes[d])}
        for r in rows:
            top, best = -1, []
            for v in range(sizes[d]):
                s = sum((p, r[p], v) in todo for p in prev if r[p] is not None)
                if s > top:
                    top, best = s, [v]
                elif s == top:
                    best.append(v)
            v = best[min(int(rng.random() * len(best)), len(best) - 1)]
            r[d] = v
            for p in prev:
                if r[p] is not None:
                    todo.discard((p, r[p], v))
        for (p, pv, v) in sorted(todo):
            for r in rows:
                if r[d] == v and r[p] is None:
                    r[p] = pv
                    break
            else:
                r = [None] * k
                r[p], r[d] = pv, v
                rows.append(r)
    full = [[0 if x is None else x for x in r] for r in rows]
    return _drop_redundant(full, k)


def covering_array(dimensions: Mapping[str, Sequence[object]], seed: int = 0,
                   constraints: Optional[Callable[[Case], bool]] = None) -> List[Case]:
    """A short list of cases holding every pair of values of every two dimensions.

    ``dimensions`` maps a name to its values (iterated in the mapping's order); each case is a
    dict with every name.  ``constraints(case)``, if given, rejects invalid complete cases;
    pairs that no valid case can hold are left out (see :func:`uncovered_pairs`).  The same
    ``seed`` gives the same list.  No dimensions: one empty case.
    """
    names, values = _normalise(dimensions)
    if not names:
        return [{}]
    sizes = [len(v) for v in values]
    if len(names) == 1:
        cases = [{names[0]: v} for v in values[0]]
        return [c for c in cases if constraints is None or constraints(dict(c))]

    memo: Dict[Tuple[int, ...], bool] = {}

    def valid(row: Tuple[int, ...]) -> bool:
        r = memo.get(row)
        if r is None:
            r = memo[row] = bool(constraints(_case(names, values, row)))  # type: ignore[misc]
        return r

    best: Optional[List[List[int]]] = None
    master = random.Random(seed)
    for _ in range(RESTARTS):
        sub = random.Random(int(master.random() * 2 ** 53))
        rows = _Builder(sizes, sub, valid if constraints is not None else None).run()
        if best is None or len(rows) < len(best):
            best = rows
    if constraints is None:
        rows = _ipog(sizes, random.Random(int(master.random() * 2 ** 53)))
        if len(rows) < len(best):  # type: ignore[arg-type]
            best = rows
    return [_case(names, values, row) for row in best]  # type: ignore[union-attr]


def _case(names: List[str], values: List[List[object]], row: Sequence[int]) -> Case:
    return {n: values[d][row[d]] for d, n in enumerate(names)}


def all_pairs(dimensions: Mapping[str, Sequence[object]]) -> List[Pair]:
    """Every pair of values of every two dimensions, in table order."""
    names, values = _normalise(dimensions)
    out: List[Pair] = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            for a in values[i]:
                for b in values[j]:
                    out.append(((names[i], a), (names[j], b)))
    return out


def _pair_key(p: Pair) -> Tuple[Tuple[str, Tuple[str, object]], Tuple[str, Tuple[str, object]]]:
    (n1, v1), (n2, v2) = p
    return ((n1, _key(v1)), (n2, _key(v2)))


def _covered_keys(cases: Iterable[Mapping[str, object]],
                  dimensions: Mapping[str, Sequence[object]]) -> Set[object]:
    names = list(dimensions)
    got: Set[object] = set()
    for case in cases:
        present = [n for n in names if n in case]
        for x in range(len(present)):
            for y in range(x + 1, len(present)):
                got.add(_pair_key(((present[x], case[present[x]]), (present[y], case[present[y]]))))
    return got


def pairs_covered(cases: Iterable[Mapping[str, object]],
                  dimensions: Mapping[str, Sequence[object]]) -> List[Pair]:
    """The pairs of :func:`all_pairs` that some case holds, in table order.

    Cases may hold only some dimensions (and other keys, ignored).  Values compare by type and
    equality, so ``1`` and ``True`` are different values (hence a list, not a set).
    """
    got = _covered_keys(cases, dimensions)
    return [p for p in all_pairs(dimensions) if _pair_key(p) in got]


def uncovered_pairs(cases: Iterable[Mapping[str, object]],
                    dimensions: Mapping[str, Sequence[object]]) -> List[Pair]:
    """The pairs of :func:`all_pairs` that no case holds, in table order.

    For ``cases = covering_array(dimensions, constraints=c)`` these are exactly the pairs found
    impossible under ``c`` (empty without constraints).
    """
    got = _covered_keys(cases, dimensions)
    return [p for p in all_pairs(dimensions) if _pair_key(p) not in got]


__all__ = ["Case", "Pair", "covering_array", "all_pairs", "pairs_covered", "uncovered_pairs"]
