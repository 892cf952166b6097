"""Golden cases: rebuild the noiseless SMV and PGM files from the stored float image and
compare byte for byte; check the printed statistics and scales
(docs/behaviour/formats.md §7.3, §10, §11)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from torchbragg.io.images import int_image, intfile_scale, pgm_bytes, pgm_scale
from torchbragg.io.smv import read_smv, smv_bytes
from torchbragg.io.stats import image_statistics
from torchbragg.region import Region
from conftest import find_golden, golden_cases

CASES = golden_cases(find_golden())


def _flag(argv, name, default):
    return float(argv[argv.index(name) + 1]) if name in argv else default


def _load(golden_dir, name):
    folder = golden_dir / name
    case = json.loads((folder / "case.json").read_text())
    F, S = case["fpixels"], case["spixels"]
    img = np.fromfile(folder / case["outputs"]["floatfile"], "<f4").reshape(S, F)
    stdout = (folder / "stdout.txt").read_text()
    m = re.search(r"roi: (-?\d+) < x < (-?\d+) && (-?\d+) < y < (-?\d+)", stdout)
    roi = Region.of(F, S, tuple(map(int, m.groups()))).mask()
    rendered = roi.copy()
    argv = case["argv"]
    if "-mask" in argv:
        rendered &= read_smv(folder / argv[argv.index("-mask") + 1]).pixels != 0
    return folder, case, img, stdout, roi, rendered


@pytest.mark.parametrize("name", CASES)
def test_int_and_pgm_images(golden_dir, name):
    folder, case, img, stdout, roi, rendered = _load(golden_dir, name)
    argv = case["argv"]
    st = image_statistics(img, rendered, roi)
    assert f"max_I = {st.max_I:g}  at " in stdout
    assert f"mean= {st.mean:g} rms= {st.rms:g} rmsd= {st.rmsd:g}" in stdout
    scale = intfile_scale(_flag(argv, "-scale", 0.0), st.max_I)
    assert f"intfile_scale = {scale:g}" in stdout.splitlines()
    ref = (folder / case["outputs"]["intfile"]).read_bytes()
    head = ref[:len(ref) - 2 * img.size]
    assert smv_bytes(head, int_image(img, scale, _flag(argv, "-adc", 40.0), roi)) == ref
    if "pgmfile" in case["outputs"]:
        ps = pgm_scale(_flag(argv, "-pgmscale", 0.0), scale, st.rmsd)
        assert f"pgm_scale = {ps:g}" in stdout.splitlines()
        assert pgm_bytes(img, ps, roi) == (folder / case["outputs"]["pgmfile"]).read_bytes()


def test_mask_case_rmsd_includes_masked_pixels(golden_dir):
    _, _, img, stdout, roi, rendered = _load(golden_dir, "mask_file_header")
    assert (roi & ~rendered).any()
    st = image_statistics(img, rendered, roi)
    alt = image_statistics(img, rendered, rendered)
    assert f"rmsd= {st.rmsd:g}" in stdout and f"rmsd= {alt.rmsd:g}" not in stdout
