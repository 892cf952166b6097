"""The trace comparator (docs/behaviour/trace.md §9): alignment, tolerance classes, first
divergence, exits."""
from __future__ import annotations

import json

import pytest

from parity_helpers import C_EXAMPLE, PIXEL_LINES, as_py, py_example
from torchbragg.parity.cli import main
from torchbragg.parity.compare_traces import (
    Tolerances, compare_traces, compare_values, comparison_json, tolerance_class,
)
from torchbragg.parity.tracefmt import parse_trace


def _compare(c_text, py_text, **tol):
    return compare_traces(parse_trace(c_text, "C"), parse_trace(py_text, "PY"), Tolerances(**tol))


def _perturb(text, name, k=0, index=0, factor=None, value=None):
    """Change component ``index`` of the k-th ``name`` line."""
    out, seen = [], 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[0].startswith("TRACE_") and parts[1] == name:
            if seen == k:
                parts[2 + index] = value if value is not None else \
                    format(float(parts[2 + index]) * factor, ".15g")
                line = " ".join(parts)
            seen += 1
        out.append(line)
    return "\n".join(out) + "\n"


def test_example_against_itself_passes():
    tc = _compare(C_EXAMPLE, py_example())
    assert tc.exit_status() == 0
    assert tc.pixels[0].pixel == (8, 17)
    assert tc.pixels[0].first_divergence is None
    assert all(r.status == "pass" for r in tc.pixels[0].results)
    # run level: informational lines skipped, legacy-only names are notes, the rest pass
    statuses = {r.name: r.status for r in tc.run.results}
    assert statuses["convention_mapping"] == "skipped"
    assert statuses["R_total"] == "pass" and "trace_pixel" not in statuses  # a marker


def test_golden_log_against_itself_passes(golden_dir):
    for log in sorted(golden_dir.glob("*/trace_c_*.log")):
        text = log.read_text()
        tc = _compare(text, text.replace("TRACE_C:", "TRACE_PY:"))
        # the raw legacy text on the PY side is normalised the same way
        assert tc.exit_status() == 0, log


def test_perturbed_value_is_first_divergence():
    py = _perturb(py_example(), "hkl_frac", factor=1 + 1e-9)
    py = _perturb(py, "F_cell", factor=2)              # a later failure as well
    tc = _compare(C_EXAMPLE, py)
    assert tc.exit_status() == 1
    first = tc.pixels[0].first_divergence
    assert (first.name, first.k, first.block, first.status) == ("hkl_frac", 0, "B", "mismatch")
    assert first.abs_diff[0] > 0 and first.abs_diff[1] == 0
    assert tc.pixels[0].last_pass_before(first).name == "rot_c_star_A_inv"
    assert [r.name for r in tc.pixels[0].failures] == ["hkl_frac", "F_cell"]
    data = comparison_json(tc)["pixels"][0]
    assert data["first_divergence"]["name"] == "hkl_frac"
    assert data["first_divergence"]["subpixel_index"] == 0
    assert data["first_divergence"]["last_passing"]["name"] == "rot_c_star_A_inv"


def test_second_subpixel_divergence_reports_k():
    c = C_EXAMPLE + PIXEL_LINES
    py = py_example() + as_py(PIXEL_LINES)
    py = _perturb(py, "pixel_pos_meters", k=1, index=1, factor=1.001)
    tc = _compare(c, py)
    first = tc.pixels[0].first_divergence
    assert (first.name, first.k, first.block) == ("pixel_pos_meters", 1, "A")


def test_flattice_divergence_shows_hkl_frac():
    py = _perturb(py_example(), "F_latt_b", factor=1.01)
    data = comparison_json(_compare(C_EXAMPLE, py))["pixels"][0]["first_divergence"]
    assert data["name"] == "F_latt_b" and data["hkl_frac"]["name"] == "hkl_frac"


@pytest.mark.parametrize("name, rel, dtype, ok", [
    ("hkl_frac", 5e-10, "float64", False),        # crystal class 1e-11 (vector scale ~1)
    ("hkl_frac", 5e-10, "float32", True),         # 1e-5 in the binary32 column
    ("F_latt", 5e-11, "float64", True),           # ill-conditioned 1e-9
    ("F_latt", 5e-9, "float64", False),
    ("F_latt", 5e-5, "float32", True),            # 1e-4
    ("omega_pixel_sr", 5e-12, "float64", False),  # geometry 1e-12
    ("omega_pixel_sr", 5e-7, "float32", True),    # 1e-6
    ("polar", 5e-12, "float64", False),           # constants 1e-12
    ("polar", 5e-6, "float32", False),
])
def test_tolerance_classes(name, rel, dtype, ok):
    py = _perturb(py_example(), name, factor=1 + rel)
    assert (_compare(C_EXAMPLE, py, dtype=dtype).exit_status() == 0) is ok


