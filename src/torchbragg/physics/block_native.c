/* Native helper for torchbragg.physics.block: the binary64 hot block of block_accumulate
 * (docs/behaviour/physics.md §2.7 SQUARE lattice factor, §2.5 nearest-node F_cell, the
 * ordered sum over the M = φ steps × mosaic domains rows) for one source and a range of
 * pixels, without the tensor path's [M, P] temporaries.
 *
 * The sines are torch's own (the tensor path's bits): tb_block_fused calls the vector sine
 * torch's sin calls (MKL's vmdSin, handed over by the caller after checking its bits against
 * torch.sin) on small per-thread pieces; where there is none, tb_block_args writes the
 * arguments, the caller runs torch.sin on them, and tb_block_sum forms everything after them. Compiled by torchbragg._cbuild with
 * -ffp-contract=off -fno-fast-math (and -fno-trapping-math, which lets the selects below
 * vectorize and changes no value): every operation below is one binary64 operation, in the
 * order of the tensor path (block.fractional_indices, lattice_factor.sincg, block.term,
 * block.accumulate), with no fused multiply-add, so the results are its bits.
 */
#include <math.h>
#include <stdint.h>

/* Every helper is inlined into the two copies of the fused loop: the baseline one and, on
 * x86-64, one compiled for AVX2 (four lanes; the same operations, so the same bits), which
 * the caller selects where the CPU has AVX2. */
#define TB_INLINE static inline __attribute__((always_inline))
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TB_AVX2 __attribute__((target("avx2")))
#else
#define TB_AVX2
#endif

/* math.pi of the tensor path (the binary64 nearest to π) */
#define TB_PI 3.141592653589793

typedef struct {
    const double *Sx, *Sy, *Sz; /* [P] scattering vector of each pixel, m⁻¹ */
    const double *rows;         /* [M][9]: a_x a_y a_z b_x b_y b_z c_x c_y c_z, m */
    double n[3];                /* N_a, N_b, N_c */
    int64_t active[3];          /* axis with N > 1 (else its factor is exactly 1) */
    int64_t M, P;               /* rows; pixels of the tile (the stride of the arguments) */
} tb_block;

/* The padded grid of the structure-factor table (binary64 or binary32 entries). */
typedef struct {
    const void *padded; /* (h_range + 2) x (k_range + 2) x (l_range + 2) */
    int64_t h_min, k_min, l_min, h_range, k_range, l_range;
    int64_t f32;        /* entries are binary32 */
} tb_grid;

/* Fractional index along axis a: (x·S_x + y·S_y) + z·S_z, left to right. */
TB_INLINE double index_of(const double *r, int a, double sx, double sy, double sz)
{
    return (r[3 * a] * sx + r[3 * a + 1] * sy) + r[3 * a + 2] * sz;
}

/* A nearest node's padded index along one axis: x0 − (lo − 1) clamped to [0, rng + 1]
 * (NaN and values beyond ±2^62 land in the padding, as the tensor path's int64 conversion). */
TB_INLINE int64_t padded_index(double x0, int64_t lo, int64_t rng)
{
    if (!(x0 > -4.0e18 && x0 < 4.0e18))
        return 0;
    int64_t i = (int64_t)x0 - (lo - 1);
    return i < 0 ? 0 : (i > rng + 1 ? rng + 1 : i);
}

/* Pixels per piece of the fused loop (the arguments and sines of one row stay in L1). */
#define TB_PIECE 256

/* The sines' arguments of one row for pixels q0 .. q0 + w − 1: for the s-th active axis,
 * out[(2s)·stride + j] = π·x·N and out[(2s + 1)·stride + j] = π·x. */
TB_INLINE void row_args(const tb_block *b, const double *r, int64_t q0, int64_t w,
                            double *out, int64_t stride)
{
    int64_t slot = 0;
    for (int a = 0; a < 3; a++) {
        if (!b->active[a])
            continue;
        double *xn = out + (2 * slot) * stride, *x1 = out + (2 * slot + 1) * stride;
        const double n = b->n[a];
        for (int64_t j = 0; j < w; j++) {
            double x = TB_PI * index_of(r, a, b->Sx[q0 + j], b->Sy[q0 + j], b->Sz[q0 + j]);
            xn[j] = x * n;
            x1[j] = x;
        }
        slot++;
    }
}

/* F_cell of the nearest node (h0, k0, l0) = ceil(x − ½) per axis. */
TB_INLINE double grid_F(const tb_grid *g, double h, double k, double l)
{
    int64_t ih = padded_index(ceil(h - 0.5), g->h_min, g->h_range);
    int64_t ik = padded_index(ceil(k - 0.5), g->k_min, g->k_range);
    int64_t il = padded_index(ceil(l - 0.5), g->l_min, g->l_range);
    int64_t flat = (ih * (g->k_range + 2) + ik) * (g->l_range + 2) + il;
    return g->f32 ? (double)((const float *)g->padded)[flat] : ((const double *)g->padded)[flat];
}

