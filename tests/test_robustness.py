"""Bad input fails fast and cleanly in torchbragg and torchbragg-cref.

Every failure: the documented exit status, one line on stderr naming the flag or file, no
traceback, no output (or temporary) file left. The torchbragg side runs in-process (same
``main`` as the console script; a few subprocess tests check the real entry point), the C
reference as a subprocess.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_assertions import assert_clean_failure

from torchbragg import cref, errors

REPO = Path(__file__).resolve().parents[1]
BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "10", "-N", "2",
        "-detpixels", "16", "-nonoise", "-nopgm", "-noprogress", "-floatfile", "f.bin",
        "-intfile", "i.img"]
COMMANDS = ["torchbragg", "torchbragg-cref"]


@pytest.fixture(scope="session")
def cref_bin():
    try:
        return str(cref.binary_path())
    except Exception as exc:  # no compiler
        pytest.skip(f"cannot build the C reference: {exc}")


class Result:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(command, args, cwd, request, env=None):
    if command == "torchbragg":
        from torchbragg.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        old = os.getcwd()
        old_term = signal.getsignal(signal.SIGTERM)
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            os.chdir(cwd)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(list(args))
        finally:
            os.chdir(old)
            signal.signal(signal.SIGTERM, old_term)
            os.environ.clear()
            os.environ.update(saved)
        return Result(rc, out.getvalue(), err.getvalue())
    binary = request.getfixturevalue("cref_bin")
    proc = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})))
    return Result(proc.returncode, proc.stdout, proc.stderr)


def leftovers(folder: Path, inputs=()):
    return sorted(p.name for p in folder.iterdir() if p.name not in inputs)


# ----------------------------------------------------------------------------- flag values
BAD_FLAGS = [
    (["-distance", "abc"], "-distance"),
    (["-lambda", "nan"], "-lambda"),
    (["-lambda", "inf"], "-lambda"),
    (["-lambda", "0x1p0"], "-lambda"),
    (["-pixel", "0.1mm"], "-pixel"),
    (["-fluence", "1e999"], "-fluence"),
    (["-N", "2.5"], "-N"),
    (["-phisteps", "1e3"], "-phisteps"),
    (["-seed", "abc"], "-seed"),
    (["-lambda", "0"], "-lambda"),
    (["-energy", "-5"], "-energy"),
    (["-pixel", "0"], "-pixel"),
    (["-distance", "0"], "-distance"),
    (["-detpixels", "0"], "-detpixels"),
    (["-detpixels", "-3"], "-detpixels"),
    (["-detpixels_x", "12x"], "-detpixels_x"),
    (["-cell", "100", "0", "100"], "-cell"),
    (["-cell", "100", "-100", "100"], "-cell"),
    (["-cell", "100", "100", "100", "90", "90", "200"], "-cell"),
    (["-cell", "100", "100", "100", "120", "120", "120"], "-cell"),
    (["-cell", "abc"], "-cell"),
    (["-phisteps", "-2"], "-phisteps"),
    (["-mosaic_domains", "-1"], "-mosaic_domains"),
    (["-oversample", "-1"], "-oversample"),
    (["-dispsteps", "-1"], "-dispsteps"),
    (["-N", "-1"], "-N"),
    (["-osc", "-1"], "-osc"),
    (["-mosaic", "-0.5"], "-mosaic"),
    (["-detector_thick", "-10"], "-detector_thick"),
    (["-detector_abs", "-5"], "-detector_abs"),
    (["-detector_abs", "infinite"], "-detector_abs"),
    (["-distance"], "-distance"),
    (["-distance", "-pixel", "0.1"], "-distance"),
    (["-beam_vector", "1", "0"], "-beam_vector"),
    (["-roi", "0", "10"], "-roi"),
    (["-misset", "10", "-N", "5"], "-misset"),
    (["-misset", "10", "20"], "-misset"),
    (["-curved_det"], "-curved_det"),
    (["-detector_thick"], "-detector_thick"),
    (["-detector_abs"], "-detector_abs"),
    (["-thicksteps"], "-thicksteps"),
    (["-pivot", "left"], "-pivot"),
    (["-pivot"], "-pivot"),
    (["-beam_vector", "0", "0", "0"], "-beam_vector"),
    (["-spindle_axis", "0", "0", "0"], "-spindle_axis"),
    (["-floatfile"], "-floatfile"),
    (["-hkl", "-nopgm"], "-hkl"),
    (["-printout_pixel", "3"], "-printout_pixel"),
    (["-trace_pixel", "3"], "-trace_pixel"),
    (["-dtype", "half"], "-dtype"),
    (["-device", "tpu"], "-device"),
    (["-profile", "strict"], "-profile"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, word", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag_value(command, args, word, tmp_path, request):
    res = run(command, BASE + args, tmp_path, request)
    assert_clean_failure(res, errors.EXIT_INPUT, word)
    assert leftovers(tmp_path) == []


ACCEPTED = [
    (["-lambda", "1e0"], ["-lambda", "1"]),
    (["-distance", "+100."], ["-distance", "100"]),
    (["-pixel", ".1"], ["-pixel", "0.1"]),
    (["-N", "2.0"], ["-N", "2"]),
    (["-phisteps", "3."], ["-phisteps", "3"]),
    (["-oversample", "0"], []),
    (["-N", "0"], ["-N", "1"]),
    (["-detector_abs", "inf", "-detector_thick", "100"], ["-detector_abs", "0",
                                                          "-detector_thick", "100"]),
    (["-misset", "10", "20", "30"], ["-misset", "10.0", "2e1", "+30"]),
    (["-spindle_axis", "-1", "0", "0"], ["-spindle_axis", "-1.0", "-0", "0"]),
    (["-pivot", "sample", "-fdet_vector", "0", "0", "1"],
     ["-pivot", "samplepivot", "-fdet_vector", "0", "0", "1"]),
    (["-curved_det", "-nopgm"], ["-curved_det", "-noprogress"]),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, same_as", ACCEPTED, ids=[" ".join(a) for a, _ in ACCEPTED])
def test_meaningful_c_forms_accepted(command, args, same_as, tmp_path, request):
    """Forms the C reads meaningfully still work, with the value the C reads."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ra = run(command, BASE + args, a, request)
    rb = run(command, BASE + same_as, b, request)
    assert ra.returncode == 0 and rb.returncode == 0, ra.stderr + rb.stderr
    assert ra.stderr.strip() == "" and rb.stderr.strip() == ""
    assert (a / "f.bin").read_bytes() == (b / "f.bin").read_bytes()


