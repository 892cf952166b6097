"""Property-based: the HKL, matrix, source-file, SMV-header and argv parsers raise
only the project's own error types on arbitrary input (never a crash of another kind)."""
from __future__ import annotations

import os
import tempfile

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torchbragg.errors import InputError, TorchBraggError  # noqa: E402

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# text that looks like the inputs: numbers, signs, separators, words, odd bytes
_TOKENS = st.sampled_from([b"0", b"1", b"-1", b"+2", b"1.5", b".5", b"1e3", b"1e999", b"nan",
                           b"inf", b"0x10", b"#", b"x", b" ", b"\t", b"\n", b"\r\n", b",", b";",
                           b"\0", b"\xff", b"-", b"e", b"12345678901", b"100.", b"3 4 5 6\n"])
LIKE_INPUT = st.lists(_TOKENS, max_size=60).map(b"".join)
ANY_BYTES = st.one_of(st.binary(max_size=2000), LIKE_INPUT)


@SETTINGS
@given(ANY_BYTES)
def test_hkl_validator(data):
    from torchbragg.io.hkl import validate_hkl

    try:
        validate_hkl(data, "x.hkl")
    except InputError as exc:
        assert "x.hkl" in str(exc) and "\n" not in str(exc)


@SETTINGS
@given(ANY_BYTES)
def test_hkl_reader_strict(data):
    from torchbragg.io.hkl import read_hkl

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.hkl")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            table = read_hkl(path, 0.0, strict=True)
        except InputError as exc:
            assert "x.hkl" in str(exc)
        else:
            assert table.count >= 1


@SETTINGS
@given(ANY_BYTES)
def test_matrix_parsers(data):
    from torchbragg.io.matfile import parse_mat, validate_mat

    assert len(parse_mat(data)) == 9  # the C-compatible reader never raises
    try:
        values = validate_mat(data, "a.mat")
    except InputError as exc:
        assert "a.mat" in str(exc)
    else:
        assert len(values) == 9


@SETTINGS
@given(ANY_BYTES)
def test_source_file_parser(data):
    from torchbragg.io.columns import validate_sources

    try:
        rows = validate_sources(data, "s.txt")
    except InputError as exc:
        assert "s.txt" in str(exc)
    else:
        assert rows and all(len(r) == 5 for r in rows)


_HEADER_LINES = st.sampled_from([b"HEADER_BYTES=512;\n", b"HEADER_BYTES=abc;\n",
                                 b"HEADER_BYTES=99999999999;\n", b"SIZE1=4;\n", b"SIZE2=4;\n",
                                 b"SIZE1=-3;\n", b"SIZE1=1e30;\n", b"SIZE2=nan;\n",
                                 b"PIXEL_SIZE=0.1;\n", b"PIXEL_SIZE=0;\n", b"WAVELENGTH=-1;\n",
                                 b"DETECTOR_DIMENSIONS=4 4;\n", b"}\x0c", b"\0", b"garbage"])
SMV = st.one_of(
    st.binary(max_size=1200),
    st.tuples(st.lists(_HEADER_LINES, max_size=8), st.integers(0, 1200)).map(
        lambda t: (b"{\n" + b"".join(t[0])).ljust(512, b" ") + b"\x01" * t[1]))


@SETTINGS
@given(SMV, st.booleans())
def test_smv_header_parser(data, need_pixels):
    from torchbragg.io.smv import NotADSCFrame, parse_smv, read_smv_strict

    try:
        parse_smv(data, "h.img")
    except (InputError, NotADSCFrame):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "h.img")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            img = read_smv_strict(path, "-img", need_pixels)
        except InputError as exc:
            assert "h.img" in str(exc) and "-img" in str(exc)
        else:
            assert img.width >= 1 and img.height >= 1


_FLAGS = ["-cell", "-mat", "-hkl", "-N", "-Na", "-lambda", "-distance", "-pixel", "-detpixels",
          "-misset", "-misset_seed", "-twotheta_axis", "-twotheta", "-roi", "-pivot",
          "-detector_abs", "-detector_thick", "-thicksteps", "-curved_det", "-oversample",
          "-phisteps", "-osc", "-mosaic", "-mosaic_domains", "-divsteps", "-hdivrange",
          "-dispersion", "-dispsteps", "-beam_vector", "-printout_pixel", "-trace_pixel",
          "-floatfile", "-img", "-mask", "-sourcefile", "-seed", "-profile", "-dtype",
          "-default_F", "-nonoise", "-foo", "--debug", "-", "-1"]
_VALUES = ["0", "1", "-1", "2.0", "2.5", "1e3", "1e999", "nan", "inf", "abc", "random",
           "beam", "sample", "x.hkl", "", " 5", "5 ", "0x10", "100.", ".5", "+5", "99999999999"]
ARGV = st.lists(st.one_of(st.sampled_from(_FLAGS), st.sampled_from(_VALUES), st.text(max_size=8)),
                max_size=14)


@SETTINGS
@given(ARGV)
def test_argv_check(argv):
    from torchbragg.cli.strict import check_argv

    try:
        warnings = check_argv(argv)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(w.startswith("warning: unknown flag ") for w in warnings)


@SETTINGS
@given(ARGV)
def test_argv_parse(argv):
    from torchbragg.cli.load import parse_argv

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            parse_argv(["-cell", "100", "-default_F", "1", "-detpixels", "8"] + argv, now=1)
        except TorchBraggError:
            pass
        finally:
            os.chdir(cwd)
