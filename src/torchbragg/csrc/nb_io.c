/* File input and output (io.md): SMV headers/masks, HKL, Fdump, matrix, column files,
 * float/SMV/PGM/noise images.  Every output is written to NAME.tmp.PID and renamed. */
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- atomic output */
FILE *nb_open_atomic(const char *name, char *tmpname, size_t tmplen)
{
    FILE *fp;
    snprintf(tmpname, tmplen, "%s.tmp.%ld", name, (long)getpid());
    nb_set_pending_tmp(tmpname); /* removed by the SIGINT/SIGTERM handler */
    fp = fopen(tmpname, "wb");
    if (fp == NULL)
        nb_set_pending_tmp(NULL);
    return fp;
}

int nb_commit_atomic(FILE *fp, const char *tmpname, const char *name)
{
    int bad = ferror(fp);
    if (fclose(fp) != 0)
        bad = 1;
    if (bad || rename(tmpname, name) != 0) {
        remove(tmpname);
        nb_set_pending_tmp(NULL);
        return -1;
    }
    nb_set_pending_tmp(NULL);
    return 0;
}

static FILE *open_output(const char *name, char *tmp, size_t tmplen)
{
    FILE *fp = nb_open_atomic(name, tmp, tmplen);
    if (fp == NULL) {
        fflush(stdout);
        fprintf(stderr, "ERROR: fopen: cannot write %s: %s\n", name, strerror(errno));
        exit(NB_EXIT_OUTPUT);
    }
    return fp;
}

static void close_output(FILE *fp, const char *tmp, const char *name)
{
    if (nb_commit_atomic(fp, tmp, name) != 0) {
        fflush(stdout);
        fprintf(stderr, "ERROR: writing %s failed: %s\n", name, strerror(errno));
        exit(NB_EXIT_OUTPUT);
    }
}

/* ------------------------------------------------------------- SMV input (io.md §8) */
static double hdr_value(const char *hdr, const char *key)
{
    const char *p = hdr, *last = NULL, *eq;
    while ((p = strstr(p, key)) != NULL) {
        last = p;
        p++;
    }
    if (last == NULL)
        return NAN;
    eq = strchr(last, '=');
    if (eq == NULL)
        return 0.0;
    return strtod(eq + 1, NULL);
}

