"""Compare a C trace with a PY trace (docs/behaviour/trace.md §9): alignment, tolerances, first
divergence."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from torchbragg.parity.tracefmt import (
    BLOCK_A, BLOCK_B, INTEGER_NAMES, PER_PIXEL, RUN_LEVEL, SCALING_CHAIN, Entry, Group, Trace,
    block_of, parse_number,
)

EXIT_OK, EXIT_MISMATCH, EXIT_STRUCTURE = 0, 1, 2

#: Default rtol per tolerance class: (PY in binary64, PY in binary32) —
#: docs/behaviour/trace.md §9.3.
CLASS_RTOL = {
    "geometry": (1e-12, 1e-6),
    "crystal": (1e-11, 1e-5),
    "ill-conditioned": (1e-9, 1e-4),
    "constants": (1e-12, 1e-6),
    "extension": (1e-9, 1e-4),
}
_GEOMETRY = frozenset(BLOCK_A)
_CRYSTAL = frozenset(n for n in BLOCK_B if n.startswith("rot_")) | {"hkl_frac"}
_ILL = frozenset(("F_latt_a", "F_latt_b", "F_latt_c", "F_latt", "F_cell", "I_before_scaling",
                  "I_pixel_final", "floatimage_accumulated"))
_CONSTANTS = frozenset(("r_e_meters", "r_e_sqr", "fluence_photons_per_m2", "capture_fraction",
                        "polar", "omega_pixel", "cos_2theta"))


def tolerance_class(name: str) -> str:
    """The §9.3 class of a name; names outside the table (extensions) are 'extension'."""
    if name in INTEGER_NAMES:
        return "exact"
    if name in _GEOMETRY or name in RUN_LEVEL or name.startswith("lambda_"):
        return "geometry"
    if name in _CRYSTAL or name.startswith("rot_"):
        return "crystal"
    if name in _ILL:
        return "ill-conditioned"
    if name in _CONSTANTS:
        return "constants"
    return "extension"


@dataclass
class Tolerances:
    """rtol per class for a dtype, with a global override and per-name overrides."""

    dtype: str = "float64"
    rtol: float | None = None                       # global override of every class
    per_name: dict[str, float] = field(default_factory=dict)
    atol: float = 0.0
    skip: frozenset[str] = frozenset()               # names never compared

    def rtol_for(self, name: str) -> float:
        if name in self.per_name:
            return self.per_name[name]
        if self.rtol is not None:
            return self.rtol
        cls = tolerance_class(name)
        if cls == "exact":
            return 0.0
        return CLASS_RTOL[cls][0 if self.dtype == "float64" else 1]

    def describe(self) -> dict:
        col = 0 if self.dtype == "float64" else 1
        classes = {k: (self.rtol if self.rtol is not None else v[col])
                   for k, v in CLASS_RTOL.items()}
        return {"dtype": self.dtype, "atol": self.atol, "rtol_global_override": self.rtol,
                "rtol_by_class": classes, "rtol_by_name": dict(self.per_name),
                "skipped_names": sorted(self.skip)}


@dataclass
class Result:
    """Comparison of one aligned key."""

    name: str
    k: int
    block: str
    status: str              # pass | warn | mismatch | shape | missing | extra | skipped
    c: Entry | None
    py: Entry | None
    abs_diff: list[float | None] = field(default_factory=list)
    rel_diff: list[float | None] = field(default_factory=list)
    rtol: float | None = None
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("mismatch", "shape", "missing", "extra")

    @property
    def structural(self) -> bool:
        return self.status in ("shape", "missing", "extra")

    def to_json(self) -> dict:
        d = {
            "name": self.name, "k": self.k, "block": self.block, "status": self.status,
            "c_values": self.c.values if self.c else None,
            "py_values": self.py.values if self.py else None,
            "abs_diff": [_json_num(x) for x in self.abs_diff],
            "rel_diff": [_json_num(x) for x in self.rel_diff],
            "rtol": self.rtol, "note": self.note or None,
        }
        if self.block in ("A", "B"):
            d["subpixel_index"] = self.k
            sub = (self.c or self.py).subpixel
            d["subpixel_marker"] = list(sub) if sub else None
        return d


def _json_num(x: float | None):
    if x is None or not math.isfinite(x):
        return None if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def compare_values(name: str, c_vals: list[str], p_vals: list[str], tol: Tolerances):
    """Status, per-component abs and rel diffs and a note for one aligned pair (§9.3)."""
    if len(c_vals) != len(p_vals):
        return "shape", [], [], f"{len(c_vals)} values on the C side, {len(p_vals)} on PY"
    cn = [parse_number(v) for v in c_vals]
    pn = [parse_number(v) for v in p_vals]
    exact = name in INTEGER_NAMES
    rtol = tol.rtol_for(name)
    finite = [abs(x) for x in (*cn, *pn) if x is not None and math.isfinite(x)]
    vec_scale = max(finite, default=0.0)
    status, notes, absd, reld = "pass", [], [], []
    for i, (cs, ps, c, p) in enumerate(zip(c_vals, p_vals, cn, pn)):
        if c is None or p is None:               # words: exact text
            absd.append(None)
            reld.append(None)
            if c is not None or p is not None or cs != ps:
                status = "mismatch"
            continue
        if math.isnan(c) or math.isnan(p):
            absd.append(math.nan)
            reld.append(math.nan)
            if math.isnan(c) and math.isnan(p):
                notes.append(f"component {i}: NaN on both sides")
                status = "warn" if status == "pass" else status
            else:
                status = "mismatch"
            continue
        if math.isinf(c) or math.isinf(p):
            same = c == p
            absd.append(0.0 if same else math.inf)
            reld.append(0.0 if same else math.inf)
            if not same:
                status = "mismatch"
            continue
        d = abs(c - p)
        scale = max(abs(c), abs(p)) if len(c_vals) == 1 else vec_scale
        absd.append(d)
        reld.append(d / scale if scale > 0 else (0.0 if d == 0 else math.inf))
        ok = (c == p) if exact else d <= tol.atol + rtol * scale
        if not ok:
            status = "mismatch"
    return status, absd, reld, "; ".join(notes)


@dataclass
class GroupComparison:
    """All results for one group (a pixel, or the run-level block), in C order then extras."""

    pixel: tuple[int, int] | None
    results: list[Result]

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if r.failed]

    @property
    def first_divergence(self) -> Result | None:
        for r in self.results:
            if r.failed and r.status != "extra":
                return r
        return next((r for r in self.results if r.failed), None)

    def last_pass_before(self, target: Result) -> Result | None:
        last = None
        for r in self.results:
            if r is target:
                return last
            if r.status in ("pass", "warn"):
                last = r
        return last

    def exit_status(self) -> int:
        if any(r.structural for r in self.results):
            return EXIT_STRUCTURE
        if any(r.failed for r in self.results):
            return EXIT_MISMATCH
        return EXIT_OK

    def counts(self) -> dict:
        out: dict[str, dict[str, int]] = {}
        for r in self.results:
            blk = out.setdefault(r.block, {})
            blk[r.status] = blk.get(r.status, 0) + 1
        return out

    def find(self, name: str, k: int) -> Result | None:
        return next((r for r in self.results if r.name == name and r.k == k), None)


def compare_groups(c: Group | None, py: Group | None, tol: Tolerances,
                   pixel=None, required: frozenset[str] = PER_PIXEL) -> GroupComparison:
    """Align by (name, k) and compare (§9.2).  ``required`` names are failures when missing."""
    c_entries = c.entries if c else []
    py_keyed = py.keyed() if py else {}
    seen = set()
    results = []
    for ce in c_entries:
        key = (ce.name, ce.k)
        pe = py_keyed.get(key)
        seen.add(key)
        results.append(_compare_entry(ce, pe, tol, required))
    for pe in (py.entries if py else []):
        if (pe.name, pe.k) in seen:
            continue
        failing = pe.name in required and not pe.informational and pe.name not in tol.skip
        results.append(Result(pe.name, pe.k, _block_label(pe.name), "extra" if failing else
                              "note-extra", None, pe,
                              note="extra key on the PY side" + (
                                  " (loop-structure divergence)" if failing else "")))
    return GroupComparison(pixel, results)


def _block_label(name: str) -> str:
    blk = block_of(name)
    return {"run": "run-level", "ext": "extension"}.get(blk, blk)


def _compare_entry(ce: Entry, pe: Entry | None, tol: Tolerances, required) -> Result:
    blk = _block_label(ce.name)
    if ce.name in tol.skip or ce.informational or (pe is not None and pe.informational):
        return Result(ce.name, ce.k, blk, "skipped", ce, pe, note="informational/skipped")
    if pe is None:
        status = "missing" if ce.name in required else "note-missing"
        return Result(ce.name, ce.k, blk, status, ce, None, note="key only on the C side")
    status, absd, reld, note = compare_values(ce.name, ce.values, pe.values, tol)
    rtol = None if ce.name in INTEGER_NAMES else tol.rtol_for(ce.name)
    return Result(ce.name, ce.k, blk, status, ce, pe, absd, reld, rtol, note)


@dataclass
class TraceComparison:
    """The run-level comparison plus one comparison per traced pixel."""

    run: GroupComparison
    pixels: list[GroupComparison]
    tolerances: Tolerances
    notes: list[str] = field(default_factory=list)

    def exit_status(self) -> int:
        """0/1/2 per §9.4; 2 as well when the two sides have no traced pixel in common."""
        if not self.pixels:
            return EXIT_STRUCTURE
        return max(self.run.exit_status(), *(p.exit_status() for p in self.pixels))


def compare_traces(c: Trace, py: Trace, tol: Tolerances) -> TraceComparison:
    """Compare two parsed traces pixel by pixel."""
    notes = []
    run = compare_groups(c.run, py.run, tol, pixel=None, required=frozenset())
    pairs = _pair_pixels(c, py, notes)
    pixels = [compare_groups(cg, pg, tol, pixel=pix) for pix, cg, pg in pairs]
    if not pixels:
        notes.append("the two traces have no traced pixel in common")
    return TraceComparison(run, pixels, tol, notes)


def _pair_pixels(c: Trace, py: Trace, notes: list[str]):
    c_groups = [g for g in c.pixels if g.entries]
    p_groups = [g for g in py.pixels if g.entries]
    # One unnamed group on a side pairs with the single group of the other side.
    if len(c_groups) == 1 and len(p_groups) == 1 and None in (c_groups[0].pixel,
                                                               p_groups[0].pixel):
        pix = c_groups[0].pixel or p_groups[0].pixel
        if c_groups[0].pixel != p_groups[0].pixel:
            notes.append("one side has no pixel marker; its trace is paired with the other's "
                         f"pixel {pix}")
        return [(pix, c_groups[0], p_groups[0])]
    # A pixel traced on one side only is a note (coverage, not a divergence).
    pairs = []
    for cg in c_groups:
        pg = next((g for g in p_groups if g.pixel == cg.pixel), None)
        if pg is None:
            notes.append(f"pixel {_fmt_pixel(cg.pixel)}: traced on the C side only")
        else:
            pairs.append((cg.pixel, cg, pg))
    for pg in p_groups:
        if not any(g.pixel == pg.pixel for g in c_groups):
            notes.append(f"pixel {_fmt_pixel(pg.pixel)}: traced on the PY side only")
    return pairs


def _fmt_pixel(pix) -> str:
    return "(unnamed)" if pix is None else f"(slow {pix[0]}, fast {pix[1]})"


def first_divergence_json(gc: GroupComparison) -> dict | None:
    """The §9.4 first-divergence record of a group (None when every key passed)."""
    r = gc.first_divergence
    if r is None:
        return None
    d = r.to_json()
    last = gc.last_pass_before(r)
    d["last_passing"] = None if last is None else {"name": last.name, "k": last.k,
                                                   "block": last.block}
    if r.name.startswith("F_latt"):
        hkl = gc.find("hkl_frac", r.k)
        d["hkl_frac"] = hkl.to_json() if hkl else None
    return d


def group_json(gc: GroupComparison) -> dict:
    return {
        "pixel": list(gc.pixel) if gc.pixel is not None else None,
        "exit_status": gc.exit_status(),
        "first_divergence": first_divergence_json(gc),
        "counts": gc.counts(),
        "failures": [r.to_json() for r in gc.failures],
        "missing": [[r.name, r.k] for r in gc.results if r.status in ("missing",
                                                                       "note-missing")],
        "extra": [[r.name, r.k] for r in gc.results if r.status in ("extra", "note-extra")],
        "warnings": [r.to_json() for r in gc.results if r.status == "warn"],
        "scaling_chain": [scaling_row(gc, name) for name in SCALING_CHAIN],
    }


def scaling_row(gc: GroupComparison, name: str) -> dict:
    r = gc.find(name, 0)
    if r is None:
        return {"name": name, "c": None, "py": None, "abs_diff": None, "rel_diff": None,
                "status": "absent"}
    return {
        "name": name,
        "c": " ".join(r.c.values) if r.c else None,
        "py": " ".join(r.py.values) if r.py else None,
        "abs_diff": _json_num(max((x for x in r.abs_diff if x is not None), default=None)
                              if r.abs_diff else None),
        "rel_diff": _json_num(max((x for x in r.rel_diff if x is not None), default=None)
                              if r.rel_diff else None),
        "status": r.status,
    }


def comparison_json(tc: TraceComparison) -> dict:
    """The trace part of metrics.json (docs/parity.md)."""
    return {
        "exit_status": tc.exit_status(),
        "tolerances": tc.tolerances.describe(),
        "run_level": group_json(tc.run),
        "pixels": [group_json(p) for p in tc.pixels],
        "notes": tc.notes,
    }


__all__ = ["CLASS_RTOL", "Tolerances", "compare_traces", "comparison_json", "tolerance_class",
           "compare_values", "EXIT_OK", "EXIT_MISMATCH", "EXIT_STRUCTURE"]
