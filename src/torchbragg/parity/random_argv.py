"""Random nanoBragg command lines: the campaign's ``random`` suite and the float32 survey.

:func:`random_argv` draws one valid command line from a :class:`random.Random`. It is a pure
function of the generator's state and of its arguments (no I/O, no clock, no global random
state), so a seed names a case: ``random_argv(random.Random(seed), inputs=...)`` is the same
list on every machine and Python version (it uses only ``random()``, ``randint``, ``choice``,
``uniform`` and ``shuffle``).

Input files are named, never read: ``inputs`` maps the roles of
:mod:`torchbragg.parity.case_inputs` (``hkl``, ``mat``, ``sourcefile``, ``img``, ``mask``,
``fdump``, ``fdump_ws``, ``stol``) to the paths a case may use (as given: relative names when
the case runs in the folder where :func:`~torchbragg.parity.case_inputs.write_inputs` wrote
them). A role that is absent is never drawn; with no inputs every case needs no file at all.
Output files (``-intfile``, ``-pgmfile``, ``-noisefile``, the ``-dump`` cache written after
``-hkl``) are drawn as plain relative names (:data:`OUTPUT_NAMES`) unless ``outputs=False``;
``-floatfile`` is never drawn (the caller adds it). A case that leaves noise on always has a
``-seed`` and a random misset always a ``-misset_seed`` (the C's defaults are the clock).

Families (cf. :mod:`torchbragg.parity.families`; each drawn independently, the
probabilities are in the code):

* **cell** — ``-cell`` cubic … triclinic, edges 15–200 Å, or ``-mat FILE`` (sometimes with a
  ``-cell`` for the lengths); misset angles in ±180° or ``-misset random`` with its
  ``-misset_seed`` (before it, or after it: the Q7 collision then sets fixed angles).
* **crystal_size** — ``-N`` or ``-Na/-Nb/-Nc`` (1–30), crystal sizes (``-xtal_size`` and all
  the per-axis aliases, 0.2 µm–0.2 mm: wider than the beam clips); **spot_shape** — the four
  shapes with ``-fudge``; **inert** — ``-density``, ``-MW``, ``-molec``, ``-coherent``.
* **structure_factors** — ``-default_F``, ``-hkl FILE`` with ``-interpolate``/
  ``-nointerpolate``/auto; **fdump** — ``-dump NAME`` written after ``-hkl``, or ``-dump FILE``
  reading a pre-made cache (also the white-space-shifted one); **amorphous** — ``-stol``,
  ``-4stol``, ``-Q`` tables and ``-stolout``.
* **wavelength** — ``-lambda``/``-wave`` 0.5–3 Å or ``-energy``; **divergence** (ranges,
  step counts, exact step sizes, round/square), **dispersion**, **sourcefile**;
  **polarisation** ``-polar``/``-nopolar``/``-polar_vector``; **fluence** ``-fluence``,
  ``-flux``/``-exposure``/``-beamsize``.
* **detector** — **convention** (``-mosflm`` … ``-dials``, custom ``-fdet/-sdet/-odet_vector``
  frames, uniformly oriented or near-grazing, ``-beam_vector``, ``-pix0_vector``),
  **distance**, **beam_centre** (``-Xbeam/-Ybeam``, ``-Xclose/-Yclose``, ``-ORGX/-ORGY``),
  **pivot**, **rotation** (``-detector_rotx/y/z``, ``-spindle_axis``, ``-twotheta_axis``),
  **twotheta**, **pixel_model** (``-curved_det``, ``-point_pixel``), **detector_size**
  (``-pixel``, ``-detpixels``, ``-detpixels_f/_s/_x/_y``, ``-detsize``, ``-detsize_f/_s``),
  **smv_input** (``-img``, ``-mask``; sometimes a mask of another size, Q37), **roi**.
* **sampling** — **oversampling** 1–3 (always explicit) and its three toggles;
  **absorption** (``-detector_thick``, ``-detector_abs`` incl. ``inf``/0, ``-thicksteps``);
  **phi** (``-phi``, ``-osc``, ``-phisteps``, ``-phistep``); **mosaic** (spread, domains,
  seed, the auto rules); **water**; **resolution** (``-dmin``).
* **outputs** — ``-intfile``, ``-pgmfile``, ``-pgmscale``, ``-nopgm``; **scale** ``-scale``,
  ``-adc``; **noise** ``-seed``, ``-noisefile``, ``-nonoise``; **printout** ``-printout``
  (only over a small ROI) or ``-printout_pixel``; **progress** ``-progress``/``-noprogress``.

Work bound: the number of kernel evaluations (pixels × sub-pixels × layers × sources ×
φ steps × domains) stays under :data:`MAX_EVALUATIONS`, so a case renders in about a second
on a laptop core; the detector is shrunk (never below 16 pixels a side) and step counts are
lowered to fit.
"""
from __future__ import annotations

