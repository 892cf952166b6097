"""The C-style argv scan: substring matching, collisions, precedence
(docs/behaviour/cli.md §1–6)."""
from __future__ import annotations

import math
import os

import pytest

from torchbragg.cli.cnum import atof, atoi
from torchbragg.cli.load import UsageError, parse_argv
from torchbragg.errors import InputError
from torchbragg.physics.setup import build_experiment
from torchbragg.physics.vec3 import RTD

BASE = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "1"]


def config(*args):
    return parse_argv(BASE + list(args), now=1000).config


def test_c_number_parsing():
    assert atof("abc") == 0.0 and atof("1e3x") == 1000.0 and atof(" -2.5e") == -2.5
    assert atoi("2.7") == 2 and atoi("1e3") == 1 and atoi("x") == 0


def test_substring_aliases():
    assert config("-wavelength", "2").beam.wavelength_m == pytest.approx(2e-10)
    assert config("-pixel_size", "0.2").detector.pixel_size_m == pytest.approx(0.0002)
    assert config("-mosaic_domains", "4").crystal.mosaic_domains == 4
    assert config("-xbeam", "10").detector.xbeam_m is None  # case-sensitive: ignored


def test_values_are_not_consumed():
    # -curved_det's (unused) value token is still scanned as a flag
    cfg = config("-curved_det", "-N", "5")
    assert cfg.detector.curved and (cfg.crystal.Na, cfg.crystal.Nb, cfg.crystal.Nc) == (5, 5, 5)
    # a flag taking another flag as its value is refused (the C read 0 for "-N")
    with pytest.raises(InputError, match="-misset"):
        config("-misset", "10", "-N", "5")


def test_misset_seed_collision_q7():
    xtal = config("-misset_seed", "30", "-oversample", "1").crystal
    assert xtal.misset_rad == pytest.approx((30 / RTD, 0.0, 1 / RTD)) and xtal.misset_seed == -30
    fixed = config("-misset_seed", "30", "-oversample", "1", "-profile", "corrected").crystal
    assert fixed.misset_rad is None and fixed.misset_seed == -30


def test_twotheta_axis_collision_q4():
    det = config("-twotheta", "10", "-twotheta_axis", "0", "0", "-1").detector
    assert det.twotheta_rad == 0.0 and det.pivot == "SAMPLE" and det.convention == "CUSTOM"
    fixed = config("-twotheta", "10", "-twotheta_axis", "0", "0", "-1", "-profile",
                   "corrected").detector
    assert fixed.twotheta_rad == pytest.approx(10 / RTD)


def test_pix0_vector_switches_to_custom_only_q6():
    cfg = config("-Xbeam", "0.12", "-Ybeam", "0.13", "-detpixels", "4", "-pix0_vector_mm", "0.5", "0.1", "120")
    det = build_experiment(cfg).detector
    assert det.convention == "CUSTOM"
    assert det.fbeam_m == pytest.approx(0.00012) and det.sbeam_m == pytest.approx(0.00013)
    assert det.pix0_m == pytest.approx((0.1, 0.00013, -0.00012))
    mosflm = build_experiment(config("-Xbeam", "0.12", "-Ybeam", "0.13", "-detpixels", "4")).detector
    assert mosflm.pix0_m == pytest.approx((0.1, 0.00017, -0.00018))
    corrected = parse_argv(BASE + ["-detpixels", "4", "-pix0_vector_mm", "0.5", "0.1", "120",
                                   "-profile", "corrected"]).config
    assert build_experiment(corrected).detector.pix0_m == pytest.approx((0.0005, 0.0001, 0.12))


def test_guarded_exact_flags():
    det = config("-detpixels_x", "30", "-detpixels", "20").detector
    assert (det.fpixels, det.spixels) == (20, 20)
    assert config("-phistep", "0.5").crystal.phistep_rad == pytest.approx(0.5 / RTD)
    assert config("-phisteps", "3").crystal.phistep_rad is None
    assert config("-oversample_thick").sampling.oversample is None


