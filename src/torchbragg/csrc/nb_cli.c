/* Command-line scanning (docs/behaviour/cli.md §1-§3): defaults, pre-pass, main pass, usage
 * text. */
#include "nb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const nb_profile PROFILE_NANOBRAGG = {"nanobragg", 1, 1, 1, 1, 1, 1, 1};
static const nb_profile PROFILE_CORRECTED = {"corrected", 0, 0, 0, 0, 0, 0, 0};

/* seed := -n (docs/behaviour/cli.md §2), n read like the integer flags (atoi) and, beyond the int
 * range, saturated as the Python CLI does (torchbragg/cli/cnum.py): -seed -9223372036854775808 is
 * the seed 2147483648, not an overflowing negation */
static long seed_arg(const char *s)
{
    long n = strtol(s, NULL, 10);
    if (n > 2147483647L)
        n = 2147483647L;
    if (n < -2147483647L - 1)
        n = -2147483647L - 1;
    return -n;
}

static void set3(double *v, double x, double y, double z)
{
    v[0] = x;
    v[1] = y;
    v[2] = z;
}

void nb_defaults(nb_sim *S)
{
    memset(S, 0, sizeof(*S));
    S->prof = PROFILE_NANOBRAGG;
    S->dumpfile = "Fdump.bin";
    S->floatfile = "floatimage.bin";
    S->intfile = "intimage.img";
    S->pgmfile = "image.pgm";
    S->noisefile = "noiseimage.img";
    S->write_pgm = 1;
    S->write_noise = 1;
    S->Na = S->Nb = S->Nc = 1.0;
    S->shape = SHAPE_SQUARE;
    S->fudge = 1.0;
    S->mosaic_spread = -1.0;
    S->mosaic_domains = -1;
    S->mosaic_seed = -12345678;
    S->time_seed = 1;
    S->seed = -(long)time(NULL);
    S->misset_seed = S->seed;
    S->lambda0 = 1.0 / 1e10;
    S->dispersion = 0.0;
    S->dispstep = -1.0;
    S->dispsteps = -1;
    S->hdivrange = S->vdivrange = -1.0;
    S->hdivstep = S->vdivstep = -1.0;
    S->hdivsteps = S->vdivsteps = -1;
    S->round_div = 1;
    S->fluence = 125932015286227086360700780544.0;
    S->flux = 0.0;
    S->exposure = 1.0;
    S->beamsize = 1e-4;
    S->polar_K = 0.0;
    S->pixel = 0.1 / 1000.0;
    S->detsize_f = S->detsize_s = 102.4 / 1000.0;
    S->distance = 100.0 / 1000.0;
    S->close_distance = -1.0;
    S->Xbeam = S->Ybeam = S->Xclose = S->Yclose = S->ORGX = S->ORGY = NAN;
    S->convention = CONV_MOSFLM;
    S->pivot = PIVOT_BEAM;
    /* built-in CUSTOM initial vectors: MOSFLM except the two-theta axis (+y) */
    set3(S->beam, 1, 0, 0);
    set3(S->fdet, 0, 0, 1);
    set3(S->sdet, 0, -1, 0);
    set3(S->odet, 1, 0, 0);
    set3(S->twotheta_axis, 0, 1, 0);
    set3(S->polar_vec, 0, 0, 1);
    set3(S->spindle, 0, 0, 1);
    S->thickness = 0.0;
    S->mu = -1.0;
    S->thickstep = -1.0;
    S->thicksteps = -1;
    S->osc = -1.0;
    S->phistep = -1.0;
    S->phisteps = -1;
    S->roi_xmin = S->roi_xmax = S->roi_ymin = S->roi_ymax = -1;
    S->interpolate = -1;
    S->adc = 40.0;
    S->printout_f = S->printout_s = -1;
    S->progress = 1;
}

