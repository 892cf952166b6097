/* The pixel loop (docs/behaviour/physics.md §7) with thread-count-independent handling of Q1 and
 * Q11.
 *
 * Order dependence and how it is removed:
 *  - Q1 (phi = 0 carry-over): the working lattice (a_phi, b_phi, c_phi) is the reference
 *    orientation until the first phi loop of the run has executed and afterwards always the
 *    orientation of the last non-zero phi step (every phi loop runs the same steps).  Rows are
 *    rendered serially until that first loop has run (normally the first row); each thread
 *    then starts from a copy of that settled state, so every thread count gives the
 *    single-thread image.
 *  - Kahn factor: the polarization routine renormalises the E-vector in place
 *    (docs/behaviour/physics.md Appendix A); the serial prefix also runs until that renormalisation
 *    has reached its fixed point.
 *  - Q11 (global interpolation switch-off): with several threads the remaining rows are first
 *    rendered with interpolation kept on while recording, per pixel, whether an evaluation left
 *    the grid.  The first such pixel in serial order is then re-rendered serially with the
 *    global switch (warning printed there), the rest of its row serially and all later rows in
 *    parallel with interpolation off -- exactly the single-thread result.
 *  - -printout (docs/behaviour/formats.md §12): the printed h, k, l, nearest indices, F_latt,
 *    F_cell and cell vectors are loop variables that persist across pixels (shown_vars); printout
 *    runs are rendered serially, so they follow the single-thread pixel order.
 */
#include "nb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { INTERP_OFF = 0, INTERP_SWITCH = 1, INTERP_PEREVAL = 2 };

/* The loop variables -printout shows that persist across pixels (docs/behaviour/formats.md §12,
 * observed): h..F_latt and the cell vectors are those of the run's last evaluation not cut by -dmin
 * (set for every domain, before the F_latt = 0 skip), F_cell that of the last evaluation that
 * computed one.  Before the run's first evaluation they hold what the set-up left
 * (init_shown). */
typedef struct {
    double h, k, l, h0, k0, l0, F_latt, F_cell;
    double a[3], b[3], c[3];
} shown_vars;

typedef struct {
    shown_vars shown;
    double ap[3], bp[3], cp[3]; /* working lattice after the phi rotation (Q1 state) */
    double pvec[3];             /* E-vector, renormalised in place by the Kahn factor */
    int phi_loop_done;
} rstate;

static int interp_warned = 0;

static double sincg(double x, double N)
{
    if (x == 0.0)
        return N;
    return sin(x * N) / sin(x);
}

static double sinc3(double x)
{
    if (x == 0.0)
        return 1.0;
    return 3.0 * (sin(x) / x - cos(x)) / (x * x);
}

static double polint4(const double *xa, const double *ya, double x)
{
    double t0 = (x - xa[1]) * (x - xa[2]) * (x - xa[3]) * ya[0] /
                ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]));
    double t1 = (x - xa[0]) * (x - xa[2]) * (x - xa[3]) * ya[1] /
                ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]));
    double t2 = (x - xa[0]) * (x - xa[1]) * (x - xa[3]) * ya[2] /
                ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]));
    double t3 = (x - xa[0]) * (x - xa[1]) * (x - xa[2]) * ya[3] /
                ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]));
    return t0 + t1 + t2 + t3;
}

static double grid_at(const nb_sim *S, int h, int k, int l)
{
    return S->Fgrid[((size_t)(h - S->h_min) * (S->k_range + 1) + (size_t)(k - S->k_min)) *
                        (S->l_range + 1) + (size_t)(l - S->l_min)];
}

static int idx_ok(double v, int lo, int hi)
{
    return v >= lo && v <= hi;
}

static double nearest_F(const nb_sim *S, double h0, double k0, double l0)
{
    if (S->hkls > 0 && idx_ok(h0, S->h_min, S->h_max) && idx_ok(k0, S->k_min, S->k_max) &&
        idx_ok(l0, S->l_min, S->l_max))
        return grid_at(S, (int)h0, (int)k0, (int)l0);
    return S->default_F;
}