void nb_read_smv_header(nb_sim *S, const char *file, int is_mask)
{
    FILE *fp = fopen(file, "rb");
    const char *flag = is_mask ? "-mask" : "-img";
    char *hdr;
    size_t got, hsize, npix, want;
    double v, w, h;
    unsigned char *raw;
    static const char *positive_keys[4] = {"PIXEL_SIZE", "WAVELENGTH", "DISTANCE",
                                           "CLOSE_DISTANCE"};
    int k;
    /* strict (issue #9): the reference prints a message and runs on without the header */
    if (fp == NULL)
        nb_fatal("ERROR: %s %s: cannot open: %s", flag, file, strerror(errno));
    printf("reading %s\n", file);
    hdr = nb_xcalloc(513, 1);
    got = fread(hdr, 1, 512, fp);
    if (got < 512) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: SMV header truncated (%lu bytes, an SMV file has at least 512)",
                 flag, file, (unsigned long)got);
    }
    if (memcmp(hdr, "{\nHEADER_BYT", 12) != 0) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: not an SMV (ADSC) image (it does not start with '{' and "
                 "HEADER_BYTES)", flag, file);
    }
    v = hdr_value(hdr, "HEADER_BYTES");
    if (!(v >= 512.0 && v < 1e8)) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: missing or bad HEADER_BYTES in SMV header", flag, file);
    }
    hsize = (size_t)v;
    if (hsize != 512) {
        free(hdr);
        hdr = nb_xcalloc(hsize + 1, 1);
        rewind(fp);
        if (fread(hdr, 1, hsize, fp) < hsize) {
            fclose(fp);
            nb_fatal("ERROR: %s %s: SMV header truncated (HEADER_BYTES=%lu)", flag, file,
                     (unsigned long)hsize);
        }
    }
    w = hdr_value(hdr, "SIZE1");
    h = hdr_value(hdr, "SIZE2");
    if (w == 0.0) {
        const char *p = strstr(hdr, "DETECTOR_DIMENSIONS");
        const char *eq = p ? strchr(p, '=') : NULL;
        char *end;
        w = h = NAN;
        if (eq) {
            w = strtod(eq + 1, &end);
            h = strtod(end, NULL);
        }
    }
    if (isnan(w) || isnan(h) || w < 1.0 || h < 1.0 || w > 1e6 || h > 1e6) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: SMV header lacks a valid SIZE1/SIZE2 (or DETECTOR_DIMENSIONS)",
                 flag, file);
    }
    S->fpixels = (int)w;
    S->spixels = (int)h;
    npix = (size_t)S->fpixels * (size_t)S->spixels;
    want = hsize + 2 * npix;
    raw = nb_xcalloc(want, 1);
    rewind(fp);
    got = fread(raw, 1, want, fp);
    fclose(fp);
    if (is_mask && got < want)
        nb_fatal("ERROR: %s %s: pixel data truncated (%lu bytes for %dx%d 2-byte pixels)", flag,
                 file, (unsigned long)(got > hsize ? got - hsize : 0), S->fpixels, S->spixels);
    for (k = 0; k < 4; k++) {
        v = hdr_value(hdr, positive_keys[k]);
        if (!isnan(v) && !(v > 0.0 && isfinite(v)))
            nb_fatal("ERROR: %s %s: SMV header %s must be a positive number", flag, file,
                     positive_keys[k]);
    }
    printf("mmap(%s) = %p\n", file, (void *)raw);
    if (is_mask) {
        free(S->maskimage);
        S->maskimage = nb_xmalloc(npix * sizeof(unsigned short));
        memcpy(S->maskimage, raw + hsize, npix * sizeof(unsigned short));
        S->mask_w = S->fpixels;
        S->mask_h = S->spixels;
    }
    free(raw);
    /* keys honoured (io.md §8.3) */
    v = hdr_value(hdr, "PIXEL_SIZE");
    if (!isnan(v)) {
        S->pixel = v / 1000.0;
        S->detsize_f = S->pixel * S->fpixels;
        S->detsize_s = S->pixel * S->spixels;
    }
    v = hdr_value(hdr, "DISTANCE");
    if (!isnan(v))
        S->distance = v / 1000.0;
    v = hdr_value(hdr, "CLOSE_DISTANCE");
    if (!isnan(v))
        S->close_distance = v / 1000.0;
    v = hdr_value(hdr, "WAVELENGTH");
    if (!isnan(v))
        S->lambda0 = v * 1e-10;
    v = hdr_value(hdr, "BEAM_CENTER_X");
    if (!isnan(v))
        S->Xbeam = v / 1000.0;
    v = hdr_value(hdr, "BEAM_CENTER_Y");
    if (!isnan(v))
        S->Ybeam = is_mask ? S->detsize_s - v / 1000.0 : v / 1000.0;
    v = hdr_value(hdr, "ORGX");
    if (!isnan(v))
        S->ORGX = v;
    v = hdr_value(hdr, "ORGY");
    if (!isnan(v))
        S->ORGY = v;
    v = hdr_value(hdr, "PHI");
    if (!isnan(v))
        S->phi0 = v / NB_RTD;
    v = hdr_value(hdr, "OSC_RANGE");
    if (!isnan(v))
        S->osc = v / NB_RTD;
    free(hdr);
}

/* ------------------------------------------------------------- HKL (io.md §2, §3) */
static size_t grid_size(const nb_sim *S)
{
    return (size_t)(S->h_range + 1) * (size_t)(S->k_range + 1) * (size_t)(S->l_range + 1);
}

