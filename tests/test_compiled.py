"""The ahead-of-time compiled chunk and block (physics/compiled/): same bits as eager, clean
fallbacks, the policy passed in."""
from __future__ import annotations

import ast
import math
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from torchbragg import config_from_argv
from torchbragg.cli.run_env import compile_policy
from torchbragg.physics import block, block_native
from torchbragg.physics.compiled import EAGER, CompilePolicy, packages, parts
from torchbragg.physics.compiled import block as cblock
from torchbragg.physics.compiled import chunk as cchunk
from torchbragg.physics.render import render
from torchbragg.physics.workload import rendered_indices
from torchbragg.physics.setup import build_experiment, make_plan

PHYSICS = Path(block.__file__).parent

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


def _eager(fn) -> bool:
    """Whether ``fn`` is an eager block function: the tensor one or the native one (the same
    bits: tests/test_block_native.py)."""
    return fn is block.block_accumulate or isinstance(fn, block_native.NativeBlock)


def _render(plan, policy=EAGER, notify=None):
    idx = rendered_indices(plan, None, None)
    return render(plan, idx, chunk=500, compile=replace(policy, notify=notify)).values


@pytest.fixture()
def compile_env(tmp_path, monkeypatch, live_note):
    """A fresh package cache in ``tmp_path`` and the policies ``on`` and ``auto`` for it (the
    tiny test runs count as large); every package build is announced on the terminal (each
    takes 10–260 s); each build's compiler files must go inside the cache, not to /tmp, and
    the inductor variable is put back afterwards."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on PATH: AOTInductor cannot build packages here")
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path))  # (the command line's cache)
    monkeypatch.delenv(packages.INDUCTOR_ENV, raising=False)  # restored after the test
    load_or_build = packages.load_or_build
    built, folders = [], []

    def announced(path, build_it, what, build_missing, notify=None):
        def both(line):
            live_note(line)
            built.append(line)
            if notify is not None:
                notify(line)
        return load_or_build(path, build_it, what, build_missing, both)

    compile_package = packages.compile_package

    def seen(module, args, dynamic, path, cache):
        real_scope = packages.inductor_cache

        def recording(folder):
            scope = real_scope(folder)

            class Recorded:
                def __enter__(self):
                    out = scope.__enter__()
                    import torch._inductor.codecache as codecache
                    folders.append((os.environ[packages.INDUCTOR_ENV], codecache._HEADER_DIR))
                    return out

                def __exit__(self, *exc):
                    return scope.__exit__(*exc)
            return Recorded()

        monkeypatch.setattr(packages, "inductor_cache", recording)
        try:
            return compile_package(module, args, dynamic, path, cache)
        finally:
            monkeypatch.setattr(packages, "inductor_cache", real_scope)

    monkeypatch.setattr(packages, "load_or_build", announced)
    monkeypatch.setattr(packages, "compile_package", seen)
    calls = {"block": 0, "chunk": 0}
    block_call, chunk_call = cblock.CompiledBlock.__call__, cchunk.CompiledChunk.__call__

    def block_spy(self, *args):
        calls["block"] += 1
        return block_call(self, *args)

    def chunk_spy(self, *args):
        calls["chunk"] += 1
        return chunk_call(self, *args)

    monkeypatch.setattr(cblock.CompiledBlock, "__call__", block_spy)
    monkeypatch.setattr(cchunk.CompiledChunk, "__call__", chunk_spy)
    on = CompilePolicy("on", min_evaluations=0, cache=tmp_path)
    yield tmp_path, calls, on, replace(on, mode="auto")
    if any(line.startswith("compiling") for line in built):
        assert folders and all(Path(env) == tmp_path / "inductor" and
                               Path(headers).is_relative_to(tmp_path / "inductor")
                               for env, headers in folders), folders
        assert (tmp_path / "inductor").is_dir()
    assert packages.INDUCTOR_ENV not in os.environ  # only set around a build


def test_inductor_cache_only_around_a_build(tmp_path, monkeypatch):
    """TorchInductor's /tmp default (set by importing it) is replaced by <cache>/inductor,
    the user's own TORCHINDUCTOR_CACHE_DIR kept; the variable and the precompiled-header
    folder are put back afterwards."""
    import torch._inductor.codecache as codecache

    env = packages.INDUCTOR_ENV
    monkeypatch.delenv(env, raising=False)
    headers = codecache._HEADER_DIR
    with packages.inductor_cache(tmp_path / "a") as folder:
        assert folder == tmp_path / "a" / "inductor"
        assert os.environ[env] == str(folder)
        assert codecache._HEADER_DIR == str(folder / "precompiled_headers")
    assert env not in os.environ and codecache._HEADER_DIR == headers
    default = packages._torch_default_inductor_dir()
    monkeypatch.setenv(env, default)
    with packages.inductor_cache(tmp_path / "b") as folder:
        assert folder == tmp_path / "b" / "inductor" and os.environ[env] == str(folder)
    assert os.environ[env] == default
    monkeypatch.setenv(env, str(tmp_path / "mine"))
    with packages.inductor_cache(tmp_path / "c") as folder:
        assert folder == tmp_path / "mine"
    assert os.environ[env] == str(tmp_path / "mine")


def _module_imports(path: Path):
    """Modules ``path`` imports at module level (not inside functions)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_physics_does_not_import_the_compiled_package():
    """physics/compiled/ sits above the kernel: no physics module imports it (render only
    takes the policy it is given), and nothing in it imports render."""
    for path in sorted(PHYSICS.glob("*.py")):
        uses = [n for n in _module_imports(path) if n.startswith("torchbragg.physics.compiled")]
        if path.name == "render.py":
            assert uses == ["torchbragg.physics.compiled", "torchbragg.physics.compiled.EAGER",
                            "torchbragg.physics.compiled.CompilePolicy"], uses
        else:
            assert not uses, (path.name, uses)
    for path in sorted((PHYSICS / "compiled").glob("*.py")):
        render_mod = "torchbragg.physics.render"
        assert not [n for n in _module_imports(path)
                    if n == render_mod or n.startswith(render_mod + ".")], path.name


