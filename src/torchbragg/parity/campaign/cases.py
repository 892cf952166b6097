"""One case of a campaign: what to run, where its inputs come from, what it must give."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=+-]+")


def safe_name(text: str, limit: int = 80) -> str:
    """``text`` as one file-name component (letters, digits, ``_.=+-``; at most ``limit``)."""
    name = _UNSAFE.sub("_", text).strip("._") or "case"
    return name[:limit]


@dataclass(frozen=True)
class Case:
    """A command line (or a few run in one folder) and how its result is judged.

    ``runs``: the argv lists run in order in one working folder (nanoBragg arguments, no
    program name; the last run's outputs are compared) in the folder ``cwd`` of a side's
    scratch root. ``links``: (path under that root, absolute target) — the input files the
    argv reaches by relative paths.
    ``expect_exit``: a guard's required exit status on both sides. ``golden``: a folder whose
    stored outputs are the reference (the C is not run). ``dims``: for grid and pairwise
    cases, the value chosen per dimension (reported in the coverage matrix).
    """

    id: str
    suite: str
    kind: str
    runs: tuple[tuple[str, ...], ...]
    cwd: str = "run"
    links: tuple[tuple[str, str], ...] = ()
    expect_exit: int | None = None
    golden: str | None = None
    dims: tuple[tuple[str, str], ...] = ()
    timeout: float = 300.0
    description: str = ""
    seed: int | None = None
    volatile: tuple[str, ...] = field(default=())

    @property
    def argv(self) -> tuple[str, ...]:
        """The (last) command line, the one whose outputs are compared."""
        return self.runs[-1]

    def to_json(self) -> dict:
        rec = {"id": self.id, "suite": self.suite, "kind": self.kind,
               "argv": list(self.argv)}
        if len(self.runs) > 1:
            rec["runs"] = [list(r) for r in self.runs]
        if self.expect_exit is not None:
            rec["expect_exit"] = self.expect_exit
        if self.golden:
            rec["golden"] = self.golden
        if self.dims:
            rec["dims"] = dict(self.dims)
        if self.seed is not None:
            rec["seed"] = self.seed
        return rec


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1 ≤ I ≤ N) as (I, N); ValueError with a message otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise ValueError(f"--shard: expected I/N (e.g. 2/4), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard: need 1 <= I <= N, got {text!r}")
    return i, n


def shard_of(cases: Sequence[Case], shard: tuple[int, int] | None) -> list[Case]:
    """The cases of shard ``(i, n)``: every n-th case of the expanded order, from the i-th.

    The expansion order is a pure function of the spec, so the n shards partition the cases
    and their union, in any order, is the unsharded campaign.
    """
    if shard is None:
        return list(cases)
    i, n = shard
    return [c for k, c in enumerate(cases) if k % n == i - 1]
