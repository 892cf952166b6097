"""The benchmark runner: interleaved variants, timing, RSS, report (tiny workload)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from torchbragg.bench import workloads as workloads_module
from torchbragg.bench.__main__ import compile_bytecode, markdown
from torchbragg.bench.runner import Sample, run_workload, summarise, variants
from torchbragg.bench.workloads import COMMON, W1, W2, W3, workloads

TINY = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -nonoise -nopgm -noprogress".split()


def test_workload_definitions():
    assert W2[:len(W1)] == W1 and "-mosaic_domains" in W2 and "-dispsteps" in W3
    assert set(workloads()) == {"W1", "W2", "W3", "W4", "W5"}
    w5 = workloads()["W5"]
    hkl = w5[w5.index("-hkl") + 1]
    n = W1.index("-N")
    assert w5 == W1[:n] + ["-N", "2"] + W1[n + 2:] + ["-hkl", hkl, "-oversample", "4"] + COMMON
    assert Path(hkl).name == "crystal.hkl" and Path(hkl).is_file()


def test_summary_statistics():
    s = summarise([Sample(3.0, 1.0, 10, 0, None, 0.5), Sample(1.0, 0.5, 30, 0, None, 0.25),
                   Sample(2.0, 2.0, 20, 1, None, 4.0)])
    assert s["wall_median_s"] == 2.0 and s["wall_min_s"] == 1.0 and s["wall_max_s"] == 3.0
    assert s["cpu_median_s"] == 0.5
    assert s["compute_median_s"] == 1.0 and s["peak_rss_mib"] == 30 and s["failures"] == 1


def test_tiny_workload_runs_every_variant():
    vs = variants("cpu", compiled=False)
    names = [v.name for v in vs]
    assert "torch-float64-eager" in names and "torch-float32-eager" in names
    rows = run_workload(TINY, vs, reps=1, timeout=300)
    for name, row in rows.items():
        assert row["failures"] == 0, name
        assert row["wall_median_s"] > 0 and row["peak_rss_mib"] > 0 and row["cpu_median_s"] > 0
    assert rows["torch-float64-eager"]["compute_median_s"] > 0
    text = markdown({"created": "t", "cpu": "x", "torch_threads": 1, "device": "cpu", "reps": 1,
                     "workloads": {"T": rows, "W4": None}})
    assert "| T | torch-float64-eager" in text and "skipped" in text
    # every run's float image is hashed: float64 torch equals the C reference byte for byte
    c_sha = rows["C"]["image_sha256"] if "C" in rows else None
    assert len(rows["torch-float64-eager"]["image_sha256"]) == 1
    if c_sha:
        assert rows["torch-float64-eager"]["image_sha256"] == c_sha
        assert "(= C)" in text


def test_bytecode_is_compiled_before_timing():
    pyc = Path(importlib.util.cache_from_source(workloads_module.__file__))
    pyc.unlink(missing_ok=True)
    assert compile_bytecode() is True
    assert pyc.is_file()
    text = markdown({"created": "t", "cpu": "x", "torch_threads": 1, "device": "cpu", "reps": 1,
                     "bytecode": True, "workloads": {}})
    assert "bytecode compiled before timing" in text


def test_the_report_names_the_helpers_built_at_install(tmp_path, monkeypatch):
    import shutil

    import pytest

    from torchbragg import _cbuild, native
    from torchbragg.bench.__main__ import prebuilt_helpers
    from torchbragg.prebuild import prebuild

    if shutil.which(_cbuild.compiler_name()) is None:
        pytest.skip("no C compiler to build the helpers with")
    monkeypatch.delenv("CFLAGS", raising=False)
    folder = tmp_path / "_prebuilt"
    prebuild(folder, say=lambda line: None)
    (next(folder.glob("tricubic_native-*.so"))).unlink()  # (one missing: not listed)
    monkeypatch.setattr(_cbuild, "prebuilt_dir", lambda: folder)
    assert prebuilt_helpers() == [h.name for h in native.HELPERS if h.name != "tricubic_native"]
    monkeypatch.setattr(_cbuild, "prebuilt_dir", lambda: None)  # (TORCHBRAGG_PREBUILT=0)
    assert prebuilt_helpers() == []
    text = markdown({"created": "t", "cpu": "x", "torch_threads": 1, "device": "cpu", "reps": 1,
                     "prebuilt_helpers": ["hkl_native", "noise_native"], "workloads": {}})
    assert "native helpers built at install: hkl_native, noise_native" in text


def test_campaign_benchmark_reports_both_sides():
    import shutil

    import pytest

    if shutil.which("torchbragg-cref") is None:
        pytest.skip("torchbragg-cref is not installed")
    from torchbragg.bench.campaign import markdown as campaign_markdown
    from torchbragg.bench.campaign import run_campaign_bench

    row = run_campaign_bench(3, seed=5)
    assert row["cases"] == 3 and sum(row["verdicts"].values()) == 3
    assert row["c_cases_per_s"] > 0 and row["py_cases_per_s"] > 0 and row["wall_s"] > 0
    assert row["target_wall_s"] == 4.5
    assert "3 random cases" in "\n".join(campaign_markdown(row))


def test_cold_variants_get_an_empty_cache_per_run(tmp_path, monkeypatch):
    from torchbragg.bench import runner

    names = [v.name for v in variants("cpu", compiled=False, cold=True)]
    assert "torch-float64-cold" in names and "torch-float32-cold" in names
    cold = next(v for v in variants("cpu", compiled=False, cold=True)
                if v.name == "torch-float64-cold")
    assert cold.env["TORCHBRAGG_COMPILE"] == "auto"
    seen = []
    popen = runner.subprocess.Popen

    def spy(cmd, **kwargs):
        seen.append(kwargs["env"].get("TORCHBRAGG_CACHE"))
        return popen(cmd, **kwargs)

    monkeypatch.setattr(runner.subprocess, "Popen", spy)
    rows = run_workload(TINY, [cold], reps=2, timeout=300)
    assert rows["torch-float64-cold"]["failures"] == 0
    assert len(seen) == 2 and len(set(seen)) == 2 and all(s.endswith("cold-cache") for s in seen)


def test_w6_in_process_equals_one_process_per_case():
    from torchbragg.bench.w6 import markdown as w6_markdown
    from torchbragg.bench.w6 import run_w6

    row = run_w6(4, seed=7, processes=2)
    assert row["cases"] == 4 and row["per_process_cases"] == 2 and row["compared"] == 2
    assert row["same_status"] == 2 and row["same_image"] == 2
    assert row["in_process"]["cases_per_s"] > 0 and row["per_process"]["cases_per_s"] > 0
    assert "| torchbragg in-process" in "\n".join(w6_markdown(row))


def test_existing_out_folder_is_refused_without_a_traceback(tmp_path, capsys):
    from torchbragg.bench.__main__ import main

    report = tmp_path / "report"
    report.mkdir()
    (report / "bench.md").write_text("earlier report\n")
    assert main(["--out", str(report), "--workloads", "", "--campaign", "0", "--w6", "0"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "already exists" in err and "Traceback" not in err
    assert (report / "bench.md").read_text() == "earlier report\n"
