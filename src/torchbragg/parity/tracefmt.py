"""Parse and normalise per-pixel traces (docs/behaviour/trace.md §6, §7, §9.1).

A trace file is any text; the lines of one side are selected by prefix (``TRACE_C:`` and the
legacy forms of the instrumented C copy for the C side, ``TRACE_PY:`` for the PyTorch side).
Each kept line becomes an :class:`Entry` (name, occurrence k, value tokens).  Entries are then
grouped into a run-level group and one group per traced pixel (:class:`Trace`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from torchbragg.parity.readfile import read_text

# --------------------------------------------------------------------------- name tables
BLOCK_A = (
    "pix0_vector_meters", "fdet_vec", "sdet_vec", "pixel_pos_meters", "R_distance_meters",
    "omega_pixel_sr", "close_distance_meters", "obliquity_factor", "diffracted_vec",
    "incident_vec", "lambda_meters", "lambda_angstroms", "scattering_vec_A_inv",
)
BLOCK_B = (
    "rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms", "rot_a_star_A_inv",
    "rot_b_star_A_inv", "rot_c_star_A_inv", "hkl_frac", "hkl_rounded", "F_latt_a", "F_latt_b",
    "F_latt_c", "F_latt", "F_cell",
)
#: Block C, the scaling chain, in its fixed order (docs/behaviour/trace.md §6.3).
SCALING_CHAIN = (
    "I_before_scaling", "r_e_meters", "r_e_sqr", "fluence_photons_per_m2", "steps",
    "oversample_thick", "oversample_polar", "oversample_omega", "capture_fraction", "polar",
    "omega_pixel", "cos_2theta", "I_pixel_final", "floatimage_accumulated",
)
PER_PIXEL = frozenset(BLOCK_A + BLOCK_B + SCALING_CHAIN)

#: Run-level names (§6.2 item 1) plus the extra run-level names of instrumented C builds (§4).
RUN_LEVEL = frozenset((
    "trace_pixel", "detector_convention", "detector_pivot", "detector_rotx_rad",
    "detector_roty_rad", "detector_rotz_rad", "detector_twotheta_rad", "twotheta_axis", "Rx",
    "Ry", "Rz", "R_total", "fdet_after_twotheta", "sdet_after_twotheta", "odet_after_twotheta",
    "Fbeam_m", "Sbeam_m", "distance_m", "Fclose_m", "Sclose_m", "close_distance_m", "ratio",
    "term_fast", "term_slow", "term_beam", "pix0_vector", "fdet_after_rotz", "sdet_after_rotz",
    "odet_after_rotz", "beam_center_m", "initial_fdet", "initial_sdet", "initial_odet",
    "convention_mapping", "term_fast_before_rot", "term_slow_before_rot",
    "term_close_before_rot", "pix0_before_rotation", "pix0_after_rotz", "pix0_after_twotheta",
))
#: Names compared for exact equality (§9.3).
INTEGER_NAMES = frozenset((
    "steps", "hkl_rounded", "oversample_thick", "oversample_polar", "oversample_omega",
    "trace_pixel",
))
#: Context markers: recorded, never compared.
MARKERS = frozenset(("pixel", "subpixel"))
#: Legacy ``TRACE_C:<name>=…`` lines that are hard-coded or buggy in the 2023 copy (§4, §7).
LEGACY_INFORMATIONAL = frozenset((
    "detector_convention", "beam_center_m", "initial_fdet", "initial_sdet", "initial_odet",
    "convention_mapping",
))
#: Legacy channels dropped outright (§7).
_DROPPED_PREFIXES = ("TRACE_C_TAP5", "TRACE_C_SOURCE2")

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*$")
_CONFIG_RE = re.compile(r"TRACE_CONFIG: tracing pixel \(spixel=(-?\d+), fpixel=(-?\d+)\)")
_PREFIX_RE = re.compile(r"TRACE_(?:C|PY|CONFIG)[:_ ]")


class TraceParseError(ValueError):
    """A trace file cannot be read or holds a malformed trace line."""


def block_of(name: str) -> str:
    """'A', 'B', 'C', 'run' or 'ext' (extension / unknown name)."""
    if name in BLOCK_A:
        return "A"
    if name in BLOCK_B:
        return "B"
    if name in SCALING_CHAIN:
        return "C"
    if name in RUN_LEVEL:
        return "run"
    return "ext"


def parse_number(token: str) -> float | None:
    """The float a token denotes (``nan``, ``-nan``, ``inf`` included) or None for a word."""
    low = token.lower()
    if low in ("nan", "-nan", "+nan"):
        return math.nan
    try:
        return float(token)
    except ValueError:
        return None


@dataclass
class Entry:
    """One normalised trace quantity."""

    name: str
    values: list[str]
    lineno: int                    # 1-based line number in the source text
    informational: bool = False    # never compared (legacy hard-coded/buggy lines)
    k: int = 0                     # occurrence count of the name within its group
    order: int = 0                 # position in the side's file order (all groups)
    subpixel: tuple[int, ...] | None = None  # last `subpixel t subS subF` marker seen

    @property
    def block(self) -> str:
        return block_of(self.name)

    @property
    def numbers(self) -> list[float | None]:
        return [parse_number(v) for v in self.values]

    def text(self, side: str) -> str:
        return f"TRACE_{side}: {self.name} {' '.join(self.values)}".rstrip()


# --------------------------------------------------------------------------- line level
def normalise_line(line: str, side: str) -> list[tuple[str, list[str], bool]]:
    """Normalise one raw line of ``side`` ('C' or 'PY') per docs/behaviour/trace.md §7.

    Returns a list of ``(name, value_tokens, informational)``; empty when the line is not a
    trace line of that side (narrative ``TRACE:`` lines, ``DETECTOR_…``, other output).
    A trace line glued to the end of other output (the C prints some warnings without a
    newline) is recovered from its ``TRACE_`` prefix.
    """
    line = line.rstrip("\r\n")
    if not line.startswith("TRACE_"):
        m = _PREFIX_RE.search(line)
        if not m:
            return []
        line = line[m.start():]
    if side == "C":
        if line.startswith("TRACE_CONFIG:"):
            m = _CONFIG_RE.match(line)
            if not m:
                raise TraceParseError(f"malformed TRACE_CONFIG line: {line!r}")
            return [("trace_pixel", [m.group(1), m.group(2)], False)]
        if line.startswith("TRACE_C_PHI"):
            return [("phi_step_legacy", _legacy_phi_values(line), False)]
        if line.startswith(_DROPPED_PREFIXES):
            return []
    prefix = f"TRACE_{side}:"
    if not line.startswith(prefix):
        return []
    body = line[len(prefix):]
    if body.startswith(" "):
        tokens = body.split()
        if not tokens:
            raise TraceParseError(f"trace line without a name: {line!r}")
        name = tokens[0]
        if not _NAME_RE.match(name):
            raise TraceParseError(f"bad trace name {name!r} in line: {line!r}")
        return [(name, tokens[1:], False)]
    # legacy run-level form TRACE_C:<name>=<values>
    name, eq, rest = body.partition("=")
    if not eq or not _NAME_RE.match(name):
        raise TraceParseError(f"malformed trace line: {line!r}")
    if name in LEGACY_INFORMATIONAL:
        return [(name, rest.split(), True)]
    if name == "angles_rad":
        parts = dict(_colon_pairs(rest))
        try:
            return [(f"detector_{axis}_rad", [parts[axis]], False)
                    for axis in ("rotx", "roty", "rotz", "twotheta")]
        except KeyError as exc:
            raise TraceParseError(f"angles_rad line lacks {exc.args[0]}: {line!r}") from None
    rest = rest.strip()
    if rest.startswith("[") and rest.endswith("]"):
        rest = rest[1:-1].replace(";", " ")
    return [(name, rest.split(), False)]


def _colon_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for tok in text.split():
        key, sep, value = tok.partition(":")
        if sep:
            pairs.append((key, value))
    return pairs


def _legacy_phi_values(line: str) -> list[str]:
    """``TRACE_C_PHI phi_tic=i phi_deg=d k_frac=k F_latt_b=b F_latt=L`` → [i, d, k, b, L]."""
    body = line[len("TRACE_C_PHI"):].lstrip(":")
    return [tok.partition("=")[2] for tok in body.split() if "=" in tok]


# --------------------------------------------------------------------------- file level
@dataclass
class Group:
    """The entries of one traced pixel (or of the run-level block)."""

    pixel: tuple[int, int] | None
    entries: list[Entry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        entry.k = self.counts.get(entry.name, 0)
        self.counts[entry.name] = entry.k + 1
        self.entries.append(entry)

    def keyed(self) -> dict[tuple[str, int], Entry]:
        return {(e.name, e.k): e for e in self.entries}


@dataclass
class Trace:
    """One side's trace: a run-level group and per-pixel groups in order of first appearance."""

    side: str
    run: Group
    pixels: list[Group]
    markers: list[Entry]

    @property
    def empty(self) -> bool:
        return not self.run.entries and not any(g.entries for g in self.pixels)

    def pixel_group(self, pixel: tuple[int, int] | None) -> Group | None:
        for group in self.pixels:
            if group.pixel == pixel:
                return group
        return None


