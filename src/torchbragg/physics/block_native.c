/* Native helper for torchbragg.physics.block: the binary64 hot block of block_accumulate
 * (docs/behaviour/physics.md §2.7 SQUARE lattice factor, §2.5 nearest-node F_cell, the
 * ordered sum over the M = φ steps × mosaic domains rows) for one source and a range of
 * pixels, without the tensor path's [M, P] temporaries; and the interpolating block of the
 * kernel's ``on`` pass (§7.5 tricubic F_cell, the global switch-off's bookkeeping, Q11) with
 * the tricubic arithmetic of tricubic_core.h, shared with tricubic_native.c; and a sub-pixel's
 * detector geometry (tb_geometry, for torchbragg.physics.geometry_native).
 *
 * The sines are torch's own (the tensor path's bits): tb_block_fused calls the vector sine
 * torch's sin calls (MKL's vmdSin, handed over by the caller after checking its bits against
 * torch.sin) on small per-thread pieces; where there is none, tb_block_args writes the
 * arguments, the caller runs torch.sin on them, and tb_block_sum forms everything after them.
 * Compiled by torchbragg._cbuild with -ffp-contract=off -fno-fast-math (and
 * -fno-trapping-math, which lets the selects below vectorize and changes no value): every
 * operation below is one binary64 operation, in the order of the tensor path
 * (block.fractional_indices, lattice_factor.sincg, structure_factors.SFLookup, block.term,
 * block.accumulate), with no fused multiply-add, so the results are its bits.
 */
#include "tricubic_core.h"

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
    const double *dx, *dy, *dz; /* [P] diffracted unit vector of each pixel */
    double src[4];              /* the source: incident unit vector î_x, î_y, î_z; λ in m */
    const double *rows;         /* [M][9]: a_x a_y a_z b_x b_y b_z c_x c_y c_z, m */
    double n[3];                /* N_a, N_b, N_c */
    int64_t active[3];          /* axis with N > 1 (else its factor is exactly 1) */
    int64_t M, P;               /* rows; pixels of the tile (the stride of the arguments) */
} tb_block;

/* The structure-factor table (tricubic_core.h's tb_table: the grid, read by the interpolating
 * block only, may be NULL) and its entry type. */
typedef struct {
    tb_table t;
    int64_t f32; /* entries are binary32 */
} tb_grid;

/* Pixels per piece of the loops (a piece's scattering vectors, arguments and sines stay in
 * L1). */
#define TB_PIECE 256

/* The scattering vectors S = (d̂ − î)/λ (m⁻¹) of one piece's pixels, block.scattering_vector. */
typedef struct {
    double x[TB_PIECE], y[TB_PIECE], z[TB_PIECE];
} tb_S;

TB_INLINE void piece_S(const tb_block *b, int64_t q0, int64_t w, tb_S *S)
{
    const double ix = b->src[0], iy = b->src[1], iz = b->src[2], lam = b->src[3];
    for (int64_t j = 0; j < w; j++) {
        S->x[j] = (b->dx[q0 + j] - ix) / lam;
        S->y[j] = (b->dy[q0 + j] - iy) / lam;
        S->z[j] = (b->dz[q0 + j] - iz) / lam;
    }
}

/* Fractional index along axis a of piece pixel j: (x·S_x + y·S_y) + z·S_z, left to right. */
TB_INLINE double index_of(const double *r, int a, const tb_S *S, int64_t j)
{
    return (r[3 * a] * S->x[j] + r[3 * a + 1] * S->y[j]) + r[3 * a + 2] * S->z[j];
}

/* The sines' arguments of one row for a piece of w pixels: for the s-th active axis,
 * out[(2s)·stride + j] = π·x·N and out[(2s + 1)·stride + j] = π·x. */
TB_INLINE void row_args(const tb_block *b, const double *r, const tb_S *S, int64_t w,
                        double *out, int64_t stride)
{
    int64_t slot = 0;
    for (int a = 0; a < 3; a++) {
        if (!b->active[a])
            continue;
        double *xn = out + (2 * slot) * stride, *x1 = out + (2 * slot + 1) * stride;
        const double n = b->n[a];
        for (int64_t j = 0; j < w; j++) {
            double x = TB_PI * index_of(r, a, S, j);
            xn[j] = x * n;
            x1[j] = x;
        }
        slot++;
    }
}

