"""The project's own crystal (``torchbragg.parity.crystal_inputs``) and the ``supervisor-like``
preset built on it: stable bytes, read back by the io readers, no ../shared needed."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from torchbragg.io.hkl import read_hkl, validate_hkl
from torchbragg.io.matfile import read_mat, read_mat_strict
from torchbragg.parity import crystal_inputs as ci
from torchbragg.parity import presets

#: Change these only together with crystal_inputs.GENERATOR_VERSION (a changed generator
#: changes every parity bundle of the default preset).
EXPECTED_SHA256 = {
    "crystal.mat": "33cd17243e6b573e52f6d0a114b6ff4b94d15d5b821de8315203154c4b28c835",
    "crystal.hkl": "a9bdaf43644d077d6aa862735eb0d0b9b4e12d7f5ed6598898a3214410df4aa6",
}
EXPECTED_BYTES = {"crystal.mat": 438, "crystal.hkl": 13317369}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return ci.write_crystal_inputs(tmp_path_factory.mktemp("crystal"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generated_bytes_are_stable(written):
    assert set(written) == set(EXPECTED_SHA256)
    for name, path in written.items():
        assert path.stat().st_size == EXPECTED_BYTES[name], name
        assert _sha(path) == EXPECTED_SHA256[name], f"{name} changed: bump GENERATOR_VERSION"
    manifest = json.loads((next(iter(written.values())).parent / ci.MANIFEST).read_text())
    assert manifest["sha256"] == EXPECTED_SHA256 and manifest["version"] == ci.GENERATOR_VERSION


def test_matrix_reads_back(written):
    path = written["crystal.mat"]
    values = read_mat(path)
    assert values == read_mat_strict(path)
    m = np.array(values).reshape(3, 3) / ci.WAVELENGTH_A  # columns: a*, b*, c* (1/Å)
    lengths = np.linalg.norm(m, axis=0)
    assert np.allclose(1.0 / lengths, [ci.CELL_A, ci.CELL_A, ci.CELL_C], rtol=1e-7)
    u = m / lengths
    assert np.allclose(u.T @ u, np.eye(3), atol=1e-8)      # tetragonal: orthogonal axes
    assert np.linalg.det(u) == pytest.approx(1.0, abs=1e-8)
    assert not np.allclose(np.abs(u), np.eye(3), atol=0.1)  # a general orientation
    # the MOSFLM tail: U matrix and the cell line
    lines = path.read_text().splitlines()
    assert len(lines) == 9
    assert [float(x) for x in lines[7].split()] == [79.1, 79.1, 37.9, 90.0, 90.0, 90.0]
    assert np.allclose(np.array([[float(x) for x in ln.split()] for ln in lines[4:7]]), u,
                       atol=1e-9)


def test_hkl_reads_back(written):
    path = written["crystal.hkl"]
    data = path.read_bytes()
    validate_hkl(data, str(path))
    table = read_hkl(path)
    assert table.count == ci.REFLECTIONS == 858129 == data.count(b"\n")
    assert (table.h_min, table.h_max) == (table.k_min, table.k_max) == (-75, 75)
    assert (table.l_min, table.l_max) == (-36, 36)

    def f(h, k, l):
        return table.lookup(h, k, l, -1.0)

    # resolution limit: 1.05 Å, past the corners of the supervisor detector (about 1.09 Å)
    idx, amp = ci.reflections()
    s2 = (idx[:, 0] ** 2 + idx[:, 1] ** 2) / ci.CELL_A ** 2 + idx[:, 2] ** 2 / ci.CELL_C ** 2
    assert 1 / 1.06 ** 2 < s2.max() <= 1 / 1.05 ** 2
    assert f(74, 0, 0) > 0 and f(0, 0, 36) > 0 and f(60, 60, 0) == 0.0  # the last: d = 0.93 Å
    # 4/mmm symmetry and Friedel mates share one amplitude
    for h, k, l in [(3, 7, 2), (11, -5, 9), (40, 2, -17), (1, 1, 1)]:
        ref = f(h, k, l)
        assert ref > 0
        assert f(-h, -k, -l) == f(k, h, -l) == f(-k, h, l) == f(h, -k, -l) == ref
    # P4(3)2(1)2 systematic absences
    assert f(3, 0, 0) == f(0, 5, 0) == f(0, 0, 2) == f(0, 0, 3) == 0.0
    assert f(4, 0, 0) > 0 and f(0, 0, 4) > 0
    # a Wilson falloff: low-resolution amplitudes are much larger than high-resolution ones
    low, high = amp[s2 < 1 / 5.0 ** 2], amp[s2 > 1 / 1.2 ** 2]
    assert low.mean() > 10 * high.mean() > 0


def test_exp_neg_matches_math_exp():
    x = np.array([0.0, 0.001, 0.5, 1.0, 4.0, 4.6, 5.0])
    assert np.allclose(ci._exp_neg(x), [math.exp(-v) for v in x], rtol=1e-13, atol=0)
    assert ci.B_FACTOR / 4.0 / ci.D_MIN_A ** 2 < 4.6


def test_cache_reused_and_repaired(tmp_path):
    folder = tmp_path / "cache"
    first = ci.write_crystal_inputs(folder)
    stamp = {n: p.stat().st_mtime_ns for n, p in first.items()}
    again = ci.write_crystal_inputs(folder)
    assert again == first and {n: p.stat().st_mtime_ns for n, p in again.items()} == stamp
    first["crystal.hkl"].write_text("0 0 0 1\n")        # damaged: regenerated
    repaired = ci.write_crystal_inputs(folder)
    assert _sha(repaired["crystal.hkl"]) == EXPECTED_SHA256["crystal.hkl"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left


def test_default_folder_and_read_only_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "tc"))
    assert ci.default_folder().parent == tmp_path / "tc" / "inputs"
    assert ci.default_folder().name.startswith(f"v{ci.GENERATOR_VERSION}-")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(ci, "default_folder", lambda: blocker / "inputs")  # cannot be made
    monkeypatch.setattr(ci, "_fallback_folder", lambda: tmp_path / "tmp-fallback")
    paths = ci.write_crystal_inputs()
    assert paths["crystal.mat"].parent == tmp_path / "tmp-fallback"


def test_supervisor_like_preset_needs_no_shared(tmp_path, monkeypatch):
    """A fresh clone: no $TORCHBRAGG_INPUTS, no ../shared beside the checkout."""
    fake_repo = tmp_path / "clone"
    monkeypatch.delenv("TORCHBRAGG_INPUTS", raising=False)
    monkeypatch.setattr(presets, "__file__",
                        str(fake_repo / "src" / "torchbragg" / "parity" / "presets.py"))
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path / "cache"))
    with pytest.raises(presets.PresetError, match="A.mat"):
        presets.get_preset("supervisor")
    p = presets.get_preset("supervisor-like")
    assert p.name == presets.SUPERVISOR_LIKE and p.size == (2463, 2527)
    assert "generated crystal" in p.description and "2463x2527" in p.description
    assert p.pixels[:2] == [(685, 1039), (1039, 685)] and len(p.pixels) == 3
    mat, hkl = p.args[p.args.index("-mat") + 1], p.args[p.args.index("-hkl") + 1]
    assert _sha(Path(mat)) == EXPECTED_SHA256["crystal.mat"]
    assert _sha(Path(hkl)) == EXPECTED_SHA256["crystal.hkl"]
    assert Path(mat).is_relative_to(tmp_path / "cache")
    # everything else is the users' supervisor command, flag for flag
    rest = [a for a in p.args if a not in (mat, hkl)]
    want = [a for a in presets.SUPERVISOR_ARGV if "{inputs}" not in a]
    assert rest == want
    assert "supervisor-like" in presets.PRESETS