static void write_fdump(nb_sim *S)
{
    char tmp[4096];
    FILE *fp = nb_open_atomic(S->dumpfile, tmp, sizeof(tmp));
    if (fp == NULL) {
        printf("WARNING: unable to open dump file: %s\n", S->dumpfile);
        return;
    }
    printf("writing dump file for next time: %s\n", S->dumpfile);
    fprintf(fp, "%d %d %d %d %d %d\n\f", S->h_min, S->h_max, S->k_min, S->k_max, S->l_min,
            S->l_max);
    fwrite(S->Fgrid, sizeof(double), grid_size(S), fp);
    if (nb_commit_atomic(fp, tmp, S->dumpfile) != 0)
        printf("WARNING: unable to open dump file: %s\n", S->dumpfile);
}

void nb_read_hkl(nb_sim *S)
{
    FILE *fp = fopen(S->hklfile, "r");
    double h, k, l, F;
    int ih, ik, il, n = 0;
    size_t i, total;
    if (fp != NULL)
        fclose(fp);
    nb_check_hkl(S->hklfile); /* strict (issue #9): refuses what the two passes would misread */
    fp = fopen(S->hklfile, "r");
    if (fp == NULL) {
        printf("ERROR: unable to open %s.", S->hklfile);
        fflush(stdout);
        exit(NB_EXIT_USAGE);
    }
    printf("counting entries in %s\n", S->hklfile);
    S->h_min = S->k_min = S->l_min = 1000000000;
    S->h_max = S->k_max = S->l_max = -1000000000;
    while (fscanf(fp, "%lg %lg %lg %lg", &h, &k, &l, &F) == 4) {
        if (h != floor(h))
            printf("WARNING: non-integer value for h (%g) at line %d\n", h, n);
        if (k != floor(k))
            printf("WARNING: non-integer value for k (%g) at line %d\n", k, n);
        if (l != floor(l))
            printf("WARNING: non-integer value for l (%g) at line %d\n", l, n);
        if (!(fabs(h) < 1e9 && fabs(k) < 1e9 && fabs(l) < 1e9)) {
            fclose(fp);
            nb_fatal("ERROR: %s: Miller index out of range at record %d", S->hklfile, n);
        }
        if (h < S->h_min) S->h_min = (int)h;
        if (h > S->h_max) S->h_max = (int)h;
        if (k < S->k_min) S->k_min = (int)k;
        if (k > S->k_max) S->k_max = (int)k;
        if (l < S->l_min) S->l_min = (int)l;
        if (l > S->l_max) S->l_max = (int)l;
        n++;
    }
    S->hkls = n;
    S->h_range = S->h_max - S->h_min + 1;
    S->k_range = S->k_max - S->k_min + 1;
    S->l_range = S->l_max - S->l_min + 1;
    if (S->h_range < 0 || S->k_range < 0 || S->l_range < 0) {
        printf("h: %d - %d\n", S->h_min, S->h_max);
        printf("k: %d - %d\n", S->k_min, S->k_max);
        printf("l: %d - %d\n", S->l_min, S->l_max);
        printf("ERROR: not enough HKL indices in %s\n", S->hklfile);
        fflush(stdout);
        fclose(fp);
        exit(NB_EXIT_USAGE);
    }
    total = grid_size(S);
    if ((double)(S->h_range + 1) * (S->k_range + 1) * (S->l_range + 1) > 4e9) {
        fclose(fp);
        nb_fatal("ERROR: %s: HKL index ranges too large for the grid", S->hklfile);
    }
    S->Fgrid = nb_xcalloc(total, sizeof(double));
    if (S->default_F != 0.0) {
        int a, b, c;
        printf("initializing to default_F = %g:\n", S->default_F);
        for (a = 0; a < S->h_range; a++)
            for (b = 0; b < S->k_range; b++)
                for (c = 0; c < S->l_range; c++)
                    S->Fgrid[((size_t)a * (S->k_range + 1) + b) * (S->l_range + 1) + c] =
                        S->default_F;
        printf("done initializing:\n");
    }
    printf("re-reading %s\n", S->hklfile);
    rewind(fp);
    while (fscanf(fp, "%d %d %d %lg", &ih, &ik, &il, &F) == 4) {
        if (ih < S->h_min || ih > S->h_max || ik < S->k_min || ik > S->k_max || il < S->l_min ||
            il > S->l_max)
            continue;
        i = ((size_t)(ih - S->h_min) * (S->k_range + 1) + (size_t)(ik - S->k_min)) *
                (S->l_range + 1) + (size_t)(il - S->l_min);
        S->Fgrid[i] = F;
    }
    fclose(fp);
    write_fdump(S);
}

