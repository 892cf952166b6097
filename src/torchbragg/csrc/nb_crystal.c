/* Sampling auto-selection, crystal lattice, mosaic domains and sources
 * (docs/behaviour/physics.md §2-§5). */
#include "nb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* docs/behaviour/physics.md §5.2: one divergence-like axis */
static void resolve_axis(double *range, double *step, int *count, double unset_range_value)
{
    if (*count <= 0) {
        if (*range < 0.0) {
            if (*step <= 0.0) {
                *count = 1;
                *range = 0.0;
                *step = 0.0;
            } else {
                *range = *step;
                *count = 2;
            }
        } else {
            if (*step <= 0.0) {
                *step = *range;
                *count = 2;
            } else {
                *count = nb_count_from_ratio(*range / *step, "the divergence/dispersion grid");
            }
        }
    } else {
        if (*range < 0.0) {
            if (*step <= 0.0) {
                *range = unset_range_value;
                *step = *range / *count;
            } else {
                *range = *step;
                *count = 2;
            }
        } else {
            if (*step <= 0.0) {
                if (*count < 2)
                    *count = 2;
                *step = *range / (*count - 1);
            }
        }
    }
    if (*range <= 0.0 || *step <= 0.0 || *count <= 0) {
        *count = 1;
        *range = 0.0;
        *step = 0.0;
    }
}

void nb_resolve_sampling(nb_sim *S)
{
    /* phi (docs/behaviour/physics.md §3.1) */
    if (S->phisteps == 0)
        S->phisteps = 1;
    if (S->phisteps < 0) {
        if (S->osc < 0.0) {
            if (S->phistep <= 0.0) {
                S->phisteps = 1;
                S->osc = 0.0;
                S->phistep = 0.0;
            } else {
                S->osc = S->phistep;
                S->phisteps = 2;
            }
        } else {
            if (S->phistep <= 0.0) {
                S->phisteps = 2;
                S->phistep = S->osc / 2.0;
            } else {
                S->phisteps = nb_count_from_ratio(S->osc / S->phistep, "the phi range");
            }
        }
    } else {
        if (S->osc < 0.0) {
            if (S->phistep <= 0.0) {
                S->osc = 1.0 / NB_RTD;
                S->phistep = S->osc / S->phisteps;
            } else {
                S->osc = S->phistep;
                S->phisteps = 2;
            }
        } else if (S->phistep < 0.0) {
            S->phistep = S->osc / S->phisteps;
        }
    }
    if (S->phisteps <= 0)
        S->phisteps = 1;
    /* divergence and dispersion (docs/behaviour/physics.md §5.2) */
    resolve_axis(&S->hdivrange, &S->hdivstep, &S->hdivsteps, 1.0);
    resolve_axis(&S->vdivrange, &S->vdivstep, &S->vdivsteps, 1.0);
    resolve_axis(&S->dispersion, &S->dispstep, &S->dispsteps, 1.0);
    /* sensor layers (docs/behaviour/physics.md §6.10) */
    if (S->thicksteps <= 0) {
        if (S->thickness >= 0.0) {
            S->thicksteps = 2;
            S->thickstep = S->thickness / 2.0;
        }
    } else if (S->thickness >= 0.0) {
        if (S->thicksteps < 2)
            S->thicksteps = 2;
        S->thickstep = S->thickness / (S->thicksteps - 1);
    }
    if (S->thickness <= 0.0 || S->thickstep <= 0.0 || S->thicksteps <= 0) {
        S->thicksteps = 1;
        S->thickness = 0.0;
        S->thickstep = 0.0;
    }
    if (S->thickness > 0.0 && S->mu < 0.0) {
        S->mu = 1.0 / S->thickness;
        printf("WARNING: setting detector attenuation depth to %g m\n", S->mu);
    }
    /* mosaic domains (docs/behaviour/physics.md §4.1) */
    if (S->mosaic_domains <= 0) {
        if (S->mosaic_spread < 0.0) {
            S->mosaic_domains = 1;
            S->mosaic_spread = 0.0;
        } else if (S->mosaic_spread == 0.0) {
            S->mosaic_domains = 1;
        } else {
            printf("WARNING: finite mosaicity with only one domain! upping to 10 mosaic domains\n");
            S->mosaic_domains = 10;
        }
    } else {
        if (S->mosaic_spread < 0.0) {
            printf("WARNING: no mosaic spread specified.  setting mosaic_domains = 1\n");
            S->mosaic_spread = 0.0;
            S->mosaic_domains = 1;
        } else if (S->mosaic_spread == 0.0) {
            printf("WARNING: zero mosaic spread specified.  setting mosaic_domains = 1\n");
            S->mosaic_domains = 1;
        }
    }
}

