"""Random nanoBragg command lines: the campaign's ``random`` suite and the float32 survey.

:func:`random_argv` draws one valid command line from a :class:`random.Random`. It is a pure
function of the generator's state (no I/O, no clock, no global random state), so a seed names
a case: ``random_argv(random.Random(seed))`` is the same list on every machine and Python
version (it uses only ``random()``, ``randint``, ``choice``, ``uniform`` and ``shuffle``).

Families and ranges (each drawn independently; the probabilities are in the code):

* **cell** — cubic, tetragonal, orthorhombic, monoclinic, hexagonal or triclinic; edges
  15–200 Å, triclinic angles 60°–120° (only shapes with a real volume); optional misset
  (three angles in ±180°, or ``-misset random -misset_seed S``).
* **crystal size** — ``-N n`` or ``-Na/-Nb/-Nc`` (1–30 each, sometimes 1 on one axis);
  shapes ``-square_xtal`` (default), ``-round_xtal``, ``-gauss_xtal``, ``-tophat_spots``/
  ``-binary_spots``, with ``-fudge`` 0.5–2 sometimes.
* **structure factors** — ``-default_F`` 1–1000; with ``hkl_files`` given, sometimes
  ``-hkl FILE`` (then ``-interpolate``/``-nointerpolate`` or the automatic choice).
* **beam** — ``-lambda`` 0.5–3 Å or ``-energy`` 4–25 keV; divergence (``-divergence`` or
  ``-hdivrange``/``-vdivrange`` 0–2 mrad, 1–3 steps each, ``-round_div``/``-square_div``);
  dispersion 0–5 % with 1–3 steps; polarization ``-polar`` 0–1, ``-nopolar`` or a
  ``-polar_vector``.
* **detector** — 16–128 pixels per side (``-detpixels`` or ``-detpixels_f/_s``), pixel
  0.05–1 mm, ``-distance`` 20–500 mm (or ``-close_distance``); conventions ``-mosflm``,
  ``-xds``, ``-denzo``, ``-adxv``, ``-dials`` or custom ``-fdet/-sdet/-odet_vector``
  (an orthonormal frame, uniformly oriented or near-grazing: the detector plane within
  0.5°–10° of containing the beam) with a ``-beam_vector`` sometimes; beam centre
  (``-Xbeam/-Ybeam``, ``-Xclose/-Yclose``, ``-ORGX/-ORGY``) anywhere from the detector centre
  to a few detector widths away; ``-detector_rotx/y/z`` ±30°, ``-twotheta`` 0°–90°;
  ``-point_pixel``; ``-curved_det``.
* **sampling** — ``-oversample`` 1–3 (always explicit: the automatic value can be huge),
  ``-oversample_thick``/``_polar``/``_omega``, a sensor ``-detector_thick`` 10–500 µm with
  ``-detector_abs`` and 1–3 ``-thicksteps``; ``-phi``, ``-osc`` 0–5°, ``-phisteps`` 1–5;
  ``-mosaic`` 0–2° with 1–10 ``-mosaic_domains``, ``-mosaic_seed``; ``-water`` 0–300 µm;
  ``-dmin`` 0.5–5 Å.

Work bound: the number of kernel evaluations (pixels × sub-pixels × layers × sources ×
φ steps × domains) stays under :data:`MAX_EVALUATIONS`, so a case renders in about a second
on a laptop core; the detector is shrunk (never below 16 pixels a side) and step counts are
lowered to fit. Output flags are never drawn (the caller adds them).
"""
from __future__ import annotations

import math
import random
from typing import List, Sequence

#: upper bound on kernel evaluations per case
MAX_EVALUATIONS = 1_000_000
MIN_PIXELS, MAX_PIXELS = 16, 128

CONVENTIONS = ("-mosflm", "-xds", "-denzo", "-adxv", "-dials")


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


