/* The tricubic structure-factor interpolation of docs/behaviour/physics.md §7.5 and the
 * nearest node's padded index, shared by the native helpers tricubic_native.c (the lookups of
 * torchbragg.physics.structure_factors) and block_native.c (the fused blocks), so that both
 * give the same bits. Every function is static and always inlined, so each helper's AVX2 and
 * baseline copies get their own code. Written from that specification; built with
 * -ffp-contract=off -fno-fast-math (torchbragg._cbuild), so every operation is one binary64
 * operation, in the order of the specification, with no fused multiply-add.
 */
#ifndef TB_TRICUBIC_CORE_H
#define TB_TRICUBIC_CORE_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The helpers below pass four-lane vectors between always-inlined functions only. */
#pragma GCC diagnostic ignored "-Wpsabi"

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

/* Four binary64 lanes (GCC/Clang vector extension): lane-wise operations are the binary64
 * operations of the scalar formula, so each lane holds the bits the scalar code would. */
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

/* Four consecutive nodes as binary64 lanes. */
static inline __attribute__((always_inline)) v4d load4_f64(const double *p)
{
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) v4d load4_f32(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, v4d);
}

/* Lanes (a[i], a[j], b[k], b[l]) for i, j < 4 and k, l ≥ 4 counted across a then b. */
#ifdef __clang__
#define SHUFFLE4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
typedef int64_t v4i __attribute__((vector_size(32)));
#define SHUFFLE4(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4i){i, j, k, l})
#endif

