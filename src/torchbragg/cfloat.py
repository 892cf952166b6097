"""Scalar IEEE arithmetic and ``printf`` conversions as the C reference does them (x86-64,
glibc): a division by zero gives ±inf or NaN instead of a Python exception, and a NaN keeps
its sign when printed (x86's default NaN, from 0/0 or ∞−∞, is negative: glibc prints ``-nan``).
"""
from __future__ import annotations

import math

#: x86's default NaN (sign bit set), what 0/0 gives in the C
NEG_NAN = -math.nan


def div(x: float, y: float) -> float:
    """``x / y`` in IEEE arithmetic."""
    try:
        return x / y
    except ZeroDivisionError:
        if x == 0 or math.isnan(x):
            return NEG_NAN if x == 0 else x
        return math.copysign(math.inf, x) * math.copysign(1.0, y)


def fmt(spec: str, x: float) -> str:
    """``printf(spec, x)`` for one floating-point conversion (``%g``, ``%.0f``, ``%15.10g``…):
    Python's ``%`` operator, except that a NaN prints with its sign as glibc does."""
    x = float(x)
    if math.isnan(x):
        return _pad(spec, "-nan" if math.copysign(1.0, x) < 0 else "nan")
    return spec % x


def _pad(spec: str, text: str) -> str:
    """``text`` right-aligned in the field width of ``spec`` (as for ``inf``)."""
    width = spec[1:].split(".")[0].rstrip("gfeGFE").lstrip("-+ #0")
    if not width.isdigit():
        return text
    return text.rjust(int(width)) if not spec[1:].startswith("-") else text.ljust(int(width))
