"""Per-pixel trace (docs/behaviour/trace.md): the ``-trace_pixel`` recorder
(:mod:`~torchbragg.physics.recorder`) called from inside the rendering kernel.

The kernel calls the recorder at fixed points of its loop; it picks the traced pixels' rows
and formats ``TRACE_PY: <name> <values>`` lines (``%.15g``), for the first source of each
sub-pixel. Nothing here recomputes physics. Lines are buffered per pixel and emitted in the
C's processing order (:meth:`TraceRecorder.close`); the run-level block comes first
(:meth:`TraceRecorder.start`).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from torchbragg.physics.recorder import NULL_RECORDER, Recorder
from torchbragg.physics.setup import R_E_SQR, Experiment


def fmt(x) -> str:
    """``%.15g`` of a binary64 value (binary32 inputs are widened first)."""
    return format(float(x), ".15g")


class TraceRecorder(Recorder):
    """Collects the trace of pixels ``(slow, fast)`` and writes lines through ``emit``; with
    ``exp``, the run starts with its run-level block."""

    def __init__(self, pixels: Sequence[Tuple[int, int]], emit: Callable[[str], None],
                 side: str = "PY", exp: Optional[Experiment] = None):
        self.pixels = [tuple(int(v) for v in p) for p in pixels]
        self.emit = emit
        self.exp = exp
        self.prefix = f"TRACE_{side}:"
        self.buffers: Dict[Tuple[int, int], List[str]] = {}

    def line(self, name: str, *values) -> str:
        return " ".join([self.prefix, name, *values])

    def start(self) -> None:
        if self.exp is not None:
            self.run_level(self.exp)

    def run_level(self, exp: Experiment) -> None:
        """The run-level block of docs/behaviour/trace.md §6.2 item 1, once per traced pixel set."""
        d = exp.detector
        out = []
        for s, f in self.pixels:
            out.append(self.line("trace_pixel", str(s), str(f)))
        out.append(self.line("detector_convention", d.convention))
        out.append(self.line("detector_pivot", d.pivot))
        for name, val in (("detector_rotx_rad", d.rotx_rad), ("detector_roty_rad", d.roty_rad),
                          ("detector_rotz_rad", d.rotz_rad), ("detector_twotheta_rad", d.twotheta_rad)):
            out.append(self.line(name, fmt(val)))
        out.append(self.line("twotheta_axis", *map(fmt, d.twotheta_axis)))
        out.append(self.line("fdet_after_twotheta", *map(fmt, d.fdet)))
        out.append(self.line("sdet_after_twotheta", *map(fmt, d.sdet)))
        out.append(self.line("odet_after_twotheta", *map(fmt, d.odet)))
        for name, val in d.origin_inputs.items():
            vals = val if isinstance(val, tuple) else (val,)
            out.append(self.line(name, *map(fmt, vals)))
        out.append(self.line("pix0_vector", *map(fmt, d.pix0_m)))
        for text in out:
            self.emit(text)

    def for_chunk(self, plan, s: torch.Tensor, f: torch.Tensor) -> Recorder:
        """A recorder for one kernel call (the null one when no traced pixel is in the chunk);
        its pixels' buffers start again."""
        s_list, f_list = s.tolist(), f.tolist()
        lookup = {(a, b): r for r, (a, b) in enumerate(zip(s_list, f_list))}
        rows = [(lookup[p], p) for p in self.pixels if p in lookup]
        if not rows:
            return NULL_RECORDER
        for _, p in rows:
            self.buffers[p] = []
        return _ChunkRecorder(self, rows)

    def close(self) -> None:
        """Emit the buffered per-pixel lines in the order the pixels were requested."""
        for p in self.pixels:
            for text in self.buffers.pop(p, []):
                self.emit(text)