/* F_cell of the nearest node (h0, k0, l0) = ceil(x − ½) per axis. */
TB_INLINE double grid_F(const tb_grid *g, double h, double k, double l)
{
    const tb_table *t = &g->t;
    int64_t ih = padded_index(ceil(h - 0.5), t->h_min, t->h_range);
    int64_t ik = padded_index(ceil(k - 0.5), t->k_min, t->k_range);
    int64_t il = padded_index(ceil(l - 0.5), t->l_min, t->l_range);
    int64_t flat = (ih * (t->k_range + 2) + ik) * (t->l_range + 2) + il;
    return g->f32 ? (double)((const float *)t->padded)[flat] : ((const double *)t->padded)[flat];
}

/* F[j] = F_latt of one row for a piece of w pixels from its sines (row_args' layout):
 * f_a·f_b·f_c with f = sin(π·x·N)/sin(π·x) (N where π·x == 0), from 1. */
TB_INLINE void row_lattice(const tb_block *b, const double *r, const tb_S *S, int64_t w,
                           const double *sines, int64_t stride, double *F)
{
    for (int64_t j = 0; j < w; j++)
        F[j] = 1.0;
    int64_t slot = 0;
    for (int a = 0; a < 3; a++) {
        if (!b->active[a])
            continue;
        const double *sn = sines + (2 * slot) * stride, *s1 = sines + (2 * slot + 1) * stride;
        const double n = b->n[a];
        for (int64_t j = 0; j < w; j++) {
            double x = TB_PI * index_of(r, a, S, j);
            double q = sn[j] / s1[j];
            F[j] = F[j] * (x == 0.0 ? n : q);
        }
        slot++;
    }
}

/* Whether evaluation j adds nothing: F_latt == 0 without water, or a culled pixel. */
TB_INLINE int skipped(double F, int64_t water, const uint8_t *cut, int64_t j)
{
    return ((F == 0.0) & (water == 0)) | (cut[j] != 0);
}

static const uint8_t tb_none[TB_PIECE];

/* One row added to the piece's sums I[0 .. w − 1] from its sines: the term
 * (F_cell·F_cell)·F_latt·F_latt, and 0 for a skipped evaluation. ``grid`` NULL: F_cell·F_cell
 * is ``FF`` everywhere, else F_cell is the nearest node's. */
TB_INLINE void row_sum(const tb_block *b, const double *r, const tb_S *S, int64_t w,
                       const double *sines, int64_t stride, const tb_grid *grid, double FF,
                       const uint8_t *cut, int64_t water, double *I)
{
    double F[TB_PIECE];
    row_lattice(b, r, S, w, sines, stride, F);
    double FFs[TB_PIECE];
    if (grid) {
        for (int64_t j = 0; j < w; j++) {
            double Fc = grid_F(grid, index_of(r, 0, S, j), index_of(r, 1, S, j),
                               index_of(r, 2, S, j));
            FFs[j] = Fc * Fc;
        }
    } else {
        for (int64_t j = 0; j < w; j++)
            FFs[j] = FF;
    }
    for (int64_t j = 0; j < w; j++) {
        double term = (FFs[j] * F[j]) * F[j];
        I[j] = I[j] + (skipped(F[j], water, cut, j) ? 0.0 : term);
    }
}

/* The interpolating pass's state (docs/behaviour/physics.md §7.5, quirk Q11): F_cell is the
 * tricubic F where the evaluation is in range and its pixel is before ``limit`` (< 0: every
 * pixel), else the nearest node's. ``I_near`` (or NULL): the sum with the nearest node's F
 * everywhere, from ``I_near_in``; ``best`` (or NULL): each pixel's first out-of-range
 * evaluation that is not skipped, as its run-wide index (``row0``, the block's first, + its
 * row), −1 while none. Pointers are to the block's pixel 0. */
typedef struct {
    int64_t limit, row0;
    const double *I_near_in;
    double *I_near;
    int64_t *best;
} tb_interp;

/* One row of the interpolating pass added to the piece's sums (pixels q0 .. q0 + w − 1; I
 * and I_near from the piece's first pixel); returns how many pixels' ``best`` it set.
 * ``vec``: tricubic_core.h's vector core. */
