"""``torchbragg-parity merge``: shard bundles of one campaign → one bundle.

The shards must come from the same spec text, dtype and device, and be shards 1..N of one N,
each once; the merged records are in the unsharded order, so verdicts and case ids are those
of the unsharded run. Divergent cases' sub-bundles are copied; the worst case's previews too.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from torchbragg.parity import bundle as bundle_mod
from torchbragg.parity.campaign import report
from torchbragg.parity.campaign.baseline import compare_baseline, load_baseline
from torchbragg.parity.campaign.compare import score as score_of
from torchbragg.parity.readfile import read_text
from torchbragg.parity.sides import ToolError


def _read(folder: Path) -> dict:
    try:
        m = json.loads(read_text(folder / "metrics.json"))
    except OSError as exc:
        raise ToolError(f"{folder}: no campaign metrics.json ({exc.strerror})") from None
    except ValueError as exc:
        raise ToolError(f"{folder}/metrics.json: not JSON ({exc})") from None
    if m.get("tool") != "torchbragg-parity campaign":
        raise ToolError(f"{folder}: not a campaign bundle")
    if m.get("schema_version") != report.METRICS_SCHEMA:
        raise ToolError(f"{folder}: metrics schema {m.get('schema_version')} "
                        f"(this tool merges {report.METRICS_SCHEMA})")
    return m


def merge_bundles(folders: list[str], out: str | None, out_root: str = "reports/campaign",
                  baseline: str | None = None) -> tuple[int, Path, dict]:
    if not folders:
        raise ToolError("merge: give the shard bundle folders")
    stage = bundle_mod.StagedBundle(out, out_root)     # an existing bundle: refused first
    paths = [Path(f) for f in folders]
    shards = [_read(p) for p in paths]
    first = shards[0]
    for p, m in zip(paths, shards):
        for key in ("dtype", "device"):
            if m[key] != first[key]:
                raise ToolError(f"{p}: {key} {m[key]} differs from {paths[0]}'s {first[key]}")
        if m["spec"]["sha256"] != first["spec"]["sha256"]:
            raise ToolError(f"{p}: made from another spec text than {paths[0]}")
    numbers = [tuple(m["shard"]) if m.get("shard") else (1, 1) for m in shards]
    n = numbers[0][1]
    if any(k[1] != n for k in numbers) or sorted(k[0] for k in numbers) != list(range(1, n + 1)):
        raise ToolError(f"merge: need shards 1..{n} of {n}, each once; got "
                        + ", ".join(f"{i}/{m}" for i, m in numbers))
    base = load_baseline(baseline) if baseline else None
    records = sorted((r for m in shards for r in m["cases"]), key=lambda r: r["index"])
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise ToolError("merge: a case appears in two shards")
    with stage:
        metrics = _merge(paths, shards, records, base, stage.path)
    return metrics["exit_status"], stage.final, metrics


def _merge(paths: list[Path], shards: list[dict], records: list[dict], base, dest: Path
           ) -> dict:
    """Copy the shards' sub-bundles and write the merged bundle's files into ``dest``."""
    first = shards[0]
    for p in paths:
        cases = p / "cases"
        if cases.is_dir():
            shutil.copytree(cases, dest / "cases", dirs_exist_ok=True)
    inputs = paths[0] / "inputs"
    if inputs.is_dir():
        shutil.copytree(inputs, dest / "inputs")
    metrics = {**first, "created_utc": bundle_mod.timestamp(), "shard": None,
               "merged_from": [str(p) for p in paths], "cases": records,
               "cases_run": len(records), "verdicts": report.verdict_counts(records),
               "interrupted": any(m.get("interrupted") for m in shards),
               "notes": sorted({note for m in shards for note in m.get("notes", [])}),
               "timing": report.timing(records, max(m["timing"]["wall_s"] for m in shards)),
               "baseline": None}
    if base is not None:
        metrics["baseline"] = compare_baseline(base, records, sharded=False)
    previews = _worst_previews(paths, shards, dest)
    metrics["worst_case"] = previews[0] if previews else None
    metrics["exit_status"] = report.exit_status(metrics)
    commands = []
    for p in paths:
        text = read_text(p / "commands.txt") if (p / "commands.txt").exists() else ""
        commands.append(f"# shard bundle {p}\n{text.rstrip()}")
    env = {"shards": [json.loads(read_text(p / "env.json")) if (p / "env.json").exists()
                      else None for p in paths]}
    report.write_bundle(dest, metrics, commands, env, previews[1] if previews else [])
    return metrics


def _worst_previews(paths, shards, dest: Path):
    """(worst case id, preview names) copied from the shard whose worst case is worst."""
    best = None
    for p, m in zip(paths, shards):
        case_id = m.get("worst_case")
        rec = next((r for r in m["cases"] if r["id"] == case_id), None)
        score = score_of((rec or {}).get("float") or {"max_rel": -1.0})
        if case_id and (best is None or score > best[0]):
            best = (score, case_id, p)
    if best is None:
        return None
    names = [n for n in ("c.png", "py.png", "diff.png") if (best[2] / n).exists()]
    for name in names + ["worst_case.txt"]:
        if (best[2] / name).exists():
            bundle_mod.copy_file(best[2] / name, dest / name)
    return best[1], names
