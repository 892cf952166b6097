"""The flags, each declared once, and the C-style argv scan (docs/behaviour/cli.md §1–3).

One :class:`Flag` row holds everything about a flag: its pattern and matching rule, how many
values it reads, the kind and constraint of those values (the strict check,
:mod:`torchbragg.cli.strict`), its action on the parse state (:mod:`torchbragg.cli.actions`),
its usage-text rows (:mod:`torchbragg.cli.usage`) and how the C reference reads it.
``tests/test_flag_tables.py`` checks the C reference's table (``csrc/nb_check_argv.c``)
against this one.

Adding a flag is one row here, e.g. ``-compile``::

    Flag("-compile", 1, a.word("run.compile"), WORD, match="eq", choices=("auto", "on", "off"),
         extension=True, c_reads=CHECKS, help="compiled kernels: ...")

plus, for a flag the C reference must know, its row in ``csrc/nb_check_argv.c`` (the test
names any difference) and, for a new target, the field in its config or in
:class:`~torchbragg.cli.state.RunOptions` that holds the value.

The scan: every token starting with ``-`` is tested against every pattern in table order; each
pattern that matches acts (substring matching, so one token can fire several flags:
docs/behaviour/cli.md §3.1). Value tokens are not consumed. Numbers follow C ``atof``/``atoi``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

from torchbragg.cli import actions as a
from torchbragg.cli.actions import SkipRest
from torchbragg.cli.cnum import atoi
from torchbragg.cli.values import (ANY, FILE, INT, LONG, NONE, NONNEG, POS, REAL, SPECIAL, VEC,
                                   VEC_NZ, WORD, check_absorption, check_cell, check_curved,
                                   check_misset, check_pivot)
from torchbragg.compat import CompatProfile
from torchbragg.errors import InputError
from torchbragg.physics.vec3 import RTD

Action = Callable[[object, List[str], str, CompatProfile], None]

#: Tokens after a flag handed to its action: more than any flag reads (``-cell``: six values
#: and the token that stops it). A window keeps the scan linear in the number of tokens.
MAX_VALUES = 8

#: How the C reference (``torchbragg-cref``) reads a flag: its scan acts on it (``scan``), its
#: pre-pass reads it (``prepass``), or it checks the values and ignores the flag (``checks``).
SCAN, PREPASS, CHECKS = "scan", "prepass", "checks"


@dataclass(frozen=True)
class Flag:
    """One flag. ``help`` is its usage-text line (or several ``(shown, text)`` rows), placed at
    ``usage`` in nanoBragg's usage order (docs/behaviour/cli.md §7; 0: not listed);
    ``extension`` marks a torchbragg flag, listed after the usage text with ``metavar``."""

    pattern: str
    arity: int
    #: what the scan does with it; None: read and ignored (the C does nothing with it either)
    action: Optional[Action]
    kind: str = NONE
    constraint: str = ANY
    match: str = "sub"  # sub | exact (same length) | eq (equal)
    skip_rest: bool = False
    #: the C's arity guard is broken for a few flags (crash when last); we report an error
    guard_broken: bool = False
    #: the strict check of a SPECIAL kind: ``check(token, values) -> values used``
    check: Optional[Callable[[str, Sequence[str]], int]] = None
    choices: Tuple[str, ...] = ()
    help: Union[str, Tuple[Tuple[str, str], ...]] = ""
    shown: str = ""
    usage: int = 0
    extension: bool = False
    metavar: str = ""
    c_reads: str = SCAN

    def matches(self, token: str) -> bool:
        if self.match == "sub":
            return self.pattern in token
        if self.match == "exact":
            return self.pattern in token and len(token) == len(self.pattern)
        return token == self.pattern  # "eq"

    @property
    def usage_rows(self) -> Tuple[Tuple[str, str], ...]:
        """``(shown name, text)`` rows of the usage text."""
        if isinstance(self.help, tuple):
            return self.help
        return ((self.shown or self.pattern, self.help),) if self.help else ()

    @property
    def synopsis(self) -> str:
        """``-flag VALUES`` as the extensions line lists it."""
        return " ".join(filter(None, (self.pattern, self.metavar or "|".join(self.choices))))


def _sizes(patterns, *attrs):
    return tuple(Flag(p, 1, a.sizes(*attrs), REAL, NONNEG) for p in patterns)


def _file(pattern, attr, **kw):
    return Flag(pattern, 1, a.word(attr), FILE, **kw)


_MM, _MRAD = 1000.0, 1000.0  # the C's unit divisors: mm -> m, mrad -> rad
_XYZ = ("crystal.sample_x_m", "crystal.sample_y_m", "crystal.sample_z_m")
# Table order matters only for tokens that fire several flags (docs/behaviour/cli.md §3.1).
FLAGS: Sequence[Flag] = (
    _file("-hkl", "run.hklfile", help="name of structure factor text file (h k l F)", usage=2),
    Flag("-default_F", 1, a.put("structure_factors.default_F"), REAL, usage=5,
         help="amplitude of reflections missing from the hkl file"),
    _file("-dump", "run.dumpfile"),
    _file("-mat", "run.matfile", help="name of nanoBragg-style crystal orientation matrix file",
          usage=1),
    Flag("-cell", 1, a.cell, SPECIAL, check=check_cell, usage=4,
         help="unit cell a b c alpha beta gamma (Angstrom, degrees)"),
    Flag("-misset", 1, a.misset, SPECIAL, check=check_misset, usage=3,
         help=(("-misset", "instead of matrix, specify misset angles (degrees)"),
               ("-misset random", "random orientation"))),
    Flag("-misset_seed", 1, a.seed("crystal.misset_seed"), LONG, usage=58,
         help="random number seed for -misset random"),
    _file("-sourcefile", "run.sourcefile"),
    Flag("-stol", 1, a.stol, FILE, match="exact"),
    Flag("-4stol", 1, a.stol, FILE, match="exact"),
    Flag("-Q", 1, a.stol, FILE, match="exact"),
    # docs/behaviour/cli.md: "length > 7"; every token holding the 8 characters of -stolout
    # passes that test
    Flag("-stolout", 1, None, FILE),
    Flag("-Na", 1, a.put("crystal.Na", atoi), INT, NONNEG, skip_rest=True),
    Flag("-Nb", 1, a.put("crystal.Nb", atoi), INT, NONNEG, skip_rest=True),
    Flag("-Nc", 1, a.put("crystal.Nc", atoi), INT, NONNEG, skip_rest=True),
    Flag("-N", 1, a.cells, INT, NONNEG, match="eq", skip_rest=True, usage=21,
         help="number of unit cells in all directions"),
    *_sizes(("-samplesize", "-sample_size"), *_XYZ),
    Flag("-xtalsize", 1, a.sizes(*_XYZ), REAL, NONNEG, usage=22,
         help="crystal size in mm (overrides -N)"),
    *_sizes(("-xtal_size",), *_XYZ),
    *_sizes(("-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x"), _XYZ[0]),
    *_sizes(("-sample_width", "-sample_y", "-width", "-xtal_width", "-xtal_y"), _XYZ[1]),
    *_sizes(("-sample_heigh", "-sample_z", "-heigh", "-xtal_heigh", "-xtal_z"), _XYZ[2]),
    Flag("-density", 1, None, REAL),
    Flag("-sample_den", 1, None, REAL),
    Flag("-MW", 1, None, REAL, match="eq"),
    Flag("-molec", 1, None, REAL),
    Flag("-square_xtal", 0, a.const("crystal.shape", "SQUARE"), usage=23,
         help="parallelepiped crystal shape (default)"),
    Flag("-round_xtal", 0, a.const("crystal.shape", "ROUND"), usage=24, help="ellipsoidal crystal shape"),
    Flag("-gauss_xtal", 0, a.const("crystal.shape", "GAUSS"), usage=25, help="gaussian spot shape"),
    Flag("-binary_spots", 0, a.const("crystal.shape", "TOPHAT")),
    Flag("-tophat_spots", 0, a.const("crystal.shape", "TOPHAT"), usage=26, help="flat-top spot shape"),
    Flag("-fudge", 1, a.put("crystal.fudge"), REAL),
    Flag("-mosaic", 1, a.put("crystal.mosaic_spread_rad", divisor=RTD), REAL, NONNEG, match="exact",
         usage=32, help="isotropic mosaic spread in degrees"),
    Flag("-mosaici", 1, a.put("crystal.mosaic_spread_rad", divisor=RTD), REAL, NONNEG),
    Flag("-mosaic_spr", 1, a.put("crystal.mosaic_spread_rad", divisor=RTD), REAL, NONNEG),
    Flag("-mosaic_dom", 1, a.put("crystal.mosaic_domains", atoi), INT, NONNEG, usage=33,
         shown="-mosaic_domains", help="number of mosaic domains"),
    Flag("-mosaic_seed", 1, a.seed("crystal.mosaic_seed"), LONG, usage=57,
         help="random number seed for mosaic domains"),
    Flag("-lambda", 1, a.put("beam.wavelength_m", divisor=1e10), REAL, POS, usage=31,
         help="incident x-ray wavelength in Angstrom"),
    Flag("-wave", 1, a.put("beam.wavelength_m", divisor=1e10), REAL, POS),
    Flag("-energy", 1, a.energy, REAL, POS),
    Flag("-dispersion", 1, a.put("beam.dispersion_fraction", divisor=100.0), REAL, NONNEG, usage=34,
         help="spectral dispersion: delta-lambda/lambda in percent"),
    Flag("-dispsteps", 1, a.put("beam.dispsteps", atoi), INT, NONNEG, usage=35,
         help="number of wavelengths"),
    Flag("-divergence", 1, a.divergence, REAL, NONNEG),
    Flag("-hdivrange", 1, a.put("beam.hdivrange_rad", divisor=_MRAD), REAL, NONNEG, usage=36,
         help="horizontal angular spread of source points in mrad"),
    Flag("-vdivrange", 1, a.put("beam.vdivrange_rad", divisor=_MRAD), REAL, NONNEG, usage=37,
         help="vertical angular spread of source points in mrad"),
    Flag("-hdivstep", 1, a.put("beam.hdivstep_rad", divisor=_MRAD), REAL, NONNEG, match="exact",
         usage=38, help="horizontal divergence step in mrad"),
    Flag("-vdivstep", 1, a.put("beam.vdivstep_rad", divisor=_MRAD), REAL, NONNEG, match="exact",
         usage=39, help="vertical divergence step in mrad"),
    Flag("-hdivsteps", 1, a.put("beam.hdivsteps", atoi), INT, NONNEG),
    Flag("-vdivsteps", 1, a.put("beam.vdivsteps", atoi), INT, NONNEG),
    Flag("-divsteps", 1, a.divsteps, INT, NONNEG),
    Flag("-round_div", 0, a.const("beam.round_div", True)),
    Flag("-square_div", 0, a.const("beam.round_div", False), usage=40,
         help="full divergence grid (no elliptical trim)"),
    Flag("-fluence", 1, a.put("beam.fluence_per_m2"), REAL, NONNEG, usage=59,
         help="incident beam intensity in photons/m^2"),
    Flag("-flux", 1, a.put("beam.flux_per_s"), REAL, NONNEG, usage=60,
         help="incident beam intensity in photons/s"),
    Flag("-exposure", 1, a.put("beam.exposure_s"), REAL, NONNEG, usage=62,
         help="exposure time in s (default: {exposure:g})"),
    Flag("-beamsize", 1, a.put("beam.beamsize_m", divisor=_MM), REAL, POS, usage=61,
         help="beam size in mm (default: {beamsize_mm:g})"),
    Flag("-polar", 1, a.polar, REAL, match="exact", usage=49,
         help="Kahn polarization factor (default: 1)"),
    Flag("-nopolar", 0, a.const("beam.nopolar", True), usage=65,
         help="turn off the polarization correction"),
    Flag("-beam_vector", 3, a.vector("detector.beam_vector"), VEC_NZ, usage=73,
         help="unit vector of the beam (1 0 0)"),
    Flag("-polar_vector", 3, a.vector("detector.polar_vector"), VEC_NZ, usage=74,
         help="unit vector of the E-vector (0 0 1)"),
    Flag("-water", 1, a.put("sampling.water_m", divisor=1e6), REAL, NONNEG, usage=44,
         help="size of water background droplet in um"),
    Flag("-coherent", 0, None),
    Flag("-pixel", 1, a.put("detector.pixel_size_m", divisor=_MM), REAL, POS, usage=9,
         help="detector pixel size in mm"),
    Flag("-detpixels", 1, a.detpixels, INT, POS, match="exact", usage=8,
         help="detector size in pixels"),
    Flag("-detpixels_f", 1, a.put("detector.fpixels", atoi), INT, POS),
    Flag("-detpixels_x", 1, a.put("detector.fpixels", atoi), INT, POS),
    Flag("-detpixels_s", 1, a.put("detector.spixels", atoi), INT, POS),
    Flag("-detpixels_y", 1, a.put("detector.spixels", atoi), INT, POS),
    Flag("-detsize", 1, a.detsize, REAL, POS, match="exact", usage=7,
         help="detector size in mm"),
    Flag("-detsize_f", 1, a.put("detector.detsize_f_m", divisor=_MM), REAL, POS),
    Flag("-detsize_s", 1, a.put("detector.detsize_s_m", divisor=_MM), REAL, POS),
    Flag("-distance", 1, a.both(a.put("detector.distance_m", divisor=_MM), a.const("detector.pivot", "BEAM")),
         REAL, POS, usage=6, help="distance from origin to detector center in mm"),
    Flag("-close_distance", 1, a.both(a.put("detector.close_distance_m", divisor=_MM),
                                      a.const("detector.pivot", "SAMPLE")), REAL, POS),
    Flag("-Xbeam", 1, a.both(a.put("detector.xbeam_m", divisor=_MM), a.const("detector.pivot", "BEAM")), REAL,
         usage=15, help="direct beam position along the slow axis (MOSFLM) in mm"),
    Flag("-Ybeam", 1, a.both(a.put("detector.ybeam_m", divisor=_MM), a.const("detector.pivot", "BEAM")), REAL,
         usage=16, help="direct beam position along the fast axis (MOSFLM) in mm"),
    Flag("-Xclose", 1, a.both(a.put("detector.xclose_m", divisor=_MM), a.const("detector.pivot", "SAMPLE")), REAL),
    Flag("-Yclose", 1, a.both(a.put("detector.yclose_m", divisor=_MM), a.const("detector.pivot", "SAMPLE")), REAL),
    Flag("-ORGX", 1, a.both(a.put("detector.orgx_px"), a.const("detector.pivot", "SAMPLE")), REAL, usage=19,
         shown="-ORGX -ORGY", help="near point in pixels (XDS convention)"),
    Flag("-ORGY", 1, a.both(a.put("detector.orgy_px"), a.const("detector.pivot", "SAMPLE")), REAL),
    Flag("-pivot", 1, a.pivot, SPECIAL, check=check_pivot),
    Flag("-mosflm", 0, a.convention("MOSFLM", "BEAM"), usage=17,
         help="use MOSFLM's direct beam convention (default)"),
    Flag("-denzo", 0, a.convention("DENZO", "BEAM")),
    Flag("-adxv", 0, a.convention("ADXV", "BEAM")),
    Flag("-xds", 0, a.convention("XDS", "SAMPLE"), usage=18,
         help="use XDS detector origin convention"),
    Flag("-dials", 0, a.convention("DIALS", "BEAM")),
    Flag("-fdet_vector", 3, a.vector("detector.fdet_vector"), VEC_NZ, usage=70,
         help="unit vector of the fast axis (0 0 1)"),
    Flag("-sdet_vector", 3, a.vector("detector.sdet_vector"), VEC_NZ, usage=71,
         help="unit vector of the slow axis (0 -1 0)"),
    Flag("-odet_vector", 3, a.vector("detector.odet_vector"), VEC, usage=72,
         help="unit vector of the detector normal (1 0 0)"),
    Flag("-spindle_axis", 3, a.vector("detector.spindle_axis"), VEC_NZ, usage=75,
         help="unit vector of the spindle (0 0 1)"),
    Flag("-twotheta_axis", 3, a.vector("detector.twotheta_axis"), VEC_NZ),
    Flag("-pix0_vector", 3, a.pix0, VEC, usage=76,
         help="switches to the CUSTOM convention (values ignored)"),
    Flag("-detector_rotx", 1, a.put("detector.rotx_rad", divisor=RTD), REAL),
    Flag("-detector_roty", 1, a.put("detector.roty_rad", divisor=RTD), REAL),
    Flag("-detector_rotz", 1, a.put("detector.rotz_rad", divisor=RTD), REAL),
    Flag("-twotheta", 1, a.twotheta, REAL, usage=20,
         help="rotation of detector about spindle axis (degrees)"),
    Flag("-curved_det", 1, a.const("detector.curved", True), SPECIAL, check=check_curved, usage=69,
         help="all pixels at the same distance from the sample"),
    Flag("-point_pixel", 0, a.const("detector.point_pixel", True), usage=68,
         help="solid angle 1/R^2 (no pixel area, no obliquity)"),
    Flag("-detector_abs", 1, a.detector_abs, SPECIAL, check=check_absorption,
         guard_broken=True, usage=12, shown="-detector_absorb",
         help="attenuation depth of the sensor in um"),
    Flag("-detector_thick", 1, a.put("detector.thickness_m", factor=1e-6), REAL, NONNEG, match="exact",
         guard_broken=True, usage=13, help="thickness of the sensor in um"),
    Flag("-detector_thicksteps", 1, a.put("detector.thicksteps", atoi), INT, NONNEG, guard_broken=True,
         usage=14, help="number of sensor layers"),
    Flag("-thicksteps", 1, a.put("detector.thicksteps", atoi), INT, NONNEG, guard_broken=True),
    Flag("-phi", 1, a.put("crystal.phi0_rad", divisor=RTD), REAL, match="exact", usage=41,
         help="starting rotation value about spindle axis (degrees)"),
    Flag("-osc", 1, a.put("crystal.osc_rad", divisor=RTD), REAL, NONNEG, usage=42,
         help="rotation range about spindle axis (degrees)"),
    Flag("-phistep", 1, a.put("crystal.phistep_rad", divisor=RTD), REAL, NONNEG, match="exact"),
    Flag("-phisteps", 1, a.put("crystal.phisteps", atoi), INT, NONNEG, usage=43,
         help="number of rotation steps"),
    Flag("-oversample_thick", 0, a.const("sampling.oversample_thick", True), skip_rest=True, usage=28,
         help="recompute the sensor capture fraction per sub-pixel"),
    Flag("-oversample_polar", 0, a.const("sampling.oversample_polar", True), skip_rest=True, usage=29,
         help="recompute the polarization factor per sub-pixel"),
    Flag("-oversample_omega", 0, a.const("sampling.oversample_omega", True), skip_rest=True, usage=30,
         help="recompute the solid angle per sub-pixel"),
    Flag("-oversample", 1, a.put("sampling.oversample", atoi), INT, NONNEG, usage=27,
         help="number of sub-pixels per pixel edge"),
    Flag("-roi", 4, a.roi, INT, usage=54, help="xmin xmax ymin ymax: only render these pixels"),
    Flag("-dmin", 1, a.put("sampling.dmin_m", factor=1e-10), REAL, NONNEG),
    Flag("-interpolate", 0, a.const("sampling.interpolate", True), usage=67,
         help="force structure factor interpolation"),
    Flag("-nointerpolate", 0, a.const("sampling.interpolate", False), usage=66,
         help="turn off structure factor interpolation"),
    _file("-floatfile", "run.floatfile", usage=45, help="name of binary float output file"),
    _file("-floatimage", "run.floatfile"),
    _file("-intfile", "run.intfile", usage=46, help="name of SMV integer output file"),
    _file("-intimage", "run.intfile"),
    Flag("-pgmfile", 1, a.output("run.pgmfile", "run.write_pgm"), FILE, usage=51,
         help="name of 8-bit PGM output file"),
    Flag("-pgmimage", 1, a.output("run.pgmfile", "run.write_pgm"), FILE),
    Flag("-noisefile", 1, a.output("run.noisefile", "run.write_noise"), FILE, usage=50,
         help="name of SMV noise image output file"),
    Flag("-noiseimage", 1, a.output("run.noisefile", "run.write_noise"), FILE),
    Flag("-nonoise", 0, a.const("run.write_noise", False), usage=63,
         help="do not write a noise image"),
    Flag("-nopgm", 0, a.const("run.write_pgm", False), usage=53, help="do not write a PGM file"),
    Flag("-scale", 1, a.put("run.scale"), REAL, usage=47, help="scale factor for the integer file"),
    Flag("-pgmscale", 1, a.both(a.put("run.pgmscale"), a.const("run.write_pgm", True)), REAL, usage=52,
         help="scale factor for the PGM file"),
    Flag("-adc", 1, a.put("run.adc"), REAL, usage=48,
         help="ADC offset added to the integer files (default: {adc:g})"),
    Flag("-seed", 1, a.seed("run.seed"), LONG, usage=56,
         help="random number seed for the noise image"),
    Flag("-printout", 0, a.const("run.printout", True), usage=55,
         help="print pixel values to the screen"),
    Flag("-printout_pixel", 2, a.printout_pixel, INT),
    Flag("-progress", 0, a.const("run.progress", True)),
    Flag("-noprogress", 0, a.const("run.progress", False), usage=64,
         help="turn off the progress meter"),
    # extensions of torchbragg (README "Extensions")
    Flag("-trace_pixel", 2, a.trace_pixel, INT, NONNEG, extension=True, metavar="SLOW FAST",
         help="per-pixel TRACE_PY: lines (repeatable)"),
    Flag("-dtype", 1, a.word("run.dtype"), WORD, match="eq", choices=("float32", "float64"),
         extension=True, c_reads=CHECKS, help="precision (default float64)"),
    Flag("-device", 1, a.word("run.device"), WORD, match="eq", choices=("cpu", "cuda", "auto"),
         extension=True, c_reads=CHECKS, help="compute device (default cpu)"),
    Flag("-profile", 1, a.word("run.profile"), WORD, match="eq", extension=True,
         metavar="nanobragg|corrected", c_reads=PREPASS,
         help="compatibility profile (default nanobragg)"),
    Flag("-chunk_pixels", 1, a.put("run.chunk_pixels", atoi), INT, POS, match="eq",
         extension=True, metavar="N", c_reads=CHECKS, help="pixels per kernel call"),
    Flag("-compile", 1, a.word("run.compile"), WORD, match="eq", choices=("auto", "on", "off"),
         extension=True, c_reads=CHECKS,
         help="compiled kernels: on builds missing ones, off is eager (overrides TORCHBRAGG_COMPILE)"),
    # the pre-pass (docs/behaviour/cli.md §1.1, :func:`header_files`)
    Flag("-img", 1, None, FILE, usage=10, c_reads=PREPASS,
         help="read detector and beam parameters from this SMV header"),
    Flag("-mask", 1, None, FILE, usage=11, c_reads=PREPASS,
         help="SMV file: pixels with value 0 are not rendered"),
)


def profile_name(argv: Sequence[str]) -> str:
    """The ``-profile`` value (pre-pass: the profile changes how some flags parse)."""
    name = "nanobragg"
    for i, tok in enumerate(argv):
        if tok == "-profile" and i + 1 < len(argv):
            name = argv[i + 1]
    return name


def header_files(argv: Sequence[str]):
    """Pre-pass (docs/behaviour/cli.md §1.1): the ``-img`` and ``-mask`` file names."""
    img = mask = None
    for i, tok in enumerate(argv):
        if tok.startswith("-") and i + 1 < len(argv):
            if "-img" in tok:
                img = argv[i + 1]
            if "-mask" in tok:
                mask = argv[i + 1]
    return img, mask


class FlagIndex:
    """The flags of ``table`` a token matches, in table order.

    Only the patterns whose first two characters occur at one of the token's ``-`` positions
    are tested (every pattern starts with ``-``), and each distinct token is matched once, so
    a long command line is checked in time linear in its length."""

    def __init__(self, table: Sequence[Flag]):
        self.table = tuple(table)
        self._by_key: dict = {}
        for n, flag in enumerate(self.table):
            self._by_key.setdefault(flag.pattern[:2], []).append(n)
        self._seen: dict = {}

    def matching(self, tok: str) -> tuple:
        hit = self._seen.get(tok)
        if hit is None:
            found: set = set()
            at = tok.find("-")
            while at >= 0:
                found.update(self._by_key.get(tok[at:at + 2], ()))
                at = tok.find("-", at + 1)
            hit = tuple(self.table[n] for n in sorted(found) if self.table[n].matches(tok))
            self._seen[tok] = hit
        return hit


def scan(argv: Sequence[str], state, profile: CompatProfile):
    """The main pass: left to right, every matching pattern acts."""
    index = FlagIndex(FLAGS)
    for i, tok in enumerate(argv):
        if not tok.startswith("-"):
            continue
        for flag in index.matching(tok):
            rest = list(argv[i + 1:i + 1 + MAX_VALUES])
            if len(rest) < flag.arity:
                if flag.guard_broken:
                    raise InputError(f"{tok}: missing value (it is the last argument)")
                continue
            try:
                if flag.action is not None:
                    flag.action(state, rest, tok, profile)
            except SkipRest:
                break
            if flag.skip_rest:
                break
    return state
