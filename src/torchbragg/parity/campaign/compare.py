"""Compare two sides of a case role by role and give the case its verdict.

Roles: ``exit`` (status), ``files`` (the set of files written), ``float`` (raw image),
``int``/``noise`` (SMV), ``pgm``, ``fdump``, ``stdout`` and ``file`` (any other file).
In float64 every role must be byte-identical (stdout: line by line, less the volatile lines);
in float32 the float image must be within the tolerance and the other roles are reported but
do not decide (an SMV count or a printed statistic may move with the last float bit).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from torchbragg.parity.sides import detector_size

#: relative L2 allowed to a float32 image (docs/campaign.md; README "-dtype")
FLOAT32_REL_L2 = 5e-6
#: stdout lines allowed to differ everywhere: the C's mmap report (README) and the usage
#: text's option lines (docs/behaviour/cli.md §7 gives their layout and order, not their words)
VOLATILE = (r"^mmap\(", r"^\t-[^\t]*\t")
#: the C's progress meter (docs/behaviour/cli.md §8.3), cut out of the stream wherever it starts
#: (after the interpolation warning it continues that warning's line)
PROGRESS = re.compile(r"\d+% done\n")

PASSING = ("identical", "within_tolerance", "guard_ok")
FAILING = ("divergent", "guard_failed", "error")
VERDICTS = PASSING + FAILING + ("c_fault",)
ROLE_ORDER = ("exit", "files", "float", "int", "noise", "pgm", "fdump", "file", "stdout")

_OUTPUT_FLAGS = (("-floatfile", "float"), ("-floatimage", "float"), ("-intfile", "int"),
                 ("-intimage", "int"), ("-pgmfile", "pgm"), ("-pgmimage", "pgm"),
                 ("-noisefile", "noise"), ("-noiseimage", "noise"))
_DEFAULT_NAMES = {"floatimage.bin": "float", "intimage.img": "int", "image.pgm": "pgm",
                  "noiseimage.img": "noise", "Fdump.bin": "fdump"}


def output_roles(argv: Sequence[str]) -> dict[str, str]:
    """File name → role for the outputs a command line names (defaults included)."""
    roles = dict(_DEFAULT_NAMES)
    for i, tok in enumerate(argv[:-1]):
        for flag, role in _OUTPUT_FLAGS:
            if tok.startswith(flag):
                roles[argv[i + 1]] = role
        if tok == "-dump":
            roles[argv[i + 1]] = "fdump"
    return roles


#: stdout lines that follow the noise seed, volatile when the seed comes from the clock
TIME_SEED_VOLATILE = (r"^\s*seed: ", r"photons on noise image")


def time_seeded(argv: Sequence[str]) -> bool:
    """True when the noise seed is the clock's (no ``-seed`` flag:
    docs/behaviour/cli.md ``-seed*``).

    The noise image and the lines printing the seed then differ between any two runs made
    in different seconds; they are reported as ``volatile``, not judged.
    """
    return not any(tok.startswith("-") and "-seed" in tok for tok in argv)


def stdout_lines(text: str, volatile: Sequence[str] = ()) -> list[str]:
    """The stdout lines that must agree (the volatile patterns removed)."""
    pats = [re.compile(p) for p in (*VOLATILE, *volatile)]
    return [line for line in PROGRESS.sub("", text).splitlines()
            if not any(p.search(line) for p in pats)]


@dataclass
class RoleResult:
    role: str
    name: str
    #: identical | within | volatile | differs | missing_ref | missing_test
    status: str
    detail: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"role": self.role, "name": self.name, "status": self.status, **self.detail}


def _num(x: float):
    """A JSON-safe number: non-finite values as the strings ``inf``, ``-inf``, ``nan``."""
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))


def float_metrics(ref: np.ndarray, test: np.ndarray, fpixels: int | None) -> dict:
    """Differences of two float32 images (flat arrays of one size); non-finite numbers as
    strings (:func:`_num`), ``*_value`` fields keep the float for comparisons."""
    r, t = ref.astype(np.float64), test.astype(np.float64)
    both_nan = np.isnan(r) & np.isnan(t)
    d = np.where(both_nan, 0.0, np.abs(t - r))
    d = np.where(np.isnan(d), np.inf, d)
    finite_ref = r[np.isfinite(r)]
    scale = float(np.max(np.abs(finite_ref))) if finite_ref.size else 0.0
    norm = float(np.sqrt(np.sum(finite_ref * finite_ref))) if finite_ref.size else 0.0
    differing = int(np.count_nonzero(ref.view(np.uint32) != test.view(np.uint32)))
    worst = int(np.argmax(d)) if d.size else 0
    max_abs = float(d[worst]) if d.size else 0.0
    l2 = float(np.sqrt(np.sum(np.where(np.isfinite(d), d, 0.0) ** 2)))
    max_rel = (max_abs / scale) if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    rel_l2 = (l2 / norm) if norm > 0 else (0.0 if l2 == 0 else math.inf)
    out = {"pixels": int(ref.size), "pixels_differing": differing, "max_abs": _num(max_abs),
           "max_rel": _num(max_rel), "rel_l2": _num(rel_l2),
           "non_finite_mismatch": bool(np.any(np.isinf(d)))}
    if fpixels and differing:
        out["worst_pixel"] = [worst // fpixels, worst % fpixels]
        out["worst_ref"], out["worst_test"] = _num(float(ref[worst])), _num(float(test[worst]))
    return out


def score(detail: dict) -> float:
    """``max_rel`` of :func:`float_metrics` as a float (for ordering cases)."""
    value = detail.get("max_rel", 0.0)
    return float(value) if value is not None else 0.0


def _read_float(path: Path) -> np.ndarray | None:
    data = path.read_bytes()
    if len(data) % 4:
        return None
    return np.frombuffer(data, dtype="<f4")


def compare_sides(ref, test, argv: Sequence[str], dtype: str, *, volatile: Sequence[str] = (),
                  ref_files_only: bool = False, tolerance: float = FLOAT32_REL_L2
                  ) -> list[RoleResult]:
    """Role results of ``test`` against ``ref`` (two :class:`.execute.SideResult`)."""
    out = [RoleResult("exit", "status", "identical" if ref.exit == test.exit else "differs",
                      {"ref": ref.exit, "test": test.exit})]
    roles = output_roles(argv)
    names = sorted(ref.files) if ref_files_only else sorted(set(ref.files) | set(test.files))
    missing = [n for n in names if n not in ref.files or n not in test.files]
    out.append(RoleResult("files", "set", "differs" if missing else "identical",
                          {"only_ref": [n for n in missing if n in ref.files],
                           "only_test": [n for n in missing if n in test.files]}))
    size = detector_size(list(argv), ref.stdout, test.stdout)
    clock = time_seeded(argv)
    if clock:
        volatile = (*volatile, *TIME_SEED_VOLATILE)
    for name in names:
        role = roles.get(name, "file")
        if name not in ref.files or name not in test.files:
            out.append(RoleResult(role, name, "missing_test" if name in ref.files
                                  else "missing_ref"))
            continue
        a, b = ref.files[name].read_bytes(), test.files[name].read_bytes()
        if a == b:
            out.append(RoleResult(role, name, "identical"))
            continue
        if clock and role == "noise":
            out.append(RoleResult(role, name, "volatile", {"why": "clock-seeded noise"}))
            continue
        detail: dict = {"ref_bytes": len(a), "test_bytes": len(b)}
        status = "differs"
        if role == "float" and len(a) == len(b) and len(a) % 4 == 0:
            detail = float_metrics(np.frombuffer(a, "<f4"), np.frombuffer(b, "<f4"),
                                   size[0] if size else None)
            if (dtype == "float32" and not detail["non_finite_mismatch"]
                    and float(detail["rel_l2"]) <= tolerance):
                status = "within"
        out.append(RoleResult(role, name, status, detail))
    a_lines, b_lines = stdout_lines(ref.stdout, volatile), stdout_lines(test.stdout, volatile)
    if a_lines == b_lines:
        out.append(RoleResult("stdout", "stdout", "identical"))
    else:
        k = next((i for i, (x, y) in enumerate(zip(a_lines, b_lines)) if x != y),
                 min(len(a_lines), len(b_lines)))
        out.append(RoleResult("stdout", "stdout", "differs", {
            "first_line": k + 1, "ref": a_lines[k] if k < len(a_lines) else None,
            "test": b_lines[k] if k < len(b_lines) else None}))
    return out


def deciding(results: Sequence[RoleResult], dtype: str) -> list[RoleResult]:
    """The role results that fail the case (float32: only exit, files and the float image)."""
    bad = [r for r in results if r.status not in ("identical", "within", "volatile")]
    if dtype == "float32":
        bad = [r for r in bad if r.role in ("exit", "files", "float")
               or r.status.startswith("missing")]
    return sorted(bad, key=lambda r: ROLE_ORDER.index(r.role))


def signature(results: Sequence[RoleResult], dtype: str) -> tuple[str, str] | None:
    """(role, name) of the first deciding difference: what a shrink must keep failing."""
    bad = deciding(results, dtype)
    return (bad[0].role, bad[0].name) if bad else None


def run_differences(a, b, argv: Sequence[str]) -> list[str]:
    """Roles where two runs of the same program differ (empty: deterministic)."""
    if a.fault() or b.fault():
        return []
    return [f"{r.role}:{r.name}" for r in compare_sides(a, b, argv, "float64")
            if r.status not in ("identical", "volatile")]


@dataclass
class Judgement:
    verdict: str
    reason: str
    roles: list[RoleResult] = field(default_factory=list)

    @property
    def float_detail(self) -> dict | None:
        return next((r.detail for r in self.roles if r.role == "float" and r.detail), None)


def judge(case, c1, c2, py, dtype: str, tolerance: float = FLOAT32_REL_L2) -> Judgement:
    """The verdict of a case from its C runs (``c2`` may be None) and its Torch run.

    A golden case has its stored outputs as ``c1``. ``c_fault``: the C could not start,
    timed out, was killed by a signal, or gave other outputs the second time.
    """
    golden = case.kind == "golden"
    if not golden:
        fault = c1.fault() or (c2.fault() if c2 is not None else None)
        if fault:
            return Judgement("c_fault", fault)
        if c2 is not None:
            diff = run_differences(c1, c2, case.argv)
            if diff:
                return Judgement("c_fault", "the C program is not deterministic: its two runs "
                                 "differ in " + ", ".join(diff[:4]))
    if case.expect_exit is not None:
        ok = c1.exit == case.expect_exit and py.exit == case.expect_exit
        return Judgement("guard_ok" if ok else "guard_failed",
                         f"exit status C {c1.exit}, Torch {py.exit}, required "
                         f"{case.expect_exit}")
    if py.fault():
        return Judgement("divergent", py.fault() or "")
    roles = compare_sides(c1, py, case.argv, dtype, volatile=case.volatile,
                          ref_files_only=golden, tolerance=tolerance)
    bad = deciding(roles, dtype)
    if bad:
        first = bad[0]
        return Judgement("divergent", f"{first.role} ({first.name}) {first.status}", roles)
    within = any(r.status not in ("identical", "volatile") for r in roles)
    return Judgement("within_tolerance" if within else "identical", "", roles)
