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
from torchbragg.cli.state import ParseState, RunOptions
from torchbragg.cli.strict import check_argv
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
    options: RunOptions
    pre_banner: List[str] = field(default_factory=list)  # lines before the banner
    stderr: List[str] = field(default_factory=list)
    mask: Optional[np.ndarray] = None
    hkl_log: List[str] = field(default_factory=list)  # lines printed while reading F
    sf_table: object = None
    warnings: List[str] = field(default_factory=list)  # unknown flags (stderr, at once)


#: SMV header keys that preset a value, with the target and the unit conversion (the C's)
_HEADER_KEYS = (
    ("SIZE1", "detector.fpixels", int), ("SIZE2", "detector.spixels", int),
    ("PIXEL_SIZE", "detector.pixel_size_m", lambda v: v / 1000.0),
    ("DISTANCE", "detector.distance_m", lambda v: v / 1000.0),
    ("CLOSE_DISTANCE", "detector.close_distance_m", lambda v: v / 1000.0),
    ("WAVELENGTH", "beam.wavelength_m", lambda v: v * 1e-10),
    ("BEAM_CENTER_X", "detector.xbeam_m", lambda v: v / 1000.0),
    ("ORGX", "detector.orgx_px", lambda v: v), ("ORGY", "detector.orgy_px", lambda v: v),
    ("PHI", "crystal.phi0_rad", lambda v: v / RTD),
    ("OSC_RANGE", "crystal.osc_rad", lambda v: v / RTD),
)


def _apply_header(state: ParseState, img, is_mask: bool) -> None:
    """docs/behaviour/formats.md §8.3: header keys preset detector and beam values (no pivot
    change; CLOSE_DISTANCE wins over -distance, TWOTHETA is ignored, the mask's BEAM_CENTER_Y
    is flipped: docs/behaviour/quirks.md Q34, Q24)."""
    def get(key):
        v = img.get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
    for key, target, conv in _HEADER_KEYS:
        if get(key) is not None:
            state[target] = conv(get(key))
    # the extent follows the header's pixel counts at once, with or without PIXEL_SIZE: the
    # mask's BEAM_CENTER_Y below is measured from it (docs/behaviour/formats.md §8.3)
    pixel = state["detector.pixel_size_m"]
    state["detector.detsize_f_m"] = pixel * state["detector.fpixels"]
    state["detector.detsize_s_m"] = pixel * state["detector.spixels"]
    v = get("BEAM_CENTER_Y")
    if v is not None:
        state["detector.ybeam_m"] = (state["detector.detsize_s_m"] - v / 1000.0 if is_mask
                                     else v / 1000.0)


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
    argv = [a for a in argv if a != "--debug"]
    profile = get_profile(profile_name(argv))
    state = ParseState()
    run = LoadedRun(config=SimulationConfig(), options=RunOptions())
    run.warnings = check_argv(argv)
    img_path, mask_path = header_files(argv)
    mask_img = None
    if mask_path is not None:
        mask_img = _read_header_file(mask_path, True, state, run)
    if img_path is not None:
        _read_header_file(img_path, False, state, run)
    scan(argv, state, profile)
    _check_inputs(argv, state)
    _seeds(state, now)
    fpixels, spixels = _detector_pixels(state)
    if mask_img is not None:
        run.mask = _detector_mask(mask_img, mask_path, fpixels, spixels, profile, run)
        state["run.maskfile"] = mask_path
        state["sampling.mask"] = run.mask
    _roi(state, fpixels, spixels)
    _cell(state)
    _read_inputs(state, run)
    run.options = RunOptions(**state.section("run"))
    run.config = SimulationConfig(
        DetectorConfig(**state.section("detector")), BeamConfig(**state.section("beam")),
        CrystalConfig(**state.section("crystal")),
        StructureFactors(**state.section("structure_factors")),
        SamplingConfig(**state.section("sampling")), profile)
    from torchbragg.cli import limits

    # (binary64 estimate in both modes: float32 keeps its Miller indices in binary64)
    limits.check(limits.counts_from_config(run.config))
    return run


def _check_inputs(argv: Sequence[str], state: ParseState) -> None:
    """Structure factors, then a cell or matrix (docs/behaviour/cli.md §7: no arguments at all
    print the structure-factor line too)."""
    if ("run.hklfile" not in state and state["structure_factors.default_F"] == 0
            and not opens(state["run.dumpfile"])):
        raise UsageError("no hkl file and no dump file to read.",
                         prefix="ERROR: no hkl file and no dump file to read.")
    cell = state["crystal.cell_A_rad"]
    if not argv or ("run.matfile" not in state and (cell is None or cell[0] <= 0)):
        raise UsageError("no -mat file and no positive -cell edge given")