/* docs/behaviour/cli.md §1.1 pre-pass: -img / -mask file names; also the -profile extension. */
void nb_prepass(nb_sim *S)
{
    int i;
    for (i = 1; i < S->argc; i++) {
        const char *tok = S->argv[i];
        if (tok[0] != '-')
            continue;
        if (strcmp(tok, "-profile") == 0) {
            const char *name = (i + 1 < S->argc) ? S->argv[i + 1] : NULL;
            if (name == NULL)
                nb_fatal("ERROR: -profile needs a name (nanobragg or corrected)");
            if (strcmp(name, "nanobragg") == 0)
                S->prof = PROFILE_NANOBRAGG;
            else if (strcmp(name, "corrected") == 0)
                S->prof = PROFILE_CORRECTED;
            else
                nb_fatal("ERROR: -profile: unknown profile '%s' (use nanobragg or corrected)", name);
        }
        if (strstr(tok, "-img") && i + 1 < S->argc)
            S->imgfile = S->argv[i + 1];
        if (strstr(tok, "-mask") && i + 1 < S->argc)
            S->maskfile = S->argv[i + 1];
    }
}

#define HAS(p) (strstr(tok, (p)) != NULL)
#define EXACT(p) (strcmp(tok, (p)) == 0)
#define LENEQ(p) (HAS(p) && strlen(tok) == strlen(p))
#define NEED(n) (i + (n) < argc)
#define ARG(k) (argv[i + (k)])

static void need_value(int i, int argc, const char *tok)
{
    /* the reference has no arity guard here and reads past argv (crash); we refuse */
    if (!(i + 1 < argc))
        nb_fatal("ERROR: %s needs a value but is the last argument", tok);
}

