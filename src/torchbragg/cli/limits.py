"""Up-front refusal of configurations whose work or memory cannot fit.

The counts (:class:`torchbragg.physics.workload.Counts`) are those of the physics' own rules
(:func:`torchbragg.physics.sampling.resolve_sampling`), once from the configuration before
the set-up and once from the experiment after it; two estimates are compared with limits:

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

from torchbragg.errors import ResourceError
from torchbragg.physics.sampling import resolve_sampling
from torchbragg.physics.workload import MIN_CHUNK_PIXELS, Counts, bytes_per_pixel, counts

MAX_WORK_DEFAULT = 1e17
BYTES_PER_SOURCE = 512
BYTES_PER_ORIENTATION = 512
BYTES_PER_PIXEL = 32


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


def memory(c: Counts) -> float:
    """Bytes: sources, per-(φ step, domain) tables, images, the smallest chunk's working set
    (the binary64 estimate in both modes: binary32 keeps its Miller indices in binary64)."""
    m = float(c.phisteps) * c.domains
    return (BYTES_PER_SOURCE * float(c.sources) + BYTES_PER_ORIENTATION * m
            + BYTES_PER_PIXEL * float(c.image_pixels) + MIN_CHUNK_PIXELS * bytes_per_pixel(m))


def _fmt_bytes(n: float) -> str:
    for unit, size in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def describe(c: Counts) -> str:
    return (f"{c.sources:g} sources x {c.phisteps:g} phi steps x {c.domains:g} mosaic domains x "
            f"{c.oversample}^2 sub-pixels x {c.layers} layers x {c.pixels} pixels")


def check(c: Counts) -> None:
    """Raise :class:`ResourceError` with the estimate when a limit is exceeded."""
    max_work = _env_number("TORCHBRAGG_MAX_WORK", MAX_WORK_DEFAULT)
    max_mem = _env_number("TORCHBRAGG_MAX_MEMORY", physical_memory())
    w = c.evaluations
    if w > max_work:
        raise ResourceError(f"refusing to run: {describe(c)} = {w:.3g} evaluations exceeds the "
                            f"limit of {max_work:.3g} (set TORCHBRAGG_MAX_WORK to raise it)")
    mem = memory(c)
    if mem > max_mem:
        raise ResourceError(f"refusing to run: {describe(c)} needs about {_fmt_bytes(mem)} of "
                            f"memory, more than the {_fmt_bytes(max_mem)} available (set "
                            "TORCHBRAGG_MAX_MEMORY to raise the limit)")


def counts_from_config(cfg) -> Counts:
    """Counts resolved from a configuration, before the experiment is built: the generated
    sources before the ``-round_div`` cut, oversampling 1 when automatic."""
    try:
        sampling = resolve_sampling(cfg)
    except (OverflowError, ValueError) as exc:  # ceil(range/step) of an absurd ratio
        raise ResourceError(f"refusing to run: a step count overflows ({exc})") from None
    sources = len(cfg.beam.sources) if cfg.beam.sources else sampling.grid_sources
    s = cfg.sampling
    oversample = s.oversample if s.oversample and s.oversample > 0 else 1
    return counts(cfg.detector, s.roi, sampling, sources, oversample)


def check_limits(loaded, exp) -> None:
    """The check again with the experiment's resolved counts (automatic oversampling and the
    generated sources included)."""
    cfg = loaded.config
    check(counts(cfg.detector, cfg.sampling.roi, exp.sampling, len(exp.sources.sources),
                 exp.oversample))
