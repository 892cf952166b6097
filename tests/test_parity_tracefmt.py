"""Trace parsing and legacy normalisation (docs/behaviour/trace.md §6, §7) on §8 lines and golden
logs."""
from __future__ import annotations

import math
import re

import pytest

from parity_helpers import (
    C_EXAMPLE, NORMALISED_RUN_LEVEL, PIXEL_LINES, RAW_RUN_LEVEL, as_py, py_example,
)
from torchbragg.parity.tracefmt import (
    BLOCK_A, BLOCK_B, SCALING_CHAIN, TraceParseError, block_of, normalise_line,
    normalised_text, parse_number, parse_trace, read_trace, trace_lines,
)


def test_raw_run_level_lines_normalise_as_in_spec():
    got = []
    for line in RAW_RUN_LEVEL.splitlines():
        got += normalise_line(line, "C")
    assert [name for name, _, _ in got] == [name for name, _ in NORMALISED_RUN_LEVEL]
    for (name, values, info), (_, want) in zip(got, NORMALISED_RUN_LEVEL):
        assert info == (want is None), name
        if want is not None:
            assert " ".join(values) == want, name


@pytest.mark.parametrize("line, want", [
    ("TRACE_C: omega_pixel_sr 2.49321849167336e-05",
     [("omega_pixel_sr", ["2.49321849167336e-05"], False)]),
    ("TRACE_C:pix0_vector=0.02 0.0017 -0.0017",
     [("pix0_vector", ["0.02", "0.0017", "-0.0017"], False)]),
    ("TRACE_C_PHI phi_tic=3 phi_deg=0.3 k_frac=1.5 F_latt_b=2 F_latt=-4",
     [("phi_step_legacy", ["3", "0.3", "1.5", "2", "-4"], False)]),
    ("TRACE_C_TAP5: whatever 1 2", []),
    ("TRACE_C_TAP5_HKL: 1 2 3", []),
    ("TRACE_C_SOURCE2: 1 2 3", []),
    ("TRACE:   a = [1, 2, 3]", []),
    ("DETECTOR_PIX0_VECTOR 0.1 0.2 0.3", []),
    ("TRACE_PY: hkl_frac 1 2 3", []),            # other side's line
    ("random output", []),
])
def test_line_forms_c_side(line, want):
    assert normalise_line(line, "C") == want


def test_py_side_selects_only_py_lines():
    assert normalise_line("TRACE_PY: steps 4", "PY") == [("steps", ["4"], False)]
    assert normalise_line("TRACE_C: steps 4", "PY") == []
    assert normalise_line("TRACE_CONFIG: tracing pixel (spixel=1, fpixel=2)", "PY") == []


def test_trace_line_glued_to_a_warning_is_recovered():
    line = "WARNING: further warnings will not be printed! TRACE_C: pix0_vector_meters 0.05 0 1"
    assert normalise_line(line, "C") == [("pix0_vector_meters", ["0.05", "0", "1"], False)]


@pytest.mark.parametrize("line", ["TRACE_C: 9bad 1", "TRACE_C:", "TRACE_C:novalue",
                                  "TRACE_CONFIG: tracing pixel (s=1)",
                                  "TRACE_C:angles_rad=rotx:0 roty:0"])
def test_malformed_lines_raise(line):
    with pytest.raises(TraceParseError):
        normalise_line(line, "C")


def test_numbers_and_words():
    assert math.isnan(parse_number("nan")) and math.isnan(parse_number("-nan"))
    assert parse_number("-inf") == -math.inf
    assert parse_number("-0") == 0 and math.copysign(1, parse_number("-0")) < 0
    assert parse_number("1.25932015286227e+29") == 1.25932015286227e29
    assert parse_number("MOSFLM") is None


def test_parse_full_example_groups_and_counts():
    trace = parse_trace(C_EXAMPLE, "C")
    assert [g.pixel for g in trace.pixels] == [(8, 17)]
    group = trace.pixels[0]
    assert [e.name for e in group.entries] == list(BLOCK_A + BLOCK_B + SCALING_CHAIN)
    assert all(e.k == 0 for e in group.entries)
    run_names = [e.name for e in trace.run.entries]
    assert run_names[-1] == "pix0_vector" and "detector_rotz_rad" in run_names
    assert [(e.name, e.values) for e in trace.markers] == [("trace_pixel", ["8", "17"])]
    assert {e.name for e in trace.run.entries if e.informational} == {
        "detector_convention", "beam_center_m", "initial_fdet", "initial_sdet",
        "initial_odet", "convention_mapping"}


