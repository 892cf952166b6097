"""``torchbragg-parity``: trace, compare-traces, compare-images, run (docs/parity.md), campaign
and merge (docs/campaign.md)."""
from __future__ import annotations

from torchbragg.parity.early_signals import early_signal  # first: handlers while loading

import argparse
import os
import signal
import sys

from torchbragg.parity.bundle import BundleError, StagedBundle, write_json, write_text
from torchbragg.parity.campaign import command as campaign_command
from torchbragg.parity.compare_images import (
    ImageError, crop, image_metrics, judge, read_float_image,
)
from torchbragg.parity.compare_traces import Tolerances, compare_traces, comparison_json
from torchbragg.parity.pixels import preset_pixel_labels
from torchbragg.parity.presets import PRESETS, PresetError, get_preset
from torchbragg.parity.previews import render_previews
from torchbragg.parity.report import image_markdown, trace_markdown
from torchbragg.parity.sides import DEFAULT_TIMEOUT, ToolError
from torchbragg.parity.tracefmt import TraceParseError, read_trace

PROG = "torchbragg-parity"
EXIT_USAGE = 2  # torchbragg.errors.EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message and exit status 2."""

    def error(self, message):  # noqa: D401 - argparse API
        raise ToolError(message)


def _rtol_pair(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=RTOL, got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _timeout(text: str) -> float:
    value = _positive_float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_pixel(p):
    p.add_argument("--pixel", nargs=2, type=int, action="append", default=None,
                   metavar=("SLOW", "FAST"), help="traced pixel, slow index first (repeatable)")


def _add_side_opts(p):
    p.add_argument("--device", default="cpu", help="Torch device: cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="Torch precision (default float64)")
    p.add_argument("--timeout", type=_timeout, default=DEFAULT_TIMEOUT,
                   help=f"seconds allowed to each program (default {DEFAULT_TIMEOUT:g}); "
                   "then its whole process group is ended")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Parity harness: torchbragg vs a nanoBragg-compatible "
                     "C program. nanoBragg arguments follow '--'.")
    from torchbragg._version import __version__

    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("trace", help="run the Torch side and keep its TRACE_PY lines")
    p.add_argument("--out", required=True, help="trace file, or - for stdout")
    _add_pixel(p)
    _add_side_opts(p)

    p = sub.add_parser("compare-traces",
                       help="compare a C trace with a PY trace (docs/behaviour/trace.md §9)")
    p.add_argument("--c", required=True, help="C trace (raw or normalised)")
    p.add_argument("--py", required=True, help="PY trace (may be the same combined file)")
    p.add_argument("--tolerance", type=_positive_float, default=None,
                   help="global rtol overriding every tolerance class")
    p.add_argument("--rtol-name", type=_rtol_pair, action="append", default=[],
                   metavar="NAME=RTOL", help="rtol for one name (repeatable)")
    p.add_argument("--atol", type=_positive_float, default=0.0, help="absolute tolerance (0)")
    p.add_argument("--skip", action="append", default=[], metavar="NAME",
                   help="never compare NAME (repeatable)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="tolerance column: PY computed in binary64 or binary32")
    p.add_argument("--out", help="folder for summary.md and metrics.json")

    p = sub.add_parser("compare-images", help="compare two raw float32 images")
    p.add_argument("--ref", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--fpixels", type=int, required=True)
    p.add_argument("--spixels", type=int, required=True)
    p.add_argument("--roi", nargs=4, type=int, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                   help="fast (x) and slow (y) limits, inclusive")
    p.add_argument("--peaks", type=int, default=20, help="peaks to register (default 20)")
    p.add_argument("--tolerance", type=_positive_float, default=1e-6,
                   help="PASS when max|d|/max|ref| <= this (default 1e-6)")
    p.add_argument("--out", help="folder for summary.md, metrics.json and PNG previews")

    p = sub.add_parser("run", help="run both sides, compare, write a report bundle")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--out", help="bundle folder (must not exist or be empty)")
    g.add_argument("--out-root", default="reports/parity",
                   help="parent of the timestamped bundle folder (default reports/parity)")
    _add_pixel(p)
    _add_side_opts(p)
    p.add_argument("--c-bin", help="C program command (default $NB_C_BIN or torchbragg-cref)")
    p.add_argument("--tolerance", type=_positive_float, default=None,
                   help="image criterion max|d|/max|ref| (default 1e-6 float64, 1e-3 float32)")
    p.add_argument("--trace-tolerance", type=_positive_float, default=None,
                   help="global trace rtol overriding every tolerance class")
    p.add_argument("--rtol-name", type=_rtol_pair, action="append", default=[],
                   metavar="NAME=RTOL")
    p.add_argument("--preset", choices=PRESETS, help="named command (extra args are appended)")
    p.add_argument("--roi", nargs=4, type=int, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                   help="compare images inside this region only")
    p.add_argument("--peaks", type=int, default=20)
    p.add_argument("--fpixels", type=int, help="image width if it cannot be read from stdout")
    p.add_argument("--spixels", type=int, help="image height if it cannot be read from stdout")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch folders")
    campaign_command.add_parsers(sub)
    return parser


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def _pixels(ns) -> list[tuple[int, int]]:
    return [tuple(p) for p in ns.pixel] if ns.pixel else []


def cmd_trace(ns, extra) -> int:
    from torchbragg.parity.run import trace_run
    if not extra:
        raise ToolError("trace: give the nanoBragg arguments after '--'")
    return trace_run(extra, _pixels(ns), ns.device, ns.dtype, ns.out, timeout=ns.timeout)


def cmd_compare_traces(ns, extra) -> int:
    if extra:
        raise ToolError("compare-traces takes no arguments after '--'")
    stage = StagedBundle(ns.out) if ns.out is not None else None
    tol = Tolerances(dtype=ns.dtype, rtol=ns.tolerance, per_name=dict(ns.rtol_name),
                     atol=ns.atol, skip=frozenset(ns.skip))
    c, py = read_trace(ns.c, "C"), read_trace(ns.py, "PY")
    for trace, path in ((c, ns.c), (py, ns.py)):
        if trace.empty:
            raise TraceParseError(f"no TRACE_{trace.side} lines in {path}")
    tc = compare_traces(c, py, tol)
    status = tc.exit_status()
    verdict = {0: "PASS", 1: "FAIL (value mismatch)", 2: "FAIL (missing key or shape)"}[status]
    text = "\n".join([f"# {verdict}", "", f"C trace: `{ns.c}`; PY trace: `{ns.py}`", "",
                      *trace_markdown(tc)])
    if stage is not None:
        with stage:
            write_text(stage.path / "summary.md", text + "\n")
            write_json(stage.path / "metrics.json", {
                "schema_version": 1, "tool": f"{PROG} compare-traces",
                "verdict": "PASS" if status == 0 else "FAIL", "c_file": ns.c, "py_file": ns.py,
                **comparison_json(tc)})
    print(text)
    return status


def cmd_compare_images(ns, extra) -> int:
    if extra:
        raise ToolError("compare-images takes no arguments after '--'")
    stage = StagedBundle(ns.out) if ns.out is not None else None
    roi = tuple(ns.roi) if ns.roi else None
    ref = crop(read_float_image(ns.ref, ns.fpixels, ns.spixels), roi)
    test = crop(read_float_image(ns.test, ns.fpixels, ns.spixels), roi)
    metrics = image_metrics(ref, test, ns.peaks)
    ok = judge(metrics, ns.tolerance)
    if stage is None:
        text = _images_text(metrics, ns.tolerance, ok, None)
    else:
        with stage:
            previews = render_previews(ref, test, stage.path)
            text = _images_text(metrics, ns.tolerance, ok, previews)
            write_text(stage.path / "summary.md", text + "\n")
            write_json(stage.path / "metrics.json", {
                "schema_version": 1, "tool": f"{PROG} compare-images",
                "verdict": "PASS" if ok else "FAIL", "ref": ns.ref, "test": ns.test,
                "tolerance": ns.tolerance, "roi": list(roi) if roi else None,
                "image": metrics})
    print(text)
    return 0 if ok else 1


def _images_text(metrics, tolerance, ok, previews) -> str:
    return "\n".join([f"# {'PASS' if ok else 'FAIL'}", "",
                      *image_markdown(metrics, tolerance, ok, ("ref", "test"), previews)])


def cmd_run(ns, extra) -> int:
    from torchbragg.parity.run import RunOptions, parity_run
    pixels = _pixels(ns)
    args = list(extra)
    labels = {}
    if ns.preset:
        preset = get_preset(ns.preset)
        args = preset.args + args
        pixels = pixels or list(preset.pixels)
        labels = preset_pixel_labels(preset)
    if not args:
        raise ToolError("run: give --preset NAME or the nanoBragg arguments after '--'")
    if (ns.fpixels is None) != (ns.spixels is None):
        raise ToolError("give both --fpixels and --spixels, or neither")
    opts = RunOptions(
        args=args, pixels=pixels, device=ns.device, dtype=ns.dtype, c_bin=ns.c_bin,
        tolerance=ns.tolerance, trace_rtol=ns.trace_tolerance, rtol_names=dict(ns.rtol_name),
        timeout=ns.timeout, out=ns.out, out_root=ns.out_root, preset=ns.preset,
        roi=tuple(ns.roi) if ns.roi else None, peaks=ns.peaks, keep_work=ns.keep_work,
        size=(ns.fpixels, ns.spixels) if ns.fpixels is not None else None,
        pixel_labels=labels)
    status, out, _ = parity_run(opts)
    print((out / "summary.md").read_text())
    print(f"bundle: {out}")
    return status


COMMANDS = {"trace": cmd_trace, "compare-traces": cmd_compare_traces,
            "compare-images": cmd_compare_images, "run": cmd_run,
            "campaign": campaign_command.cmd_campaign, "merge": campaign_command.cmd_merge}


def main(argv: list[str] | None = None) -> int:
    from torchbragg.errors import (debug_enabled, install_sigterm_handler,
                                   report_internal_error, report_interrupt)

    argv = list(sys.argv[1:] if argv is None else argv)
    own, extra = split_argv(argv)
    debug = debug_enabled(own)
    own = [a for a in own if a != "--debug"]
    install_sigterm_handler()
    if signal.getsignal(signal.SIGINT) is early_signal:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ns = build_parser().parse_args(own)
        return COMMANDS[ns.command](ns, extra)
    except (ToolError, TraceParseError, ImageError, PresetError, BundleError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into head & co.
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        return report_interrupt(PROG, exc)
    except Exception as exc:  # a bug: one line, the traceback only when debugging
        if debug:
            raise
        return report_internal_error(PROG, exc)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
