"""``torchbragg-parity campaign``: run every case of a spec on both sides and write the bundle.

The C side runs in a pool of ``jobs`` worker threads (each a subprocess, twice per case); the
Torch side renders in this process, case after case, while the pool works ahead. A divergent
case is traced and shrunk at once; then its working folders are removed.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from torchbragg.parity import bundle as bundle_mod
from torchbragg.parity.campaign import report
from torchbragg.parity.campaign.baseline import compare_baseline, load_baseline
from torchbragg.parity.campaign.cases import Case, safe_name, shard_of
from torchbragg.parity.campaign import compare
from torchbragg.parity.campaign.compare import FLOAT32_REL_L2, Judgement, judge
from torchbragg.parity.campaign.diagnose import Sides, shrink_case, trace_pixel
from torchbragg.parity.campaign.execute import (
    SideResult, confine_outputs, golden_side, run_c, run_torch,
)
from torchbragg.parity.campaign.expand import expand
from torchbragg.parity.campaign.generator import campaign_argv, write_campaign_inputs
from torchbragg.parity.campaign.spec import SpecError, load_spec
from torchbragg.parity.sides import ToolError, allow_children, c_command, end_children, shell_command


@dataclass
class CampaignOptions:
    spec: str
    out: str | None = None
    out_root: str = "reports/campaign"
    jobs: int = 0                       # 0: the number of CPUs
    shard: tuple[int, int] | None = None
    c_bin: str | None = None
    device: str = "cpu"
    dtype: str = "float64"
    baseline: str | None = None
    py_cmd: list[str] | None = None     # None: render in this process
    shrink: bool = True
    max_shrink_tries: int = 120
    keep_work: bool = False
    quiet: bool = False


def run_campaign(opts: CampaignOptions) -> tuple[int, Path, dict]:
    """Run the campaign; (exit status, bundle folder, metrics). ToolError for usage problems."""
    try:
        spec = load_spec(opts.spec)
    except SpecError as exc:
        raise ToolError(str(exc)) from None
    baseline = load_baseline(opts.baseline) if opts.baseline else None
    needs_c = any(s.kind != "golden" for s in spec.suites)
    c_cmd = tuple(c_command(opts.c_bin)) if needs_c else ()
    stage = bundle_mod.StagedBundle(opts.out, opts.out_root)
    with stage:
        metrics = _campaign(opts, spec, baseline, c_cmd, stage.path)
    return metrics["exit_status"], stage.final, metrics


def _campaign(opts: CampaignOptions, spec, baseline, c_cmd: tuple, out: Path) -> dict:
    """Run the cases and write the bundle's files into ``out`` (the staged folder)."""
    inputs_dir = out / "inputs"
    names = write_campaign_inputs(inputs_dir, spec.inputs)
    try:
        all_cases, notes = expand(spec, str(inputs_dir), campaign_argv, names)
    except SpecError as exc:
        raise ToolError(str(exc)) from None
    for case in all_cases:
        confine_outputs(case)
    index = {c.id: k for k, c in enumerate(all_cases)}
    cases = shard_of(all_cases, opts.shard)
    tolerance = spec.float32_tolerance or FLOAT32_REL_L2
    sides = Sides(c_cmd, opts.device, opts.dtype, tuple(opts.py_cmd) if opts.py_cmd else None,
                  tolerance)
    work = Path(tempfile.mkdtemp(prefix="torchbragg-campaign-"))
    run = _Run(opts, sides, out, work, index)
    t0 = time.monotonic()
    interrupted = False
    try:
        run.all(cases)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.finish_previews()
        if not opts.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.monotonic() - t0
    metrics = report.campaign_metrics(
        spec=spec, opts=opts, sides=sides, records=run.records, total=len(all_cases),
        notes=notes, wall=wall, interrupted=interrupted, baseline=None)
    if baseline is not None:
        metrics["baseline"] = compare_baseline(baseline, metrics["cases"],
                                               sharded=opts.shard is not None)
    metrics["worst_case"] = run.worst[1] if run.worst else None
    metrics["exit_status"] = report.exit_status(metrics)
    report.write_bundle(out, metrics, run.commands,
                        bundle_mod.environment(opts.device, opts.dtype, list(c_cmd),
                                               list(opts.py_cmd or ["torchbragg (in-process)"])),
                        run.previews)
    return metrics


