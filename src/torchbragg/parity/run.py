"""``run`` and ``trace``: run both sides, compare images and traces, write the report bundle."""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from torchbragg.parity import bundle as bundle_mod
from torchbragg.parity.compare_images import (
    DEFAULT_IMAGE_TOLERANCE, ImageError, crop, image_metrics, judge, read_float_image,
)
from torchbragg.parity.compare_traces import Tolerances, compare_traces, group_json
from torchbragg.parity.previews import write_previews
from torchbragg.parity.report import image_markdown, trace_markdown
from torchbragg.parity.sides import (
    ToolError, absolutise_inputs, c_argv, c_command, detector_size, float_value, py_argv,
    py_command, run_side, scratch_dir, strip_floatfile,
)
from torchbragg.parity.tracefmt import TraceParseError, parse_trace, trace_lines

SCHEMA_VERSION = 1
EXIT_FOR_VERDICT = {"PASS": 0, "IMAGES_ONLY_PASS": 0, "FAIL": 1, "IMAGES_ONLY_FAIL": 1,
                    "ERROR": 2}


@dataclass
class RunOptions:
    args: list[str]
    pixels: list[tuple[int, int]] = field(default_factory=list)
    device: str = "cpu"
    dtype: str = "float64"
    c_bin: str | None = None
    py_cmd: list[str] | None = None
    tolerance: float | None = None          # image criterion; default per dtype
    trace_rtol: float | None = None         # global override of the trace rtol classes
    rtol_names: dict[str, float] = field(default_factory=dict)
    timeout: float | None = None
    out: str | None = None
    out_root: str = "reports/parity"
    preset: str | None = None
    roi: tuple[int, int, int, int] | None = None
    peaks: int = 20
    keep_work: bool = False
    size: tuple[int, int] | None = None     # (fpixels, spixels) override


def image_tolerance(opts: RunOptions) -> float:
    return opts.tolerance if opts.tolerance is not None else DEFAULT_IMAGE_TOLERANCE[opts.dtype]


def parity_run(opts: RunOptions) -> tuple[int, Path, dict]:
    """Run both sides and write the bundle; returns (exit status, bundle folder, metrics)."""
    c_cmd = c_command(opts.c_bin)
    p_cmd = py_command(opts.py_cmd)
    args = strip_floatfile(absolutise_inputs(opts.args))
    try:
        out = bundle_mod.new_bundle_dir(opts.out, opts.out_root)
    except bundle_mod.BundleError as exc:
        raise ToolError(str(exc)) from None
    c_dir, p_dir = scratch_dir("c"), scratch_dir("py")
    try:
        c = run_side("C", c_argv(c_cmd, args, opts.pixels), c_dir, {"OMP_NUM_THREADS": "1"},
                     opts.timeout)
        py = run_side("PY", py_argv(p_cmd, args, opts.pixels, opts.device, opts.dtype),
                      p_dir, {}, opts.timeout)
        metrics, summary = _assemble(out, opts, args, c, py)
    finally:
        if not opts.keep_work:
            shutil.rmtree(c_dir, ignore_errors=True)
            shutil.rmtree(p_dir, ignore_errors=True)
    (out / "summary.md").write_text(summary)
    bundle_mod.write_json(out / "metrics.json", metrics)
    bundle_mod.write_json(out / "env.json",
                          bundle_mod.environment(opts.device, opts.dtype, c_cmd, p_cmd))
    bundle_mod.write_sha256(out)
    return EXIT_FOR_VERDICT[metrics["verdict"]], out, metrics


def _write_side_files(out: Path, tag: str, side) -> None:
    (out / f"{tag}.stdout.txt").write_text(side.stdout)
    if side.stderr:
        (out / f"{tag}.stderr.txt").write_text(side.stderr)
    if side.float_path.is_file():
        shutil.copyfile(side.float_path, out / f"{tag}.float.bin")


