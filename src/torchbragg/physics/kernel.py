"""The vectorised pixel kernel: the intensity sum of model.md §7, over a chunk of pixels.

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
from typing import Optional

import torch

from torchbragg.physics.lattice_factor import lattice_factor
from torchbragg.physics.plan import KernelPlan


@dataclass
class InterpolationPolicy:
    """How F_cell is looked up in one chunk pass (model.md §7.5, Q11).

    mode ``off``: nearest node everywhere. ``on``: interpolate where in range, nearest
    elsewhere (and record the first out-of-range evaluation). ``split``: interpolate before the
    evaluation (row, index) where the global switch-off happens, nearest from it on.
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
    #: the values left by each pixel's last evaluation (``-printout``), when requested
    last: Optional[dict] = None


def _v(t: torch.Tensor):
    return t[0], t[1], t[2]


def render_chunk(plan: KernelPlan, s: torch.Tensor, f: torch.Tensor, fresh_row: int,
                 policy: InterpolationPolicy, rec=None, keep_last: bool = False) -> ChunkResult:
    """Render pixels (slow ``s``, fast ``f``); ``fresh_row`` (or −1) runs the first φ loop."""
    dt, dev = plan.geom_dtype, plan.device  # per-pixel geometry and accumulators
    P = s.shape[0]
    M = plan.lat_a.shape[0]
    n = plan.oversample
    delta = plan.pixel_size_m / n
    fx, fy, fz = _v(plan.fdet)
    sx, sy, sz = _v(plan.sdet)
    ox, oy, oz = _v(plan.odet)
    px0, py0, pz0 = _v(plan.pix0)
    zeros = torch.zeros(P, device=dev, dtype=dt)
    I = torch.full((P,), plan.I_bg, device=dev, dtype=dt)
    polar = torch.full((P,), 1.0 if plan.nopolar else 0.0, device=dev, dtype=dt)
    omega = zeros
    omega_sum = zeros
    capture = zeros
    toggles = plan.oversample_thick or plan.oversample_polar or plan.oversample_omega
    sensor = plan.thickness_m > 0
    la, lb, lc = plan.lat_a.T, plan.lat_b.T, plan.lat_c.T  # [3, M]
    first_oor = None
    best = torch.full((P,), -1, device=dev, dtype=torch.long) if policy.mode == "on" else None
    switch_hkl = None
    row_ids = torch.arange(P, device=dev)[:, None]
    fresh_pending = fresh_row >= 0
    outer = 0
    last_d = last_i = None
    last = None
    for t in range(plan.layers):
        odet_t = t * plan.layer_spacing_m
        capture = torch.full((P,), 0.0 if sensor else 1.0, device=dev, dtype=dt)
        for j in range(n):
            sdet_c = delta * (s * n + j).to(dt) + delta / 2.0
            for i in range(n):
                fdet_c = delta * (f * n + i).to(dt) + delta / 2.0
                posx = fdet_c * fx + sdet_c * sx + odet_t * ox + px0
                posy = fdet_c * fy + sdet_c * sy + odet_t * oy + py0
                posz = fdet_c * fz + sdet_c * sz + odet_t * oz + pz0
                if plan.curved:
                    posx, posy, posz = _curve(plan, posx, posy, posz)
                R = torch.sqrt(posx * posx + posy * posy + posz * posz)
                dx, dy, dz = posx / R, posy / R, posz / R
                if plan.point_pixel:
                    om_new = 1.0 / R / R
                else:
                    om_new = plan.pixel_size_m * plan.pixel_size_m / R / R * plan.close_distance_m / R
                omega = om_new if plan.oversample_omega else torch.where(omega == 0, om_new, omega)
                omega_sum = omega_sum + omega
                if sensor:
                    rho = dx * ox + dy * oy + dz * oz
                    cap_new = (torch.exp(-(odet_t * plan.mu_per_m / rho))
                               - torch.exp(-((t + 1) * plan.layer_spacing_m * plan.mu_per_m / rho)))
                    capture = cap_new if plan.oversample_thick else torch.where(capture == 0, cap_new, capture)
                if rec is not None:
                    rec.subpixel(t, j, i)
                for k in range(plan.incident.shape[0]):
                    ix, iy, iz = _v(plan.incident[k])
                    lam = plan.wavelength_m[k]
                    Sx, Sy, Sz = (dx - ix) / lam, (dy - iy) / lam, (dz - iz) / lam
                    if rec is not None and k == 0:
                        rec.block_a(plan, (posx, posy, posz), R, omega, (dx, dy, dz), k, (Sx, Sy, Sz))
                    if plan.dmin_m > 0:
                        stol = 0.5 * torch.sqrt(Sx * Sx + Sy * Sy + Sz * Sz)
                        culled = (stol > 0) & (plan.dmin_m > 0.5 / stol)
                    else:
                        culled = None
                    live = ~culled if culled is not None else None
                    need = _needs_polar(plan, polar, live)
                    if need is not None:
                        pol_new, (dx, dy, dz) = _polarization(plan, k, (dx, dy, dz), need)
                        polar = torch.where(need, pol_new, polar)
                    last_d, last_i = (dx, dy, dz), (ix, iy, iz)
                    # ---------------------------------------------------- φ × mosaic block [P, M]
                    bt = plan.dtype  # the [P, M] block's dtype
                    Sx_, Sy_, Sz_ = (x[:, None].to(bt) for x in (Sx, Sy, Sz))
                    h = Sx_ * la[0] + Sy_ * la[1] + Sz_ * la[2]
                    kk = Sx_ * lb[0] + Sy_ * lb[1] + Sz_ * lb[2]
                    l = Sx_ * lc[0] + Sy_ * lc[1] + Sz_ * lc[2]
                    use_fresh = fresh_pending and (culled is None or not bool(culled[fresh_row]))
                    if use_fresh:
                        fa, fb, fc = (x.T for x in plan.first_lat)
                        r = slice(fresh_row, fresh_row + 1)
                        h = torch.cat([h[:r.start], Sx_[r] * fa[0] + Sy_[r] * fa[1] + Sz_[r] * fa[2], h[r.stop:]])
                        kk = torch.cat([kk[:r.start], Sx_[r] * fb[0] + Sy_[r] * fb[1] + Sz_[r] * fb[2], kk[r.stop:]])
                        l = torch.cat([l[:r.start], Sx_[r] * fc[0] + Sy_[r] * fc[1] + Sz_[r] * fc[2], l[r.stop:]])
                        fresh_pending = False
                    h0, k0, l0 = (torch.ceil(x - 0.5) for x in (h, kk, l))
                    F_latt, axes = lattice_factor(h, kk, l, h0, k0, l0, plan.shape,
                                                  shifted=plan.shifted_lattice)
                    skip = (F_latt == 0) if not plan.water_on else torch.zeros_like(h, dtype=torch.bool)
                    if culled is not None:
                        skip = skip | culled[:, None]
                    F_cell, oor_first, hkl_at = _structure_factor(
                        plan, policy, h, kk, l, h0, k0, l0, skip, outer, M, row_ids)
                    if oor_first is not None:
                        best = torch.where((best < 0) & (oor_first >= 0), oor_first, best)
                    if hkl_at is not None:
                        switch_hkl = hkl_at
                    if rec is not None and k == 0:
                        rec.block_b(plan, use_fresh, h, kk, l, h0, k0, l0, F_latt, axes, F_cell,
                                    skip, culled)
                    term = (F_cell * F_cell * F_latt * F_latt).to(dt)
                    I = _accumulate(plan, I, term, skip, capture, polar, omega, toggles)
                    if keep_last:
                        last = {"pos": (posx, posy, posz), "S": (Sx, Sy, Sz),
                                "hkl": tuple(x[:, -1] for x in (h, kk, l, h0, k0, l0)),
                                "F_latt": F_latt[:, -1], "F_cell": F_cell[:, -1]}
                    outer += 1
    value = plan.fluence_factor * I / plan.steps
    if not plan.oversample_thick:
        value = value * capture
    if not plan.oversample_polar:
        value = value * polar
    if not plan.oversample_omega:
        value = value * omega
    if rec is not None:
        rec.block_c(plan, I, capture, polar, omega, last_i, last_d, value)
    if best is not None:
        hit = best >= 0
        if bool(hit.any()):
            row = int(torch.nonzero(hit)[0, 0])
            first_oor = (row, int(best[row]))
    if keep_last and last is not None:
        last.update(I=I, polar=polar, omega=omega, capture=capture, value=value)
    return ChunkResult(value, omega_sum, first_oor, switch_hkl, last if keep_last else None)


