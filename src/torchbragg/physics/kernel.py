"""The vectorised pixel kernel: the intensity sum of docs/behaviour/physics.md §7, over a chunk of
pixels.

The loops over sensor layer, sub-pixel and source run in Python in the C's order; each step is
vectorised over the pixels of the chunk and over the M = (φ step × mosaic domain) evaluations.
Terms are added to the accumulator one evaluation at a time, in the C's order, so float64
results match the C reference bit for bit. The cached per-pixel factors (Ω, polarization,
capture fraction) follow the C's "compute where still 0" rule (Q12), and the
``-oversample_*`` toggles multiply the running sum (Q14).

A recorder (:mod:`~torchbragg.physics.recorder`: null by default, the per-pixel trace, or
``-printout``'s last-evaluation values) is called at fixed points of this same code path.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from torchbragg.physics import ieee
from torchbragg.physics.block import accumulate, evaluate_block, scattering_vector, term
from torchbragg.physics.plan import KernelPlan
from torchbragg.physics.recorder import NULL_RECORDER, Recorder


@dataclass
class InterpolationPolicy:
    """How F_cell is looked up in one chunk pass (docs/behaviour/physics.md §7.5, Q11).

    mode ``off``: nearest node everywhere. ``on``: interpolate where in range, nearest
    elsewhere; with the global switch-off also record each pixel's first out-of-range
    evaluation and accumulate the nearest-node image beside (the pixels after the switch-off).
    ``split``: interpolate before the evaluation (row, index) where the global switch-off
    happens, nearest from it on.
    """

    mode: str
    row: int = -1
    index: int = -1


@dataclass
class ChunkResult:
    value: torch.Tensor  # [P] final pixel values (compute dtype)
    omega_sum: torch.Tensor  # [P] Σ Ω over layers and sub-pixels
    #: first out-of-range evaluation (row, flat index) in an ``on`` pass, or None
    first_out_of_range: Optional[tuple]
    #: h, k, l, h0, k0, l0 of the switch-off evaluation in a ``split`` pass
    switch_off_hkl: Optional[tuple]
    #: with -dmin: pixels with at least one source not cut (that ran a φ loop)
    uncut: Optional[torch.Tensor] = None
    #: an ``on`` pass with the global switch-off: the values with nearest-node F everywhere
    value_near: Optional[torch.Tensor] = None


@dataclass
class _Pass:
    """The running state of one chunk pass: per-pixel sums and cached factors [P], and the
    loop variables that carry over between blocks in the C's order."""

    policy: InterpolationPolicy
    recorder: Recorder
    block_fn: Optional[Callable]  # the compiled/fused block, or None: eager
    #: the native interpolating block of ``on`` passes (block_native.NativeBlock), or None
    interp: Optional[object]
    #: the native sub-pixel geometry (geometry_native.NativeGeometry), or None
    geometry: Optional[object]
    I: torch.Tensor
    I_near: Optional[torch.Tensor]  # (Q11) the nearest-node sum beside, or None
    polar: torch.Tensor
    omega: torch.Tensor
    omega_sum: torch.Tensor
    capture: torch.Tensor
    best: Optional[torch.Tensor]  # ``on``: each pixel's first out-of-range evaluation, or −1
    #: (CPU, Q11) once a pixel is out of range, interpolate only the pixels before it (later
    #: ones end nearest-node)
    track: bool
    fresh_row: int  # the pixel still to run the run's first φ loop (Q1), or −1
    uncut: Optional[torch.Tensor]  # -dmin: pixels with a source not cut
    limit: int = -1
    switch_hkl: Optional[tuple] = None
    polar_cached: bool = False  # (CPU) every pixel's polarization factor is cached (Q12)
    outer: int = 0  # blocks done
    last: tuple = (None, None)  # the last source's î and re-normalised d̂


def _v(t: torch.Tensor):
    return t[0], t[1], t[2]


