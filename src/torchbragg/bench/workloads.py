"""The benchmark workloads as nanoBragg argument lists."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

W1 = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -pixel 0.1 "
      "-detpixels 1024").split()
W2 = W1 + "-mosaic 0.5 -mosaic_domains 10 -phisteps 5 -osc 0.5 -oversample 2".split()
W3 = W1 + ("-hdivrange 0.5 -vdivrange 0.5 -hdivsteps 5 -vdivsteps 5 -dispersion 0.5 "
           "-dispsteps 3").split()
W4_TEMPLATE = (
    "-mat {inputs}/A.mat -hkl {inputs}/scaled.hkl -nointerpolate -oversample 1 -exposure 1 "
    "-flux 1e18 -beamsize 1.0 -spindle_axis -1 0 0 -Xbeam 217.742295 -Ybeam 213.907080 "
    "-distance 231.274660 -lambda 0.976800 -pixel 0.172 -detpixels_x 2463 -detpixels_y 2527 "
    "-odet_vector -0.000088 0.004914 -0.999988 -sdet_vector -0.005998 -0.999970 -0.004913 "
    "-fdet_vector 0.999982 -0.005998 -0.000118 -pix0_vector_mm -216.336293 215.205512 "
    "-230.200866 -beam_vector 0.00051387949 0.0 -0.99999986 -Na 36 -Nb 47 -Nc 29 -osc 0.1 "
    "-phi 0 -phisteps 10 -detector_rotx 0 -detector_roty 0 -detector_rotz 0 -twotheta 0")
COMMON = "-nonoise -nopgm -noprogress".split()
#: W5: W1 with the project's own generated HKL table (:mod:`torchbragg.parity.crystal_inputs`,
#: indices to ±75, so every evaluation of this detector stays inside the 4x4x4 neighbourhood),
#: -N 2 (tricubic interpolation on by default, docs/behaviour/physics.md §7.5) and 16 sub-pixels
_N = W1.index("-N")
W5_TEMPLATE = W1[:_N] + ["-N", "2"] + W1[_N + 2:] + ["-hkl", "{hkl}", "-oversample", "4"]


def inputs_dir() -> Optional[Path]:
    """``$TORCHBRAGG_INPUTS`` or ``../shared/golden/inputs`` beside the checkout."""
    env = os.environ.get("TORCHBRAGG_INPUTS")
    repo = Path(__file__).resolve().parents[3]
    for path in ([Path(env)] if env else []) + [repo.parent / "shared" / "golden" / "inputs"]:
        if (path / "A.mat").is_file() and (path / "scaled.hkl").is_file():
            return path
    return None


def generated_hkl() -> Optional[Path]:
    """The generated ``crystal.hkl`` (written into the cache on first use), or None."""
    from torchbragg.parity.crystal_inputs import HKL_NAME, write_crystal_inputs

    try:
        return write_crystal_inputs()[HKL_NAME]
    except OSError:
        return None


def workloads() -> Dict[str, Optional[List[str]]]:
    """Name → argv (None when the inputs of W4 or W5 are not available)."""
    inputs = inputs_dir()
    w4 = W4_TEMPLATE.format(inputs=inputs).split() if inputs else None
    hkl = generated_hkl()
    w5 = [a.format(hkl=hkl) for a in W5_TEMPLATE] if hkl else None
    return {"W1": W1 + COMMON, "W2": W2 + COMMON, "W3": W3 + COMMON,
            "W4": w4 + COMMON if w4 else None, "W5": w5 + COMMON if w5 else None}
