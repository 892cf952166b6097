"""The native helpers built at install time (torchbragg.prebuild, setup.py's build_py) and
their use in place of the cache's builds (torchbragg._cbuild.prebuilt_dir)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torchbragg import _cbuild, native
from torchbragg.prebuild import prebuild

ROOT = Path(__file__).resolve().parent.parent

needs_cc = pytest.mark.skipif(shutil.which(_cbuild.compiler_name()) is None,
                              reason="no C compiler to build the helpers with")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty TORCHBRAGG_CACHE, and no build of this process started in the background."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(cache))
    monkeypatch.delenv("TORCHBRAGG_PREBUILT", raising=False)
    monkeypatch.delenv("CFLAGS", raising=False)
    monkeypatch.setattr(_cbuild, "_background", {})
    return cache


@needs_cc
def test_a_fresh_cache_uses_the_prebuilt_helpers_and_builds_nothing(tmp_path, fresh_cache,
                                                                     monkeypatch):
    folder = tmp_path / "_prebuilt"
    folder.mkdir()
    (folder / "block_native-0000000000000000.so").write_bytes(b"an older build")
    lines = []
    built = prebuild(folder, say=lines.append)
    assert sorted(p.name.split("-")[0] for p in built) == sorted(h.name for h in native.HELPERS)
    assert not (folder / "block_native-0000000000000000.so").exists()  # (stale: removed)
    assert len(lines) == 1 and "4 native helpers built" in lines[0]
    monkeypatch.setattr(_cbuild, "prebuilt_dir", lambda: folder)
    assert [native.build_helper(h) for h in native.HELPERS] == built
    assert not fresh_cache.exists()


@needs_cc
def test_a_prebuilt_helper_under_another_key_is_not_used(tmp_path, fresh_cache, monkeypatch):
    folder = tmp_path / "_prebuilt"
    prebuild(folder, say=lambda line: None)
    monkeypatch.setattr(_cbuild, "prebuilt_dir", lambda: folder)
    monkeypatch.setenv("CFLAGS", "-DTB_OTHER_KEY=1")  # (the run's own flags: another key)
    path = native.build_helper(native.HKL_HELPER)
    assert path.parent == fresh_cache / "build" and path.is_file()


def test_torchbragg_prebuilt_0_ignores_the_folder(monkeypatch):
    monkeypatch.setenv("TORCHBRAGG_PREBUILT", "0")
    assert _cbuild.prebuilt_dir() is None
    monkeypatch.setenv("TORCHBRAGG_PREBUILT", "1")
    assert _cbuild.prebuilt_dir() == Path(_cbuild.__file__).with_name("_prebuilt")


def test_without_a_compiler_the_install_goes_on_and_says_so(tmp_path, fresh_cache,
                                                            monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    lines = []
    assert prebuild(tmp_path / "_prebuilt", say=lines.append) == []
    assert len(lines) == len(native.HELPERS)
    assert all("not built at install" in line and "first use" in line for line in lines)


@needs_cc
@pytest.mark.skipif(not (ROOT / "setup.py").is_file(), reason="needs the source checkout")
def test_setup_build_py_compiles_the_helpers_into_the_package(tmp_path):
    lib = tmp_path / "lib"
    env = {k: v for k, v in os.environ.items() if k not in ("CFLAGS", "TORCHBRAGG_PREBUILT")}
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib",
                           str(lib)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name.split("-")[0] for p in (lib / "torchbragg" / "_prebuilt").glob("*.so"))
    assert names == sorted(h.name for h in native.HELPERS)
    assert (lib / "torchbragg" / "native.py").is_file()  # (build_py's own work still done)


def test_a_command_from_a_fresh_cache_compiles_nothing_after_the_install(tmp_path, fresh_cache):
    """The first run after ``pip install`` (an empty cache): an interpolating HKL run with a
    noise image loads every helper it uses from the install's folder."""
    if any(native.build_helper(h).parent != _cbuild.prebuilt_dir() for h in native.HELPERS):
        pytest.skip("this install has no prebuilt helpers for this compiler and flags "
                    "(pip install without a C compiler, or CC/CFLAGS changed since)")
    shutil.rmtree(fresh_cache, ignore_errors=True)
    hkl = tmp_path / "t.hkl"
    hkl.write_text("".join(f"{h} {k} {l} {10 + h + k + l}\n" for h in range(-3, 4)
                           for k in range(-3, 4) for l in range(-3, 4)))
    argv = ["-cell", "100", "100", "100", "90", "90", "90", "-N", "2", "-hkl", str(hkl),
            "-lambda", "6.2", "-distance", "100", "-detpixels", "24", "-pixel", "1.6",
            "-noprogress", "-floatfile", "f.bin", "-noisefile", "n.img", "-nopgm"]
    proc = subprocess.run([sys.executable, "-m", "torchbragg", *argv], cwd=tmp_path,
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "n.img").stat().st_size > 512
    assert not (fresh_cache / "build").exists()
