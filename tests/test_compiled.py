"""The ahead-of-time compiled chunk and block (physics/aot*.py): same bits as eager, clean\nfallbacks."""
from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from torchbragg import config_from_argv
from torchbragg.physics import aot, aot_chunk, fused
from torchbragg.physics.render import render
from torchbragg.physics.workload import rendered_indices
from torchbragg.physics.setup import build_experiment, make_plan

# M = 3 (φ steps × mosaic domains) → block packages of 2 and 1 rows; Q1 fresh row in chunk 0;
# several chunks; SQUARE with one axis N = 1 (its factor is exactly 1, Q18); 2×2 sub-pixels
# and one source: a whole chunk fits one chunk package
ARGS = ("-cell 70 80 90 85 95 100 -default_F 30 -Na 7 -Nb 1 -Nc 4 -lambda 1.1 -distance 60 "
        "-detpixels 40 -pixel 0.3 -mosaic 1 -mosaic_domains 3 -seed 5 -misset 4 9 -3 "
        "-phi 0 -osc 0.2 -phisteps 1 -oversample 2").split()
# five sources (a divergence fan): more steps than one chunk package takes → block packages
FAN = ARGS[:-2] + "-hdivrange 0.4 -hdivsteps 5".split()


def _plan(dtype, args=ARGS):
    return make_plan(build_experiment(config_from_argv(args)), "cpu", dtype)


def _render(plan, notify=None):
    idx = rendered_indices(plan, None, None)
    return render(plan, idx, chunk=500, notify=notify).values


@pytest.fixture()
def compile_env(tmp_path, monkeypatch, live_note):
    """A fresh package cache in ``tmp_path``; every package build is announced on the terminal
    (each takes 10–70 s); afterwards inductor's own cache must be inside it, not in /tmp."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on PATH: AOTInductor cannot build packages here")
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path))
    monkeypatch.delenv(aot.INDUCTOR_ENV, raising=False)  # restored after the test
    load_or_build = aot.load_or_build
    built = []

    def announced(path, build_it, what, build_missing, notify=None):
        def both(line):
            live_note(line)
            built.append(line)
            if notify is not None:
                notify(line)
        return load_or_build(path, build_it, what, build_missing, both)

    monkeypatch.setattr(aot, "load_or_build", announced)
    monkeypatch.setattr(fused, "MIN_COMPILED_EVALUATIONS", 0)
    calls = {"block": 0, "chunk": 0}
    block_call, chunk_call = aot.CompiledBlock.__call__, aot_chunk.CompiledChunk.__call__

    def block_spy(self, *args):
        calls["block"] += 1
        return block_call(self, *args)

    def chunk_spy(self, *args):
        calls["chunk"] += 1
        return chunk_call(self, *args)

    monkeypatch.setattr(aot.CompiledBlock, "__call__", block_spy)
    monkeypatch.setattr(aot_chunk.CompiledChunk, "__call__", chunk_spy)
    yield tmp_path, calls
    if any(line.startswith("compiling") for line in built):
        inductor = Path(os.environ[aot.INDUCTOR_ENV])
        assert inductor == tmp_path / "inductor" and inductor.is_dir()
        import torch._inductor.codecache as codecache
        assert Path(codecache._HEADER_DIR).is_relative_to(tmp_path)


def test_inductor_cache_is_the_projects(tmp_path, monkeypatch):
    """TorchInductor's /tmp default (set by importing it) and a value set for an earlier cache
    root are replaced by <cache>/inductor; the user's own TORCHINDUCTOR_CACHE_DIR is kept."""
    monkeypatch.setattr(aot, "_inductor_dir_set", aot._inductor_dir_set)  # restored after
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "a"))
    monkeypatch.delenv(aot.INDUCTOR_ENV, raising=False)
    assert aot.use_inductor_cache() == tmp_path / "a" / "inductor"
    assert os.environ[aot.INDUCTOR_ENV] == str(tmp_path / "a" / "inductor")
    import torch._inductor.codecache as codecache  # (after: the import makes the folder)

    for name in ("_HEADER_DIR", "_HEADER_LOCK_DIR"):
        monkeypatch.setattr(codecache, name, getattr(codecache, name))
    monkeypatch.setenv(aot.INDUCTOR_ENV, aot._torch_default_inductor_dir())
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "b"))
    assert aot.use_inductor_cache() == tmp_path / "b" / "inductor"
    assert codecache._HEADER_DIR == str(tmp_path / "b" / "inductor" / "precompiled_headers")
    monkeypatch.setenv(aot.INDUCTOR_ENV, str(tmp_path / "mine"))
    assert aot.use_inductor_cache() == tmp_path / "mine"
    assert os.environ[aot.INDUCTOR_ENV] == str(tmp_path / "mine")


