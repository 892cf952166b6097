"""The compatibility profiles: the C's quirks by default, fixed in ``-profile corrected``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from torchbragg import config_from_argv, simulate

BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 "
        "-detpixels 24 -pixel 0.1 -oversample 1 ")


def image(args, profile="nanobragg"):
    return simulate(config_from_argv(BASE + args + f" -profile {profile}")).numpy()


def test_q1_phi_zero_carry_over():
    quirk = image("-phi 0 -osc 2 -phisteps 2")
    single = image("-phi 1 -osc 0 -phisteps 1")
    # every pixel but the first rendered one uses the φ = 1° lattice twice
    assert np.array_equal(quirk.reshape(-1)[1:], single.reshape(-1)[1:])
    assert quirk[0, 0] != single[0, 0]
    corrected = image("-phi 0 -osc 2 -phisteps 2", "corrected")
    # corrected: every pixel averages 0° and 1°, as the first pixel does in the C
    assert corrected[0, 0] == quirk[0, 0]
    assert not np.array_equal(corrected.reshape(-1)[1:], single.reshape(-1)[1:])


def test_q1_zero_reached_later():
    quirk = image("-phi -1 -osc 2 -phisteps 2")
    single = image("-phi -1 -osc 0 -phisteps 1")
    assert np.array_equal(quirk, single)


def test_q1_first_pixel_follows_roi():
    full = image("-phi 0 -osc 2 -phisteps 2")
    roi = image("-phi 0 -osc 2 -phisteps 2 -roi 5 10 5 10")
    assert roi[5, 5] == image("-phi 0 -osc 2 -phisteps 2", "corrected")[5, 5]
    assert roi[5, 5] != full[5, 5]


def hkl_file(tmp_path, span=3):
    lines = [f"{h} {k} {l} {10 + abs(h) + 2 * abs(k) + 3 * abs(l)}"
             for h in range(-span, span + 1) for k in range(-span, span + 1)
             for l in range(-span, span + 1)]
    path = tmp_path / "small.hkl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_q11_interpolation_switch_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = hkl_file(tmp_path)
    args = f"-hkl {path} -interpolate -N 2 -lambda 1 -distance 40"
    quirk = image(args)
    corrected = image(args, "corrected")
    off = image(f"-hkl {path} -nointerpolate -N 2 -lambda 1 -distance 40")
    flat_q, flat_c, flat_o = quirk.reshape(-1), corrected.reshape(-1), off.reshape(-1)
    differs = np.nonzero(flat_q != flat_c)[0]
    assert differs.size > 0
    first = differs[0]
    # after the switch-off every pixel is the nearest-neighbour value
    assert np.array_equal(flat_q[first:], flat_o[first:])
    assert np.array_equal(flat_q[:first], flat_c[:first])


def test_float32_close_to_float64():
    cfg = config_from_argv(BASE + "-mosaic 0.5 -mosaic_domains 3 -phi 0.1 -osc 0.2 -phisteps 2")
    a = simulate(cfg, dtype=torch.float64).numpy()
    b = simulate(cfg, dtype=torch.float32).numpy().astype(np.float64)
    assert np.linalg.norm(a - b) / np.linalg.norm(a) < 1e-5
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99999


@pytest.mark.parametrize("chunk", [1, 7, 100])
def test_chunking_does_not_change_the_image(chunk):
    cfg = config_from_argv(BASE + "-phi 0 -osc 1 -phisteps 3")
    assert torch.equal(simulate(cfg), simulate(cfg, chunk_pixels=chunk))
