"""SMV (ADSC) images: reading headers and pixels (docs/behaviour/formats.md §8) and writing them
(docs/behaviour/formats.md §7).

Reading follows the C: the header is the first ``HEADER_BYTES`` bytes, keys are found as plain
substrings (last occurrence wins, ``DISTANCE`` matches inside ``CLOSE_DISTANCE``), pixels are
host-order unsigned 16-bit words at offset ``HEADER_BYTES`` and the ``BYTE_ORDER`` key is not
used. Writing produces the reference's header text byte for byte, including the missing
padding when the text is longer than 512 bytes.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from torchbragg.errors import InputError
from torchbragg.io import cscan
from torchbragg.io.atomic import atomic_write
from torchbragg.io.files import NotRegularFile, read_input

HEADER_SIZE = 512
MAGIC = b"{\nHEADER_BYT"
RTD = 180.0 / math.pi


class SMVUnreadable(Exception):
    """The file cannot be opened. The C prints ``{file}: {reason}`` on stderr and ignores the
    option (the run continues)."""


class NotADSCFrame(Exception):
    """The file does not start with ``{``, newline, ``HEADER_BYT``. The C prints
    ``ERROR: {file} does not look like an ADSC frame!`` on stdout and ignores the header."""


@dataclass(frozen=True, eq=False)
class SMVImage:
    """An SMV file as the C sees it.

    ``header_text``: the header bytes up to the first NUL (C string), decoded as Latin-1.
    ``header_bytes``: the header size used (``HEADER_BYTES``). ``width``/``height``: fast and
    slow pixel counts. ``pixels``: ``np.uint16`` array of shape (height, width), None when
    only the header was read.
    """

    path: str
    header_text: str
    header_bytes: int
    width: int
    height: int
    pixels: Optional[np.ndarray]

    def get(self, key: str) -> float:
        """Value of ``key`` by the C's lookup rule (docs/behaviour/formats.md §8.2): NaN if absent,
        0 if there is no ``=`` after the last occurrence, else the ``strtod`` value after
        the ``=``."""
        return header_value(self.header_text, key)


def header_value(text: str, key: str) -> float:
    """Keyword lookup of docs/behaviour/formats.md §8.2 on header text."""
    at = text.rfind(key)
    if at < 0 or not key:
        return float("nan")
    eq = text.find("=", at + len(key))
    if eq < 0:
        return 0.0
    return cscan.atof(text.encode("latin-1"), eq + 1)


def _dimensions(text: str) -> tuple[float, float]:
    """Two numbers after ``DETECTOR_DIMENSIONS=`` (fast, slow)."""
    at = text.rfind("DETECTOR_DIMENSIONS")
    if at < 0:
        return float("nan"), float("nan")
    eq = text.find("=", at)
    if eq < 0:
        return 0.0, 0.0
    raw = text.encode("latin-1")
    first, end = cscan.strtod_at(raw, eq + 1)
    second, _ = cscan.strtod_at(raw, end)
    return first, second


def _count(value: float, what: str, name: str) -> int:
    if not math.isfinite(value) or value < 0 or value >= 2**31:
        raise InputError(f"ERROR: {name}: unusable {what} in SMV header")
    return int(value)


#: The most pixels an image header may claim (as many as a detector may have).
MAX_PIXELS = 4e9


def parse_smv(data: bytes, name: str = "", with_pixels: bool = True) -> SMVImage:
    """Interpret file content as the C does; see :func:`read_smv` for errors. A header
    claiming more than :data:`MAX_PIXELS` pixels raises :class:`InputError` before anything
    is allocated; ``with_pixels=False`` reads the header only."""
    if len(data) < HEADER_SIZE:
        raise InputError(f"SMV file header: {name}: file shorter than {HEADER_SIZE} bytes")
    if data[:len(MAGIC)] != MAGIC:
        raise NotADSCFrame(f"ERROR: {name} does not look like an ADSC frame!")
    text = data[:HEADER_SIZE].split(b"\0", 1)[0].decode("latin-1")
    size = _count(header_value(text, "HEADER_BYTES"), "HEADER_BYTES", name)
    if size != HEADER_SIZE:
        text = data[:size].split(b"\0", 1)[0].decode("latin-1")
    width_v = header_value(text, "SIZE1")
    height_v = header_value(text, "SIZE2")
    if width_v == 0:
        width_v, height_v = _dimensions(text)
    width = _count(width_v, "SIZE1", name)
    height = _count(height_v, "SIZE2", name)
    npix = width * height
    if npix > MAX_PIXELS:
        raise InputError(f"ERROR: {name}: SMV header claims {width}x{height} pixels, more than "
                         f"{MAX_PIXELS:g}")
    if not with_pixels:
        return SMVImage(name, text, size, width, height, None)
    raw = data[size:size + 2 * npix]
    if len(raw) < 2 * npix:
        raw = raw + bytes(2 * npix - len(raw))  # a short file leaves the missing pixels 0
    pixels = np.frombuffer(raw, dtype=np.uint16).reshape(height, width).copy()
    return SMVImage(name, text, size, width, height, pixels)


def read_smv(path: str | os.PathLike) -> SMVImage:
    """Read an SMV file (``-img``, ``-mask``) per docs/behaviour/formats.md §8.1.

    Raises :class:`SMVUnreadable` (cannot open: print and ignore),
    :class:`~torchbragg.errors.InputError` (shorter than 512 bytes: exit 9; also a missing or
    unusable ``HEADER_BYTES``/``SIZE1``/``SIZE2``, undefined behaviour in the C),
    :class:`NotADSCFrame` (bad magic: print and ignore). Pixels are host-order words.
    """
    name = os.fspath(path)
    try:
        data = read_input(name)
    except IsADirectoryError as exc:
        raise InputError(f"SMV file header: {name}: {exc.strerror}") from exc
    except NotRegularFile as exc:
        raise InputError(f"{name}: {exc.strerror}") from exc
    except OSError as exc:
        raise SMVUnreadable(f"{name}: {exc.strerror}") from exc
    return parse_smv(data, name)


def _g(x: float) -> str:
    return "%g" % x


@dataclass(frozen=True)
class SMVHeader:
    """Every value of the SMV header (docs/behaviour/formats.md §7.1), in header units (mm, Å,
    degrees, pixels)."""

    fpixels: int
    spixels: int
    pixel_size: float  # mm
    distance: float  # mm
    wavelength: float  # Å
    beam_center_x: float  # mm
    beam_center_y: float  # mm
    adxv_center_x: float  # mm
    adxv_center_y: float  # mm
    mosflm_center_x: float  # mm
    mosflm_center_y: float  # mm
    denzo_x_beam: float  # mm
    denzo_y_beam: float  # mm
    dials_origin: tuple[float, float, float]  # mm
    xds_orgx: float  # pixels
    xds_orgy: float  # pixels
    close_distance: float  # mm
    phi: float  # deg
    osc_start: float  # deg
    osc_range: float  # deg
    twotheta: float  # deg
    byte_order: str = "little_endian" if sys.byteorder == "little" else "big_endian"

    @classmethod
    def from_si(cls, *, fpixels: int, spixels: int, pixel_size: float, distance: float,
                wavelength: float, xbeam: float, ybeam: float, fbeam: float, sbeam: float,
                detsize_s: float, dials_origin_mm: tuple[float, float, float], orgx: float,
                orgy: float, close_distance: float, phi0: float, osc: float,
                twotheta: float) -> SMVHeader:
        """Header values from model quantities in SI units (metres, radians), as in the
        table of docs/behaviour/formats.md §7.1 (``dials_origin_mm`` and ``orgx``/``orgy`` are
        already in header units)."""
        px = pixel_size
        return cls(
            fpixels=int(fpixels), spixels=int(spixels), pixel_size=px * 1000.0,
            distance=distance * 1000.0, wavelength=wavelength * 1e10,
            beam_center_x=xbeam * 1000.0, beam_center_y=ybeam * 1000.0,
            adxv_center_x=fbeam * 1000.0, adxv_center_y=(detsize_s - sbeam) * 1000.0,
            mosflm_center_x=(sbeam - px / 2) * 1000.0,
            mosflm_center_y=(fbeam - px / 2) * 1000.0,
            denzo_x_beam=sbeam * 1000.0, denzo_y_beam=fbeam * 1000.0,
            dials_origin=tuple(float(v) for v in dials_origin_mm),
            xds_orgx=orgx, xds_orgy=orgy, close_distance=close_distance * 1000.0,
            phi=phi0 * RTD, osc_start=phi0 * RTD, osc_range=osc * RTD,
            twotheta=twotheta * RTD)

    def replace(self, **changes) -> SMVHeader:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return SMVHeader(**values)


def header_text(h: SMVHeader) -> str:
    """Lines 1–29 of docs/behaviour/formats.md §7.1 (ending with ``}`` and the form feed), without
    padding."""
    o1, o2, o3 = h.dials_origin
    lines = [
        "{",
        "HEADER_BYTES=512;",
        "DIM=2;",
        f"BYTE_ORDER={h.byte_order};",
        "TYPE=unsigned_short;",
        f"SIZE1={int(h.fpixels):d};",
        f"SIZE2={int(h.spixels):d};",
        f"PIXEL_SIZE={_g(h.pixel_size)};",
        f"DISTANCE={_g(h.distance)};",
        f"WAVELENGTH={_g(h.wavelength)};",
        f"BEAM_CENTER_X={_g(h.beam_center_x)};",
        f"BEAM_CENTER_Y={_g(h.beam_center_y)};",
        f"ADXV_CENTER_X={_g(h.adxv_center_x)};",
        f"ADXV_CENTER_Y={_g(h.adxv_center_y)};",
        f"MOSFLM_CENTER_X={_g(h.mosflm_center_x)};",
        f"MOSFLM_CENTER_Y={_g(h.mosflm_center_y)};",
        f"DENZO_X_BEAM={_g(h.denzo_x_beam)};",
        f"DENZO_Y_BEAM={_g(h.denzo_y_beam)};",
        f"DIALS_ORIGIN={_g(o1)},{_g(o2)},{_g(o3)}",
        f"XDS_ORGX={_g(h.xds_orgx)};",
        f"XDS_ORGY={_g(h.xds_orgy)};",
        f"CLOSE_DISTANCE={_g(h.close_distance)};",
        f"PHI={_g(h.phi)};",
        f"OSC_START={_g(h.osc_start)};",
        f"OSC_RANGE={_g(h.osc_range)};",
        f"TWOTHETA={_g(h.twotheta)};",
        "DETECTOR_SN=000;",
        "BEAMLINE=fake;",
    ]
    return "\n".join(lines) + "\n}\f"


def format_smv_header(h: SMVHeader) -> bytes:
    """The header block: the text padded with spaces to 512 bytes, or unpadded when it is
    longer (the C's overflow quirk; the data then start right after the form feed)."""
    raw = header_text(h).encode("ascii")
    if len(raw) < HEADER_SIZE:
        raw += b" " * (HEADER_SIZE - len(raw))
    return raw


def smv_bytes(header_bytes: bytes, pixels_u16: np.ndarray) -> bytes:
    """A complete SMV file: header block then the pixels as host-order (little-endian on
    x86-64) unsigned 16-bit words in slow-major order."""
    data = np.ascontiguousarray(pixels_u16, dtype=np.uint16)
    return bytes(header_bytes) + data.tobytes()


def write_smv(path: str | os.PathLike, header: SMVHeader | bytes,
              pixels_u16: np.ndarray) -> None:
    """Write an SMV file atomically (raises :class:`~torchbragg.errors.OutputError`)."""
    head = header if isinstance(header, (bytes, bytearray)) else format_smv_header(header)
    atomic_write(path, smv_bytes(head, pixels_u16))


#: Header keys that, when present, must hold a positive finite number (strict reading).
POSITIVE_KEYS = ("PIXEL_SIZE", "WAVELENGTH", "DISTANCE", "CLOSE_DISTANCE")


def read_smv_strict(path: str | os.PathLike, flag: str, need_pixels: bool) -> SMVImage:
    """Strict reading for ``-img``/``-mask``: a file that cannot be opened, is not an
    SMV image (the C prints a message and ignores it, so the run goes on without the header
    or mask), has a truncated header (or, when ``need_pixels``, truncated pixel data), or whose
    header gives a non-positive pixel size, wavelength or distance raises
    :class:`~torchbragg.errors.InputError` naming the flag and file."""
    name = os.fspath(path)
    where = f"{flag} {name}"
    try:
        data = read_input(name)
    except OSError as exc:
        raise InputError(f"{where}: cannot open: {exc.strerror}") from exc
    if len(data) < HEADER_SIZE:
        raise InputError(f"{where}: SMV header truncated ({len(data)} bytes, an SMV file has "
                         f"at least {HEADER_SIZE})")
    if data[:len(MAGIC)] != MAGIC:
        raise InputError(f"{where}: not an SMV (ADSC) image (it does not start with "
                         "'{' and HEADER_BYTES)")
    try:
        img = parse_smv(data, name, with_pixels=False)
    except InputError as exc:
        raise InputError(f"{where}: {str(exc).replace('ERROR: ', '').replace(name + ': ', '')}") \
            from None
    if img.header_bytes > len(data):
        raise InputError(f"{where}: SMV header truncated (HEADER_BYTES={img.header_bytes}, "
                         f"file has {len(data)} bytes)")
    if img.width < 1 or img.height < 1:
        raise InputError(f"{where}: SMV header gives {img.width}x{img.height} pixels")
    if need_pixels and len(data) < img.header_bytes + 2 * img.width * img.height:
        raise InputError(f"{where}: pixel data truncated ({len(data) - img.header_bytes} bytes "
                         f"for {img.width}x{img.height} 2-byte pixels)")
    if need_pixels:  # the file holds them all (checked above): nothing is padded
        img = parse_smv(data, name)
    for key in POSITIVE_KEYS:
        v = img.get(key)
        if v == v and not (0 < v < float("inf")):
            raise InputError(f"{where}: SMV header {key} must be a positive number")
    return img