def test_physics_reads_no_compile_setting_from_the_environment():
    """Only the command line reads TORCHBRAGG_COMPILE; in physics/compiled/ only the inductor
    variable around a build (packages.py) touches the environment."""
    for path in sorted(PHYSICS.rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        assert "TORCHBRAGG_COMPILE" not in names, path.name
        environ = any(isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
                      for node in ast.walk(tree))
        if path.parent.name == "compiled":
            assert environ == (path.name == "packages.py"), path.name


def test_the_environment_is_read_at_the_command_line_only(monkeypatch):
    assert compile_policy(environ={}).mode == "auto"
    assert compile_policy(environ={"TORCHBRAGG_COMPILE": "OFF"}).mode == "off"
    assert compile_policy(environ={"TORCHBRAGG_COMPILE": "maybe"}).mode == "auto"
    assert CompilePolicy.from_mode(" On ").mode == "on"
    with pytest.raises(ValueError, match="maybe"):
        CompilePolicy.from_mode("maybe")
    # the API does not look at the variable: its default is auto whatever it says
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    plan = _plan(torch.float64)
    seen = []
    real = CompilePolicy.kernels
    monkeypatch.setattr(CompilePolicy, "kernels",
                        lambda self, *a, **k: seen.append(self.mode) or real(self, *a, **k))
    from torchbragg import simulate
    simulate(config_from_argv(ARGS))
    assert seen == ["auto"]
    assert CompilePolicy().eager_reason(plan, 1e3) is not None  # (tiny: auto stays eager)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_package_modules_run_eagerly_give_the_kernels_bits(dtype, tmp_path, monkeypatch):
    """The plan rebuilt from its static and tensor parts (what a package contains), run
    without compiling, gives the eager kernel's bits, for a chunk and for a block (with a
    table and a d-min cut: the structure-factor and mask inputs)."""
    from torchbragg.physics.kernel import InterpolationPolicy, render_chunk

    plan = _plan(dtype)
    key, tensors = parts.split(plan, parts.CHUNK)
    s, f = torch.arange(40).repeat(3), torch.arange(120) % 40
    value, omega = cchunk.ChunkModule(key)(s, f, tensors)
    eager = render_chunk(plan, s, f, -1, InterpolationPolicy("off"),
                         block_fn=block.block_accumulate)
    assert torch.equal(value, eager.value) and torch.equal(omega, eager.omega_sum)
    monkeypatch.chdir(tmp_path)
    hkl = tmp_path / "small.hkl"
    hkl.write_text("".join(f"{h} {k} {l} {1 + abs(h) + 2 * abs(k) + 3 * abs(l)}\n"
                           for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)))
    plan = _plan(dtype, FAN + ["-hkl", str(hkl), "-nointerpolate", "-dmin", "4"])
    piece = parts.rows(plan, 1, 2)
    key, tensors = parts.split(piece, parts.BLOCK, culled=True)
    assert dict(key.items)["lat_cols"][1][0][1][0] == ("tensor", (2, 1), "torch.float64")
    P = 50
    d = [torch.linspace(-0.3, 0.4, P, dtype=torch.float64) + k for k in (0.0, 0.1, 1.0)]
    norm = torch.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2)
    d = [x / norm for x in d]
    source = tuple(torch.tensor(x, dtype=torch.float64) for x in (0.0, 0.0, 1.0, 1e-10))
    acc = [torch.full((P,), v, dtype=torch.float64) for v in (0.0, 1.0, 0.5, 1e-3)]
    culled = torch.arange(P) % 3 == 0
    got = cblock.BlockModule(key)(*d, torch.stack(source), *acc, tensors, culled)
    want = block.block_accumulate(piece, d, source, culled, *acc)
    assert torch.equal(got, want) and got.abs().max() > 0
    # the key is the static part only: other numbers of the same structure share a package
    one = FAN + ["-oversample", "1"]
    other = _plan(dtype, one + ["-distance", "70", "-hdivrange", "0.3", "-default_F", "9"])
    assert parts.split(other, parts.CHUNK)[0] == parts.split(_plan(dtype, one), parts.CHUNK)[0]
    assert parts.split(other, parts.CHUNK)[0] != parts.split(_plan(dtype), parts.CHUNK)[0]


