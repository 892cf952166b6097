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
#include "tricubic_core.h"
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

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
