/* Strict checks of issue #9 (README "Exit status and errors"): the command line before the
 * C-style scan, input files before they are read, output folders, work and memory limits,
 * and signal handling that leaves no partial output.
 *
 * Same rules as the Python CLI (torchbragg/cli/strict.py, cli/limits.py and the strict readers in io/
 * readers). Every value accepted here converts to exactly the number atof/atoi give, so the
 * lenient scan in nb_cli.c then behaves as before for every accepted command line. */
#define _POSIX_C_SOURCE 200809L
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- numbers */
static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* [ws] [+-] (digits [. digits] | . digits) [(e|E) [+-] digits] [ws], finite */
int nb_strict_real(const char *s, double *out)
{
    const char *p = s;
    int nd = 0;
    while (is_space((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    while (is_digit((unsigned char)*p)) {
        p++;
        nd++;
    }
    if (*p == '.') {
        p++;
        while (is_digit((unsigned char)*p)) {
            p++;
            nd++;
        }
    }
    if (nd == 0)
        return 0;
    if (*p == 'e' || *p == 'E') {
        int ne = 0;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        while (is_digit((unsigned char)*p)) {
            p++;
            ne++;
        }
        if (ne == 0)
            return 0;
    }
    while (is_space((unsigned char)*p))
        p++;
    if (*p != '\0')
        return 0;
    *out = strtod(s, NULL);
    return isfinite(*out) ? 1 : 0;
}

/* [ws] [+-] digits [. zeros] [ws], within [lo, hi] */
static int strict_long(const char *s, long lo, long hi, long *out)
{
    const char *p = s;
    int nd = 0;
    long v = 0;
    while (is_space((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    while (is_digit((unsigned char)*p)) {
        p++;
        nd++;
    }
    if (nd == 0)
        return 0;
    if (*p == '.') {
        p++;
        while (*p == '0')
            p++;
    }
    while (is_space((unsigned char)*p))
        p++;
    if (*p != '\0')
        return 0;
    errno = 0;
    v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* ------------------------------------------------------------- the flag table */
enum { M_SUB, M_LENEQ, M_EXACT, M_LONGER };
enum { K_NONE, K_REAL, K_INT, K_LONG, K_FILE, K_VEC, K_VECNZ, K_CELL, K_MISSET, K_PIVOT,
       K_ABS, K_CURVED, K_WORD };
enum { C_ANY, C_POS, C_NONNEG };

typedef struct {
    const char *pattern;
    int match, kind, constraint, arity, skip_rest;
} nb_flagspec;

/* patterns and matching rules of the scan (cli.md §1-§3) plus the extensions */
static const nb_flagspec FLAGS[] = {
    {"-hkl", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-default_F", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-dump", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-mat", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-cell", M_SUB, K_CELL, C_ANY, 1, 0},
    {"-misset", M_SUB, K_MISSET, C_ANY, 1, 0},
    {"-misset_seed", M_SUB, K_LONG, C_ANY, 1, 0},
    {"-sourcefile", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-stol", M_LENEQ, K_FILE, C_ANY, 1, 0},
    {"-4stol", M_LENEQ, K_FILE, C_ANY, 1, 0},
    {"-Q", M_LENEQ, K_FILE, C_ANY, 1, 0},
    {"-stolout", M_LONGER, K_FILE, C_ANY, 1, 0},
    {"-Na", M_SUB, K_INT, C_NONNEG, 1, 1},
    {"-Nb", M_SUB, K_INT, C_NONNEG, 1, 1},
    {"-Nc", M_SUB, K_INT, C_NONNEG, 1, 1},
    {"-N", M_EXACT, K_INT, C_NONNEG, 1, 1},
    {"-samplesize", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_size", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtalsize", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_size", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_thick", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_x", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_thick", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_x", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_width", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_y", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-width", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_width", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_y", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_heigh", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-sample_z", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-heigh", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_heigh", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-xtal_z", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-density", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-sample_den", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-MW", M_EXACT, K_REAL, C_ANY, 1, 0},
    {"-molec", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-square_xtal", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-round_xtal", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-gauss_xtal", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-binary_spots", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-tophat_spots", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-fudge", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-mosaic", M_LENEQ, K_REAL, C_NONNEG, 1, 0},
    {"-mosaici", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-mosaic_spr", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-mosaic_dom", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-mosaic_seed", M_SUB, K_LONG, C_ANY, 1, 0},
    {"-lambda", M_SUB, K_REAL, C_POS, 1, 0},
    {"-wave", M_SUB, K_REAL, C_POS, 1, 0},
    {"-energy", M_SUB, K_REAL, C_POS, 1, 0},
    {"-dispersion", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-dispsteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-divergence", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-hdivrange", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-vdivrange", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-hdivstep", M_LENEQ, K_REAL, C_NONNEG, 1, 0},
    {"-vdivstep", M_LENEQ, K_REAL, C_NONNEG, 1, 0},
    {"-hdivsteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-vdivsteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-divsteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-round_div", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-square_div", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-fluence", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-flux", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-exposure", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-beamsize", M_SUB, K_REAL, C_POS, 1, 0},
    {"-polar", M_LENEQ, K_REAL, C_ANY, 1, 0},
    {"-nopolar", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-beam_vector", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-polar_vector", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-water", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-coherent", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-pixel", M_SUB, K_REAL, C_POS, 1, 0},
    {"-detpixels", M_LENEQ, K_INT, C_POS, 1, 0},
    {"-detpixels_f", M_SUB, K_INT, C_POS, 1, 0},
    {"-detpixels_x", M_SUB, K_INT, C_POS, 1, 0},
    {"-detpixels_s", M_SUB, K_INT, C_POS, 1, 0},
    {"-detpixels_y", M_SUB, K_INT, C_POS, 1, 0},
    {"-detsize", M_LENEQ, K_REAL, C_POS, 1, 0},
    {"-detsize_f", M_SUB, K_REAL, C_POS, 1, 0},
    {"-detsize_s", M_SUB, K_REAL, C_POS, 1, 0},
    {"-distance", M_SUB, K_REAL, C_POS, 1, 0},
    {"-close_distance", M_SUB, K_REAL, C_POS, 1, 0},
    {"-Xbeam", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-Ybeam", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-Xclose", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-Yclose", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-ORGX", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-ORGY", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-pivot", M_SUB, K_PIVOT, C_ANY, 1, 0},
    {"-mosflm", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-denzo", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-adxv", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-xds", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-dials", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-fdet_vector", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-sdet_vector", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-odet_vector", M_SUB, K_VEC, C_ANY, 3, 0},
    {"-spindle_axis", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-twotheta_axis", M_SUB, K_VECNZ, C_ANY, 3, 0},
    {"-pix0_vector", M_SUB, K_VEC, C_ANY, 3, 0},
    {"-detector_rotx", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-detector_roty", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-detector_rotz", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-twotheta", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-curved_det", M_SUB, K_CURVED, C_ANY, 1, 0},
    {"-point_pixel", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-detector_abs", M_SUB, K_ABS, C_ANY, 1, 0},
    {"-detector_thick", M_LENEQ, K_REAL, C_NONNEG, 1, 0},
    {"-detector_thicksteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-thicksteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-phi", M_LENEQ, K_REAL, C_ANY, 1, 0},
    {"-osc", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-phistep", M_LENEQ, K_REAL, C_NONNEG, 1, 0},
    {"-phisteps", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-oversample_thick", M_SUB, K_NONE, C_ANY, 0, 1},
    {"-oversample_polar", M_SUB, K_NONE, C_ANY, 0, 1},
    {"-oversample_omega", M_SUB, K_NONE, C_ANY, 0, 1},
    {"-oversample", M_SUB, K_INT, C_NONNEG, 1, 0},
    {"-roi", M_SUB, K_INT, C_ANY, 4, 0},
    {"-dmin", M_SUB, K_REAL, C_NONNEG, 1, 0},
    {"-interpolate", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-nointerpolate", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-floatfile", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-floatimage", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-intfile", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-intimage", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-pgmfile", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-pgmimage", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-noisefile", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-noiseimage", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-nonoise", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-nopgm", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-scale", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-pgmscale", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-adc", M_SUB, K_REAL, C_ANY, 1, 0},
    {"-seed", M_SUB, K_LONG, C_ANY, 1, 0},
    {"-printout", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-printout_pixel", M_SUB, K_INT, C_ANY, 2, 0},
    {"-progress", M_SUB, K_NONE, C_ANY, 0, 0},
    {"-noprogress", M_SUB, K_NONE, C_ANY, 0, 0},
    /* extensions (torchbragg; -dtype/-device/-chunk_pixels are ignored by this program) */
    {"-trace_pixel", M_SUB, K_INT, C_NONNEG, 2, 0},
    {"-dtype", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-device", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-profile", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-chunk_pixels", M_EXACT, K_INT, C_POS, 1, 0},
    /* pre-pass (cli.md §1.1) */
    {"-img", M_SUB, K_FILE, C_ANY, 1, 0},
    {"-mask", M_SUB, K_FILE, C_ANY, 1, 0},
};
#define NFLAGS ((int)(sizeof(FLAGS) / sizeof(FLAGS[0])))

static int flag_matches(const nb_flagspec *f, const char *tok)
{
    size_t lt = strlen(tok), lp = strlen(f->pattern);
    if (strstr(tok, f->pattern) == NULL)
        return 0;
    switch (f->match) {
    case M_LENEQ: return lt == lp;
    case M_EXACT: return strcmp(tok, f->pattern) == 0;
    case M_LONGER: return lt > lp;
    default: return 1;
    }
}

static int flaglike(const char *s)
{
    double v = 0.0;
    return s[0] == '-' && !nb_strict_real(s, &v);
}

static void missing(const char *tok, int argc, char **argv, int at, int k, int need,
                    const char *what)
{
    if (at < argc) {
        if (k == 0)
            nb_fatal("ERROR: %s: missing %s (the next argument is the flag '%s'); it takes %d "
                     "value%s", tok, what, argv[at], need, need > 1 ? "s" : "");
        nb_fatal("ERROR: %s: missing %s (argument %d after it is the flag '%s'); it takes %d "
                 "value%s", tok, what, k + 1, argv[at], need, need > 1 ? "s" : "");
    }
    if (k == 0)
        nb_fatal("ERROR: %s: missing %s (it is the last argument); it takes %d value%s", tok,
                 what, need, need > 1 ? "s" : "");
    nb_fatal("ERROR: %s: missing %s (only %d given); it takes %d value%s", tok, what, k, need,
             need > 1 ? "s" : "");
}

static const char *what_of(int constraint)
{
    return constraint == C_POS ? "a positive" : constraint == C_NONNEG ? "a non-negative" : "a";
}

static double real_at(const char *tok, int argc, char **argv, int i, int k, int need,
                      int constraint)
{
    int at = i + 1 + k;
    double v = 0.0;
    if (at >= argc || flaglike(argv[at]))
        missing(tok, argc, argv, at, k, need, need == 1 ? "value" : "values");
    if (!nb_strict_real(argv[at], &v))
        nb_fatal("ERROR: %s: expected %s number, got '%s'", tok, what_of(constraint), argv[at]);
    if (constraint == C_POS && !(v > 0.0))
        nb_fatal("ERROR: %s: must be positive, got '%s'", tok, argv[at]);
    if (constraint == C_NONNEG && v < 0.0)
        nb_fatal("ERROR: %s: must not be negative, got '%s'", tok, argv[at]);
    return v;
}

static void int_at(const char *tok, int argc, char **argv, int i, int k, int need,
                   int constraint, int is_long)
{
    int at = i + 1 + k;
    long v = 0;
    long lo = is_long ? -2147483647L - 1 : -2147483647L - 1, hi = 2147483647L;
    if (is_long) {
        lo = (long)(-9223372036854775807LL - 1);
        hi = (long)9223372036854775807LL;
    }
    if (at >= argc || flaglike(argv[at]))
        missing(tok, argc, argv, at, k, need, need == 1 ? "value" : "values");
    if (!strict_long(argv[at], lo, hi, &v))
        nb_fatal("ERROR: %s: expected %s whole number, got '%s'", tok, what_of(constraint),
                 argv[at]);
    if (constraint == C_POS && !(v > 0))
        nb_fatal("ERROR: %s: must be positive, got '%s'", tok, argv[at]);
    if (constraint == C_NONNEG && v < 0)
        nb_fatal("ERROR: %s: must not be negative, got '%s'", tok, argv[at]);
}

static int check_cell(const char *tok, int argc, char **argv, int i)
{
    static const char *names[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
    double v[6], ang[3], ca, cb, cg;
    int n = 0, k;
    while (n < 6 && i + 1 + n < argc) {
        const char *t = argv[i + 1 + n];
        if (!nb_strict_real(t, &v[n])) {
            if (t[0] == '-' || n == 0)
                break;
            nb_fatal("ERROR: %s: expected a number, got '%s'", tok, t);
        }
        n++;
    }
    if (n == 0)
        missing(tok, argc, argv, i + 1, 0, 1, "value");
    for (k = 0; k < n; k++) {
        if (k < 3 && !(v[k] > 0.0))
            nb_fatal("ERROR: %s: cell length %s must be positive, got '%s'", tok, names[k],
                     argv[i + 1 + k]);
        if (k >= 3 && !(v[k] > 0.0 && v[k] < 180.0))
            nb_fatal("ERROR: %s: cell angle %s must lie between 0 and 180 degrees, got '%s'",
                     tok, names[k], argv[i + 1 + k]);
    }
    for (k = 0; k < 3; k++)
        ang[k] = (3 + k < n) ? v[3 + k] * NB_PI / 180.0 : NB_PI / 2.0;
    ca = cos(ang[0]);
    cb = cos(ang[1]);
    cg = cos(ang[2]);
    if (1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg <= 1e-12)
        nb_fatal("ERROR: %s: the angles do not form a cell (zero or imaginary volume)", tok);
    return n;
}

/* returns the number of following tokens that are this flag's values */
static int check_flag(const nb_flagspec *f, const char *tok, int argc, char **argv, int i)
{
    int k, have = argc - i - 1;
    const char *a1 = have > 0 ? argv[i + 1] : NULL;
    double v[3];
    switch (f->kind) {
    case K_NONE:
        return 0;
    case K_CELL:
        return check_cell(tok, argc, argv, i);
    case K_MISSET:
        if (a1 && strstr(a1, "rand"))
            return 1;
        for (k = 0; k < 3; k++)
            real_at(tok, argc, argv, i, k, 3, C_ANY);
        return 3;
    case K_PIVOT:
        if (!a1 || flaglike(a1))
            missing(tok, argc, argv, i + 1, 0, 1, "value (beam or sample)");
        if (!strstr(a1, "sample") && !strstr(a1, "beam"))
            nb_fatal("ERROR: %s: expected beam or sample, got '%s'", tok, a1);
        return 1;
    case K_ABS:
        if (a1 && strstr(a1, "inf") && !nb_strict_real(a1, &v[0])) {
            const char *w = a1[0] == '+' ? a1 + 1 : a1;
            if (strcmp(w, "inf") != 0 && strcmp(w, "infinity") != 0)
                nb_fatal("ERROR: %s: expected a non-negative number or inf, got '%s'", tok, a1);
            return 1;
        }
        real_at(tok, argc, argv, i, 0, 1, C_NONNEG);
        return 1;
    case K_CURVED:
        if (!a1)
            nb_fatal("ERROR: %s: must not be the last argument (the C reference then ignores "
                     "it and renders a flat detector); move it earlier", tok);
        return 0;
    case K_WORD:
        if (!a1 || flaglike(a1))
            missing(tok, argc, argv, i + 1, 0, 1, "value");
        if (strcmp(f->pattern, "-dtype") == 0 && strcmp(a1, "float32") && strcmp(a1, "float64"))
            nb_fatal("ERROR: %s: '%s' is not one of float32, float64", tok, a1);
        if (strcmp(f->pattern, "-device") == 0 && strcmp(a1, "cpu") && strcmp(a1, "cuda") &&
            strcmp(a1, "auto"))
            nb_fatal("ERROR: %s: '%s' is not one of cpu, cuda, auto", tok, a1);
        return 1;
    case K_FILE:
        if (!a1 || a1[0] == '-' || a1[0] == '\0') {
            if (a1 && a1[0] == '-' && !flaglike(a1))
                nb_fatal("ERROR: %s: '%s' is not a file name (write ./%s for a file whose name "
                         "starts with -)", tok, a1, a1);
            missing(tok, argc, argv, i + 1, 0, 1, "file name");
        }
        return 1;
    case K_VEC:
    case K_VECNZ:
        for (k = 0; k < 3; k++)
            v[k] = real_at(tok, argc, argv, i, k, 3, C_ANY);
        if (f->kind == K_VECNZ && v[0] == 0.0 && v[1] == 0.0 && v[2] == 0.0)
            nb_fatal("ERROR: %s: the vector %s %s %s has zero length", tok, argv[i + 1],
                     argv[i + 2], argv[i + 3]);
        return 3;
    case K_REAL:
        for (k = 0; k < f->arity; k++)
            real_at(tok, argc, argv, i, k, f->arity, f->constraint);
        return f->arity;
    default: /* K_INT, K_LONG */
        for (k = 0; k < f->arity; k++)
            int_at(tok, argc, argv, i, k, f->arity, f->constraint, f->kind == K_LONG);
        return f->arity;
    }
}

void nb_check_argv(nb_sim *S)
{
    int argc = S->argc, i, j, k, n;
    char **argv = S->argv;
    int matched[NFLAGS];
    char *is_value = nb_xcalloc((size_t)argc + 1, 1);
    double v = 0.0;
    for (i = 1; i < argc; i++) {
        const char *tok = argv[i];
        int nm = 0;
        if (tok[0] != '-' || strcmp(tok, "--debug") == 0 || nb_strict_real(tok, &v))
            continue;
        for (j = 0; j < NFLAGS; j++) {
            if (!flag_matches(&FLAGS[j], tok))
                continue;
            matched[nm++] = j;
            if (FLAGS[j].skip_rest)
                break;
        }
        if (nm == 0) {
            if (!is_value[i]) {
                fflush(stdout);
                fprintf(stderr, "WARNING: unknown flag %s ignored\n", tok);
            }
            continue;
        }
        for (j = 0; j < nm; j++) {
            const nb_flagspec *f = &FLAGS[matched[j]];
            int secondary = 0;
            /* a pattern inside another matched pattern is a collision branch (cli.md §3.1):
             * it keeps the lenient reading */
            for (k = 0; k < nm; k++)
                if (k != j && strcmp(FLAGS[matched[k]].pattern, f->pattern) != 0 &&
                    strstr(FLAGS[matched[k]].pattern, f->pattern))
                    secondary = 1;
            if (secondary)
                continue;
            n = check_flag(f, tok, argc, argv, i);
            for (k = 1; k <= n && i + k < argc; k++)
                is_value[i + k] = 1;
        }
    }
    free(is_value);
}

/* ------------------------------------------------------------- input files */
static char *slurp(const char *flag, const char *file, size_t *len)
{
    FILE *fp = fopen(file, "rb");
    char *buf;
    size_t cap = 1 << 16, n = 0, got;
    struct stat st;
    if (fp == NULL)
        nb_fatal("ERROR: %s %s: cannot open: %s", flag, file, strerror(errno));
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: is a folder", flag, file);
    }
    buf = nb_xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
            if (buf == NULL)
                nb_fatal("ERROR: %s %s: out of memory", flag, file);
        }
    }
    if (ferror(fp)) {
        fclose(fp);
        nb_fatal("ERROR: %s %s: cannot read: %s", flag, file, strerror(errno));
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* tokens of one line: pointers into a private copy (split at white space / delimiters) */
#define MAXTOK 8
static int split_line(char *line, char **tok, const char *delims)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p && strchr(delims, *p))
            p++;
        if (!*p)
            break;
        if (n < MAXTOK)
            tok[n] = p;
        n++;
        while (*p && !strchr(delims, *p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

static int plain_int(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!*s)
        return 0;
    while (*s)
        if (!is_digit((unsigned char)*s++))
            return 0;
    return 1;
}

/* one "h k l F" record per line, h k l whole numbers, F finite; blank lines allowed */
void nb_check_hkl(const char *file)
{
    size_t len, pos = 0;
    char *data = slurp("-hkl", file, &len);
    int lineno = 0, records = 0;
    if (memchr(data, '\0', len) != NULL) {
        const char *z = memchr(data, '\0', len);
        int ln = 1;
        const char *q;
        for (q = data; q < z; q++)
            ln += (*q == '\n');
        free(data);
        nb_fatal("ERROR: -hkl %s line %d: '\\x00' is not a number (expected h k l F)", file, ln);
    }
    while (pos < len) {
        char *line = data + pos, *nl = strchr(line, '\n'), *tok[MAXTOK];
        int n, k;
        double v;
        lineno++;
        if (nl)
            *nl = '\0';
        pos += strlen(line) + 1;
        n = split_line(line, tok, " \t\r\f\v");
        if (n == 0)
            continue;
        for (k = 0; k < n && k < 4; k++) {
            if (k < 3) {
                if (plain_int(tok[k])) {
                    if (fabs(strtod(tok[k], NULL)) >= 1e9)
                        nb_fatal("ERROR: -hkl %s line %d: Miller index %c = %s out of range",
                                 file, lineno, "hkl"[k], tok[k]);
                    continue;
                }
                if (nb_strict_real(tok[k], &v))
                    nb_fatal("ERROR: -hkl %s line %d: Miller index %c = %s is not a whole number",
                             file, lineno, "hkl"[k], tok[k]);
                nb_fatal("ERROR: -hkl %s line %d: '%.40s' is not a number (expected h k l F)",
                         file, lineno, tok[k]);
            }
            if (!nb_strict_real(tok[k], &v))
                nb_fatal("ERROR: -hkl %s line %d: structure factor '%.40s' is not a finite number",
                         file, lineno, tok[k]);
        }
        if (n < 4)
            nb_fatal("ERROR: -hkl %s line %d: %d values, expected 4 (h k l F)", file, lineno, n);
        if (n > 4)
            nb_fatal("ERROR: -hkl %s line %d: %d values, expected 4 (h k l F); extra columns would "
                     "be misread", file, lineno, n);
        records++;
    }
    free(data);
    if (records == 0)
        nb_fatal("ERROR: -hkl %s: no reflections in the file (expected lines of h k l F)", file);
}

/* the first nine tokens are finite numbers; the matrix is not singular */
void nb_check_mat(const char *file)
{
    size_t len;
    char *data = slurp("-mat", file, &len), *p = data;
    double a[9], det, scale = 0.0;
    int n = 0, lineno = 1, k;
    while (n < 9) {
        char save, *start;
        while (*p && is_space((unsigned char)*p)) {
            lineno += (*p == '\n');
            p++;
        }
        if (!*p)
            break;
        start = p;
        while (*p && !is_space((unsigned char)*p))
            p++;
        save = *p;
        *p = '\0';
        if (!nb_strict_real(start, &a[n]))
            nb_fatal("ERROR: -mat %s line %d: '%.40s' is not a finite number (a MOSFLM orientation "
                     "matrix holds nine numbers)", file, lineno, start);
        *p = save;
        n++;
    }
    if ((size_t)(p - data) < len && n < 9)
        nb_fatal("ERROR: -mat %s line %d: '\\x00' is not a finite number", file, lineno);
    free(data);
    if (n < 9)
        nb_fatal("ERROR: -mat %s: %d numbers, expected nine (three rows of three)", file, n);
    det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
          a[2] * (a[3] * a[7] - a[4] * a[6]);
    for (k = 0; k < 9; k++)
        if (fabs(a[k]) > scale)
            scale = fabs(a[k]);
    if (!(fabs(det) > 1e-12 * scale * scale * scale))
        nb_fatal("ERROR: -mat %s: the orientation matrix is singular (determinant %g)", file, det);
}

/* X Y Z [weight [wavelength]] per non-blank line (io.md §5) */
void nb_check_sources(const char *file)
{
    size_t len, pos = 0;
    char *data = slurp("-sourcefile", file, &len);
    int lineno = 0, records = 0, trailing_blank = 0;
    if (memchr(data, '\0', len) != NULL)
        nb_fatal("ERROR: -sourcefile %s: '\\x00' is not a finite number", file);
    while (pos < len) {
        char *line = data + pos, *nl = strchr(line, '\n'), *tok[MAXTOK];
        int n, k, last;
        double v[5] = {0, 0, 0, 0, 0};
        lineno++;
        last = (nl == NULL);
        if (nl)
            *nl = '\0';
        if (strlen(line) + 1 > 10239)
            nb_fatal("ERROR: -sourcefile %s line %d: longer than 10239 characters", file, lineno);
        if (strchr(line, '\r'))
            nb_fatal("ERROR: -sourcefile %s line %d: CRLF (Windows) line ending; convert the "
                     "file to LF", file, lineno);
        pos += strlen(line) + 1;
        n = split_line(line, tok, " \t,;:!");
        if (n == 0) {
            if (last && line[0] != '\0')
                trailing_blank = 1;
            continue;
        }
        for (k = 0; k < n && k < MAXTOK; k++)
            if (!nb_strict_real(tok[k], &v[k < 5 ? k : 4]))
                nb_fatal("ERROR: -sourcefile %s line %d: '%.40s' is not a finite number "
                         "(expected X Y Z [weight [wavelength]])", file, lineno, tok[k]);
        if (n < 3 || n > 5)
            nb_fatal("ERROR: -sourcefile %s line %d: %d values, expected 3 to 5 (X Y Z [weight "
                     "[wavelength]])", file, lineno, n);
        if (last && n < 5)
            nb_fatal("ERROR: -sourcefile %s line %d: the last line has no newline; the reader "
                     "would set the missing columns to 0 (add a newline)", file, lineno);
        if (v[0] == 0.0 && v[1] == 0.0 && v[2] == 0.0)
            nb_fatal("ERROR: -sourcefile %s line %d: source position 0 0 0 has no direction",
                     file, lineno);
        if (n == 5 && !(v[4] > 0.0))
            nb_fatal("ERROR: -sourcefile %s line %d: wavelength %s m must be positive", file,
                     lineno, tok[4]);
        records++;
    }
    free(data);
    if (records == 0)
        nb_fatal("ERROR: -sourcefile %s: no sources in the file", file);
    if (trailing_blank)
        nb_fatal("ERROR: -sourcefile %s: white space after the last newline (the reader would "
                 "add a source at 0 0 0); end the file with a newline", file);
}

/* ------------------------------------------------------------- outputs */
static void check_one_output(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    struct stat st;
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            n = sizeof(dir) - 1;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fflush(stdout);
        fprintf(stderr, "ERROR: cannot write %s: folder %s does not exist\n", path, dir);
        exit(NB_EXIT_OUTPUT);
    }
    if (access(dir, W_OK) != 0) {
        fflush(stdout);
        fprintf(stderr, "ERROR: cannot write %s: folder %s is not writable\n", path, dir);
        exit(NB_EXIT_OUTPUT);
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fflush(stdout);
        fprintf(stderr, "ERROR: cannot write %s: it is a folder\n", path);
        exit(NB_EXIT_OUTPUT);
    }
}

void nb_check_outputs(const nb_sim *S)
{
    check_one_output(S->floatfile);
    check_one_output(S->intfile);
    if (S->write_pgm)
        check_one_output(S->pgmfile);
    if (S->write_noise)
        check_one_output(S->noisefile);
}

/* ------------------------------------------------------------- limits (cli/limits.py) */
static double env_number(const char *name, double dflt)
{
    const char *s = getenv(name);
    double v = 0.0;
    if (s == NULL || !nb_strict_real(s, &v))
        return dflt;
    return v;
}

void nb_check_limits(const nb_sim *S, double nsources, int oversample)
{
    double orient = (double)S->phisteps * S->mosaic_domains;
    double w = (double)(S->roi_xmax < S->fpixels - 1 ? S->roi_xmax : S->fpixels - 1) -
               (S->roi_xmin > 0 ? S->roi_xmin : 0) + 1;
    double h = (double)(S->roi_ymax < S->spixels - 1 ? S->roi_ymax : S->spixels - 1) -
               (S->roi_ymin > 0 ? S->roi_ymin : 0) + 1;
    double pixels = (w > 0 ? w : 0) * (h > 0 ? h : 0);
    double work = pixels * oversample * oversample * (S->thicksteps > 1 ? S->thicksteps : 1) *
                  nsources * orient;
    double mem = 64.0 * nsources + 72.0 * orient + 16.0 * S->fpixels * (double)S->spixels;
    double max_work = env_number("TORCHBRAGG_MAX_WORK", 1e17);
    double max_mem = env_number("TORCHBRAGG_MAX_MEMORY",
                                (double)sysconf(_SC_PAGESIZE) * (double)sysconf(_SC_PHYS_PAGES));
    if (work > max_work)
        nb_fatal("ERROR: refusing to run: %g sources x %d phi steps x %d mosaic domains x %d^2 "
                 "sub-pixels x %d layers x %g pixels = %.3g evaluations exceeds the limit of "
                 "%.3g (set TORCHBRAGG_MAX_WORK to raise it)", nsources, S->phisteps,
                 S->mosaic_domains, oversample, S->thicksteps, pixels, work, max_work);
    if (mem > max_mem)
        nb_fatal("ERROR: refusing to run: %g sources x %d phi steps x %d mosaic domains needs "
                 "about %.3g GiB of memory, more than the %.3g GiB available (set "
                 "TORCHBRAGG_MAX_MEMORY to raise the limit)", nsources, S->phisteps,
                 S->mosaic_domains, mem / 1073741824.0, max_mem / 1073741824.0);
}

/* a count (int) from ceil(ratio), refused when it cannot be represented */
int nb_count_from_ratio(double ratio, const char *what)
{
    double r = ceil(ratio);
    if (!(r < 2147483647.0))
        nb_fatal("ERROR: refusing to run: %s needs %g steps", what, r);
    return (int)r;
}

/* ------------------------------------------------------------- signals */
static char nb_tmp_pending[4096];

void nb_set_pending_tmp(const char *name)
{
    if (name == NULL) {
        nb_tmp_pending[0] = '\0';
        return;
    }
    strncpy(nb_tmp_pending, name, sizeof(nb_tmp_pending) - 1);
    nb_tmp_pending[sizeof(nb_tmp_pending) - 1] = '\0';
}

static void on_signal(int sig)
{
    static const char msg_int[] = "nanoBragg: interrupted\n";
    static const char msg_term[] = "nanoBragg: terminated\n";
    ssize_t rc;
    if (nb_tmp_pending[0])
        unlink(nb_tmp_pending);
    if (sig == SIGTERM)
        rc = write(2, msg_term, sizeof(msg_term) - 1);
    else
        rc = write(2, msg_int, sizeof(msg_int) - 1);
    (void)rc;
    _exit(128 + sig);
}

void nb_install_signals(void)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
}