def test_split_rows():
    assert cblock.split_rows(10) == [8, 2]
    assert cblock.split_rows(50) == [8] * 6 + [2]
    assert cblock.split_rows(7) == [4, 2, 1]
    assert cblock.split_rows(1) == [1]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_chunk_is_bit_identical_to_eager(compile_env, dtype):
    cache, calls, on, auto = compile_env
    eager = _render(_plan(dtype))
    assert calls == {"block": 0, "chunk": 0}
    assert eager.abs().max() > 0
    notes = []
    compiled = _render(_plan(dtype), on, notes.append)
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
    calls["chunk"] = 0
    later = []
    again = _render(_plan(dtype), auto, later.append)
    assert torch.equal(again, eager)
    assert (calls["chunk"] == 0) == rejected and not any("differs" in n for n in later)


def test_a_chunk_package_that_differs_from_eager_is_dropped(compile_env, monkeypatch):
    cache, calls, on, _ = compile_env
    eager = _render(_plan(torch.float32))
    chunk_call = cchunk.CompiledChunk.__call__

    def off_by_one_ulp(self, s, f):
        res = chunk_call(self, s, f)
        res.value = torch.nextafter(res.value, torch.full_like(res.value, math.inf))
        return res

    monkeypatch.setattr(cchunk.CompiledChunk, "__call__", off_by_one_ulp)
    notes = []
    assert torch.equal(_render(_plan(torch.float32), on, notes.append), eager)
    assert notes.count(cchunk.DIFFERS_NOTE) == 1, notes
    # remembered beside the package: the next run neither loads nor checks it
    assert [p.suffix for p in (cache / "aoti").glob("chunk-*")] in ([".differs", ".pt2"],
                                                                   [".pt2", ".differs"])
    calls["chunk"], notes = 0, []
    assert torch.equal(_render(_plan(torch.float32), on, notes.append), eager)
    assert calls["chunk"] == 0 and not any("differs" in n for n in notes), notes