/* docs/behaviour/physics.md §4.3 */
void nb_mosaic_matrix(double spread_in, long *seed, double *U)
{
    float sigma = (float)spread_in;
    double r1 = 2.0 * nb_ran1(seed) - 1.0;
    double r2 = 2.0 * nb_ran1(seed) - 1.0;
    double r3 = 2.0 * nb_ran1(seed) - 1.0;
    double rho = sqrt(1.0 - r2 * r2);
    float rotf = sigma * powf((float)(1.0 - r3 * r3), 1.0f / 3.0f);
    double rot = rotf;
    double vx = rho * sin(NB_PI * r1), vy = rho * cos(NB_PI * r1), vz = r2;
    double c = cos(rot), s = sin(rot), t = 1.0 - c;
    U[0] = c + t * vx * vx;
    U[1] = t * vx * vy - s * vz;
    U[2] = t * vx * vz + s * vy;
    U[3] = t * vx * vy + s * vz;
    U[4] = c + t * vy * vy;
    U[5] = t * vy * vz - s * vx;
    U[6] = t * vx * vz - s * vy;
    U[7] = t * vy * vz + s * vx;
    U[8] = c + t * vz * vz;
}

static void scale3(double *v, double s, double *out)
{
    out[0] = s * v[0];
    out[1] = s * v[1];
    out[2] = s * v[2];
}

static void rescale(double *v, double m)
{
    double l = nb_mag(v);
    double f;
    if (l <= 0.0)
        l = 1.0;
    f = m / l;
    v[0] = f * v[0];
    v[1] = f * v[1];
    v[2] = f * v[2];
}

static double clamp_sin(double s)
{
    if (s > 1.0)
        return 1.0;
    if (s < -1.0)
        return -1.0;
    return s;
}

static double clamp_cos(double c)
{
    return (c * c > 1.0) ? 1.0 : c;
}

static void random_misset(nb_sim *S)
{
    double U[9];
    int pass, r;
    double rx, ry, rz;
    nb_mosaic_matrix(90.0, &S->misset_seed, U);
    for (pass = 0; pass < 2; pass++) {
        for (r = 0; r < 3; r++) {
            double m = sqrt(U[3 * r] * U[3 * r] + U[3 * r + 1] * U[3 * r + 1] +
                            U[3 * r + 2] * U[3 * r + 2]);
            U[3 * r] /= m;
            U[3 * r + 1] /= m;
            U[3 * r + 2] /= m;
        }
    }
    if (U[6] * U[6] < 1.0) {
        rx = atan2(U[7], U[8]);
        ry = atan2(-U[6], sqrt(U[7] * U[7] + U[8] * U[8]));
        rz = atan2(U[3], U[0]);
    } else {
        double pi = 4.0 * atan2(1.0, 1.0);
        rx = pi;
        ry = pi / 2.0;
        rz = atan2(U[1], -U[4]);
    }
    S->misset[0] = rx;
    S->misset[1] = ry;
    S->misset[2] = rz;
    printf("random orientation misset angles: %f %f %f deg\n", rx * NB_RTD, ry * NB_RTD,
           rz * NB_RTD);
}

static void print_vectors(const char *title, const char *names[3], const double *a,
                          const double *b, const double *c)
{
    int k;
    const char *lab[3] = {"X", "Y", "Z"};
    printf("%s\n", title);
    printf("     %-10s  %-10s  %-10s\n", names[0], names[1], names[2]);
    for (k = 0; k < 3; k++)
        printf("%s: %11.8f %11.8f %11.8f\n", lab[k], a[k], b[k], c[k]);
}

/* Unclamped sine and cosine of the printed angle between edges x and y
 * (docs/behaviour/physics.md §2.5): sin = |other|*vol/|x|/|y|, cos = (x.y)/|x|/|y|, divided in this
 * order (the observed last bits); beta takes its edges in the order (a, c). */
static void edge_sin_cos(const double *x, const double *y, double other_len, double vol,
                         double *sc)
{
    double lx = nb_mag(x), ly = nb_mag(y);
    sc[0] = other_len * vol / lx / ly;
    sc[1] = nb_dot(x, y) / lx / ly;
}

