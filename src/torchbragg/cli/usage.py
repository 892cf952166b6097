"""The usage text printed when required inputs are missing (docs/behaviour/cli.md §7), and the help
and version requests (``-h``/``--help``/``--version``, exit 0)."""
from __future__ import annotations

from typing import Optional, Sequence

_OPTIONS = (
    ("-mat", "name of nanoBragg-style crystal orientation matrix file"),
    ("-hkl", "name of structure factor text file (h k l F)"),
    ("-misset", "instead of matrix, specify misset angles (degrees)"),
    ("-misset random", "random orientation"),
    ("-cell", "unit cell a b c alpha beta gamma (Angstrom, degrees)"),
    ("-default_F", "amplitude of reflections missing from the hkl file"),
    ("-distance", "distance from origin to detector center in mm"),
    ("-detsize", "detector size in mm"),
    ("-detpixels", "detector size in pixels"),
    ("-pixel", "detector pixel size in mm"),
    ("-img", "read detector and beam parameters from this SMV header"),
    ("-mask", "SMV file: pixels with value 0 are not rendered"),
    ("-detector_absorb", "attenuation depth of the sensor in um"),
    ("-detector_thick", "thickness of the sensor in um"),
    ("-detector_thicksteps", "number of sensor layers"),
    ("-Xbeam", "direct beam position along the slow axis (MOSFLM) in mm"),
    ("-Ybeam", "direct beam position along the fast axis (MOSFLM) in mm"),
    ("-mosflm", "use MOSFLM's direct beam convention (default)"),
    ("-xds", "use XDS detector origin convention"),
    ("-ORGX -ORGY", "near point in pixels (XDS convention)"),
    ("-twotheta", "rotation of detector about spindle axis (degrees)"),
    ("-N", "number of unit cells in all directions"),
    ("-xtalsize", "crystal size in mm (overrides -N)"),
    ("-square_xtal", "parallelepiped crystal shape (default)"),
    ("-round_xtal", "ellipsoidal crystal shape"),
    ("-gauss_xtal", "gaussian spot shape"),
    ("-tophat_spots", "flat-top spot shape"),
    ("-oversample", "number of sub-pixels per pixel edge"),
    ("-oversample_thick", "recompute the sensor capture fraction per sub-pixel"),
    ("-oversample_polar", "recompute the polarization factor per sub-pixel"),
    ("-oversample_omega", "recompute the solid angle per sub-pixel"),
    ("-lambda", "incident x-ray wavelength in Angstrom"),
    ("-mosaic", "isotropic mosaic spread in degrees"),
    ("-mosaic_domains", "number of mosaic domains"),
    ("-dispersion", "spectral dispersion: delta-lambda/lambda in percent"),
    ("-dispsteps", "number of wavelengths"),
    ("-hdivrange", "horizontal angular spread of source points in mrad"),
    ("-vdivrange", "vertical angular spread of source points in mrad"),
    ("-hdivstep", "horizontal divergence step in mrad"),
    ("-vdivstep", "vertical divergence step in mrad"),
    ("-square_div", "full divergence grid (no elliptical trim)"),
    ("-phi", "starting rotation value about spindle axis (degrees)"),
    ("-osc", "rotation range about spindle axis (degrees)"),
    ("-phisteps", "number of rotation steps"),
    ("-water", "size of water background droplet in um"),
    ("-floatfile", "name of binary float output file"),
    ("-intfile", "name of SMV integer output file"),
    ("-scale", "scale factor for the integer file"),
    ("-adc", "ADC offset added to the integer files (default: {adc:g})"),
    ("-polar", "Kahn polarization factor (default: 1)"),
    ("-noisefile", "name of SMV noise image output file"),
    ("-pgmfile", "name of 8-bit PGM output file"),
    ("-pgmscale", "scale factor for the PGM file"),
    ("-nopgm", "do not write a PGM file"),
    ("-roi", "xmin xmax ymin ymax: only render these pixels"),
    ("-printout", "print pixel values to the screen"),
    ("-seed", "random number seed for the noise image"),
    ("-mosaic_seed", "random number seed for mosaic domains"),
    ("-misset_seed", "random number seed for -misset random"),
    ("-fluence", "incident beam intensity in photons/m^2"),
    ("-flux", "incident beam intensity in photons/s"),
    ("-beamsize", "beam size in mm (default: {beamsize_mm:g})"),
    ("-exposure", "exposure time in s (default: {exposure:g})"),
    ("-nonoise", "do not write a noise image"),
    ("-noprogress", "turn off the progress meter"),
    ("-nopolar", "turn off the polarization correction"),
    ("-nointerpolate", "turn off structure factor interpolation"),
    ("-interpolate", "force structure factor interpolation"),
    ("-point_pixel", "solid angle 1/R^2 (no pixel area, no obliquity)"),
    ("-curved_det", "all pixels at the same distance from the sample"),
    ("-fdet_vector", "unit vector of the fast axis (0 0 1)"),
    ("-sdet_vector", "unit vector of the slow axis (0 -1 0)"),
    ("-odet_vector", "unit vector of the detector normal (1 0 0)"),
    ("-beam_vector", "unit vector of the beam (1 0 0)"),
    ("-polar_vector", "unit vector of the E-vector (0 0 1)"),
    ("-spindle_axis", "unit vector of the spindle (0 0 1)"),
    ("-pix0_vector", "switches to the CUSTOM convention (values ignored)"),
)


def usage_text(adc: float = 40.0, beamsize_mm: float = 0.1, exposure: float = 1.0) -> str:
    lines = ["usage: nanoBragg -mat auto.mat -hkl Fs.hkl", "options:"]
    for flag, text in _OPTIONS:
        lines.append("\t%-16s\t%s" % (flag, text.format(adc=adc, beamsize_mm=beamsize_mm,
                                                         exposure=exposure)))
    return "\n".join(lines) + "\n"


#: printed on stderr after a usage error (stdout stays the C's)
EXTENSIONS = ("torchbragg extensions: -dtype float32|float64 -device cpu|cuda|auto "
              "-profile nanobragg|corrected -trace_pixel SLOW FAST -chunk_pixels N")


#: exact tokens that ask for the usage text (stdout, exit 0) or the version; the C has no such
#: flags (it ignores them and, lacking inputs, prints its usage and exits 9), and no substring
#: of them is a nanoBragg flag, so only these exact tokens are taken (``-hkl`` is not ``-h``)
HELP_TOKENS = ("-h", "--help")
VERSION_TOKEN = "--version"


def contact_request(argv: Sequence[str]) -> Optional[str]:
    """``"help"`` or ``"version"`` for the first such exact token anywhere in ``argv``, else
    None.  It wins over everything else on the line (values, missing inputs, profiles)."""
    for token in argv:
        if token in HELP_TOKENS:
            return "help"
        if token == VERSION_TOKEN:
            return "version"
    return None


def help_text(prog: str = "torchbragg") -> str:
    """What ``-h``/``--help`` print: the C's usage text, then the extensions and these flags."""
    return (usage_text() + "\n" + EXTENSIONS + "\n"
            f"{prog} -h|--help: this text;  {prog} --version: the version (both exit 0)\n"
            f"{prog} --batch FILE: each line of FILE as one {prog} command line, in one "
            f"process;  {prog} --prepare ARGS: build the compiled kernels ARGS would use\n")


def version_text(prog: str = "torchbragg") -> str:
    from torchbragg import __version__

    return f"{prog} {__version__}\n"