def test_compiled_block_is_bit_identical_to_eager(compile_env):
    cache, calls, on, _ = compile_env
    eager = _render(_plan(torch.float64, FAN))
    compiled = _render(_plan(torch.float64, FAN), on)
    assert calls["block"] > 0 and calls["chunk"] == 0, calls
    assert len(list((cache / "aoti").glob("block-*.pt2"))) == 2  # 2-row and 1-row packages
    assert torch.equal(compiled, eager), (compiled != eager).sum()


def test_compiled_block_with_a_structure_factor_table(compile_env, monkeypatch, tmp_path):
    _, calls, on, _ = compile_env
    monkeypatch.chdir(tmp_path)  # reading a table writes Fdump.bin into the working folder
    hkl = tmp_path / "small.hkl"  # nodes −3…3: the image has pixels inside and outside it
    hkl.write_text("".join(f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}\n"
                           for h in range(-3, 4) for k in range(-3, 4) for l in range(-3, 4)))
    args = FAN + ["-hkl", str(hkl), "-nointerpolate"]
    plan = _plan(torch.float64, args)
    assert plan.sf.has_table
    eager = _render(plan)
    compiled = _render(_plan(torch.float64, args), on)
    assert calls["block"] > 0
    assert torch.equal(compiled, eager), (compiled != eager).sum()
    # the table matters: the same run without it (and without the Fdump.bin cache) differs
    (tmp_path / "Fdump.bin").unlink()
    assert not torch.equal(_render(_plan(torch.float64, FAN + ["-nointerpolate"])), eager)


def test_auto_does_not_build_for_small_runs(compile_env):
    cache, calls, on, _ = compile_env
    _render(_plan(torch.float64), replace(on, mode="auto", min_evaluations=1e6))
    assert calls == {"block": 0, "chunk": 0}
    assert not (cache / "aoti").exists()


def test_broken_package_falls_back_to_eager(compile_env):
    cache, calls, on, _ = compile_env
    plan = _plan(torch.float64, FAN)
    for path in cblock.block_paths(plan, cache):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not a package")
    notes = []
    kernels = replace(on, notify=notes.append).kernels(plan, 1e12)
    assert _eager(kernels.block) and kernels.chunk is None
    assert notes and "running eager" in notes[-1]
    assert _eager(EAGER.kernels(plan, 1e12).block)


def test_gradients_never_use_packages(compile_env):
    _, calls, on, _ = compile_env
    plan = _plan(torch.float64)
    kernels = on.kernels(plan, 1e12, differentiable=True)
    assert kernels.block is block.block_accumulate and kernels.chunk is None
    assert "gradients" in on.eager_reason(plan, 1e12, differentiable=True)
    assert calls == {"block": 0, "chunk": 0}


def test_the_chunk_predicate_is_the_policys():
    """One predicate: the configurations without a whole-chunk package (more sub-pixel ×
    source steps; the plan fields declared fixed: a sensor, a d-min cut, the capture fraction
    of -oversample_thick, Q36) still use the block packages."""
    policy = CompilePolicy("on", min_evaluations=0)
    plan = _plan(torch.float64)
    assert policy.eager_reason(plan, 1e9, kind="chunk") is None
    for args in (FAN, *(ARGS + extra.split() for extra in (
            "-detector_thick 0.1", "-dmin 4", "-oversample_thick"))):
        other = _plan(torch.float64, args)
        assert "no whole-chunk" in policy.eager_reason(other, 1e9, kind="chunk")
        assert policy.eager_reason(other, 1e9) is None
    assert "runs stay eager" in EAGER.eager_reason(plan, 1e12)
    on_gpu = replace(plan, device=torch.device("cuda"))  # (no GPU needed: nothing runs)
    assert "CPU code" in policy.eager_reason(on_gpu, 1e12)
    assert not cchunk.covers(on_gpu)