def render_chunk(plan: KernelPlan, s: torch.Tensor, f: torch.Tensor, fresh_row: int,
                 policy: InterpolationPolicy, recorder: Recorder = NULL_RECORDER,
                 block_fn=None, step: Optional[Callable[[], None]] = None,
                 interpolating=None, geometry=None) -> ChunkResult:
    """Render pixels (slow ``s``, fast ``f``); ``fresh_row`` (or −1) runs the first φ loop.

    ``recorder`` (:mod:`recorder`) is called at the loop's hook points. ``block_fn``
    (:func:`block.block_accumulate`, or a compiled one: physics/compiled/) replaces the eager
    block where the recorder needs no per-evaluation data; so does ``interpolating``
    (:func:`block_native.interpolating_block`, or None) in an ``on`` pass, and ``geometry``
    (:func:`geometry_native.subpixel_geometry`, or None) the sub-pixels' geometry.
    ``step`` is called after each (layer, sub-pixel, source) step (progress within a chunk).
    """
    quiet = not recorder.needs_evaluations
    st = _start(plan, s.shape[0], fresh_row, policy, recorder, block_fn if quiet else None,
                interpolating if quiet and policy.mode == "on" else None,
                geometry if quiet else None)
    for t in range(plan.layers):
        st.capture = torch.full((s.shape[0],), 0.0 if plan.absorb else 1.0, device=plan.device,
                                dtype=plan.geom_dtype)
        for j, i in itertools.product(range(plan.oversample), repeat=2):
            _subpixel_step(plan, st, s, f, t, j, i, step)
    value = _final(plan, st.I, st.capture, st.polar, st.omega)
    value_near = (_final(plan, st.I_near, st.capture, st.polar, st.omega)
                  if st.I_near is not None else None)
    recorder.finish(plan, st.I, st.capture, st.polar, st.omega, *st.last, value)
    return ChunkResult(value, st.omega_sum, _first_out_of_range(st.best), st.switch_hkl,
                       st.uncut, value_near)


def _start(plan: KernelPlan, P: int, fresh_row: int, policy: InterpolationPolicy,
           recorder: Recorder, block_fn, interp, geometry) -> _Pass:
    """A chunk pass before its first step."""
    dt, dev = plan.geom_dtype, plan.device  # per-pixel geometry and accumulators
    zeros = torch.zeros(P, device=dev, dtype=dt)
    I = zeros + plan.I_bg  # (a tensor when the fluence is a differentiable parameter)
    switching = (policy.mode == "on" and plan.interpolate
                 and plan.interpolation_global_switch_off)
    return _Pass(
        policy, recorder, block_fn, interp, geometry, I, I if switching else None,
        polar=torch.full((P,), 1.0 if plan.nopolar else 0.0, device=dev, dtype=dt),
        omega=zeros, omega_sum=zeros, capture=zeros,
        best=torch.full((P,), -1, device=dev, dtype=torch.long) if policy.mode == "on" else None,
        track=switching and dev.type == "cpu" and not _tracing(), fresh_row=fresh_row,
        uncut=torch.zeros(P, device=dev, dtype=torch.bool) if plan.dmin_m > 0 else None)


def _subpixel_step(plan: KernelPlan, st: _Pass, s, f, t: int, j: int, i: int, step) -> None:
    """Sub-pixel (j, i) of layer t: its geometry, then each source in order."""
    pos, R, d = _subpixel_geometry(plan, st, s, f, t, j, i)
    st.recorder.subpixel(t, j, i)
    for k in range(plan.incident.shape[0]):
        d = _source_step(plan, st, k, pos, R, d)
        if step is not None:
            step()


def _subpixel_geometry(plan: KernelPlan, st: _Pass, s, f, t: int, j: int, i: int):
    """Position (m), distance R (m) and d̂ of sub-pixel (j, i) of layer t; updates Ω, ΣΩ and
    the capture fraction ("compute where still 0" unless oversampled: Q12, Q14). By the
    native geometry where the pass has one (then no position or R: the recorder is quiet)."""
    if st.geometry is not None:
        d, st.omega, st.omega_sum = st.geometry(s, f, t, j, i, st.omega, st.omega_sum)
        _capture_step(plan, st, d, t)
        return None, None, d
    pos = subpixel_position(plan, s, f, t, j, i)
    posx, posy, posz = pos
    R = ieee.sqrt(posx * posx + posy * posy + posz * posz)
    d = (posx / R, posy / R, posz / R)
    if plan.point_pixel:
        om_new = 1.0 / R / R
    else:
        om_new = _over(plan.pixel_size_m * plan.pixel_size_m, R) / R * plan.close_distance_m / R
    st.omega = om_new if plan.oversample_omega else torch.where(st.omega == 0, om_new, st.omega)
    st.omega_sum = st.omega_sum + st.omega
    _capture_step(plan, st, d, t)
    return pos, R, d