/* returns 1 if the cache could be opened (and, unless probe_only, was loaded) */
int nb_read_fdump(nb_sim *S, int probe_only)
{
    FILE *fp = fopen(S->dumpfile, "rb");
    int c, a, b;
    size_t row;
    if (fp == NULL)
        return 0;
    if (probe_only) {
        fclose(fp);
        return 1;
    }
    printf("reading Fs from %s\n", S->dumpfile);
    if (fscanf(fp, "%d %d %d %d %d %d", &S->h_min, &S->h_max, &S->k_min, &S->k_max, &S->l_min,
               &S->l_max) != 6) {
        fclose(fp);
        nb_fatal("ERROR: %s: not a structure-factor cache (bad header)", S->dumpfile);
    }
    while ((c = getc(fp)) != EOF && (c == ' ' || (c >= 9 && c <= 13)))
        ;
    if (c != EOF)
        ungetc(c, fp);
    S->h_range = S->h_max - S->h_min + 1;
    S->k_range = S->k_max - S->k_min + 1;
    S->l_range = S->l_max - S->l_min + 1;
    if (S->h_range <= 0 || S->k_range <= 0 || S->l_range <= 0 ||
        (double)(S->h_range + 1) * (S->k_range + 1) * (S->l_range + 1) > 4e9) {
        fclose(fp);
        nb_fatal("ERROR: %s: bad index ranges in the cache header", S->dumpfile);
    }
    S->Fgrid = nb_xcalloc(grid_size(S), sizeof(double));
    row = (size_t)(S->l_range + 1);
    for (a = 0; a <= S->h_range; a++)
        for (b = 0; b <= S->k_range; b++) {
            double *dst = S->Fgrid + ((size_t)a * (S->k_range + 1) + b) * row;
            if (fread(dst, sizeof(double), row, fp) == 0)
                fprintf(stderr, "fscanf: %s: short cache file\n", S->dumpfile);
        }
    fclose(fp);
    S->hkls = S->h_range * S->k_range * S->l_range;
    return 1;
}

