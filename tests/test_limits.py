"""The up-front limits (cli/limits.py): one set of counts, before and after the set-up."""
from __future__ import annotations

from dataclasses import replace

import pytest

from torchbragg import config_from_argv
from torchbragg.cli import limits
from torchbragg.cli.load import parse_argv
from torchbragg.errors import ResourceError
from torchbragg.physics.setup import build_experiment, make_plan
from torchbragg.physics.workload import evaluations, rendered_indices

BASE = "-cell 100 100 100 90 90 90 -default_F 1 -N 2 -detpixels 12 -nonoise -nopgm "


def _post(args, monkeypatch):
    """The run, its experiment and the counts the check after the set-up uses."""
    loaded = parse_argv((BASE + args).split())
    exp = build_experiment(loaded.config)
    seen = []
    monkeypatch.setattr(limits, "check", seen.append)
    limits.check_limits(loaded, exp)
    return loaded, exp, seen[0]


def test_before_and_after_the_set_up_agree_when_nothing_is_automatic(monkeypatch):
    args = ("-oversample 2 -roi 2 8 1 20 -mosaic 1 -mosaic_domains 3 -phisteps 2 -osc 0.1 "
            "-hdivrange 0.1 -hdivsteps 3 -dispersion 1 -dispsteps 2 -detector_thick 100 "
            "-detector_thicksteps 3")
    loaded, exp, post = _post(args, monkeypatch)
    pre = limits.counts_from_config(loaded.config)
    assert pre == post
    assert (post.pixels, post.image_pixels, post.oversample, post.layers, post.sources,
            post.phisteps, post.domains) == (7 * 11, 144, 2, 3, 6, 2, 3)
    assert post.evaluations == 77 * 4 * 3 * 6 * 2 * 3


def test_the_renderer_counts_the_same_evaluations(monkeypatch):
    args = "-oversample 3 -roi 0 5 0 5 -mosaic 1 -mosaic_domains 2 -phisteps 3 -osc 0.1"
    loaded, exp, post = _post(args, monkeypatch)
    plan = make_plan(exp)
    pixels = rendered_indices(plan, loaded.config.sampling.roi, None).numel()
    assert pixels == post.pixels == 36
    assert evaluations(plan, pixels) == post.evaluations


def test_after_the_set_up_automatic_oversampling_and_the_round_cut_count(monkeypatch):
    loaded, exp, post = _post("-N 40 -hdivrange 1 -vdivrange 1 -hdivsteps 6 -vdivsteps 6 "
                              "-round_div", monkeypatch)
    pre = limits.counts_from_config(loaded.config)
    assert pre.oversample == 1 and post.oversample == exp.oversample > 1
    assert pre.sources == 36 and post.sources == len(exp.sources.sources) < 36


def test_memory_grows_with_the_orientations():
    small = limits.counts_from_config(config_from_argv(BASE.split()))
    many = limits.counts_from_config(config_from_argv(
        (BASE + "-mosaic 1 -mosaic_domains 100 -phisteps 10").split()))
    assert limits.memory(many) > limits.memory(small) + 1000 * 1024 * 320


def test_overflowing_step_count_is_a_resource_error():
    cfg = config_from_argv(BASE.split())
    absurd = replace(cfg, crystal=replace(cfg.crystal, osc_rad=1e300, phistep_rad=1e-300))
    with pytest.raises(ResourceError, match="step count overflows"):
        limits.counts_from_config(absurd)
