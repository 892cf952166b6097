"""Strict check of the command line before the C-style scan (README "Exit status").

The scan in :mod:`torchbragg.cli.flags` keeps the C's substring matching and ``atof``/``atoi``
conversions. This pass runs first and checks each flag's values by the kind and constraint its
declaration names (:mod:`torchbragg.cli.values`); every value it accepts converts to exactly
the number the C reads, so accepted command lines behave as in the C reference.

Which flags a token is checked for: the flags it matches, except those whose pattern is a
proper part of another pattern the same token matches (the documented collisions of
docs/behaviour/cli.md §3.1: ``-misset`` inside ``-misset_seed``, ``-twotheta`` inside
``-twotheta_axis``, ``-printout`` inside ``-printout_pixel``); those secondary branches keep the
C's lenient reading, so the quirks Q4/Q7 are reproduced unchanged.

Unknown flags (a token starting with ``-`` that is not a number, matches no pattern and is not
a value of a preceding flag) produce a one-line warning, not an error.

The same rules are implemented in the C reference (``csrc/nb_check_argv.c``).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from torchbragg.cli import values
from torchbragg.cli.cnum import strict_real
from torchbragg.cli.flags import FLAGS, MAX_VALUES, FlagIndex
from torchbragg.cli.values import NONE

#: pattern -> (kind, constraint, arity) of every flag with values, derived from ``FLAGS``
SPECS = {f.pattern: (f.kind, f.constraint, f.arity) for f in FLAGS if f.kind != NONE}


def check_argv(argv: Sequence[str], warn: Optional[Callable[[str], None]] = None) -> List[str]:
    """Validate ``argv``; raise :class:`InputError` naming the flag; return the warnings
    (unknown flags), also sent to ``warn``."""
    index = FlagIndex(FLAGS)
    warnings: List[str] = []
    value_positions = set()
    for i, tok in enumerate(argv):
        if not tok.startswith("-") or tok == "--debug":
            continue
        if strict_real(tok) is not None:
            continue  # a negative number
        matched = list(index.matching(tok))
        # skip-rest: the C stops testing a token after these flags (docs/behaviour/cli.md §1.1)
        for n, f in enumerate(matched):
            if f.skip_rest:
                matched = matched[:n + 1]
                break
        if not matched:
            if i not in value_positions:
                warnings.append(f"warning: unknown flag {tok} ignored")
            continue
        patterns = [f.pattern for f in matched]
        primary = [f for f in matched
                   if not any(f.pattern != p and f.pattern in p for p in patterns)]
        args = list(argv[i + 1:i + 1 + MAX_VALUES])
        for f in primary:
            n = values.check(f, tok, args)
            value_positions.update(range(i + 1, i + 1 + n))
    if warn is not None:
        for w in warnings:
            warn(w)
    return warnings