def _assemble(out: Path, opts: RunOptions, args: list[str], c, py) -> tuple[dict, str]:
    _write_side_files(out, "c", c)
    _write_side_files(out, "py", py)
    (out / "commands.txt").write_text(
        "# C side (reference)\n" + c.shell() + "\n# Torch side\n" + py.shell() + "\n")
    c_lines, p_lines = trace_lines(c.stdout, "C"), trace_lines(py.stdout, "PY")
    (out / "trace_c.log").write_text("".join(line + "\n" for line in c_lines))
    (out / "trace_py.log").write_text("".join(line + "\n" for line in p_lines))

    errors = [msg for msg in (c.problem(), py.problem()) if msg]
    notes: list[str] = []
    size = opts.size or detector_size(args, c.stdout, py.stdout)
    image, image_ok, previews = None, None, []
    if not errors:
        if size is None:
            errors.append("cannot tell the detector size (give --fpixels/--spixels)")
        else:
            try:
                ref = crop(read_float_image(c.float_path, *size), opts.roi)
                test = crop(read_float_image(py.float_path, *size), opts.roi)
                image = image_metrics(ref, test, opts.peaks)
                image_ok = judge(image, image_tolerance(opts))
                image["pass"] = image_ok
                image["tolerance"] = image_tolerance(opts)
                image["roi"] = list(opts.roi) if opts.roi else None
                previews = write_previews(ref, test, out, ("c.png", "py.png", "diff.png"))
            except ImageError as exc:
                errors.append(str(exc))

    tol = Tolerances(dtype=opts.dtype, rtol=opts.trace_rtol, per_name=dict(opts.rtol_names))
    tc, trace_error, traced = None, None, {}
    if not opts.pixels:
        notes.append("no pixel traced (--pixel not given): images compared only")
    elif not c_lines:
        notes.append("the C program printed no TRACE_C lines: images compared only")
    elif not p_lines:
        notes.append("the Torch program printed no TRACE_PY lines: images compared only")
    else:
        try:
            c_trace, p_trace = parse_trace(c.stdout, "C"), parse_trace(py.stdout, "PY")
            tc = compare_traces(c_trace, p_trace, tol)
            notes += tc.notes
            traced = {"c": {g.pixel for g in c_trace.pixels if g.entries},
                      "py": {g.pixel for g in p_trace.pixels if g.entries}}
        except TraceParseError as exc:
            trace_error = f"trace cannot be parsed: {exc}"
            notes.append(trace_error)

    if errors:
        verdict = "ERROR"
    elif tc is None and trace_error is None:
        verdict = "IMAGES_ONLY_PASS" if image_ok else "IMAGES_ONLY_FAIL"
    else:
        verdict = "PASS" if image_ok and tc is not None and tc.exit_status() == 0 else "FAIL"

    pixels = _pixel_records(opts, tc, traced, c, py, size)
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "tool": "torchbragg-parity run",
        "created_utc": bundle_mod.timestamp(),
        "verdict": verdict,
        "preset": opts.preset,
        "dtype": opts.dtype,
        "device": opts.device,
        "tolerance": {"image_max_abs_over_max_ref": image_tolerance(opts),
                      "trace": tol.describe()},
        "args": args,
        "detector": None if size is None else {"fpixels": size[0], "spixels": size[1]},
        "c": {**c.to_json(), "trace_lines": len(c_lines)},
        "py": {**py.to_json(), "trace_lines": len(p_lines)},
        "image": image,
        "trace_compared": tc is not None,
        "trace_exit_status": None if tc is None else tc.exit_status(),
        "run_level": None if tc is None else group_json(tc.run),
        "pixels": pixels,
        "notes": notes,
        "errors": errors,
    }
    summary = _summary(opts, metrics, tc, image, image_ok, previews)
    return metrics, summary


