"""Golden parity of the clean-room C reference (torchbragg-cref).

For every case folder of the golden set the binary runs in a scratch folder laid out like the
reference run (``<tmp>/case`` as working folder, ``<tmp>/inputs`` -> golden inputs, so the
``../inputs/...`` paths of the argv resolve) and every stored output file must be reproduced
byte for byte; stdout must match line for line (``mmap(...)`` addresses excepted).

All ``-trace_pixel`` requests of a case go into one extra run (the flag is repeatable); the
TRACE_C per-pixel lines of each pixel are compared with the stored ``trace_c_SLOW_FAST.log``
after the normalisation of docs/behaviour/trace.md §7, matched by (name, occurrence), to 1e-12
relative (docs/behaviour/trace.md §9.3; vectors scaled by their largest magnitude; integer names
exact).

The supervisor case (2463x2527, ~10-25 s) is part of the default run; its test ids contain
``slow`` so ``-k "not slow"`` deselects it.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
BIG = {"supervisor_full"}

PER_PIXEL = [
    "pix0_vector_meters", "fdet_vec", "sdet_vec", "pixel_pos_meters", "R_distance_meters",
    "omega_pixel_sr", "close_distance_meters", "obliquity_factor", "diffracted_vec",
    "incident_vec", "lambda_meters", "lambda_angstroms", "scattering_vec_A_inv",
    "rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms", "rot_a_star_A_inv",
    "rot_b_star_A_inv", "rot_c_star_A_inv", "hkl_frac", "hkl_rounded", "F_latt_a", "F_latt_b",
    "F_latt_c", "F_latt", "F_cell", "I_before_scaling", "r_e_meters", "r_e_sqr",
    "fluence_photons_per_m2", "steps", "oversample_thick", "oversample_polar",
    "oversample_omega", "capture_fraction", "polar", "omega_pixel", "cos_2theta",
    "I_pixel_final", "floatimage_accumulated",
]
INTEGER_NAMES = {"steps", "hkl_rounded", "oversample_thick", "oversample_polar",
                 "oversample_omega", "trace_pixel"}
RTOL = 1e-12


def _golden_root() -> Path | None:
    env = os.environ.get("TORCHBRAGG_GOLDEN")
    for p in ([Path(env)] if env else []) + [REPO.parent / "shared" / "golden"]:
        if (p / "MANIFEST.json").is_file():
            return p
    return None


def _case_ids():
    root = _golden_root()
    if root is None:
        return [pytest.param("none", id="no-golden-set")]
    out = []
    for p in sorted(root.iterdir()):
        if (p / "case.json").is_file():
            out.append(pytest.param(p.name, id=f"{p.name}-slow" if p.name in BIG else p.name))
    return out



def _scratch(tmp_path: Path, golden: Path) -> Path:
    work = tmp_path / "case"
    work.mkdir()
    (tmp_path / "inputs").symlink_to(golden / "inputs")
    return work


def _run_case(binary, spec, work, extra=(), threads=1):
    runs = spec.get("runs") or [spec["argv"]]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    procs = []
    for i, argv in enumerate(runs):
        args = list(argv) + (list(extra) if i == len(runs) - 1 else [])
        procs.append(subprocess.run([str(binary), *args], cwd=work, env=env,
                                    capture_output=True, text=True, timeout=600))
    return procs


def _stdout_lines(text: str):
    # empty lines are dropped: a trace line after the newline-less interpolation warning
    # starts a fresh line (docs/behaviour/trace.md §6.1), which shifts where the report's empty line
    # falls
    return [l for l in text.splitlines() if l and not l.startswith("mmap(")
            and not l.startswith("TRACE_C") and not l.endswith("% done")]


# ------------------------------------------------------------------- trace handling
def normalise(text: str):
    """TRACE_C lines -> list of (name, tokens); legacy forms per docs/behaviour/trace.md §7."""
    out = []
    for raw in text.splitlines():
        pos = raw.find("TRACE_C:")  # a line may be glued to a warning without newline
        if pos < 0:
            continue
        line = raw[pos:]
        if line.startswith("TRACE_C: "):
            toks = line[len("TRACE_C: "):].split()
            if toks:
                out.append((toks[0], toks[1:]))
        elif "=" in line:
            name, val = line[len("TRACE_C:"):].split("=", 1)
            val = val.replace("[", " ").replace("]", " ").replace(";", " ")
            out.append((name, val.split()))
    return out


def per_pixel_blocks(entries):
    """Split our normalised entries by the 'pixel S F' context markers."""
    blocks, cur = {}, None
    for name, toks in entries:
        if name == "pixel":
            cur = (int(toks[0]), int(toks[1]))
            blocks[cur] = []
        elif cur is not None and name in PER_PIXEL:
            blocks[cur].append((name, toks))
    return blocks


def keyed(entries):
    keys, seen = [], {}
    vals = {}
    for name, toks in entries:
        if name not in PER_PIXEL:
            continue
        k = seen.get(name, 0)
        seen[name] = k + 1
        keys.append((name, k))
        vals[(name, k)] = toks
    return keys, vals


def compare_traces(ref_entries, our_entries, rtol=RTOL):
    rkeys, rvals = keyed(ref_entries)
    okeys, ovals = keyed(our_entries)
    problems = []
    for key in rkeys:
        if key not in ovals:
            problems.append(f"missing {key}")
            continue
        a, b = rvals[key], ovals[key]
        if len(a) != len(b):
            problems.append(f"shape {key}: {a} vs {b}")
            continue
        if key[0] in INTEGER_NAMES:
            if [int(float(x)) for x in a] != [int(float(x)) for x in b]:
                problems.append(f"integer {key}: {a} vs {b}")
            continue
        fa, fb = [float(x) for x in a], [float(x) for x in b]
        finite = [abs(x) for x in fa + fb if math.isfinite(x)]
        scale = max(finite) if finite else 0.0
        for x, y in zip(fa, fb):
            if math.isnan(x) and math.isnan(y):
                continue
            if math.isinf(x) or math.isinf(y):
                if x != y:
                    problems.append(f"value {key}: {a} vs {b}")
                    break
                continue
            if abs(x - y) > rtol * scale:
                problems.append(f"value {key}: {a} vs {b}")
                break
    extra = [k for k in okeys if k not in rvals]
    if extra:
        problems.append(f"extra keys {extra[:5]}")
    return problems


# ------------------------------------------------------------------- the tests
@pytest.mark.parametrize("case", _case_ids())
def test_golden_case(case, golden_dir, cref_bin, tmp_path):
    spec = json.loads((golden_dir / case / "case.json").read_text())
    work = _scratch(tmp_path, golden_dir)
    traces = spec.get("traces", [])
    extra = []
    for tr in traces:
        extra += ["-trace_pixel", str(tr["pixel"][0]), str(tr["pixel"][1])]
    procs = _run_case(cref_bin, spec, work, extra)
    codes = spec.get("run_exit_codes") or [spec.get("exit_code", 0)] * len(procs)
    assert [p.returncode for p in procs] == list(codes), procs[-1].stderr[-500:]
    for p in procs:
        assert p.stderr == ""

    # every stored output file, byte for byte
    for role, name in spec["outputs"].items():
        ref = golden_dir / case / name
        if role == "stdout" or not ref.exists():
            continue
        got = work / name
        assert got.exists(), f"{role} {name} not written"
        assert got.read_bytes() == ref.read_bytes(), f"{role} {name} differs"
    assert not [p for p in os.listdir(work) if p.startswith(".nb")]  # no staged temporary

    # stdout, line by line (trace and volatile lines removed)
    ref_out = (golden_dir / case / spec["outputs"]["stdout"]).read_text()
    assert _stdout_lines(procs[-1].stdout) == _stdout_lines(ref_out)

    # traces
    ours = per_pixel_blocks(normalise(procs[-1].stdout))
    for tr in traces:
        pix = (tr["pixel"][0], tr["pixel"][1])
        ref_entries = normalise((golden_dir / case / tr["file"]).read_text())
        if not keyed(ref_entries)[0]:  # pixel outside the ROI or masked: no per-pixel lines
            assert not ours.get(pix)
            continue
        assert pix in ours, f"no trace for pixel {pix}"
        problems = compare_traces(ref_entries, ours[pix])
        assert not problems, f"{case} {pix}: " + "; ".join(problems[:5])
        final = [t for n, t in ours[pix] if n == "floatimage_accumulated"]
        assert final and float(final[0][0]) == pytest.approx(tr["upstream_value"], rel=1e-14)


@pytest.mark.parametrize("case", [c for c in _case_ids() if c.values[0] in BIG]
                         or [pytest.param("none", id="no-golden-set")])
def test_golden_big_case_two_threads(case, golden_dir, cref_bin, tmp_path):
    """The parallel path (2 threads) reproduces the single-thread reference image."""
    spec = json.loads((golden_dir / case / "case.json").read_text())
    work = _scratch(tmp_path, golden_dir)
    procs = _run_case(cref_bin, spec, work, threads=2)
    assert procs[-1].returncode == 0
    name = spec["outputs"]["floatfile"]
    assert (work / name).read_bytes() == (golden_dir / case / name).read_bytes()


def test_trace_normaliser_legacy_forms():
    text = ("TRACE_C:angles_rad=rotx:0 roty:0 rotz:0 twotheta:0\n"
            "TRACE_C:Rx=[1 0 0; 0 1 -0; 0 0 1]\n"
            "WARNING: further warnings will not be printed! TRACE_C: F_cell 12\n")
    entries = normalise(text)
    assert ("Rx", ["1", "0", "0", "0", "1", "-0", "0", "0", "1"]) in entries
    assert ("F_cell", ["12"]) in entries
    assert not compare_traces([("F_cell", ["12"])], [("F_cell", ["12.0000000000001"])])
    assert compare_traces([("F_cell", ["12"])], [("F_cell", ["12.00001"])])


# ------------------------------------------------------------ the golden-fuzz set
def _fuzz_ids():
    from conftest import NO_FUZZ, find_golden_fuzz
    from golden_support import case_names

    fuzz = find_golden_fuzz()
    if fuzz is None:
        return [pytest.param("none", marks=pytest.mark.skip(reason=NO_FUZZ))]
    return case_names(fuzz)


@pytest.mark.parametrize("case", _fuzz_ids())
def test_golden_fuzz_case(case, cref_bin, tmp_path):
    """Random command lines on which the behaviour reference was wrong: every stored file,
    stdout and the exit status as the upstream program's."""
    from conftest import find_golden_fuzz
    from golden_support import comparable_stdout, load_case, run_case

    fuzz = find_golden_fuzz()
    spec = load_case(fuzz, case)
    proc = run_case(fuzz, case, tmp_path, cmd=[str(cref_bin)])
    assert proc.returncode == spec["exit_code"], proc.stderr[-500:]
    work = tmp_path / fuzz.name / case
    for role, name in spec["outputs"].items():
        if role != "stdout":
            assert (work / name).read_bytes() == (fuzz / case / name).read_bytes(), role
    ref = (fuzz / case / spec["outputs"]["stdout"]).read_text()
    assert comparable_stdout(proc.stdout) == comparable_stdout(ref)