def _seeds(state: ParseState, now: Optional[int]) -> None:
    """Seeds not given come from the clock, negated as the C stores them."""
    start_seed = -int(now if now is not None else time.time())
    for target in ("run.seed", "crystal.misset_seed"):
        if target not in state:
            state[target] = start_seed


def _detector_pixels(state: ParseState):
    """Pixel count vs extent (docs/behaviour/cli.md §2.4): a given count wins; the resolved
    counts (fast, slow) replace the given ones."""
    pixel = state["detector.pixel_size_m"]
    counts = []
    for axis in ("f", "s"):
        if state[f"detector.{axis}pixels"] != 0:
            state[f"detector.detsize_{axis}_m"] = pixel * state[f"detector.{axis}pixels"]
        counts.append(_pixel_count(state[f"detector.detsize_{axis}_m"], pixel))
    fpixels, spixels = counts
    if fpixels <= 0 or spixels <= 0 or fpixels * spixels > MAX_DETECTOR_PIXELS:
        raise InputError(f"detector has {fpixels:.6g}x{spixels:.6g} pixels: check "
                         "-detpixels/-detsize/-pixel")
    state["detector.fpixels"], state["detector.spixels"] = int(fpixels), int(spixels)
    return int(fpixels), int(spixels)


def _roi(state: ParseState, fpixels: int, spixels: int) -> None:
    """``-roi`` edges of −1 (and no ``-roi``) are the detector's edges."""
    if state["sampling.roi"] is None:
        state["sampling.roi"] = (0, fpixels, 0, spixels)
        return
    xmin, xmax, ymin, ymax = state["sampling.roi"]
    state["sampling.roi"] = (xmin if xmin >= 0 else 0, xmax if xmax >= 0 else fpixels,
                             ymin if ymin >= 0 else 0, ymax if ymax >= 0 else spixels)


def _cell(state: ParseState) -> None:
    """A partial ``-cell``: b and c default to a, the angles to 90°; no positive a: no cell."""
    cell = state["crystal.cell_A_rad"]
    if cell is None:
        return
    if not cell[0] > 0:
        state["crystal.cell_A_rad"] = None
        return
    a, b, c, al, be, ga = cell
    b = b if b > 0 else a
    c = c if c > 0 else a
    al, be, ga = (x if x > 0 else math.pi / 2.0 for x in (al, be, ga))
    state["crystal.cell_A_rad"] = (a, b, c, al, be, ga)


def _read_inputs(state: ParseState, run: LoadedRun) -> None:
    """The matrix, source and ``-stol`` files (the structure factors come later:
    :func:`load_structure_factors`)."""
    if "run.matfile" in state:
        from torchbragg.io.matfile import read_mat_strict

        state["crystal.amatrix"] = tuple(read_mat_strict(state["run.matfile"]))
    if "run.sourcefile" in state:
        from torchbragg.io.columns import read_sources_strict

        rows = read_sources_strict(state["run.sourcefile"])
        state["beam.sources"] = tuple(tuple(r) for r in rows)
    for flag, path in state["run.stolfiles"]:
        _read_stol(flag, path, run)


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
    from torchbragg._cbuild import cache_root
    from torchbragg.io.hkl import read_hkl
    from torchbragg.io.hkl_memo import HKLMemo

    opts, default_F = run.options, run.config.structure_factors.default_F
    table = None
    if opts.hklfile is not None:
        table = read_hkl(opts.hklfile, default_F, log, strict=True,
                         memo=HKLMemo(cache_root() / "hkl"))
        if write_cache:
            try:
                if outputs is None:
                    write_fdump(opts.dumpfile, table)
                else:
                    check_output(opts.dumpfile)
                    outputs.stage(opts.dumpfile, fdump_bytes(table))
                log(f"writing dump file for next time: {opts.dumpfile}")
            except OutputError:
                log(f"WARNING: unable to open dump file: {opts.dumpfile}")
    else:  # the cache file is read even with -default_F (docs/behaviour/quirks.md Q29)
        table = read_fdump(opts.dumpfile, run.stderr.append)
        if table is not None:
            log(f"reading Fs from {opts.dumpfile}")
        elif default_F == 0:
            raise UsageError("no hkl file and no dump file to read.",
                             prefix="ERROR: no hkl file and no dump file to read.")
    run.sf_table = table
    if table is not None:
        sf = StructureFactors(default_F=default_F, origin=(table.h_min, table.k_min, table.l_min),
                              ranges=(table.h_range, table.k_range, table.l_range),
                              grid=table.grid, count=table.count)
        run.config = replace(run.config, structure_factors=sf)


def _read_stol(flag: str, path: str, run: LoadedRun) -> None:
    from torchbragg.io.columns import read_columns

    run.hkl_log.append(f"reading {path}")
    try:
        rows = read_columns(path, 2)
    except InputError as exc:
        raise InputError(f"{flag} {path}: {exc}") from None
    if not rows:
        raise InputError(f"{flag} {path}: no data in input file")
