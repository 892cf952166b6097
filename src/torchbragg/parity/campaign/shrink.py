"""Shrinking a diverging command line to a minimal reproducer.

When the C program and torchbragg disagree on a command line, the campaign calls
:func:`shrink` with a predicate ``still_fails(argv)`` (True while *the same* divergence is
seen) and gets back a short argv that still shows it:

1. The argv is cut into groups, a flag and its values (:func:`split_groups`).
2. Delta debugging over the groups (ddmin, Zeller & Hildebrandt 2002): keep only one half /
   drop one half, then quarters, eighths, … down to single groups, until no single group can
   go.  Groups whose flag is in ``keep`` (``-floatfile`` and the like, which the predicate
   needs to read the images) are never dropped nor changed.
3. Value simplification, group by group, each change kept only while the argv still fails:
   vectors become the unit axis nearest to them; counts (``-N``, ``-phisteps``,
   ``-mosaic_domains``, ``-oversample``, …) and detector sizes (``-detpixels``, …) become 1,
   or the smallest failing value found by halving (64 → 32 → 16 …) and then bisecting; other
   numbers become 0, 1 or the same number with fewer significant digits (cell angles try
   90 first, cell edges only fewer digits).
4. If step 3 changed anything, steps 2 and 3 are repeated (a ``-N 1`` may no longer be needed).

Every predicate call is cached by ``tuple(argv)``; ``tries`` counts the calls actually made.
After ``max_tries`` calls the search stops and the smallest failing argv found so far is
returned.  The search is deterministic (no randomness) and does no I/O of its own.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from torchbragg.cli.cnum import strict_real
from torchbragg.cli.flags import FLAGS, Flag, profile_name
from torchbragg.cli.strict import SPECS
from torchbragg.cli.values import FILE, NONE, SPECIAL, VEC, VEC_NZ
from torchbragg.compat import NANOBRAGG, CompatProfile, get_profile
from torchbragg.errors import InputError

#: the flag table (the pre-pass flags -img, -mask included: docs/behaviour/cli.md §1.1)
TABLE: Tuple[Flag, ...] = tuple(FLAGS)

#: patterns whose value is a count: simplified towards 1
COUNT_PATTERNS = frozenset({
    "-N", "-Na", "-Nb", "-Nc", "-mosaic_dom", "-phisteps", "-dispsteps", "-hdivsteps",
    "-vdivsteps", "-divsteps", "-thicksteps", "-detector_thicksteps", "-oversample",
})
#: patterns whose value is a detector size in pixels: simplified towards 1 by halving
SIZE_PATTERNS = frozenset({
    "-detpixels", "-detpixels_f", "-detpixels_x", "-detpixels_s", "-detpixels_y",
})

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


# -- groups ---------------------------------------------------------------------------------

def _profile(argv: Sequence[str], profile: Optional[CompatProfile]) -> CompatProfile:
    if profile is not None:
        return profile
    try:
        return get_profile(profile_name(argv))
    except InputError:
        return NANOBRAGG


def _is_number(tok: str) -> bool:
    return strict_real(tok) is not None


def _flaglike(tok: str) -> bool:
    """A token that can never be a value: starts with ``-`` and is not a number."""
    return tok.startswith("-") and not _is_number(tok)


def _matched(tok: str, rest: Sequence[str]) -> List[Flag]:
    """The table entries that fire for ``tok`` in the scan's order, cut after a skip-rest
    entry (and after ``-misset random``, which ends the token's scan too)."""
    out: List[Flag] = []
    for flag in TABLE:
        if not flag.matches(tok) or len(rest) < flag.arity:
            continue
        out.append(flag)
        if flag.skip_rest:
            break
        if flag.pattern == "-misset" and rest and "rand" in rest[0]:
            break
    return out


def _primary(flags: Sequence[Flag]) -> List[Flag]:
    """Drop entries whose pattern is a proper part of another matched pattern (cli/strict.py:
    ``-misset`` in ``-misset_seed``, ``-twotheta`` in ``-twotheta_axis``, …)."""
    patterns = [f.pattern for f in flags]
    return [f for f in flags if not any(f.pattern != p and f.pattern in p for p in patterns)]


def _count(flag: Flag, rest: Sequence[str]) -> int:
    """How many of the following tokens ``flag`` reads as its values."""
    kind, _constraint, arity = SPECS.get(flag.pattern, (NONE, None, flag.arity))
    if kind == NONE:
        return 0
    if kind in (VEC, VEC_NZ):
        return 3
    if kind == FILE:
        return 1
    if kind == SPECIAL:
        if flag.pattern == "-cell":  # the scan stops at a '-' token or after six
            n = 0
            while n < min(6, len(rest)) and not rest[n].startswith("-"):
                n += 1
            return n
        if flag.pattern == "-misset":
            return 1 if rest and "rand" in rest[0] else 3
        if flag.pattern == "-curved_det":
            return 0  # the C needs a following token but does not read it
        return 1  # -pivot, -detector_abs, -dtype, -device, -profile
    return arity


def _values(tok: str, rest: Sequence[str], profile: CompatProfile) -> int:
    matched = _matched(tok, rest)
    if not matched:
        return 0
    n = max(_count(f, rest) for f in _primary(matched))
    if (profile.misset_seed_sets_misset and tok != "-misset" and "-misset_seed" in tok
            and any(f.pattern == "-misset" for f in matched)
            and not (rest and "rand" in rest[0]) and len(rest) >= 3):
        n = max(n, 3)  # Q7: -misset_seed n a b is also read as -misset n a b
    limit = min(n, len(rest))
    k = 0
    while k < limit and not _flaglike(rest[k]):
        k += 1
    return k


def is_flag(tok: str) -> bool:
    """True for a token that the scan (or the -img/-mask pre-pass) treats as a flag."""
    return _flaglike(tok) and any(f.matches(tok) for f in TABLE)


def split_groups(argv: Sequence[str], profile: Optional[CompatProfile] = None) -> List[List[str]]:
    """``argv`` as groups ``[flag, value, ...]``, in order; their concatenation is ``argv``.

    A flag's values are the following tokens the scan reads for it (the most over the table
    entries the token fires, leaving out entries contained in another: ``-twotheta_axis`` 3,
    ``-printout_pixel`` 2, ``-cell`` up to six tokens not starting with ``-``, ``-misset``
    ``random`` or three numbers, ``-curved_det`` none, ``-misset_seed`` three in the
    ``nanobragg`` profile when followed by three values: quirk Q7), cut at the first token that
    looks like a flag (starts with ``-`` and is not a number: negative numbers are values).
    Other tokens (unknown flags, values nobody reads) are groups of one.  The profile is the
    argv's ``-profile`` unless given.
    """
    argv = list(argv)
    prof = _profile(argv, profile)
    groups: List[List[str]] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        n = _values(tok, argv[i + 1:], prof) if is_flag(tok) else 0
        groups.append(argv[i:i + 1 + n])
        i += 1 + n
    return groups


def group_patterns(group: Sequence[str]) -> List[str]:
    """The table patterns that fire for the group's first token (primary entries only)."""
    if not group or not is_flag(group[0]):
        return []
    return [f.pattern for f in _primary(_matched(group[0], group[1:]))]


def reproducer(argv: Sequence[str], program: str = "nanoBragg") -> str:
    """A shell command line running ``program`` with ``argv`` (quoted with :func:`shlex.join`)."""
    return shlex.join([program, *argv])


# -- search ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShrinkResult:
    #: the smallest failing argv found (the input itself when it does not fail)
    argv: List[str]
    #: predicate calls made (cache hits not counted)
    tries: int
    #: the input's groups that are not in the result, as they were in the input
    removed: List[List[str]] = field(default_factory=list)
    #: (input group, result group) for every group whose values changed
    simplified: List[Tuple[List[str], List[str]]] = field(default_factory=list)
    #: whether the input fails at all (False: nothing was shrunk)
    reproduced: bool = True
    #: whether the search stopped at max_tries
    exhausted: bool = False


class _Budget(Exception):
    pass


class _Search:
    def __init__(self, groups: List[List[str]], fixed: List[bool],
                 still_fails: Callable[[List[str]], bool], max_tries: int):
        self.original = [list(g) for g in groups]
        self.current = [list(g) for g in groups]
        self.fixed = fixed
        self.active = [True] * len(groups)
        self.still_fails = still_fails
        self.max_tries = max_tries
        self.tries = 0
        self.cache: Dict[Tuple[str, ...], bool] = {}

    def argv(self, active: Optional[Sequence[bool]] = None,
             current: Optional[Sequence[Sequence[str]]] = None) -> List[str]:
        active = self.active if active is None else active
        current = self.current if current is None else current
        return [t for on, g in zip(active, current) if on for t in g]

    def fails(self, argv: List[str]) -> bool:
        key = tuple(argv)
        if key in self.cache:
            return self.cache[key]
        if self.tries >= self.max_tries:
            raise _Budget
        self.tries += 1
        result = bool(self.still_fails(list(argv)))
        self.cache[key] = result
        return result

    # -- ddmin over the removable active groups ---------------------------------------------
    def _with(self, chosen: Sequence[int]) -> List[bool]:
        keep = set(chosen)
        return [self.active[i] and (self.fixed[i] or i in keep) for i in range(len(self.active))]

    def _try_items(self, chosen: Sequence[int]) -> bool:
        mask = self._with(chosen)
        if self.fails(self.argv(mask)):
            self.active = mask
            return True
        return False

    def ddmin(self) -> bool:
        items = [i for i, on in enumerate(self.active) if on and not self.fixed[i]]
        start = len(items)
        if not items:
            return False
        if self._try_items([]):
            return True
        n = 2
        while len(items) >= 2:
            n = min(n, len(items))
            size = len(items) / n
            chunks = [items[round(k * size):round((k + 1) * size)] for k in range(n)]
            reduced = False
            if n > 2:  # keep only one chunk (for n == 2 the same as dropping the other)
                for chunk in chunks:
                    if self._try_items(chunk):
                        items, n, reduced = chunk, 2, True
                        break
            if not reduced:  # drop one chunk
                for chunk in chunks:
                    rest = [i for i in items if i not in chunk]
                    if self._try_items(rest):
                        items, n, reduced = rest, max(n - 1, 2), True
                        break
            if not reduced:
                if n >= len(items):
                    break
                n = min(2 * n, len(items))
        return len(items) < start

    # -- value simplification ---------------------------------------------------------------
    def _try_group(self, index: int, group: List[str]) -> bool:
        current = list(self.current)
        current[index] = group
        if self.fails(self.argv(current=current)):
            self.current[index] = group
            return True
        return False

    def simplify(self) -> bool:
        changed = False
        for index, on in enumerate(self.active):
            if not on or self.fixed[index] or len(self.current[index]) < 2:
                continue
            changed |= self._simplify_group(index)
        return changed

    def _simplify_group(self, index: int) -> bool:
        group = self.current[index]
        patterns = group_patterns(group)
        changed = False
        kinds = {SPECS.get(p, (NONE,))[0] for p in patterns}
        values = group[1:]
        if kinds & {VEC, VEC_NZ} and len(values) == 3 and all(_is_number(v) for v in values):
            vec = [float(strict_real(v)) for v in values]  # type: ignore[arg-type]
            axes = _unit_axes(vec)
            if [float(a) for a in axes[0]] == vec:
                return False  # already an axis: as simple as a vector gets
            for axis in axes:
                if self._try_group(index, [group[0], *axis]):
                    return True
        cell = "-cell" in patterns
        count = bool(set(patterns) & (COUNT_PATTERNS | SIZE_PATTERNS))
        for k in range(1, len(self.current[index])):
            tok = self.current[index][k]
            if not _NUMBER.fullmatch(tok):
                continue
            if count and _INTEGER.fullmatch(tok):
                changed |= self._shrink_count(index, k)
            else:
                role = ("edge" if k <= 3 else "angle") if cell else "number"
                changed |= self._round_number(index, k, role)
        return changed

    def _set(self, index: int, k: int, tok: str) -> bool:
        group = list(self.current[index])
        if group[k] == tok:
            return False
        group[k] = tok
        return self._try_group(index, group)

    def _shrink_count(self, index: int, k: int) -> bool:
        v = int(self.current[index][k])
        if v <= 1:
            return False
        if self._set(index, k, "1"):
            return True
        low, high = 1, v  # low passes, high fails
        x = v // 2
        while x > low:
            if self._set(index, k, str(x)):
                high, x = x, x // 2
            else:
                low = x
                break
        while high - low > 1:
            mid = (low + high) // 2
            if self._set(index, k, str(mid)):
                high = mid
            else:
                low = mid
        return high != v  # the last accepted value (self.current holds it)

    def _round_number(self, index: int, k: int, role: str) -> bool:
        tok = self.current[index][k]
        base = _complexity(tok)
        for cand in _simpler_numbers(tok, role):
            if _complexity(cand) < base and cand != tok and self._set(index, k, cand):
                return True
        return False


def _unit_axes(vec: Sequence[float]) -> List[List[str]]:
    """The unit axes at most 90° from ``vec`` as tokens, nearest first (ties: x, y, z, +, -)."""
    norm = math.sqrt(sum(c * c for c in vec)) or 1.0
    ranked = []
    for a in range(3):
        for sign in (1, -1):
            cos = sign * vec[a] / norm
            if cos >= 0:
                tokens = [("1" if sign > 0 else "-1") if b == a else "0" for b in range(3)]
                ranked.append((-cos, a, -sign, tokens))
    ranked.sort(key=lambda t: t[:3])
    return [t[3] for t in ranked]


def _sig_digits(tok: str) -> int:
    """Significant digits of a number token (trailing zeros do not count: 100 has one)."""
    mantissa = re.split(r"[eE]", tok.lstrip("+-"))[0].replace(".", "")
    return len(mantissa.strip("0"))


def _complexity(tok: str) -> Tuple[int, int]:
    return (_sig_digits(tok), len(tok))


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _simpler_numbers(tok: str, role: str) -> Iterator[str]:
    """Candidate replacements for a number, simplest first."""
    v = float(tok)
    if role == "angle":
        yield "90"
    elif role == "number":
        yield "0"
        yield "-1" if v < 0 else "1"
    for d in range(1, _sig_digits(tok)):
        yield _fmt(float(f"{v:.{d}g}"))


def shrink(argv: Sequence[str], still_fails: Callable[[List[str]], bool], *,
           keep: Sequence[str] = (), max_tries: int = 200) -> ShrinkResult:
    """The smallest argv found that still fails (see the module docstring for the steps).

    ``keep``: flags whose groups stay as they are (matched on the group's first token).
    ``max_tries``: at most this many calls of ``still_fails`` (the first is on ``argv``).
    """
    argv = list(argv)
    groups = split_groups(argv)
    keep_set = set(keep)
    fixed = [bool(g) and g[0] in keep_set for g in groups]
    search = _Search(groups, fixed, still_fails, max_tries)
    exhausted = False
    try:
        if not search.fails(argv):
            return ShrinkResult(argv=argv, tries=search.tries, reproduced=False)
        for _round in range(4):
            search.ddmin()
            if not search.simplify():
                break
    except _Budget:
        exhausted = True
    removed = [list(g) for g, on in zip(search.original, search.active) if not on]
    simplified = [(list(g0), list(g1))
                  for g0, g1, on in zip(search.original, search.current, search.active)
                  if on and g0 != g1]
    return ShrinkResult(argv=search.argv(), tries=search.tries, removed=removed,
                        simplified=simplified, reproduced=True, exhausted=exhausted)


__all__ = ["ShrinkResult", "split_groups", "shrink", "reproducer", "is_flag", "group_patterns",
           "COUNT_PATTERNS", "SIZE_PATTERNS", "TABLE"]