void nb_parse(nb_sim *S)
{
    int argc = S->argc;
    char **argv = S->argv;
    int i;
    for (i = 1; i < argc; i++) {
        const char *tok = argv[i];
        if (tok[0] != '-')
            continue;

        /* crystal size in cells (skip-rest) */
        if (HAS("-Na") && NEED(1)) {
            S->Na = atoi(ARG(1));
            continue;
        }
        if (HAS("-Nb") && NEED(1)) {
            S->Nb = atoi(ARG(1));
            continue;
        }
        if (HAS("-Nc") && NEED(1)) {
            S->Nc = atoi(ARG(1));
            continue;
        }
        if (EXACT("-N") && NEED(1)) {
            S->Na = S->Nb = S->Nc = atoi(ARG(1));
            continue;
        }
        /* misset (random test first, then angles), then -misset_seed */
        {
            int misset_match = S->prof.misset_seed_collision ? HAS("-misset") : EXACT("-misset");
            if (misset_match && NEED(1) && strstr(ARG(1), "rand")) {
                S->misset_random = 1;
                S->misset_on = 1;
                continue;
            }
            if (misset_match && NEED(3)) {
                S->misset[0] = atof(ARG(1)) / NB_RTD;
                S->misset[1] = atof(ARG(2)) / NB_RTD;
                S->misset[2] = atof(ARG(3)) / NB_RTD;
                S->misset_on = 1;
                S->misset_random = 0;
            }
        }
        if (HAS("-misset_seed") && NEED(1))
            S->misset_seed = seed_arg(ARG(1));
        if (HAS("-hkl") && NEED(1))
            S->hklfile = ARG(1);
        if (HAS("-default_F") && NEED(1))
            S->default_F = atof(ARG(1));
        if (HAS("-dump") && NEED(1))
            S->dumpfile = ARG(1);
        if (HAS("-mat") && NEED(1))
            S->matfile = ARG(1);
        if (HAS("-cell") && NEED(1)) {
            int k;
            S->user_cell = 1;
            S->cell_nvals = 0;
            for (k = 0; k < 6; k++)
                S->cell[k] = 0.0;
            for (k = 0; k < 6 && i + 1 + k < argc && argv[i + 1 + k][0] != '-'; k++) {
                S->cell[k] = atof(argv[i + 1 + k]);
                S->cell_nvals++;
            }
        }
        if (HAS("-sourcefile") && NEED(1))
            S->sourcefile = ARG(1);
        if (EXACT("-stol") && NEED(1)) {
            S->stolfile = ARG(1);
            S->stolfile_kind = "stol";
        }
        if (EXACT("-4stol") && NEED(1)) {
            S->stolfile = ARG(1);
            S->stolfile_kind = "4stol";
        }
        if (EXACT("-Q") && NEED(1)) {
            S->stolfile = ARG(1);
            S->stolfile_kind = "Q";
        }
        /* crystal dimensions */
        if ((HAS("-samplesize") || HAS("-sample_size") || HAS("-xtalsize") || HAS("-xtal_size")) &&
            NEED(1))
            S->sample_x = S->sample_y = S->sample_z = atof(ARG(1)) / 1000.0;
        if ((HAS("-sample_thick") || HAS("-sample_x") || HAS("-xtal_thick") || HAS("-xtal_x")) &&
            NEED(1))
            S->sample_x = atof(ARG(1)) / 1000.0;
        if ((HAS("-sample_width") || HAS("-sample_y") || HAS("-width") || HAS("-xtal_width") ||
             HAS("-xtal_y")) &&
            NEED(1))
            S->sample_y = atof(ARG(1)) / 1000.0;
        if ((HAS("-sample_heigh") || HAS("-sample_z") || HAS("-heigh") || HAS("-xtal_heigh") ||
             HAS("-xtal_z")) &&
            NEED(1))
            S->sample_z = atof(ARG(1)) / 1000.0;
        if (HAS("-square_xtal"))
            S->shape = SHAPE_SQUARE;
        if (HAS("-round_xtal"))
            S->shape = SHAPE_ROUND;
        if (HAS("-gauss_xtal"))
            S->shape = SHAPE_GAUSS;
        if (HAS("-binary_spots") || HAS("-tophat_spots"))
            S->shape = SHAPE_TOPHAT;
        if (HAS("-fudge") && NEED(1))
            S->fudge = atof(ARG(1));
        if ((LENEQ("-mosaic") || HAS("-mosaici") || HAS("-mosaic_spr")) && NEED(1))
            S->mosaic_spread = atof(ARG(1)) / NB_RTD;
        if (HAS("-mosaic_dom") && NEED(1))
            S->mosaic_domains = atoi(ARG(1));
        if (HAS("-mosaic_seed") && NEED(1))
            S->mosaic_seed = seed_arg(ARG(1));
        /* beam */
        if ((HAS("-lambda") || HAS("-wave")) && NEED(1))
            S->lambda0 = atof(ARG(1)) / 1e10;
        if (HAS("-energy") && NEED(1))
            S->lambda0 = (12398.42 / atof(ARG(1))) / 1e10;
        if (HAS("-dispersion") && NEED(1))
            S->dispersion = atof(ARG(1)) / 100.0;
        if (HAS("-dispsteps") && NEED(1))
            S->dispsteps = atoi(ARG(1));
        if (HAS("-divergence") && NEED(1))
            S->hdivrange = S->vdivrange = atof(ARG(1)) / 1000.0;
        if (HAS("-hdivrange") && NEED(1))
            S->hdivrange = atof(ARG(1)) / 1000.0;
        if (HAS("-vdivrange") && NEED(1))
            S->vdivrange = atof(ARG(1)) / 1000.0;
        if (LENEQ("-hdivstep") && NEED(1))
            S->hdivstep = atof(ARG(1)) / 1000.0;
        if (LENEQ("-vdivstep") && NEED(1))
            S->vdivstep = atof(ARG(1)) / 1000.0;
        if (HAS("-hdivsteps") && NEED(1))
            S->hdivsteps = atoi(ARG(1));
        if (HAS("-vdivsteps") && NEED(1))
            S->vdivsteps = atoi(ARG(1));
        if (HAS("-divsteps") && NEED(1))
            S->hdivsteps = S->vdivsteps = atoi(ARG(1));
        if (HAS("-round_div"))
            S->round_div = 1;
        if (HAS("-square_div"))
            S->round_div = 0;
        if (HAS("-fluence") && NEED(1))
            S->fluence = atof(ARG(1));
        if (HAS("-flux") && NEED(1))
            S->flux = atof(ARG(1));
        if (HAS("-exposure") && NEED(1))
            S->exposure = atof(ARG(1));
        if (HAS("-beamsize") && NEED(1))
            S->beamsize = atof(ARG(1)) / 1000.0;
        if (LENEQ("-polar") && NEED(1)) {
            S->polar_K = atof(ARG(1));
            S->nopolar = 0;
        }
        if (HAS("-nopolar"))
            S->nopolar = 1;
        if (HAS("-water") && NEED(1))
            S->water = atof(ARG(1)) / 1e6;
        /* detector extent */
        if (HAS("-pixel") && NEED(1))
            S->pixel = atof(ARG(1)) / 1000.0;
        if (LENEQ("-detpixels") && NEED(1))
            S->fpixels = S->spixels = atoi(ARG(1));
        if ((HAS("-detpixels_f") || HAS("-detpixels_x")) && NEED(1))
            S->fpixels = atoi(ARG(1));
        if ((HAS("-detpixels_s") || HAS("-detpixels_y")) && NEED(1))
            S->spixels = atoi(ARG(1));
        if (LENEQ("-detsize") && NEED(1))
            S->detsize_f = S->detsize_s = atof(ARG(1)) / 1000.0;
        if (HAS("-detsize_f") && NEED(1))
            S->detsize_f = atof(ARG(1)) / 1000.0;
        if (HAS("-detsize_s") && NEED(1))
            S->detsize_s = atof(ARG(1)) / 1000.0;
        /* placement */
        if (HAS("-distance") && NEED(1)) {
            S->distance = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-close_distance") && NEED(1)) {
            S->close_distance = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-Xbeam") && NEED(1)) {
            S->Xbeam = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-Ybeam") && NEED(1)) {
            S->Ybeam = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-Xclose") && NEED(1)) {
            S->Xclose = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-Yclose") && NEED(1)) {
            S->Yclose = atof(ARG(1)) / 1000.0;
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-ORGX") && NEED(1)) {
            S->ORGX = atof(ARG(1));
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-ORGY") && NEED(1)) {
            S->ORGY = atof(ARG(1));
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-pivot") && NEED(1)) {
            if (strstr(ARG(1), "sample"))
                S->pivot = PIVOT_SAMPLE;
            if (strstr(ARG(1), "beam"))
                S->pivot = PIVOT_BEAM;
        }
        if (HAS("-mosflm")) {
            S->convention = CONV_MOSFLM;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-denzo")) {
            S->convention = CONV_DENZO;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-adxv")) {
            S->convention = CONV_ADXV;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-xds")) {
            S->convention = CONV_XDS;
            S->pivot = PIVOT_SAMPLE;
        }
        if (HAS("-dials")) {
            /* the flag's side effect is BEAM (docs/behaviour/physics.md §6.5); DIALS itself forces
               SAMPLE, so this shows only when a vector flag later selects CUSTOM */
            S->convention = CONV_DIALS;
            S->pivot = PIVOT_BEAM;
        }
        if (HAS("-fdet_vector") && NEED(3)) {
            set3(S->fdet, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-sdet_vector") && NEED(3)) {
            set3(S->sdet, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-odet_vector") && NEED(3)) {
            set3(S->odet, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-beam_vector") && NEED(3)) {
            set3(S->beam, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-polar_vector") && NEED(3)) {
            set3(S->polar_vec, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-spindle_axis") && NEED(3)) {
            set3(S->spindle, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-twotheta_axis") && NEED(3)) {
            set3(S->twotheta_axis, atof(ARG(1)), atof(ARG(2)), atof(ARG(3)));
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-pix0_vector") && NEED(3)) {
            /* Q6: the reference discards these; the corrected profile honours them
             * (metres, or millimetres for the _mm spelling) */
            double scale = HAS("_mm") ? 1e-3 : 1.0;
            set3(S->user_pix0, atof(ARG(1)) * scale, atof(ARG(2)) * scale, atof(ARG(3)) * scale);
            S->user_pix0_set = 1;
            S->convention = CONV_CUSTOM;
        }
        if (HAS("-detector_rotx") && NEED(1))
            S->rotx = atof(ARG(1)) / NB_RTD;
        if (HAS("-detector_roty") && NEED(1))
            S->roty = atof(ARG(1)) / NB_RTD;
        if (HAS("-detector_rotz") && NEED(1))
            S->rotz = atof(ARG(1)) / NB_RTD;
        if (HAS("-twotheta") && NEED(1)) {
            /* Q4: "-twotheta_axis x y z" also lands here (2theta := x degrees) */
            if (!HAS("-twotheta_axis") || S->prof.twotheta_axis_sets_angle) {
                S->twotheta = atof(ARG(1)) / NB_RTD;
                S->pivot = PIVOT_SAMPLE;
            }
        }
        if (HAS("-curved_det") && NEED(1))
            S->curved = 1;
        if (HAS("-point_pixel"))
            S->point_pixel = 1;
        /* sensor (the reference has no arity guard for these) */
        if (HAS("-detector_abs")) {
            need_value(i, argc, tok);
            if (strstr(ARG(1), "inf") || atof(ARG(1)) == 0.0) {
                S->thickness = 0.0;
                S->mu = 0.0;
            } else {
                S->mu = 1.0 / (atof(ARG(1)) * 1e-6);
            }
        }
        if (LENEQ("-detector_thick")) {
            need_value(i, argc, tok);
            S->thickness = atof(ARG(1)) * 1e-6;
        }
        if (HAS("-detector_thicksteps") || HAS("-thicksteps")) {
            need_value(i, argc, tok);
            S->thicksteps = atoi(ARG(1));
        }
        /* sampling */
        if (LENEQ("-phi") && NEED(1))
            S->phi0 = atof(ARG(1)) / NB_RTD;
        if (HAS("-osc") && NEED(1))
            S->osc = atof(ARG(1)) / NB_RTD;
        if (LENEQ("-phistep") && NEED(1))
            S->phistep = atof(ARG(1)) / NB_RTD;
        if (HAS("-phisteps") && NEED(1))
            S->phisteps = atoi(ARG(1));
        if (HAS("-oversample_thick")) {
            S->oversample_thick = 1;
            continue;
        }
        if (HAS("-oversample_polar")) {
            S->oversample_polar = 1;
            continue;
        }
        if (HAS("-oversample_omega")) {
            S->oversample_omega = 1;
            continue;
        }
        if (HAS("-oversample") && NEED(1))
            S->user_oversample = atoi(ARG(1));
        if (HAS("-roi") && NEED(4)) {
            S->roi_xmin = atoi(ARG(1));
            S->roi_xmax = atoi(ARG(2));
            S->roi_ymin = atoi(ARG(3));
            S->roi_ymax = atoi(ARG(4));
        }
        if (HAS("-dmin") && NEED(1))
            S->dmin = atof(ARG(1)) * 1e-10;
        if (HAS("-interpolate"))
            S->interpolate = 1;
        if (HAS("-nointerpolate"))
            S->interpolate = 0;
        /* outputs */
        if ((HAS("-floatfile") || HAS("-floatimage")) && NEED(1))
            S->floatfile = ARG(1);
        if ((HAS("-intfile") || HAS("-intimage")) && NEED(1))
            S->intfile = ARG(1);
        if ((HAS("-pgmfile") || HAS("-pgmimage")) && NEED(1)) {
            S->pgmfile = ARG(1);
            S->write_pgm = 1;
        }
        if ((HAS("-noisefile") || HAS("-noiseimage")) && NEED(1)) {
            S->noisefile = ARG(1);
            S->write_noise = 1;
        }
        if (HAS("-nonoise"))
            S->write_noise = 0;
        if (HAS("-nopgm"))
            S->write_pgm = 0;
        if (HAS("-scale") && NEED(1))
            S->intfile_scale = atof(ARG(1));
        if (HAS("-pgmscale") && NEED(1)) {
            S->pgm_scale = atof(ARG(1));
            S->write_pgm = 1;
        }
        if (HAS("-adc") && NEED(1))
            S->adc = atof(ARG(1));
        if (HAS("-seed") && NEED(1)) {
            S->seed = seed_arg(ARG(1));
            S->time_seed = 0;
        }
        /* diagnostics */
        if (HAS("-printout"))
            S->printout = 1;
        if (HAS("-printout_pixel") && NEED(2)) {
            S->printout_f = atoi(ARG(1));
            S->printout_s = atoi(ARG(2));
        }
        if (HAS("-progress"))
            S->progress = 1;
        if (HAS("-noprogress"))
            S->progress = 0;
        /* extension: -trace_pixel SLOW FAST (repeatable) */
        if (HAS("-trace_pixel")) {
            if (!NEED(2))
                nb_fatal("ERROR: -trace_pixel needs two values (slow fast)");
            S->trace = realloc(S->trace, sizeof(nb_tracepix) * (size_t)(S->ntrace + 1));
            if (S->trace == NULL)
                nb_fatal("ERROR: out of memory");
            S->trace[S->ntrace].s = atoi(ARG(1));
            S->trace[S->ntrace].f = atoi(ARG(2));
            S->ntrace++;
        }
    }
}

static void vline(const char *flag, const char *what, const double *v)
{
    printf("\t%s\t%s %g %g %g\n", flag, what, v[0], v[1], v[2]);
}

void nb_usage(const nb_sim *S)
{
    printf("usage: nanoBragg -mat auto.mat -hkl Fs.hkl\n");
    printf("options:\n");
    printf("\t-mat filename.mat\tmosflm-style matrix file containing three reciprocal unit cell vectors\n");
    printf("\t-hkl filename.hkl\ttext file containing h, k, l and F for P1 unit cell\n");
    printf("\t-misset dx dy dz\tangles in degrees to rotate the crystal about x, y and z\n");
    printf("\t-misset random\trandom crystal orientation\n");
    printf("\t-cell a b c al be ga\tunit cell in Angstrom and degrees\n");
    printf("\t-default_F\tamplitude of structure factors not in the hkl file\n");
    printf("\t-distance\tdistance from origin to detector center in mm\n");
    printf("\t-detsize\tdetector size in mm\n");
    printf("\t-detpixels\tdetector size in pixels\n");
    printf("\t-pixel\tdetector pixel size in mm\n");
    printf("\t-img\tSMV file whose header sets the detector parameters\n");
    printf("\t-mask\tSMV file whose zero-valued pixels are not rendered\n");
    printf("\t-detector_absorb\tdetector sensor attenuation depth in um\n");
    printf("\t-detector_thick\tdetector sensor thickness in um\n");
    printf("\t-detector_thicksteps\tnumber of sensor layers\n");
    printf("\t-Xbeam\timage X coordinate of direct-beam spot (mm)\n");
    printf("\t-Ybeam\timage Y coordinate of direct-beam spot (mm)\n");
    printf("\t-mosflm\tuse the MOSFLM convention (default)\n");
    printf("\t-xds\tuse the XDS convention\n");
    printf("\t-ORGX -ORGY\tXDS-style near point in pixels\n");
    printf("\t-twotheta\tdetector two-theta angle in degrees\n");
    printf("\t-N\tnumber of unit cells in all directions\n");
    printf("\t-xtalsize\tcrystal size in mm\n");
    printf("\t-square_xtal\tparallelepiped crystal shape (default)\n");
    printf("\t-round_xtal\tellipsoidal crystal shape\n");
    printf("\t-gauss_xtal\tGaussian spot shape\n");
    printf("\t-tophat_spots\ttop-hat spot shape\n");
    printf("\t-oversample\tnumber of sub-pixels per pixel edge\n");
    printf("\t-oversample_thick\tre-calculate the capture fraction for each sub-pixel\n");
    printf("\t-oversample_polar\tre-calculate the polarization factor for each sub-pixel\n");
    printf("\t-oversample_omega\tre-calculate the solid angle for each sub-pixel\n");
    printf("\t-lambda\tincident x-ray wavelength in Angstrom\n");
    printf("\t-mosaic\tisotropic mosaic spread in degrees\n");
    printf("\t-mosaic_domains\tnumber of randomly oriented mosaic domains\n");
    printf("\t-dispersion\tspectral dispersion in percent\n");
    printf("\t-dispsteps\tnumber of wavelengths\n");
    printf("\t-hdivrange\thorizontal angular spread of source points (mrad)\n");
    printf("\t-vdivrange\tvertical angular spread of source points (mrad)\n");
    printf("\t-hdivstep\thorizontal divergence step (mrad)\n");
    printf("\t-vdivstep\tvertical divergence step (mrad)\n");
    printf("\t-square_div\tfull divergence grid (default: round)\n");
    printf("\t-phi\tstarting rotation angle in degrees\n");
    printf("\t-osc\toscillation range in degrees\n");
    printf("\t-phisteps\tnumber of rotation steps\n");
    printf("\t-water\tsize of water background droplet in um\n");
    printf("\t-floatfile\tname of the raw float output image\n");
    printf("\t-intfile\tname of the noiseless SMV output image\n");
    printf("\t-scale\tscale factor for the noiseless SMV image\n");
    printf("\t-adc\toffset added to the SMV images (default: %g)\n", S->adc);
    printf("\t-polar\tKahn polarization factor (default: 1)\n");
    printf("\t-noisefile\tname of the noisy SMV output image\n");
    printf("\t-pgmfile\tname of the PGM output image\n");
    printf("\t-pgmscale\tscale factor for the PGM image\n");
    printf("\t-nopgm\tdo not write the PGM image\n");
    printf("\t-roi xmin xmax ymin ymax\tonly render these pixels\n");
    printf("\t-printout\tprint pixel values to the screen\n");
    printf("\t-seed\tnoise random number seed\n");
    printf("\t-mosaic_seed\tmosaic domain random number seed\n");
    printf("\t-misset_seed\trandom misset seed\n");
    printf("\t-fluence\tincident fluence in photons/m^2\n");
    printf("\t-flux\tincident flux in photons/s\n");
    printf("\t-beamsize\tbeam size in mm (default: %g)\n", S->beamsize * 1000.0);
    printf("\t-exposure\texposure time in s (default: %g)\n", S->exposure);
    printf("\t-nonoise\tdo not write the noisy image\n");
    printf("\t-noprogress\tturn off the progress meter\n");
    printf("\t-nopolar\tturn off the polarization correction\n");
    printf("\t-nointerpolate\tdisable structure-factor interpolation\n");
    printf("\t-interpolate\tforce structure-factor interpolation\n");
    printf("\t-point_pixel\tturn off the pixel solid-angle correction\n");
    printf("\t-curved_det\tall pixels at the same distance from the sample\n");
    vline("-fdet_vector", "unit vector of the fast axis, currently:", S->fdet);
    vline("-sdet_vector", "unit vector of the slow axis, currently:", S->sdet);
    vline("-odet_vector", "unit vector of the detector normal, currently:", S->odet);
    vline("-beam_vector", "unit vector of the x-ray beam, currently:", S->beam);
    vline("-polar_vector", "unit vector of the E-vector, currently:", S->polar_vec);
    vline("-spindle_axis", "unit vector of the spindle axis, currently:", S->spindle);
    printf("\t-pix0_vector\tposition of the first pixel in metres\n");
}

/*
 * -h / --help / --version (not nanoBragg flags: the C ignores them).  Only these exact tokens,
 * anywhere on the line, the first one deciding: 1 help, 2 version, 0 none.  No flag of the C
 * is a substring of them, so no other branch would have fired for them.
 */
int nb_contact_request(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
        if (strcmp(argv[i], "--version") == 0)
            return 2;
    }
    return 0;
}

void nb_help(const nb_sim *S)
{
    nb_usage(S);
    printf("\ntorchbragg-cref extensions: -profile nanobragg|corrected -trace_pixel SLOW FAST "
           "(-dtype, -device, -chunk_pixels, -compile: checked, then ignored)\n");
    printf("torchbragg-cref -h|--help: this text;  torchbragg-cref --version: the version "
           "(both exit 0)\n");
}