def test_class_table():
    assert tolerance_class("pix0_vector") == "geometry"          # run-level
    assert tolerance_class("lambda_angstroms") == "geometry"
    assert tolerance_class("rot_b_star_A_inv") == "crystal"
    assert tolerance_class("floatimage_accumulated") == "ill-conditioned"
    assert tolerance_class("fluence_photons_per_m2") == "constants"
    assert tolerance_class("steps") == "exact"
    assert tolerance_class("phi_step") == "extension"


def test_global_and_per_name_overrides():
    py = _perturb(py_example(), "hkl_frac", factor=1 + 1e-8)
    assert _compare(C_EXAMPLE, py).exit_status() == 1
    assert _compare(C_EXAMPLE, py, rtol=1e-7).exit_status() == 0
    assert _compare(C_EXAMPLE, py, per_name={"hkl_frac": 1e-7}).exit_status() == 0
    assert _compare(C_EXAMPLE, py, rtol=1e-7, per_name={"hkl_frac": 1e-12}).exit_status() == 1
    assert _compare(C_EXAMPLE, py, skip=frozenset({"hkl_frac"})).exit_status() == 0


def test_vector_scale_uses_largest_component():
    tol = Tolerances()
    # 5e-05 next to 0.02: an absolute change of 1e-15 is judged against 0.02
    status, _, rel, _ = compare_values("pixel_pos_meters", ["0.02", "0.00085", "5e-05"],
                                       ["0.02", "0.00085", "5.0000000001e-05"], tol)
    assert status == "pass" and rel[2] < 1e-12
    status, *_ = compare_values("R_distance_meters", ["5e-05"], ["5.0000000001e-05"], tol)
    assert status == "mismatch"


def test_integers_words_zero_nan_inf():
    tol = Tolerances(rtol=1.0)
    assert compare_values("steps", ["10"], ["11"], tol)[0] == "mismatch"
    assert compare_values("hkl_rounded", ["0", "1", "0"], ["0", "1", "0"], tol)[0] == "pass"
    assert compare_values("detector_pivot", ["BEAM"], ["SAMPLE"], tol)[0] == "mismatch"
    assert compare_values("detector_pivot", ["BEAM"], ["BEAM"], tol)[0] == "pass"
    zeros = compare_values("incident_vec", ["1", "0", "-0"], ["1", "-0", "0"], Tolerances())
    assert zeros[0] == "pass" and zeros[1] == [0, 0, 0]
    assert compare_values("F_cell", ["nan"], ["-nan"], tol)[0] == "warn"
    assert compare_values("F_cell", ["nan"], ["1"], tol)[0] == "mismatch"
    assert compare_values("F_cell", ["inf"], ["inf"], tol)[0] == "pass"
    assert compare_values("F_cell", ["inf"], ["-inf"], tol)[0] == "mismatch"
    assert compare_values("F_cell", ["inf"], ["1e308"], tol)[0] == "mismatch"
    assert compare_values("F_cell", ["1"], ["1", "2"], tol)[0] == "shape"


def test_nan_on_both_sides_passes_with_warning():
    c = _perturb(C_EXAMPLE, "F_cell", value="nan")
    py = _perturb(py_example(), "F_cell", value="-nan")
    tc = _compare(c, py)
    assert tc.exit_status() == 0
    assert comparison_json(tc)["pixels"][0]["warnings"][0]["name"] == "F_cell"


def test_missing_required_key_is_exit_2():
    py = "\n".join(line for line in py_example().splitlines() if " polar " not in line) + "\n"
    tc = _compare(C_EXAMPLE, py)
    assert tc.exit_status() == 2
    first = tc.pixels[0].first_divergence
    assert (first.name, first.status, first.block) == ("polar", "missing", "C")


def test_missing_run_level_key_is_a_note():
    py = "\n".join(line for line in py_example().splitlines() if "R_total" not in line) + "\n"
    tc = _compare(C_EXAMPLE, py)
    assert tc.exit_status() == 0
    assert [r.status for r in tc.run.results if r.name == "R_total"] == ["note-missing"]