def test_reduced_argument_lattice_factor_only_for_whole_numbers():
    from torchbragg.physics.setup import _shifted

    assert _shifted(torch.float32, [5.0, 1.0, 36.0])
    assert not _shifted(torch.float64, [5.0, 1.0, 36.0])
    # a continuous (tensor) N: the sign rule (−1)^((N−1)·h0) does not hold
    assert not _shifted(torch.float32, [torch.tensor(5.0), 1.0, 36.0])
    assert not _shifted(torch.float32, [5.5, 1.0, 36.0])


def test_stale_packages_of_other_builds_are_pruned(tmp_path):
    key = packages.build_key()
    old = 1_000_000.0
    now = old + packages.STALE_AFTER_S + 1
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
    removed = packages.prune_stale(tmp_path, now=now)
    assert sorted(p.name for p in removed) == sorted(
        ["block-float64-0123abcd-aaaaaaaaaaaa.pt2", "block-float64-0b22bf34a1b856399a6d.pt2"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"block-float64-{key}-aaaaaaaaaaaa.pt2", "chunk-float32-0123abcd-bbbbbbbbbbbb.pt2"])
    # package names carry this build's key
    plan = _plan(torch.float64)
    assert cblock.block_paths(plan, tmp_path)[0].stem.split("-")[2] == key


def test_prepare_builds_what_a_run_loads(compile_env, monkeypatch, capsys, tmp_path):
    from torchbragg.cli.main import main

    cache, calls, _, auto = compile_env
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    monkeypatch.chdir(tmp_path)
    assert main(["--prepare", *ARGS]) == 0
    first = capsys.readouterr().out
    assert "built: " in first and "cached: " not in first
    # (a whole-chunk package that differs from eager on this CPU is marked, not reported)
    built = sorted(p.name for p in (cache / "aoti").glob("*.pt2")
                   if not packages.differs_marker(p).exists())
    assert built and all(name in first for name in built)
    # a run now builds nothing (its notes would say "compiling"), a second prepare neither
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "auto")
    notes = []
    _render(_plan(torch.float64), auto, notes.append)
    assert not any("compiling" in n for n in notes), notes
    monkeypatch.setenv("TORCHBRAGG_COMPILE", "on")
    assert main(["--prepare", *ARGS]) == 0
    again = capsys.readouterr().out
    assert "built: " not in again and "cached: " in again
    assert sorted(p.name for p in (cache / "aoti").glob("*.pt2")
                  if not packages.differs_marker(p).exists()) == built


def test_native_env_is_read_at_the_edge():
    """TORCHBRAGG_NATIVE=0 forbids the C helpers; any other value (or none) allows them."""
    from torchbragg import native
    from torchbragg.cli.run_env import apply_native

    try:
        apply_native({"TORCHBRAGG_NATIVE": "0"})
        assert not native.enabled()
        apply_native({})
        assert native.enabled()
        with native.use_native(False):
            assert not native.enabled()
        assert native.enabled()
    finally:
        native.set_enabled(True)


def test_the_missing_package_note_only_where_packages_would_serve(tmp_path, monkeypatch):
    """A large run that finds no package for its configuration says so (with the --prepare
    hint); an interpolating run does not: its chunks take the interpolating eager pass, which
    no package serves (they serve only the chunks after a switch-off, Q11)."""
    from torchbragg.physics.compiled.policy import MISSING_NOTE

    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.hkl").write_text("".join(f"{h} {k} {l} {5 + (h * k + l) % 7}\n"
                                            for h in range(-9, 10) for k in range(-9, 10)
                                            for l in range(-9, 10)))
    notes = []
    policy = CompilePolicy("auto", min_evaluations=0, note_missing_evaluations=1e7,
                           cache=tmp_path, notify=notes.append)
    assert _eager(policy.block_fn(_plan(torch.float64), 1e8, False))
    assert notes == [MISSING_NOTE]
    notes.clear()
    assert _eager(policy.block_fn(_plan(torch.float64), 1e6, False))
    assert notes == []  # (a small run: no note)
    interpolating = _plan(torch.float64, ARGS + ["-hkl", "t.hkl", "-interpolate"])
    assert interpolating.interpolate
    assert _eager(policy.block_fn(interpolating, 1e8, False))
    assert notes == []
