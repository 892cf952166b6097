"""MOSFLM orientation matrix (``-mat``), docs/behaviour/formats.md §4.

Three ``fscanf("%lg %lg %lg")`` groups: group 1 holds the x components of a*, b*, c*, group 2
the y components, group 3 the z components (dimensionless: reciprocal vectors times the
wavelength; the caller divides by λ0 in Å). Anything after the ninth number is ignored.
"""
from __future__ import annotations

import os
import re
from typing import Callable

from torchbragg.io import cscan
from torchbragg.io.files import read_like_c, read_or_fail


def parse_mat(data: bytes, err: Callable[[str], None] | None = None,
              name: str = "") -> list[float]:
    """Nine values ``[a*x, b*x, c*x, a*y, b*y, c*y, a*z, b*z, c*z]`` from file content.

    A group whose first number does not convert leaves its values 0 and sends
    ``fscanf: ...`` to ``err`` (stderr); after a failure the stream stays at the bad text, so
    later groups fail too. End of file leaves the remaining values 0 silently. A group that
    converts one or two numbers keeps them.
    """
    values = [0.0] * 9
    pos = 0
    for group in range(3):
        converted = 0
        for item in range(3):
            status, value, pos = cscan.scan_double(data, pos)
            if status != cscan.OK:
                if converted == 0 and status == cscan.FAIL and err is not None:
                    err(f"fscanf: no number in row {group + 1} of {name}")
                break
            values[3 * group + item] = value
            converted += 1
    return values


def read_mat(path: str | os.PathLike,
             err: Callable[[str], None] | None = None) -> list[float] | None:
    """Read a MOSFLM matrix file; ``None`` if it cannot be opened (the C then runs on with an
    undefined lattice and prints nothing). See :func:`parse_mat` for the values."""
    name = os.fspath(path)
    data = read_like_c(name)
    if data is None:
        return None
    return parse_mat(data, err, name)


def validate_mat(data: bytes, name: str) -> list[float]:
    """Strict reading: the first nine white-space separated tokens must be finite
    numbers (anything after them is ignored, as in the C: complete MOSFLM ``.mat`` files with
    U matrix, cell and missetting lines are accepted), and the matrix must not be singular.
    Returns the nine values in the order of :func:`parse_mat`; raises
    :class:`~torchbragg.errors.InputError` naming the file (and line)."""
    from torchbragg.errors import InputError

    values: list[float] = []
    for m in re.finditer(rb"[^ \t\n\v\f\r]+", data):
        if len(values) == 9:
            break
        tok = m.group()
        v = cscan.strict_float(tok)
        if v is None:
            raise InputError(f"{name} line {cscan.line_of(data, m.start())}: "
                             f"{cscan.show(tok)} is not a finite number (a MOSFLM orientation "
                             "matrix holds nine numbers)")
        values.append(v)
    if len(values) < 9:
        raise InputError(f"{name}: {len(values)} numbers, expected nine (three rows of three)")
    a = values
    det = (a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6])
           + a[2] * (a[3] * a[7] - a[4] * a[6]))
    scale = max(abs(x) for x in a)
    # (products, not scale ** 3: huge entries overflow to inf and read as singular, as in C)
    if not (abs(det) > 1e-12 * (scale * scale * scale)) or det != det:
        raise InputError(f"{name}: the orientation matrix is singular (determinant {det:g})")
    return values


def read_mat_strict(path: str | os.PathLike) -> list[float]:
    """:func:`validate_mat` on a file; a file that cannot be read is an error too."""
    name = os.fspath(path)
    return validate_mat(read_or_fail(name, "-mat"), f"-mat {name}")