def test_occurrence_counts_and_subpixel_markers():
    py = py_example() + "TRACE_PY: subpixel 0 0 1\n" + as_py(PIXEL_LINES)
    trace = parse_trace(py, "PY")
    group = trace.pixels[0]
    assert group.pixel == (8, 17)
    hkl = [e for e in group.entries if e.name == "hkl_frac"]
    assert [e.k for e in hkl] == [0, 1]
    assert [e.subpixel for e in hkl] == [(0, 0, 0), (0, 0, 1)]
    assert len(trace.markers) == 4  # trace_pixel, pixel, 2 subpixel markers: never compared


def test_several_pixels_group_by_marker():
    text = ("TRACE_PY: trace_pixel 1 2\nTRACE_PY: trace_pixel 3 4\nTRACE_PY: pix0_vector 1 2 3\n"
            "TRACE_PY: pixel 1 2\nTRACE_PY: steps 1\nTRACE_PY: pixel 3 4\nTRACE_PY: steps 2\n")
    trace = parse_trace(text, "PY")
    assert [(g.pixel, [e.values for e in g.entries]) for g in trace.pixels] == [
        ((1, 2), [["1"]]), ((3, 4), [["2"]])]
    assert [e.name for e in trace.run.entries] == ["pix0_vector"]
    assert [e.values for e in trace.markers] == [["1", "2"], ["3", "4"], ["1", "2"], ["3", "4"]]


def test_unmarked_trace_is_one_unnamed_pixel():
    trace = parse_trace(PIXEL_LINES, "C")
    assert [g.pixel for g in trace.pixels] == [None]


def test_normalised_text_round_trip():
    trace = parse_trace(C_EXAMPLE, "C")
    text = normalised_text(trace)
    assert all(re.fullmatch(r"TRACE_C: [A-Za-z][A-Za-z0-9_]*( \S+)*", line)
               for line in text.splitlines())
    again = parse_trace(text, "C")
    assert [(e.name, e.values) for e in again.pixels[0].entries] == [
        (e.name, e.values) for e in trace.pixels[0].entries]


def test_trace_lines_keeps_only_trace_lines():
    kept = trace_lines(C_EXAMPLE, "C")
    assert not any(line.startswith(("TRACE:", "DETECTOR_", "nanoBragg", "done")) for line in kept)
    assert len(kept) == len(RAW_RUN_LEVEL.splitlines()) + len(PIXEL_LINES.splitlines())


def test_block_labels():
    assert block_of("hkl_frac") == "B" and block_of("omega_pixel") == "C"
    assert block_of("pix0_vector") == "run" and block_of("phi_step") == "ext"


def test_read_missing_file_raises(tmp_path):
    with pytest.raises(TraceParseError):
        read_trace(tmp_path / "absent.log", "C")


# --------------------------------------------------------------------------- golden logs
def _golden_logs(golden_dir):
    logs = sorted(golden_dir.glob("*/trace_c_*.log"))
    assert logs, "no trace logs in the golden set"
    return logs


def test_every_golden_log_parses(golden_dir):
    for log in _golden_logs(golden_dir):
        slow, fast = map(int, re.fullmatch(r"trace_c_(\d+)_(\d+)\.log", log.name).groups())
        trace = read_trace(log, "C")
        assert [g.pixel for g in trace.pixels] == [(slow, fast)], log
        group = trace.pixels[0]
        names = [e.name for e in group.entries]
        # scaling chain exactly once, in order, at the end
        assert names[-len(SCALING_CHAIN):] == list(SCALING_CHAIN), log
        assert all(group.counts[n] == 1 for n in SCALING_CHAIN), log
        # Block A repeats as often as fdet_vec (one per sub-pixel and layer)
        reps = group.counts["fdet_vec"]
        assert all(group.counts.get(n) == reps for n in BLOCK_A), log
        trace_pixel = [e for e in trace.markers if e.name == "trace_pixel"]
        assert [e.values for e in trace_pixel] == [[str(slow), str(fast)]]


def test_golden_oversampled_log_repeats_blocks(golden_dir):
    trace = read_trace(golden_dir / "absorption_oversample_last_value" / "trace_c_49_49.log", "C")
    counts = trace.pixels[0].counts
    assert counts["pixel_pos_meters"] > 1
    assert counts["steps"] == 1


def test_golden_beam_pivot_log_has_run_level_block(golden_dir):
    trace = read_trace(golden_dir / "interpolate_fallback_small_grid" / "trace_c_5_5.log", "C")
    names = {e.name for e in trace.run.entries}
    assert {"detector_rotx_rad", "R_total", "pix0_vector", "term_beam"} <= names
    # the glued line after the interpolation warning is recovered
    assert trace.pixels[0].counts.get("pix0_vector_meters") == 1
