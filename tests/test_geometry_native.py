"""The native sub-pixel geometry (physics/geometry_native.py) gives the tensor path's bits."""
from __future__ import annotations

import pytest
import torch

from torchbragg import config_from_argv, native, simulate
from torchbragg.physics import block_native, geometry_native
from torchbragg.physics.kernel import InterpolationPolicy, render_chunk
from torchbragg.physics.recorder import Recorder
from torchbragg.physics.setup import build_experiment, make_plan

BASE = ("-cell 70 80 90 88 92 95 -lambda 1.3 -distance 60 -detpixels_f 40 -detpixels_s 36 "
        "-pixel 0.4 -default_F 30 -N 4 -nonoise -nopgm -noprogress").split()

CASES = {
    # a rotated, tilted detector, three sub-pixels a side, two sources
    "rotated": "-oversample 3 -detector_rotx 4 -detector_roty -3 -detector_rotz 2 "
               "-twotheta 12 -divergence 0.2 -divsteps 2",
    # Ω = 1/R² (point pixels), Ω of every sub-pixel (Q14)
    "point-omega": "-oversample 2 -point_pixel -oversample_omega",
    # three sensor layers with absorption: the capture fraction from the native d̂
    "layers": "-oversample 2 -detector_abs 300 -detector_thick 200 -detector_thicksteps 3",
    # -oversample_omega with Ω of finite pixels, a d-min cut (Q16)
    "omega-dmin": "-oversample 2 -oversample_omega -dmin 6",
}


@pytest.fixture
def helper():
    if block_native._load() is None:
        pytest.skip("the native helper cannot be built here (no C compiler)")


def _images(argv, monkeypatch, dtype=torch.float64):
    """The image with the native geometry (counting its calls) and with the tensor path's."""
    calls = []
    real = geometry_native.NativeGeometry.__call__
    monkeypatch.setattr(geometry_native.NativeGeometry, "__call__",
                        lambda self, *a: calls.append(1) or real(self, *a))
    cfg = config_from_argv(argv)
    fast = simulate(cfg, compile="off", dtype=dtype, chunk_pixels=500)
    with monkeypatch.context() as m:
        m.setattr(geometry_native, "subpixel_geometry", lambda *a, **k: None)
        slow = simulate(cfg, compile="off", dtype=dtype, chunk_pixels=500)
    return fast, slow, calls


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_native_geometry_gives_the_tensor_paths_bits(name, dtype, helper, monkeypatch):
    monkeypatch.setattr(native, "threads", lambda: 3)  # (several parts per pass)
    monkeypatch.setattr(geometry_native, "MIN_PER_THREAD", 50)
    fast, slow, calls = _images(BASE + CASES[name].split(), monkeypatch, dtype)
    assert calls, "the native geometry was not used"
    assert fast.abs().max() > 0
    assert torch.equal(fast.view(torch.int32 if dtype == torch.float32 else torch.int64),
                       slow.view(torch.int32 if dtype == torch.float32 else torch.int64))


def test_native_geometry_is_not_used_where_it_does_not_serve(helper):
    plan = make_plan(build_experiment(config_from_argv(BASE)), torch.device("cpu"),
                     torch.float64)
    assert isinstance(geometry_native.subpixel_geometry(plan), geometry_native.NativeGeometry)
    assert geometry_native.subpixel_geometry(plan, differentiable=True) is None
    with native.use_native(False):
        assert geometry_native.subpixel_geometry(plan) is None
    curved = make_plan(build_experiment(config_from_argv(["-curved_det"] + BASE)),
                       torch.device("cpu"), torch.float64)
    assert curved.curved and geometry_native.subpixel_geometry(curved) is None
    plan.pix0 = plan.pix0.clone().requires_grad_(True)
    assert geometry_native.subpixel_geometry(plan) is None


def test_a_chunk_whose_recorder_reads_evaluations_takes_the_tensor_geometry(helper):
    """A trace reads each sub-pixel's position and R: its chunk forms them on tensors."""
    plan = make_plan(build_experiment(config_from_argv(BASE)), torch.device("cpu"),
                     torch.float64)
    calls = []
    geometry = geometry_native.subpixel_geometry(plan)
    counting = lambda *a: calls.append(1) or geometry(*a)  # noqa: E731
    s = torch.arange(40, dtype=torch.int64) // 8
    f = torch.arange(40, dtype=torch.int64) % 8
    on = InterpolationPolicy("off")
    quiet = render_chunk(plan, s, f, -1, on, geometry=counting)
    assert calls
    calls.clear()
    positions = []

    class Reading(Recorder):
        needs_evaluations = True

        def source(self, plan, k, pos, R, omega, d, S):
            positions.append(pos)

    read = render_chunk(plan, s, f, -1, on, Reading(), geometry=counting)
    assert not calls and positions and all(p is not None for p in positions)
    assert torch.equal(quiet.value.view(torch.int64), read.value.view(torch.int64))
