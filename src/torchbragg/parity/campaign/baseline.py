"""Expected verdicts: the ``baseline.json`` of every bundle, and the flips against it.

A baseline file holds ``{"schema_version": 1, "verdicts": {case id: verdict}}`` (a campaign's
``metrics.json`` is read as well). A *new failure* is a case that fails now and did not fail
in the baseline (a new case included); a *newly fixed* case failed there and passes now.
"""
from __future__ import annotations

import json

from torchbragg.parity.campaign.compare import FAILING, PASSING
from torchbragg.parity.readfile import read_text
from torchbragg.parity.sides import ToolError

BASELINE_SCHEMA = 1


def load_baseline(path: str) -> dict[str, str]:
    """Case id → verdict from a baseline or metrics file (ToolError when unreadable)."""
    try:
        data = json.loads(read_text(path))
    except OSError as exc:
        raise ToolError(f"--baseline {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ToolError(f"--baseline {path}: not JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("cases"), list):  # a metrics.json
        verdicts = {c.get("id"): c.get("verdict") for c in data["cases"]}
    elif isinstance(data, dict) and isinstance(data.get("verdicts"), dict):
        verdicts = data["verdicts"]
    else:
        raise ToolError(f"--baseline {path}: no 'verdicts' mapping or 'cases' list")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in verdicts.items()):
        raise ToolError(f"--baseline {path}: verdicts must map case ids to verdict names")
    return dict(verdicts)


def baseline_json(records: list[dict], spec_sha256: str, dtype: str) -> dict:
    return {"schema_version": BASELINE_SCHEMA, "spec_sha256": spec_sha256, "dtype": dtype,
            "verdicts": {r["id"]: r["verdict"] for r in records}}


def compare_baseline(baseline: dict[str, str], records: list[dict], sharded: bool) -> dict:
    """Flips of ``records`` against ``baseline`` (cases missing now count only unsharded)."""
    now = {r["id"]: r["verdict"] for r in records}
    new_failures = sorted(i for i, v in now.items()
                          if v in FAILING and baseline.get(i) not in FAILING)
    fixed = sorted(i for i, v in now.items() if v in PASSING and baseline.get(i) in FAILING)
    changed = sorted(i for i, v in now.items() if i in baseline and baseline[i] != v
                     and i not in new_failures and i not in fixed)
    return {"new_failures": new_failures, "newly_fixed": fixed, "other_changes": changed,
            "new_cases": sorted(i for i in now if i not in baseline),
            "missing_cases": [] if sharded else sorted(i for i in baseline if i not in now),
            "known_failures": sorted(i for i, v in now.items()
                                     if v in FAILING and baseline.get(i) in FAILING)}
