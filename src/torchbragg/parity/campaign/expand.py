"""Suites → cases, in an order that is a pure function of the spec (what sharding relies on).

Generated command lines reach the campaign's input files as ``inputs/NAME`` (``{inputs}`` in a
spec is the same folder): every working folder has an ``inputs`` link to it.
"""
from __future__ import annotations

import fnmatch
import itertools
import json
import os
import random
from pathlib import Path
from typing import Callable, Sequence

from torchbragg.parity.campaign.cases import Case, safe_name
from torchbragg.parity.campaign.spec import Spec, SpecError, Suite

INPUTS = "inputs"
RUN_DIR = "run"

#: (rng, input names) -> argv; the campaign's random generator (see :mod:`.generator`)
RandomArgv = Callable[[random.Random, dict], list]


def _subst(tokens: Sequence[str]) -> tuple[str, ...]:
    return tuple(t.replace("{inputs}", INPUTS) for t in tokens)


def _label(tokens: Sequence[str]) -> str:
    return " ".join(tokens) if tokens else "(none)"


def expand(spec: Spec, inputs_dir: str, random_argv: RandomArgv,
           input_names: dict | None = None) -> tuple[list[Case], list[str]]:
    """Every case of ``spec`` in order, and notes (suites skipped, with the reason)."""
    cases: list[Case] = []
    notes: list[str] = []
    link = ((f"{RUN_DIR}/{INPUTS}", str(Path(inputs_dir).resolve())),)
    for suite in spec.suites:
        if suite.kind == "golden":
            found, note = _golden(suite)
            cases += found
            if note:
                notes.append(note)
            continue
        for name, runs, extra in _generated(suite, random_argv, input_names or {}):
            cases.append(Case(
                id=f"{suite.name}/{name}", suite=suite.name, kind=suite.kind,
                runs=tuple(_subst(r) + _subst(suite.args) for r in runs), links=link,
                timeout=suite.timeout, **extra))
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):  # names are checked per suite; this is a bug guard
        raise SpecError(f"{spec.path}: case ids are not unique")
    return cases, notes


def _generated(suite: Suite, random_argv: RandomArgv, input_names: dict):
    """(name, runs, extra Case fields) for every case of a non-golden suite."""
    if suite.kind in ("cases", "guards"):
        for c in suite.cases:
            yield c.name, c.runs, {"expect_exit": c.expect_exit, "description": c.description}
    elif suite.kind == "grid":
        names = [d for d, _ in suite.dimensions]
        for k, combo in enumerate(itertools.product(*(v for _, v in suite.dimensions))):
            argv = suite.base + tuple(tok for tokens in combo for tok in tokens)
            dims = tuple((n, _label(t)) for n, t in zip(names, combo))
            yield f"g{k:04d}", (argv,), {"dims": dims}
    elif suite.kind == "pairwise":
        from torchbragg.parity.campaign.pairwise import covering_array

        values = {name: list(range(len(v))) for name, v in suite.dimensions}
        table = dict(suite.dimensions)
        for k, row in enumerate(covering_array(values, seed=suite.seed)):
            chosen = [(name, table[name][row[name]]) for name, _ in suite.dimensions]
            argv = suite.base + tuple(tok for _, tokens in chosen for tok in tokens)
            dims = tuple((n, _label(t)) for n, t in chosen)
            yield f"p{k:04d}", (argv,), {"dims": dims}
    elif suite.kind == "random":
        for k in range(suite.count):
            seed = suite.seed + k
            argv = tuple(random_argv(random.Random(seed), input_names))
            yield f"s{seed}", (argv,), {"seed": seed}


def _golden(suite: Suite) -> tuple[list[Case], str | None]:
    root = Path(suite.path or "")
    if not suite.path or not root.is_dir():
        msg = f"suite {suite.name!r}: golden folder {suite.path or '(empty path)'} is absent"
        if suite.required:
            raise SpecError(msg)
        return [], msg + "; suite skipped"
    folders = sorted(p.parent for p in root.glob("*/case.json"))
    if suite.select:
        folders = [f for f in folders if any(fnmatch.fnmatch(f.name, pat) for pat in suite.select)]
    if not folders:
        msg = f"suite {suite.name!r}: no case.json under {root}"
        if suite.required:
            raise SpecError(msg)
        return [], msg + "; suite skipped"
    set_name = safe_name(root.name)
    out = []
    for folder in folders:
        try:
            meta = json.loads((folder / "case.json").read_text())
            runs = meta.get("runs") or [meta["argv"]]
        except (OSError, ValueError, KeyError) as exc:
            raise SpecError(f"{folder / 'case.json'}: unreadable golden case ({exc})") from None
        links = []
        for rel in meta.get("inputs", []):
            where = os.path.normpath(f"{set_name}/{rel}")
            if where.startswith(".."):
                raise SpecError(f"{folder / 'case.json'}: input {rel!r} leaves the set's parent")
            links.append((where, str((root / rel).resolve())))
        out.append(Case(
            id=f"{suite.name}/{safe_name(folder.name)}", suite=suite.name, kind="golden",
            runs=tuple(tuple(str(t) for t in r) + _subst(suite.args) for r in runs),
            cwd=f"{set_name}/{safe_name(folder.name)}", links=tuple(links),
            golden=str(folder), timeout=suite.timeout,
            description=meta.get("description", ""),
            volatile=tuple(meta.get("stdout_volatile_lines") or ())))
    return out, None
