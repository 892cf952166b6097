/* File input (docs/behaviour/formats.md): SMV headers/masks, HKL (and the Fdump cache it writes),
 * Fdump, matrix, column files.  The outputs are written by nb_io_write.c. */
#define _POSIX_C_SOURCE 200809L
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ----------------------------------------------------- SMV input (docs/behaviour/formats.md §8) */
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
    const char *flag = is_mask ? "-mask" : "-img";
    FILE *fp = nb_open_input(flag, file);
    char *hdr;
    size_t got, hsize, npix;
    double v, w, h, fsize;
    struct stat st;
    static const char *positive_keys[4] = {"PIXEL_SIZE", "WAVELENGTH", "DISTANCE",
                                           "CLOSE_DISTANCE"};
    int k;
    /* strict: the reference prints a message and runs on without the header */
    if (fp == NULL)
        nb_fatal("ERROR: %s %s: cannot open: %s", flag, file, strerror(errno));
    fsize = fstat(fileno(fp), &st) == 0 ? (double)st.st_size : 0.0;
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
    if (!(v >= 512.0 && v < 1e8) || v > fsize) {
        fclose(fp);
        if (v >= 512.0 && v < 1e8)
            nb_fatal("ERROR: %s %s: SMV header truncated (HEADER_BYTES=%.0f, file has %.0f bytes)",
                     flag, file, v, fsize);
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
    /* sizes from the header are checked before anything is allocated: a mask must hold its
     * pixels, and the detector they give must fit the limits of nb_check_limits */
    npix = (size_t)(int)w * (size_t)(int)h;
    if (is_mask && fsize < (double)hsize + 2.0 * (double)npix) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: pixel data truncated (%.0f bytes for %dx%d 2-byte pixels)", flag,
                 file, fsize - (double)hsize, (int)w, (int)h);
    }
    if ((double)npix > 4e9 || 16.0 * (double)npix > nb_max_memory()) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: the header's %dx%d pixels need about %.3g GiB of memory, more "
                 "than the %.3g GiB available (set TORCHBRAGG_MAX_MEMORY to raise the limit)",
                 flag, file, (int)w, (int)h, 16.0 * (double)npix / 1073741824.0,
                 nb_max_memory() / 1073741824.0);
    }
    /* the pixel counts set the extent at once, with the current pixel size (also without
     * PIXEL_SIZE): the mask's BEAM_CENTER_Y below is measured from it
     * (docs/behaviour/formats.md §8.3) */
    S->fpixels = (int)w;
    S->spixels = (int)h;
    S->detsize_f = S->pixel * S->fpixels;
    S->detsize_s = S->pixel * S->spixels;
    for (k = 0; k < 4; k++) {
        v = hdr_value(hdr, positive_keys[k]);
        if (!isnan(v) && !(v > 0.0 && isfinite(v))) {
            fclose(fp);
            nb_fatal("ERROR: %s %s: SMV header %s must be a positive number", flag, file,
                     positive_keys[k]);
        }
    }
    if (is_mask) {
        /* the image's pixels are never used: only a mask's are read */
        free(S->maskimage);
        S->maskimage = nb_xmalloc(npix * sizeof(unsigned short));
        if (fseek(fp, (long)hsize, SEEK_SET) != 0 ||
            fread(S->maskimage, sizeof(unsigned short), npix, fp) < npix) {
            fclose(fp);
            nb_fatal("ERROR: %s %s: pixel data truncated (%dx%d 2-byte pixels)", flag, file,
                     S->fpixels, S->spixels);
        }
        S->mask_w = S->fpixels;
        S->mask_h = S->spixels;
    }
    fclose(fp);
    printf("mmap(%s) = %p\n", file, is_mask ? (void *)S->maskimage : (void *)hdr);
    /* keys honoured (docs/behaviour/formats.md §8.3) */
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

/* ------------------------------------------------------- HKL (docs/behaviour/formats.md §2, §3) */
static size_t grid_size(const nb_sim *S)
{
    return (size_t)(S->h_range + 1) * (size_t)(S->k_range + 1) * (size_t)(S->l_range + 1);
}

static void write_fdump(nb_sim *S)
{
    FILE *fp = nb_stage_open(S->dumpfile, 1); /* committed with the images (nb_files.c) */
    if (fp == NULL) {
        printf("WARNING: unable to open dump file: %s\n", S->dumpfile);
        return;
    }
    printf("writing dump file for next time: %s\n", S->dumpfile);
    fprintf(fp, "%d %d %d %d %d %d\n\f", S->h_min, S->h_max, S->k_min, S->k_max, S->l_min,
            S->l_max);
    fwrite(S->Fgrid, sizeof(double), grid_size(S), fp);
    if (nb_stage_close(fp) != 0)
        printf("WARNING: unable to open dump file: %s\n", S->dumpfile);
}

void nb_read_hkl(nb_sim *S)
{
    FILE *fp;
    double h = 0, k = 0, l = 0, F = 0;
    int ih = 0, ik = 0, il = 0, n = 0;
    size_t i, total;
    nb_check_hkl(S->hklfile); /* strict: refuses what the two passes would misread */
    fp = nb_open_input("-hkl", S->hklfile);
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
    S->hkl_last_hkl[0] = h; /* left for -printout (render.c, docs/behaviour/formats.md §12) */
    S->hkl_last_hkl[1] = k;
    S->hkl_last_hkl[2] = l;
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
    S->hkl_last_F = F;
    S->hkl_last_l = il;
    fclose(fp);
    write_fdump(S);
}

/* returns 1 if the cache could be opened (and, unless probe_only, was loaded) */
int nb_read_fdump(nb_sim *S, int probe_only)
{
    FILE *fp = nb_open_input(NULL, S->dumpfile);
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
    {
        /* ranges formed in double: any int header is refused cleanly, nothing overflows */
        double hr = (double)S->h_max - S->h_min + 1, kr = (double)S->k_max - S->k_min + 1,
               lr = (double)S->l_max - S->l_min + 1, cells = (hr + 1) * (kr + 1) * (lr + 1);
        if (hr <= 0 || kr <= 0 || lr <= 0 || cells > 4e9 || 8.0 * cells > nb_max_memory()) {
            fclose(fp);
            nb_fatal("ERROR: %s: bad index ranges in the cache header", S->dumpfile);
        }
    }
    S->h_range = S->h_max - S->h_min + 1;
    S->k_range = S->k_max - S->k_min + 1;
    S->l_range = S->l_max - S->l_min + 1;
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

/* -------------------------------------------------------- matrix (docs/behaviour/formats.md §4) */
void nb_read_mat(nb_sim *S, double *as, double *bs, double *cs)
{
    FILE *fp = nb_open_input("-mat", S->matfile);
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

/* -------------------------------------------------- column files (docs/behaviour/formats.md §5) */
static int is_delim(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == ';' || c == ':' || c == '!';
}

static int is_numch(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'E' || c == 'G' ||
           c == 'e' || c == 'g';
}

int nb_read_columns(const char *flag, const char *file, int ncol, double **cols, const char *who)
{
    FILE *fp = nb_open_input(flag, file);
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
    char flag[8];
    printf("reading %s\n", S->stolfile);
    snprintf(flag, sizeof(flag), "-%s", S->stolfile_kind);
    nb_read_columns(flag, S->stolfile, 2, cols, "no data in input file");
    /* read and validated only: the table is not used by any computation
     * (docs/behaviour/formats.md §6) */
    free(cols[0]);
    free(cols[1]);
}
