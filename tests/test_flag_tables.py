"""The C reference's flag tables agree with the one Python declaration (``cli.flags.FLAGS``):
same patterns, order, matching rules, value counts, skip-rest rule, value kinds, constraints and
choices (nb_check_argv.c ``FLAGS``), and the C scan (nb_cli.c) reads the patterns the
declarations say it reads; the usage text and the strict checks are derived from the table."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import torchbragg
from torchbragg.cli import strict, values
from torchbragg.cli.flags import CHECKS, FLAGS, PREPASS, SCAN
from torchbragg.cli.usage import extensions_line, usage_text

CSRC = Path(torchbragg.__file__).parent / "csrc"
_ROW = re.compile(r'\{"(-[^"]+)",\s*(M_\w+),\s*(K_\w+),\s*(C_\w+),\s*(\d+),\s*(\d+)\}')
_MATCH = {"M_SUB": "sub", "M_LENEQ": "exact", "M_EXACT": "eq"}
_KIND = {"K_NONE": values.NONE, "K_REAL": values.REAL, "K_INT": values.INT,
         "K_LONG": values.LONG, "K_FILE": values.FILE, "K_VEC": values.VEC,
         "K_VECNZ": values.VEC_NZ, "K_WORD": values.WORD}  # the others are SPECIAL
_CONSTRAINT = {"C_ANY": values.ANY, "C_POS": values.POS, "C_NONNEG": values.NONNEG}


def _c_table():
    text = (CSRC / "nb_check_argv.c").read_text()
    body = text[text.index("static const nb_flagspec FLAGS[]"):]
    body = body[:body.index("};")]
    return [(p, _MATCH[m], _KIND.get(k, values.SPECIAL), _CONSTRAINT[c], int(n), bool(int(s)))
            for p, m, k, c, n, s in _ROW.findall(body)]


def _py_table():
    return [(f.pattern, f.match, f.kind, f.constraint, f.arity, f.skip_rest) for f in FLAGS]


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
    assert strict.SPECS == {f.pattern: (f.kind, f.constraint, f.arity)
                            for f in FLAGS if f.kind != values.NONE}


def test_c_checks_the_declared_choices():
    """A WORD flag with ``choices``: the C's check names the same words, in the same order."""
    text = (CSRC / "nb_check_argv.c").read_text()
    for f in FLAGS:
        if f.choices:
            assert f"'%s' is not one of {', '.join(f.choices)}" in text, f.pattern


def test_c_scan_reads_the_patterns_the_declarations_say():
    text = (CSRC / "nb_cli.c").read_text()
    scan = set(re.findall(r'(?:HAS|EXACT|LENEQ)\("(-[^"]+)"\)', text))
    dropped = {f.pattern for f in FLAGS if f.action is None and f.c_reads == SCAN}
    assert "-coherent" in dropped and "-hkl" not in dropped
    assert scan == {f.pattern for f in FLAGS if f.c_reads == SCAN} - dropped
    assert {f.pattern for f in FLAGS if f.c_reads == PREPASS} == {"-profile", "-img", "-mask"}
    # the torchbragg flags the C reference checks and then ignores
    assert {f.pattern for f in FLAGS if f.c_reads == CHECKS} <= {
        f.pattern for f in FLAGS if f.extension}


def test_usage_text_follows_the_documented_order():
    """The usage rows are the flags' ``help`` rows, in the order docs/behaviour/cli.md §7
    lists; the extensions line names every torchbragg flag."""
    doc = (Path(__file__).parents[1] / "docs" / "behaviour" / "cli.md").read_text()
    para = doc[doc.index("**Usage text**"):]
    para = para[para.index("in the order"):para.index("Embedded")]
    documented = re.findall(r"`(-[^`]+)`", para)
    lines = usage_text().splitlines()
    assert lines[:2] == ["usage: nanoBragg -mat auto.mat -hkl Fs.hkl", "options:"]
    shown = [line.split("\t")[1].strip() for line in lines[2:]]
    assert shown == documented
    assert all(line.split("\t")[2] for line in lines[2:])
    ext = extensions_line()
    assert all(f" {f.pattern}" in ext for f in FLAGS if f.extension)


def _both_programs(c_bin, tmp_path, args, env):
    """Each program's (command, completed process) on ``args`` in ``tmp_path``."""
    for cmd in ([str(c_bin)], [sys.executable, "-m", "torchbragg"]):
        yield cmd, subprocess.run(cmd + args, cwd=tmp_path, capture_output=True, text=True,
                                  env=env, timeout=300)


#: a tiny run's flags besides the one under test
_TINY = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detpixels", "8",
         "-nonoise", "-nopgm", "-noprogress"]


@pytest.mark.parametrize("name, status", [("nanobragg", 0), ("corrected", 0), ("default", 9)])
def test_one_profile_name_on_both_sides(cref_bin, tmp_path, name, status):
    """Both programs know the profiles by the same names, and refuse any other the same way."""
    env = dict(os.environ, TORCHBRAGG_COMPILE="off")
    for cmd, proc in _both_programs(cref_bin, tmp_path, ["-profile", name, *_TINY], env):
        assert proc.returncode == status, (cmd, proc.stderr)
        if status:
            assert "unknown profile 'default'" in proc.stderr


