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
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

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
 * The AVX2 copies below use vector_core, the baseline ones scalar_core (vector code without
 * AVX2 is slower than the scalar one). */
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

/* Each loop compiled twice where the compiler targets x86-64: for AVX2 (four lanes per
 * instruction, vector_core) and for the baseline ISA (scalar_core), chosen once at run time. Same bits either way:
 * -ffp-contract=off forbids fused multiply-adds in both. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TB_AVX2 __attribute__((target("avx2")))
#else
#define TB_AVX2
#endif

/* 1 where the AVX2 copies run, 0 for the baseline ones; -1 until first asked. */
static int avx2_in_use = -1;

/* Whether the CPU has AVX2 and the OS saves the ymm registers, read with CPUID and XGETBV
 * themselves: __builtin_cpu_supports needs the compiler runtime's __cpu_model, which zig cc
 * links without -fPIC, so a shared helper that used it did not link there. */
static int cpu_has_avx2(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned int a, b, c, d, lo, hi;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
        return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6u) != 6u) /* xmm and ymm state enabled by the OS */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & bit_AVX2) ? 1 : 0;
#else
    return 0;
#endif
}

static int use_avx2(void)
{
    if (avx2_in_use < 0)
        avx2_in_use = cpu_has_avx2();
    return avx2_in_use;
}

/* Which copies run: request 0 = the baseline ones, 1 = the best this CPU runs (AVX2 where it
 * has it); returns 1 where the AVX2 copies now run. (Tests run both.) */
int tb_select_isa(int request)
{
    avx2_in_use = -1;
    if (request == 0)
        avx2_in_use = 0;
    return use_avx2();
}

#define DEFINE_LOOKUPS(T, SUFFIX)                                                            \
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
                                                                                             \
    /* out[e] = tricubic F where valid[e], else 0. */                                        \
    static inline __attribute__((always_inline)) void                                        \
    tricubic_loop_##SUFFIX(const tb_table *t, const double *h, const double *k,              \
                           const double *l, const uint8_t *valid, double *out, int64_t n,    \
                           int vec)                                                          \
    {                                                                                        \
        for (int64_t e = 0; e < n; e++)                                                      \
            out[e] = valid[e] ? tricubic_##SUFFIX(t, h[e], k[e], l[e], vec) : 0.0;           \
    }                                                                                        \
                                                                                             \
    /* An interpolating pass over [M, P] evaluations (e = m·P + p, e in [start, stop)): the  \
     * nearest node near[e], the range test oor[e], and F_cell[e] = the tricubic F where in  \
     * range and p < limit (limit < 0: every p), else the nearest node. */                  \
    static inline __attribute__((always_inline)) void                                        \
    lookup_loop_##SUFFIX(const tb_table *t, const double *h, const double *k,                \
                         const double *l, const double *h0, const double *k0,                \
                         const double *l0, int64_t start, int64_t stop, int64_t P,           \
                         int64_t limit, double *F_cell, T *near, uint8_t *oor, int vec)      \
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
                            ? (double)nearest                                                \
                            : tricubic_##SUFFIX(t, h[e], k[e], l[e], vec);                   \
        }                                                                                    \
    }

DEFINE_LOOKUPS(double, f64)
DEFINE_LOOKUPS(float, f32)

/* The exported entry points: each loop in an AVX2 copy (vector_core) and a baseline copy
 * (scalar_core). */
#define TB_ARGS_TRICUBIC(T)                                                                   \
    const tb_table *t, const double *h, const double *k, const double *l,                    \
        const uint8_t *valid, double *out, int64_t n
#define TB_ARGS_LOOKUP(T)                                                                     \
    const tb_table *t, const double *h, const double *k, const double *l, const double *h0,  \
        const double *k0, const double *l0, int64_t start, int64_t stop, int64_t P,          \
        int64_t limit, double *F_cell, T *near, uint8_t *oor
#define DEFINE_ENTRIES(T, SUFFIX)                                                             \
    static TB_AVX2 void tricubic_avx2_##SUFFIX(TB_ARGS_TRICUBIC(T))                          \
    {                                                                                        \
        tricubic_loop_##SUFFIX(t, h, k, l, valid, out, n, 1);                                \
    }                                                                                        \
    static void tricubic_base_##SUFFIX(TB_ARGS_TRICUBIC(T))                                  \
    {                                                                                        \
        tricubic_loop_##SUFFIX(t, h, k, l, valid, out, n, 0);                                \
    }                                                                                        \
    void tb_tricubic_##SUFFIX(TB_ARGS_TRICUBIC(T))                                           \
    {                                                                                        \
        (use_avx2() ? tricubic_avx2_##SUFFIX : tricubic_base_##SUFFIX)(t, h, k, l, valid,    \
                                                                         out, n);            \
    }                                                                                        \
    static TB_AVX2 void lookup_avx2_##SUFFIX(TB_ARGS_LOOKUP(T))                              \
    {                                                                                        \
        lookup_loop_##SUFFIX(t, h, k, l, h0, k0, l0, start, stop, P, limit, F_cell, near,    \
                             oor, 1);                                                        \
    }                                                                                        \
    static void lookup_base_##SUFFIX(TB_ARGS_LOOKUP(T))                                      \
    {                                                                                        \
        lookup_loop_##SUFFIX(t, h, k, l, h0, k0, l0, start, stop, P, limit, F_cell, near,    \
                             oor, 0);                                                        \
    }                                                                                        \
    void tb_lookup_##SUFFIX(TB_ARGS_LOOKUP(T))                                               \
    {                                                                                        \
        (use_avx2() ? lookup_avx2_##SUFFIX : lookup_base_##SUFFIX)(                          \
            t, h, k, l, h0, k0, l0, start, stop, P, limit, F_cell, near, oor);               \
    }

DEFINE_ENTRIES(double, f64)
DEFINE_ENTRIES(float, f32)