def _pixel_records(opts: RunOptions, tc, traced, c, py, size) -> list[dict]:
    """One record per requested (and per compared) pixel, with both image values there."""
    records = []
    groups = {g.pixel: g for g in tc.pixels} if tc is not None else {}
    wanted = list(opts.pixels) + [p for p in groups if p not in opts.pixels]
    for pix in wanted:
        g = groups.get(pix)
        rec = group_json(g) if g is not None else {
            "pixel": list(pix) if pix is not None else None, "first_divergence": None,
            "counts": {}, "exit_status": None}
        rec["trace_compared"] = g is not None
        rec["c_traced"] = pix in traced.get("c", ())
        rec["py_traced"] = pix in traced.get("py", ())
        if pix is not None and size is not None:
            rec["c_value"] = float_value(c.float_path, size[0], pix)
            rec["py_value"] = float_value(py.float_path, size[0], pix)
        records.append(rec)
    return records


def _summary(opts, metrics, tc, image, image_ok, previews) -> str:
    v = metrics["verdict"]
    lines = [f"# {v}", "",
             f"torchbragg-parity run — dtype **{opts.dtype}**, device **{opts.device}**"
             + (f", preset `{opts.preset}`" if opts.preset else "")
             + f", created {metrics['created_utc']}", ""]
    for msg in metrics["errors"]:
        lines.append(f"- ERROR: {msg}")
    for msg in metrics["notes"]:
        lines.append(f"- Note: {msg}")
    if metrics["errors"] or metrics["notes"]:
        lines.append("")
    if metrics["pixels"]:
        lines += ["## Traced pixels (slow, fast)", "",
                  "| pixel | C value | PY value | trace | first divergence |",
                  "|---|---|---|---|---|"]
    for rec in metrics["pixels"]:
        fd = rec.get("first_divergence")
        div = "—" if fd is None else f"`{fd['name']}` k={fd['k']} ({fd['block']}, {fd['status']})"
        state = (_not_compared(rec) if not rec["trace_compared"]
                 else "agree" if rec["exit_status"] == 0 else f"exit {rec['exit_status']}")
        lines.append(f"| {rec['pixel']} | {rec.get('c_value')} | {rec.get('py_value')} | "
                     f"{state} | {div} |")
    if metrics["pixels"]:
        lines.append("")
    if image is not None:
        lines += ["## Float image", ""]
        lines += image_markdown(image, image["tolerance"], image_ok, ("C", "PY"), previews)
    if tc is not None:
        lines += ["## Traces", ""] + trace_markdown(tc)
    lines += ["## Re-run", "", "See `commands.txt` (exact commands and working folders) and "
              "`env.json`; `sha256sum -c sha256.txt` verifies the bundle.", ""]
    return "\n".join(lines)


def _not_compared(rec: dict) -> str:
    missing = [side for side in ("C", "PY") if not rec[f"{side.lower()}_traced"]]
    return "not compared" + (f" (no {' or '.join(missing)} trace)" if missing else "")


# --------------------------------------------------------------------------- trace
def trace_run(args: list[str], pixels: list[tuple[int, int]], device: str, dtype: str,
              out: str, py_cmd: list[str] | None = None, timeout: float | None = None) -> int:
    """Run the Torch side once and keep its ``TRACE_PY:`` lines (``out`` may be ``-``)."""
    if not pixels:
        raise ToolError("give at least one --pixel S F")
    argv = py_argv(py_command(py_cmd), strip_floatfile(absolutise_inputs(args)), pixels,
                   device, dtype)
    work = scratch_dir("trace")
    try:
        side = run_side("PY", argv, work, {}, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    problem = side.problem() if side.start_error or side.timed_out or side.returncode else None
    if problem:
        raise ToolError(problem)
    lines = trace_lines(side.stdout, "PY")
    if not lines:
        raise ToolError("the Torch program printed no TRACE_PY lines")
    text = "".join(line + "\n" for line in lines)
    if out == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(out).write_text(text)
        except OSError as exc:
            raise ToolError(f"cannot write {out}: {exc.strerror}") from None
    return 0


__all__ = ["RunOptions", "parity_run", "trace_run", "SCHEMA_VERSION"]
