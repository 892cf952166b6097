"""The kernel's recorders (physics/recorder.py): the trace and ``-printout`` recorders observe
the kernel without changing its bits, alone or together; the trace of the pixel that runs the
run's first φ loop (Q1) after pixels cut by -dmin shows the C's lattice."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from torchbragg import config_from_argv
from torchbragg.physics.kernel import first_uncut_pixel
from torchbragg.physics.leftovers import LastEvaluation, initial_carry
from torchbragg.physics.recorder import NULL_RECORDER, Tee, combine
from torchbragg.physics.render import render
from torchbragg.physics.setup import build_experiment, make_plan
from torchbragg.physics.trace_hook import TraceRecorder
from torchbragg.physics.workload import rendered_indices

# 16 x 16 pixels; -dmin 100 cuts the outer pixels (the first rows), two φ steps from 0° give
# the run's first φ loop its own lattice (Q1)
ARGS = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 16 "
        "-pixel 0.1 -oversample 1 -phi 0 -osc 1 -phisteps 2 -mosaic 1 -mosaic_domains 2 "
        "-dmin 100").split()


@pytest.fixture(scope="module")
def setup():
    exp = build_experiment(config_from_argv(ARGS))
    plan = make_plan(exp, "cpu", torch.float64)
    return exp, plan, rendered_indices(plan, None, None)


def _first_loop_pixel(plan, idx):
    s, f = idx // plan.fpixels, idx % plan.fpixels
    row = first_uncut_pixel(plan, s, f)
    return int(s[row]), int(f[row]), row


def test_combine_leaves_out_null_recorders():
    trace = TraceRecorder([(0, 0)], print)
    assert combine() is NULL_RECORDER and combine(None, NULL_RECORDER) is NULL_RECORDER
    assert combine(None, trace) is trace
    assert isinstance(combine(trace, trace), Tee)


def test_trace_and_printout_together_as_alone(setup):
    """Same image bits with any recorder; each output the same alone and combined, over
    chunks with and without the traced pixel (the printout's carry crosses chunks)."""
    exp, plan, idx = setup
    slow, fast, row = _first_loop_pixel(plan, idx)
    assert row > 0
    pixels = [(slow, fast), (15, 15)]
    lat = exp.lattice

    def recorders():
        lines, blocks = [], []
        trace = TraceRecorder(pixels, lines.append)
        printout = LastEvaluation(initial_carry(lat.a0_m, lat.b0_m, lat.c0_m, None),
                                  lambda s, f: torch.ones_like(s, dtype=torch.bool),
                                  lambda s, f, v: blocks.append((s, f, v)))
        return trace, printout, lines, blocks

    plain = render(plan, idx, chunk=100).values
    trace, printout, lines, blocks = recorders()
    both = render(plan, idx, chunk=100, recorder=combine(trace, printout)).values
    trace1, _, lines1, _ = recorders()
    alone = render(plan, idx, chunk=100, recorder=trace1).values
    _, printout2, _, blocks2 = recorders()
    alone2 = render(plan, idx, chunk=100, recorder=printout2).values
    for values in (both, alone, alone2):
        assert torch.equal(values.view(torch.int64), plain.view(torch.int64))
    assert lines == lines1 and len([x for x in lines if x.endswith(" subpixel 0 0 0")]) == 2
    assert blocks == blocks2 and [b[:2] for b in blocks] == [(i // 16, i % 16) for i in range(256)]
    # a cut pixel after the first evaluated one repeats the previous pixel's last evaluation
    cut = [i for i in range(row + 1, 256) if blocks[i][2]["polar"] == 0]
    assert cut and all(blocks[i][2]["hkl"] == blocks[i - 1][2]["hkl"] for i in cut)



def test_trace_of_the_first_phi_loop_pixel_after_cut_pixels(setup, cref_bin, tmp_path):
    """The pixel that runs the run's first φ loop is not the chunk's first: its trace shows
    the first loop's lattice, as the C's."""
    _, plan, idx = setup
    slow, fast, row = _first_loop_pixel(plan, idx)
    assert row > 0 and not torch.equal(plan.first_lat[0][0], plan.lat_a[0])
    argv = ARGS + ["-trace_pixel", str(slow), str(fast), "-nonoise", "-nopgm", "-noprogress"]
    logs = {}
    for side, cmd in (("c", [str(cref_bin)]), ("py", [sys.executable, "-m", "torchbragg",
                                                     "-dtype", "float64"])):
        proc = subprocess.run(cmd + argv + ["-floatfile", f"{side}.bin"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        logs[side] = tmp_path / f"{side}.log"
        logs[side].write_text(proc.stdout)
    cmp = subprocess.run(
        [sys.executable, "-c", "from torchbragg.parity.cli import main; raise SystemExit(main())",
         "compare-traces", "--c", str(logs["c"]), "--py", str(logs["py"]),
         "--out", str(tmp_path / "cmp")], capture_output=True, text=True)
    assert cmp.returncode == 0, cmp.stdout[-3000:]