/* One row added to I[q0 .. q0 + w − 1] (w ≤ TB_PIECE) from its sines (row_args' layout):
 * F_latt = f_a·f_b·f_c with f = sin(π·x·N)/sin(π·x) (N where π·x == 0), the term
 * (F_cell·F_cell)·F_latt·F_latt, and 0 for a skipped evaluation (F_latt == 0 without water,
 * or a culled pixel). ``grid`` NULL: F_cell·F_cell is ``FF`` everywhere. */
TB_INLINE void row_sum(const tb_block *b, const double *r, int64_t q0, int64_t w,
                           const double *sines, int64_t stride, const tb_grid *grid,
                           double FF, const uint8_t *culled, int64_t water, double *I)
{
    double F[TB_PIECE];
    for (int64_t j = 0; j < w; j++)
        F[j] = 1.0;
    int64_t slot = 0;
    for (int a = 0; a < 3; a++) {
        if (!b->active[a])
            continue;
        const double *sn = sines + (2 * slot) * stride, *s1 = sines + (2 * slot + 1) * stride;
        const double n = b->n[a];
        for (int64_t j = 0; j < w; j++) {
            double x = TB_PI * index_of(r, a, b->Sx[q0 + j], b->Sy[q0 + j], b->Sz[q0 + j]);
            double q = sn[j] / s1[j];
            F[j] = F[j] * (x == 0.0 ? n : q);
        }
        slot++;
    }
    double FFs[TB_PIECE];
    if (grid) {
        for (int64_t j = 0; j < w; j++) {
            double sx = b->Sx[q0 + j], sy = b->Sy[q0 + j], sz = b->Sz[q0 + j];
            double Fc = grid_F(grid, index_of(r, 0, sx, sy, sz), index_of(r, 1, sx, sy, sz),
                               index_of(r, 2, sx, sy, sz));
            FFs[j] = Fc * Fc;
        }
    } else {
        for (int64_t j = 0; j < w; j++)
            FFs[j] = FF;
    }
    static const uint8_t none[TB_PIECE];
    const uint8_t *cut = culled ? culled + q0 : none;
    const int keep_zero = water != 0;
    for (int64_t j = 0; j < w; j++) {
        double term = (FFs[j] * F[j]) * F[j];
        int skip = ((F[j] == 0.0) & !keep_zero) | (cut[j] != 0);
        I[q0 + j] = I[q0 + j] + (skip ? 0.0 : term);
    }
}

/* The vector sine: n values of a into r (MKL's vmdSin signature; n fits 32 bits). */
typedef void (*tb_vsin)(int64_t n, const double *a, double *r, int64_t mode);

/* I[p] for pixels [p0, p1) after adding rows 0..M−1 in order, the sines by ``vsin``. */
TB_INLINE void fused(const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin, int64_t mode,
                     const tb_grid *grid, double FF, const uint8_t *culled, int64_t water,
                     double *I)
{
    double args[6 * TB_PIECE], sines[6 * TB_PIECE];
    const int64_t planes = 2 * (b->active[0] + b->active[1] + b->active[2]);
    for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE) {
        const int64_t w = p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE;
        for (int64_t m = 0; m < b->M; m++) {
            const double *r = b->rows + 9 * m;
            row_args(b, r, q0, w, args, w);
            if (planes)
                vsin(planes * w, args, sines, mode);
            row_sum(b, r, q0, w, sines, w, grid, FF, culled, water, I);
        }
    }
}

static void fused_baseline(const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin,
                           int64_t mode, const tb_grid *grid, double FF,
                           const uint8_t *culled, int64_t water, double *I)
{
    fused(b, p0, p1, vsin, mode, grid, FF, culled, water, I);
}

TB_AVX2 static void fused_avx2(const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin,
                               int64_t mode, const tb_grid *grid, double FF,
                               const uint8_t *culled, int64_t water, double *I)
{
    fused(b, p0, p1, vsin, mode, grid, FF, culled, water, I);
}

/* The fused loop; ``avx2``: its AVX2 copy (only where the CPU has AVX2). */
void tb_block_fused(const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin, int64_t mode,
                    const tb_grid *grid, double FF, const uint8_t *culled, int64_t water,
                    double *I, int64_t avx2)
{
    (avx2 ? fused_avx2 : fused_baseline)(b, p0, p1, vsin, mode, grid, FF, culled, water, I);
}

/* The sines' arguments of pixels [p0, p1) into ``args`` [planes][M][P] (row_args' layout,
 * stride M·P), for torch.sin. */
void tb_block_args(const tb_block *b, int64_t p0, int64_t p1, double *args)
{
    for (int64_t m = 0; m < b->M; m++)
        for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE)
            row_args(b, b->rows + 9 * m, q0, p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE,
                     args + m * b->P + q0, b->M * b->P);
}

/* I[p] for pixels [p0, p1) after adding rows 0..M−1 in order, from the sines of
 * tb_block_args' buffer. */
void tb_block_sum(const tb_block *b, int64_t p0, int64_t p1, const double *sines,
                  const tb_grid *grid, double FF, const uint8_t *culled, int64_t water,
                  double *I)
{
    for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE) {
        const int64_t w = p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE;
        for (int64_t m = 0; m < b->M; m++)
            row_sum(b, b->rows + 9 * m, q0, w, sines + m * b->P + q0, b->M * b->P, grid, FF,
                    culled, water, I);
    }
}
