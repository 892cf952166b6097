"""The mutable state the argv scan fills in: the C reference's variables after parsing.

Unset values are None (the C's −1 sentinels). Lengths in metres, angles in radians, as the C
stores them after each flag's unit conversion (docs/behaviour/physics.md §1.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass
class ParseState:
    # files
    hklfile: Optional[str] = None
    dumpfile: str = "Fdump.bin"
    matfile: Optional[str] = None
    maskfile: Optional[str] = None
    maskfile_used: bool = False
    sourcefile: Optional[str] = None
    stolfiles: List[Tuple[str, str]] = field(default_factory=list)  # (flag, path)
    floatfile: str = "floatimage.bin"
    intfile: str = "intimage.img"
    pgmfile: str = "image.pgm"
    noisefile: str = "noiseimage.img"
    write_pgm: bool = True
    write_noise: bool = True
    # crystal
    cell: Optional[List[float]] = None  # a b c α β γ as given (Å, rad), zeros for missing
    default_F: float = 0.0
    misset: Optional[Tuple[float, float, float]] = None
    misset_random: bool = False
    misset_seed: Optional[int] = None
    Na: int = 1
    Nb: int = 1
    Nc: int = 1
    sample_x: float = 0.0
    sample_y: float = 0.0
    sample_z: float = 0.0
    shape: str = "SQUARE"
    fudge: float = 1.0
    mosaic_spread: Optional[float] = None
    mosaic_domains: Optional[int] = None
    mosaic_seed: int = -12345678
    # beam
    wavelength: float = 1e-10
    dispersion: float = 0.0
    dispsteps: Optional[int] = None
    hdivrange: Optional[float] = None
    vdivrange: Optional[float] = None
    hdivstep: Optional[float] = None
    vdivstep: Optional[float] = None
    hdivsteps: Optional[int] = None
    vdivsteps: Optional[int] = None
    round_div: bool = True
    fluence: float = 125932015286227086360700780544.0
    flux: float = 0.0
    exposure: float = 1.0
    beamsize: float = 0.0001
    kahn: float = 0.0
    nopolar: bool = False
    water: float = 0.0
    # detector
    convention: str = "MOSFLM"
    pivot: str = "BEAM"
    vectors: dict = field(default_factory=dict)  # name -> (x, y, z) for CUSTOM
    pix0_vector: Optional[Tuple[float, float, float]] = None  # metres (corrected profile)
    pixel: float = 0.0001
    fpixels: int = 0
    spixels: int = 0
    detsize_f: float = 0.1024
    detsize_s: float = 0.1024
    distance: float = 0.1
    close_distance: Optional[float] = None
    xbeam: Optional[float] = None
    ybeam: Optional[float] = None
    xclose: Optional[float] = None
    yclose: Optional[float] = None
    orgx: Optional[float] = None
    orgy: Optional[float] = None
    rotx: float = 0.0
    roty: float = 0.0
    rotz: float = 0.0
    twotheta: float = 0.0
    curved: bool = False
    point_pixel: bool = False
    thickness: float = 0.0
    mu: Optional[float] = None
    thicksteps: Optional[int] = None
    # sampling
    phi0: float = 0.0
    osc: Optional[float] = None
    phistep: Optional[float] = None
    phisteps: Optional[int] = None
    oversample: Optional[int] = None
    oversample_thick: bool = False
    oversample_polar: bool = False
    oversample_omega: bool = False
    roi: Optional[Tuple[int, int, int, int]] = None
    dmin: float = 0.0
    interpolate: Optional[bool] = None
    # output
    scale: float = 0.0
    pgmscale: float = 0.0
    adc: float = 40.0
    seed: Optional[int] = None
    printout: bool = False
    printout_pixel: Optional[Tuple[int, int]] = None  # (fast, slow)
    progress: bool = True
    # extensions (not in the C)
    trace_pixels: List[Tuple[int, int]] = field(default_factory=list)  # (slow, fast)
    dtype: str = "float64"
    device: str = "cpu"
    profile: str = "nanobragg"
    chunk_pixels: Optional[int] = None