/* docs/behaviour/cli.md §8.2 row 15: printed before "Unit Cell:" when a sine or cosine of the final
 * cell lies outside +-1.0000001 (before clamping) */
static void oddball_warning(const char *title, const char *suffix, double sc[3][2])
{
    static const char *names[3] = {"alpha", "beta", "gamma"};
    static const char *pads[3] = {"", " ", ""};
    int k;
    for (k = 0; k < 3; k++)
        if (fabs(sc[k][0]) > 1.0000001 || fabs(sc[k][1]) > 1.0000001)
            break;
    if (k == 3)
        return;
    printf("WARNING: oddball %scell angles:\n", title);
    for (k = 0; k < 3; k++) {
        printf("sin(%s%s)%s = %.25g\n", names[k], suffix, pads[k], sc[k][0]);
        printf("cos(%s%s)%s = %.25g\n", names[k], suffix, pads[k], sc[k][1]);
    }
}

static double clamped_angle(const double *sc)
{
    return atan2(clamp_sin(sc[0]), clamp_cos(sc[1])) * NB_RTD;
}

/* the printed cell parameters of the final vectors (display only,
 * docs/behaviour/physics.md §2.5) */
static void print_cell(const double *ra, const double *rb, const double *rc, const double *as,
                       const double *bs, const double *cs, double V, double Vstar)
{
    double la = nb_mag(ra), lb = nb_mag(rb), lc = nb_mag(rc);
    double las = nb_mag(as), lbs = nb_mag(bs), lcs = nb_mag(cs);
    double real[3][2], recip[3][2];
    edge_sin_cos(rb, rc, las, V, real[0]);
    edge_sin_cos(ra, rc, lbs, V, real[1]);
    edge_sin_cos(ra, rb, lcs, V, real[2]);
    edge_sin_cos(bs, cs, la, Vstar, recip[0]);
    edge_sin_cos(as, cs, lb, Vstar, recip[1]);
    edge_sin_cos(as, bs, lc, Vstar, recip[2]);
    oddball_warning("", "", real);
    oddball_warning("reciprocal ", "_star", recip);
    printf("Unit Cell: %g %g %g %g %g %g\n", la, lb, lc, clamped_angle(real[0]),
           clamped_angle(real[1]), clamped_angle(real[2]));
    printf("Recp Cell: %g %g %g %g %g %g\n", las, lbs, lcs, clamped_angle(recip[0]),
           clamped_angle(recip[1]), clamped_angle(recip[2]));
    printf("volume = %g A^3\n", V);
}

