"""The project's own small input files for random command lines (parity campaign).

:func:`write_inputs` writes, into a given folder, one deterministic file per input role that
:func:`torchbragg.parity.random_argv.random_argv` can name. Everything is computed here from
fixed formulas (no third-party data is copied); the same bytes on every machine:

============  ==========================  =====================================================
role          file                        content
============  ==========================  =====================================================
``hkl``       ``in_P1.hkl``               ~560 ``h k l F`` records, h −5…5, k −4…4, l −3…3
                                          (negative indices, some reflections absent)
``mat``       ``in_A.mat``                a MOSFLM A matrix (triclinic cell 55.3 61.7 72.9 Å,
                                          88° 97° 91.5°, rotated; λ = 1 Å) followed by the
                                          missetting, U-matrix and cell lines of a MOSFLM file
``sourcefile`` ``in_sources.txt``         :data:`SOURCE_COUNT` sources about 10 m upstream of
                                          a beam along +x, with 3, 4 and 5 columns
``img``       ``in_header.img``           an SMV image of :data:`SMV_FPIXELS` ×
                                          :data:`SMV_SPIXELS` pixels, header written by
                                          :mod:`torchbragg.io.smv` (as the C writes it)
``mask``      ``in_mask.img``             an SMV mask of the same size, a few blocks of zeros
``fdump``     ``in_premade.Fdump``        a structure-factor cache written by
                                          :func:`torchbragg.io.fdump.write_fdump`
``fdump_ws``  ``in_shifted.Fdump``        a cache whose first value starts with a white-space
                                          byte: read shifted (docs/behaviour/formats.md §3.3)
``stol``      ``in_air.stol``             a two-column sinθ/λ table (read, never used)
============  ==========================  =====================================================

Input names start with ``in_`` and none is ``Fdump.bin``, so no case reads a cache unless it
names it with ``-dump`` and no output name drawn by the generator overwrites an input.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Dict

import numpy as np

#: role -> file name (relative to the folder given to write_inputs)
FILE_NAMES: Dict[str, str] = {
    "hkl": "in_P1.hkl",
    "mat": "in_A.mat",
    "sourcefile": "in_sources.txt",
    "img": "in_header.img",
    "mask": "in_mask.img",
    "fdump": "in_premade.Fdump",
    "fdump_ws": "in_shifted.Fdump",
    "stol": "in_air.stol",
}
ROLES = tuple(FILE_NAMES)

#: the -img/-mask detector: pixel counts (fast, slow) and pixel size (mm)
SMV_FPIXELS, SMV_SPIXELS, SMV_PIXEL_MM = 32, 24, 0.11
#: header values of the -img file that the generator has to know (phi steps)
SMV_OSC_RANGE_DEG = 0.4
#: number of sources in the -sourcefile
SOURCE_COUNT = 4

MAT_CELL = (55.3, 61.7, 72.9, 88.0, 97.0, 91.5)


def hkl_text() -> str:
    lines = []
    for h in range(-5, 6):
        for k in range(-4, 5):
            for l in range(-3, 4):
                if (h * 3 + k * 5 + l * 7) % 11 == 4:  # some reflections are absent
                    continue
                F = 5.0 + ((h * 37 + k * 91 + l * 53 + h * k * l) % 211) * 0.73
                if (h, k, l) == (0, 0, 0):
                    F = 1000.0
                lines.append(f"{h:4d} {k:4d} {l:4d} {F:10.2f}")
    return "\n".join(lines) + "\n"


def _reciprocal(cell):
    a, b, c, al, be, ga = cell
    al, be, ga = (math.radians(x) for x in (al, be, ga))
    av = np.array([a, 0.0, 0.0])
    bv = np.array([b * math.cos(ga), b * math.sin(ga), 0.0])
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cv = np.array([cx, cy, math.sqrt(c * c - cx * cx - cy * cy)])
    vol = float(np.dot(av, np.cross(bv, cv)))
    return np.cross(bv, cv) / vol, np.cross(cv, av) / vol, np.cross(av, bv) / vol


def _rotation(rx, ry, rz):
    cx, sx, cy, sy, cz, sz = (f(math.radians(t)) for t in (rx, ry, rz) for f in (math.cos, math.sin))
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def mat_text(wavelength_A: float = 1.0) -> str:
    """MOSFLM A matrix: rows x, y, z; columns a*, b*, c* (times λ), docs/behaviour/formats.md §4."""
    rot = _rotation(23.0, -41.0, 67.0)
    astar, bstar, cstar = (rot @ v * wavelength_A for v in _reciprocal(MAT_CELL))
    A = np.column_stack([astar, bstar, cstar])
    U = rot
    rows = [" ".join(f"{x:12.8f}" for x in A[i]) for i in range(3)]
    rows.append(" ".join(f"{x:12.3f}" for x in (0.0, 0.0, 0.0)))
    rows += [" ".join(f"{x:12.8f}" for x in U[i]) for i in range(3)]
    rows.append(" ".join(f"{x:12.4f}" for x in MAT_CELL))
    rows.append(" ".join(f"{x:12.3f}" for x in (0.0, 0.0, 0.0)))
    return "\n".join(rows) + "\n"


def sources_text() -> str:
    """SOURCE_COUNT sources: X Y Z [weight [wavelength (m)]] with ',', ';' and blank lines."""
    return ("-10 0 0 1 1e-10\n"
            "-10, 0.012, -0.004, 1, 1.015e-10\n"
            "\n"
            "-10;-0.008;0.011;0.5\n"
            "  -9.5  0.003  0.006\n")


def stol_text() -> str:
    return "".join(f"{0.02 * i:.3f} {2.5 + 1.7 * math.sin(i * 0.7):.4f}\n" for i in range(30))


def _smv_image_bytes() -> bytes:
    from torchbragg.io.smv import SMVHeader, format_smv_header, smv_bytes

    px = SMV_PIXEL_MM / 1000.0
    header = SMVHeader.from_si(
        fpixels=SMV_FPIXELS, spixels=SMV_SPIXELS, pixel_size=px, distance=0.121,
        wavelength=1.3e-10, xbeam=0.00155, ybeam=0.00182, fbeam=0.00187, sbeam=0.0016,
        detsize_s=px * SMV_SPIXELS, dials_origin_mm=(-1.6, 1.87, -121.0), orgx=17.5,
        orgy=13.0, close_distance=0.1205, phi0=math.radians(3.0),
        osc=math.radians(SMV_OSC_RANGE_DEG), twotheta=0.0)
    s, f = np.mgrid[0:SMV_SPIXELS, 0:SMV_FPIXELS]
    pixels = (40 + (s * 7 + f * 13) % 300).astype(np.uint16)
    return smv_bytes(format_smv_header(header), pixels)


def _smv_mask_bytes() -> bytes:
    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            f"SIZE1={SMV_FPIXELS};\nSIZE2={SMV_SPIXELS};\nPIXEL_SIZE={SMV_PIXEL_MM:g};\n"
            "DISTANCE=95;\nBEAM_CENTER_X=1.2;\nBEAM_CENTER_Y=0.9;\n}\f")
    s, f = np.mgrid[0:SMV_SPIXELS, 0:SMV_FPIXELS]
    mask = np.ones((SMV_SPIXELS, SMV_FPIXELS), dtype="<u2")
    mask[(s < 2) | (f == SMV_FPIXELS - 1)] = 0  # two rows and a column
    mask[10:14, 5:9] = 0  # a block (a beam stop)
    mask[(s * 5 + f * 3) % 17 == 0] = 0  # scattered dead pixels
    mask[mask != 0] = 1 + (f[mask != 0] % 3)  # any non-zero value renders
    return text.encode("ascii").ljust(512, b" ") + mask.tobytes()


def _fdump_table(first_value=None):
    from torchbragg.io.hkl import SFTable

    h_min, h_max, k_min, k_max, l_min, l_max = -3, 3, -2, 4, -4, 2
    shape = (h_max - h_min + 2, k_max - k_min + 2, l_max - l_min + 2)
    i, j, m = np.indices(shape)
    grid = 20.0 + ((i * 17 + j * 29 + m * 43) % 101) * 1.25
    if first_value is not None:
        grid[0, 0, 0] = first_value
    grid[-1, :, :] = grid[:, -1, :] = grid[:, :, -1] = 0.0  # the extra slots hold 0
    count = (h_max - h_min + 1) * (k_max - k_min + 1) * (l_max - l_min + 1)
    return SFTable(h_min, h_max, k_min, k_max, l_min, l_max, grid.astype(np.float64), count)


def write_inputs(folder: str | os.PathLike) -> Dict[str, str]:
    """Write every input file into ``folder`` (created if needed); returns role → file name
    (relative to ``folder``; see :data:`FILE_NAMES`)."""
    from torchbragg.io.fdump import write_fdump

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    texts = {"hkl": hkl_text(), "mat": mat_text(), "sourcefile": sources_text(),
             "stol": stol_text()}
    for role, text in texts.items():
        (root / FILE_NAMES[role]).write_bytes(text.encode("ascii"))
    (root / FILE_NAMES["img"]).write_bytes(_smv_image_bytes())
    (root / FILE_NAMES["mask"]).write_bytes(_smv_mask_bytes())
    write_fdump(root / FILE_NAMES["fdump"], _fdump_table())
    # 1.0000000000000022: bytes 0a 00 00 00 00 00 f0 3f, the first byte is a newline
    write_fdump(root / FILE_NAMES["fdump_ws"], _fdump_table(1.0000000000000022))
    return dict(FILE_NAMES)


def input_paths(folder: str | os.PathLike) -> Dict[str, str]:
    """:func:`write_inputs`, with the paths joined to ``folder`` (as strings)."""
    return {role: str(Path(folder) / name) for role, name in write_inputs(folder).items()}
