"""The campaign benchmark: a seeded random campaign of small images, both sides, timed.

Target (issue: parity campaigns): 200 cases in ≤ 5 minutes of wall time on 2 cores, the C
reference included. Reported: wall time, cases/s overall and per side, verdict counts.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

TARGET_S_PER_200 = 300.0


def run_campaign_bench(count: int, seed: int = 0, jobs: int = 0) -> dict:
    """Run ``count`` random cases (seeds ``seed``…) against the bundled C reference."""
    from torchbragg.parity.campaign.engine import CampaignOptions, run_campaign

    with tempfile.TemporaryDirectory(prefix="torchbragg-bench-campaign-") as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(f"version: 1\nname: bench\nsuites:\n  - name: random\n    kind: random\n"
                        f"    count: {count}\n    seed: {seed}\n")
        status, _, m = run_campaign(CampaignOptions(spec=str(spec), out=str(Path(tmp) / "out"),
                                                    jobs=jobs, quiet=True))
    t = m["timing"]
    return {"cases": count, "seed": seed, "exit_status": status, "verdicts": m["verdicts"],
            "wall_s": t["wall_s"], "cases_per_s": t["cases_per_s"],
            "c_cases_per_s": t["c_cases_per_s"], "py_cases_per_s": t["py_cases_per_s"],
            "c_seconds": t["c_seconds"], "py_seconds": t["py_seconds"],
            "target_wall_s": TARGET_S_PER_200 * count / 200,
            "within_target": t["wall_s"] <= TARGET_S_PER_200 * count / 200}


def markdown(row: dict) -> list[str]:
    counts = ", ".join(f"{n} {v}" for v, n in row["verdicts"].items() if n)
    return ["", f"## Campaign: {row['cases']} random cases (seeds {row['seed']}…), both sides", "",
            f"Wall {row['wall_s']:.1f} s (target ≤ {row['target_wall_s']:.0f} s: "
            f"{'met' if row['within_target'] else 'NOT met'}); {row['cases_per_s']} cases/s "
            f"overall; C {row['c_cases_per_s']} cases/s per worker ({row['c_seconds']:.1f} s "
            f"for two runs a case), Torch in-process {row['py_cases_per_s']} cases/s "
            f"({row['py_seconds']:.1f} s). Verdicts: {counts}."]
