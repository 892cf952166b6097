/* Native helper for torchbragg.io.noise: the uniform generator, the Poisson and Gaussian
 * deviates and the noise-image pixel loop of docs/behaviour/formats.md §13.1-13.5, written from
 * that specification. Compiled by torchbragg._cbuild with -ffp-contract=off -fno-fast-math, so
 * every float operation below is a binary32 operation and every double one binary64, with no
 * fused multiply-add, matching the pure-Python reference bit for bit.
 *
 * The generator state (the consumer's idum, the shared iy and iv[32]) and the deviates'
 * persistent state (oldm, g, sq, alxm, Gaussian spare and flag) are passed in and written
 * back, so the caller's Python objects stay consistent.
 */
#include <math.h>
#include <stdint.h>

#define IA 16807
#define IM 2147483647
#define IQ 127773
#define IR 2836
#define NTAB 32
#define NDIV (1 + (IM - 1) / NTAB)

static const double AM = 1.0 / IM;
static const double RNMX = 1.0 - 1.2e-7;
static const double PI = 3.141592653589793;

typedef struct {
    int64_t idum;
    int64_t iy;
    int64_t iv[NTAB];
} gen_t;

typedef struct {
    float oldm, g, sq, alxm, spare;
    int flag;
} dev_t;

static int64_t schrage(int64_t x)
{
    int64_t k = x / IQ;
    x = IA * (x - k * IQ) - IR * k;
    if (x < 0) x += IM;
    return x;
}

static float ran1(gen_t *gen)
{
    int64_t j;
    float t;
    if (gen->idum <= 0 || gen->iy == 0) {
        gen->idum = (-gen->idum < 1) ? 1 : -gen->idum;
        for (j = NTAB + 7; j >= 0; j--) {
            gen->idum = schrage(gen->idum);
            if (j < NTAB) gen->iv[j] = gen->idum;
        }
        gen->iy = gen->iv[0];
    }
    gen->idum = schrage(gen->idum);
    j = gen->iy / NDIV;
    gen->iy = gen->iv[j];
    gen->iv[j] = gen->idum;
    t = (float)(AM * (double)gen->iy);
    if ((double)t > RNMX) return (float)RNMX;
    return t;
}

static float log_gamma(float xx)
{
    static const double cof[6] = {76.18009172947146, -86.50532032941677, 24.01409824083091,
                                  -1.231739572450155, 0.1208650973866179e-2,
                                  -0.5395239384953e-5};
    double x = xx, y = xx, tmp, ser;
    int j;
    tmp = x + 5.5;
    tmp -= (x + 0.5) * log(tmp);
    ser = 1.000000000190015;
    for (j = 0; j < 6; j++) {
        y += 1.0;
        ser += cof[j] / y;
    }
    return (float)(-tmp + log(2.5066282746310005 * ser / x));
}

static float gauss_dev(gen_t *gen, dev_t *d)
{
    float v1, v2, r, fac;
    if (d->flag) {
        d->flag = 0;
        return d->spare;
    }
    do {
        v1 = (float)(2.0 * (double)ran1(gen) - 1.0);
        v2 = (float)(2.0 * (double)ran1(gen) - 1.0);
        r = (float)(v1 * v1) + (float)(v2 * v2);
    } while (!(r > 0.0f && r < 1.0f));
    fac = (float)sqrt(-2.0 * log((double)r) / (double)r);
    d->spare = v1 * fac;
    d->flag = 1;
    return v2 * fac;
}

