"""Image comparator metrics and previews on synthetic float32 images."""
from __future__ import annotations

import json

import numpy as np
import pytest

from torchbragg.parity.cli import main
from torchbragg.parity.compare_images import (
    ImageError, crop, image_metrics, judge, local_maxima, read_float_image, top_peaks,
)
from torchbragg.parity.previews import FOOTER_H, write_previews


def _spots(shape=(40, 50), centres=((10, 12), (25, 30), (32, 8)), shift=(0, 0)):
    s, f = np.mgrid[0:shape[0], 0:shape[1]]
    img = np.zeros(shape, dtype=np.float64)
    for i, (cs, cf) in enumerate(centres):
        img += (100 - 20 * i) * np.exp(-((s - cs - shift[0]) ** 2 + (f - cf - shift[1]) ** 2) / 3)
    return img.astype(np.float32)


def test_identical_images():
    a = _spots()
    m = image_metrics(a, a.copy())
    assert m["byte_identical"] and m["pixels_differing"] == 0
    assert m["pearson_r"] == pytest.approx(1.0)
    assert m["rmse"] == 0 and m["max_abs_diff"] == 0 and m["relative_l2"] == 0
    assert m["sum_ratio"] == 1 and m["max_rel_diff"] == 0
    assert m["peaks"]["found"] == 3 and m["peaks"]["fraction_matched"] == 1
    assert judge(m, 0.0)


def test_scaled_image_metrics():
    a = _spots()
    b = (a * np.float32(1.01)).astype(np.float32)
    m = image_metrics(a, b)
    assert not m["byte_identical"]
    assert m["sum_ratio"] == pytest.approx(1.01, rel=1e-6)
    assert m["relative_l2"] == pytest.approx(0.01, rel=1e-5)
    assert m["max_abs_diff_over_max_ref"] == pytest.approx(0.01, rel=1e-5)
    assert m["max_rel_diff"] == pytest.approx(0.01, abs=2e-3)  # tiny pixels round
    assert m["pearson_r"] == pytest.approx(1.0, abs=1e-9)
    assert m["max_abs_diff_at"] == [10, 12]
    assert m["pixels_differing"] == np.count_nonzero(b != a) > 100
    assert judge(m, 0.02) and not judge(m, 0.005)


def test_rmse_and_pearson_against_numpy():
    rng = np.random.default_rng(1)
    a = rng.random((30, 20)).astype(np.float32)
    b = (a + rng.normal(0, 0.1, a.shape)).astype(np.float32)
    m = image_metrics(a, b)
    d = b.astype(np.float64) - a
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(d * d)))
    assert m["pearson_r"] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_peak_registration_tolerates_one_pixel_not_two():
    a = _spots()
    assert image_metrics(a, _spots(shift=(1, -1)))["peaks"]["fraction_matched"] == 1
    moved = image_metrics(a, _spots(shift=(2, 0)))["peaks"]
    assert moved["matched"] == 0 and len(moved["unmatched"]) == 3


def test_top_peaks_order_and_local_maxima():
    a = _spots()
    peaks = top_peaks(a, 2)
    assert [(s, f) for s, f, _ in peaks] == [(10, 12), (25, 30)]
    assert local_maxima(np.zeros((4, 4))).sum() == 0
    assert local_maxima(np.full((4, 4), 2.0)).sum() == 1       # a plateau is one maximum


def test_zero_reference_and_nonfinite():
    z = np.zeros((4, 4), np.float32)
    m = image_metrics(z, z)
    assert m["pearson_r"] == 1.0 and judge(m, 0)
    one = z.copy()
    one[1, 1] = 1
    m = image_metrics(z, one)
    assert m["max_abs_diff_over_max_ref"] is None and not judge(m, 1.0)
    nan = one.copy()
    nan[0, 0] = np.nan
    m = image_metrics(one, nan)
    assert m["nonfinite_test"] == 1 and not judge(m, 1.0)
    json.dumps(m, allow_nan=False)


def test_read_and_crop(tmp_path):
    a = _spots()
    path = tmp_path / "a.bin"
    a.astype("<f4").tofile(path)
    back = read_float_image(path, 50, 40)
    assert back.shape == (40, 50) and np.array_equal(back, a)
    assert crop(back, (10, 12, 5, 6)).shape == (2, 3)
    assert crop(back, (10, 12, 5, 6))[0, 0] == a[5, 10]
    with pytest.raises(ImageError):
        read_float_image(path, 50, 41)
    with pytest.raises(ImageError):
        crop(back, (0, 50, 0, 1))


def test_previews_are_png(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    a = _spots()
    names = write_previews(a, a * 1.1, tmp_path)
    assert names == ["ref.png", "test.png", "diff.png"]
    for name in names:
        with Image.open(tmp_path / name) as im:
            # enlarged x5, the legend strip below
            assert im.format == "PNG" and im.size == (250, 200 + FOOTER_H)
    big = np.zeros((2100, 1500), np.float32)
    big[1000, 700] = 5
    write_previews(big, big, tmp_path)
    with Image.open(tmp_path / "ref.png") as im:
        assert max(im.size) <= 1024 + FOOTER_H
        body = np.asarray(im)[:-FOOTER_H]
        assert body.max() == 255     # the single bright pixel survives pooling


def test_cli_compare_images(tmp_path, capsys):
    a = _spots()
    ref, test = tmp_path / "ref.bin", tmp_path / "test.bin"
    a.tofile(ref)
    (a * np.float32(1.001)).astype(np.float32).tofile(test)
    out = tmp_path / "cmp"
    args = ["compare-images", "--ref", str(ref), "--test", str(test), "--fpixels", "50",
            "--spixels", "40"]
    assert main(args + ["--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("# FAIL") and "Pearson r" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verdict"] == "FAIL" and metrics["image"]["peaks"]["matched"] == 3
    assert {"ref.png", "test.png", "diff.png", "summary.md"} <= {p.name for p in out.iterdir()}
    assert main(args + ["--tolerance", "1e-2"]) == 0
    assert main(args + ["--roi", "0", "4", "0", "4", "--tolerance", "1e-2"]) == 0
    assert main(["compare-images", "--ref", str(ref), "--test", str(test), "--fpixels", "10",
                 "--spixels", "10"]) == 2
    assert "expected 400 (" in capsys.readouterr().err