def test_stolout_is_a_known_inert_flag():
    """docs/behaviour/cli.md §2.1/§3.2: ``-stolout*`` needs length > 7, which ``-stolout`` itself (8
    characters) has: a known flag taking a file name (never written), not an unknown one."""
    run = parse_argv(BASE + ["-stolout", "out.stol", "-detpixels", "16"], now=1000)
    assert run.warnings == []
    assert parse_argv(BASE + ["-stoloutfile", "x.stol"], now=1000).warnings == []
    with pytest.raises(InputError, match="-stolout"):
        parse_argv(BASE + ["-stolout"], now=1000)  # a file flag missing its file name
    assert parse_argv(BASE + ["-stolou", "x"], now=1000).warnings  # shorter: unknown


def test_convention_forces_pivot_q2():
    det = build_experiment(config("-twotheta", "20", "-pivot", "sample")).detector
    assert det.convention == "MOSFLM" and det.pivot == "BEAM"
    det = build_experiment(config("-fdet_vector", "0", "0", "1", "-pivot", "sample")).detector
    assert det.pivot == "SAMPLE"


def test_named_convention_after_vector_discards_it():
    assert config("-fdet_vector", "1", "0", "0", "-xds").detector.convention == "XDS"


def test_fluence_from_flux_and_clipping_q21():
    exp = build_experiment(config("-fluence", "1e20", "-flux", "1e10"))
    assert exp.fluence == pytest.approx(1e18)
    exp = build_experiment(config("-xtalsize", "0.2"))
    assert exp.sample_m == pytest.approx((2e-4, 1e-4, 1e-4))


def test_detector_size_rounding_q28():
    cfg = config("-detsize", "1.04")
    assert (cfg.detector.fpixels, cfg.detector.spixels) == (10, 10)
    assert cfg.detector.detsize_f_m == pytest.approx(0.00104)


def test_close_distance_overrides_distance_q24():
    det = build_experiment(config("-close_distance", "200", "-distance", "100")).detector
    assert det.distance_m == pytest.approx(0.2)


def test_missing_cell_is_a_usage_error():
    with pytest.raises(UsageError):
        parse_argv(["-default_F", "1"])


@pytest.mark.parametrize("flag", ["-detector_thick", "-detector_abs", "-thicksteps"])
def test_broken_guard_flags_as_last_token_are_errors(flag):
    with pytest.raises(Exception) as info:
        parse_argv(BASE + [flag])
    assert flag in str(info.value)


def test_dtype_device_profile_validation():
    with pytest.raises(Exception, match="-dtype"):
        parse_argv(BASE + ["-dtype", "float16"])
    with pytest.raises(Exception, match="-profile"):
        parse_argv(BASE + ["-profile", "strict"])
    run = parse_argv(BASE + ["-dtype", "float32"], now=1000)
    assert run.options.dtype == "float32" and math.isclose(run.config.beam.wavelength_m, 1e-10)


@pytest.mark.parametrize("flag, env", [("off", "on"), ("auto", "off"), (None, "off")])
def test_compile_flag_overrides_the_environment_for_its_run(flag, env, tmp_path, monkeypatch):
    """``-compile`` decides the compile mode the renderer sees (over TORCHBRAGG_COMPILE), and
    only for its own run: the environment is as before afterwards."""
    from torchbragg.cli.main import main
    from torchbragg.physics.compiled import CompilePolicy

    seen = []
    real = CompilePolicy.kernels
    monkeypatch.setattr(CompilePolicy, "kernels",
                        lambda self, *a, **k: seen.append(self.mode) or real(self, *a, **k))
    monkeypatch.setenv("TORCHBRAGG_COMPILE", env)
    monkeypatch.chdir(tmp_path)
    args = BASE + ["-detpixels", "4", "-nonoise", "-nopgm", "-noprogress"]
    assert main(args + (["-compile", flag] if flag else [])) == 0
    assert seen and set(seen) == {flag or env}
    assert os.environ["TORCHBRAGG_COMPILE"] == env
