/* Strict check of the command line (README "Exit status and errors") before the
 * C-style scan: the flag table (patterns, matching rules, value kinds and constraints)
 * and the check of every flag's values.
 *
 * Same rules as the Python CLI (torchbragg/cli/strict.py). Every value accepted here
 * converts to exactly the number atof/atoi give (nb_check_num.c), so the lenient scan in
 * nb_cli.c then behaves as before for every accepted command line. */
#include "nb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- the flag table */
enum { M_SUB, M_LENEQ, M_EXACT };
enum { K_NONE, K_REAL, K_INT, K_LONG, K_FILE, K_VEC, K_VECNZ, K_CELL, K_MISSET, K_PIVOT,
       K_ABS, K_CURVED, K_WORD };
enum { C_ANY, C_POS, C_NONNEG };

typedef struct {
    const char *pattern;
    int match, kind, constraint, arity, skip_rest;
} nb_flagspec;

/* patterns and matching rules of the scan (docs/behaviour/cli.md §1-§3) plus the extensions */
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
    {"-stolout", M_SUB, K_FILE, C_ANY, 1, 0}, /* "length > 7": always true for it */
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
    /* extensions (torchbragg; -dtype/-device/-chunk_pixels/-compile: checked, then ignored by
     * this program) */
    {"-trace_pixel", M_SUB, K_INT, C_NONNEG, 2, 0},
    {"-dtype", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-device", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-profile", M_EXACT, K_WORD, C_ANY, 1, 0},
    {"-chunk_pixels", M_EXACT, K_INT, C_POS, 1, 0},
    {"-compile", M_EXACT, K_WORD, C_ANY, 1, 0},
    /* pre-pass (docs/behaviour/cli.md §1.1) */
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
    if (!nb_strict_long(argv[at], lo, hi, &v))
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
        if (strcmp(f->pattern, "-compile") == 0 && strcmp(a1, "auto") && strcmp(a1, "on") &&
            strcmp(a1, "off"))
            nb_fatal("ERROR: %s: '%s' is not one of auto, on, off", tok, a1);
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
            /* a pattern inside another matched pattern is a collision branch
             * (docs/behaviour/cli.md §3.1): it keeps the lenient reading */
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