def test_misset_random_and_collision_quirks_kept(tmp_path, request):
    for command in COMMANDS:
        d = tmp_path / command
        d.mkdir()
        res = run(command, BASE + ["-misset_seed", "7", "-misset", "random"], d, request)
        assert res.returncode == 0, res.stderr
        # Q7 (docs/behaviour/cli.md §3.1): the -misset branch of -misset_seed reads "-oversample"
        # leniently
        res = run(command, BASE + ["-misset_seed", "30", "-oversample", "1"], d, request)
        assert res.returncode == 0 and res.stderr == "", res.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_flag_is_a_warning(command, tmp_path, request):
    res = run(command, BASE + ["-dispstep", "3", "-spindle_axis", "-1", "0", "0"], tmp_path,
              request)
    assert res.returncode == 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown flag -dispstep" in lines[0]
    assert "Traceback" not in res.stderr
    assert (tmp_path / "f.bin").exists()


# ----------------------------------------------------------------------------- input files
def _smv(path: Path, header: str, total: int):
    raw = header.encode() + b"\x0c"
    path.write_bytes(raw + b" " * (512 - len(raw)) + b"\x01\x00" * ((total - 512) // 2))


FILES = {
    "nope.hkl": None,
    "bad_token.hkl": "1 2 3 4\n1 x 3 4\n",
    "fraction.hkl": "1 2 3 4\n1.5 0 0 2\n",
    "decimal_index.hkl": "0.0 0.0 0.0 10\n",
    "three_cols.hkl": "1 2 3\n",
    "five_cols.hkl": "0 0 0 10 1\n1 1 0 20 2\n",
    "empty.hkl": "",
    "comment.hkl": "# h k l F\n1 2 3 4\n",
    "nan.hkl": "1 2 3 nan\n",
    "short.mat": "1 0 0\n0 1 0\n",
    "text.mat": "0.01 0 0\n0 0.01 0\n0 0 x\n",
    "singular.mat": "0.01 0 0\n0 0.01 0\n0 0 0\n",
    "nope.mat": None,
    "comment_src.txt": "# X Y Z\n-10 0 0\n",
    "crlf_src.txt": "-10 0 0 1 1e-10\r\n",
    "zero_lambda_src.txt": "-10 0 0 1 0\n",
    "no_newline_src.txt": "-10 0 0",
    "zero_pos_src.txt": "0 0 0\n",
    "nope_src.txt": None,
}
FILE_CASES = [
    (["-hkl", "nope.hkl"], ["nope.hkl"]),
    (["-hkl", "bad_token.hkl"], ["bad_token.hkl", "line 2"]),
    (["-hkl", "fraction.hkl"], ["fraction.hkl", "line 2"]),
    (["-hkl", "decimal_index.hkl"], ["decimal_index.hkl", "line 1"]),
    (["-hkl", "three_cols.hkl"], ["three_cols.hkl", "line 1"]),
    (["-hkl", "five_cols.hkl"], ["five_cols.hkl", "line 1"]),
    (["-hkl", "empty.hkl"], ["empty.hkl"]),
    (["-hkl", "comment.hkl"], ["comment.hkl", "line 1"]),
    (["-hkl", "nan.hkl"], ["nan.hkl", "line 1"]),
    (["-mat", "short.mat"], ["short.mat"]),
    (["-mat", "text.mat"], ["text.mat", "line 3"]),
    (["-mat", "singular.mat"], ["singular.mat", "singular"]),
    (["-mat", "nope.mat"], ["nope.mat"]),
    (["-sourcefile", "comment_src.txt"], ["comment_src.txt", "line 1"]),
    (["-sourcefile", "crlf_src.txt"], ["crlf_src.txt", "line 1"]),
    (["-sourcefile", "zero_lambda_src.txt"], ["zero_lambda_src.txt", "line 1"]),
    (["-sourcefile", "no_newline_src.txt"], ["no_newline_src.txt"]),
    (["-sourcefile", "zero_pos_src.txt"], ["zero_pos_src.txt"]),
    (["-sourcefile", "nope_src.txt"], ["nope_src.txt"]),
    (["-img", "nope.img"], ["-img", "nope.img"]),
    (["-img", "short.img"], ["-img", "short.img"]),
    (["-img", "notsmv.img"], ["-img", "notsmv.img"]),
    (["-img", "hb_too_big.img"], ["-img", "hb_too_big.img"]),
    (["-img", "zero_pixel.img"], ["-img", "zero_pixel.img", "PIXEL_SIZE"]),
    (["-mask", "short_pixels.img"], ["-mask", "short_pixels.img"]),
    (["-mask", "notsmv.img"], ["-mask", "notsmv.img"]),
]


def _write_inputs(folder: Path):
    names = []
    for name, text in FILES.items():
        if text is not None:
            (folder / name).write_text(text, newline="")
            names.append(name)
    (folder / "short.img").write_bytes(b"{\nHEADER_BYTES=512;\n")
    (folder / "notsmv.img").write_bytes(b"\x89PNG\r\n" + bytes(1000))
    _smv(folder / "hb_too_big.img", "{\nHEADER_BYTES=4096;\nSIZE1=4;\nSIZE2=4;\n}", 600)
    _smv(folder / "zero_pixel.img", "{\nHEADER_BYTES=512;\nSIZE1=16;\nSIZE2=16;\n"
         "PIXEL_SIZE=0;\n}", 512 + 2 * 256)
    _smv(folder / "short_pixels.img", "{\nHEADER_BYTES=512;\nSIZE1=16;\nSIZE2=16;\n"
         "PIXEL_SIZE=0.1;\n}", 512 + 100)
    return names + ["short.img", "notsmv.img", "hb_too_big.img", "zero_pixel.img",
                    "short_pixels.img"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, words", FILE_CASES, ids=[" ".join(a) for a, _ in FILE_CASES])
def test_bad_input_file(command, args, words, tmp_path, request):
    inputs = _write_inputs(tmp_path)
    (tmp_path / "f.bin").write_bytes(b"old")  # an existing output stays untouched
    res = run(command, BASE + args, tmp_path, request)
    assert_clean_failure(res, errors.EXIT_INPUT, *words)
    assert leftovers(tmp_path, inputs) == ["f.bin"]
    assert (tmp_path / "f.bin").read_bytes() == b"old"


@pytest.mark.parametrize("command", COMMANDS)
def test_complete_mosflm_matrix_file_accepted(command, tmp_path, request):
    (tmp_path / "full.mat").write_text(
        " -0.01 0.00 0.00\n 0.00 0.01 0.00\n 0.00 0.00 -0.01\n  0.000 0.000 0.000\n"
        " 1 0 0\n 0 1 0\n 0 0 1\n 100 100 100 90 90 90\n  0.000 0.000 0.000\n")
    res = run(command, BASE + ["-mat", "full.mat"], tmp_path, request)
    assert res.returncode == 0 and res.stderr == "", res.stderr


# ----------------------------------------------------------------------------- outputs
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, word", [
    (["-floatfile", "nodir/f.bin"], "nodir"),
    (["-intfile", "adir"], "adir"),
])
def test_unwritable_output(command, args, word, tmp_path, request):
    (tmp_path / "adir").mkdir()
    res = run(command, BASE + args, tmp_path, request)
    assert_clean_failure(res, errors.EXIT_OUTPUT, word)
    assert leftovers(tmp_path) == ["adir"] and list((tmp_path / "adir").iterdir()) == []


# ----------------------------------------------------------------------------- limits
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, words, env", [
    (["-hdivsteps", "100000", "-vdivsteps", "100000"], ["sources", "refusing"], None),
    (["-mosaic", "1", "-mosaic_domains", "1000000", "-phisteps", "100000"],
     ["mosaic domains", "refusing"], None),
    (["-osc", "1e300", "-phistep", "1e-300"], ["refusing"], None),
    ([], ["evaluations", "TORCHBRAGG_MAX_WORK"], {"TORCHBRAGG_MAX_WORK": "100"}),
])
def test_resource_limits(command, args, words, env, tmp_path, request):
    t0 = time.time()
    res = run(command, BASE + args, tmp_path, request, env=env)
    assert_clean_failure(res, errors.EXIT_INPUT, *words)
    assert time.time() - t0 < 60
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_overflowing_grid_is_refused_with_a_source_file(command, tmp_path, request):
    # the grid is resolved (and refused) also when a source file replaces it
    (tmp_path / "src.txt").write_text("-10 0 0 1 1e-10\n")
    res = run(command, BASE + ["-sourcefile", "src.txt", "-hdivrange", "1e300", "-hdivstep",
                               "1e-300"], tmp_path, request)
    assert_clean_failure(res, errors.EXIT_INPUT, "refusing to run")
    assert leftovers(tmp_path, ["src.txt"]) == []