class _Run:
    """The state of one campaign run: the pool, the records, the worst float case."""

    def __init__(self, opts: CampaignOptions, sides: Sides, out: Path, work: Path,
                 index: dict[str, int]):
        self.opts, self.sides, self.out, self.work, self.index = opts, sides, out, work, index
        self.records: list[dict] = []
        self.commands: list[str] = []
        self.worst: tuple | None = None  # (max_rel, case id, ref, test, shape)
        self.previews: list[str] = []

    def all(self, cases: list[Case]) -> None:
        jobs = self.opts.jobs or os.cpu_count() or 1
        try:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {c.id: self._submit(pool, c) for c in cases}
                try:
                    for k, case in enumerate(cases, 1):
                        c1, c2 = (f.result() if f else None for f in futures[case.id])
                        try:
                            self._one(case, c1, c2, k, len(cases))
                        except Exception as exc:  # a harness bug on one case: say so, go on
                            self._harness_error(case, exc, k, len(cases))
                except BaseException:
                    for pair in futures.values():
                        for f in pair:
                            if f is not None:
                                f.cancel()
                    end_children()          # the pool's running C processes, at once
                    raise
        finally:
            allow_children()

    def _submit(self, pool, case: Case) -> tuple[Future | None, Future | None]:
        if case.kind == "golden":
            return None, None
        root = self.work / safe_name(case.id.replace("/", "."))
        return (pool.submit(run_c, case, root / "c1", self.sides.c_cmd, "C"),
                pool.submit(run_c, case, root / "c2", self.sides.c_cmd, "C (second run)"))

    def _one(self, case: Case, c1: SideResult | None, c2: SideResult | None, k: int,
             n: int) -> None:
        root = self.work / safe_name(case.id.replace("/", "."))
        if case.kind == "golden":
            c1 = golden_side(case)
        py = run_torch(case, root / "py", self.sides.device, self.sides.dtype,
                       self.sides.py_cmd)
        j = judge(case, c1, c2, py, self.sides.dtype, self.sides.tolerance)
        rec = self._record(case, j, c1, py)
        self.commands += [f"# {case.id} ({c1.label})", *(_shell(cmd, c1.cwd) for cmd in c1.commands),
                          f"# {case.id} (Torch)", *(_shell(cmd, py.cwd) for cmd in py.commands)]
        if j.verdict in ("divergent", "guard_failed"):
            self._divergent(case, j, c1, py, rec, root)
        self._track_worst(case, j, c1, py)
        self.records.append(rec)
        if not self.opts.quiet:
            extra = f"  {j.reason}" if j.reason and j.verdict != "identical" else ""
            print(f"[{k}/{n}] {j.verdict:<16} {case.id}  ({py.seconds:.1f} s){extra}",
                  file=sys.stderr, flush=True)
        if not self.opts.keep_work:
            shutil.rmtree(root, ignore_errors=True)

    def _harness_error(self, case: Case, exc: Exception, k: int, n: int) -> None:
        reason = f"harness error: {type(exc).__name__}: {exc}"
        rec = case.to_json()
        rec.update({"index": self.index[case.id], "verdict": "error", "reason": reason,
                    "roles": {}, "c_exit": None, "py_exit": None,
                    "seconds": {"c": 0.0, "py": 0.0}})
        self.records.append(rec)
        if not self.opts.quiet:
            print(f"[{k}/{n}] {'error':<16} {case.id}  {reason}", file=sys.stderr, flush=True)

    def _record(self, case: Case, j: Judgement, c: SideResult, py: SideResult) -> dict:
        rec = case.to_json()
        rec.update({"index": self.index[case.id], "verdict": j.verdict, "reason": j.reason,
                    "roles": {f"{r.role}:{r.name}": r.status for r in j.roles},
                    "c_exit": c.exit, "py_exit": py.exit,
                    "seconds": {"c": round(c.seconds, 3), "py": round(py.seconds, 3)}})
        if j.float_detail:
            rec["float"] = j.float_detail
        return rec

    def _divergent(self, case: Case, j: Judgement, c: SideResult, py: SideResult, rec: dict,
                   root: Path) -> None:
        sub = self.out / "cases" / safe_name(case.id.replace("/", "."))
        sub.mkdir(parents=True, exist_ok=True)
        rec["bundle"] = str(sub.relative_to(self.out))
        for tag, side in (("c", c), ("py", py)):
            bundle_mod.write_text(sub / f"{tag}.stdout.txt", side.stdout)
            if side.stderr:
                bundle_mod.write_text(sub / f"{tag}.stderr.txt", side.stderr)
        for r in j.roles:
            if r.status != "identical" and r.role not in ("exit", "files", "stdout"):
                for tag, side in (("c", c), ("py", py)):
                    if r.name in side.files:
                        bundle_mod.copy_file(side.files[r.name],
                                             sub / f"{tag}.{safe_name(r.name)}")
        detail = j.float_detail or {}
        if case.kind != "golden" and detail.get("worst_pixel"):
            tr = trace_pixel(case, detail["worst_pixel"], self.sides, root / "diagnose")
            bundle_mod.write_text(sub / "trace_c.log", tr.pop("c_log") + "\n")
            bundle_mod.write_text(sub / "trace_py.log", tr.pop("py_log") + "\n")
            rec["trace"] = tr
        sig = compare.signature(j.roles, self.sides.dtype)
        if self.opts.shrink and case.kind not in ("golden", "guards") and sig is not None:
            rec["reproducer"] = shrink_case(case, sig, self.sides, root / "shrink",
                                            self.opts.max_shrink_tries)
            bundle_mod.write_text(
                sub / "reproducer.sh",
                "#!/bin/sh\n# minimal command line with the same divergence "
                f"({sig[0]} {sig[1]}); run in a folder holding the campaign's inputs/\n"
                + rec["reproducer"]["command"] + "\n")
        bundle_mod.write_json(sub / "case.json", rec)

    def _track_worst(self, case: Case, j: Judgement, c: SideResult, py: SideResult) -> None:
        detail = j.float_detail
        if not detail:
            return
        score = compare.score(detail)
        if self.worst is not None and score <= self.worst[0]:
            return
        name = next(r.name for r in j.roles if r.role == "float" and r.detail)
        keep = self.work / "worst"
        keep.mkdir(exist_ok=True)
        ref, test = keep / "ref.bin", keep / "test.bin"
        shutil.copyfile(c.files[name], ref)
        shutil.copyfile(py.files[name], test)
        shape = report.image_shape(case.argv, c.stdout, py.stdout, detail["pixels"])
        self.worst = (score, case.id, ref, test, shape)

    def finish_previews(self) -> None:
        if self.worst is None:
            return
        score, case_id, ref, test, shape = self.worst
        if shape is None or not ref.exists():
            return
        self.previews = report.write_worst_previews(self.out, case_id, score, ref, test, shape)


def _shell(cmd: list[str], cwd: Path) -> str:
    return shell_command(cmd, cwd)
