"""SMV reading (docs/behaviour/formats.md §8) and writing (docs/behaviour/formats.md §7)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from torchbragg.errors import InputError
from torchbragg.io.smv import (NotADSCFrame, SMVHeader, SMVUnreadable, format_smv_header,
                               header_text, parse_smv, read_smv, smv_bytes, write_smv)

SPEC_EXAMPLE = """{
HEADER_BYTES=512;
DIM=2;
BYTE_ORDER=little_endian;
TYPE=unsigned_short;
SIZE1=16;
SIZE2=16;
PIXEL_SIZE=0.1;
DISTANCE=100;
WAVELENGTH=1;
BEAM_CENTER_X=0.85;
BEAM_CENTER_Y=0.85;
ADXV_CENTER_X=0.9;
ADXV_CENTER_Y=0.7;
MOSFLM_CENTER_X=0.85;
MOSFLM_CENTER_Y=0.85;
DENZO_X_BEAM=0.9;
DENZO_Y_BEAM=0.9;
DIALS_ORIGIN=-0.9,0.9,-100
XDS_ORGX=9.5;
XDS_ORGY=9.5;
CLOSE_DISTANCE=100;
PHI=0;
OSC_START=0;
OSC_RANGE=0;
TWOTHETA=0;
DETECTOR_SN=000;
BEAMLINE=fake;
}\f"""


def _spec_header() -> SMVHeader:
    # 16x16 pixels of 0.1 mm, 100 mm, 1 Å, MOSFLM defaults (SI units in)
    return SMVHeader.from_si(
        fpixels=16, spixels=16, pixel_size=0.0001, distance=0.1, wavelength=1e-10,
        xbeam=0.00085, ybeam=0.00085, fbeam=0.0009, sbeam=0.0009, detsize_s=0.0016,
        dials_origin_mm=(-0.9, 0.9, -100.0), orgx=9.5, orgy=9.5, close_distance=0.1,
        phi0=0.0, osc=0.0, twotheta=0.0)


def test_spec_header_example_byte_exact():
    h = _spec_header()
    assert header_text(h) == SPEC_EXAMPLE
    block = format_smv_header(h)
    assert len(block) == 512
    assert block == SPEC_EXAMPLE.encode() + b" " * (512 - len(SPEC_EXAMPLE))


def test_overflow_quirk_no_padding():
    h = _spec_header().replace(distance=-123.457e-5, close_distance=-123.457e-5,
                               beam_center_x=-1.23457e-05, beam_center_y=-1.23457e-05,
                               adxv_center_x=-1.23457e-05, adxv_center_y=-1.23457e-05,
                               mosflm_center_x=-1.23457e-05, mosflm_center_y=-1.23457e-05,
                               denzo_x_beam=-1.23457e-05, denzo_y_beam=-1.23457e-05,
                               dials_origin=(-1.23457e-05,) * 3, xds_orgx=-1.23457e-05,
                               xds_orgy=-1.23457e-05, phi=-29.2909, osc_start=-29.2909,
                               osc_range=-29.2909, twotheta=-29.2909, pixel_size=0.172,
                               wavelength=0.976800)
    block = format_smv_header(h)
    assert len(block) > 512 and block.endswith(b"}\f")
    pix = np.arange(256, dtype=np.uint16).reshape(16, 16)
    data = smv_bytes(block, pix)
    assert data[len(block):] == pix.astype("<u2").tobytes()


def test_write_read_and_fabio(tmp_path):
    fabio = pytest.importorskip("fabio")
    h = _spec_header().replace(fpixels=24, spixels=16, phi=12.5, osc_range=0.1)
    pix = (np.arange(24 * 16, dtype=np.uint32) * 157 % 65536).astype(np.uint16).reshape(16, 24)
    path = tmp_path / "x.img"
    write_smv(path, h, pix)
    raw = path.read_bytes()
    assert len(raw) == 512 + 2 * pix.size
    img = read_smv(path)
    assert (img.width, img.height, img.header_bytes) == (24, 16, 512)
    np.testing.assert_array_equal(img.pixels, pix)
    assert img.get("PHI") == 12.5 and img.get("OSC_RANGE") == 0.1
    im = fabio.open(str(path))
    np.testing.assert_array_equal(im.data, pix)
    expected = {}
    for line in header_text(h).splitlines()[1:-1]:
        key, value = line.split("=", 1)
        expected[key] = value.rstrip(";")
    for key, value in expected.items():
        assert im.header[key] == value, key


def test_keyword_lookup_rules(golden_dir):
    img = read_smv(golden_dir / "inputs" / "header.img")
    text = img.header_text
    assert (img.width, img.height) == (96, 80)
    # DISTANCE matches inside CLOSE_DISTANCE: the later occurrence wins
    close = float(text.split("CLOSE_DISTANCE=")[1].split(";")[0])
    assert img.get("DISTANCE") == close == img.get("CLOSE_DISTANCE")
    assert img.get("ORGX") == float(text.split("XDS_ORGX=")[1].split(";")[0])
    assert math.isnan(img.get("NO_SUCH_KEY"))
    mask = read_smv(golden_dir / "inputs" / "mask.img")
    assert (mask.width, mask.height) == (120, 100)
    assert mask.get("BEAM_CENTER_Y") == 4.0 and mask.get("PIXEL_SIZE") == 0.1
    assert set(np.unique(mask.pixels).tolist()) == {0, 1, 2}


def _smv(text: str, pixels: bytes = b"", size: int = 512) -> bytes:
    raw = text.encode()
    return raw + b" " * (size - len(raw)) + pixels


def test_key_without_equals_and_substring():
    data = _smv("{\nHEADER_BYTES=512;\nSIZE1=2;\nSIZE2=1;\nFOO;\n}\f", b"\x01\x00\x02\x00")
    img = parse_smv(data, "t")
    assert img.get("FOO") == 0.0
    assert img.get("SIZE") == 1.0  # last occurrence of the substring: SIZE2
    assert img.pixels.tolist() == [[1, 2]]


def test_header_bytes_other_than_512_and_short_pixels():
    data = _smv("{\nHEADER_BYTES=600;\nSIZE1=3;\nSIZE2=2;\n}\f", b"\x05\x00\x06\x00", 600)
    img = parse_smv(data, "t")
    assert img.header_bytes == 600
    assert img.pixels.tolist() == [[5, 6, 0], [0, 0, 0]]


def test_detector_dimensions_when_size1_zero():
    data = _smv("{\nHEADER_BYTES=512;\nSIZE1=0;\nDETECTOR_DIMENSIONS=2 3;\n}\f", bytes(12))
    img = parse_smv(data, "t")
    assert (img.width, img.height) == (2, 3)


def test_errors(tmp_path):
    with pytest.raises(SMVUnreadable) as info:
        read_smv(tmp_path / "none.img")
    assert str(info.value).startswith(f"{tmp_path / 'none.img'}: ")
    short = tmp_path / "short.img"
    short.write_bytes(b"{\nHEADER_BYTES=512;\n")
    with pytest.raises(InputError) as info:
        read_smv(short)
    assert info.value.exit_status == 9 and str(info.value).startswith("SMV file header: ")
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"P5\n" + bytes(600))
    with pytest.raises(NotADSCFrame) as info:
        read_smv(bad)
    assert str(info.value) == f"ERROR: {bad} does not look like an ADSC frame!"


def _header_from_text(text: str) -> SMVHeader:
    def v(key):
        return float(text.split("\n" + key + "=")[1].split(";")[0].split("\n")[0])

    origin = text.split("DIALS_ORIGIN=")[1].split("\n")[0].split(",")
    return SMVHeader(
        fpixels=int(v("SIZE1")), spixels=int(v("SIZE2")), pixel_size=v("PIXEL_SIZE"),
        distance=v("DISTANCE"), wavelength=v("WAVELENGTH"), beam_center_x=v("BEAM_CENTER_X"),
        beam_center_y=v("BEAM_CENTER_Y"), adxv_center_x=v("ADXV_CENTER_X"),
        adxv_center_y=v("ADXV_CENTER_Y"), mosflm_center_x=v("MOSFLM_CENTER_X"),
        mosflm_center_y=v("MOSFLM_CENTER_Y"), denzo_x_beam=v("DENZO_X_BEAM"),
        denzo_y_beam=v("DENZO_Y_BEAM"), dials_origin=tuple(float(o) for o in origin),
        xds_orgx=v("XDS_ORGX"), xds_orgy=v("XDS_ORGY"), close_distance=v("CLOSE_DISTANCE"),
        phi=v("PHI"), osc_start=v("OSC_START"), osc_range=v("OSC_RANGE"),
        twotheta=v("TWOTHETA"))


def test_golden_headers_reformat_byte_exact(golden_dir):
    """Every stored SMV header (including the 518-byte overflowed one) is reproduced by
    formatting its own values."""
    import json

    n = 0
    for case_json in sorted(golden_dir.glob("*/case.json")):
        case = json.loads(case_json.read_text())
        for role in ("intfile", "noisefile"):
            if role not in case["outputs"]:
                continue
            raw = (case_json.parent / case["outputs"][role]).read_bytes()
            head = raw[:len(raw) - 2 * case["fpixels"] * case["spixels"]]
            h = _header_from_text(head.decode("ascii"))
            assert format_smv_header(h) == head, case["name"]
            n += 1
    assert n >= 35
