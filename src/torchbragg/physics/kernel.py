"""The vectorised pixel kernel: the intensity sum of docs/behaviour/physics.md §7, over a chunk of
pixels.

The loops over sensor layer, sub-pixel and source run in Python in the C's order; each step is
vectorised over the pixels of the chunk and over the M = (φ step × mosaic domain) evaluations.
Terms are added to the accumulator one evaluation at a time, in the C's order, so float64
results match the C reference bit for bit. The cached per-pixel factors (Ω, polarization,
capture fraction) follow the C's "compute where still 0" rule (Q12), and the
``-oversample_*`` toggles multiply the running sum (Q14).

A :class:`~torchbragg.physics.trace_hook.TraceRecorder`, when given, records the traced pixels'
quantities from inside this same code path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from torchbragg.physics import ieee
from torchbragg.physics.block import accumulate, evaluate_block, scattering_vector, term
from torchbragg.physics.leftovers import Leftovers
from torchbragg.physics.plan import KernelPlan


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
    #: ``-printout``: the pixels' :class:`Leftovers` and own factors (I, polar, omega,
    #: capture, value), when requested
    last: Optional[dict] = None
    #: with -dmin: pixels with at least one source not cut (that ran a φ loop)
    uncut: Optional[torch.Tensor] = None
    #: an ``on`` pass with the global switch-off: the values with nearest-node F everywhere
    value_near: Optional[torch.Tensor] = None


def _v(t: torch.Tensor):
    return t[0], t[1], t[2]


def render_chunk(plan: KernelPlan, s: torch.Tensor, f: torch.Tensor, fresh_row: int,
                 policy: InterpolationPolicy, rec=None, keep_last: bool = False,
                 block_fn=None, step: Optional[Callable[[], None]] = None) -> ChunkResult:
    """Render pixels (slow ``s``, fast ``f``); ``fresh_row`` (or −1) runs the first φ loop.

    ``block_fn`` (see :mod:`fused`) replaces the eager block where no per-evaluation record
    is needed. ``step`` is called after each (layer, sub-pixel, source) step of the chunk
    (progress within a chunk).
    """
    if rec is not None or keep_last:
        block_fn = None
    dt, dev = plan.geom_dtype, plan.device  # per-pixel geometry and accumulators
    P = s.shape[0]
    n = plan.oversample
    ox, oy, oz = _v(plan.odet)
    zeros = torch.zeros(P, device=dev, dtype=dt)
    I = zeros + plan.I_bg  # (a tensor when the fluence is a differentiable parameter)
    polar = torch.full((P,), 1.0 if plan.nopolar else 0.0, device=dev, dtype=dt)
    omega = zeros
    omega_sum = zeros
    capture = zeros
    sensor = plan.absorb
    first_oor = None
    best = torch.full((P,), -1, device=dev, dtype=torch.long) if policy.mode == "on" else None
    # (Q11) the nearest-node accumulator, and the pixels still to interpolate: on the CPU only
    # those before the chunk's first out-of-range pixel found so far (later ones end nearest)
    switching = (policy.mode == "on" and plan.interpolate
                 and plan.interpolation_global_switch_off)
    I_near = I if switching else None
    limit = -1
    track = switching and dev.type == "cpu" and not _tracing()
    switch_hkl = None
    fresh_pending = fresh_row >= 0
    polar_cached = False  # (CPU) every pixel's polarization factor is cached (Q12)
    outer = 0
    last_d = last_i = None
    left = Leftovers.empty(P, dt, dev) if keep_last else None
    uncut = torch.zeros(P, device=dev, dtype=torch.bool) if plan.dmin_m > 0 else None
    for t in range(plan.layers):
        odet_t = t * plan.layer_spacing_m
        capture = torch.full((P,), 0.0 if sensor else 1.0, device=dev, dtype=dt)
        for j in range(n):
            for i in range(n):
                posx, posy, posz = subpixel_position(plan, s, f, t, j, i)
                R = ieee.sqrt(posx * posx + posy * posy + posz * posz)
                dx, dy, dz = posx / R, posy / R, posz / R
                if plan.point_pixel:
                    om_new = 1.0 / R / R
                else:
                    om_new = _over(plan.pixel_size_m * plan.pixel_size_m, R) / R * plan.close_distance_m / R
                omega = om_new if plan.oversample_omega else torch.where(omega == 0, om_new, omega)
                omega_sum = omega_sum + omega
                if sensor:
                    rho = dx * ox + dy * oy + dz * oz
                    cap_new = (torch.exp(-_over(odet_t * plan.mu_per_m, rho))
                               - torch.exp(-_over((t + 1) * plan.layer_spacing_m * plan.mu_per_m,
                                                  rho)))
                    capture = cap_new if plan.oversample_thick else torch.where(capture == 0, cap_new, capture)
                if rec is not None:
                    rec.subpixel(t, j, i)
                for k in range(plan.incident.shape[0]):
                    ix, iy, iz = _v(plan.incident[k])
                    source = (ix, iy, iz, plan.wavelength_m[k])
                    d_in = (dx, dy, dz)  # the block's d̂: before this source's renormalisation
                    S = None
                    if (rec is not None and k == 0) or plan.dmin_m > 0:
                        S = scattering_vector(d_in, source)
                    if rec is not None and k == 0:
                        rec.block_a(plan, (posx, posy, posz), R, omega, d_in, k, S)
                    culled = dmin_cut(plan, S) if plan.dmin_m > 0 else None
                    if culled is not None:
                        uncut = uncut | ~culled
                    live = ~culled if culled is not None else None
                    need = None if polar_cached else _needs_polar(plan, polar, live)
                    if need is not None and (plan.device.type != "cpu" or _tracing()
                                             or bool(need.any())):
                        # (on the CPU the check is cheap and skips sources whose factor is
                        # already cached everywhere; on a GPU it would be a sync, and a
                        # compiled chunk cannot branch on data: compute)
                        pol_new, (dx, dy, dz) = _polarization(plan, k, (dx, dy, dz), need)
                        polar = torch.where(need, pol_new, polar)
                    elif need is not None and live is None:
                        polar_cached = True  # no zero left: skip the check from now on
                    last_d, last_i = (dx, dy, dz), (ix, iy, iz)
                    # ---------------------------------------------- φ × mosaic block [M, P]
                    fresh = fresh_row if fresh_pending and (
                        culled is None or not bool(culled[fresh_row])) else -1
                    fresh_pending = fresh_pending and fresh < 0
                    if block_fn is not None and fresh < 0 and (
                            policy.mode == "off" or not plan.interpolate):
                        I = block_fn(plan, d_in, source, culled, I, capture, polar, omega)
                        outer += 1
                        if step is not None:
                            step()
                        continue
                    if S is None:
                        S = scattering_vector(d_in, source)
                    blk = evaluate_block(plan, S, culled, policy, outer, fresh, limit)
                    if blk.first_out_of_range is not None:
                        best = torch.where((best < 0) & (blk.first_out_of_range >= 0),
                                           blk.first_out_of_range, best)
                        if track:
                            limit = first_true(best >= 0)
                    if blk.switch_off_hkl is not None:
                        switch_hkl = blk.switch_off_hkl
                    if rec is not None and k == 0:
                        rec.block_b(plan, fresh >= 0, blk, culled)
                    I = accumulate(plan, I, term(blk.F_cell, blk.F_latt, dt), blk.skip, capture,
                                   polar, omega)
                    if I_near is not None:
                        I_near = accumulate(plan, I_near, term(blk.F_near, blk.F_latt, dt),
                                            blk.skip, capture, polar, omega)
                    if left is not None:
                        left.record(plan, (posx, posy, posz), S, blk, culled, fresh)
                    outer += 1
                    if step is not None:
                        step()
    value = _final(plan, I, capture, polar, omega)
    value_near = _final(plan, I_near, capture, polar, omega) if I_near is not None else None
    if rec is not None:
        rec.block_c(plan, I, capture, polar, omega, last_i, last_d, value)
    if best is not None:
        hit = best >= 0
        if bool(hit.any()):
            row = int(torch.nonzero(hit)[0, 0])
            first_oor = (row, int(best[row]))
    last = None
    if left is not None:
        last = dict(left=left, I=I, polar=polar, omega=omega, capture=capture, value=value)
    return ChunkResult(value, omega_sum, first_oor, switch_hkl, last, uncut, value_near)


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
    for t in range(plan.layers):
        for j in range(plan.oversample):
            for i in range(plan.oversample):
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
    """True while the chunk is being exported for compilation (:mod:`aot`)."""
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