def test_split_rows():
    assert aot.split_rows(10) == [8, 2]
    assert aot.split_rows(50) == [8] * 6 + [2]
    assert aot.split_rows(7) == [4, 2, 1]
    assert aot.split_rows(1) == [1]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_chunk_is_bit_identical_to_eager(compile_env, monkeypatch, dtype):
    cache, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    eager = _render(_plan(dtype))
    assert calls == {"block": 0, "chunk": 0}
    assert eager.abs().max() > 0
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    notes = []
    compiled = _render(_plan(dtype), notes.append)
    assert calls["chunk"] > 0, calls
    # whatever the CPU, the result has the eager kernel's bits: the first covered chunk is
    # rendered both ways, and a package that differs is dropped with a note
    assert torch.equal(compiled, eager), (compiled != eager).sum()
    rejected = any("differs from the eager one" in n for n in notes)
    if not rejected:
        assert calls["block"] == 0, calls
        assert [p.name.split("-")[0] for p in (cache / "aoti").glob("*.pt2")] == ["chunk"]
    # a later run loads the cached package instead of building (or, where it differed, skips
    # it without checking again: the cache remembers)
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "auto")
    calls["chunk"] = 0
    later = []
    again = _render(_plan(dtype), later.append)
    assert torch.equal(again, eager)
    assert (calls["chunk"] == 0) == rejected and not any("differs" in n for n in later)


def test_a_chunk_package_that_differs_from_eager_is_dropped(compile_env, monkeypatch):
    cache, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    eager = _render(_plan(torch.float32))
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    chunk_call = aot_chunk.CompiledChunk.__call__

    def off_by_one_ulp(self, s, f):
        res = chunk_call(self, s, f)
        res.value = torch.nextafter(res.value, torch.full_like(res.value, math.inf))
        return res

    monkeypatch.setattr(aot_chunk.CompiledChunk, "__call__", off_by_one_ulp)
    notes = []
    assert torch.equal(_render(_plan(torch.float32), notes.append), eager)
    assert any("differs from the eager one" in n for n in notes), notes
    # remembered beside the package: the next run neither loads nor checks it
    assert [p.suffix for p in (cache / "aoti").glob("chunk-*")] in ([".differs", ".pt2"],
                                                                   [".pt2", ".differs"])
    calls["chunk"], notes = 0, []
    assert torch.equal(_render(_plan(torch.float32), notes.append), eager)
    assert calls["chunk"] == 0 and not any("differs" in n for n in notes), notes


def test_compiled_block_is_bit_identical_to_eager(compile_env, monkeypatch):
    cache, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    eager = _render(_plan(torch.float64, FAN))
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    compiled = _render(_plan(torch.float64, FAN))
    assert calls["block"] > 0 and calls["chunk"] == 0, calls
    assert len(list((cache / "aoti").glob("block-*.pt2"))) == 2  # 2-row and 1-row packages
    assert torch.equal(compiled, eager), (compiled != eager).sum()


def test_compiled_block_with_a_structure_factor_table(compile_env, monkeypatch, tmp_path):
    _, calls = compile_env
    monkeypatch.chdir(tmp_path)  # reading a table writes Fdump.bin into the working folder
    hkl = tmp_path / "small.hkl"  # nodes −3…3: the image has pixels inside and outside it
    hkl.write_text("".join(f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}\n"
                           for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)))
    args = FAN + ["-hkl", str(hkl), "-nointerpolate"]
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    plan = _plan(torch.float64, args)
    assert plan.sf.has_table
    eager = _render(plan)
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    compiled = _render(_plan(torch.float64, args))
    assert calls["block"] > 0
    assert torch.equal(compiled, eager), (compiled != eager).sum()
    # the table matters: the same run without it (and without the Fdump.bin cache) differs
    (tmp_path / "Fdump.bin").unlink()
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    assert not torch.equal(_render(_plan(torch.float64, FAN + ["-nointerpolate"])), eager)