/* Declares out[4] with out[c] lane j = in[j] lane c. */
#define TRANSPOSE4(in, out)                                                                   \
    v4d out##_lo = SHUFFLE4((in)[0], (in)[1], 0, 4, 2, 6);                                   \
    v4d out##_hi = SHUFFLE4((in)[0], (in)[1], 1, 5, 3, 7);                                   \
    v4d out##_lo2 = SHUFFLE4((in)[2], (in)[3], 0, 4, 2, 6);                                  \
    v4d out##_hi2 = SHUFFLE4((in)[2], (in)[3], 1, 5, 3, 7);                                  \
    v4d out[4] = {SHUFFLE4(out##_lo, out##_lo2, 0, 1, 4, 5),                                 \
                  SHUFFLE4(out##_hi, out##_hi2, 0, 1, 4, 5),                                 \
                  SHUFFLE4(out##_lo, out##_lo2, 2, 3, 6, 7),                                 \
                  SHUFFLE4(out##_hi, out##_hi2, 2, 3, 6, 7)}

/* Lane-wise lagrange4: Σ_c (w_c·Y_c)/d_c for four neighbourhood rows at once. */
#define LAGRANGE4_LANES(w, Y0, Y1, Y2, Y3)                                                    \
    ((((((Y0) * (w)[0]) / -6.0 + ((Y1) * (w)[1]) / 2.0) + ((Y2) * (w)[2]) / -2.0)             \
      + ((Y3) * (w)[3]) / 6.0))

/* The tricubic core over a 4x4x4 neighbourhood starting at g (strides sh, sl along h and k,
 * 1 along l), in two forms with the same operations (docs/behaviour/physics.md §7.5):
 * scalar_core one pass at a time; vector_core the 16 passes along l four rows at a time
 * (lanes j), the 4 passes along k four rows at a time (lanes i), the pass along h in scalar.
 * The helpers' AVX2 copies use vector_core, their baseline ones scalar_core (vector code
 * without AVX2 is slower than the scalar one). */
#define DEFINE_CORE(T, SUFFIX)                                                                \
    static inline __attribute__((always_inline)) double                                      \
    vector_core_##SUFFIX(const T *g, int64_t sh, int64_t sl, const double wh[4],             \
                         const double wk[4], const double wl[4])                             \
    {                                                                                        \
        v4d L[4]; /* L[i] lane j: the pass along l of row (i, j) */                          \
        for (int i = 0; i < 4; i++) {                                                        \
            v4d R[4]; /* R[j] lane c: node c of row (i, j) */                                \
            for (int j = 0; j < 4; j++)                                                      \
                R[j] = load4_##SUFFIX(g + i * sh + j * sl);                                  \
            TRANSPOSE4(R, Y);                                                                \
            L[i] = LAGRANGE4_LANES(wl, Y[0], Y[1], Y[2], Y[3]);                              \
        }                                                                                    \
        TRANSPOSE4(L, K);                                                                    \
        v4d A = LAGRANGE4_LANES(wk, K[0], K[1], K[2], K[3]); /* lane i: along k */           \
        return lagrange4(wh, A[0], A[1], A[2], A[3]);                                        \
    }                                                                                        \
                                                                                             \
    static inline __attribute__((always_inline)) double                                      \
    scalar_core_##SUFFIX(const T *g, int64_t sh, int64_t sl, const double wh[4],             \
                         const double wk[4], const double wl[4])                             \
    {                                                                                        \
        double along_k[4];                                                                   \
        for (int i = 0; i < 4; i++) {                                                        \
            double along_l[4];                                                               \
            for (int j = 0; j < 4; j++) {                                                    \
                const T *y = g + i * sh + j * sl;                                            \
                along_l[j] = lagrange4(wl, (double)y[0], (double)y[1], (double)y[2],         \
                                       (double)y[3]);                                        \
            }                                                                                \
            along_k[i] = lagrange4(wk, along_l[0], along_l[1], along_l[2], along_l[3]);      \
        }                                                                                    \
        return lagrange4(wh, along_k[0], along_k[1], along_k[2], along_k[3]);                \
    }

DEFINE_CORE(double, f64)
DEFINE_CORE(float, f32)

#define DEFINE_TRICUBIC(T, SUFFIX)                                                            \
    /* The neighbourhood's start in the grid, or NULL where it is not in the grid. */       \
    static inline __attribute__((always_inline)) const T *                                   \
    start_##SUFFIX(const tb_table *t, double hf, double kf, double lf)                       \
    {                                                                                        \
        int64_t sk = t->k_range + 1, sl = t->l_range + 1;                                    \
        int64_t last = (t->h_range + 1) * sk * sl - 1 - (3 * sk * sl + 3 * sl + 3);          \
        double base = ((hf - (double)(t->h_min + 1)) * (double)sk                            \
                       + (kf - (double)(t->k_min + 1))) * (double)sl                         \
                      + (lf - (double)(t->l_min + 1));                                       \
        if (!(base >= 0.0) || base > (double)last)                                           \
            return 0;                                                                        \
        return (const T *)t->grid + (int64_t)base;                                           \
    }                                                                                        \
                                                                                             \
    /* Tricubic F at one evaluation, or 0 where its neighbourhood is not in the grid. */    \
    static inline __attribute__((always_inline)) double                                      \
    tricubic_##SUFFIX(const tb_table *t, double h, double k, double l, int vec)              \
    {                                                                                        \
        double hf = floor(h), kf = floor(k), lf = floor(l);                                  \
        const T *g = start_##SUFFIX(t, hf, kf, lf);                                          \
        if (!g)                                                                              \
            return 0.0;                                                                      \
        int64_t sl = t->l_range + 1, sh = (t->k_range + 1) * sl;                             \
        double wh[4], wk[4], wl[4];                                                          \
        weights(h, hf, wh);                                                                  \
        weights(k, kf, wk);                                                                  \
        weights(l, lf, wl);                                                                  \
        return vec ? vector_core_##SUFFIX(g, sh, sl, wh, wk, wl)                             \
                   : scalar_core_##SUFFIX(g, sh, sl, wh, wk, wl);                            \
    }                                                                                        \

DEFINE_TRICUBIC(double, f64)
DEFINE_TRICUBIC(float, f32)

#endif
