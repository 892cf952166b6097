/* File output (docs/behaviour/formats.md): float/SMV/PGM/noise images.  Every output is staged in a
 * temporary and all are renamed into place together once the last one is written (nb_files.c; the
 * Fdump cache written by nb_io_read.c is committed with them). */
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *open_output(const char *name)
{
    FILE *fp = nb_stage_open(name, 0);
    if (fp == NULL) {
        fflush(stdout);
        fprintf(stderr, "ERROR: fopen: cannot write %s: %s\n", name, strerror(errno));
        exit(NB_EXIT_OUTPUT);
    }
    return fp;
}

static void close_output(FILE *fp, const char *name)
{
    if (nb_stage_close(fp) != 0) {
        fflush(stdout);
        fprintf(stderr, "ERROR: writing %s failed: %s\n", name, strerror(errno));
        exit(NB_EXIT_OUTPUT);
    }
}

/* ----------------------------------------------- outputs (docs/behaviour/formats.md §7, §9-§13) */
static int in_roi(const nb_sim *S, int f, int s)
{
    return f >= S->roi_xmin && f <= S->roi_xmax && s >= S->roi_ymin && s <= S->roi_ymax;
}

static int rendered(const nb_sim *S, int f, int s)
{
    if (!in_roi(S, f, s))
        return 0;
    if (S->maskimage && S->maskimage[(size_t)s * S->fpixels + f] == 0)
        return 0;
    return 1;
}

/* docs/behaviour/formats.md §10 (observed for negative values): the scaled value, at most 255,
 * truncated toward zero and stored modulo 256 (-3.7 -> 253); no lower clip.  NaN, -inf and values
 * below the 64-bit integer range give 0. */
static unsigned char pgm_byte(double t)
{
    if (!(t >= -9223372036854775808.0))
        return 0;
    return (unsigned char)((long long)t & 0xFF);
}

static void smv_header(const nb_sim *S, char *buf, size_t len, size_t *used)
{
    double px = S->pixel;
    int n = snprintf(
        buf, len,
        "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
        "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%g;\nDISTANCE=%g;\nWAVELENGTH=%g;\n"
        "BEAM_CENTER_X=%g;\nBEAM_CENTER_Y=%g;\nADXV_CENTER_X=%g;\nADXV_CENTER_Y=%g;\n"
        "MOSFLM_CENTER_X=%g;\nMOSFLM_CENTER_Y=%g;\nDENZO_X_BEAM=%g;\nDENZO_Y_BEAM=%g;\n"
        "DIALS_ORIGIN=%g,%g,%g\nXDS_ORGX=%g;\nXDS_ORGY=%g;\nCLOSE_DISTANCE=%g;\nPHI=%g;\n"
        "OSC_START=%g;\nOSC_RANGE=%g;\nTWOTHETA=%g;\nDETECTOR_SN=000;\nBEAMLINE=fake;\n}\f",
        S->fpixels, S->spixels, px * 1000.0, S->distance * 1000.0, S->lambda0 * 1e10,
        S->Xbeam * 1000.0, S->Ybeam * 1000.0, S->Fbeam * 1000.0,
        (S->detsize_s - S->Sbeam) * 1000.0, (S->Sbeam - 0.5 * px) * 1000.0,
        (S->Fbeam - 0.5 * px) * 1000.0, S->Sbeam * 1000.0, S->Fbeam * 1000.0,
        S->dials_origin[0], S->dials_origin[1], S->dials_origin[2], S->orgx_out, S->orgy_out,
        S->close_distance * 1000.0, S->phi0 * NB_RTD, S->phi0 * NB_RTD, S->osc * NB_RTD,
        S->twotheta * NB_RTD);
    size_t u = (n < 0) ? 0 : (size_t)n;
    if (u >= len)
        u = len - 1;
    while (u < 512)
        buf[u++] = ' ';
    *used = u;
}

static void write_smv(const nb_sim *S, const char *name, const unsigned short *pix)
{
    char hdr[2048];
    size_t hl, npix = (size_t)S->fpixels * S->spixels;
    FILE *fp = open_output(name);
    smv_header(S, hdr, sizeof(hdr), &hl);
    fwrite(hdr, 1, hl, fp);
    fwrite(pix, sizeof(unsigned short), npix, fp);
    close_output(fp, name);
}

