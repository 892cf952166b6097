/* Random numbers and deviates (docs/behaviour/physics.md §4.2, docs/behaviour/formats.md §13).
 * Process-wide state, serial use only. */
#include "nb.h"

#include <math.h>

#define IA 16807
#define IM 2147483647
#define AM (1.0 / IM)
#define IQ 127773
#define IR 2836
#define NTAB 32
#define NDIV (1 + (IM - 1) / NTAB)
#define RNMX (1.0 - 1.2e-7)

static long rng_iy = 0;
static long rng_iv[NTAB];

static long lcg_step(long idum)
{
    long k = idum / IQ;
    idum = IA * (idum - k * IQ) - IR * k;
    if (idum < 0)
        idum += IM;
    return idum;
}

float nb_ran1(long *idum)
{
    int j;
    float t;
    if (*idum <= 0 || rng_iy == 0) {
        if (-(*idum) < 1)
            *idum = 1;
        else
            *idum = -(*idum);
        for (j = NTAB + 7; j >= 0; j--) {
            *idum = lcg_step(*idum);
            if (j < NTAB)
                rng_iv[j] = *idum;
        }
        rng_iy = rng_iv[0];
    }
    *idum = lcg_step(*idum);
    j = (int)(rng_iy / NDIV);
    rng_iy = rng_iv[j];
    rng_iv[j] = *idum;
    t = (float)(AM * rng_iy);
    if (t > RNMX)
        return (float)RNMX;
    return t;
}

float nb_lgamma(float xx)
{
    static const double cof[6] = {76.18009172947146,     -86.50532032941677,
                                  24.01409824083091,     -1.231739572450155,
                                  0.1208650973866179e-2, -0.5395239384953e-5};
    double x = xx, y = xx, tmp, ser = 1.000000000190015;
    int j;
    tmp = x + 5.5;
    tmp -= (x + 0.5) * log(tmp);
    for (j = 0; j < 6; j++) {
        y += 1.0;
        ser += cof[j] / y;
    }
    return (float)(-tmp + log(2.5066282746310005 * ser / x));
}

static int gauss_have_spare = 0;
static float gauss_spare;

float nb_gaussdev(long *idum)
{
    float v1, v2, r, fac;
    if (gauss_have_spare) {
        gauss_have_spare = 0;
        return gauss_spare;
    }
    do {
        v1 = (float)(2.0 * nb_ran1(idum) - 1.0);
        v2 = (float)(2.0 * nb_ran1(idum) - 1.0);
        r = v1 * v1 + v2 * v2;
    } while (r >= 1.0f || r == 0.0f);
    fac = (float)sqrt(-2.0 * log(r) / r);
    gauss_spare = v1 * fac;
    gauss_have_spare = 1;
    return v2 * fac;
}

static float p_oldm = -1.0f, p_g, p_sq, p_alxm;

float nb_poidev(float xm, long *idum)
{
    float em, t, y;
    if (xm > 1.0e6f)
        return (float)(xm + sqrt((double)xm) * nb_gaussdev(idum));
    if (xm < 12.0f) {
        if (xm != p_oldm) {
            p_oldm = xm;
            p_g = (float)exp(-(double)xm);
        }
        em = -1.0f;
        t = 1.0f;
        do {
            em += 1.0f;
            t *= nb_ran1(idum);
        } while (t > p_g);
        return em;
    }
    if (xm != p_oldm) {
        p_oldm = xm;
        p_sq = (float)sqrt(2.0 * xm);
        p_alxm = (float)log((double)xm);
        p_g = xm * p_alxm - nb_lgamma(xm + 1.0f);
    }
    do {
        do {
            y = (float)tan(NB_PI * nb_ran1(idum));
            em = p_sq * y + xm;
        } while (em < 0.0f);
        em = (float)floor((double)em);
        t = (float)(0.9 * (1.0 + (float)(y * y)) * exp((double)(em * p_alxm - nb_lgamma(em + 1.0f) - p_g)));
    } while (nb_ran1(idum) > t);
    return em;
}
