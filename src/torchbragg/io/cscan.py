"""C library number parsing on byte buffers: ``strtod``/``atof`` and ``fscanf`` ``%lg``/``%d``.

The reference reads every text input with the C library, so odd tokens are interpreted by its
prefix rules (docs/behaviour/formats.md §1): ``strtod`` converts the longest numeric prefix;
``fscanf`` first *collects* the characters that can start or continue a number (glibc rules: at most
one pushed-back character), then converts the collected text, failing only when nothing of it
converts. Everything here works on ``bytes`` with an explicit cursor so a caller can emulate a
``FILE*`` stream: each scanner returns the new cursor.

White space is C ``isspace`` in the C locale: space, ``\\t``, ``\\n``, ``\\v``, ``\\f``, ``\\r``.
"""
from __future__ import annotations

import re

WHITESPACE = b" \t\n\v\f\r"

# Outcome of one fscanf conversion.
OK = 0
#: Matching failure: the characters do not form a number (fscanf stops, count so far).
FAIL = 1
#: Input failure: end of input before any character of the item (fscanf returns EOF if first).
EOF = 2

_WS = re.compile(rb"[ \t\n\v\f\r]*")
_DEC = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?")
_HEX_ZERO = re.compile(rb"[+-]?0(?=[xX])")
_INFNAN = re.compile(rb"([+-]?)(infinity|inf|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_INT = re.compile(rb"[+-]?\d+")

INT_MIN = -(2**31)
LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


def _hex_value(text: bytes) -> float:
    s = text.decode("ascii")
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if "p" not in s.lower():
        s += "p0"
    try:
        return sign * float.fromhex(s)
    except OverflowError:
        return sign * float("inf")


def strtod_at(buf: bytes, pos: int = 0) -> tuple[float, int]:
    """C ``strtod(buf + pos, &end)``: returns (value, end); ``end == pos`` when nothing converts.

    Leading white space is skipped; decimal, hexadecimal, ``inf``/``infinity`` and
    ``nan``/``nan(...)`` forms are accepted (case-insensitive). Overflow gives ±inf, like glibc.
    """
    start = _WS.match(buf, pos).end()
    m = _HEX.match(buf, start)
    if m:
        return _hex_value(m.group()), m.end()
    m = _HEX_ZERO.match(buf, start)
    if m:  # "0x" without hex digits: only the "0" converts
        return (-0.0 if buf[start:start + 1] == b"-" else 0.0), m.end()
    m = _DEC.match(buf, start)
    if m:
        return float(m.group()), m.end()
    m = _INFNAN.match(buf, start)
    if m:
        word = m.group(2).lower()
        neg = m.group(1) == b"-"
        if word.startswith(b"nan"):
            return (-float("nan") if neg else float("nan")), m.end()
        return (-float("inf") if neg else float("inf")), m.end()
    return 0.0, pos


def atof(buf: bytes, pos: int = 0) -> float:
    """C ``atof``: the ``strtod`` value, 0 when nothing converts."""
    return strtod_at(buf, pos)[0]


def skip_space(buf: bytes, pos: int) -> int:
    """Cursor after any white space (the ``fscanf`` white-space directive)."""
    return _WS.match(buf, pos).end()


def _collect_float(buf: bytes, pos: int) -> int:
    """End of the characters glibc's ``%lg`` collects starting at ``pos`` (no white space)."""
    n = len(buf)
    i = pos
    if i < n and buf[i] in b"+-":
        i += 1
        if i >= n:
            return i
    c = buf[i:i + 1].lower()
    if c in (b"n", b"i"):
        word = b"nan" if c == b"n" else b"inf"
        for ch in word:
            if i < n and buf[i:i + 1].lower() == bytes([ch]):
                i += 1
            else:
                return i  # partial word: strtod will reject it
        if word == b"inf" and i < n and buf[i:i + 1].lower() == b"i":
            for ch in b"inity":
                if i < n and buf[i:i + 1].lower() == bytes([ch]):
                    i += 1
                else:
                    return i
        return i
    hexa = c == b"0" and buf[i + 1:i + 2].lower() == b"x"
    if hexa:
        i += 2
    digits = b"0123456789abcdefABCDEF" if hexa else b"0123456789"
    exp_char = b"p" if hexa else b"e"
    got_digit = got_dot = got_e = False
    while i < n:
        ch = buf[i:i + 1]
        if not got_e and ch in digits:
            got_digit = True
        elif got_e and ch.isdigit():
            pass
        elif got_e and buf[i - 1:i].lower() == exp_char and ch in b"+-":
            pass
        elif not got_e and not got_dot and ch == b".":
            got_dot = True
        elif got_digit and not got_e and ch.lower() == exp_char:
            got_e = True
        else:
            break
        i += 1
    return i


def scan_double(buf: bytes, pos: int) -> tuple[int, float, int]:
    """One ``fscanf`` ``%lg`` conversion: returns (status, value, new cursor).

    status is :data:`OK`, :data:`FAIL` (matching failure; the collected characters are consumed)
    or :data:`EOF` (only white space left).
    """
    start = skip_space(buf, pos)
    if start >= len(buf):
        return EOF, 0.0, start
    end = _collect_float(buf, start)
    if end == start:
        return FAIL, 0.0, start
    text = buf[start:end]
    value, used = strtod_at(text, 0)
    if used == 0:
        return FAIL, 0.0, end
    return OK, value, end


def _c_int(value: int) -> int:
    """``(int)`` of a saturated ``long``: the low 32 bits, two's complement."""
    value = max(LONG_MIN, min(LONG_MAX, value))
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def scan_int(buf: bytes, pos: int) -> tuple[int, int, int]:
    """One ``fscanf`` ``%d`` conversion (base 10): returns (status, value, new cursor)."""
    start = skip_space(buf, pos)
    if start >= len(buf):
        return EOF, 0, start
    m = _INT.match(buf, start)
    if m is None:
        # a lone sign is consumed before the conversion fails
        end = start + 1 if buf[start:start + 1] in (b"+", b"-") else start
        return FAIL, 0, end
    return OK, _c_int(int(m.group())), m.end()


def c_trunc_int(x: float) -> int:
    """C ``(int)x`` for a double on x86-64: truncation toward zero; NaN or out of range gives
    INT_MIN (the ``cvttsd2si`` "integer indefinite" value)."""
    if x != x or x >= 2147483648.0 or x <= -2147483649.0:
        return INT_MIN
    return int(x)


# Strict tokens: the forms every C reader converts completely and identically.
STRICT_FLOAT = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
STRICT_INT = re.compile(rb"[+-]?\d+")


def strict_float(token: bytes) -> float | None:
    """The finite value of a plain decimal token, else None (no hex, inf, nan, junk)."""
    if not STRICT_FLOAT.fullmatch(token):
        return None
    value = float(token)
    return value if value - value == 0 else None


def line_of(data: bytes, pos: int) -> int:
    """1-based line number of byte offset ``pos``."""
    return data.count(b"\n", 0, pos) + 1


def show(token: bytes, limit: int = 40) -> str:
    """A token for an error message (printable, shortened)."""
    text = token[:limit].decode("latin-1")
    text = text.encode("unicode_escape").decode("ascii")
    return repr(text + ("..." if len(token) > limit else ""))
