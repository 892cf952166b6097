"""Strict check of the command line before the C-style scan (README "Exit status").

The scan in :mod:`torchbragg.cli.flags` keeps the C's substring matching and ``atof``/``atoi``
conversions. This module runs first and refuses what the C would silently turn into a
plausible-looking wrong run: a value that is not a number, a flag missing its value(s), a
value that cannot mean anything physically. Every value it accepts converts to exactly the
number the C reads, so accepted command lines behave as in the C reference.

Which flags a token is checked for: the flags it matches, except those whose pattern is a
proper part of another pattern the same token matches (the documented collisions of
docs/behaviour/cli.md §3.1: ``-misset`` inside ``-misset_seed``, ``-twotheta`` inside
``-twotheta_axis``, ``-printout`` inside ``-printout_pixel``); those secondary branches keep the C's
lenient reading, so the quirks Q4/Q7 are reproduced unchanged.

Unknown flags (a token starting with ``-`` that is not a number, matches no pattern and is not
a value of a preceding flag) produce a one-line warning, not an error.

The same rules are implemented in the C reference (``csrc/nb_check_argv.c``; numbers in
``csrc/nb_check_num.c``).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence

from torchbragg.cli.cnum import LONG_MAX, LONG_MIN, strict_int, strict_real
from torchbragg.cli.flags import MAX_VALUES, FlagIndex
from torchbragg.errors import InputError

# kinds
REAL, INT, LONG, FILE, NONE = "real", "int", "long", "file", "none"
VEC, VEC_NZ = "vec", "vec_nonzero"  # three reals (nonzero: the C normalises it)
SPECIAL = "special"

ANY, POS, NONNEG = "any", "pos", "nonneg"

#: pattern -> (kind, constraint, arity). Patterns and matching rules are those of flags.FLAGS
#: (plus the pre-pass flags -img/-mask); the arity there is the C's.
SPECS = {
    "-hkl": (FILE, ANY, 1), "-default_F": (REAL, ANY, 1), "-dump": (FILE, ANY, 1),
    "-mat": (FILE, ANY, 1), "-cell": (SPECIAL, ANY, 1), "-misset": (SPECIAL, ANY, 1),
    "-misset_seed": (LONG, ANY, 1), "-sourcefile": (FILE, ANY, 1), "-stol": (FILE, ANY, 1),
    "-4stol": (FILE, ANY, 1), "-Q": (FILE, ANY, 1), "-stolout": (FILE, ANY, 1),
    "-Na": (INT, NONNEG, 1), "-Nb": (INT, NONNEG, 1), "-Nc": (INT, NONNEG, 1),
    "-N": (INT, NONNEG, 1),
    "-density": (REAL, ANY, 1), "-sample_den": (REAL, ANY, 1), "-MW": (REAL, ANY, 1),
    "-molec": (REAL, ANY, 1), "-fudge": (REAL, ANY, 1),
    "-mosaic": (REAL, NONNEG, 1), "-mosaici": (REAL, NONNEG, 1),
    "-mosaic_spr": (REAL, NONNEG, 1), "-mosaic_dom": (INT, NONNEG, 1),
    "-mosaic_seed": (LONG, ANY, 1),
    "-lambda": (REAL, POS, 1), "-wave": (REAL, POS, 1), "-energy": (REAL, POS, 1),
    "-dispersion": (REAL, NONNEG, 1), "-dispsteps": (INT, NONNEG, 1),
    "-divergence": (REAL, NONNEG, 1), "-hdivrange": (REAL, NONNEG, 1),
    "-vdivrange": (REAL, NONNEG, 1), "-hdivstep": (REAL, NONNEG, 1),
    "-vdivstep": (REAL, NONNEG, 1), "-hdivsteps": (INT, NONNEG, 1),
    "-vdivsteps": (INT, NONNEG, 1), "-divsteps": (INT, NONNEG, 1),
    "-fluence": (REAL, NONNEG, 1), "-flux": (REAL, NONNEG, 1), "-exposure": (REAL, NONNEG, 1),
    "-beamsize": (REAL, POS, 1), "-polar": (REAL, ANY, 1),
    "-beam_vector": (VEC_NZ, ANY, 3), "-polar_vector": (VEC_NZ, ANY, 3),
    "-water": (REAL, NONNEG, 1), "-pixel": (REAL, POS, 1),
    "-detpixels": (INT, POS, 1), "-detpixels_f": (INT, POS, 1), "-detpixels_x": (INT, POS, 1),
    "-detpixels_s": (INT, POS, 1), "-detpixels_y": (INT, POS, 1),
    "-detsize": (REAL, POS, 1), "-detsize_f": (REAL, POS, 1), "-detsize_s": (REAL, POS, 1),
    "-distance": (REAL, POS, 1), "-close_distance": (REAL, POS, 1),
    "-Xbeam": (REAL, ANY, 1), "-Ybeam": (REAL, ANY, 1), "-Xclose": (REAL, ANY, 1),
    "-Yclose": (REAL, ANY, 1), "-ORGX": (REAL, ANY, 1), "-ORGY": (REAL, ANY, 1),
    "-pivot": (SPECIAL, ANY, 1),
    "-fdet_vector": (VEC_NZ, ANY, 3), "-sdet_vector": (VEC_NZ, ANY, 3),
    "-odet_vector": (VEC, ANY, 3), "-spindle_axis": (VEC_NZ, ANY, 3),
    "-twotheta_axis": (VEC_NZ, ANY, 3), "-pix0_vector": (VEC, ANY, 3),
    "-detector_rotx": (REAL, ANY, 1), "-detector_roty": (REAL, ANY, 1),
    "-detector_rotz": (REAL, ANY, 1), "-twotheta": (REAL, ANY, 1),
    "-curved_det": (SPECIAL, ANY, 1),
    "-detector_abs": (SPECIAL, ANY, 1), "-detector_thick": (REAL, NONNEG, 1),
    "-detector_thicksteps": (INT, NONNEG, 1), "-thicksteps": (INT, NONNEG, 1),
    "-phi": (REAL, ANY, 1), "-osc": (REAL, NONNEG, 1), "-phistep": (REAL, NONNEG, 1),
    "-phisteps": (INT, NONNEG, 1), "-oversample": (INT, NONNEG, 1),
    "-roi": (INT, ANY, 4), "-dmin": (REAL, NONNEG, 1),
    "-floatfile": (FILE, ANY, 1), "-floatimage": (FILE, ANY, 1), "-intfile": (FILE, ANY, 1),
    "-intimage": (FILE, ANY, 1), "-pgmfile": (FILE, ANY, 1), "-pgmimage": (FILE, ANY, 1),
    "-noisefile": (FILE, ANY, 1), "-noiseimage": (FILE, ANY, 1),
    "-scale": (REAL, ANY, 1), "-pgmscale": (REAL, ANY, 1), "-adc": (REAL, ANY, 1),
    "-seed": (LONG, ANY, 1), "-printout_pixel": (INT, ANY, 2),
    "-trace_pixel": (INT, NONNEG, 2), "-chunk_pixels": (INT, POS, 1),
    # -dtype, -device, -profile: validated by their actions in flags.py
    "-dtype": (SPECIAL, ANY, 1), "-device": (SPECIAL, ANY, 1), "-profile": (SPECIAL, ANY, 1),
    **{p: (REAL, NONNEG, 1) for p in (
        "-samplesize", "-sample_size", "-xtalsize", "-xtal_size", "-sample_thick", "-sample_x",
        "-xtal_thick", "-xtal_x", "-sample_width", "-sample_y", "-width", "-xtal_width",
        "-xtal_y", "-sample_heigh", "-sample_z", "-heigh", "-xtal_heigh", "-xtal_z")},
    # pre-pass flags (docs/behaviour/cli.md §1.1)
    "-img": (FILE, ANY, 1), "-mask": (FILE, ANY, 1),
}

_WHAT = {POS: "a positive", NONNEG: "a non-negative", ANY: "a"}


def _flag_table():
    from torchbragg.cli.flags import FLAGS, Flag

    table = list(FLAGS) + [Flag("-img", 1, None), Flag("-mask", 1, None)]
    return table


def _missing(tok: str, args: Sequence[str], k: int, need: int, what: str) -> InputError:
    if k < len(args):
        where = "the next argument" if k == 0 else f"argument {k + 1} after it"
        return InputError(f"{tok}: missing {what} ({where} is the flag {args[k]!r}); "
                          f"it takes {need} value{'s' if need > 1 else ''}")
    where = "it is the last argument" if k == 0 else f"only {k} given"
    return InputError(f"{tok}: missing {what} ({where}); "
                      f"it takes {need} value{'s' if need > 1 else ''}")


def _is_flaglike(text: str) -> bool:
    return text.startswith("-") and strict_real(text) is None


def _real(tok: str, args: Sequence[str], k: int, need: int, constraint: str = ANY) -> float:
    if k >= len(args) or _is_flaglike(args[k]):
        raise _missing(tok, args, k, need, "value" if need == 1 else "values")
    v = strict_real(args[k])
    if v is None:
        raise InputError(f"{tok}: expected {_WHAT[constraint]} number, got {args[k]!r}")
    _constrain(tok, v, constraint, args[k])
    return v


def _int(tok: str, args: Sequence[str], k: int, need: int, constraint: str = ANY,
         long: bool = False) -> int:
    if k >= len(args) or _is_flaglike(args[k]):
        raise _missing(tok, args, k, need, "value" if need == 1 else "values")
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


def _check_cell(tok: str, args: Sequence[str]) -> int:
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
        raise _missing(tok, args, 0, 1, "value")
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


def _check_special(pattern: str, tok: str, args: Sequence[str]) -> int:
    """Returns how many following tokens are this flag's values."""
    if pattern == "-cell":
        return _check_cell(tok, args)
    if pattern == "-misset":
        if args and "rand" in args[0]:
            return 1  # -misset random
        for k in range(3):
            _real(tok, args, k, 3)
        return 3
    if pattern == "-pivot":
        if not args or _is_flaglike(args[0]):
            raise _missing(tok, args, 0, 1, "value (beam or sample)")
        if "sample" not in args[0] and "beam" not in args[0]:
            raise InputError(f"{tok}: expected beam or sample, got {args[0]!r}")
        return 1
    if pattern == "-detector_abs":
        if args and "inf" in args[0] and strict_real(args[0]) is None:
            if args[0].lstrip("+") not in ("inf", "infinity"):
                raise InputError(f"{tok}: expected a non-negative number or inf, got {args[0]!r}")
            return 1  # no absorption
        _real(tok, args, 0, 1, NONNEG)
        return 1
    if pattern == "-curved_det":
        if not args:
            raise InputError(f"{tok}: must not be the last argument (the C reference then "
                             "ignores it and renders a flat detector); move it earlier")
        return 0  # the C's "value" is not used
    if pattern in ("-dtype", "-device", "-profile"):
        if not args or _is_flaglike(args[0]):
            raise _missing(tok, args, 0, 1, "value")
        return 1
    raise AssertionError(pattern)  # pragma: no cover


