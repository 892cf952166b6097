"""Tricubic structure-factor interpolation (docs/behaviour/physics.md §7.5) and its global
switch-off (Q11): the same bits as the C's nested 1-D interpolations, and the C reference's images
and warning where the switch-off falls inside a chunk, eager and compiled."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from torchbragg import config_from_argv, native
from torchbragg.physics import kernel, render as render_mod
from torchbragg.physics.compiled import CompilePolicy
from torchbragg.physics import structure_factors as sfm
from torchbragg.physics import tricubic_native
from torchbragg.physics.render import render
from torchbragg.physics.workload import rendered_indices
from torchbragg.physics.setup import build_experiment, make_plan
from torchbragg.physics.structure_factors import SFLookup

# a table h −12…6, k −6…12, l −12…6: with this detector the first rows stay inside the 4x4x4
# neighbourhoods and the switch-off happens inside the image (row 0, fast pixel ≈ 50)
GEOMETRY = ("-cell 100 100 100 90 90 90 -N 2 -lambda 6.2 -distance 100 -detpixels 64 "
            "-pixel 1.6").split()
QUIET = ["-nonoise", "-nopgm", "-noprogress"]


def _write_table(path):
    path.write_text("".join(
        "%d %d %d %.2f\n" % (h, k, l, 50 + 40 * math.cos(0.7 * h + 1.3 * k - 0.4 * l)
                             + 3 * ((7 * h + 3 * k + l) % 5))
        for h in range(-12, 7) for k in range(-6, 13) for l in range(-12, 7)))
    return path


def _polint4(x, x0, ys):
    """The C's 4-point Lagrange polynomial on Python floats, term by term
    (docs/behaviour/physics.md §7.5)."""
    xa = [x0 + i for i in range(4)]
    total = 0.0
    for j in range(4):
        o = [xa[i] for i in range(4) if i != j]
        term = (x - o[0]) * (x - o[1]) * (x - o[2]) * ys[j] / (
            (xa[j] - o[0]) * (xa[j] - o[1]) * (xa[j] - o[2]))
        total = term if j == 0 else total + term
    return total


def _scalar_tricubic(grid, lo, x):
    """Interpolate along l, then k, then h, as the C (one evaluation, Python floats)."""
    fl = [math.floor(v) for v in x]
    along_k = []
    for i in range(4):
        along_l = [_polint4(x[2], fl[2] - 1, [float(grid[fl[0] - 1 + i - lo[0],
                                                          fl[1] - 1 + j - lo[1],
                                                          fl[2] - 1 + m - lo[2]])
                                                for m in range(4)]) for j in range(4)]
        along_k.append(_polint4(x[1], fl[1] - 1, along_l))
    return _polint4(x[0], fl[0] - 1, along_k)


@pytest.fixture()
def isa():
    """Select the helper's loop copies (AVX2 or baseline) for one test; the best afterwards."""
    yield tricubic_native.select_isa
    tricubic_native.select_isa(True)