import math
import random
from typing import Dict, List, Mapping, Optional, Sequence

from torchbragg.parity import case_inputs as ci

#: upper bound on kernel evaluations per case
MAX_EVALUATIONS = 1_000_000
MIN_PIXELS, MAX_PIXELS = 16, 128

CONVENTIONS = ("-mosflm", "-xds", "-denzo", "-adxv", "-dials")

#: the output names a case may draw (relative: the case runs in its own scratch folder)
OUTPUT_NAMES: Dict[str, str] = {"int": "out_int.img", "pgm": "out_image.pgm",
                                "noise": "out_noise.img", "dump": "out_sf.Fdump",
                                "stolout": "out_table.stol"}

_SIZE_ALL = ("-samplesize", "-sample_size", "-xtalsize", "-xtal_size")
_SIZE_AXES = (("-sample_thick", "-sample_x", "-xtal_thick", "-xtal_x"),
              ("-sample_width", "-sample_y", "-width", "-xtal_width", "-xtal_y"),
              ("-sample_height", "-sample_z", "-height", "-xtal_height", "-xtal_z"))


def _num(x: float, digits: int = 6) -> str:
    """A number as the command line takes it (``%g``-like, no exponent surprises)."""
    text = f"{x:.{digits}g}"
    return "0" if text in ("-0", "0") else text


def _unit(v):
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _random_unit(rng: random.Random):
    while True:
        v = tuple(rng.uniform(-1.0, 1.0) for _ in range(3))
        n2 = sum(c * c for c in v)
        if 0.01 < n2 <= 1.0:
            return _unit(v)


def _frame(rng: random.Random, beam, grazing: bool):
    """An orthonormal (fdet, sdet, odet); ``grazing``: odet within 0.5°–10° of ⟂ beam."""
    if grazing:
        p = _unit(_cross(beam, _random_unit(rng)))  # ⟂ beam
        tilt = math.radians(rng.uniform(0.5, 10.0)) * rng.choice((-1.0, 1.0))
        odet = _unit(tuple(math.cos(tilt) * pc + math.sin(tilt) * bc for pc, bc in zip(p, beam)))
    else:
        odet = _random_unit(rng)
        # keep the beam side of the detector facing the sample (ratio b̂·ô not tiny)
        dot = sum(a * b for a, b in zip(odet, beam))
        if dot < 0:
            odet = tuple(-c for c in odet)
        if abs(dot) < 0.2:
            odet = _unit(tuple(o + 0.5 * b for o, b in zip(odet, beam)))
    f = _unit(_cross(odet, _random_unit(rng)))
    s = _cross(odet, f)
    return f, s, odet


def _vec(flag: str, v) -> List[str]:
    return [flag] + [_num(c) for c in v]


def _cell(rng: random.Random) -> List[str]:
    kind = rng.choice(("cubic", "tetragonal", "orthorhombic", "monoclinic", "hexagonal",
                       "triclinic", "triclinic"))
    high_res = rng.random() < 0.25  # small cells: high-order reflections on the detector
    lo, hi = (15.0, 45.0) if high_res else (25.0, 200.0)
    a, b, c = (round(rng.uniform(lo, hi), 2) for _ in range(3))
    al = be = ga = 90.0
    if kind == "cubic":
        b = c = a
    elif kind == "tetragonal":
        b = a
    elif kind == "monoclinic":
        be = round(rng.uniform(92.0, 120.0), 2)
    elif kind == "hexagonal":
        b, ga = a, 120.0
    elif kind == "triclinic":
        while True:
            al, be, ga = (round(rng.uniform(60.0, 120.0), 2) for _ in range(3))
            ca, cb, cg = (math.cos(math.radians(x)) for x in (al, be, ga))
            if 1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg > 0.05:
                break
    return ["-cell"] + [_num(x) for x in (a, b, c, al, be, ga)]