@pytest.mark.parametrize("value, status", [("off", 0), ("auto", 0), ("fast", 9)])
def test_torchbragg_only_word_flag_checked_alike_by_both_programs(cref_bin, tmp_path, value,
                                                                  status):
    """``-compile`` is declared once (cli/flags.py) and has its row in the C table: both
    programs accept its words (the C then ignores the flag) and refuse any other alike."""
    env = dict(os.environ, TORCHBRAGG_COMPILE="on")
    for cmd, proc in _both_programs(cref_bin, tmp_path, ["-compile", value, *_TINY], env):
        assert proc.returncode == status, (cmd, proc.stderr)
        if status:
            assert "-compile: 'fast' is not one of auto, on, off" in proc.stderr


def _sample_values(flag):
    """Values a flag of this declaration accepts."""
    if flag.choices:
        return [flag.choices[0]]
    by_kind = {values.REAL: ["1.5"] * flag.arity, values.INT: ["2"] * flag.arity,
               values.LONG: ["3"], values.FILE: ["x.txt"], values.VEC: ["1", "0", "0"],
               values.VEC_NZ: ["0", "1", "0"], values.WORD: ["nanobragg"], values.NONE: []}
    special = {"-cell": ["50", "60", "70", "90", "90", "90"], "-misset": ["1", "2", "3"],
               "-pivot": ["sample"], "-detector_abs": ["10"], "-curved_det": ["-nopgm"]}
    return special.get(flag.pattern) or by_kind[flag.kind]


@pytest.mark.parametrize("profile", ["nanobragg", "corrected"])
def test_every_declared_flag_checks_and_acts_on_known_targets(profile):
    """Each flag, given values of its declared kind, passes the strict check and its action
    writes only fields of the configs or of RunOptions (ParseState refuses any other)."""
    from torchbragg.cli.flags import scan
    from torchbragg.cli.state import ParseState
    from torchbragg.compat import get_profile

    for f in FLAGS:
        argv = [f.pattern] + _sample_values(f)
        assert strict.check_argv(argv) == [], f.pattern
        state = scan(argv, ParseState(), get_profile(profile))
        assert (f.action is None) == (not state.values), (f.pattern, state.values)


def test_a_declared_extension_reaches_the_run_options():
    """``-compile`` is one row of the table: checked, parsed into RunOptions, listed in --help."""
    from torchbragg.cli.load import parse_argv
    from torchbragg.cli.usage import help_text
    from torchbragg.errors import InputError

    base = ["-cell", "50", "50", "50", "90", "90", "90", "-default_F", "1", "-detpixels", "4"]
    assert parse_argv(base, now=1).options.compile is None
    assert parse_argv(base + ["-compile", "off"], now=1).options.compile == "off"
    with pytest.raises(InputError, match="-compile: 'eager' is not one of auto, on, off"):
        parse_argv(base + ["-compile", "eager"], now=1)
    assert "-compile auto|on|off" in extensions_line()
    assert any(line.split("\t")[1:2] == ["-compile        "] for line in help_text().splitlines())


_DRAWN = [f.pattern for f in FLAGS  # those that read files or set up a run are left out
          if f.pattern not in ("-cell", "-mat", "-profile", "-img", "-mask", "-hkl", "-dump",
                               "-sourcefile", "-stol", "-4stol", "-Q")]
_VALUES = ["0", "1", "-1", "2.0", "2.5", "1e3", "abc", "random", "beam", "sample", "x.txt",
           "off", "float32", "cpu", "inf", ".5", "+5", "", "-foo", "3"]


def test_both_programs_check_random_command_lines_alike(cref_bin):
    """Command lines drawn from the table's patterns and assorted values: the C reference's
    strict check and the Python one accept the same lines with the same unknown-flag warnings,
    and refuse the others with the same message (neither renders: no cell is given)."""
    import random

    from torchbragg.errors import InputError

    c_bin = str(cref_bin)
    rng = random.Random(19)
    refused = 0
    for _ in range(1500):
        argv = [rng.choice(_DRAWN) if rng.random() < 0.5 else rng.choice(_VALUES)
                for _ in range(rng.randint(1, 8))]
        proc = subprocess.run([c_bin, *argv], capture_output=True, text=True, timeout=60,
                              cwd=CSRC)
        c_lines = proc.stderr.splitlines()
        try:
            warnings = strict.check_argv(argv)
        except InputError as exc:
            refused += 1
            assert c_lines and c_lines[-1] == f"ERROR: {exc}", (argv, proc.stderr)
        else:
            assert [w.replace("warning:", "WARNING:") for w in warnings] == [
                line for line in c_lines if line.startswith("WARNING: unknown flag")], argv
            assert not any(line.startswith("ERROR: -") for line in c_lines), (argv, c_lines)
    assert 200 < refused < 1300  # both verdicts are exercised