TB_INLINE int64_t row_interp(const tb_block *b, const double *r, const tb_S *S, int64_t q0,
                             int64_t w, const double *sines, int64_t stride,
                             const tb_grid *grid, const tb_interp *ip, int64_t row,
                             const uint8_t *cut, int64_t water, double *I, double *I_near,
                             int vec)
{
    double F[TB_PIECE];
    row_lattice(b, r, S, w, sines, stride, F);
    const tb_table *t = &grid->t;
    const double *padded = (const double *)t->padded;
    const int64_t pk = t->k_range + 2, pl = t->l_range + 2;
    int64_t hits = 0;
    for (int64_t j = 0; j < w; j++) {
        const int64_t p = q0 + j;
        double h = index_of(r, 0, S, j), k = index_of(r, 1, S, j), l = index_of(r, 2, S, j);
        int64_t flat = (padded_index(ceil(h - 0.5), t->h_min, t->h_range) * pk
                        + padded_index(ceil(k - 0.5), t->k_min, t->k_range)) * pl
                       + padded_index(ceil(l - 0.5), t->l_min, t->l_range);
        double near = padded[flat];
        int out = axis_out(h, t->h_min, t->h_range) | axis_out(k, t->k_min, t->k_range)
                  | axis_out(l, t->l_min, t->l_range);
        double Fc = (out || (ip->limit >= 0 && p >= ip->limit)) ? near
                                                               : tricubic_f64(t, h, k, l, vec);
        int skip = skipped(F[j], water, cut, j);
        I[j] = I[j] + (skip ? 0.0 : ((Fc * Fc) * F[j]) * F[j]);
        if (I_near)
            I_near[j] = I_near[j] + (skip ? 0.0 : ((near * near) * F[j]) * F[j]);
        if (ip->best && out && !skip && ip->best[p] < 0) {
            ip->best[p] = ip->row0 + row;
            hits++;
        }
    }
    return hits;
}

/* The vector sine: n values of a into r (MKL's vmdSin signature; n fits 32 bits). */
typedef void (*tb_vsin)(int64_t n, const double *a, double *r, int64_t mode);

/* The sums of the piece at q0 (w pixels) set from the block's input sums. */
TB_INLINE void piece_start(int64_t q0, int64_t w, const double *I_in, double *I,
                           const tb_interp *ip)
{
    memcpy(I + q0, I_in + q0, (size_t)w * sizeof(double));
    if (ip && ip->I_near)
        memcpy(ip->I_near + q0, ip->I_near_in + q0, (size_t)w * sizeof(double));
}

/* The sines' arguments (``sines`` NULL: computed into ``args`` by ``vsin``), or the given
 * sines, of row m for the piece; then its sums: row_sum, or with ``ip`` row_interp. */
TB_INLINE int64_t piece_row(const tb_block *b, int64_t m, const tb_S *S, int64_t q0, int64_t w,
                            const double *sines, int64_t stride, const tb_grid *grid,
                            double FF, const tb_interp *ip, const uint8_t *culled,
                            int64_t water, double *I, int vec)
{
    const double *r = b->rows + 9 * m;
    const uint8_t *cut = culled ? culled + q0 : tb_none;
    if (ip)
        return row_interp(b, r, S, q0, w, sines, stride, grid, ip, m, cut, water, I + q0,
                          ip->I_near ? ip->I_near + q0 : NULL, vec);
    row_sum(b, r, S, w, sines, stride, grid, FF, cut, water, I + q0);
    return 0;
}

/* Pixels [p0, p1): I = I_in after adding rows 0..M−1 in order, the sines by ``vsin``
 * (returns the pixels whose ``best`` the interpolating pass set). */
TB_INLINE int64_t fused(const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin, int64_t mode,
                        const tb_grid *grid, double FF, const tb_interp *ip,
                        const uint8_t *culled, int64_t water, const double *I_in, double *I,
                        int vec)
{
    double args[6 * TB_PIECE], sines[6 * TB_PIECE];
    tb_S S;
    const int64_t planes = 2 * (b->active[0] + b->active[1] + b->active[2]);
    int64_t hits = 0;
    for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE) {
        const int64_t w = p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE;
        piece_S(b, q0, w, &S);
        piece_start(q0, w, I_in, I, ip);
        for (int64_t m = 0; m < b->M; m++) {
            row_args(b, b->rows + 9 * m, &S, w, args, w);
            if (planes)
                vsin(planes * w, args, sines, mode);
            hits += piece_row(b, m, &S, q0, w, sines, w, grid, FF, ip, culled, water, I, vec);
        }
    }
    return hits;
}

/* fused's two copies: the baseline one and (on x86-64) the AVX2 one. */
#define TB_FUSED_ARGS                                                                          \
    const tb_block *b, int64_t p0, int64_t p1, tb_vsin vsin, int64_t mode,                    \
        const tb_grid *grid, double FF, const tb_interp *ip, const uint8_t *culled,           \
        int64_t water, const double *I_in, double *I

static int64_t fused_baseline(TB_FUSED_ARGS)
{
    return fused(b, p0, p1, vsin, mode, grid, FF, ip, culled, water, I_in, I, 0);
}