/* docs/behaviour/physics.md §7.5; *oor is set when the neighbourhood leaves the grid */
static double lookup_F(const nb_sim *S, double h, double k, double l, double h0, double k0,
                       double l0, int mode, int *interp_on, int *oor)
{
    if (mode != INTERP_OFF && *interp_on) {
        if (h - S->h_min + 3 > S->h_range || h - 2 < S->h_min || k - S->k_min + 3 > S->k_range ||
            k - 2 < S->k_min || l - S->l_min + 3 > S->l_range || l - 2 < S->l_min || h != h ||
            k != k || l != l) {
            *oor = 1;
            if (mode == INTERP_SWITCH) {
                if (!interp_warned) {
                    printf("WARNING: out of range for three point interpolation: h,k,l,h0,k0,l0: "
                           "%g,%g,%g,%d,%d,%d \n",
                           h, k, l, nb_c_int(h0), nb_c_int(k0), nb_c_int(l0));
                    printf("WARNING: further warnings will not be printed! ");
                    interp_warned = 1;
                    nb_line_open = 1;
                }
                *interp_on = 0;
            }
        } else {
            double H[4], K[4], L[4], y[4][4][4], ly[4][4], ky[4];
            int hf = (int)floor(h), kf = (int)floor(k), lf = (int)floor(l), i, j, m;
            for (i = 0; i < 4; i++) {
                H[i] = hf - 1 + i;
                K[i] = kf - 1 + i;
                L[i] = lf - 1 + i;
            }
            for (i = 0; i < 4; i++)
                for (j = 0; j < 4; j++)
                    for (m = 0; m < 4; m++)
                        y[i][j][m] = grid_at(S, hf - 1 + i, kf - 1 + j, lf - 1 + m);
            for (i = 0; i < 4; i++)
                for (j = 0; j < 4; j++)
                    ly[i][j] = polint4(L, y[i][j], l);
            for (i = 0; i < 4; i++)
                ky[i] = polint4(K, ly[i], k);
            return polint4(H, ky, h);
        }
    }
    return nearest_F(S, h0, k0, l0);
}

/* docs/behaviour/physics.md §5.6 with the in-place renormalisation of Appendix A */
static double kahn_factor(double K, double *inc, double *diff, double *axis)
{
    double c2, c2s, s2s, psi = 0.0, B[3], E[3];
    nb_unitize(inc, inc);
    nb_unitize(diff, diff);
    nb_unitize(axis, axis);
    c2 = nb_dot(inc, diff);
    c2s = c2 * c2;
    s2s = 1.0 - c2s;
    if (K != 0.0) {
        nb_cross(axis, inc, B);
        nb_unitize(B, B);
        nb_cross(inc, B, E);
        nb_unitize(E, E);
        psi = -atan2(nb_dot(diff, B), nb_dot(diff, E));
    }
    return 0.5 * (1.0 + c2s - K * cos(2.0 * psi) * s2s);
}

static int is_traced(const nb_sim *S, int s, int f)
{
    int k;
    for (k = 0; k < S->ntrace; k++)
        if (S->trace[k].s == s && S->trace[k].f == f)
            return 1;
    return 0;
}

static double rint_half_down(double x)
{
    return ceil(x - 0.5);
}

/* -printout block of one pixel (docs/behaviour/formats.md §12): stol and position of the pixel's
 * last sub-pixel and source, the persistent loop variables v, and the pixel's own I, polar, omega,
 * capture fraction and stored value (own[0..4]) */
static void print_pixel(const nb_sim *S, int f, int s, double stol, const double *pos,
                        const shown_vars *v, const double *own)
{
    double tt = atan2(sqrt(pos[1] * pos[1] + pos[2] * pos[2]), pos[0]);
    printf("%4d %4d : stol = %g or %g\n", f, s, stol, sin(tt / 2.0) / (S->lambda0 * 1e10));
    printf("at %g %g %g\n", pos[0], pos[1], pos[2]);
    printf("hkl= %f %f %f  hkl0= %d %d %d\n", v->h, v->k, v->l, nb_c_int(v->h0),
           nb_c_int(v->k0), nb_c_int(v->l0));
    printf(" F_cell=%g  F_latt=%g   I = %g\n", v->F_cell, v->F_latt, own[0]);
    printf("I/steps %15.10g\n", own[0] / S->steps);
    printf("polar   %15.10g\n", own[1]);
    printf("omega   %15.10g\n", own[2]);
    printf("capfrac %15.10g\n", own[3]);
    printf("pixel   %15.10g\n", own[4]);
    printf("real-space cell vectors (Angstrom):\n");
    printf("     %-10s  %-10s  %-10s\n", "a", "b", "c");
    printf("X: %11.8f %11.8f %11.8f\n", v->a[0] * 1e10, v->b[0] * 1e10, v->c[0] * 1e10);
    printf("Y: %11.8f %11.8f %11.8f\n", v->a[1] * 1e10, v->b[1] * 1e10, v->c[1] * 1e10);
    printf("Z: %11.8f %11.8f %11.8f\n", v->a[2] * 1e10, v->b[2] * 1e10, v->c[2] * 1e10);
}

