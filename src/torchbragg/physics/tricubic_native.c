/* Native helper for torchbragg.physics.structure_factors: the structure-factor lookups of
 * docs/behaviour/physics.md §7.5 on the CPU (nearest node, range test, tricubic
 * interpolation), written from that specification. Compiled by torchbragg._cbuild with
 * -ffp-contract=off -fno-fast-math, so every operation below is one binary64 operation, in
 * the order of the specification, with no fused multiply-add: the results are the bits of
 * the tensor path (SFLookup.nearest, out_of_interpolation_range, _tricubic).
 *
 * The table (tb_table) holds the C-ordered (h, k, l) grid and the same grid padded by one slot
 * of default_F on each side of each axis (binary64 or binary32 entries; the interpolation's
 * arithmetic is binary64 either way, as in the tensor path).
 */
#include <math.h>
#include <stdint.h>

typedef struct {
    const void *grid;   /* (h_range + 1) x (k_range + 1) x (l_range + 1) */
    const void *padded; /* (h_range + 2) x (k_range + 2) x (l_range + 2) */
    int64_t h_min, k_min, l_min, h_range, k_range, l_range;
} tb_table;

/* Σ_j (w_j·y_j)/d_j over the unit-spaced nodes, d = −6, 2, −2, 6, summed j = 0..3. */
static inline double lagrange4(const double w[4], double y0, double y1, double y2,
                               double y3)
{
    double t = (y0 * w[0]) / -6.0;
    t = t + (y1 * w[1]) / 2.0;
    t = t + (y2 * w[2]) / -2.0;
    t = t + (y3 * w[3]) / 6.0;
    return t;
}

/* Π_{a≠j}(x − x_a) over x_a = xf − 1 + a, other nodes in ascending order, left to right. */
static inline void weights(double x, double xf, double w[4])
{
    double d0 = x - (xf - 1.0), d1 = x - xf, d2 = x - (xf + 1.0), d3 = x - (xf + 2.0);
    double d01 = d0 * d1;
    w[0] = (d1 * d2) * d3;
    w[1] = (d0 * d2) * d3;
    w[2] = d01 * d3;
    w[3] = d01 * d2;
}

/* The range test of one axis: the 4-node neighbourhood leaves [lo, lo + rng), or x is NaN. */
static inline int axis_out(double x, int64_t lo, int64_t rng)
{
    return ((x - (double)lo) + 3.0 > (double)rng) | (x - 2.0 < (double)lo) | (x != x);
}

/* A nearest node's padded index along one axis: x0 − (lo − 1) clamped to [0, rng + 1]
 * (NaN and values beyond ±2^62 land in the padding, as the tensor path's int64 conversion). */
static inline int64_t padded_index(double x0, int64_t lo, int64_t rng)
{
    if (!(x0 > -4.0e18 && x0 < 4.0e18))
        return 0;
    int64_t i = (int64_t)x0 - (lo - 1);
    return i < 0 ? 0 : (i > rng + 1 ? rng + 1 : i);
}

#define DEFINE_LOOKUPS(T, SUFFIX)                                                            \
    /* Tricubic F at one evaluation, or 0 where its neighbourhood is not in the grid. */    \
    static inline double tricubic_##SUFFIX(const tb_table *t, double h, double k, double l)  \
    {                                                                                        \
        const T *grid = (const T *)t->grid;                                                  \
        int64_t sk = t->k_range + 1, sl = t->l_range + 1;                                    \
        int64_t last = (t->h_range + 1) * sk * sl - 1 - (3 * sk * sl + 3 * sl + 3);          \
        double hf = floor(h), kf = floor(k), lf = floor(l);                                  \
        double base = ((hf - (double)(t->h_min + 1)) * (double)sk                            \
                       + (kf - (double)(t->k_min + 1))) * (double)sl                         \
                      + (lf - (double)(t->l_min + 1));                                       \
        if (!(base >= 0.0) || base > (double)last)                                           \
            return 0.0;                                                                      \
        const T *g = grid + (int64_t)base;                                                   \
        double wh[4], wk[4], wl[4], along_k[4];                                              \
        weights(h, hf, wh);                                                                  \
        weights(k, kf, wk);                                                                  \
        weights(l, lf, wl);                                                                  \
        for (int i = 0; i < 4; i++) {                                                        \
            double along_l[4];                                                               \
            for (int j = 0; j < 4; j++) {                                                    \
                const T *y = g + i * sk * sl + j * sl;                                       \
                along_l[j] = lagrange4(wl, (double)y[0], (double)y[1], (double)y[2],         \
                                       (double)y[3]);                                        \
            }                                                                                \
            along_k[i] = lagrange4(wk, along_l[0], along_l[1], along_l[2], along_l[3]);      \
        }                                                                                    \
        return lagrange4(wh, along_k[0], along_k[1], along_k[2], along_k[3]);                \
    }                                                                                        \
                                                                                             \
    /* out[e] = tricubic F where valid[e], else 0. */                                        \
    void tb_tricubic_##SUFFIX(const tb_table *t, const double *h, const double *k,           \
                              const double *l, const uint8_t *valid, double *out, int64_t n) \
    {                                                                                        \
        for (int64_t e = 0; e < n; e++)                                                      \
            out[e] = valid[e] ? tricubic_##SUFFIX(t, h[e], k[e], l[e]) : 0.0;                \
    }                                                                                        \
                                                                                             \
    /* An interpolating pass over [M, P] evaluations (e = m·P + p, e in [start, stop)): the  \
     * nearest node near[e], the range test oor[e], and F_cell[e] = the tricubic F where in  \
     * range and p < limit (limit < 0: every p), else the nearest node. */                  \
    void tb_lookup_##SUFFIX(const tb_table *t, const double *h, const double *k,             \
                            const double *l, const double *h0, const double *k0,             \
                            const double *l0, int64_t start, int64_t stop, int64_t P,        \
                            int64_t limit, double *F_cell, T *near, uint8_t *oor)            \
    {                                                                                        \
        const T *padded = (const T *)t->padded;                                              \
        int64_t pk = t->k_range + 2, pl = t->l_range + 2;                                    \
        for (int64_t e = start; e < stop; e++) {                                             \
            int64_t flat = (padded_index(h0[e], t->h_min, t->h_range) * pk                   \
                            + padded_index(k0[e], t->k_min, t->k_range)) * pl                \
                           + padded_index(l0[e], t->l_min, t->l_range);                      \
            T nearest = padded[flat];                                                        \
            int out = axis_out(h[e], t->h_min, t->h_range)                                   \
                      | axis_out(k[e], t->k_min, t->k_range)                                 \
                      | axis_out(l[e], t->l_min, t->l_range);                                \
            near[e] = nearest;                                                               \
            oor[e] = (uint8_t)out;                                                           \
            F_cell[e] = (out || (limit >= 0 && e % P >= limit))                              \
                            ? (double)nearest : tricubic_##SUFFIX(t, h[e], k[e], l[e]);      \
        }                                                                                    \
    }

DEFINE_LOOKUPS(double, f64)
DEFINE_LOOKUPS(float, f32)