TB_AVX2 static int64_t fused_avx2(TB_FUSED_ARGS)
{
    return fused(b, p0, p1, vsin, mode, grid, FF, ip, culled, water, I_in, I, 1);
}

/* The fused loop for pixels [p0, p1): I (and I_near) from I_in (and I_near_in); ``avx2``:
 * its AVX2 copy (only where the CPU has AVX2). ``ip`` NULL: the nearest-node (or uniform-F)
 * block; else the interpolating one (binary64 table), returning the pixels whose first
 * out-of-range evaluation it found. */
int64_t tb_block_fused(TB_FUSED_ARGS, int64_t avx2)
{
    return (avx2 ? fused_avx2 : fused_baseline)(b, p0, p1, vsin, mode, grid, FF, ip, culled,
                                                water, I_in, I);
}

/* The sines' arguments of pixels [p0, p1) into ``args`` [planes][M][P] (row_args' layout,
 * stride M·P), for torch.sin. */
void tb_block_args(const tb_block *b, int64_t p0, int64_t p1, double *args)
{
    tb_S S;
    for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE) {
        const int64_t w = p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE;
        piece_S(b, q0, w, &S);
        for (int64_t m = 0; m < b->M; m++)
            row_args(b, b->rows + 9 * m, &S, w, args + m * b->P + q0, b->M * b->P);
    }
}

/* Pixels [p0, p1) as tb_block_fused (the baseline code), from the sines of tb_block_args'
 * buffer. */
int64_t tb_block_sum(const tb_block *b, int64_t p0, int64_t p1, const double *sines,
                     const tb_grid *grid, double FF, const tb_interp *ip,
                     const uint8_t *culled, int64_t water, const double *I_in, double *I)
{
    tb_S S;
    int64_t hits = 0;
    for (int64_t q0 = p0; q0 < p1; q0 += TB_PIECE) {
        const int64_t w = p1 - q0 < TB_PIECE ? p1 - q0 : TB_PIECE;
        piece_S(b, q0, w, &S);
        piece_start(q0, w, I_in, I, ip);
        for (int64_t m = 0; m < b->M; m++)
            hits += piece_row(b, m, &S, q0, w, sines + m * b->P + q0, b->M * b->P, grid, FF,
                              ip, culled, water, I, 0);
    }
    return hits;
}

/* One sub-pixel's detector geometry (docs/behaviour/physics.md §6.8, kernel._subpixel_geometry):
 * the values a flat detector's sub-pixel (j, i) of a layer needs, metres. */
typedef struct {
    double f[3], s[3], o[3], pix0[3]; /* detector axes and origin */
    double delta, half, odet_t;       /* sub-pixel pitch, its half, the layer's depth */
    double ps2, close;                /* pixel size squared (m²), close distance */
    int64_t n, j, i;                  /* oversample, sub-pixel indices */
    int64_t point_pixel;              /* Ω = 1/R² */
    int64_t replace;                  /* -oversample_omega: Ω of every sub-pixel (Q14) */
} tb_geom;

/* Pixels [p0, p1) of slow/fast indices s, f: d̂ (dx, dy, dz), Ω (from omega_in where it is
 * not 0, Q12, unless ``replace``) and ΣΩ = sum_in + Ω, in the tensor path's operations and
 * order. */
void tb_geometry(const tb_geom *g, int64_t p0, int64_t p1, const int64_t *s, const int64_t *f,
                 const double *omega_in, const double *sum_in, double *dx, double *dy,
                 double *dz, double *omega, double *sum)
{
    const double ox = g->odet_t * g->o[0], oy = g->odet_t * g->o[1], oz = g->odet_t * g->o[2];
    for (int64_t p = p0; p < p1; p++) {
        const double sc = g->delta * (double)(s[p] * g->n + g->j) + g->half;
        const double fc = g->delta * (double)(f[p] * g->n + g->i) + g->half;
        const double x = ((fc * g->f[0] + sc * g->s[0]) + ox) + g->pix0[0];
        const double y = ((fc * g->f[1] + sc * g->s[1]) + oy) + g->pix0[1];
        const double z = ((fc * g->f[2] + sc * g->s[2]) + oz) + g->pix0[2];
        const double R = sqrt((x * x + y * y) + z * z);
        dx[p] = x / R;
        dy[p] = y / R;
        dz[p] = z / R;
        const double om = g->point_pixel ? (1.0 / R) / R : (((g->ps2 / R) / R) * g->close) / R;
        const double w = (g->replace || omega_in[p] == 0.0) ? om : omega_in[p];
        omega[p] = w;
        sum[p] = sum_in[p] + w;
    }
}