/* Render one pixel; returns 1 if an interpolation evaluation left the grid. */
static int render_pixel(nb_sim *S, rstate *st, int s, int f, int mode, int *interp_on,
                        double *omega_acc)
{
    const int n = S->oversample;
    const double px = S->pixel, d = px / n;
    const int tr = S->ntrace > 0 && is_traced(S, s, f);
    const int nsrc = S->nsources, nphi = S->phisteps, ndom = S->mosaic_domains;
    double I = S->I_bg, polar = S->nopolar ? 1.0 : 0.0, omega = 0.0, capture = 1.0;
    double pos[3] = {0, 0, 0}, dhat[3], R = 0, Sv[3] = {0, 0, 0}, stol = 0, cos2theta = 0;
    double a[3], b[3], c[3], h = st->shown.h, k = st->shown.k, l = st->shown.l;
    double h0 = st->shown.h0, k0 = st->shown.k0, l0 = st->shown.l0;
    double F_latt = st->shown.F_latt, F_cell = st->shown.F_cell, value;
    const int absorb = S->thickness > 0.0 ||
                       (S->oversample_thick && S->prof.thick_capture_no_sensor);
    int oor_any = 0, t, isub, jsub, src, m, q, kk;
    size_t idx = (size_t)s * S->fpixels + f;

    memcpy(a, st->shown.a, sizeof(a));
    memcpy(b, st->shown.b, sizeof(b));
    memcpy(c, st->shown.c, sizeof(c));
    if (tr)
        nb_trace_ints("pixel", (int[2]){s, f}, 2);
    for (t = 0; t < S->thicksteps; t++) {
        double Odet = t * S->thickstep;
        capture = (S->thickness == 0.0) ? 1.0 : 0.0;
        for (jsub = 0; jsub < n; jsub++) {
            for (isub = 0; isub < n; isub++) {
                double Fdet = d * (double)(f * n + isub) + d / 2.0;
                double Sdet = d * (double)(s * n + jsub) + d / 2.0;
                for (kk = 0; kk < 3; kk++)
                    pos[kk] = Fdet * S->fdet[kk] + Sdet * S->sdet[kk] + Odet * S->odet[kk] +
                              S->pix0[kk];
                if (S->curved) {
                    double q0[3], q1[3];
                    for (kk = 0; kk < 3; kk++)
                        q0[kk] = S->distance * S->beam[kk];
                    nb_rotate_axis(q0, q1, S->sdet, pos[1] / S->distance);
                    nb_rotate_axis(q1, pos, S->fdet, pos[2] / S->distance);
                }
                R = nb_mag(pos);
                dhat[0] = pos[0] / R;
                dhat[1] = pos[1] / R;
                dhat[2] = pos[2] / R;
                if (omega == 0.0 || S->oversample_omega) {
                    if (S->point_pixel)
                        omega = 1.0 / R / R;
                    else
                        omega = px * px / R / R * S->close_distance / R;
                }
                if (omega_acc)
                    *omega_acc += omega;
                /* §6.10; Q36: -oversample_thick evaluates it without a sensor too, where
                 * the layer spacing is 0 and the capture fraction 0 (NaN if rho = 0) */
                if (absorb && (capture == 0.0 || S->oversample_thick)) {
                    double rho = nb_dot(dhat, S->odet);
                    capture = exp(-(t * S->thickstep * S->mu) / rho) -
                              exp(-((t + 1) * S->thickstep * S->mu) / rho);
                }
                if (tr)
                    nb_trace_ints("subpixel", (int[3]){t, jsub, isub}, 3);
                for (src = 0; src < nsrc; src++) {
                    double inc[3], lambda = S->src_lambda[src];
                    memcpy(inc, S->src_dir + 3 * src, sizeof(inc));
                    Sv[0] = (dhat[0] - inc[0]) / lambda;
                    Sv[1] = (dhat[1] - inc[1]) / lambda;
                    Sv[2] = (dhat[2] - inc[2]) / lambda;
                    stol = 0.5 * nb_mag(Sv);
                    cos2theta = nb_dot(inc, dhat);
                    if (tr && src == 0) {
                        nb_trace_vec("pix0_vector_meters", S->pix0, 3, 1.0);
                        nb_trace_vec("fdet_vec", S->fdet, 3, 1.0);
                        nb_trace_vec("sdet_vec", S->sdet, 3, 1.0);
                        nb_trace_vec("pixel_pos_meters", pos, 3, 1.0);
                        nb_trace_num("R_distance_meters", R);
                        nb_trace_num("omega_pixel_sr", omega);
                        nb_trace_num("close_distance_meters", S->close_distance);
                        nb_trace_num("obliquity_factor", S->close_distance / R);
                        nb_trace_vec("diffracted_vec", dhat, 3, 1.0);
                        nb_trace_vec("incident_vec", inc, 3, 1.0);
                        nb_trace_num("lambda_meters", lambda);
                        nb_trace_num("lambda_angstroms", lambda * 1e10);
                        nb_trace_vec("scattering_vec_A_inv", Sv, 3, 1.0);
                    }
                    if (S->dmin > 0.0 && stol > 0.0 && S->dmin > 0.5 / stol)
                        continue;
                    if (polar == 0.0 || S->oversample_polar)
                        polar = kahn_factor(S->polar_K, inc, dhat, st->pvec);
                    for (m = 0; m < nphi; m++) {
                        double phi = S->phi0 + S->phistep * m;
                        if (phi != 0.0) {
                            nb_rotate_axis(S->a0, st->ap, S->spindle, phi);
                            nb_rotate_axis(S->b0, st->bp, S->spindle, phi);
                            nb_rotate_axis(S->c0, st->cp, S->spindle, phi);
                        } else if (!S->prof.phi0_carry_over) { /* Q1 corrected */
                            memcpy(st->ap, S->a0, sizeof(st->ap));
                            memcpy(st->bp, S->b0, sizeof(st->bp));
                            memcpy(st->cp, S->c0, sizeof(st->cp));
                        }
                        for (q = 0; q < ndom; q++) {
                            double Fa = 1.0, Fb = 1.0, Fc = 1.0;
                            int btr = tr && src == 0 && m == 0 && q == 0;
                            if (S->mosaic_spread > 0.0) {
                                const double *U = S->mosaic_umats + 9 * q;
                                nb_rotate_umat(st->ap, a, U);
                                nb_rotate_umat(st->bp, b, U);
                                nb_rotate_umat(st->cp, c, U);
                            } else {
                                memcpy(a, st->ap, sizeof(a));
                                memcpy(b, st->bp, sizeof(b));
                                memcpy(c, st->cp, sizeof(c));
                            }
                            h = nb_dot(a, Sv);
                            k = nb_dot(b, Sv);
                            l = nb_dot(c, Sv);
                            h0 = rint_half_down(h);
                            k0 = rint_half_down(k);
                            l0 = rint_half_down(l);
                            if (S->shape == SHAPE_SQUARE) {
                                F_latt = 1.0;
                                if (S->Na > 1) {
                                    Fa = sincg(NB_PI * h, S->Na);
                                    F_latt *= Fa;
                                }
                                if (S->Nb > 1) {
                                    Fb = sincg(NB_PI * k, S->Nb);
                                    F_latt *= Fb;
                                }
                                if (S->Nc > 1) {
                                    Fc = sincg(NB_PI * l, S->Nc);
                                    F_latt *= Fc;
                                }
                            } else if (S->shape == SHAPE_ROUND) {
                                double hrad = (h - h0) * (h - h0) * S->Na * S->Na +
                                              (k - k0) * (k - k0) * S->Nb * S->Nb +
                                              (l - l0) * (l - l0) * S->Nc * S->Nc;
                                F_latt = S->Na * S->Nb * S->Nc * 0.723601254558268 *
                                         sinc3(NB_PI * sqrt(hrad * S->fudge));
                            } else {
                                double dx = (h - h0) * S->astar[0] + (k - k0) * S->bstar[0] +
                                            (l - l0) * S->cstar[0];
                                double dy = (h - h0) * S->astar[1] + (k - k0) * S->bstar[1] +
                                            (l - l0) * S->cstar[1];
                                double dz = (h - h0) * S->astar[2] + (k - k0) * S->bstar[2] +
                                            (l - l0) * S->cstar[2];
                                double rs = (dx * dx + dy * dy + dz * dz) * S->Na * S->Na * S->Nb *
                                            S->Nb * S->Nc * S->Nc;
                                if (S->shape == SHAPE_GAUSS)
                                    F_latt = S->Na * S->Nb * S->Nc * exp(-(rs / 0.63 * S->fudge));
                                else
                                    F_latt = (rs * S->fudge < 0.3969) ? S->Na * S->Nb * S->Nc : 0.0;
                            }
                            if (btr) {
                                int hr[3];
                                nb_trace_vec("rot_a_angstroms", a, 3, 1e10);
                                nb_trace_vec("rot_b_angstroms", b, 3, 1e10);
                                nb_trace_vec("rot_c_angstroms", c, 3, 1e10);
                                nb_trace_vec("rot_a_star_A_inv", S->astar, 3, 1.0);
                                nb_trace_vec("rot_b_star_A_inv", S->bstar, 3, 1.0);
                                nb_trace_vec("rot_c_star_A_inv", S->cstar, 3, 1.0);
                                nb_trace_vec("hkl_frac", (double[3]){h, k, l}, 3, 1.0);
                                hr[0] = nb_c_int(h0);
                                hr[1] = nb_c_int(k0);
                                hr[2] = nb_c_int(l0);
                                nb_trace_ints("hkl_rounded", hr, 3);
                                if (S->shape == SHAPE_SQUARE) {
                                    nb_trace_num("F_latt_a", Fa);
                                    nb_trace_num("F_latt_b", Fb);
                                    nb_trace_num("F_latt_c", Fc);
                                    nb_trace_num("F_latt", F_latt);
                                }
                            }
                            if (F_latt == 0.0 && S->water == 0.0)
                                continue;
                            {
                                int oor = 0;
                                F_cell = lookup_F(S, h, k, l, h0, k0, l0, mode, interp_on, &oor);
                                oor_any |= oor;
                            }
                            if (btr)
                                nb_trace_num("F_cell", F_cell);
                            I += F_cell * F_cell * F_latt * F_latt;
                            if (S->oversample_thick)
                                I *= capture;
                            if (S->oversample_polar)
                                I *= polar;
                            if (S->oversample_omega)
                                I *= omega;
                        }
                    }
                    st->phi_loop_done = 1;
                }
            }
        }
    }
    value = NB_R_E_SQR * S->fluence * I / S->steps;
    if (!S->oversample_thick)
        value *= capture;
    if (!S->oversample_polar)
        value *= polar;
    if (!S->oversample_omega)
        value *= omega;
    S->floatimage[idx] = (float)((double)S->floatimage[idx] + value);
    if (tr) {
        nb_trace_num("I_before_scaling", I);
        nb_trace_num("r_e_meters", sqrt(NB_R_E_SQR));
        nb_trace_num("r_e_sqr", NB_R_E_SQR);
        nb_trace_num("fluence_photons_per_m2", S->fluence);
        nb_trace_int("steps", nb_c_int(S->steps));
        nb_trace_int("oversample_thick", S->oversample_thick);
        nb_trace_int("oversample_polar", S->oversample_polar);
        nb_trace_int("oversample_omega", S->oversample_omega);
        nb_trace_num("capture_fraction", capture);
        nb_trace_num("polar", polar);
        nb_trace_num("omega_pixel", omega);
        nb_trace_num("cos_2theta", cos2theta);
        nb_trace_num("I_pixel_final", value);
        nb_trace_num("floatimage_accumulated", (double)S->floatimage[idx]);
    }
    /* the loop variables persist into the next pixel (docs/behaviour/formats.md §12) */
    st->shown.h = h;
    st->shown.k = k;
    st->shown.l = l;
    st->shown.h0 = h0;
    st->shown.k0 = k0;
    st->shown.l0 = l0;
    st->shown.F_latt = F_latt;
    st->shown.F_cell = F_cell;
    memcpy(st->shown.a, a, sizeof(a));
    memcpy(st->shown.b, b, sizeof(b));
    memcpy(st->shown.c, c, sizeof(c));
    if (S->printout && (S->printout_f < 0 || (f == S->printout_f && s == S->printout_s))) {
        const double own[5] = {I, polar, omega, capture, (double)S->floatimage[idx]};
        print_pixel(S, f, s, stol, pos, &st->shown, own);
    }
    return oor_any;
}

