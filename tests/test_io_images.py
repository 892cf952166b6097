"""Float, noiseless SMV and PGM pixel data (docs/behaviour/formats.md §7.3, §9, §10) and statistics
(§11)."""
from __future__ import annotations

import math

import numpy as np

from torchbragg.io.images import (float_image_bytes, int_image, intfile_scale, pgm_bytes,
                                  pgm_header, pgm_pixels, pgm_scale)
from torchbragg.io.stats import image_statistics
from torchbragg.rng import fl32

# docs/behaviour/formats.md §13.6: slow row 7 of the 16x16 float image (%.9g identifies binary32
# values exactly)
ROW7 = [2.52623153, 0.725219548, 0.534888923, 0.403268814, 0.403176904, 0.535318255,
        0.725325704, 2.53196406, 15.6942434, 15.6942596, 2.53197145, 0.72532934, 0.535322011,
        0.40318051, 0.403273255, 0.534895897]
ROW7_INT = [1468, 450, 342, 268, 268, 343, 450, 1472, 8913, 8913, 1472, 450, 343, 268, 268, 342]


def test_spec_end_to_end_noiseless_row():
    max_I = fl32(97.2806091)
    scale = intfile_scale(0, max_I)
    assert "%g" % scale == "565.375"
    row = np.array([ROW7], dtype=np.float32)
    assert [fl32(v) for v in ROW7] == row[0].astype(np.float64).tolist()
    assert int_image(row, scale, 40.0).tolist() == [ROW7_INT]


def test_int_image_rules():
    img = np.array([[1.0, 1.0, -5.0, 1e9, 0.0, float("nan")]], dtype=np.float32)
    roi = np.array([[True, False, True, True, True, True]])
    out = int_image(img, 2.49999999, 0.0, roi)
    # 2.49999999 + 0.5 rounds to 3.0 in binary32: 3, not 2; outside the ROI 0; clip to 0 and
    # 65535; zero pixel stores round(adc) = 0 here
    assert out.dtype == np.uint16
    assert out.tolist() == [[3, 0, 0, 65535, 0, 0]]
    assert int_image(np.zeros((1, 2), np.float32), 5.0, 40.0).tolist() == [[40, 40]]
    assert int_image(np.zeros((1, 1), np.float32), 5.0, 39.6).tolist() == [[40]]


def test_float_image_bytes():
    img = np.array([[1.5, 2.0], [3.0, -0.0]], dtype=np.float32)
    assert float_image_bytes(img) == np.array([1.5, 2.0, 3.0, -0.0], "<f4").tobytes()


def test_scales():
    assert intfile_scale(2.5, 100.0) == 2.5
    assert intfile_scale(0, 100.0) == 550.0
    assert intfile_scale(-1, 0.0) == 1.0
    assert pgm_scale(3.0, 550.0, 10.0) == 3.0
    assert pgm_scale(0, 550.0, 10.0) == 250.0 / (5.0 * 10.0)
    assert pgm_scale(0, 550.0, 0.0) == 550.0


def test_pgm():
    assert pgm_header(16, 16, 4.04693) == b"P5\n16 16\n# pixels scaled by 4.04693\n255\n"
    img = np.array([[0.9, 1.99, 100.0], [63.74, 0.0, 2.0]], dtype=np.float32)
    roi = np.array([[True, True, True], [True, True, False]])
    assert pgm_pixels(img, 4.0, roi).tolist() == [[3, 7, 255], [254, 0, 0]]
    data = pgm_bytes(img, 4.0, roi)
    assert data == b"P5\n3 2\n# pixels scaled by 4\n255\n" + bytes([3, 7, 255, 254, 0, 0])


def test_statistics_definitions():
    img = np.array([[1.0, 5.0, 5.0], [2.0, 0.0, 7.0]], dtype=np.float32)
    roi = np.array([[True, True, True], [True, True, False]])
    rendered = roi.copy()
    rendered[1, 1] = False  # masked
    st = image_statistics(img, rendered, roi)
    assert st.max_I == 5.0 and st.max_index == (0, 1)  # first maximum; 7 is outside the ROI
    assert st.n_rendered == 4
    assert st.mean == 13.0 / 4
    assert st.rms == math.sqrt((1 + 25 + 25 + 4) / 3)
    dev = [(v - 13.0 / 4) ** 2 for v in (1.0, 5.0, 5.0, 2.0, 0.0)]  # masked pixel included
    assert math.isclose(st.rmsd, math.sqrt(sum(dev) / 4), rel_tol=1e-15)


def test_statistics_empty_and_zero():
    img = np.zeros((2, 2), np.float32)
    none = np.zeros((2, 2), bool)
    st = image_statistics(img, none, none)
    assert (st.max_I, st.max_index, st.mean, st.rms, st.rmsd, st.n_rendered) == \
        (0.0, None, 0.0, 0.0, 0.0, 0)
    one = np.array([[True, False], [False, False]])
    st = image_statistics(np.array([[4.0, 0], [0, 0]], np.float32), one, one)
    assert st.rms == 4.0 and st.rmsd == 0.0 and st.max_index == (0, 0)


def test_sequential_summation_order():
    # values whose double sum depends on the order: 1e16 + 1 + 1 ... sequentially stays 1e16
    vals = np.array([[1e16] + [1.0] * 7], dtype=np.float32)
    roi = np.ones(vals.shape, bool)
    st = image_statistics(vals, roi, roi)
    s = 0.0
    for v in vals.astype(np.float64).ravel():
        s += v
    assert st.mean == s / vals.size


def test_non_finite_pixels_raise_no_numpy_warnings():
    """An image holding inf and NaN (e.g. an overflowing run) is written as the C writes it,
    without numpy RuntimeWarnings on stderr (found by the random differential check)."""
    import warnings

    img = np.array([[np.inf, 1.0], [np.nan, 3.4e38]], dtype=np.float32)
    everything = np.ones(img.shape, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats = image_statistics(img, everything, everything)
        assert math.isinf(stats.mean) or math.isnan(stats.mean)
        assert math.isnan(stats.rmsd) or math.isinf(stats.rmsd)
        ints = int_image(img, 0.0, 40.0)
        pgm_bytes(img, math.inf)
    assert ints[0, 1] == 40 and ints[1, 0] == 0  # inf·0 and NaN give 0 before the offset