class _ChunkRecorder(Recorder):
    needs_evaluations = True

    def __init__(self, owner: TraceRecorder, rows):
        self.owner = owner
        self.rows = rows
        for r, (s, f) in rows:
            self._add((s, f), "pixel", str(s), str(f))

    def _add(self, pixel, name, *values):
        self.owner.buffers[pixel].append(self.owner.line(name, *values))

    def _each(self, name, *tensors):
        for r, p in self.rows:
            vals = [fmt(t[r]) if isinstance(t, torch.Tensor) and t.dim() > 0 else fmt(t)
                    for t in tensors]
            self._add(p, name, *vals)

    def subpixel(self, t, j, i):
        for _, p in self.rows:
            self._add(p, "subpixel", str(t), str(j), str(i))

    def source(self, plan, k, pos, R, omega, d, S):
        if k != 0:
            return
        for r, p in self.rows:
            self._add(p, "pix0_vector_meters", *map(fmt, plan.pix0.tolist()))
            self._add(p, "fdet_vec", *map(fmt, plan.fdet.tolist()))
            self._add(p, "sdet_vec", *map(fmt, plan.sdet.tolist()))
        self._each("pixel_pos_meters", *pos)
        self._each("R_distance_meters", R)
        self._each("omega_pixel_sr", omega)
        for r, p in self.rows:
            self._add(p, "close_distance_meters", fmt(plan.close_distance_m))
        self._each("obliquity_factor", plan.close_distance_m / R)
        self._each("diffracted_vec", *d)
        lam = float(plan.wavelength_m[k])
        for r, p in self.rows:
            self._add(p, "incident_vec", *map(fmt, plan.incident[k].tolist()))
            self._add(p, "lambda_meters", fmt(lam))
            self._add(p, "lambda_angstroms", fmt(lam * 1e10))
        self._each("scattering_vec_A_inv", *S)

    def block(self, plan, k, pos, S, blk, culled, fresh_row):
        if k != 0:
            return
        later = (plan.lat_a, plan.lat_b, plan.lat_c)
        for r, p in self.rows:
            if culled is not None and bool(culled[r]):
                continue
            # the pixel running the run's first φ loop (Q1) uses the first tables
            use = plan.first_lat if r == fresh_row and plan.first_lat is not None else later
            for name, vec in zip(("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms"), use):
                self._add(p, name, *(fmt(x * 1e10) for x in vec[0].tolist()))
            for name, vec in zip(("rot_a_star_A_inv", "rot_b_star_A_inv", "rot_c_star_A_inv"),
                                 (plan.shape.a_star, plan.shape.b_star, plan.shape.c_star)):
                self._add(p, name, *map(fmt, vec))
            self._add(p, "hkl_frac", fmt(blk.h[0, r]), fmt(blk.k[0, r]), fmt(blk.l[0, r]))
            self._add(p, "hkl_rounded", *(str(int(x[0, r])) for x in (blk.h0, blk.k0, blk.l0)))
            if blk.axes is not None:  # the F_latt lines exist for the parallelepiped only
                for name, ax in zip(("F_latt_a", "F_latt_b", "F_latt_c"), blk.axes):
                    self._add(p, name, fmt(ax[0, r]))
                self._add(p, "F_latt", fmt(blk.F_latt[0, r]))
            if not bool(blk.skip[0, r]):
                self._add(p, "F_cell", fmt(blk.F_cell[0, r]))

    def finish(self, plan, I, capture, polar, omega, last_i, last_d, value):
        self._each("I_before_scaling", I)
        for r, p in self.rows:
            self._add(p, "r_e_meters", fmt(math.sqrt(R_E_SQR)))
            self._add(p, "r_e_sqr", fmt(R_E_SQR))
            self._add(p, "fluence_photons_per_m2", fmt(plan.fluence))
            self._add(p, "steps", str(plan.steps))
            self._add(p, "oversample_thick", str(int(plan.oversample_thick)))
            self._add(p, "oversample_polar", str(int(plan.oversample_polar)))
            self._add(p, "oversample_omega", str(int(plan.oversample_omega)))
        self._each("capture_fraction", capture)
        self._each("polar", polar)
        self._each("omega_pixel", omega)
        ix, iy, iz = last_i
        dx, dy, dz = last_d
        self._each("cos_2theta", ix * dx + iy * dy + iz * dz)
        self._each("I_pixel_final", value)
        self._each("floatimage_accumulated", value.to(torch.float32))