def parse_trace(text: str, side: str) -> Trace:
    """Parse the ``side`` lines of ``text`` into a :class:`Trace` (docs/behaviour/trace.md §9.1).

    Grouping: ``trace_pixel S F`` and ``pixel S F`` lines select the pixel that following
    per-pixel (Block A/B/C) and extension lines belong to; run-level lines always go to the
    run-level group.  Lines before any marker belong to an unnamed pixel (``pixel=None``).
    ``trace_pixel`` lines are kept with the markers: the pixels are matched by coordinates
    (so the two sides may list them in different orders), not by occurrence.
    """
    if side not in ("C", "PY"):
        raise ValueError(f"side must be 'C' or 'PY', not {side!r}")
    run = Group(pixel=None)
    pixels: list[Group] = []
    markers: list[Entry] = []
    current: Group | None = None
    subpixel: tuple[int, ...] | None = None
    order = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        for name, values, info in normalise_line(line, side):
            entry = Entry(name, values, lineno, informational=info, order=order,
                          subpixel=subpixel)
            order += 1
            if name in ("trace_pixel", "pixel"):
                pix = _pixel_of(entry)
                if current is None or current.pixel != pix:
                    current = _find_or_add(pixels, pix)
                subpixel = None
                markers.append(entry)
                continue
            if name == "subpixel":
                subpixel = _ints(entry)
                markers.append(entry)
                continue
            if block_of(name) == "run":
                run.add(entry)
                continue
            if current is None:
                current = _find_or_add(pixels, None)
            current.add(entry)
    return Trace(side, run, pixels, markers)