void nb_build_crystal(nb_sim *S)
{
    double a = 0, b = 0, c = 0, al = 0, be = 0, ga = 0, V = 0, Vstar;
    double *as = S->astar, *bs = S->bstar, *cs = S->cstar;
    double A[3], B[3], C[3], ra[3], rb[3], rc[3], t[3];
    static const char *rn[3] = {"a", "b", "c"};
    static const char *kn[3] = {"a_star", "b_star", "c_star"};
    memset(as, 0, 3 * sizeof(double));
    memset(bs, 0, 3 * sizeof(double));
    memset(cs, 0, 3 * sizeof(double));
    if (S->user_cell) {
        double s, skew, as0, bs0, cs0, sa, sb, sg, ca, cb, cg, Vs;
        double sas, sbs, sgs, cas, cbs, cgs;
        a = S->cell[0];
        b = S->cell[1] > 0.0 ? S->cell[1] : a;
        c = S->cell[2] > 0.0 ? S->cell[2] : a;
        al = S->cell[3] > 0.0 ? S->cell[3] / NB_RTD : NB_PI / 2.0;
        be = S->cell[4] > 0.0 ? S->cell[4] / NB_RTD : NB_PI / 2.0;
        ga = S->cell[5] > 0.0 ? S->cell[5] / NB_RTD : NB_PI / 2.0;
        s = (al + be + ga) / 2.0;
        skew = fabs(sin(s) * sin(s - al) * sin(s - be) * sin(s - ga));
        V = 2.0 * a * b * c * sqrt(skew);
        if (V <= 0.0) {
            printf("WARNING: impossible unit cell volume: %g\n", V);
            V = NB_DBL_MIN;
        }
        Vs = 1.0 / V;
        sa = sin(al);
        sb = sin(be);
        sg = sin(ga);
        ca = cos(al);
        cb = cos(be);
        cg = cos(ga);
        as0 = b * c * sa * Vs;
        bs0 = c * a * sb * Vs;
        cs0 = a * b * sg * Vs;
        if (as0 <= 0.0 || bs0 <= 0.0 || cs0 <= 0.0) {
            printf("WARNING: impossible reciprocal cell lengths: %g %g %g\n", as0, bs0, cs0);
            as0 = fabs(as0);
            bs0 = fabs(bs0);
            cs0 = fabs(cs0);
            if (as0 == 0.0)
                as0 = NB_DBL_MIN;
            if (bs0 == 0.0)
                bs0 = NB_DBL_MIN;
            if (cs0 == 0.0)
                cs0 = NB_DBL_MIN;
        }
        sas = a * Vs / bs0 / cs0;
        sbs = b * Vs / as0 / cs0;
        sgs = c * Vs / as0 / bs0;
        cas = (cb * cg - ca) / (sb * sg);
        cbs = (cg * ca - cb) / (sg * sa);
        cgs = (ca * cb - cg) / (sa * sb);
        if (fabs(sas) > 1.0000001 || fabs(sbs) > 1.0000001 || fabs(sgs) > 1.0000001 ||
            fabs(cas) > 1.0000001 || fabs(cbs) > 1.0000001 || fabs(cgs) > 1.0000001) {
            printf("WARNING: oddball reciprocal cell angles:\n");
            printf("sin(alpha_star) = %.25g\n", sas);
            printf("cos(alpha_star) = %.25g\n", cas);
            printf("sin(beta_star) = %.25g\n", sbs);
            printf("cos(beta_star) = %.25g\n", cbs);
            printf("sin(gamma_star) = %.25g\n", sgs);
            printf("cos9gamma_star) = %.25g\n", cgs);
        }
        sas = clamp_sin(sas);
        sbs = clamp_sin(sbs);
        sgs = clamp_sin(sgs);
        cas = clamp_cos(cas);
        cbs = clamp_cos(cbs);
        cgs = clamp_cos(cgs);
        (void)sbs;
        as[0] = as0;
        bs[0] = bs0 * cgs;
        bs[1] = bs0 * sgs;
        cs[0] = cs0 * cbs;
        cs[1] = cs0 * (cas - cbs * cgs) / sgs;
        cs[2] = cs0 * V / (a * b * c * sgs);
    }
    if (S->matfile)
        nb_read_mat(S, as, bs, cs);
    if (S->misset_random)
        random_misset(S);
    if (S->misset_on) {
        nb_rotate_xyz(as, as, S->misset[0], S->misset[1], S->misset[2]);
        nb_rotate_xyz(bs, bs, S->misset[0], S->misset[1], S->misset[2]);
        nb_rotate_xyz(cs, cs, S->misset[0], S->misset[1], S->misset[2]);
    }
    /* §2.5 */
    nb_cross(as, bs, A);
    nb_cross(bs, cs, B);
    nb_cross(cs, as, C);
    Vstar = nb_dot(as, B);
    if (S->user_cell) {
        rescale(B, a / V);
        rescale(C, b / V);
        rescale(A, c / V);
        Vstar = 1.0 / V;
    }
    V = 1.0 / Vstar;
    scale3(B, V, ra);
    scale3(C, V, rb);
    scale3(A, V, rc);
    nb_cross(rb, rc, t);
    scale3(t, Vstar, as);
    nb_cross(rc, ra, t);
    scale3(t, Vstar, bs);
    nb_cross(ra, rb, t);
    scale3(t, Vstar, cs);
    S->V_cell = V;
    print_cell(ra, rb, rc, as, bs, cs, V, Vstar);
    print_vectors("real-space cell vectors (Angstrom):", rn, ra, rb, rc);
    print_vectors("reciprocal-space cell vectors (Angstrom^-1):", kn, as, bs, cs);
    scale3(ra, 1e-10, S->a0);
    scale3(rb, 1e-10, S->b0);
    scale3(rc, 1e-10, S->c0);
}

void nb_make_mosaic(nb_sim *S)
{
    int q;
    S->mosaic_umats = nb_xcalloc((size_t)S->mosaic_domains * 9, sizeof(double));
    for (q = 0; q < S->mosaic_domains; q++)
        nb_mosaic_matrix(S->mosaic_spread, &S->mosaic_seed, S->mosaic_umats + 9 * q);
    /* domain 0 is the identity (its draws were consumed) */
    memset(S->mosaic_umats, 0, 9 * sizeof(double));
    S->mosaic_umats[0] = S->mosaic_umats[4] = S->mosaic_umats[8] = 1.0;
    printf("  created a total of %d mosaic domains\n", S->mosaic_domains);
}

