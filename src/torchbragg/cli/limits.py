"""Up-front refusal of configurations whose work or memory cannot fit.

The counts are resolved with the physics' own rules (:mod:`torchbragg.physics.sampling`),
then two estimates are compared with limits:

* **work** — kernel evaluations: rendered pixels × oversample² × sensor layers × sources ×
  φ steps × mosaic domains. Limit 1e17 (months of GPU time), ``TORCHBRAGG_MAX_WORK`` overrides.
* **memory** — bytes: the source list and the per-(φ step, domain) lattice tables, the images,
  and the kernel's working set for its smallest chunk of 1024 pixels (which grows with
  φ steps × domains). Limit: the machine's physical memory, ``TORCHBRAGG_MAX_MEMORY``
  (bytes) overrides.

The C reference applies the same work limit; its memory estimate is its own (csrc/nb_check.c).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from torchbragg.errors import ResourceError

MAX_WORK_DEFAULT = 1e17
BYTES_PER_SOURCE = 512
BYTES_PER_ORIENTATION = 512
BYTES_PER_PIXEL = 32
MIN_CHUNK = 1024


@dataclass(frozen=True)
class Counts:
    pixels: int  # rendered (ROI) pixels
    image_pixels: int
    oversample: int
    layers: int
    sources: int
    phisteps: int
    domains: int


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        return default


def physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 64 * 2.0**30


def work(c: Counts) -> float:
    return (float(c.pixels) * c.oversample * c.oversample * max(c.layers, 1) * c.sources
            * c.phisteps * c.domains)


def memory(c: Counts, itemsize: int = 8) -> float:
    from torchbragg.physics.workload import BYTES_PER_EVALUATION as bytes_per_evaluation

    m = float(c.phisteps) * c.domains
    per_pixel = bytes_per_evaluation * m * itemsize / 8 + 256
    return (BYTES_PER_SOURCE * float(c.sources) + BYTES_PER_ORIENTATION * m
            + BYTES_PER_PIXEL * float(c.image_pixels) + MIN_CHUNK * per_pixel)


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def describe(c: Counts) -> str:
    return (f"{c.sources:g} sources x {c.phisteps:g} phi steps x {c.domains:g} mosaic domains x "
            f"{c.oversample}^2 sub-pixels x {c.layers} layers x {c.pixels} pixels")


def check(c: Counts, itemsize: int = 8) -> None:
    """Raise :class:`ResourceError` with the estimate when a limit is exceeded."""
    max_work = _env_number("TORCHBRAGG_MAX_WORK", MAX_WORK_DEFAULT)
    max_mem = _env_number("TORCHBRAGG_MAX_MEMORY", physical_memory())
    w = work(c)
    if w > max_work:
        raise ResourceError(f"refusing to run: {describe(c)} = {w:.3g} evaluations exceeds the "
                            f"limit of {max_work:.3g} (set TORCHBRAGG_MAX_WORK to raise it)")
    mem = memory(c, itemsize)
    if mem > max_mem:
        raise ResourceError(f"refusing to run: {describe(c)} needs about {_fmt_bytes(mem)} of "
                            f"memory, more than the {_fmt_bytes(max_mem)} available (set "
                            "TORCHBRAGG_MAX_MEMORY to raise the limit)")


def counts_from_config(cfg, oversample: int | None = None) -> Counts:
    """Counts resolved from a configuration (before the experiment is built)."""

    b, c, d, s = cfg.beam, cfg.crystal, cfg.detector, cfg.sampling
    try:
        return _counts(cfg, oversample, b, c, d, s)
    except (OverflowError, ValueError) as exc:  # ceil(range/step) of an absurd ratio
        raise ResourceError(f"refusing to run: a step count overflows ({exc})") from None


def _counts(cfg, oversample, b, c, d, s) -> Counts:
    from torchbragg.physics.sampling import (resolve_dispersion, resolve_grid, resolve_layers,
                                             resolve_mosaic, resolve_phi)

    phi = resolve_phi(c.osc_rad, c.phistep_rad, c.phisteps)
    if b.sources:
        nsrc = len(b.sources)
    else:
        hdiv = resolve_grid(b.hdivrange_rad, b.hdivstep_rad, b.hdivsteps)
        vdiv = resolve_grid(b.vdivrange_rad, b.vdivstep_rad, b.vdivsteps)
        disp = resolve_dispersion(b.dispersion_fraction, b.dispsteps)
        nsrc = hdiv.count * vdiv.count * disp.count
    domains = resolve_mosaic(c.mosaic_spread_rad, c.mosaic_domains)[0]
    layers = resolve_layers(d.thickness_m, d.thicksteps, d.mu_per_m).count
    if oversample is None:
        oversample = s.oversample if s.oversample and s.oversample > 0 else 1
    return Counts(pixels=_roi_pixels(d, s.roi), image_pixels=d.fpixels * d.spixels,
                  oversample=int(oversample), layers=layers, sources=nsrc,
                  phisteps=phi.count, domains=domains)


def _roi_pixels(d, roi) -> int:
    xmin, xmax, ymin, ymax = roi
    w = max(0, min(xmax, d.fpixels - 1) - max(xmin, 0) + 1)
    h = max(0, min(ymax, d.spixels - 1) - max(ymin, 0) + 1)
    return w * h


def check_limits(loaded, exp) -> None:
    """The check again with the experiment's resolved counts (automatic oversampling
    included)."""
    d = loaded.config.detector
    counts = Counts(pixels=_roi_pixels(d, loaded.config.sampling.roi),
                    image_pixels=d.fpixels * d.spixels, oversample=exp.oversample,
                    layers=exp.layers.count, sources=len(exp.sources.sources),
                    phisteps=exp.phi.count, domains=exp.mosaic_domains)
    check(counts)  # (binary64 estimate in both modes: float32 keeps its indices in binary64)
