"""The native hot block (physics/block_native.py) gives the tensor block's bits."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from torchbragg import config_from_argv, native, simulate
from torchbragg.physics import block, block_native
from torchbragg.physics.setup import build_experiment, make_plan

BASE = ("-cell 70 80 90 88 92 95 -lambda 1.3 -distance 60 -detpixels 48 -pixel 0.4 "
        "-default_F 30 -nonoise -nopgm -noprogress").split()

CASES = {
    # M = 3 φ steps x 4 domains, every axis active
    "mosaic": "-N 6 -mosaic 0.8 -mosaic_domains 4 -phisteps 3 -osc 0.3 -oversample 2",
    # N_a = 1: an axis whose factor is exactly 1; water keeps F_latt == 0 evaluations
    "one-axis-water": "-Na 1 -Nb 4 -Nc 7 -water 50 -phisteps 2 -osc 0.2 -nointerpolate",
    # every axis N = 1: no sines at all (without -nointerpolate N ≤ 2 interpolates)
    "no-axis": "-N 1 -phisteps 2 -osc 1 -nointerpolate",
    # a d-min cut skips whole pixels; two sources
    "dmin": "-N 5 -dmin 6 -divergence 0.2 -divsteps 2",
    # a table (some nodes outside it: default_F) looked up per evaluation
    "table": "-N 4 -hkl {hkl} -nointerpolate -phisteps 3 -osc 0.4",
}


#: interpolating runs (N ≤ 2 with a table): the native block's ``on`` passes
INTERPOLATING = {
    # every evaluation in range: no switch-off
    "in-range": "-N 2 -hkl {wide} -oversample 2 -mosaic 0.5 -mosaic_domains 3",
    # the direct beam near pixel 0, the first out-of-range evaluation at pixel 26: the global
    # switch-off (Q11), the nearest-node sum beside, each pixel's first out-of-range
    # evaluation, interpolation only before that pixel, the split pass
    "switch-off": "-N 2 -hkl {mid} -phisteps 3 -osc 0.3 -Xbeam 4 -Ybeam 4",
    # a d-min cut, water (F_latt == 0 kept), two sources, one axis with N = 1; the run's
    # first φ loop (Q1) at the first pixel the cut leaves, inside a chunk
    "dmin-water": "-Na 1 -Nb 2 -Nc 2 -hkl {wide} -dmin 7 -water 50 -divergence 0.2 "
                  "-divsteps 2 -phisteps 2 -osc 0.2",
}


def _hkl(tmp_path, reach=(6, 5, -7, 3), name="t.hkl"):
    path = tmp_path / name
    rh, rk, l_min, l_max = reach
    path.write_text("".join(
        "%d %d %d %.3f\n" % (h, k, l, 20 + 15 * math.cos(0.9 * h - 0.5 * k + 0.3 * l))
        for h in range(-rh, rh + 1) for k in range(-rk, rk + 1)
        for l in range(l_min, l_max + 1)))
    return path


def _config(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (a run with -hkl writes Fdump.bin; one without reads it)
    text = {**CASES, **INTERPOLATING}[name]
    hkl = _hkl(tmp_path) if "{hkl}" in text else ""
    wide = _hkl(tmp_path, (18, 18, -18, 18), "wide.hkl") if "{wide}" in text else ""
    mid = _hkl(tmp_path, (9, 9, -9, 9), "mid.hkl") if "{mid}" in text else ""
    return config_from_argv(BASE + text.format(hkl=hkl, wide=wide, mid=mid).split())


def _image(cfg, on: bool, dtype=torch.float64):
    with native.use_native(on):
        return simulate(cfg, compile="off", dtype=dtype, chunk_pixels=700)


@pytest.fixture
def helper():
    if block_native._load() is None:
        pytest.skip("the native block cannot be built here (no C compiler)")
    yield
    block_native.use_vector_sine(True)
    block_native.use_avx2(True)


@pytest.mark.parametrize("sine", ["vector-avx2", "vector-baseline", "buffer"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_native_block_gives_the_tensor_blocks_bits(name, sine, tmp_path, helper, monkeypatch):
    if not block_native.use_vector_sine(sine != "buffer") and sine != "buffer":
        pytest.skip("torch's library exports no vector sine with torch.sin's bits here")
    if block_native.use_avx2(sine == "vector-avx2") != (sine == "vector-avx2"):
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setattr(native, "threads", lambda: 3)  # (several parts per block)
    monkeypatch.setattr(block_native, "MIN_PER_THREAD", 64)
    monkeypatch.setattr(block_native, "TILE_EVALUATIONS", 1000)  # (several buffer tiles)
    cfg = _config(name, tmp_path, monkeypatch)
    plan = make_plan(build_experiment(cfg), torch.device("cpu"), torch.float64)
    assert isinstance(block_native.block_fn(plan), block_native.NativeBlock)
    calls = []
    real = block_native.NativeBlock.__call__
    monkeypatch.setattr(block_native.NativeBlock, "__call__",
                        lambda self, *a: calls.append(1) or real(self, *a))
    fast = _image(cfg, True)
    assert calls, "the native block was not used"
    slow = _image(cfg, False)
    assert fast.abs().max() > 0
    assert torch.equal(fast.view(torch.int64), slow.view(torch.int64))


@pytest.mark.parametrize("sine", ["vector-avx2", "vector-baseline", "buffer"])
@pytest.mark.parametrize("name", sorted(INTERPOLATING))
def test_native_interpolating_block_gives_the_tensor_paths_bits(name, sine, tmp_path, helper,
                                                                monkeypatch):
    """The ``on`` passes by the native block: tricubic F_cell, the nearest node where out of
    range or after the chunk's first out-of-range pixel, the nearest-node sum and each
    pixel's first out-of-range evaluation (Q11), the first φ loop's pixel (Q1) — the tensor
    path's image, to the bit."""
    if not block_native.use_vector_sine(sine != "buffer") and sine != "buffer":
        pytest.skip("torch's library exports no vector sine with torch.sin's bits here")
    if block_native.use_avx2(sine == "vector-avx2") != (sine == "vector-avx2"):
        pytest.skip("this CPU has no AVX2")
    monkeypatch.setattr(native, "threads", lambda: 3)
    monkeypatch.setattr(block_native, "MIN_PER_THREAD", 64)
    monkeypatch.setattr(block_native, "TILE_EVALUATIONS", 1000)
    cfg = _config(name, tmp_path, monkeypatch)
    plan = make_plan(build_experiment(cfg), torch.device("cpu"), torch.float64)
    assert plan.interpolate
    assert isinstance(block_native.interpolating_block(plan), block_native.NativeBlock)
    hits, fresh = [], []
    real_fresh = block_native.NativeBlock.fresh
    monkeypatch.setattr(block_native.NativeBlock, "fresh",
                        lambda self, p: fresh.append(1) or real_fresh(self, p))
    real = block_native.NativeBlock.interpolating
    monkeypatch.setattr(block_native.NativeBlock, "interpolating",
                        lambda self, *a: hits.append(real(self, *a)[2]) or real(self, *a))
    fast = _image(cfg, True)
    assert hits, "the native interpolating block was not used"
    assert any(hits) == (name == "switch-off")
    assert bool(fresh) == (plan.first_lat is not None) == (name != "in-range")
    slow = _image(cfg, False)
    assert fast.abs().max() > 0
    assert torch.equal(fast.view(torch.int64), slow.view(torch.int64))


