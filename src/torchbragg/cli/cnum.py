"""C ``atof``/``atoi`` semantics: the longest numeric prefix, 0 when there is none
(docs/behaviour/cli.md §1.2)."""
from __future__ import annotations

import re

from torchbragg.io import cscan

#: ASCII digits only: C atoi reads no other digits (str patterns would match "１６")
_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def atof(text: str) -> float:
    """C ``atof``: leading white space, longest valid prefix, trailing junk ignored (the same
    ``strtod`` the file readers use, :func:`torchbragg.io.cscan.atof`)."""
    return cscan.atof(text.encode("utf-8", "surrogateescape"))


def atoi(text: str) -> int:
    """C ``atoi`` (saturating to the 32-bit range instead of undefined behaviour)."""
    m = _INT.match(text)
    if not m:
        return 0
    value = int(m.group(1))
    return max(-(2 ** 31), min(2 ** 31 - 1, value))


# ---------------------------------------------------------------------------------------------
# Strict parsing: the forms of atof/atoi that are meaningful, nothing else.
#
# A value is accepted only when the C's atof/atoi reads the *whole* token and gets the value the
# user evidently meant, so every accepted value converts exactly as in the C reference:
#   reals:    [+-] digits [. digits] [e|E [+-] digits], also ".5", "100.", "+5", "1e3"
#   integers: [+-] digits, optionally followed by "." and zeros ("2.0", "100."): atoi reads the
#             same number. "2.5" (atoi truncates to 2) and "1e3" (atoi reads 1) are refused.
# Refused: empty, trailing junk ("5mm"), hexadecimal, nan, inf (except where a flag gives
# "inf" a meaning, see cli/values.py), values that overflow, integers outside the C int range.
_STRICT_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)(?:\.0*)?[ \t\n\v\f\r]*")
INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
LONG_MIN, LONG_MAX = -(2 ** 63), 2 ** 63 - 1


def strict_real(text: str) -> float | None:
    """The value of a strictly numeric token (finite), else None; surrounding white space is
    allowed (atof skips it)."""
    return cscan.strict_float(text.strip(" \t\n\v\f\r").encode("utf-8", "surrogateescape"))


def strict_int(text: str, lo: int = INT_MIN, hi: int = INT_MAX) -> int | None:
    """The value of a strictly integer token within [lo, hi], else None."""
    m = _STRICT_INT.fullmatch(text)
    if not m:
        return None
    value = int(m.group(1))
    return value if lo <= value <= hi else None
