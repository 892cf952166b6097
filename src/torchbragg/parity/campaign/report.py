"""The campaign bundle: metrics.json (schema in docs/campaign.md), summary.md, the rest.

summary.md opens with the outcome and the verdict counts, then the failing cases with their
first divergence and reproducer, baseline flips, the feature-coverage matrix (each flag
family and each pair of families, with case counts and verdicts) and the slowest cases.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from torchbragg.parity import bundle as bundle_mod
from torchbragg.parity.campaign.baseline import baseline_json
from torchbragg.parity.campaign.compare import FAILING, PASSING, VERDICTS
from torchbragg.parity.families import FAMILIES, families_of
from torchbragg.parity.sides import detector_size

METRICS_SCHEMA = 1
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_C_FAULT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def campaign_metrics(*, spec, opts, sides, records, total, notes, wall, interrupted,
                     baseline) -> dict:
    records = sorted(records, key=lambda r: r["index"])
    for rec in records:
        rec["families"] = sorted(families_of(rec["argv"]))
    return {
        "schema_version": METRICS_SCHEMA,
        "tool": "torchbragg-parity campaign",
        "created_utc": bundle_mod.timestamp(),
        "spec": {"path": spec.path, "name": spec.name, "sha256": spec.text_sha256},
        "shard": list(opts.shard) if opts.shard else None,
        "dtype": opts.dtype, "device": opts.device,
        "c_command": list(sides.c_cmd),
        "py_command": list(sides.py_cmd) if sides.py_cmd else "in-process",
        "tolerance": {"float64": "byte-identical", "float32_rel_l2": sides.tolerance},
        "cases_total": total, "cases_run": len(records), "interrupted": interrupted,
        "verdicts": verdict_counts(records),
        "notes": list(notes),
        "timing": timing(records, wall),
        "baseline": baseline,
        "cases": records,
    }


def timing(records, wall: float) -> dict:
    """Work seconds per side (summed over the cases), the wall time and the rates."""
    c_s = sum(r["seconds"]["c"] for r in records if r["kind"] != "golden")
    py_s = sum(r["seconds"]["py"] for r in records)
    n_c = sum(1 for r in records if r["kind"] != "golden")
    return {"wall_s": round(wall, 2), "c_seconds": round(c_s, 2), "py_seconds": round(py_s, 2),
            "c_cases_per_s": round(n_c / c_s, 2) if c_s else None,
            "py_cases_per_s": round(len(records) / py_s, 2) if py_s else None,
            "cases_per_s": round(len(records) / wall, 2) if wall else None}


def verdict_counts(records) -> dict:
    counts = Counter(r["verdict"] for r in records)
    return {v: counts.get(v, 0) for v in VERDICTS}


def exit_status(metrics: dict) -> int:
    """0 pass; 1 a failing case (with a baseline: a new failure); 3 only C faults; 130."""
    if metrics.get("interrupted"):
        return EXIT_INTERRUPTED
    base = metrics.get("baseline")
    if base is not None:
        failing = bool(base["new_failures"])
    else:
        failing = any(metrics["verdicts"].get(v) for v in FAILING)
    if failing:
        return EXIT_FAIL
    return EXIT_C_FAULT if metrics["verdicts"].get("c_fault") else EXIT_OK


def outcome(metrics: dict) -> str:
    return {EXIT_OK: "PASS", EXIT_FAIL: "FAIL", EXIT_C_FAULT: "PASS (C faults)",
            EXIT_INTERRUPTED: "INTERRUPTED"}.get(metrics["exit_status"], "ERROR")


# --------------------------------------------------------------------------- coverage
def coverage(records) -> dict:
    """Per family and per pair of families: case count and verdict counts."""
    fams: dict[str, Counter] = {f: Counter() for f in FAMILIES}
    pairs: dict[tuple[str, str], Counter] = {}
    for rec in records:
        present = [f for f in FAMILIES if f in rec["families"]]
        for f in present:
            fams[f][rec["verdict"]] += 1
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                pairs.setdefault((a, b), Counter())[rec["verdict"]] += 1
    return {"families": {f: dict(c) for f, c in fams.items()},
            "pairs": {f"{a}+{b}": dict(c) for (a, b), c in sorted(pairs.items())}}


def _coverage_lines(records) -> list[str]:
    cov = coverage(records)
    shown = [f for f in FAMILIES if f != "torchbragg"]
    lines = ["## Feature coverage", "",
             "Each flag family (cli flags → family: `torchbragg.parity.families`): cases "
             "naming it and their verdicts.", "",
             "| # | family | cases | passing | failing | C faults |", "|---|---|---|---|---|---|"]
    for k, f in enumerate(shown, 1):
        c = cov["families"][f]
        lines.append(f"| {k} | {f} | {sum(c.values())} | {sum(c.get(v, 0) for v in PASSING)} "
                     f"| {sum(c.get(v, 0) for v in FAILING)} | {c.get('c_fault', 0)} |")
    missing = [f for f in shown if not cov["families"][f]]
    covered_pairs = sum(1 for i, a in enumerate(shown) for b in shown[i + 1:]
                        if f"{a}+{b}" in cov["pairs"])
    n_pairs = len(shown) * (len(shown) - 1) // 2
    lines += ["", f"Families exercised: {len(shown) - len(missing)} of {len(shown)}"
              + (f" (none: {', '.join(missing)})" if missing else "") + f"; pairs of families "
              f"exercised together: {covered_pairs} of {n_pairs}.", "",
              "Pairs (row × column number: cases with both families; `!` marks a pair "
              "with a failing case):", "",
              "| # | " + " | ".join(str(k) for k in range(1, len(shown) + 1)) + " |",
              "|---" * (len(shown) + 1) + "|"]
    for i, a in enumerate(shown, 1):
        cells = []
        for j, b in enumerate(shown, 1):
            if i == j:
                cells.append("·")
                continue
            key = f"{a}+{b}" if i < j else f"{b}+{a}"
            c = cov["pairs"].get(key, {})
            n = sum(c.values())
            cells.append(f"{n}{'!' if any(c.get(v) for v in FAILING) else ''}" if n else "")
        lines.append(f"| {i} | " + " | ".join(cells) + " |")
    return lines + [""]


# --------------------------------------------------------------------------- summary
def summary_markdown(metrics: dict, previews: list[str] | None = None) -> str:
    m = metrics
    records = m["cases"]
    shard = f", shard {m['shard'][0]}/{m['shard'][1]}" if m.get("shard") else ""
    merged = f", merged from {len(m['merged_from'])} shards" if m.get("merged_from") else ""
    lines = [f"# {outcome(m)}", "",
             f"torchbragg-parity campaign `{m['spec']['name']}` — dtype **{m['dtype']}**, "
             f"device **{m['device']}**{shard}{merged}, created {m['created_utc']}", "",
             f"{m['cases_run']} of {m['cases_total']} cases run"
             + (" (interrupted)" if m.get("interrupted") else "") + "; float64 must be "
             "byte-identical in every role, float32 within relative L2 "
             f"{m['tolerance']['float32_rel_l2']:g} on the float image.", "",
             "| verdict | cases |", "|---|---|"]
    lines += [f"| {v} | {n} |" for v, n in m["verdicts"].items() if n]
    lines.append("")
    for note in m.get("notes", []):
        lines.append(f"- Note: {note}")
    if m.get("notes"):
        lines.append("")
    base = m.get("baseline")
    if base is not None:
        lines += ["## Against the baseline", "",
                  f"- new failures: {len(base['new_failures'])} "
                  + " ".join(f"`{i}`" for i in base["new_failures"][:50]),
                  f"- newly fixed: {len(base['newly_fixed'])} "
                  + " ".join(f"`{i}`" for i in base["newly_fixed"][:50]),
                  f"- known failures: {len(base['known_failures'])}; other verdict changes: "
                  f"{len(base['other_changes'])}; new cases: {len(base['new_cases'])}; "
                  f"missing cases: {len(base['missing_cases'])}", ""]
    bad = [r for r in records if r["verdict"] in FAILING or r["verdict"] == "c_fault"]
    if bad:
        lines += ["## Failing cases and C faults", "",
                  "| case | verdict | what differs | first divergent quantity | reproducer |",
                  "|---|---|---|---|---|"]
        for r in bad[:200]:
            tr = (r.get("trace") or {})
            fd = tr.get("first_divergence")
            first = (f"`{fd['name']}` ({fd['level']}, {fd['block']})" if fd
                     else tr.get("note", "—") if tr else "—")
            rep = r.get("reproducer")
            rep_text = f"`{rep['command']}`" if rep else "—"
            lines.append(f"| `{r['id']}` | {r['verdict']} | {r['reason']} | {first} | "
                         f"{rep_text} |")
        if len(bad) > 200:
            lines.append(f"| … | | {len(bad) - 200} more in metrics.json | | |")
        lines.append("")
    if previews:
        lines += ["## Worst float image", "", f"Case `{m.get('worst_case')}`: "
                  + ", ".join(f"[{p}]({p})" for p in previews) + " (C, Torch, difference: "
                  "red where Torch is above the C, blue below).", ""]
    lines += _coverage_lines(records)
    slow = sorted(records, key=lambda r: -(r["seconds"]["c"] + r["seconds"]["py"]))[:10]
    t = m["timing"]
    lines += ["## Time", "",
              f"Wall {t['wall_s']} s; C {t['c_seconds']} s of work "
              f"({t['c_cases_per_s']} cases/s per worker), Torch {t['py_seconds']} s "
              f"({t['py_cases_per_s']} cases/s); {t['cases_per_s']} cases/s overall.", "",
              "| slowest cases | C s | Torch s |", "|---|---|---|"]
    lines += [f"| `{r['id']}` | {r['seconds']['c']} | {r['seconds']['py']} |" for r in slow]
    lines += ["", "## Re-run", "",
              "`commands.txt` holds every command with its working folder; case folders "
              "reach the campaign's input files through an `inputs` link to this bundle's "
              "`inputs/`. `baseline.json` holds these verdicts (give it to `--baseline` next "
              "time); `sha256sum -c sha256.txt` verifies the bundle.", ""]
    return "\n".join(lines)


def write_bundle(out: Path, metrics: dict, commands: list[str], env: dict,
                 previews: list[str] | None = None) -> None:
    bundle_mod.write_json(out / "metrics.json", metrics)
    bundle_mod.write_json(out / "baseline.json",
                          baseline_json(metrics["cases"], metrics["spec"]["sha256"],
                                        metrics["dtype"]))
    bundle_mod.write_json(out / "env.json", env)
    bundle_mod.write_text(out / "commands.txt", "\n".join(commands) + "\n")
    if previews is None:
        previews = [p for p in ("c.png", "py.png", "diff.png") if (out / p).exists()]
    bundle_mod.write_text(out / "summary.md", summary_markdown(metrics, previews))
    bundle_mod.write_sha256(out)


def image_shape(argv, c_stdout: str, py_stdout: str, pixels: int):
    size = detector_size(list(argv), c_stdout, py_stdout)
    if size and size[0] * size[1] == pixels:
        return size[1], size[0]
    return None


def write_worst_previews(out: Path, case_id: str, score: float, ref: Path, test: Path,
                         shape) -> list[str]:
    from torchbragg.parity.previews import write_previews

    a = np.fromfile(ref, dtype="<f4").reshape(shape)
    b = np.fromfile(test, dtype="<f4").reshape(shape)
    names = write_previews(a, b, out, ("c.png", "py.png", "diff.png"))
    if names:
        bundle_mod.write_text(out / "worst_case.txt", f"{case_id}\nmax_rel {score:g}\n")
    return names
