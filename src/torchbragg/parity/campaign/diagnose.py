"""A divergent case: trace its worst pixel on both sides, then shrink it to a reproducer.

The trace names the first quantity that differs (the run-level set-up first, then the
pixel's own chain: docs/behaviour/trace.md's order). The shrink drops flags and simplifies values
while the same role still differs (:func:`.compare.signature`), one C run and one Torch run per try.
"""
from __future__ import annotations

import dataclasses
import shlex
import shutil
from pathlib import Path
from typing import Sequence

from torchbragg.parity.campaign.cases import Case
from torchbragg.parity.campaign.compare import compare_sides, signature
from torchbragg.parity.campaign.execute import run_c, run_torch
from torchbragg.parity.campaign.shrink import reproducer, shrink
from torchbragg.parity.compare_traces import Tolerances, compare_traces, first_divergence_json
from torchbragg.parity.tracefmt import TraceParseError, parse_trace, trace_lines


@dataclasses.dataclass(frozen=True)
class Sides:
    """How to run the two sides (what :mod:`.engine` was given)."""

    c_cmd: tuple[str, ...]
    device: str
    dtype: str
    py_cmd: tuple[str, ...] | None = None
    tolerance: float = 5e-6


def trace_pixel(case: Case, pixel: Sequence[int], sides: Sides, work: Path) -> dict:
    """Trace ``pixel`` (slow, fast) on both sides; the first divergent quantity, if any."""
    extra = ["-trace_pixel", str(pixel[0]), str(pixel[1])]
    c = run_c(case, work / "trace-c", sides.c_cmd, extra=extra)
    py = run_torch(case, work / "trace-py", sides.device, sides.dtype, sides.py_cmd, extra)
    out: dict = {"pixel": list(pixel), "c_trace_lines": len(trace_lines(c.stdout, "C")),
                 "py_trace_lines": len(trace_lines(py.stdout, "PY")), "first_divergence": None,
                 "c_log": "\n".join(trace_lines(c.stdout, "C")),
                 "py_log": "\n".join(trace_lines(py.stdout, "PY"))}
    if not out["c_trace_lines"]:
        out["note"] = "the C program printed no TRACE_C lines (an uninstrumented build?)"
        return out
    if not out["py_trace_lines"]:
        out["note"] = "torchbragg printed no TRACE_PY lines"
        return out
    try:
        tc = compare_traces(parse_trace(c.stdout, "C"), parse_trace(py.stdout, "PY"),
                            Tolerances(dtype=sides.dtype))
    except TraceParseError as exc:
        out["note"] = f"trace cannot be parsed: {exc}"
        return out
    for group in (tc.run, *tc.pixels):
        first = first_divergence_json(group)
        if first is not None:
            out["first_divergence"] = {k: first.get(k) for k in
                                       ("name", "k", "block", "status", "c_values",
                                        "py_values", "rel_diff", "note")}
            out["first_divergence"]["level"] = "run" if group is tc.run else "pixel"
            break
    if out["first_divergence"] is None:
        out["note"] = "every traced quantity agrees within the trace tolerances"
    return out


#: groups a shrink never drops: without them a try renders the default 1024² detector or
#: the automatic oversampling (minutes instead of a fraction of a second)
KEEP = ("-detpixels", "-detpixels_f", "-detpixels_s", "-detpixels_x", "-detpixels_y",
        "-detsize", "-detsize_f", "-detsize_s", "-oversample")
#: seconds allowed to one try (a slower try counts as not reproducing)
TRY_TIMEOUT = 30.0


def shrink_case(case: Case, sig: tuple[str, str], sides: Sides, work: Path,
                max_tries: int = 120) -> dict:
    """The smallest command line (from the case's last run) that still differs in ``sig``."""
    counter = [0]

    def still_fails(argv: list[str]) -> bool:
        counter[0] += 1
        trial = dataclasses.replace(case, runs=case.runs[:-1] + (tuple(argv),),
                                    timeout=min(case.timeout, TRY_TIMEOUT))
        root = work / f"shrink-{counter[0]}"
        try:
            c = run_c(trial, root / "c", sides.c_cmd)
            if c.fault():
                return False
            py = run_torch(trial, root / "py", sides.device, sides.dtype, sides.py_cmd)
            if py.fault():
                return False
            roles = compare_sides(c, py, argv, sides.dtype, volatile=case.volatile,
                                  tolerance=sides.tolerance)
            return signature(roles, sides.dtype) == sig
        finally:
            shutil.rmtree(root, ignore_errors=True)

    result = shrink(list(case.argv), still_fails, keep=KEEP, max_tries=max_tries)
    argv = list(result.argv)
    return {"argv": argv, "command": reproducer(argv), "tries": result.tries,
            "flags_removed": len(result.removed), "values_simplified": len(result.simplified),
            "signature": list(sig),
            "parity_command": shlex.join(["torchbragg-parity", "run", "--", *argv])}