static int pixel_wanted(const nb_sim *S, int s, int f)
{
    if (f < S->roi_xmin || f > S->roi_xmax || s < S->roi_ymin || s > S->roi_ymax)
        return 0;
    if (S->maskimage && S->maskimage[(size_t)s * S->fpixels + f] == 0)
        return 0;
    return 1;
}

/* progress meter (docs/behaviour/cli.md §8.3): lines are informational and ignored by
 * comparisons */
static void progress_tick(long add, long roi_area, long *done, long *lastpct)
{
    long pct;
#ifdef _OPENMP
#pragma omp critical(nb_progress)
#endif
    {
        *done += add;
        pct = *done * 100 / (roi_area > 0 ? roi_area : 1);
        if (pct != *lastpct) {
            printf("%ld%% done\n", pct);
            *lastpct = pct;
        }
    }
}

/* docs/behaviour/formats.md §8.4 and Q37: the mask values, in file order, are indexed with the
 * detector's flat pixel index slow*fpixels + fast; a pixel past the end of the mask counts as mask
 * value 0. The corrected profile refuses a mask of another size. */
static void fit_mask(nb_sim *S)
{
    size_t npix = (size_t)S->fpixels * S->spixels, nmask = (size_t)S->mask_w * S->mask_h;
    unsigned short *fitted;
    if (!S->maskimage || (S->mask_w == S->fpixels && S->mask_h == S->spixels))
        return;
    if (!S->prof.mask_any_size)
        nb_fatal("ERROR: -mask %s is %dx%d pixels but the detector is %dx%d", S->maskfile,
                 S->mask_w, S->mask_h, S->fpixels, S->spixels);
    fflush(stdout);
    fprintf(stderr, "WARNING: -mask %s is %dx%d pixels but the detector is %dx%d: the mask is "
            "read with the detector's pixel indices\n", S->maskfile, S->mask_w, S->mask_h,
            S->fpixels, S->spixels);
    fitted = nb_xcalloc(npix, sizeof(unsigned short));
    memcpy(fitted, S->maskimage, (npix < nmask ? npix : nmask) * sizeof(unsigned short));
    free(S->maskimage);
    S->maskimage = fitted;
    S->mask_w = S->fpixels;
    S->mask_h = S->spixels;
}