def _curve(plan: KernelPlan, posx, posy, posz):
    """Curved detector (model.md §6.8, Q22): arcs of length pos_y, pos_z at radius d."""
    from torchbragg.physics import vec3 as v3

    d = plan.distance_m
    q = (d * plan.beam[0], d * plan.beam[1], d * plan.beam[2])
    q1 = v3.rotate_axis(q, _v(plan.sdet), posy / d)
    return v3.rotate_axis(q1, _v(plan.fdet), posz / d)


def _needs_polar(plan: KernelPlan, polar, live):
    """Where the polarization factor is (re)computed at this source, or None if nowhere."""
    if plan.oversample_polar:
        return live if live is not None else torch.ones_like(polar, dtype=torch.bool)
    if plan.nopolar:
        return None
    need = polar == 0
    return need & live if live is not None else need


def _polarization(plan: KernelPlan, k: int, d, need):
    """Kahn factor (model.md §5.6); also returns d̂ re-normalised where it was computed."""
    dx, dy, dz = d
    mag = torch.sqrt(dx * dx + dy * dy + dz * dz)
    nx, ny, nz = dx / mag, dy / mag, dz / mag
    ix, iy, iz = _v(plan.incident[k])
    cos2 = ix * nx + iy * ny + iz * nz
    cos2_sq = cos2 * cos2
    sin2_sq = 1.0 - cos2_sq
    if plan.kahn_factor != 0:
        bx, by, bz = _v(plan.polar_b[k])
        ex, ey, ez = _v(plan.polar_e[k])
        psi = -torch.atan2(nx * bx + ny * by + nz * bz, nx * ex + ny * ey + nz * ez)
        factor = 0.5 * (1.0 + cos2_sq - plan.kahn_factor * torch.cos(2.0 * psi) * sin2_sq)
    else:
        factor = 0.5 * (1.0 + cos2_sq - plan.kahn_factor * 1.0 * sin2_sq)
    renorm = (torch.where(need, nx, dx), torch.where(need, ny, dy), torch.where(need, nz, dz))
    return factor, renorm


