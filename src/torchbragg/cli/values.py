"""Value kinds and constraints of the flags, and the strict check of one flag's values
(README "Exit status and errors").

Each flag of :data:`torchbragg.cli.flags.FLAGS` names its kind and constraint; :func:`check`
reads them and refuses what the C would silently turn into a plausible-looking wrong run: a
value that is not a number, a flag missing its value(s), a value that cannot mean anything
physically. Every value it accepts converts to exactly the number the C reads. The same rules
are implemented in the C reference (``csrc/nb_check_argv.c``; numbers in ``csrc/nb_check_num.c``).
"""
from __future__ import annotations

import math
from typing import List, Sequence

from torchbragg.cli.cnum import LONG_MAX, LONG_MIN, strict_int, strict_real
from torchbragg.errors import InputError

# kinds
REAL, INT, LONG, FILE, NONE = "real", "int", "long", "file", "none"
VEC, VEC_NZ = "vec", "vec_nonzero"  # three reals (nonzero: the C normalises it)
WORD = "word"  # one word (one of the flag's ``choices`` when it has them)
SPECIAL = "special"  # checked by the flag's own ``check`` function

# constraints
ANY, POS, NONNEG = "any", "pos", "nonneg"

_WHAT = {POS: "a positive", NONNEG: "a non-negative", ANY: "a"}


def missing(tok: str, args: Sequence[str], k: int, need: int, what: str) -> InputError:
    if k < len(args):
        where = "the next argument" if k == 0 else f"argument {k + 1} after it"
        return InputError(f"{tok}: missing {what} ({where} is the flag {args[k]!r}); "
                          f"it takes {need} value{'s' if need > 1 else ''}")
    where = "it is the last argument" if k == 0 else f"only {k} given"
    return InputError(f"{tok}: missing {what} ({where}); "
                      f"it takes {need} value{'s' if need > 1 else ''}")


def is_flaglike(text: str) -> bool:
    return text.startswith("-") and strict_real(text) is None


def real(tok: str, args: Sequence[str], k: int, need: int, constraint: str = ANY) -> float:
    if k >= len(args) or is_flaglike(args[k]):
        raise missing(tok, args, k, need, "value" if need == 1 else "values")
    v = strict_real(args[k])
    if v is None:
        raise InputError(f"{tok}: expected {_WHAT[constraint]} number, got {args[k]!r}")
    _constrain(tok, v, constraint, args[k])
    return v


def _int(tok: str, args: Sequence[str], k: int, need: int, constraint: str = ANY,
         long: bool = False) -> int:
    if k >= len(args) or is_flaglike(args[k]):
        raise missing(tok, args, k, need, "value" if need == 1 else "values")
    v = strict_int(args[k], LONG_MIN, LONG_MAX) if long else strict_int(args[k])
    if v is None:
        raise InputError(f"{tok}: expected {_WHAT[constraint]} whole number, got {args[k]!r}")
    _constrain(tok, v, constraint, args[k])
    return v


def _constrain(tok: str, v: float, constraint: str, text: str) -> None:
    if constraint == POS and not v > 0:
        raise InputError(f"{tok}: must be positive, got {text!r}")
    if constraint == NONNEG and v < 0:
        raise InputError(f"{tok}: must not be negative, got {text!r}")


def check_cell(tok: str, args: Sequence[str]) -> int:
    """``-cell a [b c [al be ga]]``: up to six numbers (the C stops at a ``-`` token)."""
    values: List[float] = []
    for text in args[:6]:
        v = strict_real(text)
        if v is None:
            if text.startswith("-") or not values:
                break
            raise InputError(f"{tok}: expected a number, got {text!r}")
        values.append(v)
    if not values:
        raise missing(tok, args, 0, 1, "value")
    names = ("a", "b", "c", "alpha", "beta", "gamma")
    for name, v, text in zip(names, values, args):
        if name in ("a", "b", "c") and not v > 0:
            raise InputError(f"{tok}: cell length {name} must be positive, got {text!r}")
        if name not in ("a", "b", "c") and not 0 < v < 180:
            raise InputError(f"{tok}: cell angle {name} must lie between 0 and 180 degrees, "
                             f"got {text!r}")
    angles = [math.radians(v) for v in values[3:]] + [math.pi / 2] * (3 - len(values[3:]))
    ca, cb, cg = (math.cos(x) for x in angles)
    if 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg <= 1e-12:
        raise InputError(f"{tok}: the angles {' '.join(args[3:6])} do not form a cell "
                         "(zero or imaginary volume)")
    return len(values)


def check_misset(tok: str, args: Sequence[str]) -> int:
    """``-misset random`` or three angles."""
    if args and "rand" in args[0]:
        return 1
    for k in range(3):
        real(tok, args, k, 3)
    return 3


def check_pivot(tok: str, args: Sequence[str]) -> int:
    if not args or is_flaglike(args[0]):
        raise missing(tok, args, 0, 1, "value (beam or sample)")
    if "sample" not in args[0] and "beam" not in args[0]:
        raise InputError(f"{tok}: expected beam or sample, got {args[0]!r}")
    return 1


def check_absorption(tok: str, args: Sequence[str]) -> int:
    """``-detector_abs`` depth in µm, or ``inf`` (no absorption)."""
    if args and "inf" in args[0] and strict_real(args[0]) is None:
        if args[0].lstrip("+") not in ("inf", "infinity"):
            raise InputError(f"{tok}: expected a non-negative number or inf, got {args[0]!r}")
        return 1
    real(tok, args, 0, 1, NONNEG)
    return 1


def check_curved(tok: str, args: Sequence[str]) -> int:
    if not args:
        raise InputError(f"{tok}: must not be the last argument (the C reference then "
                         "ignores it and renders a flat detector); move it earlier")
    return 0  # the C's "value" is not used


def _file(tok: str, args: Sequence[str]) -> int:
    if not args or args[0].startswith("-") or args[0] == "":
        if args and args[0].startswith("-") and not is_flaglike(args[0]):
            raise InputError(f"{tok}: {args[0]!r} is not a file name (write ./{args[0]} "
                             "for a file whose name starts with -)")
        raise missing(tok, args, 0, 1, "file name")
    return 1


def _word(tok: str, args: Sequence[str], choices: Sequence[str]) -> int:
    if not args or is_flaglike(args[0]):
        raise missing(tok, args, 0, 1, "value")
    if choices and args[0] not in choices:
        raise InputError(f"{tok}: {args[0]!r} is not one of {', '.join(choices)}")
    return 1


def check(flag, tok: str, args: Sequence[str]) -> int:
    """Check the values of ``flag`` (a :class:`~torchbragg.cli.flags.Flag`) fired by ``tok``;
    returns how many of the following tokens ``args`` are its values."""
    kind = flag.kind
    if kind == NONE:
        return 0
    if kind == SPECIAL:
        return flag.check(tok, args)
    if kind == FILE:
        return _file(tok, args)
    if kind == WORD:
        return _word(tok, args, flag.choices)
    if kind in (VEC, VEC_NZ):
        vec = [real(tok, args, k, 3) for k in range(3)]
        if kind == VEC_NZ and not any(vec):
            raise InputError(f"{tok}: the vector {' '.join(args[:3])} has zero length")
        return 3
    for k in range(flag.arity):
        if kind == REAL:
            real(tok, args, k, flag.arity, flag.constraint)
        else:
            _int(tok, args, k, flag.arity, flag.constraint, long=(kind == LONG))
    return flag.arity
