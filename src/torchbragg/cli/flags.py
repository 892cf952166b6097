"""The flag table and the C-style argv scan (docs/behaviour/cli.md §1–3).

Every token starting with ``-`` is tested against every pattern in table order; each pattern
that matches acts (substring matching, so one token can fire several flags:
docs/behaviour/cli.md §3.1). Value tokens are not consumed. Numbers follow C ``atof``/``atoi``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Sequence

from torchbragg.cli.cnum import atof, atoi, strict_int
from torchbragg.cli.state import ParseState
from torchbragg.compat import CompatProfile
from torchbragg.errors import InputError
from torchbragg.physics.vec3 import RTD

Action = Callable[[ParseState, List[str], str, CompatProfile], None]

#: Tokens after a flag handed to its action: more than any flag reads (``-cell``: six values
#: and the token that stops it). A window keeps the scan linear in the number of tokens.
MAX_VALUES = 8


@dataclass(frozen=True)
class Flag:
    pattern: str
    arity: int
    action: Action
    match: str = "sub"  # sub | exact | eq
    skip_rest: bool = False
    #: the C's arity guard is broken for a few flags (crash when last); we report an error
    guard_broken: bool = False

    def matches(self, token: str) -> bool:
        if self.match == "sub":
            return self.pattern in token
        if self.match == "exact":
            return self.pattern in token and len(token) == len(self.pattern)
        return token == self.pattern  # "eq"


def _set(attr, conv=atof, factor=None, divisor=None):
    def act(st, args, tok, prof):
        v = conv(args[0])
        if factor is not None:
            v = v * factor
        if divisor is not None:
            v = v / divisor
        setattr(st, attr, v)
    return act


def _const(attr, value):
    def act(st, args, tok, prof):
        setattr(st, attr, value)
    return act


def _multi(*acts):
    def act(st, args, tok, prof):
        for a in acts:
            a(st, args, tok, prof)
    return act


def _vector(name):
    def act(st, args, tok, prof):
        st.vectors[name] = tuple(atof(a) for a in args[:3])
        st.convention = "CUSTOM"  # any vector flag selects CUSTOM (docs/behaviour/quirks.md Q3)
    return act


def _pix0(st, args, tok, prof):
    vals = tuple(atof(a) for a in args[:3])
    if "_mm" in tok and not prof.pix0_vector_ignored:
        vals = tuple(v * 1e-3 for v in vals)
    st.pix0_vector = vals
    st.convention = "CUSTOM"  # (docs/behaviour/quirks.md Q3)


def _twotheta(st, args, tok, prof):
    if "-twotheta_axis" in tok and not prof.twotheta_axis_sets_angle:
        return  # corrected profile: the axis flag does not set the angle (Q4)
    st.twotheta = atof(args[0]) / RTD
    st.pivot = "SAMPLE"


def _cell(st, args, tok, prof):
    values = []
    for a in args:
        if a.startswith("-") or len(values) == 6:
            break
        values.append(atof(a))
    values += [0.0] * (6 - len(values))
    st.cell = values[:3] + [v / RTD for v in values[3:]]


def _misset(st, args, tok, prof):
    if tok != "-misset" and not prof.misset_seed_sets_misset and "-misset_seed" in tok:
        return  # corrected profile: -misset_seed is not -misset (Q7)
    if args and "rand" in args[0]:  # random misset: docs/behaviour/quirks.md Q8
        st.misset_random = True
        raise _SkipRest
    if len(args) >= 3:
        st.misset = tuple(atof(a) / RTD for a in args[:3])
        st.misset_random = False


def _detector_abs(st, args, tok, prof):
    value = atof(args[0])
    if "inf" in args[0] or value == 0:  # docs/behaviour/quirks.md Q30
        st.thickness = 0.0
        st.mu = 0.0
    else:
        st.mu = 1.0 / (value * 1e-6)


def _divergence(st, args, tok, prof):
    st.hdivrange = st.vdivrange = atof(args[0]) / 1000.0


def _divsteps(st, args, tok, prof):
    st.hdivsteps = st.vdivsteps = atoi(args[0])


def _pivot(st, args, tok, prof):
    if "sample" in args[0]:
        st.pivot = "SAMPLE"
    elif "beam" in args[0]:
        st.pivot = "BEAM"


def _convention(name, pivot):
    def act(st, args, tok, prof):
        st.convention = name
        st.pivot = pivot
    return act


def _roi(st, args, tok, prof):
    st.roi = tuple(atoi(a) for a in args[:4])


def _printout_pixel(st, args, tok, prof):
    st.printout_pixel = (atoi(args[0]), atoi(args[1]))
    st.printout = True


def _trace_pixel(st, args, tok, prof):
    slow, fast = strict_int(args[0]), strict_int(args[1])
    if slow is None or fast is None:
        raise InputError(f"-trace_pixel: expected two integers SLOW FAST, got {args[0]!r} {args[1]!r}")
    st.trace_pixels.append((slow, fast))


def _choice(attr, choices):
    def act(st, args, tok, prof):
        if args[0] not in choices:
            raise InputError(f"{tok}: {args[0]!r} is not one of {', '.join(choices)}")
        setattr(st, attr, args[0])
    return act


def _chunk(st, args, tok, prof):
    st.chunk_pixels = strict_int(args[0], 1)
    if st.chunk_pixels is None:
        raise InputError(f"{tok}: expected a positive pixel count, got {args[0]!r}")


def _stol(st, args, tok, prof):
    st.stolfiles.append((tok, args[0]))


def _seed_neg(attr):
    def act(st, args, tok, prof):
        setattr(st, attr, -atoi(args[0]))
    return act


def _sizes(*attrs):
    def act(st, args, tok, prof):
        for a in attrs:
            setattr(st, a, atof(args[0]) / 1000.0)
    return act


def _N(st, args, tok, prof):
    st.Na = st.Nb = st.Nc = atoi(args[0])


def _detpixels(st, args, tok, prof):
    st.fpixels = st.spixels = atoi(args[0])


def _detsize(st, args, tok, prof):
    st.detsize_f = st.detsize_s = atof(args[0]) / 1000.0


def _energy(st, args, tok, prof):
    st.wavelength = (12398.42 / atof(args[0])) / 1e10 if atof(args[0]) != 0 else float("inf")


def _polar(st, args, tok, prof):
    st.kahn = atof(args[0])
    st.nopolar = False  # -polar clears -nopolar (docs/behaviour/quirks.md Q31)


class _SkipRest(Exception):
    pass


_XYZ = ("x", "y", "z")
# Table order matters only for tokens that fire several flags (docs/behaviour/cli.md §3.1).
FLAGS: Sequence[Flag] = (
    Flag("-hkl", 1, lambda st, a, t, p: setattr(st, "hklfile", a[0])),
    Flag("-default_F", 1, _set("default_F")),
    Flag("-dump", 1, lambda st, a, t, p: setattr(st, "dumpfile", a[0])),
    Flag("-mat", 1, lambda st, a, t, p: setattr(st, "matfile", a[0])),
    Flag("-cell", 1, _cell),
    Flag("-misset", 1, _misset),
    Flag("-misset_seed", 1, _seed_neg("misset_seed")),
    Flag("-sourcefile", 1, lambda st, a, t, p: setattr(st, "sourcefile", a[0])),
    Flag("-stol", 1, _stol, match="exact"),
    Flag("-4stol", 1, _stol, match="exact"),
    Flag("-Q", 1, _stol, match="exact"),
    # docs/behaviour/cli.md: "length > 7"; every token holding the 8 characters of -stolout passes
    # that test
    Flag("-stolout", 1, lambda st, a, t, p: None),
    Flag("-Na", 1, _set("Na", atoi), skip_rest=True),
    Flag("-Nb", 1, _set("Nb", atoi), skip_rest=True),
    Flag("-Nc", 1, _set("Nc", atoi), skip_rest=True),
    Flag("-N", 1, _N, match="eq", skip_rest=True),
    *(Flag(p, 1, _sizes("sample_x", "sample_y", "sample_z"))
      for p in ("-samplesize", "-sample_size", "-xtalsize", "-xtal_size")),
    *(Flag(p, 1, _sizes("sample_x")) for p in ("-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x")),
    *(Flag(p, 1, _sizes("sample_y"))
      for p in ("-sample_width", "-sample_y", "-width", "-xtal_width", "-xtal_y")),
    *(Flag(p, 1, _sizes("sample_z"))
      for p in ("-sample_heigh", "-sample_z", "-heigh", "-xtal_heigh", "-xtal_z")),
    Flag("-density", 1, lambda st, a, t, p: None),
    Flag("-sample_den", 1, lambda st, a, t, p: None),
    Flag("-MW", 1, lambda st, a, t, p: None, match="eq"),
    Flag("-molec", 1, lambda st, a, t, p: None),
    Flag("-square_xtal", 0, _const("shape", "SQUARE")),
    Flag("-round_xtal", 0, _const("shape", "ROUND")),
    Flag("-gauss_xtal", 0, _const("shape", "GAUSS")),
    Flag("-binary_spots", 0, _const("shape", "TOPHAT")),
    Flag("-tophat_spots", 0, _const("shape", "TOPHAT")),
    Flag("-fudge", 1, _set("fudge")),
    Flag("-mosaic", 1, _set("mosaic_spread", divisor=RTD), match="exact"),
    Flag("-mosaici", 1, _set("mosaic_spread", divisor=RTD)),
    Flag("-mosaic_spr", 1, _set("mosaic_spread", divisor=RTD)),
    Flag("-mosaic_dom", 1, _set("mosaic_domains", atoi)),
    Flag("-mosaic_seed", 1, _seed_neg("mosaic_seed")),
    Flag("-lambda", 1, _set("wavelength", divisor=1e10)),
    Flag("-wave", 1, _set("wavelength", divisor=1e10)),
    Flag("-energy", 1, _energy),
    Flag("-dispersion", 1, _set("dispersion", divisor=100.0)),
    Flag("-dispsteps", 1, _set("dispsteps", atoi)),
    Flag("-divergence", 1, _divergence),
    Flag("-hdivrange", 1, _set("hdivrange", divisor=1000.0)),
    Flag("-vdivrange", 1, _set("vdivrange", divisor=1000.0)),
    Flag("-hdivstep", 1, _set("hdivstep", divisor=1000.0), match="exact"),
    Flag("-vdivstep", 1, _set("vdivstep", divisor=1000.0), match="exact"),
    Flag("-hdivsteps", 1, _set("hdivsteps", atoi)),
    Flag("-vdivsteps", 1, _set("vdivsteps", atoi)),
    Flag("-divsteps", 1, _divsteps),
    Flag("-round_div", 0, _const("round_div", True)),
    Flag("-square_div", 0, _const("round_div", False)),
    Flag("-fluence", 1, _set("fluence")),
    Flag("-flux", 1, _set("flux")),
    Flag("-exposure", 1, _set("exposure")),
    Flag("-beamsize", 1, _set("beamsize", divisor=1000.0)),
    Flag("-polar", 1, _polar, match="exact"),
    Flag("-nopolar", 0, _const("nopolar", True)),
    Flag("-beam_vector", 3, _vector("beam")),
    Flag("-polar_vector", 3, _vector("polar")),
    Flag("-water", 1, _set("water", divisor=1e6)),
    Flag("-coherent", 0, lambda st, a, t, p: None),
    Flag("-pixel", 1, _set("pixel", divisor=1000.0)),
    Flag("-detpixels", 1, _detpixels, match="exact"),
    Flag("-detpixels_f", 1, _set("fpixels", atoi)),
    Flag("-detpixels_x", 1, _set("fpixels", atoi)),
    Flag("-detpixels_s", 1, _set("spixels", atoi)),
    Flag("-detpixels_y", 1, _set("spixels", atoi)),
    Flag("-detsize", 1, _detsize, match="exact"),
    Flag("-detsize_f", 1, _set("detsize_f", divisor=1000.0)),
    Flag("-detsize_s", 1, _set("detsize_s", divisor=1000.0)),
    Flag("-distance", 1, _multi(_set("distance", divisor=1000.0), _const("pivot", "BEAM"))),
    Flag("-close_distance", 1, _multi(_set("close_distance", divisor=1000.0),
                                      _const("pivot", "SAMPLE"))),
    Flag("-Xbeam", 1, _multi(_set("xbeam", divisor=1000.0), _const("pivot", "BEAM"))),
    Flag("-Ybeam", 1, _multi(_set("ybeam", divisor=1000.0), _const("pivot", "BEAM"))),
    Flag("-Xclose", 1, _multi(_set("xclose", divisor=1000.0), _const("pivot", "SAMPLE"))),
    Flag("-Yclose", 1, _multi(_set("yclose", divisor=1000.0), _const("pivot", "SAMPLE"))),
    Flag("-ORGX", 1, _multi(_set("orgx"), _const("pivot", "SAMPLE"))),
    Flag("-ORGY", 1, _multi(_set("orgy"), _const("pivot", "SAMPLE"))),
    Flag("-pivot", 1, _pivot),
    Flag("-mosflm", 0, _convention("MOSFLM", "BEAM")),
    Flag("-denzo", 0, _convention("DENZO", "BEAM")),
    Flag("-adxv", 0, _convention("ADXV", "BEAM")),
    Flag("-xds", 0, _convention("XDS", "SAMPLE")),
    Flag("-dials", 0, _convention("DIALS", "BEAM")),
    Flag("-fdet_vector", 3, _vector("fdet")),
    Flag("-sdet_vector", 3, _vector("sdet")),
    Flag("-odet_vector", 3, _vector("odet")),
    Flag("-spindle_axis", 3, _vector("spindle")),
    Flag("-twotheta_axis", 3, _vector("twotheta_axis")),
    Flag("-pix0_vector", 3, _pix0),
    Flag("-detector_rotx", 1, _set("rotx", divisor=RTD)),
    Flag("-detector_roty", 1, _set("roty", divisor=RTD)),
    Flag("-detector_rotz", 1, _set("rotz", divisor=RTD)),
    Flag("-twotheta", 1, _twotheta),
    Flag("-curved_det", 1, _const("curved", True)),
    Flag("-point_pixel", 0, _const("point_pixel", True)),
    Flag("-detector_abs", 1, _detector_abs, guard_broken=True),
    Flag("-detector_thick", 1, _set("thickness", factor=1e-6), match="exact", guard_broken=True),
    Flag("-detector_thicksteps", 1, _set("thicksteps", atoi), guard_broken=True),
    Flag("-thicksteps", 1, _set("thicksteps", atoi), guard_broken=True),
    Flag("-phi", 1, _set("phi0", divisor=RTD), match="exact"),
    Flag("-osc", 1, _set("osc", divisor=RTD)),
    Flag("-phistep", 1, _set("phistep", divisor=RTD), match="exact"),
    Flag("-phisteps", 1, _set("phisteps", atoi)),
    Flag("-oversample_thick", 0, _const("oversample_thick", True), skip_rest=True),
    Flag("-oversample_polar", 0, _const("oversample_polar", True), skip_rest=True),
    Flag("-oversample_omega", 0, _const("oversample_omega", True), skip_rest=True),
    Flag("-oversample", 1, _set("oversample", atoi)),
    Flag("-roi", 4, _roi),
    Flag("-dmin", 1, _set("dmin", factor=1e-10)),
    Flag("-interpolate", 0, _const("interpolate", True)),
    Flag("-nointerpolate", 0, _const("interpolate", False)),
    Flag("-floatfile", 1, lambda st, a, t, p: setattr(st, "floatfile", a[0])),
    Flag("-floatimage", 1, lambda st, a, t, p: setattr(st, "floatfile", a[0])),
    Flag("-intfile", 1, lambda st, a, t, p: setattr(st, "intfile", a[0])),
    Flag("-intimage", 1, lambda st, a, t, p: setattr(st, "intfile", a[0])),
    Flag("-pgmfile", 1, lambda st, a, t, p: (setattr(st, "pgmfile", a[0]), setattr(st, "write_pgm", True))),
    Flag("-pgmimage", 1, lambda st, a, t, p: (setattr(st, "pgmfile", a[0]), setattr(st, "write_pgm", True))),
    Flag("-noisefile", 1, lambda st, a, t, p: (setattr(st, "noisefile", a[0]), setattr(st, "write_noise", True))),
    Flag("-noiseimage", 1, lambda st, a, t, p: (setattr(st, "noisefile", a[0]), setattr(st, "write_noise", True))),
    Flag("-nonoise", 0, _const("write_noise", False)),
    Flag("-nopgm", 0, _const("write_pgm", False)),
    Flag("-scale", 1, _set("scale")),
    Flag("-pgmscale", 1, _multi(_set("pgmscale"), _const("write_pgm", True))),
    Flag("-adc", 1, _set("adc")),
    Flag("-seed", 1, _seed_neg("seed")),
    Flag("-printout", 0, _const("printout", True)),
    Flag("-printout_pixel", 2, _printout_pixel),
    Flag("-progress", 0, _const("progress", True)),
    Flag("-noprogress", 0, _const("progress", False)),
    # extensions of torchbragg (ignored by the C reference)
    Flag("-trace_pixel", 2, _trace_pixel),
    Flag("-dtype", 1, _choice("dtype", ("float32", "float64")), match="eq"),
    Flag("-device", 1, _choice("device", ("cpu", "cuda", "auto")), match="eq"),
    Flag("-profile", 1, lambda st, a, t, p: setattr(st, "profile", a[0]), match="eq"),
    Flag("-chunk_pixels", 1, _chunk, match="eq"),
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


def scan(argv: Sequence[str], state: ParseState, profile: CompatProfile) -> ParseState:
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
                flag.action(state, rest, tok, profile)
            except _SkipRest:
                break
            if flag.skip_rest:
                break
    return state
