"""C ``atof``/``atoi`` semantics: the longest numeric prefix, 0 when there is none (cli.md §1.2)."""
from __future__ import annotations

import re

_FLOAT = re.compile(
    r"[ \t\n\v\f\r]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))",
    re.IGNORECASE,
)
_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+)")


def atof(text: str) -> float:
    """C ``atof``: leading white space, longest valid prefix, trailing junk ignored."""
    m = _FLOAT.match(text)
    if not m:
        return 0.0
    token = m.group(1)
    try:
        return float(token)
    except ValueError:
        return 0.0


def atoi(text: str) -> int:
    """C ``atoi`` (saturating to the 32-bit range instead of undefined behaviour)."""
    m = _INT.match(text)
    if not m:
        return 0
    value = int(m.group(1))
    return max(-(2 ** 31), min(2 ** 31 - 1, value))
