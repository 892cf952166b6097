"""``torchbragg``: the nanoBragg command line (same flags, outputs and console report).

``-h``/``--help`` print the usage text and ``--version`` the version, on stdout, exit 0 (exact
tokens, anywhere on the line; the C has no such flags). ``--batch FILE`` runs each line of FILE
as its own command line in this process (:mod:`torchbragg.cli.batch`); ``--prepare ARGS``
builds the compiled kernels that ``ARGS`` would use (:mod:`torchbragg.cli.prepare`).

Exit status (torchbragg.errors): 0 success; 9 bad input or missing inputs (as the C); 10 an
output file cannot be written; 70 internal error; 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM). Errors print one line on stderr, no traceback unless ``--debug`` or
``TORCHBRAGG_DEBUG=1``, and leave no output file behind (every file is written atomically).
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional, Sequence

# only light modules here: the console script installs its signal handlers (entry) before
# numpy and torch are imported, so Ctrl-C or SIGTERM during the imports ends cleanly too
from torchbragg.cli.usage import (contact_request, extensions_line, help_text, usage_text,
                                  version_text)
from torchbragg.errors import (TorchBraggError, UsageError, debug_enabled,
                               ignore_signals, install_signal_handlers, install_sigterm_handler,
                               report_internal_error, report_interrupt)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_enabled(argv)
    argv = [a for a in argv if a != "--debug"]
    if argv[:1] == ["--batch"]:
        from torchbragg.cli.batch import run_batch

        return run_batch(argv[1:], lambda line: main(line + ["--debug"] if debug else line))
    request = contact_request(argv)
    if request is not None:  # -h, --help, --version: stdout, exit 0, before anything is read
        sys.stdout.write(help_text() if request == "help" else version_text())
        return 0
    install_sigterm_handler()
    try:
        from torchbragg.allocator import keep_freed_memory
        from torchbragg.openmp import choose_wait_policy

        choose_wait_policy()  # (before torch is imported)
        keep_freed_memory()
        start_helper_build(argv)
        if argv[:1] == ["--prepare"]:
            from torchbragg.cli.prepare import prepare

            return prepare(argv[1:])
        return run(argv)
    except UsageError as exc:
        from torchbragg.cli.report import BANNER

        sys.stdout.write(BANNER + "\n")
        if exc.prefix:
            sys.stdout.write(exc.prefix)
        sys.stdout.write(usage_text())
        sys.stdout.flush()
        print(f"torchbragg: error: {exc}\n{extensions_line()}", file=sys.stderr)
        return exc.exit_status
    except TorchBraggError as exc:
        sys.stdout.flush()
        print(f"torchbragg: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt as exc:
        return report_interrupt("torchbragg", exc)
    except Exception as exc:  # a bug: one line, the traceback only when debugging
        if debug:
            raise
        return report_internal_error("torchbragg", exc)


#: flags after which a run's interpolating passes may take the lookup helper: the argv form,
#: before torch is imported, of block_native.may_serve (which _set_up asks of the config)
_LOOKUP_FLAGS = frozenset({"float32", "-round_xtal", "-gauss_xtal", "-tophat_spots",
                           "-oversample_thick", "-oversample_polar", "-oversample_omega"})


def start_helper_build(argv: List[str]) -> None:
    """Build the native helpers a run may use (on first use: ≈ 0.5 s of the C compiler each)
    on a thread while torch is imported, unless ``TORCHBRAGG_NATIVE=0``: the HKL reader for an
    ``-hkl`` run, the native blocks, and where the run may interpolate a structure-factor
    table (``-hkl`` or a dump file in the folder, no ``-nointerpolate``) that the native block
    may not interpolate itself (float32 mode, other crystal shapes, ``-oversample_*``: a guess
    from the flags) the lookups. Cached, each is a lookup; a later load of a helper waits for
    its build (a helper not built ahead is built where it is first loaded)."""
    from torchbragg import native
    from torchbragg.cli.run_env import apply_native
    from torchbragg.cli.state import RunOptions

    apply_native()
    table = "-hkl" in argv or os.path.exists(RunOptions.dumpfile)
    # (the native block interpolates binary64 SQUARE runs itself: the lookups are built ahead
    # only for the runs it may not serve)
    unserved = bool(set(argv) & _LOOKUP_FLAGS)
    lookups = ([native.TRICUBIC_HELPER] if table and "-nointerpolate" not in argv and unserved
               else [])
    reader = [native.HKL_HELPER] if "-hkl" in argv else []  # (needed first)
    native.build_in_background(*reader, native.BLOCK_HELPER, *lookups)  # (one after another)


def entry() -> None:
    """Console-script entry: :func:`main`, then leave without the interpreter's teardown.

    Signal handlers come first (SIGINT 130, SIGTERM 143, also during the imports), then the
    standard streams are made safe to write (:mod:`torchbragg.cli.streams`: a closed or
    broken stdout is ignored, as the C ignores it). Every output file is complete and
    closed when ``main`` returns; with torch loaded the teardown (finalising modules and
    tensors) costs ~0.3 s per run for nothing.
    """
    install_signal_handlers()
    try:
        from torchbragg.cli.streams import guard_standard_streams

        guard_standard_streams()
        status = main()
    except KeyboardInterrupt as exc:  # before main's own handling was reached
        status = report_interrupt("torchbragg", exc)
    exit_now(status)


def exit_now(status: int) -> None:
    """Flush the standard streams and end the process with ``status`` immediately (a signal
    now would only interrupt the flush: they are ignored)."""
    ignore_signals()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: nothing more can be reported
        pass
    os._exit(status)


def _emit_line(line: str) -> None:
    sys.stdout.write(line + "\n")


def _emit(lines: List[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")


def run(argv: List[str]) -> int:
    """Parse, set up, render, write; see :mod:`torchbragg.cli.outputs`. Every output file
    (the structure-factor cache included) is staged and committed together at the end: a
    failure or interruption anywhere leaves the existing files as they were."""
    from torchbragg.io.atomic import OutputSet

    with OutputSet() as outputs:
        _stage_run(argv, outputs)
        outputs.commit()
    return 0


def _stage_run(argv: List[str], outputs) -> None:
    """Parse, set up and report, render, stage the outputs in ``outputs``."""
    import numpy as np

    from torchbragg.cli.outputs import write_outputs
    from torchbragg.physics.setup import make_plan
    from torchbragg.physics.workload import rendered_indices

    loaded, exp, table, sf_log = _set_up(argv, outputs)
    device, dtype = _device_and_dtype(loaded.options)
    _report_set_up(loaded, exp, sf_log)
    plan = make_plan(exp, device, dtype)
    indices = rendered_indices(plan, loaded.config.sampling.roi, loaded.mask)
    result = _render(loaded, exp, plan, indices)
    rendered = np.zeros(plan.spixels * plan.fpixels, dtype=bool)
    rendered[indices.cpu().numpy()] = True
    write_outputs(loaded, exp, result, rendered.reshape(plan.spixels, plan.fpixels), table,
                  outputs)


def _set_up(argv: List[str], outputs):
    """The parsed run, its experiment, the shuffle table and the structure-factor log lines;
    outputs and limits checked before anything is printed on stdout."""
    from torchbragg.cli.limits import check_limits
    from torchbragg.cli.load import load_structure_factors, parse_argv
    from torchbragg.cli.outputs import check_writable
    from torchbragg.cli.run_env import apply_native
    from torchbragg.physics import block_native, tricubic_native
    from torchbragg.physics.setup import build_experiment, interpolation_requested
    from torchbragg.rng import ShuffleTable

    loaded = parse_argv(argv)
    for line in loaded.warnings:
        print(f"torchbragg: {line}", file=sys.stderr)
    check_writable(loaded.options)
    apply_native()
    if (loaded.options.hklfile is not None and loaded.options.device != "cuda"
            and interpolation_requested(loaded.config)
            and not block_native.may_serve(loaded.config, loaded.options.dtype)):
        # (loaded beside the HKL parse; where the native block interpolates, it is needed only
        # by the switch-off's split pass and traces, and loaded there)
        tricubic_native.load_in_background()
    sf_log: List[str] = []
    load_structure_factors(loaded, sf_log.append, outputs)
    table = ShuffleTable()
    exp = build_experiment(loaded.config, table)
    check_limits(loaded, exp)
    return loaded, exp, table, sf_log


def _device_and_dtype(options):
    """``-device`` (``auto``: CUDA when available) and ``-dtype`` as torch values."""
    import torch

    device = options.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TorchBraggError("-device cuda: no CUDA device is available")
    return device, torch.float64 if options.dtype == "float64" else torch.float32


def _report_set_up(loaded, exp, sf_log: List[str]) -> None:
    """The loader's stderr lines, then the C's console report up to the rendering."""
    from torchbragg.cli.report import BANNER, pre_banner_lines, sampling_lines, setup_lines

    for line in loaded.stderr:
        print(line, file=sys.stderr)
    _emit(loaded.pre_banner + pre_banner_lines(exp) + [BANNER] + setup_lines(exp, loaded)
          + sf_log + loaded.hkl_log + sampling_lines(exp, loaded))
    sys.stdout.flush()


def _interpolation_off(hkl) -> None:
    h, k, l, h0, k0, l0 = hkl
    sys.stdout.write("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: "
                     f"{h:g},{k:g},{l:g},{int(h0)},{int(k0)},{int(l0)} \n"
                     "WARNING: further warnings will not be printed! ")


def _render(loaded, exp, plan, indices):
    """Render with the run's progress meter, trace lines and printout."""
    from torchbragg.cli.run_env import compile_policy
    from torchbragg.cli.printout import Printout
    from torchbragg.cli.progress import Progress
    from torchbragg.physics.recorder import combine
    from torchbragg.physics.render import render
    from torchbragg.physics.trace_hook import TraceRecorder

    opts = loaded.options
    recorder = (TraceRecorder(opts.trace_pixels, lambda text: print(text), exp=exp)
                if opts.trace_pixels else None)
    progress = Progress(opts.progress and not opts.printout)
    printout = (Printout(opts, exp, loaded.sf_table, _emit_line).recorder() if opts.printout
                else None)
    policy = compile_policy(lambda note: print(f"torchbragg: {note}", file=sys.stderr),
                            flag=opts.compile)
    result = render(plan, indices, chunk=opts.chunk_pixels, progress=progress,
                    recorder=combine(recorder, printout), on_interpolation_off=_interpolation_off,
                    compile=policy)
    progress.close()
    return result
