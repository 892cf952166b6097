"""``run`` and ``trace``: run both sides, compare images and traces, write the report bundle."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from torchbragg.parity import bundle as bundle_mod
from torchbragg.parity.compare_images import (
    DEFAULT_IMAGE_TOLERANCE, ImageError, crop, image_metrics, judge, read_float_image,
)
from torchbragg.parity.compare_traces import Tolerances, compare_traces, group_json
from torchbragg.parity.pixels import annotate_pixels
from torchbragg.parity.previews import Previews, render_previews
from torchbragg.parity.report import fallback_of, headline, image_markdown, trace_markdown
from torchbragg.parity.sides import (
    DEFAULT_TIMEOUT, ToolError, absolutise_inputs, c_argv, c_command, check_outputs,
    detector_size, float_value, py_argv, py_command, run_side, scratch_dir, strip_floatfile,
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
    timeout: float | None = DEFAULT_TIMEOUT   # seconds per side (None: no limit)
    out: str | None = None
    out_root: str = "reports/parity"
    preset: str | None = None
    roi: tuple[int, int, int, int] | None = None
    peaks: int = 20
    keep_work: bool = False
    size: tuple[int, int] | None = None     # (fpixels, spixels) override
    pixel_labels: dict[tuple[int, int], str] = field(default_factory=dict)


def image_tolerance(opts: RunOptions) -> float:
    return opts.tolerance if opts.tolerance is not None else DEFAULT_IMAGE_TOLERANCE[opts.dtype]


def parity_run(opts: RunOptions) -> tuple[int, Path, dict]:
    """Run both sides and write the bundle; returns (exit status, bundle folder, metrics)."""
    c_cmd = c_command(opts.c_bin)
    p_cmd = py_command(opts.py_cmd)
    args = strip_floatfile(absolutise_inputs(opts.args))
    check_outputs(args)
    stage = bundle_mod.StagedBundle(opts.out, opts.out_root)
    c_dir, p_dir = scratch_dir("c"), scratch_dir("py")
    c_env = {"OMP_NUM_THREADS": "1"}
    try:
        c = run_side("C", c_argv(c_cmd, args, opts.pixels), c_dir, c_env, opts.timeout)
        py = run_side("PY", py_argv(p_cmd, args, opts.pixels, opts.device, opts.dtype),
                      p_dir, {}, opts.timeout)
        env = bundle_mod.environment(opts.device, opts.dtype, c_cmd, p_cmd, args=args,
                                     c_env=c_env, py_env={})
        with stage:
            out = stage.path
            metrics, summary = _assemble(out, opts, args, c, py, env)
            bundle_mod.write_text(out / "summary.md", summary)
            bundle_mod.write_json(out / "metrics.json", metrics)
            bundle_mod.write_json(out / "env.json", env)
            bundle_mod.write_sha256(out)
    finally:
        if not opts.keep_work:
            shutil.rmtree(c_dir, ignore_errors=True)
            shutil.rmtree(p_dir, ignore_errors=True)
    return EXIT_FOR_VERDICT[metrics["verdict"]], stage.final, metrics


def _write_side_files(out: Path, tag: str, side) -> None:
    bundle_mod.write_text(out / f"{tag}.stdout.txt", side.stdout)
    if side.stderr:
        bundle_mod.write_text(out / f"{tag}.stderr.txt", side.stderr)
    if side.float_path.is_file():
        bundle_mod.copy_file(side.float_path, out / f"{tag}.float.bin")


def _assemble(out: Path, opts: RunOptions, args: list[str], c, py, env: dict
              ) -> tuple[dict, str]:
    _write_side_files(out, "c", c)
    _write_side_files(out, "py", py)
    c_lines, p_lines = trace_lines(c.stdout, "C"), trace_lines(py.stdout, "PY")
    bundle_mod.write_text(out / "trace_c.log", "".join(line + "\n" for line in c_lines))
    bundle_mod.write_text(out / "trace_py.log", "".join(line + "\n" for line in p_lines))

    errors = [msg for msg in (c.problem(), py.problem()) if msg]
    notes: list[str] = []
    size = opts.size or detector_size(args, c.stdout, py.stdout)
    bundle_mod.write_rerun(out, c, py, env.get("inputs", []), size, image_tolerance(opts))
    image, image_ok = None, None
    full_ref = full_test = None
    previews = Previews([], "no image was compared (see the errors above)")
    if not errors:
        if size is None:
            errors.append("cannot tell the detector size (give --fpixels/--spixels)")
        else:
            try:
                full_ref = read_float_image(c.float_path, *size)
                full_test = read_float_image(py.float_path, *size)
                ref, test = crop(full_ref, opts.roi), crop(full_test, opts.roi)
                image = image_metrics(ref, test, opts.peaks)
                image_ok = judge(image, image_tolerance(opts))
                image["pass"] = image_ok
                image["tolerance"] = image_tolerance(opts)
                image["roi"] = list(opts.roi) if opts.roi else None
                x0, y0 = (opts.roi[0], opts.roi[2]) if opts.roi else (0, 0)
                previews = render_previews(ref, test, out, ("c.png", "py.png", "diff.png"),
                                           labels=("C", "PY"),
                                           markers=[(s - y0, f - x0) for s, f in opts.pixels])
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
    warnings = annotate_pixels(pixels, opts.pixel_labels, full_ref, full_test)
    runtime_note = os.environ.get("TORCHBRAGG_RUNTIME_NOTE") or None
    head = {"verdict": verdict, "preset": opts.preset,
            "size": list(size) if size else None, "dtype": opts.dtype, "device": opts.device,
            "runtime": bundle_mod.runtime_name(),
            "fallback": fallback_of(*notes, runtime_note),
            "roi": list(opts.roi) if opts.roi else None}
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
        "warnings": warnings,
        "errors": errors,
        "headline": head,
        "previews": {"files": previews.names, "skipped": previews.skipped,
                     "scale": previews.scale or None},
    }
    summary = _summary(opts, metrics, tc, image, image_ok, previews, env)
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


def _summary(opts, metrics, tc, image, image_ok, previews, env) -> str:
    head = metrics["headline"]
    lines = [headline(**head), "",
             f"torchbragg-parity run — dtype **{opts.dtype}**, device **{opts.device}**"
             + (f", preset `{opts.preset}`" if opts.preset else "")
             + f", runtime **{head['runtime']}**, created {metrics['created_utc']}"
             + " (size: fast × slow pixels)", ""]
    for msg in metrics["errors"]:
        lines.append(f"- ERROR: {msg}")
    for msg in metrics["warnings"]:
        lines.append(f"- **WARNING**: {msg}")
    for msg in metrics["notes"]:
        lines.append(f"- Note: {msg}")
    if head["fallback"]:
        lines.append(f"- FALLBACK: {head['fallback']}")
    if env.get("runtime_note"):
        lines.append(f"- Runtime note: {env['runtime_note']}")
    if not previews.names:
        lines.append(f"- Previews skipped: {previews.skipped}")
    if lines[-1] != "":
        lines.append("")
    if metrics["pixels"]:
        lines += ["## Traced pixels (slow, fast)", "",
                  "| # | pixel | label | C value | C / max | PY value | PY / max | "
                  "transpose C / max | trace | first divergence |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
    for i, rec in enumerate(metrics["pixels"], start=1):
        fd = rec.get("first_divergence")
        div = "—" if fd is None else f"`{fd['name']}` k={fd['k']} ({fd['block']}, {fd['status']})"
        state = (_not_compared(rec) if not rec["trace_compared"]
                 else "agree" if rec["exit_status"] == 0 else f"exit {rec['exit_status']}")
        tr = rec.get("transpose")
        t_text = "—" if not tr else f"{_rel(tr['c_over_max'])} at {tuple(tr['pixel'])}"
        label = rec["label"] + (" ⚠ dark, transpose bright" if rec["dark_with_bright_transpose"]
                                else "")
        number = i if rec["pixel"] is not None and tuple(rec["pixel"]) in opts.pixels else "—"
        lines.append(f"| {number} | {tuple(rec['pixel']) if rec['pixel'] else '—'} | {label} | "
                     f"{rec.get('c_value')} | {_rel(rec['c_over_max'])} | {rec.get('py_value')} | "
                     f"{_rel(rec['py_over_max'])} | {t_text} | {state} | {div} |")
    if metrics["pixels"]:
        lines += ["", "Value / max: the pixel's value over the whole image's maximum; # is "
                  "the marker number on the previews.", ""]
    if image is not None:
        lines += ["## Float image", ""]
        lines += image_markdown(image, image["tolerance"], image_ok, ("C", "PY"), previews)
    if tc is not None:
        lines += ["## Traces", ""] + trace_markdown(tc)
    lines += provenance_markdown(env)
    lines += ["## Re-run", "", "`./rerun.sh [WORKDIR]` (in this folder) recreates the two "
              "scratch folders (default `rerun/c`, `rerun/py` here), reruns both sides and "
              "compares their images; `commands.txt` has the same commands as single shell "
              "lines to run from this folder. `sha256sum -c sha256.txt` verifies the bundle.",
              ""]
    return "\n".join(lines)


def _rel(x) -> str:
    return "—" if x is None else f"{x:.3g}"


def provenance_markdown(env: dict) -> list[str]:
    out = ["## Provenance", ""]
    inputs = env.get("inputs") or []
    if inputs:
        out += ["| input | path | size (bytes) | sha256 |", "|---|---|---|---|"]
        for rec in inputs:
            out.append(f"| `{rec['flag']}` | `{rec['path']}` | {rec['size']} | "
                       + (f"`{rec['sha256']}`" if rec["sha256"] else "**missing**") + " |")
        out.append("")
    else:
        out += ["No input files on the command line.", ""]
    th = env.get("threads") or {}
    cp = env.get("c_program") or {}
    binary = cp.get("binary") or {}
    out += [f"- Torch threads {th.get('torch_num_threads')} (interop "
            f"{th.get('torch_num_interop_threads')}), BLAS {th.get('blas_info')}, ATen CPU "
            f"capability {th.get('torch_cpu_capability')}; C side env "
            f"{th.get('c_side_env')}",
            f"- CPU {env.get('cpu_model')} ({env.get('cpu_count')} logical), ISA "
            f"{', '.join(env.get('cpu_isa') or []) or 'unknown'}",
            f"- C program: compiler {cp.get('compiler_version') or cp.get('compiler')}, "
            f"flags `{cp.get('flags')}`, binary `{binary.get('path')}` sha256 "
            f"`{binary.get('sha256')}`",
            f"- torch {env.get('torch')}, numpy {env.get('numpy')}, python {env.get('python')}, "
            f"git {((env.get('git') or {}).get('commit') or 'unknown')[:12]}"
            + (" (dirty)" if (env.get('git') or {}).get('dirty') else ""),
            f"- runtime {env.get('runtime')}, container image {env.get('container_image')} "
            f"(digest {env.get('container_image_digest')})", ""]
    return out


def _not_compared(rec: dict) -> str:
    missing = [side for side in ("C", "PY") if not rec[f"{side.lower()}_traced"]]
    return "not compared" + (f" (no {' or '.join(missing)} trace)" if missing else "")


# --------------------------------------------------------------------------- trace
def trace_run(args: list[str], pixels: list[tuple[int, int]], device: str, dtype: str,
              out: str, py_cmd: list[str] | None = None,
              timeout: float | None = DEFAULT_TIMEOUT) -> int:
    """Run the Torch side once and keep its ``TRACE_PY:`` lines (``out`` may be ``-``)."""
    if not pixels:
        raise ToolError("give at least one --pixel S F")
    args = strip_floatfile(absolutise_inputs(args))
    check_outputs(args)
    argv = py_argv(py_command(py_cmd), args, pixels, device, dtype)
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
        write_replacing(Path(out), text)
    return 0


def write_replacing(path: Path, text: str) -> None:
    """Write ``path`` through a temporary file beside it, renamed over it when complete
    (a failure leaves the old file as it was and no temporary behind)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:60]}.", suffix=".tmp",
                                   dir=str(path.parent))
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fh.fileno(), 0o644)
            fh.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise ToolError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


__all__ = ["RunOptions", "parity_run", "trace_run", "SCHEMA_VERSION"]