static void add_source(nb_sim *S, int *cap, const double *pos, double w, double lambda)
{
    if (S->nsources >= *cap) {
        *cap = *cap ? 2 * *cap : 16;
        S->src_pos = realloc(S->src_pos, sizeof(double) * 3 * (size_t)*cap);
        S->src_lambda = realloc(S->src_lambda, sizeof(double) * (size_t)*cap);
        S->src_weight = realloc(S->src_weight, sizeof(double) * (size_t)*cap);
        if (!S->src_pos || !S->src_lambda || !S->src_weight)
            nb_fatal("ERROR: out of memory (sources)");
    }
    memcpy(S->src_pos + 3 * S->nsources, pos, 3 * sizeof(double));
    S->src_weight[S->nsources] = w;
    S->src_lambda[S->nsources] = lambda;
    S->nsources++;
}

void nb_make_sources(nb_sim *S)
{
    int cap = 0, k;
    double P[3];
    S->nsources = 0;
    S->divsteps_printed = 0;
    if (S->sourcefile) {
        double *cols[5] = {NULL, NULL, NULL, NULL, NULL};
        int n = nb_read_columns("-sourcefile", S->sourcefile, 5, cols, "reading source definition file");
        for (k = 0; k < n; k++) {
            double pos[3];
            int j;
            for (j = 0; j < 3; j++)
                pos[j] = isnan(cols[j][k]) ? -10.0 * S->beam[j] : cols[j][k];
            add_source(S, &cap, pos, isnan(cols[3][k]) ? 1.0 : cols[3][k],
                       isnan(cols[4][k]) ? S->lambda0 : cols[4][k]);
        }
        for (k = 0; k < 5; k++)
            free(cols[k]);
        S->divsteps_printed = -1;
    }
    if (S->nsources == 0) {
        int i, j, w, nkept = 0;
        double H = S->hdivrange, Vr = S->vdivrange, hs = S->hdivstep, vs = S->vdivstep;
        int Nh = S->hdivsteps, Nv = S->vdivsteps, Nd = S->dispsteps;
        double *kept = nb_xmalloc(sizeof(double) * 3 * (size_t)(Nh * Nv + 1));
        for (i = 0; i < Nh; i++) {
            for (j = 0; j < Nv; j++) {
                double hdiv = hs * i - H / 2.0;
                double vdiv = vs * j - Vr / 2.0;
                double P1[3];
                if (S->round_div) {
                    double test = (hdiv * hdiv - hs * hs / 4 * (1 - Nh % 2)) / H / H +
                                  (vdiv * vdiv - vs * vs / 4 * (1 - Nv % 2)) / Vr / Vr;
                    if (test * 4 > 1.1)
                        continue;
                }
                P[0] = -10.0 * S->beam[0];
                P[1] = -10.0 * S->beam[1];
                P[2] = -10.0 * S->beam[2];
                nb_rotate_axis(P, P1, S->polar_vec, vdiv);
                nb_rotate_axis(P1, kept + 3 * nkept, S->vert, hdiv);
                printf("divergence deviation: %g %g\n", hdiv, vdiv);
                nkept++;
            }
        }
        for (w = 0; w < Nd; w++)
            printf("lambda%d = %.15g\n",
                   w, S->lambda0 * (1.0 + S->dispstep * w - S->dispersion / 2.0));
        for (k = 0; k < nkept; k++)
            for (w = 0; w < Nd; w++)
                add_source(S, &cap, kept + 3 * k, 0.0,
                           S->lambda0 * (1.0 + S->dispstep * w - S->dispersion / 2.0));
        for (k = 0; k < S->nsources; k++)
            S->src_weight[k] = 1.0 / S->nsources;
        S->divsteps_printed = nkept;
        free(kept);
    }
    printf("  created a total of %d sources:\n", S->nsources);
    S->src_dir = nb_xmalloc(sizeof(double) * 3 * (size_t)(S->nsources + 1));
    for (k = 0; k < S->nsources; k++) {
        double *p = S->src_pos + 3 * k, u[3];
        printf("%g %g %g   %g %g\n", p[0], p[1], p[2], S->src_weight[k], S->src_lambda[k]);
        nb_unitize(p, u);
        S->src_dir[3 * k] = -u[0];
        S->src_dir[3 * k + 1] = -u[1];
        S->src_dir[3 * k + 2] = -u[2];
    }
}