def _capture_step(plan: KernelPlan, st: _Pass, d, t: int) -> None:
    """The capture fraction of layer t along d̂ where still 0 (every sub-pixel with
    -oversample_thick: Q14)."""
    if plan.absorb:
        cap_new = _capture_fraction(plan, d, t)
        st.capture = (cap_new if plan.oversample_thick
                      else torch.where(st.capture == 0, cap_new, st.capture))


def _capture_fraction(plan: KernelPlan, d, t: int) -> torch.Tensor:
    """Fraction of the beam absorbed in layer t along d̂ (docs/behaviour/physics.md §6.10)."""
    ox, oy, oz = _v(plan.odet)
    rho = d[0] * ox + d[1] * oy + d[2] * oz
    odet_t = t * plan.layer_spacing_m
    return (torch.exp(-_over(odet_t * plan.mu_per_m, rho))
            - torch.exp(-_over((t + 1) * plan.layer_spacing_m * plan.mu_per_m, rho)))


def _source_step(plan: KernelPlan, st: _Pass, k: int, pos, R, d):
    """Source k of a sub-pixel: the -dmin cut, polarization and the (φ × mosaic) block [M, P].
    Returns d̂ as the C leaves it for the next source (re-normalised where polarization was
    computed)."""
    incident = _v(plan.incident[k])
    source = (*incident, plan.wavelength_m[k])
    S = None  # (the block's S uses d̂ before this source's renormalisation)
    if plan.dmin_m > 0 or st.recorder.needs_evaluations:
        S = scattering_vector(d, source)
    culled = dmin_cut(plan, S) if plan.dmin_m > 0 else None
    if culled is not None:
        st.uncut = st.uncut | ~culled
    st.recorder.source(plan, k, pos, R, st.omega, d, S)
    d_next = _polarization_step(plan, st, k, d, culled)
    st.last = (incident, d_next)
    fresh = _fresh_row(st, culled)
    if st.block_fn is not None and fresh < 0 and (st.policy.mode == "off"
                                                  or not plan.interpolate):
        st.I = st.block_fn(plan, d, source, culled, st.I, st.capture, st.polar, st.omega)
    elif st.interp is not None and plan.interpolate:
        _interpolating_block(plan, st, d, source, culled, fresh)
    else:
        _eager_block(plan, st, k, pos, S if S is not None else scattering_vector(d, source),
                     culled, fresh)
    st.outer += 1
    return d_next


def _polarization_step(plan: KernelPlan, st: _Pass, k: int, d, culled):
    """The polarization factor of source k where it is still to be computed (Q12, Q31);
    returns d̂, re-normalised there."""
    live = ~culled if culled is not None else None
    need = None if st.polar_cached else _needs_polar(plan, st.polar, live)
    if need is not None and (plan.device.type != "cpu" or _tracing() or bool(need.any())):
        # (on the CPU the check is cheap and skips sources whose factor is already cached
        # everywhere; on a GPU it would be a sync, and a compiled chunk cannot branch on
        # data: compute)
        pol_new, d = _polarization(plan, k, d, need)
        st.polar = torch.where(need, pol_new, st.polar)
    elif need is not None and live is None:
        st.polar_cached = True  # no zero left: skip the check from now on
    return d


def _fresh_row(st: _Pass, culled) -> int:
    """The row running the run's first φ loop in this block (Q1), or −1: the pending pixel, at
    its first source not cut by -dmin."""
    row = st.fresh_row
    fresh = row if row >= 0 and (culled is None or not bool(culled[row])) else -1
    if fresh >= 0:
        st.fresh_row = -1
    return fresh


