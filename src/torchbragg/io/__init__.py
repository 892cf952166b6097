"""File formats, image outputs, statistics and noise of the C reference (docs/behaviour/formats.md).

One job per module:

* :mod:`.atomic` — all-or-nothing file writes.
* :mod:`.cscan` — C ``strtod``/``atof``/``fscanf`` number parsing on bytes.
* :mod:`.hkl` — HKL text input (§2) and the :class:`SFTable` grid.
* :mod:`.fdump` — the structure-factor cache (§3).
* :mod:`.matfile` — MOSFLM orientation matrix (§4).
* :mod:`.columns` — the multi-column text reader (§5.1) for source and stol files.
* :mod:`.smv` — SMV headers and pixels, reading (§8) and writing (§7).
* :mod:`.images` — float, noiseless SMV and PGM pixel data and their scales (§7.3, §9, §10).
* :mod:`.stats` — max_I, mean, rms, rmsd (§11).
* :mod:`.noise` — Poisson/Gaussian deviates and the noise image (§13), with a native helper.

Images are numpy arrays of shape (spixels, fpixels); no torch needed here.
"""
from __future__ import annotations

from torchbragg.io.atomic import atomic_write
from torchbragg.io.columns import read_columns
from torchbragg.io.fdump import fdump_bytes, read_fdump, write_fdump
from torchbragg.io.hkl import SFTable, read_hkl
from torchbragg.io.images import float_image_bytes, int_image, intfile_scale, pgm_bytes, pgm_scale
from torchbragg.io.matfile import read_mat
from torchbragg.io.noise import DeviateState, Deviates, noise_image
from torchbragg.io.smv import (NotADSCFrame, SMVHeader, SMVImage, SMVUnreadable,
                               format_smv_header, read_smv, smv_bytes, write_smv)
from torchbragg.io.stats import ImageStats, image_statistics

__all__ = [
    "atomic_write", "read_columns", "fdump_bytes", "read_fdump", "write_fdump", "SFTable",
    "read_hkl", "float_image_bytes", "int_image", "intfile_scale", "pgm_bytes", "pgm_scale",
    "read_mat", "DeviateState", "Deviates", "noise_image", "NotADSCFrame",
    "SMVHeader", "SMVImage", "SMVUnreadable", "format_smv_header", "read_smv", "smv_bytes",
    "write_smv", "ImageStats", "image_statistics",
]
