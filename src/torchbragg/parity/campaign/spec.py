"""Campaign specs: YAML (schema version 1, docs/campaign.md) read into suites, with file:line errors.

A spec is read node by node (``yaml.compose``) so every error names the line of the offending
value; command-line tokens are taken from the YAML text as written (``0.10`` stays ``0.10``).
:func:`load_spec` gives a :class:`Spec`; :mod:`.expand` turns its suites into cases.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from torchbragg.parity.readfile import read_text

SCHEMA_VERSION = 1
KINDS = ("cases", "golden", "grid", "pairwise", "random", "guards")
DEFAULT_TIMEOUT = 300.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_TOP_KEYS = {"version", "name", "description", "timeout", "args", "inputs", "tolerance",
             "suites"}
_SUITE_KEYS = {
    "cases": {"cases"},
    "golden": {"path", "required", "select"},
    "grid": {"base", "groups"},
    "pairwise": {"base", "dimensions", "seed"},
    "random": {"count", "seed"},
    "guards": {"cases"},
}
_COMMON_SUITE_KEYS = {"name", "kind", "description", "args", "timeout"}


class SpecError(ValueError):
    """A bad spec; the message starts with ``FILE:LINE:``."""


@dataclass(frozen=True)
class ExplicitCase:
    name: str
    runs: tuple[tuple[str, ...], ...]
    expect_exit: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Suite:
    """One suite of a spec (the fields a kind does not use keep their defaults)."""

    name: str
    kind: str
    line: int
    description: str = ""
    args: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    cases: tuple[ExplicitCase, ...] = ()
    path: str | None = None            # golden: the set folder (resolved)
    required: bool = False
    select: tuple[str, ...] = ()
    base: tuple[str, ...] = ()
    dimensions: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()
    seed: int = 0
    count: int = 0


@dataclass(frozen=True)
class Spec:
    path: str
    name: str
    description: str
    suites: tuple[Suite, ...]
    inputs: str | None = None           # a folder of the user's own input files
    float32_tolerance: float | None = None
    text_sha256: str = ""
    notes: tuple[str, ...] = field(default=())


class _Reader:
    """Typed access to YAML nodes with ``file:line`` errors."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.loader = yaml.SafeLoader(text)

    def fail(self, node, message: str):
        line = node.start_mark.line + 1 if node is not None else 1
        raise SpecError(f"{self.path}:{line}: {message}")

    def root(self):
        try:
            node = self.loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(f"{self.path}:{line}: not valid YAML: {problem}") from None
        if node is None:
            raise SpecError(f"{self.path}:1: the spec is empty")
        return node

    def mapping(self, node, what: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping")
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.fail(key_node, f"{what}: keys must be strings")
            if key in out:
                self.fail(key_node, f"{what}: duplicate key {key!r}")
            if allowed is not None and key not in allowed:
                self.fail(key_node, f"{what}: unknown key {key!r} (allowed: "
                          f"{', '.join(sorted(allowed))})")
            out[key] = value_node
        return out

    def seq(self, node, what: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"{what} must be a list")
        return list(node.value)

    def scalar(self, node, what: str):
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{what} must be a single value")
        return self.loader.construct_object(node)

    def string(self, node, what: str) -> str:
        value = self.scalar(node, what)
        if not isinstance(value, str) or not value:
            self.fail(node, f"{what} must be a non-empty string")
        return value

    def integer(self, node, what: str, lo: int | None = None) -> int:
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(node, f"{what} must be an integer")
        if lo is not None and value < lo:
            self.fail(node, f"{what} must be >= {lo}")
        return value

    def number(self, node, what: str, positive: bool = True) -> float:
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                self.fail(node, f"{what} must be a number")
        if positive and not value > 0:
            self.fail(node, f"{what} must be > 0")
        return float(value)

    def boolean(self, node, what: str) -> bool:
        value = self.scalar(node, what)
        if not isinstance(value, bool):
            self.fail(node, f"{what} must be true or false")
        return value

    def argv(self, node, what: str, allow_empty: bool = True) -> tuple[str, ...]:
        """A command line: a list of tokens (taken as written) or one shell-quoted string."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag == "tag:yaml.org,2002:null" or node.value in ("", "~", "null"):
                tokens: list[str] = []
            else:
                try:
                    tokens = shlex.split(node.value)
                except ValueError as exc:
                    self.fail(node, f"{what}: {exc}")
        elif isinstance(node, yaml.SequenceNode):
            tokens = []
            for item in node.value:
                if not isinstance(item, yaml.ScalarNode):
                    self.fail(item, f"{what}: each token must be a single value")
                tokens.append(item.value)
        else:
            self.fail(node, f"{what} must be a list of tokens or a string")
        if not tokens and not allow_empty:
            self.fail(node, f"{what} is empty")
        return tuple(tokens)


def _expand_env(text: str) -> str:
    return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), text)


def _name(r: _Reader, node, what: str, seen: set[str]) -> str:
    name = r.string(node, what)
    if not _NAME.match(name):
        r.fail(node, f"{what} {name!r}: use letters, digits, '_', '.', '-' (no spaces)")
    if name in seen:
        r.fail(node, f"{what} {name!r} is used twice")
    seen.add(name)
    return name


def _explicit_cases(r: _Reader, node, suite: str, guard: bool) -> tuple[ExplicitCase, ...]:
    items = r.seq(node, f"suite {suite!r}: cases")
    if not items:
        r.fail(node, f"suite {suite!r}: cases is empty")
    out, seen = [], set()
    allowed = {"name", "argv", "runs", "description"} | ({"exit"} if guard else set())
    for item in items:
        m = r.mapping(item, f"suite {suite!r}: a case", allowed)
        if "name" not in m:
            r.fail(item, f"suite {suite!r}: a case needs a name")
        name = _name(r, m["name"], "case name", seen)
        if ("argv" in m) == ("runs" in m):
            r.fail(item, f"case {name!r}: give argv or runs (not both)")
        if "argv" in m:
            runs = (r.argv(m["argv"], f"case {name!r}: argv"),)
        else:
            seqs = r.seq(m["runs"], f"case {name!r}: runs")
            if not seqs:
                r.fail(m["runs"], f"case {name!r}: runs is empty")
            runs = tuple(r.argv(s, f"case {name!r}: a run") for s in seqs)
        expect = None
        if guard:
            if "exit" not in m:
                r.fail(item, f"guard {name!r} needs exit: the status both sides must give")
            expect = r.integer(m["exit"], f"guard {name!r}: exit", lo=1)
        desc = r.string(m["description"], "description") if "description" in m else ""
        out.append(ExplicitCase(name, runs, expect, desc))
    return tuple(out)


def _dimensions(r: _Reader, node, what: str):
    m = r.mapping(node, what)
    if not m:
        r.fail(node, f"{what} is empty")
    dims = []
    for key, values_node in m.items():
        values = r.seq(values_node, f"{what}: {key}")
        if not values:
            r.fail(values_node, f"{what}: {key} has no values")
        argvs = tuple(r.argv(v, f"{what}: {key}") for v in values)
        if len(set(argvs)) != len(argvs):
            r.fail(values_node, f"{what}: {key} lists a value twice")
        dims.append((key, argvs))
    return tuple(dims)


def _suite(r: _Reader, node, spec_dir: Path, seen: set[str], defaults: dict) -> Suite:
    m = r.mapping(node, "a suite")
    for key in ("name", "kind"):
        if key not in m:
            r.fail(node, f"a suite needs {key}")
    name = _name(r, m["name"], "suite name", seen)
    kind = r.string(m["kind"], f"suite {name!r}: kind")
    if kind not in KINDS:
        r.fail(m["kind"], f"suite {name!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    allowed = _COMMON_SUITE_KEYS | _SUITE_KEYS[kind]
    for key, value in m.items():
        if key not in allowed:
            r.fail(value, f"suite {name!r} ({kind}): unknown key {key!r} "
                   f"(allowed: {', '.join(sorted(allowed))})")
    kw: dict[str, Any] = {
        "name": name, "kind": kind, "line": node.start_mark.line + 1,
        "description": r.string(m["description"], "description") if "description" in m else "",
        "args": defaults["args"] + (r.argv(m["args"], f"suite {name!r}: args")
                                    if "args" in m else ()),
        "timeout": (r.number(m["timeout"], f"suite {name!r}: timeout")
                    if "timeout" in m else defaults["timeout"]),
    }
    if kind in ("cases", "guards"):
        if "cases" not in m:
            r.fail(node, f"suite {name!r}: needs cases")
        kw["cases"] = _explicit_cases(r, m["cases"], name, guard=kind == "guards")
    elif kind == "golden":
        if "path" not in m:
            r.fail(node, f"suite {name!r}: needs path (a folder of case.json cases)")
        raw = _expand_env(r.string(m["path"], f"suite {name!r}: path"))
        kw["path"] = str((spec_dir / raw).resolve()) if raw else ""
        kw["required"] = r.boolean(m["required"], "required") if "required" in m else False
        if "select" in m:
            kw["select"] = tuple(r.string(v, "select") for v in r.seq(m["select"], "select"))
    elif kind in ("grid", "pairwise"):
        key = "groups" if kind == "grid" else "dimensions"
        if key not in m:
            r.fail(node, f"suite {name!r}: needs {key}")
        kw["base"] = r.argv(m["base"], f"suite {name!r}: base") if "base" in m else ()
        kw["dimensions"] = _dimensions(r, m[key], f"suite {name!r}: {key}")
        if kind == "pairwise":
            kw["seed"] = r.integer(m["seed"], "seed", lo=0) if "seed" in m else 0
    elif kind == "random":
        if "count" not in m:
            r.fail(node, f"suite {name!r}: needs count")
        kw["count"] = r.integer(m["count"], f"suite {name!r}: count", lo=1)
        kw["seed"] = r.integer(m["seed"], "seed", lo=0) if "seed" in m else 0
    return Suite(**kw)


def parse_spec(text: str, path: str = "<spec>") -> Spec:
    """Read a spec from ``text`` (``path`` names it in errors and resolves relative paths)."""
    import hashlib

    r = _Reader(path, text)
    root = r.root()
    top = r.mapping(root, "the spec", _TOP_KEYS)
    if "version" not in top:
        r.fail(root, f"the spec needs version: {SCHEMA_VERSION}")
    version = r.integer(top["version"], "version")
    if version != SCHEMA_VERSION:
        r.fail(top["version"], f"schema version {version} is not supported "
               f"(this torchbragg reads version {SCHEMA_VERSION})")
    spec_dir = Path(path).resolve().parent
    defaults = {
        "args": r.argv(top["args"], "args") if "args" in top else (),
        "timeout": r.number(top["timeout"], "timeout") if "timeout" in top else DEFAULT_TIMEOUT,
    }
    tol = None
    if "tolerance" in top:
        tm = r.mapping(top["tolerance"], "tolerance", {"float32"})
        if "float32" in tm:
            tol = r.number(tm["float32"], "tolerance: float32")
    inputs = None
    if "inputs" in top:
        inputs = str((spec_dir / _expand_env(r.string(top["inputs"], "inputs"))).resolve())
    if "suites" not in top:
        r.fail(root, "the spec needs suites")
    seen: set[str] = set()
    suites = tuple(_suite(r, s, spec_dir, seen, defaults) for s in r.seq(top["suites"], "suites"))
    if not suites:
        r.fail(top["suites"], "suites is empty")
    name = r.string(top["name"], "name") if "name" in top else Path(path).stem
    desc = r.string(top["description"], "description") if "description" in top else ""
    return Spec(path=path, name=name, description=desc, suites=suites, inputs=inputs,
                float32_tolerance=tol,
                text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def load_spec(path: str | os.PathLike) -> Spec:
    """Read the spec file ``path`` (SpecError for a missing file or a bad spec)."""
    p = Path(path)
    try:
        text = read_text(p)
    except OSError as exc:
        raise SpecError(f"{p}: cannot read the spec: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"{p}:1: the spec is not UTF-8 text") from None
    return parse_spec(text, str(p))
