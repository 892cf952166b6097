"""Poisson noise image of docs/behaviour/formats.md §13.3–13.5, bit for bit.

The deviates consume the shared uniform generator through a
:class:`~torchbragg.rng.UniformStream` (the C's ``ran1`` with its process-wide shuffle table).
Their persistent state (Poisson cache ``oldm/g/sq/alxm``, the Gaussian spare) is process-wide
in the C; here it lives in a :class:`Deviates` object, created fresh for each noise image
(the C makes one noise image per process).

Two implementations agree bit for bit: the pure-Python reference (:class:`Deviates`,
:func:`noise_image_python`) and a small C library (``noise_native.c``) compiled on first use
and called through ctypes (:func:`noise_image_native`). :func:`noise_image` uses the native
one when it can be built and :mod:`torchbragg.native` allows it. Both use the C library's binary64
``exp``/``log``/``tan``/``sqrt``/``floor`` (Python's ``math`` module calls the same libm).
"""
from __future__ import annotations

import ctypes
import math
import threading
from dataclasses import dataclass

import numpy as np

from torchbragg import native
from torchbragg.rng import UniformStream
from torchbragg.rng import fl32 as _fl32_finite

PI = 3.141592653589793
_GAMMA_COEF = (76.18009172947146, -86.50532032941677, 24.01409824083091,
               -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5)


def fl32(x: float) -> float:
    """Round to binary32 (as a C ``(float)`` cast: overflow gives ±inf)."""
    try:
        return _fl32_finite(x)
    except OverflowError:
        return math.copysign(math.inf, x)


def log_gamma(xx: float) -> float:
    """Γ of docs/behaviour/formats.md §13.4: log-gamma of a binary32 argument, binary32 result."""
    x = y = xx
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for c in _GAMMA_COEF:
        y += 1.0
        ser += c / y
    return fl32(-tmp + math.log(2.5066282746310005 * ser / x))


@dataclass
class DeviateState:
    """The process-wide persistent state of the deviates (binary32 values held as floats)."""

    oldm: float = -1.0
    g: float = 0.0
    sq: float = 0.0
    alxm: float = 0.0
    gauss_ready: bool = False
    gauss_spare: float = 0.0


class Deviates:
    """Poisson and Gaussian deviates over one uniform stream (pure Python reference)."""

    def __init__(self, stream: UniformStream, state: DeviateState | None = None) -> None:
        self.stream = stream
        self.state = state if state is not None else DeviateState()

    def gauss(self) -> float:
        """Polar Box–Muller deviate with a persistent spare (docs/behaviour/formats.md §13.4);
        binary32."""
        st = self.state
        if st.gauss_ready:
            st.gauss_ready = False
            return st.gauss_spare
        u = self.stream.next
        while True:
            v1 = fl32(2.0 * u() - 1.0)
            v2 = fl32(2.0 * u() - 1.0)
            r = fl32(fl32(v1 * v1) + fl32(v2 * v2))
            if 0.0 < r < 1.0:
                break
        fac = fl32(math.sqrt(-2.0 * math.log(r) / r))
        st.gauss_spare = fl32(v1 * fac)
        st.gauss_ready = True
        return fl32(v2 * fac)

    def poisson(self, xm: float) -> float:
        """Poisson deviate of mean ``xm`` (a binary32 value), docs/behaviour/formats.md §13.3;
        binary32 result."""
        st = self.state
        u = self.stream.next
        if xm > 1e6:
            return fl32(xm + math.sqrt(xm) * self.gauss())
        if xm < 12.0:
            if xm != st.oldm:
                st.oldm = xm
                st.g = fl32(math.exp(-xm))
            em = -1.0
            t = 1.0
            g = st.g
            while True:
                em += 1.0
                t = fl32(t * u())
                if not t > g:
                    return em
        if xm != st.oldm:
            st.oldm = xm
            st.sq = fl32(math.sqrt(2.0 * xm))
            st.alxm = fl32(math.log(xm))
            st.g = fl32(fl32(xm * st.alxm) - log_gamma(fl32(xm + 1.0)))
        sq, alxm, g = st.sq, st.alxm, st.g
        while True:
            while True:
                y = fl32(math.tan(PI * u()))
                em = fl32(fl32(sq * y) + xm)
                if not em < 0.0:
                    break
            em = float(math.floor(em)) if math.isfinite(em) else em
            e = fl32(fl32(fl32(em * alxm) - log_gamma(fl32(em + 1.0))) - g)
            t = fl32(0.9 * (1.0 + fl32(y * y)) * _exp(e))
            if not u() > t:
                return em


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


def _to_u16(v: float) -> int:
    """C conversion of the clipped double to ``unsigned short`` in the reference build:
    truncation toward zero, then modulo 65536 (negative values wrap). NaN and values beyond
    ±9.2e18 give 0 (as in the native helper)."""
    if not -9.2e18 < v < 9.2e18:
        return 0
    return int(v) & 0xFFFF


def noise_image_python(img_f32: np.ndarray, roi: np.ndarray, adc: float,
                       stream: UniformStream,
                       state: DeviateState | None = None) -> tuple[np.ndarray, float, int]:
    """Pure-Python reference of docs/behaviour/formats.md §13.5; see :func:`noise_image`."""
    img = np.asarray(img_f32, dtype=np.float32)
    inroi = np.asarray(roi, dtype=bool).reshape(-1)
    vals = img.astype(np.float64).reshape(-1).tolist()
    dev = Deviates(stream, state)
    out = np.zeros(img.size, dtype=np.uint16)
    total = 0.0
    overloads = 0
    adc = float(adc)
    for i in np.flatnonzero(inroi).tolist():
        n = dev.poisson(vals[i])
        total += n
        v = n + adc
        if v > 65535.0:
            v = 65535.0
            overloads += 1
        out[i] = _to_u16(v)
    return out.reshape(img.shape), total, overloads