def test_extra_keys():
    py = py_example() + "TRACE_PY: I_bg 0\n" + "TRACE_PY: hkl_frac 0 0 0\n"
    tc = _compare(C_EXAMPLE, py)
    statuses = {r.name: r.status for r in tc.pixels[0].results if r.c is None}
    assert statuses == {"I_bg": "note-extra", "hkl_frac": "extra"}
    assert tc.exit_status() == 2


def test_shape_difference_is_exit_2():
    py = py_example().replace("TRACE_PY: F_cell 12", "TRACE_PY: F_cell 12 0")
    assert _compare(C_EXAMPLE, py).exit_status() == 2


def test_several_pixels_compared_pixel_by_pixel():
    c = ("TRACE_CONFIG: tracing pixel (spixel=1, fpixel=2)\n" + PIXEL_LINES
         + "TRACE_CONFIG: tracing pixel (spixel=3, fpixel=4)\n" + PIXEL_LINES)
    body = as_py(PIXEL_LINES)
    py = ("TRACE_PY: trace_pixel 1 2\nTRACE_PY: trace_pixel 3 4\nTRACE_PY: pixel 3 4\n"
          + _perturb(body, "F_cell", factor=2) + "TRACE_PY: pixel 1 2\n" + body)
    tc = _compare(c, py)
    by_pixel = {g.pixel: g for g in tc.pixels}
    assert by_pixel[(1, 2)].exit_status() == 0
    assert by_pixel[(3, 4)].first_divergence.name == "F_cell"
    assert tc.exit_status() == 1


def test_pixel_traced_on_one_side_only():
    c = "TRACE_CONFIG: tracing pixel (spixel=1, fpixel=2)\n" + PIXEL_LINES
    py = "TRACE_PY: pixel 5 6\n" + as_py(PIXEL_LINES)
    tc = _compare(c, py)
    assert tc.exit_status() == 2 and tc.pixels == []          # nothing in common
    assert any("C side only" in n for n in tc.notes)
    tc = _compare(c, "TRACE_PY: pixel 1 2\n" + as_py(PIXEL_LINES) + py)
    assert tc.exit_status() == 0 and [g.pixel for g in tc.pixels] == [(1, 2)]
    assert any("(slow 5, fast 6): traced on the PY side only" in n for n in tc.notes)


# --------------------------------------------------------------------------- CLI
def _write(tmp_path, c_text, py_text):
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text(c_text)
    p.write_text(py_text)
    return str(c), str(p)


def test_cli_pass_and_outputs(tmp_path, capsys):
    c, p = _write(tmp_path, C_EXAMPLE, py_example())
    out = tmp_path / "report"
    assert main(["compare-traces", "--c", c, "--py", p, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# PASS") and "| `I_pixel_final` |" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verdict"] == "PASS" and metrics["pixels"][0]["pixel"] == [8, 17]
    assert (out / "summary.md").read_text().startswith("# PASS")


def test_cli_combined_file(tmp_path, capsys):
    c, _ = _write(tmp_path, C_EXAMPLE + py_example(), "")
    assert main(["compare-traces", "--c", c, "--py", c]) == 0


def test_cli_mismatch_and_tolerance_options(tmp_path, capsys):
    c, p = _write(tmp_path, C_EXAMPLE, _perturb(py_example(), "hkl_frac", factor=1 + 1e-8))
    assert main(["compare-traces", "--c", c, "--py", p]) == 1
    assert "**First divergence:**" in capsys.readouterr().out
    assert main(["compare-traces", "--c", c, "--py", p, "--tolerance", "1e-6"]) == 0
    assert main(["compare-traces", "--c", c, "--py", p, "--rtol-name", "hkl_frac=1e-6"]) == 0
    assert main(["compare-traces", "--c", c, "--py", p, "--dtype", "float32"]) == 0


def test_cli_missing_key_and_errors(tmp_path, capsys):
    py = "\n".join(line for line in py_example().splitlines() if "steps" not in line) + "\n"
    c, p = _write(tmp_path, C_EXAMPLE, py)
    assert main(["compare-traces", "--c", c, "--py", p]) == 2
    capsys.readouterr()
    assert main(["compare-traces", "--c", c, "--py", str(tmp_path / "none.log")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read trace file" in err
    assert main(["compare-traces", "--c", c, "--py", c]) == 2      # no TRACE_PY lines
    assert "no TRACE_PY lines" in capsys.readouterr().err
    assert main(["compare-traces", "--c", c, "--py", p, "--rtol-name", "bad"]) == 2
    bad = tmp_path / "bad.log"
    bad.write_text("TRACE_PY: 1x 2\n")
    assert main(["compare-traces", "--c", c, "--py", str(bad)]) == 2