def _roi(rng: random.Random, fpix: int, spix: int, small: bool) -> List[str]:
    """``-roi xmin xmax ymin ymax`` (inclusive; -1 = unset; bounds past the edge harmless)."""
    if small:  # at most 8 x 8 pixels (for -printout of every rendered pixel)
        x0, y0 = rng.randint(0, fpix - 1), rng.randint(0, spix - 1)
        return ["-roi", str(x0), str(x0 + rng.randint(0, 7)), str(y0), str(y0 + rng.randint(0, 7))]
    x0 = rng.randint(-1, fpix - 1)
    y0 = rng.randint(-1, spix - 1)
    x1 = rng.choice((-1, rng.randint(max(x0, 0), fpix - 1), fpix + rng.randint(0, 10)))
    y1 = rng.choice((-1, rng.randint(max(y0, 0), spix - 1), spix + rng.randint(0, 10)))
    return ["-roi", str(x0), str(x1), str(y0), str(y1)]


def random_argv(rng: random.Random, hkl_files: Sequence[str] = (), *,
                inputs: Optional[Mapping[str, str]] = None, outputs: bool = True) -> List[str]:
    """One random, valid nanoBragg command line (see the module docstring for the families).

    ``hkl_files``: structure-factor files a case may name with ``-hkl`` (added to
    ``inputs["hkl"]``). ``inputs``: role → path of the files of
    :mod:`torchbragg.parity.case_inputs` (as given; nothing is read). ``outputs``: whether
    output-file flags (-intfile, -pgmfile, -noisefile, -dump, -stolout) may be drawn.
    """
    files = dict(inputs or {})
    hkls = list(hkl_files) + ([files["hkl"]] if "hkl" in files else [])
    r = rng.random
    crystal: List[str] = []
    # ------------------------------------------------------------------ crystal
    if "mat" in files and r() < 0.2:
        crystal += ["-mat", files["mat"]]
        if r() < 0.3:
            crystal += _cell(rng)
    else:
        crystal += _cell(rng)
    if r() < 0.3:
        if r() < 0.3:
            seed = ["-misset_seed", str(rng.randint(1, 10 ** 6))]
            rand = ["-misset", "random"]
            # seed first: a random orientation; seed after: Q7 sets fixed angles (S, 0, ...)
            crystal += seed + rand if r() < 0.6 else rand + seed
        else:
            crystal += ["-misset"] + [_num(rng.uniform(-180, 180), 5) for _ in range(3)]
    if r() < 0.5:
        crystal += ["-N", str(rng.randint(1, 30))]
    else:
        ns = [rng.randint(1, 30) for _ in range(3)]
        if r() < 0.15:
            ns[rng.randint(0, 2)] = 1
        for flag, n in zip(("-Na", "-Nb", "-Nc"), ns):
            crystal += [flag, str(n)]
    if r() < 0.2:  # crystal sizes (mm) override N per axis; the beam clips y and z
        def size():
            return _num(math.exp(rng.uniform(math.log(2e-4), math.log(0.2))), 4)
        if r() < 0.4:
            crystal += [rng.choice(_SIZE_ALL), size()]
        for axis in _SIZE_AXES:
            if r() < 0.4:
                crystal += [rng.choice(axis), size()]
    shape = rng.choice(("", "", "", "-square_xtal", "-round_xtal", "-gauss_xtal",
                        "-tophat_spots", "-binary_spots"))
    if shape:
        crystal.append(shape)
        if r() < 0.2:
            crystal += ["-fudge", _num(rng.uniform(0.5, 2.0), 4)]
    for flag in ("-density", "-sample_den", "-MW", "-molec"):
        if r() < 0.03:
            crystal += [flag, _num(rng.uniform(0.5, 50000.0), 4)]
    if r() < 0.03:
        crystal.append("-coherent")
    # ------------------------------------------------------------------ structure factors
    sf: List[str] = []
    has_table = False
    if hkls and r() < 0.3:
        sf += ["-hkl", rng.choice(hkls)]
        has_table = True
        if outputs and r() < 0.4:
            sf += ["-dump", OUTPUT_NAMES["dump"]]  # written (default name: Fdump.bin)
    elif r() < 0.15:
        premade = [files[k] for k in ("fdump", "fdump", "fdump", "fdump_ws") if k in files]
        if premade:
            sf += ["-dump", rng.choice(premade)]  # read (takes precedence over -default_F)
            has_table = True
        elif outputs and r() < 0.3:
            sf += ["-dump", OUTPUT_NAMES["dump"]]  # no such file: -default_F is used
    if has_table:
        sf += rng.choice(([], [], ["-interpolate"], ["-nointerpolate"]))
    if not has_table or r() < 0.8:
        sf += ["-default_F", _num(rng.uniform(1.0, 1000.0), 5)]
    if "stol" in files and r() < 0.05:
        sf += [rng.choice(("-stol", "-4stol", "-Q")), files["stol"]]
    if outputs and r() < 0.03:
        sf += ["-stolout", OUTPUT_NAMES["stolout"]]  # inert: never written
    # ------------------------------------------------------------------ beam
    beam_flags: List[str] = []
    if r() < 0.8:
        beam_flags += [rng.choice(("-lambda", "-lambda", "-lambda", "-wave")),
                       _num(rng.uniform(0.5, 3.0), 5)]
    else:
        beam_flags += ["-energy", _num(rng.uniform(4000.0, 25000.0), 6)]
    sources = 1
    if r() < 0.2:
        if r() < 0.35:
            beam_flags += ["-divergence", _num(rng.uniform(0.0, 2.0), 4)]
            n = rng.randint(1, 3)
            beam_flags += ["-divsteps", str(n)]
            sources *= max(n, 2) ** 2
        else:
            for axis in ("h", "v"):
                u = r()
                if u < 0.5:
                    n = rng.randint(1, 3)
                    beam_flags += [f"-{axis}divrange", _num(rng.uniform(0.0, 2.0), 4),
                                   f"-{axis}divsteps", str(n)]
                    sources *= max(n, 2)
                elif u < 0.75:  # a range and an exact step size: ceil(range/step) points
                    rng_mrad = rng.uniform(0.1, 2.0)
                    count = rng.randint(1, 3)
                    step = rng_mrad / count * rng.uniform(1.0, 1.2)
                    beam_flags += [f"-{axis}divrange", _num(rng_mrad, 4),
                                   f"-{axis}divstep", _num(step, 4)]
                    sources *= count + 1
                elif u < 0.85:  # a step size alone: range := step, 2 points
                    beam_flags += [f"-{axis}divstep", _num(rng.uniform(0.01, 1.0), 4)]
                    sources *= 2
        if r() < 0.5:
            beam_flags.append(rng.choice(("-round_div", "-square_div")))
    if r() < 0.2:
        n = rng.randint(1, 3)
        beam_flags += ["-dispersion", _num(rng.uniform(0.0, 5.0), 4), "-dispsteps", str(n)]
        sources *= max(n, 2)
    if "sourcefile" in files and r() < 0.12:
        beam_flags += ["-sourcefile", files["sourcefile"]]  # replaces the divergence grid
        sources = ci.SOURCE_COUNT
    pol = r()
    if pol < 0.3:
        beam_flags += ["-polar", _num(rng.uniform(0.0, 1.0), 4)]
    elif pol < 0.4:
        beam_flags.append("-nopolar")
    elif pol < 0.5:
        beam_flags += _vec("-polar_vector", _random_unit(rng))  # (switches to CUSTOM)
        if r() < 0.5:
            beam_flags += ["-polar", _num(rng.uniform(0.0, 1.0), 4)]
    flu = r()
    if flu < 0.08:
        beam_flags += ["-fluence", _num(math.exp(rng.uniform(math.log(1e20), math.log(1e26))), 4)]
    elif flu < 0.2:
        beam_flags += ["-flux", _num(math.exp(rng.uniform(math.log(1e8), math.log(1e14))), 4)]
        if r() < 0.7:
            beam_flags += ["-exposure", _num(rng.choice((0.0, rng.uniform(0.01, 10.0))), 4)]
        if r() < 0.7:
            beam_flags += ["-beamsize", _num(rng.uniform(0.005, 0.5), 4)]
        if r() < 0.2:
            beam_flags += ["-fluence", _num(rng.uniform(1e20, 1e24), 4)]  # overridden
    elif flu < 0.25:
        beam_flags += ["-beamsize", _num(rng.uniform(0.005, 0.5), 4)]
    # ------------------------------------------------------------------ detector
    detector: List[str] = []
    beam = (1.0, 0.0, 0.0)  # MOSFLM/CUSTOM default
    conv = r()
    custom = False
    if conv < 0.3:
        detector.append(rng.choice(CONVENTIONS))
    elif conv < 0.55:
        custom = True
        if r() < 0.25:
            beam = _unit(tuple(b + 0.02 * c for b, c in zip(beam, _random_unit(rng))))
            detector += _vec("-beam_vector", beam)
        f, s, o = _frame(rng, beam, grazing=r() < 0.6)
        detector += _vec("-fdet_vector", f) + _vec("-sdet_vector", s) + _vec("-odet_vector", o)
    if r() < 0.03:  # values discarded (Q6); switches to CUSTOM
        detector += [rng.choice(("-pix0_vector", "-pix0_vector_mm"))] + [
            _num(rng.uniform(-0.1, 0.1), 4) for _ in range(3)]
    pixel = round(math.exp(rng.uniform(math.log(0.05), math.log(1.0))), 4)
    if r() < 0.8:
        detector += ["-distance", _num(math.exp(rng.uniform(math.log(20), math.log(500))), 5)]
    else:
        detector += ["-close_distance",
                     _num(math.exp(rng.uniform(math.log(20), math.log(500))), 5)]
    for axis in ("x", "y", "z"):
        if r() < 0.15:
            detector += [f"-detector_rot{axis}", _num(rng.uniform(-30.0, 30.0), 4)]
    if r() < 0.1:
        detector += _vec("-spindle_axis", _random_unit(rng))
    if r() < 0.07:  # also sets 2θ := x degrees and pivot SAMPLE (Q4)
        detector += _vec("-twotheta_axis", _random_unit(rng))
    if r() < 0.2:
        detector += ["-twotheta", _num(rng.uniform(0.0, 90.0), 4)]
    if r() < (0.4 if custom else 0.08):
        detector += ["-pivot", rng.choice(("beam", "sample"))]
    if r() < 0.1:
        detector.append("-point_pixel")
    if r() < 0.1:
        detector.append("-curved_det")  # (never last: the pixel flags follow it)
    # -img / -mask headers preset the detector (SMV_FPIXELS x SMV_SPIXELS)
    headers: List[str] = []
    if "img" in files and r() < 0.08:
        headers += ["-img", files["img"]]
    if "mask" in files and r() < 0.1:
        headers += ["-mask", files["mask"]]
    # ------------------------------------------------------------------ sampling
    oversample = rng.choice((1, 1, 1, 2, 2, 3))
    sampling = ["-oversample", str(oversample)]
    layers = 1
    if r() < 0.2:
        n = rng.randint(1, 3)
        sampling += ["-detector_thick", _num(rng.uniform(10.0, 500.0), 4),
                     rng.choice(("-thicksteps", "-thicksteps", "-detector_thicksteps")), str(n)]
        u = r()
        if u < 0.5:
            sampling += [rng.choice(("-detector_abs", "-detector_absorb")),
                         _num(rng.uniform(50.0, 1000.0), 4)]
        elif u < 0.6:  # no sensor (thickness := 0), or when first a sensor with mu = 0
            off = ["-detector_abs", rng.choice(("inf", "0"))]
            sampling = off + sampling if r() < 0.5 else sampling + off
        layers = max(n, 2)
    for toggle in ("-oversample_thick", "-oversample_polar", "-oversample_omega"):
        if r() < 0.1:
            sampling.append(toggle)
    phisteps = 2 if "-img" in headers else 1  # the header's OSC_RANGE alone gives 2 steps
    u = r()
    if u < 0.25:
        phisteps = rng.randint(1, 5)
        sampling += ["-phi", _num(rng.uniform(-90.0, 90.0), 5),
                     "-osc", _num(rng.uniform(0.0, 5.0), 4), "-phisteps", str(phisteps)]
    elif u < 0.32:  # -osc with an exact -phistep: ceil(osc/step) steps
        osc = rng.uniform(0.1, 5.0)
        count = rng.randint(1, 4)
        sampling += ["-phi", _num(rng.uniform(-90.0, 90.0), 5), "-osc", _num(osc, 4),
                     "-phistep", _num(osc / count * rng.uniform(1.0, 1.2), 4)]
        phisteps = count + 1
    elif u < 0.36:  # -phisteps alone: osc := 1 degree
        phisteps = rng.randint(1, 5)
        sampling += ["-phisteps", str(phisteps)]
    domains = 1
    u = r()
    if u < 0.25:
        domains = rng.randint(1, 10)
        sampling += [rng.choice(("-mosaic", "-mosaic", "-mosaicity", "-mosaic_spread")),
                     _num(rng.uniform(0.01, 2.0), 4), "-mosaic_domains", str(domains)]
        if r() < 0.5:
            sampling += ["-mosaic_seed", str(rng.randint(1, 10 ** 6))]
    elif u < 0.29:  # spread alone: 10 domains (warning)
        sampling += ["-mosaic", _num(rng.uniform(0.01, 2.0), 4)]
        domains = 10
    elif u < 0.31:  # domains without a (positive) spread: 1 domain (warning)
        sampling += ["-mosaic_domains", str(rng.randint(1, 10))]
        if r() < 0.5:
            sampling += ["-mosaic", "0"]
    if r() < 0.15:
        sampling += ["-water", _num(rng.uniform(0.0, 300.0), 4)]
    if r() < 0.1:
        sampling += ["-dmin", _num(rng.uniform(0.5, 5.0), 4)]
    # ------------------------------------------------------------------ work bound
    sized_by_header = bool(headers) and r() < 0.85  # else -detpixels etc. win (Q37 with -mask)
    min_pix = ci.SMV_FPIXELS * ci.SMV_SPIXELS if sized_by_header else MIN_PIXELS * MIN_PIXELS
    groups = {"beam": beam_flags, "sampling": sampling}
    counts = {"sources": sources, "phisteps": phisteps, "domains": domains,
              "oversample": oversample * oversample, "layers": layers}
    max_steps = MAX_EVALUATIONS // min_pix
    while math.prod(counts.values()) > max_steps:
        name = max(counts, key=lambda k: counts[k])  # drop the largest repetition
        if name == "sources":
            for g in groups:
                groups[g] = _drop(groups[g], _SOURCE_FLAGS)
        elif name == "phisteps":
            groups["sampling"] = _drop(groups["sampling"], ("-phisteps", "-phistep"))
            groups["sampling"] = _drop(groups["sampling"], ("-osc",))
            groups["sampling"] += ["-osc", "0.5", "-phisteps", "1"]
        elif name == "domains":
            groups["sampling"] = _drop(groups["sampling"], ("-mosaic_domains",))
            groups["sampling"] += ["-mosaic_domains", "1"]
        elif name == "oversample":
            groups["sampling"] = _replace(groups["sampling"], "-oversample", "1")
        elif name == "layers":
            groups["sampling"] = _drop(groups["sampling"], _LAYER_FLAGS)
        counts[name] = 1
    beam_flags, sampling = groups["beam"], groups["sampling"]
    steps = math.prod(counts.values())
    side_max = max(MIN_PIXELS, min(MAX_PIXELS, int(math.sqrt(MAX_EVALUATIONS / steps))))
    detector += headers
    if sized_by_header:
        fpix, spix = ci.SMV_FPIXELS, ci.SMV_SPIXELS
        if r() < 0.5:
            pixel = ci.SMV_PIXEL_MM
        else:
            detector += ["-pixel", _num(pixel, 4)]
    else:
        fpix = rng.randint(MIN_PIXELS, side_max)
        spix = fpix if r() < 0.5 else rng.randint(MIN_PIXELS, side_max)
        detector += ["-pixel", _num(pixel, 4)]
        size = r() * (0.6 if headers else 1.0)  # header SIZE1/SIZE2 win over -detsize*
        if size < 0.35 and fpix == spix:
            detector += ["-detpixels", str(fpix)]
        elif size < 0.6:
            fflag, sflag = rng.choice((("-detpixels_f", "-detpixels_s"),
                                       ("-detpixels_x", "-detpixels_y")))
            detector += [fflag, str(fpix), sflag, str(spix)]
        else:
            # extents: ceil(size/pixel - 0.5) pixels, the size itself is kept
            def extent(n):
                return _num((n + rng.uniform(-0.4, 0.4)) * pixel, 6)
            if fpix == spix and r() < 0.5:
                detector += ["-detsize", extent(fpix)]
            else:
                detector += ["-detsize_f", extent(fpix), "-detsize_s", extent(spix)]
            if r() < 0.15:  # a pixel count wins over any extent
                detector += ["-detpixels", str(fpix)]
                spix = fpix
    # beam centre: near the middle, off the edge, or far away (high angles on the panel)
    centre = r()
    if centre < 0.45:
        width_f, width_s = fpix * pixel, spix * pixel
        far = 0.0 if centre < 0.25 else rng.uniform(0.5, 3.0)
        xb = width_f * (0.5 + rng.uniform(-0.5, 0.5) + far * rng.choice((-1, 1)))
        yb = width_s * (0.5 + rng.uniform(-0.5, 0.5) + far * rng.choice((-1, 1)))
        kind = rng.choice(("beam", "beam", "close", "org"))
        if kind == "beam":
            detector += ["-Xbeam", _num(xb, 5), "-Ybeam", _num(yb, 5)]
        elif kind == "close":
            detector += ["-Xclose", _num(xb, 5), "-Yclose", _num(yb, 5)]
        else:
            detector += ["-ORGX", _num(xb / pixel, 5), "-ORGY", _num(yb / pixel, 5)]
    # ------------------------------------------------------------------ outputs
    out: List[str] = []
    printout = r()
    small_roi = printout < 0.05
    if small_roi or r() < 0.15:
        out += _roi(rng, fpix, spix, small_roi)
    if small_roi:
        out.append("-printout")  # a block for every rendered pixel (at most 64)
    elif printout < 0.12:
        out += ["-printout_pixel", str(rng.randint(0, fpix - 1)), str(rng.randint(0, spix - 1))]
    if r() < 0.15:
        out += ["-scale", _num(rng.choice((0.0, math.exp(rng.uniform(math.log(0.01),
                                                                       math.log(1000.0))))), 4)]
    if r() < 0.15:
        out += ["-adc", _num(rng.choice((0.0, -5.0, rng.uniform(0.0, 100.0))), 4)]
    if outputs and r() < 0.25:
        out += [rng.choice(("-intfile", "-intfile", "-intimage")), OUTPUT_NAMES["int"]]
    pgm = r()
    if pgm < 0.15:
        out.append("-nopgm")
    elif outputs and pgm < 0.35:
        out += [rng.choice(("-pgmfile", "-pgmfile", "-pgmimage")), OUTPUT_NAMES["pgm"]]
    if r() < 0.12:
        out += ["-pgmscale", _num(rng.uniform(0.01, 100.0), 4)]  # (turns PGM back on)
    noise_on = True
    u = r()
    if u < 0.25:
        out.append("-nonoise")
        noise_on = False
    if outputs and r() < 0.25:
        # after -nonoise it turns noise back on (last wins)
        out += [rng.choice(("-noisefile", "-noisefile", "-noiseimage")), OUTPUT_NAMES["noise"]]
        noise_on = True
    if noise_on or r() < 0.3:
        out += ["-seed", str(rng.randint(-10 ** 6, 10 ** 9))]
    if r() < 0.1:
        out.append(rng.choice(("-progress", "-noprogress")))
    parts = [crystal, sf, beam_flags, detector, sampling, out]
    rng.shuffle(parts)  # flag order varies (the scan is order-independent for these)
    return [tok for g in parts for tok in g]


_SOURCE_FLAGS = ("-divergence", "-divsteps", "-hdivrange", "-hdivsteps", "-vdivrange",
                 "-vdivsteps", "-hdivstep", "-vdivstep", "-dispersion", "-dispsteps",
                 "-sourcefile")
_LAYER_FLAGS = ("-detector_thick", "-thicksteps", "-detector_thicksteps", "-detector_abs",
                "-detector_absorb")


def _drop(argv: List[str], flags: Sequence[str]) -> List[str]:
    """``argv`` without the given one-value flags (and their values)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _replace(argv: List[str], flag: str, value: str) -> List[str]:
    out = list(argv)
    for i, tok in enumerate(out[:-1]):
        if tok == flag:
            out[i + 1] = value
    return out
