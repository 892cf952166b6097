"""The package's import graph has no circle, counting imports inside functions too (an import
moved into a function to dodge a circle is still a circle), and one version string."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import torchbragg

SRC = Path(torchbragg.__file__).resolve().parent.parent
ROOT = SRC.parent


def _modules() -> dict:
    out = {}
    for path in (SRC / "torchbragg").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, known: dict) -> set:
    """Package modules that ``path`` imports anywhere (absolute and relative imports)."""
    found = set()
    package = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {name for name in found if name in known}


def _cycles(graph: dict) -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    known = _modules()
    graph = {name: _imports(path, known) - {name} for name, path in known.items()}
    assert len(graph) > 50 and graph["torchbragg.physics.render"]  # the graph was read
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_one_version():
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("torchbragg imported from an installed copy, not the source tree")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1) == torchbragg.__version__


def _environment_reads(path: Path) -> list:
    """Lines of ``path`` that read the environment (``os.environ``, ``os.getenv``)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "os" and node.attr in ("environ", "getenv")):
            lines.append(node.lineno)
    return lines


def test_physics_and_io_read_no_environment():
    """The environment is read at the edges (cli/run_env.py): physics and io take what they
    need as arguments or from torchbragg.native. The one exception: the package builder sets
    the compiler's cache variable during a build and restores it."""
    allowed = {SRC / "torchbragg" / "physics" / "compiled" / "packages.py"}
    found = {}
    for folder in ("physics", "io"):
        for path in (SRC / "torchbragg" / folder).rglob("*.py"):
            if path not in allowed and _environment_reads(path):
                found[str(path.relative_to(SRC))] = _environment_reads(path)
    assert not found, found
    assert _environment_reads(SRC / "torchbragg" / "cli" / "run_env.py")  # the scan sees reads