def _check_flag(pattern: str, tok: str, args: Sequence[str]) -> int:
    kind, constraint, arity = SPECS.get(pattern, (NONE, ANY, 0))
    if kind == NONE:
        return 0
    if kind == SPECIAL:
        return _check_special(pattern, tok, args)
    if kind == FILE:
        if not args or args[0].startswith("-") or args[0] == "":
            what = "file name"
            if args and args[0].startswith("-") and not _is_flaglike(args[0]):
                raise InputError(f"{tok}: {args[0]!r} is not a file name (write ./{args[0]} "
                                 "for a file whose name starts with -)")
            raise _missing(tok, args, 0, 1, what)
        return 1
    if kind in (VEC, VEC_NZ):
        vec = [_real(tok, args, k, 3) for k in range(3)]
        if kind == VEC_NZ and not any(vec):
            raise InputError(f"{tok}: the vector {' '.join(args[:3])} has zero length")
        return 3
    for k in range(arity):
        if kind == REAL:
            _real(tok, args, k, arity, constraint)
        else:
            _int(tok, args, k, arity, constraint, long=(kind == LONG))
    return arity


def check_argv(argv: Sequence[str], profile=None,
               warn: Optional[Callable[[str], None]] = None) -> List[str]:
    """Validate ``argv``; raise :class:`InputError` naming the flag; return the warnings
    (unknown flags), also sent to ``warn``."""
    index = FlagIndex(_flag_table())
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
            n = _check_flag(f.pattern, tok, args)
            value_positions.update(range(i + 1, i + 1 + n))
    if warn is not None:
        for w in warnings:
            warn(w)
    return warnings