# ----------------------------------------------------------------------------- signals
LONG = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "10", "-N", "5",
        "-detpixels", "512", "-oversample", "6", "-mosaic", "1", "-mosaic_domains", "40",
        "-phisteps", "4", "-osc", "1", "-floatfile", "f.bin", "-intfile", "i.img",
        "-noisefile", "n.img", "-pgmfile", "p.pgm", "-noprogress"]


def _default_signals():
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_leaves_nothing(command, sig, status, tmp_path, request):
    if command == "torchbragg":
        argv = [sys.executable, "-m", "torchbragg"]
    else:
        argv = [request.getfixturevalue("cref_bin")]
    proc = subprocess.Popen(argv + LONG, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # (eager: cached compiled packages could finish before the signal)
                            env=dict(os.environ, OMP_NUM_THREADS="1", TORCHBRAGG_COMPILE="off"),
                            # a shell's background job inherits SIGINT ignored: restore it
                            preexec_fn=_default_signals)
    # wait for the set-up report (printed just before rendering starts)
    for line in proc.stdout:
        if "pixel oversample steps" in line:
            break
    time.sleep(0.5)
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- entry points
def test_console_script_bad_value_subprocess(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "torchbragg", *BASE, "-distance", "abc"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert_clean_failure(Result(proc.returncode, proc.stdout, proc.stderr), 9, "-distance")
    assert leftovers(tmp_path) == []


def test_internal_error_is_one_line_70_and_debug_shows_traceback(tmp_path, monkeypatch,
                                                                   request):
    import torchbragg.cli.main as cli_main

    def boom(argv):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli_main, "run", boom)
    res = run("torchbragg", BASE, tmp_path, request)
    assert_clean_failure(res, errors.EXIT_INTERNAL, "internal error", "boom")
    with pytest.raises(RuntimeError):
        with contextlib.redirect_stderr(io.StringIO()):
            cli_main.main(BASE + ["--debug"])