def random_argv(rng: random.Random, hkl_files: Sequence[str] = ()) -> List[str]:
    """One random, valid nanoBragg command line (see the module docstring for the families).

    ``hkl_files``: structure-factor files a case may name with ``-hkl`` (none by default,
    then every case uses ``-default_F``; the strings are used as given, nothing is read).
    """
    r = rng.random
    argv: List[str] = []
    # ------------------------------------------------------------------ crystal
    argv += _cell(rng)
    if r() < 0.3:
        if r() < 0.2:
            argv += ["-misset", "random", "-misset_seed", str(rng.randint(1, 10 ** 6))]
        else:
            argv += ["-misset"] + [_num(rng.uniform(-180, 180), 5) for _ in range(3)]
    if r() < 0.5:
        argv += ["-N", str(rng.randint(1, 30))]
    else:
        ns = [rng.randint(1, 30) for _ in range(3)]
        if r() < 0.15:
            ns[rng.randint(0, 2)] = 1
        for flag, n in zip(("-Na", "-Nb", "-Nc"), ns):
            argv += [flag, str(n)]
    shape = rng.choice(("", "", "", "-square_xtal", "-round_xtal", "-gauss_xtal",
                        "-tophat_spots", "-binary_spots"))
    if shape:
        argv.append(shape)
        if r() < 0.2:
            argv += ["-fudge", _num(rng.uniform(0.5, 2.0), 4)]
    argv += ["-default_F", _num(rng.uniform(1.0, 1000.0), 5)]
    if hkl_files and r() < 0.25:
        argv += ["-hkl", rng.choice(list(hkl_files))]
        argv += rng.choice(([], ["-interpolate"], ["-nointerpolate"]))
    # ------------------------------------------------------------------ beam
    if r() < 0.8:
        argv += ["-lambda", _num(rng.uniform(0.5, 3.0), 5)]
    else:
        argv += ["-energy", _num(rng.uniform(4000.0, 25000.0), 6)]
    sources = 1
    if r() < 0.2:
        if r() < 0.4:
            argv += ["-divergence", _num(rng.uniform(0.0, 2.0), 4)]
            n = rng.randint(1, 3)
            argv += ["-divsteps", str(n)]
            sources *= max(n, 2) ** 2
        else:
            for axis in ("h", "v"):
                if r() < 0.7:
                    n = rng.randint(1, 3)
                    argv += [f"-{axis}divrange", _num(rng.uniform(0.0, 2.0), 4),
                             f"-{axis}divsteps", str(n)]
                    sources *= max(n, 2)
        if r() < 0.5:
            argv.append(rng.choice(("-round_div", "-square_div")))
    if r() < 0.2:
        n = rng.randint(1, 3)
        argv += ["-dispersion", _num(rng.uniform(0.0, 5.0), 4), "-dispsteps", str(n)]
        sources *= max(n, 2)
    pol = r()
    if pol < 0.3:
        argv += ["-polar", _num(rng.uniform(0.0, 1.0), 4)]
    elif pol < 0.4:
        argv.append("-nopolar")
    # ------------------------------------------------------------------ detector
    detector: List[str] = []
    beam = (1.0, 0.0, 0.0)  # MOSFLM/CUSTOM default
    conv = r()
    if conv < 0.3:
        detector.append(rng.choice(CONVENTIONS))
    elif conv < 0.55:
        if r() < 0.25:
            beam = _unit(tuple(b + 0.02 * c for b, c in zip(beam, _random_unit(rng))))
            detector += _vec("-beam_vector", beam)
        f, s, o = _frame(rng, beam, grazing=r() < 0.6)
        detector += _vec("-fdet_vector", f) + _vec("-sdet_vector", s) + _vec("-odet_vector", o)
    pixel = round(math.exp(rng.uniform(math.log(0.05), math.log(1.0))), 4)
    if r() < 0.8:
        detector += ["-distance", _num(math.exp(rng.uniform(math.log(20), math.log(500))), 5)]
    else:
        detector += ["-close_distance",
                     _num(math.exp(rng.uniform(math.log(20), math.log(500))), 5)]
    for axis in ("x", "y", "z"):
        if r() < 0.15:
            detector += [f"-detector_rot{axis}", _num(rng.uniform(-30.0, 30.0), 4)]
    if r() < 0.2:
        detector += ["-twotheta", _num(rng.uniform(0.0, 90.0), 4)]
    if r() < 0.1:
        detector.append("-point_pixel")
    if r() < 0.1:
        detector.append("-curved_det")  # (never last: the pixel flags follow it)
    # ------------------------------------------------------------------ sampling
    oversample = rng.choice((1, 1, 1, 2, 2, 3))
    sampling = ["-oversample", str(oversample)]
    layers = 1
    if r() < 0.2:
        n = rng.randint(1, 3)
        sampling += ["-detector_thick", _num(rng.uniform(10.0, 500.0), 4), "-thicksteps", str(n)]
        if r() < 0.6:
            sampling += ["-detector_abs", _num(rng.uniform(50.0, 1000.0), 4)]
        layers = max(n, 2)
    for toggle in ("-oversample_thick", "-oversample_polar", "-oversample_omega"):
        if r() < 0.1:
            sampling.append(toggle)
    phisteps = 1
    if r() < 0.3:
        phisteps = rng.randint(1, 5)
        sampling += ["-phi", _num(rng.uniform(-90.0, 90.0), 5),
                     "-osc", _num(rng.uniform(0.0, 5.0), 4), "-phisteps", str(phisteps)]
    domains = 1
    if r() < 0.25:
        domains = rng.randint(1, 10)
        sampling += ["-mosaic", _num(rng.uniform(0.01, 2.0), 4), "-mosaic_domains", str(domains)]
        if r() < 0.5:
            sampling += ["-mosaic_seed", str(rng.randint(1, 10 ** 6))]
    if r() < 0.15:
        sampling += ["-water", _num(rng.uniform(0.0, 300.0), 4)]
    if r() < 0.1:
        sampling += ["-dmin", _num(rng.uniform(0.5, 5.0), 4)]
    # ------------------------------------------------------------------ work bound
    counts = {"sources": sources, "phisteps": phisteps, "domains": domains,
              "oversample": oversample * oversample, "layers": layers}
    max_steps = MAX_EVALUATIONS // (MIN_PIXELS * MIN_PIXELS)
    while math.prod(counts.values()) > max_steps:
        name = max(counts, key=lambda k: counts[k])  # drop the largest repetition
        if name == "sources":
            sampling, argv = _drop(sampling, _SOURCE_FLAGS), _drop(argv, _SOURCE_FLAGS)
        elif name == "phisteps":
            sampling = _replace(sampling, "-phisteps", "1")
        elif name == "domains":
            sampling = _replace(sampling, "-mosaic_domains", "1")
        elif name == "oversample":
            sampling = _replace(sampling, "-oversample", "1")
        elif name == "layers":
            sampling = _drop(sampling, ("-detector_thick", "-thicksteps", "-detector_abs"))
        counts[name] = 1
    steps = math.prod(counts.values())
    side_max = max(MIN_PIXELS, min(MAX_PIXELS, int(math.sqrt(MAX_EVALUATIONS / steps))))
    fpix = rng.randint(MIN_PIXELS, side_max)
    if r() < 0.5:
        detector += ["-detpixels", str(fpix)]
        spix = fpix
    else:
        spix = rng.randint(MIN_PIXELS, side_max)
        detector += ["-detpixels_f", str(fpix), "-detpixels_s", str(spix)]
    detector += ["-pixel", _num(pixel, 4)]
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
    groups = [argv, detector, sampling]
    rng.shuffle(groups)  # flag order varies (the scan is order-independent for these)
    return [tok for g in groups for tok in g]


_SOURCE_FLAGS = ("-divergence", "-divsteps", "-hdivrange", "-hdivsteps", "-vdivrange",
                 "-vdivsteps", "-dispersion", "-dispsteps")


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
