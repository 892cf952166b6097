"""Write the float, SMV, PGM and noise images and print the final report
(docs/behaviour/cli.md §8.4, §9)."""
from __future__ import annotations

import sys

import numpy as np

from torchbragg.cfloat import fmt
from torchbragg.cli.report import g, solid_angle_line
from torchbragg.io.atomic import OutputSet, check_output
from torchbragg.io.images import float_image_bytes, int_image, intfile_scale, pgm_bytes, pgm_scale
from torchbragg.io.noise import noise_image
from torchbragg.io.smv import SMVHeader, format_smv_header, smv_bytes
from torchbragg.io.stats import image_statistics
from torchbragg.region import Region
from torchbragg.rng import UniformStream


def planned_outputs(options) -> list:
    """The files a run will write (``options``: :class:`~torchbragg.cli.state.RunOptions`), in
    order (docs/behaviour/cli.md §9)."""
    files = [options.floatfile, options.intfile]
    if options.write_pgm:
        files.append(options.pgmfile)
    if options.write_noise:
        files.append(options.noisefile)
    return files


def check_writable(options) -> None:
    """Fail before rendering if an output cannot be replaced (:func:`check_output`): missing
    or read-only folder, a folder or immutable file at the name, a name too long."""
    for path in planned_outputs(options):
        check_output(path)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def smv_header(exp) -> SMVHeader:
    det, cfg = exp.detector, exp.config
    return SMVHeader.from_si(
        fpixels=det.fpixels, spixels=det.spixels, pixel_size=det.pixel_size_m,
        distance=det.distance_m, wavelength=cfg.beam.wavelength_m, xbeam=det.xbeam_m,
        ybeam=det.ybeam_m, fbeam=det.fbeam_m, sbeam=det.sbeam_m, detsize_s=det.detsize_s_m,
        dials_origin_mm=det.dials_origin_mm, orgx=det.orgx_px, orgy=det.orgy_px,
        close_distance=det.close_distance_m, phi0=cfg.crystal.phi0_rad, osc=exp.phi.range,
        twotheta=det.twotheta_rad)


def write_outputs(loaded, exp, result, rendered: np.ndarray, table, outputs: OutputSet) -> None:
    """Outputs in the C's order: float, int, PGM, noise, staged in ``outputs`` (the caller
    commits them); report lines between them."""
    st = loaded.options
    det = exp.detector
    img = result.image.detach().cpu().numpy()
    roi = Region.of(det.fpixels, det.spixels, exp.config.sampling.roi).mask()
    stats = image_statistics(img, rendered, roi)
    _out("")
    _out(solid_angle_line(result.omega_sum, exp.steps))
    _out(f"writing {st.floatfile} as {img.size} 4-byte floats")
    outputs.stage(st.floatfile, float_image_bytes(img))
    n = exp.oversample
    delta = det.pixel_size_m / n
    if stats.max_index is not None:
        s, f = stats.max_index
        fd = delta * (f * n + n - 1) + delta / 2.0
        sd = delta * (s * n + n - 1) + delta / 2.0
    else:
        fd = sd = 0.0
    _out(f"max_I = {g(stats.max_I)}  at {g(fd)} {g(sd)}")
    _out(f"mean= {g(stats.mean)} rms= {g(stats.rms)} rmsd= {g(stats.rmsd)}")
    scale = intfile_scale(st.scale, stats.max_I)
    _out(f"intfile_scale = {g(scale)}")
    header = smv_header(exp)
    _out(f"writing {st.intfile} as 2-byte integers")
    head = format_smv_header(header)
    outputs.stage(st.intfile, smv_bytes(head, int_image(img, scale, st.adc, roi)))
    if st.write_pgm:
        pscale = pgm_scale(st.pgmscale, scale, stats.rmsd)
        _out(f"pgm_scale = {g(pscale)}")
        _out(f"writing {st.pgmfile} as 1-byte integers")
        outputs.stage(st.pgmfile, pgm_bytes(img, pscale, roi))
    if st.write_noise:
        noisy, photons, overloads = noise_image(img, roi, st.adc, UniformStream(table, st.seed))
        _out(f"{fmt('%.0f', photons)} photons on noise image ({overloads:d} overloads)")
        _out(f"writing {st.noisefile} as 2-byte integers")
        outputs.stage(st.noisefile, smv_bytes(head, noisy))
    sys.stdout.flush()