@pytest.mark.parametrize("args, word", [
    ([], "COMMAND"),
    (["bogus"], "bogus"),
    (["compare-images", "--ref", "a"], "--test"),
    (["compare-images", "--ref", "a", "--test", "b", "--fpixels", "x", "--spixels", "2"],
     "--fpixels"),
    (["compare-images", "--ref", "missing.bin", "--test", "missing.bin", "--fpixels", "2",
      "--spixels", "2"], "missing.bin"),
])
def test_parity_usage_errors(args, word, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "torchbragg.parity.cli", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert_clean_failure(Result(proc.returncode, proc.stdout, proc.stderr), errors.EXIT_USAGE,
                         word)
    assert leftovers(tmp_path) == []


def test_exit_codes_documented():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Exit status and errors"):]
    section = section[:section.index("\n### ", 5)]
    for code in errors.EXIT_CODES:
        assert f"| {code} " in section or f"{code} /" in section or f"/ {code}" in section, code
    assert (errors.EXIT_INPUT, errors.EXIT_OUTPUT, errors.EXIT_INTERNAL,
            errors.EXIT_INTERRUPTED, errors.EXIT_TERMINATED) == (9, 10, 70, 130, 143)
    assert np.all([isinstance(c, int) for c in errors.EXIT_CODES])
