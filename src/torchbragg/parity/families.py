"""Flag families of the nanoBragg command line (what the parity campaign's random suite covers).

:data:`FAMILY_OF` maps every flag pattern of :data:`torchbragg.cli.flags.FLAGS` (and the
pre-pass patterns ``-img``/``-mask``) to a named family; :func:`families_of` gives the
families a command line touches, with the scan's own token matching
(:meth:`~torchbragg.cli.flags.Flag.matches`, every matching pattern counts — so
``-twotheta_axis`` is both ``rotation`` and ``twotheta``, ``-misset_seed`` is ``cell``).
A token in a value position of an earlier flag (``-cell`` takes up to six numbers,
``-misset`` three or ``random``, the vector flags three, ``-roi`` four, …) is not a flag,
and neither is a negative number.

A new flag in the table without a family fails ``tests/test_families.py``.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Sequence, Set, Tuple

from torchbragg.cli.flags import FLAGS

#: family -> patterns
FAMILIES: Dict[str, tuple] = {
    "convention": ("-mosflm", "-xds", "-denzo", "-adxv", "-dials", "-fdet_vector",
                   "-sdet_vector", "-odet_vector", "-beam_vector", "-pix0_vector"),
    "beam_centre": ("-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX", "-ORGY"),
    "pivot": ("-pivot",),
    "rotation": ("-detector_rotx", "-detector_roty", "-detector_rotz", "-spindle_axis",
                 "-twotheta_axis"),
    "twotheta": ("-twotheta",),
    "pixel_model": ("-curved_det", "-point_pixel"),
    "distance": ("-distance", "-close_distance"),
    "detector_size": ("-pixel", "-detpixels", "-detpixels_f", "-detpixels_x", "-detpixels_s",
                      "-detpixels_y", "-detsize", "-detsize_f", "-detsize_s"),
    "roi": ("-roi",),
    "oversampling": ("-oversample", "-oversample_thick", "-oversample_polar",
                     "-oversample_omega"),
    "cell": ("-cell", "-mat", "-misset", "-misset_seed"),
    "crystal_size": ("-N", "-Na", "-Nb", "-Nc", "-samplesize", "-sample_size", "-xtalsize",
                     "-xtal_size", "-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x",
                     "-sample_width", "-sample_y", "-width", "-xtal_width", "-xtal_y",
                     "-sample_heigh", "-sample_z", "-heigh", "-xtal_heigh", "-xtal_z"),
    "spot_shape": ("-square_xtal", "-round_xtal", "-gauss_xtal", "-binary_spots",
                   "-tophat_spots", "-fudge"),
    "structure_factors": ("-hkl", "-default_F", "-interpolate", "-nointerpolate"),
    "fdump": ("-dump",),
    "amorphous": ("-stol", "-4stol", "-Q", "-stolout"),
    "inert": ("-density", "-sample_den", "-MW", "-molec", "-coherent"),
    "mosaic": ("-mosaic", "-mosaici", "-mosaic_spr", "-mosaic_dom", "-mosaic_seed"),
    "phi": ("-phi", "-osc", "-phistep", "-phisteps"),
    "wavelength": ("-lambda", "-wave", "-energy"),
    "divergence": ("-divergence", "-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep",
                   "-hdivsteps", "-vdivsteps", "-divsteps", "-round_div", "-square_div"),
    "dispersion": ("-dispersion", "-dispsteps"),
    "sourcefile": ("-sourcefile",),
    "polarisation": ("-polar", "-nopolar", "-polar_vector"),
    "absorption": ("-detector_abs", "-detector_thick", "-detector_thicksteps", "-thicksteps"),
    "water": ("-water",),
    "resolution": ("-dmin",),
    "fluence": ("-fluence", "-flux", "-exposure", "-beamsize"),
    "scale": ("-scale", "-adc"),
    "noise": ("-seed", "-noisefile", "-noiseimage", "-nonoise"),
    "outputs": ("-floatfile", "-floatimage", "-intfile", "-intimage", "-pgmfile", "-pgmimage",
                "-nopgm", "-pgmscale"),
    "printout": ("-printout", "-printout_pixel"),
    "progress": ("-progress", "-noprogress"),
    "smv_input": ("-img", "-mask"),
    # the flags declared as torchbragg extensions (cli/flags.py)
    "torchbragg": tuple(f.pattern for f in FLAGS if f.extension),
}

#: pattern -> family
FAMILY_OF: Dict[str, str] = {p: fam for fam, pats in FAMILIES.items() for p in pats}

#: families the random suite does not draw
NOT_DRAWN = frozenset({"torchbragg"})

_VECTORS = {"-beam_vector", "-polar_vector", "-fdet_vector", "-sdet_vector", "-odet_vector",
            "-spindle_axis", "-twotheta_axis", "-pix0_vector"}


@lru_cache(maxsize=4096)
def _matching(tok: str) -> Tuple:
    """The flags the scan fires on ``tok``, in table order, up to a skip-rest flag."""
    matched = []
    for f in FLAGS:
        if f.matches(tok):
            matched.append(f)
            if f.skip_rest:
                break
    return tuple(matched)


def _is_number(tok: str) -> bool:
    from torchbragg.cli.cnum import strict_real

    return strict_real(tok) is not None


def _value_count(pattern: str, arity: int, args: Sequence[str]) -> int:
    """How many of the following tokens are this flag's values (strict reading)."""
    if pattern == "-cell":
        n = 0
        for a in args[:6]:
            if a.startswith("-") and not _is_number(a):
                break
            n += 1
        return n
    if pattern == "-misset":
        return 1 if args and "rand" in args[0] else 3
    if pattern == "-curved_det":
        return 0  # the C's "value" is not used
    if pattern in _VECTORS:
        return 3
    return arity


def matched_patterns(argv: Sequence[str]) -> List[List[str]]:
    """For each token of ``argv``, the patterns the scan fires on it (after skip-rest);
    empty for values, negative numbers and tokens that do not start with ``-``."""
    out: List[List[str]] = [[] for _ in argv]
    values: Set[int] = set()
    for i, tok in enumerate(argv):
        if not tok.startswith("-") or i in values or _is_number(tok):
            continue
        matched = _matching(tok)
        patterns = [f.pattern for f in matched]
        out[i] = patterns
        # the values belong to the primary flags (not those whose pattern lies inside
        # another matched pattern: -misset in -misset_seed, -twotheta in -twotheta_axis)
        for f in matched:
            if any(f.pattern != p and f.pattern in p for p in patterns):
                continue
            n = _value_count(f.pattern, f.arity, argv[i + 1:])
            values.update(range(i + 1, i + 1 + n))
    return out


def families_of(argv: Sequence[str]) -> Set[str]:
    """The families of every flag the scan fires on ``argv``."""
    return {FAMILY_OF[p] for pats in matched_patterns(argv) for p in pats}
