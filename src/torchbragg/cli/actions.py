"""What each flag does to the parse state: the actions of :data:`torchbragg.cli.flags.FLAGS`.

An action is called as ``action(state, values, token, profile)``: ``state`` is a
:class:`~torchbragg.cli.state.ParseState`, written by target (``"beam.wavelength_m"``),
``values`` the tokens after the flag (at most :data:`~torchbragg.cli.flags.MAX_VALUES`).
Numbers follow C ``atof``/``atoi`` (docs/behaviour/cli.md §1.2); units are converted as the C
converts them.
"""
from __future__ import annotations

from torchbragg.cli.cnum import atof, atoi
from torchbragg.physics.vec3 import RTD


class SkipRest(Exception):
    """Raised by an action after which the C tests no further pattern on the token."""


def put(target, conv=atof, factor=None, divisor=None):
    """Set ``target`` to the first value converted by ``conv``, times ``factor`` or over
    ``divisor`` (the unit conversion)."""
    def act(st, args, tok, prof):
        v = conv(args[0])
        if factor is not None:
            v = v * factor
        if divisor is not None:
            v = v / divisor
        st[target] = v
    return act


def word(target):
    """Set ``target`` to the value token itself (a file name, a choice)."""
    def act(st, args, tok, prof):
        st[target] = args[0]
    return act


def const(target, value):
    def act(st, args, tok, prof):
        st[target] = value
    return act


def both(*acts):
    def act(st, args, tok, prof):
        for a in acts:
            a(st, args, tok, prof)
    return act


def vector(target):
    def act(st, args, tok, prof):
        st[target] = tuple(atof(a) for a in args[:3])
        st["detector.convention"] = "CUSTOM"  # any vector flag selects CUSTOM (docs/behaviour/quirks.md Q3)
    return act


def pix0(st, args, tok, prof):
    vals = tuple(atof(a) for a in args[:3])
    if "_mm" in tok and not prof.pix0_vector_ignored:
        vals = tuple(v * 1e-3 for v in vals)
    st["detector.pix0_vector_m"] = vals
    st["detector.convention"] = "CUSTOM"  # (docs/behaviour/quirks.md Q3)


def twotheta(st, args, tok, prof):
    if "-twotheta_axis" in tok and not prof.twotheta_axis_sets_angle:
        return  # corrected profile: the axis flag does not set the angle (Q4)
    st["detector.twotheta_rad"] = atof(args[0]) / RTD
    st["detector.pivot"] = "SAMPLE"


def cell(st, args, tok, prof):
    values = []
    for a in args:
        if a.startswith("-") or len(values) == 6:
            break
        values.append(atof(a))
    values += [0.0] * (6 - len(values))
    # as given, zeros for missing values (filled in after the scan)
    st["crystal.cell_A_rad"] = tuple(values[:3] + [v / RTD for v in values[3:]])


def misset(st, args, tok, prof):
    if tok != "-misset" and not prof.misset_seed_sets_misset and "-misset_seed" in tok:
        return  # corrected profile: -misset_seed is not -misset (Q7)
    if args and "rand" in args[0]:  # random misset: docs/behaviour/quirks.md Q8
        st["crystal.misset_random"] = True
        raise SkipRest
    if len(args) >= 3:
        st["crystal.misset_rad"] = tuple(atof(a) / RTD for a in args[:3])
        st["crystal.misset_random"] = False


def detector_abs(st, args, tok, prof):
    value = atof(args[0])
    if "inf" in args[0] or value == 0:  # docs/behaviour/quirks.md Q30
        st["detector.thickness_m"] = 0.0
        st["detector.mu_per_m"] = 0.0
    else:
        st["detector.mu_per_m"] = 1.0 / (value * 1e-6)


def divergence(st, args, tok, prof):
    st["beam.hdivrange_rad"] = st["beam.vdivrange_rad"] = atof(args[0]) / 1000.0


def divsteps(st, args, tok, prof):
    st["beam.hdivsteps"] = st["beam.vdivsteps"] = atoi(args[0])


def pivot(st, args, tok, prof):
    if "sample" in args[0]:
        st["detector.pivot"] = "SAMPLE"
    elif "beam" in args[0]:
        st["detector.pivot"] = "BEAM"


def convention(name, pivot):
    def act(st, args, tok, prof):
        st["detector.convention"] = name
        st["detector.pivot"] = pivot
    return act


def roi(st, args, tok, prof):
    # as given: -1 is the detector edge (resolved after the scan)
    st["sampling.roi"] = tuple(atoi(a) for a in args[:4])


def printout_pixel(st, args, tok, prof):
    st["run.printout_pixel"] = (atoi(args[0]), atoi(args[1]))
    st["run.printout"] = True


def trace_pixel(st, args, tok, prof):
    st.append("run.trace_pixels", (atoi(args[0]), atoi(args[1])))


def stol(st, args, tok, prof):
    st.append("run.stolfiles", (tok, args[0]))


def seed(target):
    """The C stores a seed negated."""
    def act(st, args, tok, prof):
        st[target] = -atoi(args[0])
    return act


def sizes(*targets):
    """Crystal size in mm, stored in metres."""
    def act(st, args, tok, prof):
        for t in targets:
            st[t] = atof(args[0]) / 1000.0
    return act


def cells(st, args, tok, prof):
    for axis in ("Na", "Nb", "Nc"):
        st[f"crystal.{axis}"] = atoi(args[0])


def detpixels(st, args, tok, prof):
    st["detector.fpixels"] = st["detector.spixels"] = atoi(args[0])


def detsize(st, args, tok, prof):
    st["detector.detsize_f_m"] = st["detector.detsize_s_m"] = atof(args[0]) / 1000.0


def energy(st, args, tok, prof):
    st["beam.wavelength_m"] = (12398.42 / atof(args[0])) / 1e10 if atof(args[0]) != 0 else float("inf")


def polar(st, args, tok, prof):
    st["beam.kahn_factor"] = atof(args[0])
    st["beam.nopolar"] = False  # -polar clears -nopolar (docs/behaviour/quirks.md Q31)


def output(target, switch):
    """An output file name; ``switch`` (``run.write_pgm``, ``run.write_noise``) turns its
    writing on."""
    def act(st, args, tok, prof):
        st[target] = args[0]
        st[switch] = True
    return act