static float poisson_dev(float xm, gen_t *gen, dev_t *d)
{
    float em, t, y, e;
    if ((double)xm > 1e6) {
        return (float)((double)xm + sqrt((double)xm) * (double)gauss_dev(gen, d));
    }
    if ((double)xm < 12.0) {
        if (xm != d->oldm) {
            d->oldm = xm;
            d->g = (float)exp(-(double)xm);
        }
        em = -1.0f;
        t = 1.0f;
        do {
            em = em + 1.0f;
            t = t * ran1(gen);
        } while (t > d->g);
        return em;
    }
    if (xm != d->oldm) {
        d->oldm = xm;
        d->sq = (float)sqrt(2.0 * (double)xm);
        d->alxm = (float)log((double)xm);
        d->g = (xm * d->alxm) - log_gamma(xm + 1.0f);
    }
    for (;;) {
        do {
            y = (float)tan(PI * (double)ran1(gen));
            em = (d->sq * y) + xm;
        } while (em < 0.0f);
        em = (float)floor((double)em);
        e = ((em * d->alxm) - log_gamma(em + 1.0f)) - d->g;
        t = (float)(0.9 * (1.0 + (double)(y * y)) * exp((double)e));
        if (!(ran1(gen) > t)) return em;
    }
}

static uint16_t to_u16(double v)
{
    /* truncation toward zero, then modulo 65536 (what the reference build does for negative
     * values); NaN and values beyond the int64 range give 0 */
    if (!(v > -9.2e18) || !(v < 9.2e18)) return 0;
    return (uint16_t)((uint64_t)(int64_t)v & 0xFFFFu);
}

static void load(gen_t *gen, dev_t *d, const int64_t *idum, const int64_t *iy,
                 const int64_t *iv, const float *fstate, const int *gflag)
{
    int j;
    gen->idum = *idum;
    gen->iy = *iy;
    for (j = 0; j < NTAB; j++) gen->iv[j] = iv[j];
    d->oldm = fstate[0];
    d->g = fstate[1];
    d->sq = fstate[2];
    d->alxm = fstate[3];
    d->spare = fstate[4];
    d->flag = *gflag;
}

static void store(const gen_t *gen, const dev_t *d, int64_t *idum, int64_t *iy, int64_t *iv,
                  float *fstate, int *gflag)
{
    int j;
    *idum = gen->idum;
    *iy = gen->iy;
    for (j = 0; j < NTAB; j++) iv[j] = gen->iv[j];
    fstate[0] = d->oldm;
    fstate[1] = d->g;
    fstate[2] = d->sq;
    fstate[3] = d->alxm;
    fstate[4] = d->spare;
    *gflag = d->flag;
}

/* Noise image: for each pixel in order, 0 outside the ROI (no draw), otherwise
 * n = P(pixel), sum += n, v = n + adc clipped at 65535 (counted as an overload), truncated. */
int tb_noise_image(const float *img, const uint8_t *roi, int64_t n, double adc,
                   int64_t *idum, int64_t *iy, int64_t *iv, float *fstate, int *gflag,
                   uint16_t *out, double *sum, int64_t *overloads)
{
    gen_t gen;
    dev_t d;
    double s = 0.0, v;
    int64_t ov = 0, i;
    float p;
    load(&gen, &d, idum, iy, iv, fstate, gflag);
    for (i = 0; i < n; i++) {
        if (!roi[i]) {
            out[i] = 0;
            continue;
        }
        p = poisson_dev(img[i], &gen, &d);
        s += (double)p;
        v = (double)p + adc;
        if (v > 65535.0) {
            v = 65535.0;
            ov++;
        }
        out[i] = to_u16(v);
    }
    store(&gen, &d, idum, iy, iv, fstate, gflag);
    *sum = s;
    *overloads = ov;
    return 0;
}

/* Successive Poisson deviates of means[0..n-1] (testing aid). */
int tb_poisson_batch(const float *means, int64_t n, int64_t *idum, int64_t *iy, int64_t *iv,
                     float *fstate, int *gflag, float *out)
{
    gen_t gen;
    dev_t d;
    int64_t i;
    load(&gen, &d, idum, iy, iv, fstate, gflag);
    for (i = 0; i < n; i++) out[i] = poisson_dev(means[i], &gen, &d);
    store(&gen, &d, idum, iy, iv, fstate, gflag);
    return 0;
}
