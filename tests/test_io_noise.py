"""Noise image (docs/behaviour/formats.md §13): deviates, the pixel procedure, native and Python
paths."""
from __future__ import annotations

import numpy as np
import pytest

from torchbragg import native as native_switch
from torchbragg.io import noise
from torchbragg.rng import ShuffleTable, UniformStream, fl32

MEANS = [0, 0.5, 3.7, 11.99, 12, 55.5, 1000.25, 999999, 2.5e6, 2.5e6, 1e7, 0]
EXPECTED = [0, 0, 6, 13, 20, 57, 1081, 997987, 2503081.5, 2500997.5, 9999115, 0]

native = pytest.mark.skipif(noise._native_lib() is None,
                            reason="native noise helper unavailable (no C compiler?)")


def _stream(seed):
    return UniformStream(ShuffleTable(), seed)


def test_poisson_test_vector_python():
    dev = noise.Deviates(_stream(-12345))
    assert [dev.poisson(fl32(m)) for m in MEANS] == EXPECTED


@native
def test_poisson_test_vector_native():
    out = noise.poisson_batch_native(np.array(MEANS, np.float32), _stream(-12345))
    assert out.astype(np.float64).tolist() == EXPECTED


def test_zero_mean_consumes_one_uniform():
    # docs/behaviour/formats.md §13.1 test vector: six draws from idum -1 leave idum = 156091745
    stream = _stream(-1)
    dev = noise.Deviates(stream)
    assert [dev.poisson(0.0) for _ in range(6)] == [0.0] * 6
    assert stream.idum == 156091745


@native
def test_native_state_round_trip():
    stream = _stream(-1)
    out = noise.poisson_batch_native(np.zeros(6, np.float32), stream)
    assert not out.any() and stream.idum == 156091745
    # the table is left as the Python generator would leave it
    s2 = _stream(-1)
    for _ in range(6):
        s2.next()
    assert (stream.idum, stream.table.iy, stream.table.iv) == (s2.idum, s2.table.iy, s2.table.iv)


def test_gaussian_spare_alternates():
    dev = noise.Deviates(_stream(-7))
    g1 = dev.gauss()
    idum = dev.stream.idum
    g2 = dev.gauss()
    assert dev.stream.idum == idum and g1 != g2  # the spare costs no draw
    assert fl32(g1) == g1 and fl32(g2) == g2


def _test_image(rng):
    img = np.empty((37, 29), np.float32)
    flat = img.reshape(-1)
    kinds = rng.integers(0, 4, flat.size)
    flat[:] = np.where(kinds == 0, rng.uniform(0, 12, flat.size),
                       np.where(kinds == 1, rng.uniform(12, 2e5, flat.size),
                                np.where(kinds == 2, rng.uniform(1e6, 3e6, flat.size), 0.0)))
    flat[5] = 12.0
    flat[6] = 1e6
    flat[7] = 1000001.0
    roi = np.zeros(img.shape, bool)
    roi[2:35, 3:27] = True
    return img, roi


def test_procedure_python_basics():
    img = np.array([[0.0, 3.0, 1e7], [2e5, 0.0, 5.0]], np.float32)
    roi = np.array([[True, True, True], [True, False, True]])
    out, total, overloads = noise.noise_image_python(img, roi, 40.0, _stream(-99))
    assert out.dtype == np.uint16 and out[1, 1] == 0
    assert out[0, 2] == 65535 and out[1, 0] == 65535 and overloads == 2
    assert out[0, 0] == 40
    # same draws in pixel order (the masked-out pixel (1,1) draws nothing)
    dev = noise.Deviates(_stream(-99))
    ns = [dev.poisson(float(v)) for v in (0.0, 3.0, 1e7, 2e5, 5.0)]
    assert total == sum(ns)
    assert [int(out[0, 1]), int(out[1, 2])] == [int(ns[1]) + 40, int(ns[4]) + 40]


def test_negative_adc_wraps():
    img = np.array([[3.0]], np.float32)
    out, total, _ = noise.noise_image_python(img, np.ones((1, 1), bool), -50.0, _stream(-5))
    assert int(out[0, 0]) == (int(total) - 50) % 65536


@native
@pytest.mark.parametrize("adc", [40.0, 0.0, -50.0, 10.7])
def test_native_matches_python(adc):
    img, roi = _test_image(np.random.default_rng(1))
    results = []
    for fn in (noise.noise_image_python, noise.noise_image_native):
        stream = _stream(-31337)
        state = noise.DeviateState()
        out, total, overloads = fn(img, roi, adc, stream, state)
        results.append((out.tobytes(), total, overloads, stream.idum, stream.table.iy,
                        list(stream.table.iv), state))
    assert results[0] == results[1]
    assert results[0][2] > 0  # overloads happened


def test_env_forces_python(monkeypatch):
    monkeypatch.setattr(native_switch, "_enabled", [False])

    def boom(*args, **kwargs):
        raise AssertionError("native path used")

    monkeypatch.setattr(noise, "noise_image_native", boom)
    out, total, _ = noise.noise_image(np.zeros((2, 2), np.float32), np.ones((2, 2), bool), 40.0,
                                      _stream(-1))
    assert (out == 40).all() and total == 0


def test_no_compiler_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "/nonexistent/compiler-for-test")
    monkeypatch.setenv("TORCHBRAGG_CACHE", str(tmp_path))
    monkeypatch.setattr(noise, "_lib", None)
    monkeypatch.setattr(noise, "_lib_failed", False)
    assert not noise.native_available()
    img = np.array([[0.5, 20.0]], np.float32)
    out, total, overloads = noise.noise_image(img, np.ones((1, 2), bool), 40.0, _stream(-3))
    ref = noise.noise_image_python(img, np.ones((1, 2), bool), 40.0, _stream(-3))
    assert out.tobytes() == ref[0].tobytes() and total == ref[1] and overloads == ref[2]


def _golden_noise(golden_dir, fn):
    case = golden_dir / "noise_poisson_all_branches"
    img = np.fromfile(case / "float.bin", "<f4").reshape(128, 128)
    ref = (case / "noise.img").read_bytes()
    head = (case / "int.img").read_bytes()[:512]
    assert ref[:512] == head  # noise header identical to the noiseless one
    out, total, overloads = fn(img, np.ones(img.shape, bool), 40.0, _stream(-4242))
    from torchbragg.io.smv import smv_bytes
    assert smv_bytes(head, out) == ref
    line = f"{total:.0f} photons on noise image ({overloads:d} overloads)"
    assert line in (case / "stdout.txt").read_text().splitlines()


def test_golden_noise_python(golden_dir):
    _golden_noise(golden_dir, noise.noise_image_python)


@native
def test_golden_noise_native(golden_dir):
    _golden_noise(golden_dir, noise.noise_image_native)