def test_the_interpolating_block_serves_only_binary64_cpu_tables(tmp_path, helper, monkeypatch):
    cfg = _config("in-range", tmp_path, monkeypatch)
    exp = build_experiment(cfg)
    assert block_native.interpolating_block(make_plan(exp, torch.device("cpu"),
                                                      torch.float32)) is None
    plan = make_plan(exp, torch.device("cpu"), torch.float64)
    assert block_native.interpolating_block(plan, differentiable=True) is None
    with native.use_native(False):
        assert block_native.interpolating_block(plan) is None
    nearest = make_plan(build_experiment(config_from_argv(
        BASE + f"-N 2 -hkl {tmp_path / 'wide.hkl'} -nointerpolate".split())),
        torch.device("cpu"), torch.float64)
    assert block_native.interpolating_block(nearest) is None


def test_the_vector_sine_is_used_only_with_torch_sins_bits(helper, monkeypatch):
    """A vector sine whose bits differ from torch.sin on the probe set is not used."""
    if not block_native.use_vector_sine(True):
        pytest.skip("torch's library exports no vector sine with torch.sin's bits here")
    monkeypatch.setattr(torch, "sin", lambda x, **kw: torch.cos(x, **kw))
    assert not block_native.use_vector_sine(True)


@pytest.mark.parametrize("argv, why", [
    ("-N 5 -round_xtal", "shape"),
    ("-N 5 -oversample_omega -oversample 2", "toggle"),
])
def test_other_blocks_take_the_tensor_path(argv, why, helper):
    plan = make_plan(build_experiment(config_from_argv(BASE + argv.split())),
                     torch.device("cpu"), torch.float64)
    assert block_native.block_fn(plan) is block.block_accumulate, why


def test_float32_mode_and_gradients_take_the_tensor_path(helper):
    cfg = config_from_argv(BASE + "-N 5".split())
    exp = build_experiment(cfg)
    assert block_native.block_fn(make_plan(exp, torch.device("cpu"), torch.float32)) \
        is block.block_accumulate
    plan = make_plan(exp, torch.device("cpu"), torch.float64)
    assert isinstance(block_native.block_fn(plan), block_native.NativeBlock)
    assert block_native.block_fn(plan, differentiable=True) is block.block_accumulate
    with native.use_native(False):
        assert block_native.block_fn(plan) is block.block_accumulate