void nb_write_outputs(nb_sim *S)
{
    int f, s, n = S->oversample;
    size_t i, npix = (size_t)S->fpixels * S->spixels;
    FILE *fp;
    double sum = 0, sumsq = 0, mean, rms, rmsd, dsum = 0, delta;
    long nrend = 0, nroi = 0;
    unsigned short *pix;
    int maxf = -1, maxs = -1;

    printf("\n");
    printf("solid angle subtended by detector = %g steradian ( %g%% sphere)\n",
           S->omega_sum / S->steps, 100.0 * S->omega_sum / S->steps / (4.0 * NB_PI));
    printf("writing %s as %d %lu-byte floats\n", S->floatfile, (int)npix,
           (unsigned long)sizeof(float));
    fp = open_output(S->floatfile);
    fwrite(S->floatimage, sizeof(float), npix, fp);
    close_output(fp, S->floatfile);

    S->max_I = 0.0;
    for (s = 0; s < S->spixels; s++)
        for (f = 0; f < S->fpixels; f++) {
            float fv = S->floatimage[(size_t)s * S->fpixels + f], sq;
            double v = fv;
            if (!rendered(S, f, s))
                continue;
            sq = fv * fv; /* the square is binary32 (observed: rms= inf past ~1.84e19) */
            if (v > S->max_I) {
                S->max_I = v;
                maxf = f;
                maxs = s;
            }
            sum += v;
            sumsq += sq;
            nrend++;
        }
    if (maxf >= 0) {
        double d = S->pixel / n;
        S->max_I_x = d * (double)(maxf * n + n - 1) + d / 2.0;
        S->max_I_y = d * (double)(maxs * n + n - 1) + d / 2.0;
    }
    mean = sum / (nrend > 1 ? nrend : 1);
    rms = sqrt(sumsq / ((nrend > 1 ? nrend : 2) - 1));
    for (s = 0; s < S->spixels; s++)
        for (f = 0; f < S->fpixels; f++) {
            if (!in_roi(S, f, s))
                continue;
            delta = S->floatimage[(size_t)s * S->fpixels + f] - mean;
            dsum += delta * delta;
            nroi++;
        }
    rmsd = sqrt(dsum / ((nroi > 1 ? nroi : 2) - 1));
    printf("max_I = %g  at %g %g\n", S->max_I, S->max_I_x, S->max_I_y);
    printf("mean= %g rms= %g rmsd= %g\n", mean, rms, rmsd);

    /* noiseless SMV (docs/behaviour/formats.md §7.3) */
    if (S->intfile_scale <= 0.0)
        S->intfile_scale = (S->max_I > 0.0) ? 55000.0 / S->max_I : 1.0;
    printf("intfile_scale = %g\n", S->intfile_scale);
    pix = nb_xcalloc(npix, sizeof(unsigned short));
    for (s = 0; s < S->spixels; s++)
        for (f = 0; f < S->fpixels; f++) {
            double v;
            i = (size_t)s * S->fpixels + f;
            if (!in_roi(S, f, s))
                continue;
            v = S->floatimage[i] * S->intfile_scale + S->adc;
            if (v < 0.0)
                v = 0.0;
            if (v > 65535.0)
                v = 65535.0;
            if (v != v)
                v = 0.0;
            pix[i] = (unsigned short)floor((float)(v + 0.5));
        }
    printf("writing %s as %lu-byte integers\n", S->intfile, (unsigned long)sizeof(unsigned short));
    write_smv(S, S->intfile, pix);

    if (S->write_pgm) {
        unsigned char *bytes = nb_xcalloc(npix, 1);
        if (S->pgm_scale <= 0.0) {
            S->pgm_scale = S->intfile_scale;
            if (rmsd > 0.0)
                S->pgm_scale = 250.0 / (5.0 * rmsd);
        }
        printf("pgm_scale = %g\n", S->pgm_scale);
        for (s = 0; s < S->spixels; s++)
            for (f = 0; f < S->fpixels; f++) {
                double t;
                i = (size_t)s * S->fpixels + f;
                if (!in_roi(S, f, s))
                    continue;
                t = S->floatimage[i] * S->pgm_scale;
                if (t > 255.0)
                    t = 255.0;
                bytes[i] = pgm_byte(t);
            }
        printf("writing %s as %lu-byte integers\n", S->pgmfile, (unsigned long)sizeof(unsigned char));
        fp = open_output(S->pgmfile);
        fprintf(fp, "P5\n%d %d\n# pixels scaled by %lg\n255\n", S->fpixels, S->spixels,
                S->pgm_scale);
        fwrite(bytes, 1, npix, fp);
        close_output(fp, S->pgmfile);
        free(bytes);
    }

    if (S->write_noise) {
        double photons = 0.0;
        int overloads = 0;
        memset(pix, 0, npix * sizeof(unsigned short));
        for (s = 0; s < S->spixels; s++)
            for (f = 0; f < S->fpixels; f++) {
                double v;
                float nv;
                i = (size_t)s * S->fpixels + f;
                if (!in_roi(S, f, s))
                    continue;
                nv = nb_poidev(S->floatimage[i], &S->seed);
                photons += nv;
                v = nv + S->adc;
                if (v > 65535.0) {
                    v = 65535.0;
                    overloads++;
                }
                if (!(v > -1e9))
                    v = 0.0; /* NaN or absurd: no defined integer value */
                pix[i] = (unsigned short)(long)v;
            }
        printf("%.0f photons on noise image (%d overloads)\n", photons, overloads);
        printf("writing %s as %lu-byte integers\n", S->noisefile,
               (unsigned long)sizeof(unsigned short));
        write_smv(S, S->noisefile, pix);
    }
    free(pix);
    nb_stage_commit();
}