def _interpolating_block(plan: KernelPlan, st: _Pass, d, source, culled, fresh: int) -> None:
    """An ``on`` pass's block by the native interpolating block: the sums and the global
    switch-off's bookkeeping (Q11) of :func:`_eager_block`, in place of its tensors; pixel
    ``fresh`` (or none: −1) with the tables of the run's first φ loop (Q1)."""
    best = st.best if plan.interpolation_global_switch_off else None
    row0 = st.outer * st.interp.M
    if fresh < 0:
        st.I, st.I_near, hit = st.interp.interpolating(d, source, culled, st.I, st.I_near,
                                                       best, st.limit, row0)
    else:  # (pixels before it, it, after it; each pixel's sums are its own)
        P, parts, hit = st.I.shape[0], [], False
        for a, b, blk in ((0, fresh, st.interp), (fresh, fresh + 1, st.interp.fresh(plan)),
                          (fresh + 1, P, st.interp)):
            if b > a:
                part = blk.interpolating(
                    tuple(x[a:b] for x in d), source,
                    culled[a:b] if culled is not None else None, st.I[a:b],
                    st.I_near[a:b] if st.I_near is not None else None,
                    best[a:b] if best is not None else None,
                    st.limit if st.limit < 0 else max(0, st.limit - a), row0)
                parts.append(part)
                hit = hit or part[2]
        st.I = torch.cat([p[0] for p in parts])
        st.I_near = torch.cat([p[1] for p in parts]) if st.I_near is not None else None
    if hit and st.track:
        st.limit = first_true(st.best >= 0)


def _eager_block(plan: KernelPlan, st: _Pass, k: int, pos, S, culled, fresh: int) -> None:
    """Source k's block evaluated eagerly, accumulated, and handed to the recorder."""
    blk = evaluate_block(plan, S, culled, st.policy, st.outer, fresh, st.limit)
    if blk.first_out_of_range is not None:
        st.best = torch.where((st.best < 0) & (blk.first_out_of_range >= 0),
                              blk.first_out_of_range, st.best)
        if st.track:
            st.limit = first_true(st.best >= 0)
    if blk.switch_off_hkl is not None:
        st.switch_hkl = blk.switch_off_hkl
    dt = plan.geom_dtype
    st.I = accumulate(plan, st.I, term(blk.F_cell, blk.F_latt, dt), blk.skip, st.capture,
                      st.polar, st.omega)
    if st.I_near is not None:
        st.I_near = accumulate(plan, st.I_near, term(blk.F_near, blk.F_latt, dt), blk.skip,
                               st.capture, st.polar, st.omega)
    st.recorder.block(plan, k, pos, S, blk, culled, fresh)


def _first_out_of_range(best: Optional[torch.Tensor]) -> Optional[tuple]:
    """(row, flat evaluation index) of the chunk's first out-of-range evaluation, or None."""
    if best is None:
        return None
    hit = best >= 0
    if not bool(hit.any()):
        return None
    row = int(torch.nonzero(hit)[0, 0])
    return row, int(best[row])


def _final(plan: KernelPlan, I, capture, polar, omega):
    """A pixel's value from its sum: r_e²Φ·I/steps and the factors not applied per step."""
    value = plan.fluence_factor * I / plan.steps
    if not plan.oversample_thick:
        value = value * capture
    if not plan.oversample_polar:
        value = value * polar
    if not plan.oversample_omega:
        value = value * omega
    return value


def subpixel_position(plan: KernelPlan, s: torch.Tensor, f: torch.Tensor, t: int, j: int,
                      i: int):
    """Lab position (m) of sub-pixel (j, i) of layer t for pixels (s, f)
    (docs/behaviour/physics.md §6.8)."""
    dt = plan.geom_dtype
    n = plan.oversample
    delta = plan.pixel_size_m / n
    sdet_c = delta * (s * n + j).to(dt) + delta / 2.0
    fdet_c = delta * (f * n + i).to(dt) + delta / 2.0
    odet_t = t * plan.layer_spacing_m
    (fx, fy, fz), (sx, sy, sz), (ox, oy, oz) = _v(plan.fdet), _v(plan.sdet), _v(plan.odet)
    px0, py0, pz0 = _v(plan.pix0)
    posx = fdet_c * fx + sdet_c * sx + odet_t * ox + px0
    posy = fdet_c * fy + sdet_c * sy + odet_t * oy + py0
    posz = fdet_c * fz + sdet_c * sz + odet_t * oz + pz0
    if plan.curved:
        posx, posy, posz = _curve(plan, posx, posy, posz)
    return posx, posy, posz