# --------------------------------------------------------------------------- native path

_lib_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_failed = False


def _native_lib() -> ctypes.CDLL | None:
    """The compiled helper, or None when it cannot be built or loaded."""
    global _lib, _lib_failed
    with _lib_lock:
        if _lib is not None or _lib_failed:
            return _lib
        try:
            from torchbragg import native

            path = native.build_helper(native.NOISE_HELPER)
            lib = ctypes.CDLL(str(path))
            i64p = ctypes.POINTER(ctypes.c_int64)
            f32p = ctypes.POINTER(ctypes.c_float)
            f64p = ctypes.POINTER(ctypes.c_double)
            lib.tb_noise_image.restype = ctypes.c_int
            lib.tb_noise_image.argtypes = [
                f32p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64, ctypes.c_double,
                i64p, i64p, i64p, f32p, ctypes.POINTER(ctypes.c_int),
                ctypes.POINTER(ctypes.c_uint16), f64p, i64p]
            lib.tb_poisson_batch.restype = ctypes.c_int
            lib.tb_poisson_batch.argtypes = [
                f32p, ctypes.c_int64, i64p, i64p, i64p, f32p,
                ctypes.POINTER(ctypes.c_int), f32p]
            _lib = lib
        except Exception:  # no compiler, failed build or load: Python path
            _lib_failed = True
        return _lib


def native_available() -> bool:
    """Whether the native helper is usable (and allowed by :mod:`torchbragg.native`)."""
    return native.enabled() and _native_lib() is not None


class _NativeState:
    """Marshals the generator and deviate state to and from the C helper."""

    def __init__(self, stream: UniformStream, state: DeviateState) -> None:
        self.stream, self.state = stream, state
        self.idum = ctypes.c_int64(stream.idum)
        self.iy = ctypes.c_int64(stream.table.iy)
        self.iv = (ctypes.c_int64 * 32)(*stream.table.iv)
        self.fstate = (ctypes.c_float * 5)(state.oldm, state.g, state.sq, state.alxm,
                                           state.gauss_spare)
        self.gflag = ctypes.c_int(1 if state.gauss_ready else 0)

    def args(self):
        return (ctypes.byref(self.idum), ctypes.byref(self.iy), self.iv, self.fstate,
                ctypes.byref(self.gflag))

    def write_back(self) -> None:
        self.stream.idum = int(self.idum.value)
        self.stream.table.iy = int(self.iy.value)
        self.stream.table.iv[:] = [int(v) for v in self.iv]
        st = self.state
        st.oldm, st.g, st.sq, st.alxm, st.gauss_spare = (float(v) for v in self.fstate)
        st.gauss_ready = bool(self.gflag.value)


def noise_image_native(img_f32: np.ndarray, roi: np.ndarray, adc: float,
                       stream: UniformStream,
                       state: DeviateState | None = None) -> tuple[np.ndarray, float, int]:
    """The C helper's version of :func:`noise_image`; raises RuntimeError if unavailable."""
    lib = _native_lib()
    if lib is None:
        raise RuntimeError("native noise helper unavailable")
    state = state if state is not None else DeviateState()
    img = np.ascontiguousarray(img_f32, dtype=np.float32)
    inroi = np.ascontiguousarray(np.asarray(roi, dtype=bool).reshape(img.shape),
                                 dtype=np.uint8)
    out = np.zeros(img.shape, dtype=np.uint16)
    total = ctypes.c_double(0.0)
    overloads = ctypes.c_int64(0)
    ns = _NativeState(stream, state)
    lib.tb_noise_image(
        img.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
        inroi.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), img.size, float(adc),
        *ns.args(), out.ctypes.data_as(ctypes.POINTER(ctypes.c_uint16)),
        ctypes.byref(total), ctypes.byref(overloads))
    ns.write_back()
    return out, float(total.value), int(overloads.value)


def poisson_batch_native(means: np.ndarray, stream: UniformStream,
                         state: DeviateState | None = None) -> np.ndarray:
    """Successive Poisson deviates of ``means`` (binary32) with the C helper (testing aid)."""
    lib = _native_lib()
    if lib is None:
        raise RuntimeError("native noise helper unavailable")
    state = state if state is not None else DeviateState()
    m = np.ascontiguousarray(means, dtype=np.float32)
    out = np.zeros(m.shape, dtype=np.float32)
    ns = _NativeState(stream, state)
    lib.tb_poisson_batch(m.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), m.size, *ns.args(),
                         out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    ns.write_back()
    return out


def noise_image(img_f32: np.ndarray, roi: np.ndarray, adc: float, stream: UniformStream,
                state: DeviateState | None = None) -> tuple[np.ndarray, float, int]:
    """Noise image of docs/behaviour/formats.md §13.5.

    ``img_f32``: float image (photons, binary32, shape (spixels, fpixels)); ``roi``: boolean,
    True inside the ROI (masked pixels included — their value 0 costs one draw); ``adc``:
    ADC offset (counts); ``stream``: the noise consumer's uniform stream (its shared table is
    updated as the C's would be). Returns (``np.uint16`` image, photon sum as binary64 — print
    with ``%.0f`` —, number of overloads).
    """
    if native_available():
        return noise_image_native(img_f32, roi, adc, stream, state)
    return noise_image_python(img_f32, roi, adc, stream, state)
