/* Native helper for torchbragg.physics.structure_factors: the tricubic structure-factor
 * interpolation of docs/behaviour/physics.md §7.5 on the CPU, written from that
 * specification. Compiled by torchbragg._cbuild with -ffp-contract=off -fno-fast-math, so
 * every operation below is one binary64 operation, in the order of the specification, with
 * no fused multiply-add: the results are the bits of the tensor path (SFLookup._tricubic).
 *
 * The grid is the C-ordered (h, k, l) table (binary64 or binary32 entries; the arithmetic is
 * binary64 either way, as in the tensor path). Evaluations where valid[e] is 0 are skipped
 * (out[e] = 0); the caller has already tested the range (SFLookup.out_of_interpolation_range).
 */
#include <math.h>
#include <stdint.h>

/* Σ_j (w_j·y_j)/d_j over the unit-spaced nodes, d = −6, 2, −2, 6, summed j = 0..3. */
static inline double lagrange4(const double w[4], double y0, double y1, double y2, double y3)
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

#define TRICUBIC_BODY(T)                                                                    \
    for (int64_t e = 0; e < n; e++) {                                                       \
        if (!valid[e]) { out[e] = 0.0; continue; }                                          \
        double hf = floor(h[e]), kf = floor(k[e]), lf = floor(l[e]);                        \
        double base_d = ((hf - (double)(h_min + 1)) * (double)sk + (kf - (double)(k_min + 1))) \
                        * (double)sl + (lf - (double)(l_min + 1));                          \
        if (!(base_d >= 0.0) || base_d > (double)last) { out[e] = 0.0; continue; }          \
        const T *g = grid + (int64_t)base_d;                                                \
        double wh[4], wk[4], wl[4];                                                         \
        weights(h[e], hf, wh);                                                              \
        weights(k[e], kf, wk);                                                              \
        weights(l[e], lf, wl);                                                              \
        double along_k[4];                                                                  \
        for (int i = 0; i < 4; i++) {                                                       \
            double along_l[4];                                                              \
            for (int j = 0; j < 4; j++) {                                                   \
                const T *y = g + i * sk * sl + j * sl;                                      \
                along_l[j] = lagrange4(wl, (double)y[0], (double)y[1], (double)y[2],        \
                                       (double)y[3]);                                       \
            }                                                                               \
            along_k[i] = lagrange4(wk, along_l[0], along_l[1], along_l[2], along_l[3]);     \
        }                                                                                   \
        out[e] = lagrange4(wh, along_k[0], along_k[1], along_k[2], along_k[3]);             \
    }

/* last = the largest valid base index: numel − 1 − (3·sk·sl + 3·sl + 3). */
void tb_tricubic_f64(const double *grid, int64_t sk, int64_t sl, int64_t last,
                     int64_t h_min, int64_t k_min, int64_t l_min, const double *h,
                     const double *k, const double *l, const uint8_t *valid, double *out,
                     int64_t n)
{
    TRICUBIC_BODY(double)
}

void tb_tricubic_f32(const float *grid, int64_t sk, int64_t sl, int64_t last,
                     int64_t h_min, int64_t k_min, int64_t l_min, const double *h,
                     const double *k, const double *l, const uint8_t *valid, double *out,
                     int64_t n)
{
    TRICUBIC_BODY(float)
}
