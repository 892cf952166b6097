"""The C reference's flag tables agree with the Python ones: same patterns, matching rules,
value counts, skip-rest rule, value kinds and constraints (nb_check_argv.c ``FLAGS`` against
``cli.flags.FLAGS`` and ``cli.strict.SPECS``), and the C scan (nb_cli.c) reads the same patterns."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import torchbragg
from torchbragg import cref
from torchbragg.cli import strict
from torchbragg.cli.flags import FLAGS

CSRC = Path(torchbragg.__file__).parent / "csrc"
_ROW = re.compile(r'\{"(-[^"]+)",\s*(M_\w+),\s*(K_\w+),\s*(C_\w+),\s*(\d+),\s*(\d+)\}')
_MATCH = {"M_SUB": "sub", "M_LENEQ": "exact", "M_EXACT": "eq"}
_KIND = {"K_NONE": strict.NONE, "K_REAL": strict.REAL, "K_INT": strict.INT,
         "K_LONG": strict.LONG, "K_FILE": strict.FILE, "K_VEC": strict.VEC,
         "K_VECNZ": strict.VEC_NZ}  # the others (cell, misset, pivot, ...) are SPECIAL
_CONSTRAINT = {"C_ANY": strict.ANY, "C_POS": strict.POS, "C_NONNEG": strict.NONNEG}
PREPASS = ("-img", "-mask")


def _c_table():
    text = (CSRC / "nb_check_argv.c").read_text()
    body = text[text.index("static const nb_flagspec FLAGS[]"):]
    body = body[:body.index("};")]
    return [(p, _MATCH[m], _KIND.get(k, strict.SPECIAL), _CONSTRAINT[c], int(n), bool(int(s)))
            for p, m, k, c, n, s in _ROW.findall(body)]


def _py_table():
    rows = []
    for f in list(FLAGS) + [_prepass(p) for p in PREPASS]:
        kind, constraint, arity = strict.SPECS.get(f.pattern, (strict.NONE, strict.ANY, 0))
        assert arity == f.arity, f"{f.pattern}: strict.SPECS arity {arity}, flags.FLAGS {f.arity}"
        rows.append((f.pattern, f.match, kind, constraint, f.arity, f.skip_rest))
    return rows


def _prepass(pattern):
    return next(f for f in strict._flag_table() if f.pattern == pattern)


def test_c_flag_table_parses_fully():
    text = (CSRC / "nb_check_argv.c").read_text()
    body = text[text.index("static const nb_flagspec FLAGS[]"):]
    body = body[:body.index("};")]
    assert len(_c_table()) == body.count('{"-') > 100


def test_c_and_python_flag_tables_agree_row_by_row():
    c, py = _c_table(), _py_table()
    only_c = sorted({r[0] for r in c} - {r[0] for r in py})
    only_py = sorted({r[0] for r in py} - {r[0] for r in c})
    assert not only_c and not only_py, (only_c, only_py)
    by_c = {r[0]: r for r in c}
    differ = [(r, by_c[r[0]]) for r in py if by_c[r[0]] != r]
    assert not differ, differ
    assert [r[0] for r in c] == [r[0] for r in py]  # the same order (it decides collisions)
    assert set(strict.SPECS) <= {r[0] for r in py}


def _ignored(action) -> bool:
    """A flag the Python scan reads and drops (its action is ``lambda st, a, t, p: None``)."""
    noop = (lambda st, a, t, p: None).__code__
    code = getattr(action, "__code__", None)
    return code is not None and (code.co_code, code.co_consts) == (noop.co_code, noop.co_consts)


def test_c_scan_reads_the_table_patterns_python_does_not_drop():
    text = (CSRC / "nb_cli.c").read_text()
    scan = set(re.findall(r'(?:HAS|EXACT|LENEQ)\("(-[^"]+)"\)', text))
    table = {r[0] for r in _c_table()}
    dropped = {f.pattern for f in FLAGS if _ignored(f.action)}
    assert "-coherent" in dropped and "-hkl" not in dropped
    # the C scan ignores -dtype/-device/-chunk_pixels; -profile, -img, -mask are pre-pass
    assert scan == table - dropped - {"-dtype", "-device", "-chunk_pixels", "-profile", *PREPASS}


@pytest.mark.parametrize("name, status", [("nanobragg", 0), ("corrected", 0), ("default", 9)])
def test_one_profile_name_on_both_sides(tmp_path, name, status):
    """Both programs know the profiles by the same names, and refuse any other the same way."""
    try:
        c_bin = str(cref.binary_path())
    except Exception as exc:  # no compiler on this machine
        pytest.skip(f"cannot build the C reference: {exc}")
    args = ["-profile", name, "-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1",
            "-detpixels", "8", "-nonoise", "-nopgm", "-noprogress"]
    env = dict(os.environ, TORCHBRAGG_COMPILE="off")
    for cmd in ([c_bin], [sys.executable, "-m", "torchbragg"]):
        proc = subprocess.run(cmd + args, cwd=tmp_path, capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == status, (cmd, proc.stderr)
        if status:
            assert "unknown profile 'default'" in proc.stderr