def test_auto_does_not_build_for_small_runs(compile_env, monkeypatch):
    cache, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "auto")
    _render(_plan(torch.float64))
    assert calls == {"block": 0, "chunk": 0}
    assert not (cache / "aoti").exists()


def test_broken_package_falls_back_to_eager(compile_env, monkeypatch):
    cache, calls = compile_env
    plan = _plan(torch.float64, FAN)
    for rows in aot.split_rows(plan.lat_a.shape[0]):
        path = aot.package_path(aot.structure_of(plan, rows, False))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a package")
    notes = []
    fn = fused.get_block_fn(plan, 1e12, notify=notes.append)
    assert fn is fused.block_accumulate
    assert notes and "running eager" in notes[-1]
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "off")
    assert fused.get_block_fn(plan, 1e12) is fused.block_accumulate


def test_gradients_never_use_packages(compile_env, monkeypatch):
    _, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    plan = _plan(torch.float64)
    assert fused.get_block_fn(plan, 1e12, differentiable=True) is fused.block_accumulate
    assert fused.get_chunk_fn(plan, 1e12, differentiable=True) is None


def test_reduced_argument_lattice_factor_only_for_whole_numbers():
    from torchbragg.physics.setup import _shifted

    assert _shifted(torch.float32, [5.0, 1.0, 36.0])
    assert not _shifted(torch.float64, [5.0, 1.0, 36.0])
    # a continuous (tensor) N: the sign rule (−1)^((N−1)·h0) does not hold
    assert not _shifted(torch.float32, [torch.tensor(5.0), 1.0, 36.0])
    assert not _shifted(torch.float32, [5.5, 1.0, 36.0])


def test_stale_packages_of_other_builds_are_pruned(tmp_path):
    key = aot._build_key()
    old = 1_000_000.0
    now = old + aot.STALE_AFTER_S + 1
    files = {name: tmp_path / name for name in (
        f"block-float64-{key}-aaaaaaaaaaaa.pt2",  # this build: kept however old
        "block-float64-0123abcd-aaaaaaaaaaaa.pt2",  # another build, unused for long: deleted
        "chunk-float32-0123abcd-bbbbbbbbbbbb.pt2",  # another build, used recently: kept
        "block-float64-0b22bf34a1b856399a6d.pt2")}  # the earlier naming, unused: deleted
    for path in files.values():
        path.write_bytes(b"x")
    for name, path in files.items():
        stamp = now - 60 if name.startswith("chunk") else old
        os.utime(path, (stamp, stamp))
    removed = aot.prune_stale(tmp_path, now=now)
    assert sorted(p.name for p in removed) == sorted(
        ["block-float64-0123abcd-aaaaaaaaaaaa.pt2", "block-float64-0b22bf34a1b856399a6d.pt2"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"block-float64-{key}-aaaaaaaaaaaa.pt2", "chunk-float32-0123abcd-bbbbbbbbbbbb.pt2"])
    # package names carry this build's key
    plan = _plan(torch.float64)
    assert aot.package_path(aot.structure_of(plan, 1, False)).stem.split("-")[2] == key


def test_prepare_builds_what_a_run_loads(compile_env, monkeypatch, capsys, tmp_path):
    from torchbragg.cli.main import main

    cache, calls = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    monkeypatch.chdir(tmp_path)
    assert main(["--prepare", *ARGS]) == 0
    first = capsys.readouterr().out
    assert "built: " in first and "cached: " not in first
    # (a whole-chunk package that differs from eager on this CPU is marked, not reported)
    built = sorted(p.name for p in (cache / "aoti").glob("*.pt2")
                   if not aot.differs_marker(p).exists())
    assert built and all(name in first for name in built)
    # a run now builds nothing (its notes would say "compiling"), a second prepare neither
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "auto")
    notes = []
    _render(_plan(torch.float64), notes.append)
    assert not any("compiling" in n for n in notes), notes
    assert main(["--prepare", *ARGS]) == 0
    again = capsys.readouterr().out
    assert "built: " not in again and "cached: " in again
    assert sorted(p.name for p in (cache / "aoti").glob("*.pt2")
                  if not aot.differs_marker(p).exists()) == built