def _structure_factor(plan, policy, h, k, l, h0, k0, l0, skip, outer, M, row_ids):
    """F_cell per evaluation; in an ``on`` pass also the first out-of-range index per row."""
    sf = plan.sf
    nearest = sf.nearest(h0, k0, l0)
    if not plan.interpolate or policy.mode == "off":
        return nearest, None, None
    oor = sf.out_of_interpolation_range(h, k, l)
    cols = outer * M + torch.arange(M, device=h.device)[None, :]
    if policy.mode == "split":
        before = (row_ids < policy.row) | ((row_ids == policy.row) & (cols < policy.index))
        use = before & ~oor
        hkl_at = None
        if policy.row < h.shape[0] and outer * M <= policy.index < (outer + 1) * M:
            m = policy.index - outer * M
            r = policy.row
            hkl_at = tuple(float(x[r, m]) for x in (h, k, l, h0, k0, l0))
        interp = sf.tricubic(h, k, l, use)
        return torch.where(use, interp, nearest), None, hkl_at
    use = ~oor
    interp = sf.tricubic(h, k, l, use)
    first = None
    if plan.interpolation_global_switch_off:
        trig = oor & ~skip
        any_row = trig.any(dim=1)
        idx = torch.argmax(trig.to(torch.int8), dim=1)
        first = torch.where(any_row, outer * M + idx, torch.full_like(idx, -1))
    return torch.where(use, interp, nearest), first, None


def _accumulate(plan, I, term, skip, capture, polar, omega, toggles):
    """Add the M evaluations in order; with toggles multiply the running sum after each (Q14)."""
    M = term.shape[1]
    if not toggles:
        term = torch.where(skip, torch.zeros_like(term), term)
        for m in range(M):
            I = I + term[:, m]
        return I
    for m in range(M):
        new = I + term[:, m]
        if plan.oversample_thick:
            new = new * capture
        if plan.oversample_polar:
            new = new * polar
        if plan.oversample_omega:
            new = new * omega
        I = torch.where(skip[:, m], I, new)
    return I