/* the -printout variables before the run's first evaluation (observed): h, k, l of the HKL
 * file's first pass, F_cell and l0 of its second pass (all 0 without an HKL file),
 * h0 = k0 = 6, F_latt = 0 and the set-up cell vectors a0, b0, c0 */
static void init_shown(const nb_sim *S, shown_vars *v)
{
    v->h = S->hkl_last_hkl[0];
    v->k = S->hkl_last_hkl[1];
    v->l = S->hkl_last_hkl[2];
    v->h0 = 6.0;
    v->k0 = 6.0;
    v->l0 = S->hkl_last_l;
    v->F_latt = 0.0;
    v->F_cell = S->hkl_last_F;
    memcpy(v->a, S->a0, sizeof(v->a));
    memcpy(v->b, S->b0, sizeof(v->b));
    memcpy(v->c, S->c0, sizeof(v->c));
}

static int vec_fixed(const double *v)
{
    double u[3];
    nb_unitize(v, u);
    return u[0] == v[0] && u[1] == v[1] && u[2] == v[2];
}

void nb_render(nb_sim *S)
{
    size_t npix = (size_t)S->fpixels * S->spixels;
    double *omega_row = nb_xcalloc((size_t)(S->spixels > 0 ? S->spixels : 1), sizeof(double));
    int interp_on = (S->interpolate == 1 && S->hkls > 0);
    int mode = interp_on ? (S->prof.interp_global_switchoff ? INTERP_SWITCH : INTERP_PEREVAL)
                         : INTERP_OFF;
    int nthreads = 1, s, f, row;
    long roi_area, done = 0, lastpct = -1;
    int progress;
    rstate st;

    S->floatimage = nb_xcalloc(npix ? npix : 1, sizeof(float));
    fit_mask(S);
    init_shown(S, &st.shown);
    memcpy(st.ap, S->a0, sizeof(st.ap));
    memcpy(st.bp, S->b0, sizeof(st.bp));
    memcpy(st.cp, S->c0, sizeof(st.cp));
    memcpy(st.pvec, S->polar_vec, sizeof(st.pvec));
    st.phi_loop_done = 0;
    roi_area = (long)(S->roi_xmax - S->roi_xmin + 1) * (long)(S->roi_ymax - S->roi_ymin + 1);
    progress = S->progress && !S->printout && roi_area >= 100;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    if (S->ntrace > 0 || S->printout)
        nthreads = 1;

    /* serial part: everything when single-threaded, else until the state has settled */
    for (row = 0; row < S->spixels; row++) {
        if (nthreads > 1 && st.phi_loop_done && (S->polar_K == 0.0 || vec_fixed(st.pvec)))
            break;
        for (f = 0; f < S->fpixels; f++) {
            if (!pixel_wanted(S, row, f))
                continue;
            render_pixel(S, &st, row, f, mode, &interp_on, &omega_row[row]);
            if (progress)
                progress_tick(1, roi_area, &done, &lastpct);
        }
        if (mode == INTERP_SWITCH && !interp_on)
            mode = INTERP_OFF;
    }
    if (row < S->spixels) {
        int r0 = row, first = -1;
        int pmode = (mode == INTERP_SWITCH) ? INTERP_PEREVAL : mode;
        unsigned char *oor = NULL;
        if (mode == INTERP_SWITCH)
            oor = nb_xcalloc(npix, 1);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
        for (s = r0; s < S->spixels; s++) {
            rstate ts = st;
            int on = 1, ff;
            long nrow = 0;
            for (ff = 0; ff < S->fpixels; ff++) {
                if (!pixel_wanted(S, s, ff))
                    continue;
                if (render_pixel(S, &ts, s, ff, pmode, &on, &omega_row[s]) && oor)
                    oor[(size_t)s * S->fpixels + ff] = 1;
                nrow++;
            }
            if (progress)
                progress_tick(nrow, roi_area, &done, &lastpct);
        }
        if (oor) {
            size_t i;
            for (i = (size_t)r0 * S->fpixels; i < npix; i++)
                if (oor[i]) {
                    first = (int)i;
                    break;
                }
        }
        if (first >= 0) {
            /* serial replay from the switch-off pixel (see the comment at the top) */
            int fs = first / S->fpixels, f0 = first % S->fpixels;
            rstate ts = st;
            int on = 1;
            for (f = f0; f < S->fpixels; f++) {
                size_t i = (size_t)fs * S->fpixels + f;
                if (!pixel_wanted(S, fs, f))
                    continue;
                S->floatimage[i] = 0.0f;
                render_pixel(S, &ts, fs, f, on ? INTERP_SWITCH : INTERP_OFF, &on, NULL);
            }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
            for (s = fs + 1; s < S->spixels; s++) {
                rstate ts2 = st;
                int off = 0, ff;
                for (ff = 0; ff < S->fpixels; ff++) {
                    if (!pixel_wanted(S, s, ff))
                        continue;
                    S->floatimage[(size_t)s * S->fpixels + ff] = 0.0f;
                    render_pixel(S, &ts2, s, ff, INTERP_OFF, &off, NULL);
                }
            }
        }
        free(oor);
    }
    S->omega_sum = 0.0;
    for (s = 0; s < S->spixels; s++)
        S->omega_sum += omega_row[s];
    free(omega_row);
}