def test_a_tensor_default_F_takes_the_tensor_path(helper):
    """default_F given as a tensor (a gradient field), even one not requiring a gradient."""
    from dataclasses import replace

    cfg = config_from_argv(BASE + "-N 5".split())
    sfs = replace(cfg.structure_factors, default_F=torch.tensor(30.0, dtype=torch.float64))
    cfg = replace(cfg, structure_factors=sfs)
    plan = make_plan(build_experiment(cfg), torch.device("cpu"), torch.float64)
    assert block_native.block_fn(plan) is block.block_accumulate
    image = simulate(cfg, compile="off")
    with native.use_native(False):
        assert torch.equal(image, simulate(cfg, compile="off"))
    assert image.abs().max() > 0


@pytest.mark.parametrize("extra, native_env, built", [
    ("-N 5", "1", True), ("-N 5 -hkl {hkl} -nointerpolate", "1", True),
    ("-N 5 -hkl {hkl}", "1", True), ("-N 2 -hkl {hkl}", "1", True), ("-N 5", "0", False)])
def test_the_command_builds_the_helper_for_runs_it_may_serve(extra, native_env, built, tmp_path,
                                                             helper):
    """From an empty cache (and no helpers built at install) a command run builds the native
    block's helper (on a thread while torch is imported), interpolating or not; a run with
    TORCHBRAGG_NATIVE=0 does not."""
    args = extra.format(hkl=_hkl(tmp_path)).split()
    env = dict(os.environ, TORCHBRAGG_CACHE=str(tmp_path / "cache"), TORCHBRAGG_NATIVE=native_env,
               TORCHBRAGG_PREBUILT="0")
    subprocess.run([sys.executable, "-m", "torchbragg", *BASE, *args, "-floatfile", "f.bin"],
                   cwd=tmp_path, env=env, capture_output=True, timeout=300, check=True)
    assert (tmp_path / "f.bin").stat().st_size == 48 * 48 * 4
    assert bool(list((tmp_path / "cache").rglob("block_native*"))) == built


def test_a_build_in_flight_is_waited_for_not_repeated(tmp_path, monkeypatch):
    """build_cached of a helper whose background build is running waits for that build."""
    from torchbragg import _cbuild

    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHBRAGG_PREBUILT", "0")
    monkeypatch.setattr(_cbuild, "_background", {})
    if _cbuild.shutil.which(_cbuild.compiler_name().split()[0]) is None:
        pytest.skip("no C compiler")
    runs = []
    real = _cbuild.subprocess.run
    monkeypatch.setattr(_cbuild.subprocess, "run",
                        lambda *a, **k: runs.append(a[0]) or real(*a, **k))
    native.build_in_background(native.BLOCK_HELPER)
    path = native.build_helper(native.BLOCK_HELPER)
    assert path.is_file() and len([r for r in runs if "-o" in r]) == 1


@pytest.mark.parametrize("extra, lookups", [
    ("-N 2 -hkl t.hkl", False),  # (binary64 SQUARE: the native block interpolates itself)
    ("-N 2 -hkl t.hkl -dtype float32", True), ("-N 2 -hkl t.hkl -round_xtal", True),
    ("-N 2 -hkl t.hkl -oversample_omega", True), ("-N 2 -hkl t.hkl -nointerpolate -dtype "
                                                  "float32", False), ("-N 2", False)])
def test_the_command_builds_the_lookups_ahead_only_where_the_block_may_not_interpolate(
        extra, lookups, tmp_path, monkeypatch):
    from torchbragg.cli import main as cli_main

    monkeypatch.chdir(tmp_path)  # (no dump file)
    queued = []
    monkeypatch.setattr(native, "build_in_background", lambda *h: queued.extend(h))
    with native.use_native(True):
        cli_main.start_helper_build(BASE + extra.split())
    assert (native.TRICUBIC_HELPER in queued) == lookups
    assert native.BLOCK_HELPER in queued
    assert (native.HKL_HELPER in queued) == ("-hkl" in extra)
    assert queued.index(native.BLOCK_HELPER) == (1 if "-hkl" in extra else 0)


def test_the_command_guess_agrees_with_the_plan(tmp_path, monkeypatch):
    """block_native.may_serve (the command's guess from the config) is what serves() decides
    for the plan, on a served and on unserved configurations."""
    monkeypatch.chdir(tmp_path)  # (reading the table writes Fdump.bin)
    path = _hkl(tmp_path)
    for extra, dtype in (("", torch.float64), ("-round_xtal", torch.float64),
                         ("-oversample_thick -oversample 2", torch.float64), ("", torch.float32)):
        cfg = config_from_argv(BASE + f"-N 2 -hkl {path} {extra}".split())
        plan = make_plan(build_experiment(cfg), torch.device("cpu"), dtype)
        name = "float64" if dtype == torch.float64 else "float32"
        assert block_native.may_serve(cfg, name) == block_native.serves(plan), extra