def dmin_cut(plan: KernelPlan, S) -> torch.Tensor:
    """Pixels whose source is skipped by the resolution cut: d = 0.5/stol < dmin (§7.2); a
    pixel cut everywhere keeps polar = 0 (docs/behaviour/quirks.md Q16)."""
    Sx, Sy, Sz = S
    stol = 0.5 * ieee.sqrt(Sx * Sx + Sy * Sy + Sz * Sz)
    return (stol > 0) & (plan.dmin_m > 0.5 / stol)


def first_uncut_pixel(plan: KernelPlan, s: torch.Tensor, f: torch.Tensor) -> int:
    """Estimate of the first pixel (row) that the resolution cut leaves a source: where the
    run's first φ loop happens (Q1). Exact but for the C's re-normalised d̂ at later sources
    (an ulp), which the kernel's exact ``uncut`` then confirms. −1 when none."""
    uncut = torch.zeros(s.shape[0], device=s.device, dtype=torch.bool)
    n = range(plan.oversample)
    for t, j, i in itertools.product(range(plan.layers), n, n):
        pos = subpixel_position(plan, s, f, t, j, i)
        R = ieee.sqrt(pos[0] * pos[0] + pos[1] * pos[1] + pos[2] * pos[2])
        d = tuple(x / R for x in pos)
        for k in range(plan.incident.shape[0]):
            source = (*_v(plan.incident[k]), plan.wavelength_m[k])
            uncut |= ~dmin_cut(plan, scattering_vector(d, source))
    return first_true(uncut)


def first_true(mask: torch.Tensor) -> int:
    """Index of the first True of a [P] mask, or −1."""
    hits = torch.nonzero(mask)
    return int(hits[0, 0]) if hits.numel() else -1


def _over(num, t: torch.Tensor) -> torch.Tensor:
    """``num / t`` as a true division when ``num`` is a Python number: torch evaluates
    ``number / tensor`` as ``number · (1/tensor)``, which rounds differently from the C's
    division (1 ulp in ~20 % of pixels' Ω)."""
    return (num if isinstance(num, torch.Tensor) else t.new_tensor(num)) / t


def _tracing() -> bool:
    """True while the chunk is being exported for compilation (physics/compiled/)."""
    return torch.compiler.is_compiling()


def _curve(plan: KernelPlan, posx, posy, posz):
    """Curved detector (docs/behaviour/physics.md §6.8, Q22): arcs of length pos_y, pos_z at radius
    d."""
    from torchbragg.physics import vec3 as v3

    d = plan.distance_m
    q = (d * plan.beam[0], d * plan.beam[1], d * plan.beam[2])
    q1 = v3.rotate_axis(q, _v(plan.sdet), posy / d)
    return v3.rotate_axis(q1, _v(plan.fdet), posz / d)


def _needs_polar(plan: KernelPlan, polar, live):
    """Where the polarization factor is (re)computed at this source, or None if nowhere
    (-oversample_polar computes it even with -nopolar: docs/behaviour/quirks.md Q31)."""
    if plan.oversample_polar:
        return live if live is not None else torch.ones_like(polar, dtype=torch.bool)
    if plan.nopolar:
        return None
    need = polar == 0
    return need & live if live is not None else need


def _polarization(plan: KernelPlan, k: int, d, need):
    """Kahn factor (docs/behaviour/physics.md §5.6); also returns d̂ re-normalised where it was
    computed."""
    dx, dy, dz = d
    mag = ieee.sqrt(dx * dx + dy * dy + dz * dz)
    nx, ny, nz = dx / mag, dy / mag, dz / mag
    ix, iy, iz = _v(plan.polar_incident[k])
    cos2 = ix * nx + iy * ny + iz * nz
    cos2_sq = cos2 * cos2
    sin2_sq = 1.0 - cos2_sq
    if plan.kahn_on:
        bx, by, bz = _v(plan.polar_b[k])
        ex, ey, ez = _v(plan.polar_e[k])
        psi = -torch.atan2(nx * bx + ny * by + nz * bz, nx * ex + ny * ey + nz * ez)
        factor = 0.5 * (1.0 + cos2_sq - plan.kahn_factor * torch.cos(2.0 * psi) * sin2_sq)
    else:
        factor = 0.5 * (1.0 + cos2_sq - plan.kahn_factor * 1.0 * sin2_sq)
    renorm = (torch.where(need, nx, dx), torch.where(need, ny, dy), torch.where(need, nz, dz))
    return factor, renorm
