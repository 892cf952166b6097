"""The ``campaign`` and ``merge`` subcommands of ``torchbragg-parity`` (docs/campaign.md)."""
from __future__ import annotations

import argparse
import shlex
import sys

from torchbragg.parity.campaign.cases import parse_shard
from torchbragg.parity.sides import ToolError


def _shard(text: str):
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0: one per CPU)")
    return value


def add_parsers(sub) -> None:
    p = sub.add_parser("campaign", help="run a YAML campaign spec on both sides")
    p.add_argument("spec", help="campaign spec (YAML, docs/campaign.md)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--out", help="bundle folder (must not exist or be empty)")
    g.add_argument("--out-root", default="reports/campaign",
                   help="parent of the timestamped bundle (default reports/campaign)")
    p.add_argument("--jobs", type=_jobs, default=0, help="C processes at once (0: one per CPU)")
    p.add_argument("--shard", type=_shard, help="run shard I of N (I/N)")
    p.add_argument("--c-bin", help="C program command (default $NB_C_BIN or torchbragg-cref)")
    p.add_argument("--device", default="cpu", help="Torch device: cpu, cuda (default cpu)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--baseline", help="expected verdicts (a bundle's baseline.json): the exit "
                   "status follows the flips")
    p.add_argument("--py-cmd", help="run the Torch side as this command instead of in-process")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink divergent cases")
    p.add_argument("--max-shrink-tries", type=_jobs, default=120,
                   help="runs allowed to one shrink (default 120)")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch folders")
    p.add_argument("--quiet", action="store_true", help="no line per case on stderr")

    p = sub.add_parser("merge", help="merge shard bundles of one campaign")
    p.add_argument("bundles", nargs="+", help="shard bundle folders")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--out", help="merged bundle folder (must not exist or be empty)")
    g.add_argument("--out-root", default="reports/campaign")
    p.add_argument("--baseline", help="expected verdicts to compare the merged run with")


def _no_extra(name: str, extra) -> None:
    if extra:
        raise ToolError(f"{name} takes no arguments after '--'")


def cmd_campaign(ns, extra) -> int:
    from torchbragg.parity.campaign.engine import CampaignOptions, run_campaign

    _no_extra("campaign", extra)
    opts = CampaignOptions(
        spec=ns.spec, out=ns.out, out_root=ns.out_root, jobs=ns.jobs, shard=ns.shard,
        c_bin=ns.c_bin, device=ns.device, dtype=ns.dtype, baseline=ns.baseline,
        py_cmd=shlex.split(ns.py_cmd) if ns.py_cmd else None, shrink=not ns.no_shrink,
        max_shrink_tries=ns.max_shrink_tries, keep_work=ns.keep_work, quiet=ns.quiet)
    status, out, metrics = run_campaign(opts)
    _tell(out, metrics)
    return status


def cmd_merge(ns, extra) -> int:
    from torchbragg.parity.campaign.merge import merge_bundles

    _no_extra("merge", extra)
    status, out, metrics = merge_bundles(ns.bundles, ns.out, ns.out_root, ns.baseline)
    _tell(out, metrics)
    return status


def _tell(out, metrics) -> None:
    from torchbragg.parity.campaign.report import outcome

    counts = ", ".join(f"{n} {v}" for v, n in metrics["verdicts"].items() if n)
    print(f"{outcome(metrics)}: {metrics['cases_run']} cases ({counts or 'none'})")
    print(f"bundle: {out}")
    sys.stdout.flush()