def _ints(entry: Entry) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in entry.values)
    except ValueError:
        raise TraceParseError(
            f"line {entry.lineno}: {entry.name} needs integer values, got {entry.values}"
        ) from None


def _pixel_of(entry: Entry) -> tuple[int, int]:
    vals = _ints(entry)
    if len(vals) != 2:
        raise TraceParseError(f"line {entry.lineno}: {entry.name} needs 2 integers (slow fast)")
    return (vals[0], vals[1])


def _find_or_add(groups: list[Group], pixel: tuple[int, int] | None) -> Group:
    for group in groups:
        if group.pixel == pixel:
            return group
    group = Group(pixel=pixel)
    groups.append(group)
    return group


def read_trace(path, side: str) -> Trace:
    """Read and parse a trace file; raises :class:`TraceParseError` when unreadable."""
    try:
        text = read_text(path, errors="replace")
    except OSError as exc:
        raise TraceParseError(f"cannot read trace file {path}: {exc.strerror}") from None
    return parse_trace(text, side)


def trace_lines(text: str, side: str) -> list[str]:
    """The raw lines of ``text`` that :func:`normalise_line` keeps for ``side``."""
    kept = []
    for line in text.splitlines():
        try:
            if normalise_line(line, side):
                kept.append(line)
        except TraceParseError:
            kept.append(line)  # keep malformed lines so the comparator reports them
    return kept


def normalised_text(trace: Trace) -> str:
    """The trace in the normalised grammar of §6.1 (informational lines included)."""
    entries = sorted([*trace.run.entries, *trace.markers,
                      *(e for g in trace.pixels for e in g.entries)], key=lambda e: e.order)
    return "".join(e.text(trace.side) + "\n" for e in entries)
