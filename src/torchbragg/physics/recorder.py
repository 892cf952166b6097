"""The recorder protocol: what the kernel and the renderer tell an observer of a run.

:class:`Recorder` is the protocol and its null implementation (every method does nothing; the
default, at no cost). The others: the per-pixel trace (``-trace_pixel``,
:class:`~torchbragg.physics.trace_hook.TraceRecorder`) and the last-evaluation values of
``-printout`` (:class:`~torchbragg.physics.leftovers.LastEvaluation`).

Two levels. The renderer starts the run's recorder (:meth:`start`), asks it for one per
kernel call (:meth:`for_chunk`), after the chunk's final pass lets it write the chunk's
per-pixel output (:meth:`emit`, in two parts where the interpolation warning comes between
pixels), and closes it after the last chunk (:meth:`close`). The kernel calls the chunk's
recorder at fixed points of its loop; a recorder that reads the per-evaluation block
(``needs_evaluations``) makes the kernel evaluate it eagerly (no compiled block or chunk).
"""
from __future__ import annotations

from typing import Optional


class Recorder:
    """The null recorder; the base of the others (a hook left out does nothing)."""

    #: the kernel must evaluate the (φ × mosaic) blocks eagerly and call :meth:`block`
    needs_evaluations = False

    # ------------------------------------------------------------------ renderer level
    def start(self) -> None:
        """Start of the run, before the first chunk."""

    def for_chunk(self, plan, s, f) -> "Recorder":
        """The recorder of one kernel call over pixels (slow ``s``, fast ``f``)."""
        return self

    def emit(self, stop: Optional[int] = None) -> None:
        """Write the per-pixel output of the chunk's rows not yet written, up to row ``stop``
        (excluded; None: all)."""

    def close(self) -> None:
        """End of the run, after the last chunk: write what is still held back."""

    # ------------------------------------------------------------------ kernel level
    def subpixel(self, t: int, j: int, i: int) -> None:
        """Start of sub-pixel (j, i) of sensor layer t."""

    def source(self, plan, k: int, pos, R, omega, d, S) -> None:
        """Source k of the sub-pixel, before its polarization step: position ``pos`` (m),
        distance ``R`` (m), Ω (sr), d̂ and the scattering vector ``S`` (m⁻¹; None unless
        ``needs_evaluations`` or ``-dmin``)."""

    def block(self, plan, k: int, pos, S, blk, culled, fresh: int) -> None:
        """Source k's evaluated block (:class:`~torchbragg.physics.block.Block`), after its
        accumulation; ``culled``: pixels cut by ``-dmin`` (or None); ``fresh``: the row
        running the run's first φ loop (or −1). Called only with ``needs_evaluations``."""

    def finish(self, plan, I, capture, polar, omega, incident, d, value) -> None:
        """End of the chunk: the sum ``I``, the cached factors, the last source's incident and
        (re-normalised) diffracted vectors and the pixel values."""


#: the default recorder
NULL_RECORDER = Recorder()


class Tee(Recorder):
    """Several recorders as one (each hook goes to each, in order)."""

    def __init__(self, recorders):
        self.recorders = list(recorders)
        self.needs_evaluations = any(r.needs_evaluations for r in self.recorders)

    def start(self):
        for r in self.recorders:
            r.start()

    def for_chunk(self, plan, s, f) -> Recorder:
        return combine(*(r.for_chunk(plan, s, f) for r in self.recorders))

    def emit(self, stop=None):
        for r in self.recorders:
            r.emit(stop)

    def close(self):
        for r in self.recorders:
            r.close()

    def subpixel(self, t, j, i):
        for r in self.recorders:
            r.subpixel(t, j, i)

    def source(self, plan, k, pos, R, omega, d, S):
        for r in self.recorders:
            r.source(plan, k, pos, R, omega, d, S)

    def block(self, plan, k, pos, S, blk, culled, fresh):
        for r in self.recorders:
            r.block(plan, k, pos, S, blk, culled, fresh)

    def finish(self, plan, I, capture, polar, omega, incident, d, value):
        for r in self.recorders:
            r.finish(plan, I, capture, polar, omega, incident, d, value)


def combine(*recorders: Optional[Recorder]) -> Recorder:
    """One recorder for the given ones (None and null ones left out)."""
    live = [r for r in recorders if r is not None and type(r) is not Recorder]
    if not live:
        return NULL_RECORDER
    return live[0] if len(live) == 1 else Tee(live)