/* ------------------------------------------------------------- matrix (io.md §4) */
void nb_read_mat(nb_sim *S, double *as, double *bs, double *cs)
{
    FILE *fp = fopen(S->matfile, "r");
    double m[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
    double f;
    int g, n;
    if (fp == NULL)
        return;
    printf("reading %s\n", S->matfile);
    for (g = 0; g < 3; g++) {
        n = fscanf(fp, "%lg %lg %lg", &m[3 * g], &m[3 * g + 1], &m[3 * g + 2]);
        if (n == EOF)
            break;
        if (n == 0) {
            fprintf(stderr, "fscanf: %s: matrix row %d does not parse\n", S->matfile, g + 1);
            break;
        }
    }
    fclose(fp);
    f = 1e-10 / S->lambda0;
    as[0] = m[0] * f; bs[0] = m[1] * f; cs[0] = m[2] * f;
    as[1] = m[3] * f; bs[1] = m[4] * f; cs[1] = m[5] * f;
    as[2] = m[6] * f; bs[2] = m[7] * f; cs[2] = m[8] * f;
}

/* ------------------------------------------------------------- column files (io.md §5) */
static int is_delim(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == ';' || c == ':' || c == '!';
}

static int is_numch(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'E' || c == 'G' ||
           c == 'e' || c == 'g';
}

int nb_read_columns(const char *file, int ncol, double **cols, const char *who)
{
    FILE *fp = fopen(file, "r");
    char line[10240];
    int n = 0, cap = 0, c;
    if (fp == NULL) {
        fflush(stdout);
        fprintf(stderr, "fopen(): %s: %s\n", file, strerror(errno));
        fprintf(stderr, "%s: %s\n", who, file);
        exit(NB_EXIT_USAGE);
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *p = line;
        while (*p && is_delim(*p))
            p++;
        if (strcmp(p, "\n") == 0)
            continue;
        if (n >= cap) {
            cap = cap ? 2 * cap : 16;
            for (c = 0; c < ncol; c++) {
                cols[c] = realloc(cols[c], sizeof(double) * (size_t)cap);
                if (cols[c] == NULL)
                    nb_fatal("ERROR: out of memory reading %s", file);
            }
        }
        for (c = 0; c < ncol; c++)
            cols[c][n] = NAN;
        for (c = 0; c < ncol; c++) {
            cols[c][n] = atof(p);
            while (*p && is_numch(*p))
                p++;
            if (strcmp(p, "\n") == 0)
                break;
            while (*p && !is_delim(*p))
                p++;
            while (*p && is_delim(*p))
                p++;
            if (strcmp(p, "\n") == 0)
                break;
        }
        n++;
    }
    fclose(fp);
    if (n == 0) {
        fflush(stdout);
        fprintf(stderr, "%s: no data in %s\n", who, file);
        exit(NB_EXIT_USAGE);
    }
    return n;
}

void nb_read_stol(nb_sim *S)
{
    double *cols[2] = {NULL, NULL};
    printf("reading %s\n", S->stolfile);
    nb_read_columns(S->stolfile, 2, cols, "no data in input file");
    /* read and validated only: the table is not used by any computation (io.md §6) */
    free(cols[0]);
    free(cols[1]);
}

/* ------------------------------------------------------------- outputs (io.md §7, §9-§13) */
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
    char hdr[2048], tmp[4096];
    size_t hl, npix = (size_t)S->fpixels * S->spixels;
    FILE *fp = open_output(name, tmp, sizeof(tmp));
    smv_header(S, hdr, sizeof(hdr), &hl);
    fwrite(hdr, 1, hl, fp);
    fwrite(pix, sizeof(unsigned short), npix, fp);
    close_output(fp, tmp, name);
}

void nb_write_outputs(nb_sim *S)
{
    int f, s, n = S->oversample;
    size_t i, npix = (size_t)S->fpixels * S->spixels;
    char tmp[4096];
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
    fp = open_output(S->floatfile, tmp, sizeof(tmp));
    fwrite(S->floatimage, sizeof(float), npix, fp);
    close_output(fp, tmp, S->floatfile);

    S->max_I = 0.0;
    for (s = 0; s < S->spixels; s++)
        for (f = 0; f < S->fpixels; f++) {
            double v = S->floatimage[(size_t)s * S->fpixels + f];
            if (!rendered(S, f, s))
                continue;
            if (v > S->max_I) {
                S->max_I = v;
                maxf = f;
                maxs = s;
            }
            sum += v;
            sumsq += v * v;
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

    /* noiseless SMV (io.md §7.3) */
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
                if (!(t >= 0.0))
                    t = 0.0;
                bytes[i] = (unsigned char)t;
            }
        printf("writing %s as %lu-byte integers\n", S->pgmfile, (unsigned long)sizeof(unsigned char));
        fp = open_output(S->pgmfile, tmp, sizeof(tmp));
        fprintf(fp, "P5\n%d %d\n# pixels scaled by %lg\n255\n", S->fpixels, S->spixels,
                S->pgm_scale);
        fwrite(bytes, 1, npix, fp);
        close_output(fp, tmp, S->pgmfile);
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
}