@pytest.mark.parametrize("path", ["native", "native-baseline", "tensor"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_tricubic_is_the_c_arithmetic_bit_for_bit(dtype, path, monkeypatch, isa):
    monkeypatch.setattr(native, "_enabled", [path != "tensor"])
    if path != "tensor" and not tricubic_native.available():
        pytest.skip("the C helper cannot be built here (no compiler)")
    if path == "native-baseline":
        assert not isa(False)  # the baseline copies (those of a CPU without AVX2)
    # (the helper's evaluations split over three threads: one part per thread)
    monkeypatch.setattr(tricubic_native, "MIN_PER_THREAD", 1000)
    monkeypatch.setattr(native, "threads", lambda: 3)
    gen = torch.Generator().manual_seed(3)
    grid = torch.rand(19, 17, 23, generator=gen, dtype=torch.float64) * 400 - 50
    lo = (-9, -8, -11)
    sf = SFLookup(grid.to(dtype).reshape(-1), grid, *lo, 18, 16, 22, 1.0, True)
    n = 2 * sfm.PIECE + 37  # several pieces and a partial one
    span = torch.tensor([[lo[a] + 2, lo[a] + r - 3] for a, r in enumerate((18, 16, 22))],
                        dtype=torch.float64)
    u = torch.rand(3, n, generator=gen, dtype=torch.float64)
    x = span[:, :1] + u * (span[:, 1:] - span[:, :1])
    x[:, :5] = torch.tensor([[-7.0, 0.0, 3.0], [-6.0, 1.0, 8.0], [-6.5, 0.5, 2.0],
                             [-5.5, -1e-17, 4.0], [6.0, 5.0, -9.0]]).T  # nodes, edges, tiny
    h, k, l = x[0].reshape(1, -1), x[1].reshape(1, -1), x[2].reshape(1, -1)
    valid = ~sf.out_of_interpolation_range(h, k, l)
    assert bool(valid.all())
    got = sf.tricubic(h, k, l, valid).reshape(-1)
    assert got.dtype == torch.float64
    table = grid.to(dtype).to(torch.float64).numpy()
    want = torch.tensor([_scalar_tricubic(table, lo, x[:, e].tolist()) for e in range(n)],
                        dtype=torch.float64)
    assert torch.equal(got.view(torch.int64), want.view(torch.int64))


def test_nan_indices_are_out_of_range():
    sf = SFLookup(torch.zeros(8), torch.zeros(27), 0, 0, 0, 1, 1, 1, 1.0, True)
    nan = torch.tensor([math.nan])
    assert bool(sf.out_of_interpolation_range(nan, torch.zeros(1), torch.zeros(1)))



def _run(cmd, cwd, env=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (cwd / "Fdump.bin").unlink(missing_ok=True)
    return proc.stdout


def _compare_with_c(cref_bin, tmp_path, extra, env=None):
    table = _write_table(tmp_path / "asym.hkl")
    args = GEOMETRY + ["-hkl", str(table)] + extra + QUIET
    c_out = _run([str(cref_bin), *args, "-floatfile", "c.bin"], tmp_path)
    t_out = _run([sys.executable, "-m", "torchbragg", *args, "-dtype", "float64",
                  "-floatfile", "t.bin"], tmp_path, env)
    assert "out of range for three point interpolation" in c_out
    strip = [line for line in c_out.splitlines() if not line.startswith("writing")]
    assert [line for line in t_out.splitlines() if not line.startswith("writing")] == strip
    c_img, t_img = ((tmp_path / n).read_bytes() for n in ("c.bin", "t.bin"))
    assert t_img == c_img, (np.frombuffer(c_img, "<f4") != np.frombuffer(t_img, "<f4")).sum()


# (rows of the switch-off pixel / its evaluation index, from the eager kernel: mosaic → the
# 7th of 12 evaluations of chunk 1's row 19; ROI → the 2nd sub-pixel; -dmin; Q14 toggles)
CASES = {
    "mosaic-mid-pixel-second-chunk": "-mosaic 5 -mosaic_domains 4 -chunk_pixels 30",
    "oversample-roi": "-roi 10 50 0 40 -oversample 2",
    "dmin": "-dmin 12 -oversample 2",
    "toggles-sources": "-oversample 2 -oversample_polar -oversample_omega -hdivrange 2 "
                       "-hdivsteps 3 -chunk_pixels 64",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_switch_off_matches_the_c_reference(cref_bin, tmp_path, name):
    _compare_with_c(cref_bin, tmp_path, CASES[name].split(), {"TORCHBRAGG_COMPILE": "off"})



def test_table_under_four_nodes_per_axis_matches_the_c_reference(cref_bin, tmp_path):
    """Every lookup is out of range (no 4-node neighbourhood exists): the dummy gather of the
    invalid evaluations must stay inside the two-node grid, and the image is the C's."""
    (tmp_path / "two.hkl").write_text("0 0 0 10\n1 0 0 20\n")
    args = ["-cell", "100", "100", "100", "90", "90", "90", "-hkl", "two.hkl", "-N", "2",
            "-detpixels", "16"] + QUIET
    c_out = _run([str(cref_bin), *args, "-floatfile", "c.bin"], tmp_path)
    t_out = _run([sys.executable, "-m", "torchbragg", *args, "-dtype", "float64",
                  "-floatfile", "t.bin"], tmp_path, {"TORCHBRAGG_COMPILE": "off"})
    assert "out of range for three point interpolation" in c_out
    assert "out of range for three point interpolation" in t_out
    assert (tmp_path / "t.bin").read_bytes() == (tmp_path / "c.bin").read_bytes()


def _plan(tmp_path, extra, dtype=torch.float64):
    table = _write_table(tmp_path / "asym.hkl")
    cwd = os.getcwd()
    os.chdir(tmp_path)  # reading a table writes Fdump.bin into the working folder
    try:
        cfg = config_from_argv(GEOMETRY + ["-hkl", str(table)] + extra)
    finally:
        os.chdir(cwd)
    plan = make_plan(build_experiment(cfg), "cpu", dtype)
    return plan, rendered_indices(plan, None, None)


def test_only_the_switching_pixel_is_rendered_again(tmp_path, monkeypatch):
    """One pass per chunk; the pixel of the switch-off once more, alone (not the chunk)."""
    plan, idx = _plan(tmp_path, "-mosaic 5 -mosaic_domains 4".split())
    calls = []
    real = render_mod.render_chunk

    def spy(plan, s, *args, **kw):
        calls.append((int(s.shape[0]), args[2].mode))
        return real(plan, s, *args, **kw)

    monkeypatch.setattr(render_mod, "render_chunk", spy)
    warnings = []
    res = render(plan, idx, chunk=1000, on_interpolation_off=warnings.append)
    assert calls[:2] == [(1000, "on"), (1, "split")], calls
    assert all(mode == "off" for _, mode in calls[2:]) and len(calls) == 6
    assert len(warnings) == 1 and len(warnings[0]) == 6  # (h, k, l, h0, k0, l0)
    # the pixels after the switch are the nearest-node image's, those before the interpolated
    monkeypatch.chdir(tmp_path)  # (reading the table writes Fdump.bin into the working folder)
    off = make_plan(build_experiment(config_from_argv(
        GEOMETRY + ["-hkl", str(tmp_path / "asym.hkl"), "-nointerpolate",
                    "-mosaic", "5", "-mosaic_domains", "4"])), "cpu", torch.float64)
    monkeypatch.setattr(render_mod, "render_chunk", real)
    near = render(off, idx, chunk=1000).values.reshape(-1)
    flat = res.values.reshape(-1)
    assert torch.equal(flat[50:], near[50:]) and not torch.equal(flat[:49], near[:49])


def test_limit_skips_interpolating_pixels_after_a_switch(tmp_path, monkeypatch):
    """After the first out-of-range pixel is known, later blocks interpolate only the pixels
    before it (the result is unchanged: compared with the C above). The tensor path: the C
    helper takes the limit as an argument (next test)."""
    monkeypatch.setattr(native, "_enabled", [False])
    plan, idx = _plan(tmp_path, "-oversample 3".split())
    sizes = []
    real = SFLookup.tricubic

    def spy(self, h, k, l, valid):
        sizes.append(int(h.shape[1]))
        return real(self, h, k, l, valid)

    monkeypatch.setattr(SFLookup, "tricubic", spy)
    kernel_res = kernel.render_chunk(plan, idx // 64, idx % 64, -1,
                                     kernel.InterpolationPolicy("on"))
    row, _ = kernel_res.first_out_of_range
    assert row < 64 and sizes[0] == 4096 and len(sizes) == 9, (sizes, row)
    assert row <= min(sizes[1:]) and max(sizes[1:]) < 64, (sizes, row)


@pytest.mark.parametrize("extra", ["-oversample 3", "-mosaic 5 -mosaic_domains 4"])
def test_native_pass_matches_the_tensor_path(tmp_path, monkeypatch, extra, isa):
    """An interpolating chunk pass through the C helper (nearest node, range test, tricubic,
    the limit after a switch) gives the tensor path's bits: values, nearest-node values and
    the first out-of-range evaluation, in both dtypes, through either copy of its loops."""
    if not tricubic_native.available():
        pytest.skip("the C helper cannot be built here (no compiler)")
    monkeypatch.setattr(tricubic_native, "MIN_PER_THREAD", 500)  # parts across rows
    monkeypatch.setattr(native, "threads", lambda: 3)
    for dtype, best in ((torch.float64, True), (torch.float32, True), (torch.float64, False)):
        plan, idx = _plan(tmp_path, extra.split(), dtype)
        results = []
        isa(best)
        for allowed in (True, False):
            with native.use_native(allowed):
                results.append(kernel.render_chunk(plan, idx // 64, idx % 64, -1,
                                                   kernel.InterpolationPolicy("on")))
        a, b = results
        assert a.first_out_of_range == b.first_out_of_range is not None
        for x, y in ((a.value, b.value), (a.value_near, b.value_near)):
            assert torch.equal(x.to(torch.float64).view(torch.int64),
                               y.to(torch.float64).view(torch.int64))


@pytest.fixture()
def compiled_cache(tmp_path, live_note):
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on PATH: AOTInductor cannot build packages here")
    live_note("building compiled block packages (each takes 10–70 s)")
    return tmp_path


def test_switch_off_compiled_matches_eager(compiled_cache):
    """Compiled runs (interpolating chunks eager, the nearest-node chunks after the switch-off
    through the block packages) give the eager kernel's bits."""
    plan, idx = _plan(compiled_cache, "-mosaic 5 -mosaic_domains 4".split())
    eager = render(plan, idx, chunk=30).values
    on = CompilePolicy("on", min_evaluations=0, cache=compiled_cache / "cache")
    compiled = render(plan, idx, chunk=30, compile=on).values
    assert list((compiled_cache / "cache" / "aoti").glob("*.pt2"))
    assert torch.equal(compiled.view(torch.int64), eager.view(torch.int64))


def test_gradients_take_the_tensor_path():
    """With a table or indices that need gradients the lookup stays on tensors (the C helper
    has none): F_cell carries the graph, with the helper's values."""
    gen = torch.Generator().manual_seed(5)
    grid = torch.rand(9, 9, 9, generator=gen, dtype=torch.float64) * 100
    padded = torch.zeros(11, 11, 11, dtype=torch.float64)
    padded[1:10, 1:10, 1:10] = grid
    table = grid.clone().requires_grad_(True)
    h, k, l = (torch.rand(1, 50, generator=gen, dtype=torch.float64) * 3 + 2 for _ in range(3))
    h0, k0, l0 = (torch.ceil(x - 0.5) for x in (h, k, l))
    plain = SFLookup(grid.reshape(-1), padded.reshape(-1), 0, 0, 0, 8, 8, 8, 1.0, True)
    want = plain.interpolated(h, k, l, h0, k0, l0)[0]
    for sf, x in ((SFLookup(table.reshape(-1), padded.reshape(-1), 0, 0, 0, 8, 8, 8, 1.0, True),
                   h), (plain, h.clone().requires_grad_(True))):
        F = sf.interpolated(x, k, l, h0, k0, l0)[0]
        assert F.requires_grad and torch.equal(F.detach(), want)
        F.sum().backward()
    assert table.grad is not None and bool((table.grad != 0).any())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_threaded_lookups_work_in_a_forked_child(monkeypatch):
    """The helper's thread pool is the process's own: a child forked after threaded lookups
    (e.g. data-loader workers) gets a new one instead of waiting on the parent's threads."""
    if not tricubic_native.available():
        pytest.skip("the C helper cannot be built here (no compiler)")
    monkeypatch.setattr(tricubic_native, "MIN_PER_THREAD", 10)
    monkeypatch.setattr(native, "threads", lambda: 2)
    grid = torch.arange(729, dtype=torch.float64).reshape(9, 9, 9)
    sf = SFLookup(grid.reshape(-1), torch.zeros(11 ** 3, dtype=torch.float64), 0, 0, 0, 8, 8, 8,
                  1.0, True)
    x = torch.full((1, 100), 3.25, dtype=torch.float64)
    want = sf.tricubic(x, x, x, torch.ones_like(x, dtype=torch.bool))
    pid = os.fork()
    if pid == 0:  # the child: the same lookup, split over a pool of its own
        import signal

        signal.alarm(60)  # (a lookup waiting on the parent's threads would hang)
        got = sf.tricubic(x, x, x, torch.ones_like(x, dtype=torch.bool))
        os._exit(0 if torch.equal(got, want) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_background_load_builds_the_helper_before_the_first_lookup(tmp_path):
    """From an empty cache (no helpers built at install): ``load_in_background`` returns at
    once, the build runs on its own thread and the first use waits for it (a fresh process:
    the helper is loaded once per process)."""
    probe = ("import threading, time; from torchbragg.physics import tricubic_native as t; "
             "start = time.monotonic(); t.load_in_background(); "
             "names = [th.name for th in threading.enumerate()]; "
             "print(time.monotonic() - start < 0.2, 'tb-lookup-build' in names, t.available())")
    env = dict(os.environ, TORCHBRAGG_CACHE=str(tmp_path / "cache"), TORCHBRAGG_PREBUILT="0")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split()
    if out[2] == "False":
        pytest.skip("the C helper cannot be built here (no compiler)")
    assert out == ["True", "True", "True"]
    assert list((tmp_path / "cache").rglob("tricubic_native*"))


F32 = ["-dtype", "float32"]


@pytest.mark.parametrize("extra, wanted", [
    (F32, True), (F32 + ["-nointerpolate"], False), (F32 + ["-N", "5"], False),
    (F32 + ["-N", "5", "-interpolate"], True), (["-round_xtal"], True),
    (["-oversample_omega"], True),
    # binary64 SQUARE runs: the native block interpolates, the lookups are not loaded ahead
    ([], False), (["-N", "5", "-interpolate"], False)])
def test_the_command_starts_the_build_only_for_interpolating_runs(tmp_path, monkeypatch,
                                                                   extra, wanted):
    """The lookup helper is loaded beside the HKL parse only where the run interpolates and
    the native block may not interpolate it itself (block_native.may_serve)."""
    from torchbragg.cli import main as cli_main

    table = _write_table(tmp_path / "asym.hkl")
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(tricubic_native, "load_in_background", lambda: calls.append(1))
    argv = GEOMETRY + ["-hkl", str(table), "-detpixels", "4"] + extra + QUIET + [
        "-compile", "off", "-floatfile", "f.bin", "-nointfile"]
    assert cli_main.main(argv) == 0
    assert calls == ([1] if wanted else [])
