"""From argv to a frozen :class:`~torchbragg.config.SimulationConfig`
(docs/behaviour/cli.md §1, §6).

Order: profile pre-pass, ``-mask`` then ``-img`` headers, the flag scan, then every precedence
rule in one place, then the input files (matrix, HKL or Fdump cache, sources, mask pixels).
Console lines the C prints while reading go to ``log`` (stdout) in the C's order.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from torchbragg.cli.flags import header_files, profile_name, scan
from torchbragg.cli.state import ParseState
from torchbragg.compat import get_profile
from torchbragg.config import (BeamConfig, CrystalConfig, DetectorConfig, SamplingConfig,
                               SimulationConfig, StructureFactors)
from torchbragg.errors import InputError, UsageError
from torchbragg.io.files import opens
from torchbragg.physics.vec3 import RTD


@dataclass
class LoadedRun:
    """A parsed command line: the config plus what the console and writers need."""

    config: SimulationConfig
    state: ParseState
    pre_banner: List[str] = field(default_factory=list)  # lines before the banner
    stderr: List[str] = field(default_factory=list)
    mask: Optional[np.ndarray] = None
    hkl_log: List[str] = field(default_factory=list)  # lines printed while reading F
    sf_table: object = None
    warnings: List[str] = field(default_factory=list)  # unknown flags (stderr, at once)


def _apply_header(state: ParseState, img, is_mask: bool) -> None:
    """docs/behaviour/formats.md §8.3: header keys preset detector and beam values (no pivot
    change; CLOSE_DISTANCE wins over -distance, TWOTHETA is ignored, the mask's BEAM_CENTER_Y
    is flipped: docs/behaviour/quirks.md Q34, Q24)."""
    def get(key):
        v = img.get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
    v = get("SIZE1")
    if v is not None:
        state.fpixels = int(v)
    v = get("SIZE2")
    if v is not None:
        state.spixels = int(v)
    v = get("PIXEL_SIZE")
    if v is not None:
        state.pixel = v / 1000.0
    # the extent follows the header's pixel counts at once, with or without PIXEL_SIZE: the
    # mask's BEAM_CENTER_Y below is measured from it (docs/behaviour/formats.md §8.3)
    state.detsize_f = state.pixel * state.fpixels
    state.detsize_s = state.pixel * state.spixels
    v = get("DISTANCE")
    if v is not None:
        state.distance = v / 1000.0
    v = get("CLOSE_DISTANCE")
    if v is not None:
        state.close_distance = v / 1000.0
    v = get("WAVELENGTH")
    if v is not None:
        state.wavelength = v * 1e-10
    v = get("BEAM_CENTER_X")
    if v is not None:
        state.xbeam = v / 1000.0
    v = get("BEAM_CENTER_Y")
    if v is not None:
        state.ybeam = state.detsize_s - v / 1000.0 if is_mask else v / 1000.0
    v = get("ORGX")
    if v is not None:
        state.orgx = v
    v = get("ORGY")
    if v is not None:
        state.orgy = v
    v = get("PHI")
    if v is not None:
        state.phi0 = v / RTD
    v = get("OSC_RANGE")
    if v is not None:
        state.osc = v / RTD


def _read_header_file(path: str, is_mask: bool, state: ParseState, run: LoadedRun):
    """Strict: a missing, unreadable, truncated or non-SMV file is an error (the C
    prints a message and runs on without the header or mask)."""
    from torchbragg.io.smv import read_smv_strict

    img = read_smv_strict(path, "-mask" if is_mask else "-img", need_pixels=is_mask)
    run.pre_banner.append(f"reading {path}")
    run.pre_banner.append(f"mmap({path}) = 0x0")
    _apply_header(state, img, is_mask)
    return img


#: The most pixels a detector may have (the C reference refuses more, csrc/nb_main.c).
MAX_DETECTOR_PIXELS = 4e9


def _pixel_count(extent_m: float, pixel_m: float) -> float:
    """``ceil(extent/pixel - 0.5)`` (docs/behaviour/cli.md §2.4) as a float: an absurd ratio
    (``-detsize 1e308``) stays a comparable number instead of overflowing an integer."""
    if not pixel_m:
        return 0.0
    ratio = extent_m / pixel_m - 0.5
    return float(math.ceil(ratio)) if math.isfinite(ratio) else ratio


def parse_argv(argv: Sequence[str], now: Optional[int] = None) -> LoadedRun:
    """Scan ``argv`` and resolve precedence; returns the config and console bookkeeping."""
    from torchbragg.cli.strict import check_argv

    argv = [a for a in argv if a != "--debug"]
    profile = get_profile(profile_name(argv))
    state = ParseState()
    run = LoadedRun(config=SimulationConfig(), state=state)
    run.warnings = check_argv(argv)
    img_path, mask_path = header_files(argv)
    mask_img = None
    if mask_path is not None:
        mask_img = _read_header_file(mask_path, True, state, run)
    if img_path is not None:
        _read_header_file(img_path, False, state, run)
    scan(argv, state, profile)
    start_seed = -int(now if now is not None else time.time())
    if state.seed is None:
        state.seed = start_seed
    misset_seed = state.misset_seed if state.misset_seed is not None else start_seed
    if state.hklfile is None and state.default_F == 0 and not opens(state.dumpfile):
        # checked before the cell (docs/behaviour/cli.md §7: no arguments at all print this line
        # too)
        raise UsageError("no hkl file and no dump file to read.",
                         prefix="ERROR: no hkl file and no dump file to read.")
    if not argv or (state.matfile is None and (state.cell is None or state.cell[0] <= 0)):
        raise UsageError("no -mat file and no positive -cell edge given")
    # pixel count vs extent (docs/behaviour/cli.md §2.4)
    if state.fpixels != 0:
        state.detsize_f = state.pixel * state.fpixels
    if state.spixels != 0:
        state.detsize_s = state.pixel * state.spixels
    fpixels = _pixel_count(state.detsize_f, state.pixel)
    spixels = _pixel_count(state.detsize_s, state.pixel)
    if fpixels <= 0 or spixels <= 0 or fpixels * spixels > MAX_DETECTOR_PIXELS:
        raise InputError(f"detector has {fpixels:.6g}x{spixels:.6g} pixels: check "
                         "-detpixels/-detsize/-pixel")
    fpixels, spixels = int(fpixels), int(spixels)
    if mask_img is not None:
        run.mask = _detector_mask(mask_img, mask_path, fpixels, spixels, profile, run)
        state.maskfile, state.maskfile_used = mask_path, True
    roi = None
    if state.roi is not None:
        xmin, xmax, ymin, ymax = state.roi
        roi = (xmin if xmin >= 0 else 0, xmax if xmax >= 0 else fpixels,
               ymin if ymin >= 0 else 0, ymax if ymax >= 0 else spixels)
    else:
        roi = (0, fpixels, 0, spixels)
    amatrix = _read_matrix(state)
    sources = _read_sources(state)
    for flag, path in state.stolfiles:
        _read_stol(flag, path, run)
    vec = state.vectors
    detector = DetectorConfig(
        convention=state.convention, pivot=state.pivot, pixel_size_m=state.pixel,
        fpixels=fpixels, spixels=spixels, detsize_f_m=state.detsize_f,
        detsize_s_m=state.detsize_s, distance_m=state.distance,
        close_distance_m=state.close_distance, xbeam_m=state.xbeam, ybeam_m=state.ybeam,
        xclose_m=state.xclose, yclose_m=state.yclose, orgx_px=state.orgx, orgy_px=state.orgy,
        rotx_rad=state.rotx, roty_rad=state.roty, rotz_rad=state.rotz,
        twotheta_rad=state.twotheta, fdet_vector=vec.get("fdet"), sdet_vector=vec.get("sdet"),
        odet_vector=vec.get("odet"), beam_vector=vec.get("beam"), polar_vector=vec.get("polar"),
        spindle_axis=vec.get("spindle"), twotheta_axis=vec.get("twotheta_axis"),
        pix0_vector_m=state.pix0_vector, curved=state.curved, point_pixel=state.point_pixel,
        thickness_m=state.thickness, mu_per_m=state.mu, thicksteps=state.thicksteps)
    beam = BeamConfig(
        wavelength_m=state.wavelength, fluence_per_m2=state.fluence, flux_per_s=state.flux,
        exposure_s=state.exposure, beamsize_m=state.beamsize,
        dispersion_fraction=state.dispersion, dispsteps=state.dispsteps,
        hdivrange_rad=state.hdivrange, vdivrange_rad=state.vdivrange,
        hdivstep_rad=state.hdivstep, vdivstep_rad=state.vdivstep, hdivsteps=state.hdivsteps,
        vdivsteps=state.vdivsteps, round_div=state.round_div, sources=sources,
        kahn_factor=state.kahn, nopolar=state.nopolar)
    cell = None
    if state.cell is not None and state.cell[0] > 0:
        a, b, c, al, be, ga = state.cell
        b = b if b > 0 else a
        c = c if c > 0 else a
        al, be, ga = (x if x > 0 else math.pi / 2.0 for x in (al, be, ga))
        cell = (a, b, c, al, be, ga)
    crystal = CrystalConfig(
        cell_A_rad=cell, amatrix=amatrix, misset_rad=state.misset,
        misset_random=state.misset_random, misset_seed=misset_seed, Na=state.Na, Nb=state.Nb,
        Nc=state.Nc, sample_x_m=state.sample_x, sample_y_m=state.sample_y,
        sample_z_m=state.sample_z, shape=state.shape, fudge=state.fudge,
        mosaic_spread_rad=state.mosaic_spread, mosaic_domains=state.mosaic_domains,
        mosaic_seed=state.mosaic_seed, phi0_rad=state.phi0, osc_rad=state.osc,
        phistep_rad=state.phistep, phisteps=state.phisteps)
    sampling = SamplingConfig(
        oversample=state.oversample, oversample_thick=state.oversample_thick,
        oversample_polar=state.oversample_polar, oversample_omega=state.oversample_omega,
        interpolate=state.interpolate, dmin_m=state.dmin, water_m=state.water, roi=roi,
        mask=run.mask)
    run.config = SimulationConfig(detector, beam, crystal, StructureFactors(state.default_F),
                                  sampling, profile)
    from torchbragg.cli import limits

    # (binary64 estimate in both modes: float32 keeps its Miller indices in binary64)
    limits.check(limits.counts_from_config(run.config))
    return run


def _detector_mask(mask_img, path: str, fpixels: int, spixels: int, profile,
                   run: LoadedRun) -> np.ndarray:
    """Boolean (spixels, fpixels) mask, True where a pixel is rendered
    (docs/behaviour/formats.md §8.4).

    A mask of another size is read as the C reads it (Q37): its values in file order, indexed
    with the detector's flat pixel index; pixels past its end count as 0. ``-profile
    corrected`` refuses it."""
    size = (mask_img.width, mask_img.height)
    if size == (fpixels, spixels):
        return mask_img.pixels != 0
    problem = (f"-mask {path}: {size[0]}x{size[1]} pixels but the detector has "
               f"{fpixels}x{spixels}")
    if not profile.mask_any_size:
        raise InputError(problem)
    run.warnings.append(f"warning: {problem}; read with the detector's pixel indices, as the C "
                        "does (-profile corrected refuses it)")
    flat = np.zeros(fpixels * spixels, dtype=bool)
    values = np.asarray(mask_img.pixels).reshape(-1)[:flat.size] != 0
    flat[:values.size] = values
    return flat.reshape(spixels, fpixels)


def load_structure_factors(run: LoadedRun, log: Callable[[str], None], outputs=None,
                           write_cache: bool = True) -> None:
    """HKL file (and cache write unless ``write_cache`` is false), else the cache file, else
    ``default_F`` (docs/behaviour/cli.md §6 item 11).

    With ``outputs`` (an :class:`~torchbragg.io.atomic.OutputSet`) the cache is staged there
    and reaches its place only when the run's outputs are committed: a run that fails later
    (a work limit, no CUDA device, an unwritable image) leaves an existing cache untouched.
    The console line is the C's either way (``WARNING: unable to open dump file`` when the
    cache cannot be written)."""
    from dataclasses import replace

    from torchbragg.errors import OutputError
    from torchbragg.io.atomic import check_output
    from torchbragg.io.fdump import fdump_bytes, read_fdump, write_fdump
    from torchbragg.io.hkl import read_hkl

    st = run.state
    table = None
    if st.hklfile is not None:
        table = read_hkl(st.hklfile, st.default_F, log, strict=True)
        if write_cache:
            try:
                if outputs is None:
                    write_fdump(st.dumpfile, table)
                else:
                    check_output(st.dumpfile)
                    outputs.stage(st.dumpfile, fdump_bytes(table))
                log(f"writing dump file for next time: {st.dumpfile}")
            except OutputError:
                log(f"WARNING: unable to open dump file: {st.dumpfile}")
    else:  # the cache file is read even with -default_F (docs/behaviour/quirks.md Q29)
        table = read_fdump(st.dumpfile, run.stderr.append)
        if table is not None:
            log(f"reading Fs from {st.dumpfile}")
        elif st.default_F == 0:
            raise UsageError("no hkl file and no dump file to read.",
                             prefix="ERROR: no hkl file and no dump file to read.")
    run.sf_table = table
    if table is not None:
        sf = StructureFactors(default_F=st.default_F, origin=(table.h_min, table.k_min, table.l_min),
                              ranges=(table.h_range, table.k_range, table.l_range),
                              grid=table.grid, count=table.count)
        run.config = replace(run.config, structure_factors=sf)


def _read_matrix(state: ParseState):
    if state.matfile is None:
        return None
    from torchbragg.io.matfile import read_mat_strict

    return tuple(read_mat_strict(state.matfile))


def _read_sources(state: ParseState):
    if state.sourcefile is None:
        return None
    from torchbragg.io.columns import read_sources_strict

    rows = read_sources_strict(state.sourcefile)
    return tuple(tuple(r) for r in rows)


def _read_stol(flag: str, path: str, run: LoadedRun) -> None:
    from torchbragg.io.columns import read_columns

    run.hkl_log.append(f"reading {path}")
    try:
        rows = read_columns(path, 2)
    except InputError as exc:
        raise InputError(f"{flag} {path}: {exc}") from None
    if not rows:
        raise InputError(f"{flag} {path}: no data in input file")
