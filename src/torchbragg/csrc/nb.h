/*
 * torchbragg clean-room C reference of the nanoBragg simulator.
 *
 * Written from the behaviour reference in docs/behaviour/ only.
 * This header holds the shared state of one run (nb_sim), the compatibility profile
 * (nb_profile) and the prototypes of every translation unit.
 */
#ifndef NB_H
#define NB_H

#include <stdio.h>
#include <stddef.h>

#define NB_PI 3.14159265358979323846
#define NB_RTD (180.0 * (1.0 / NB_PI)) /* 57.29577951308232, conversion is deg / RTD */
#define NB_DBL_MIN 2.2250738585072014e-308
#define NB_R_E_SQR 7.94079248018965e-30
#define NB_AVOGADRO 6.02214179e23
#define NB_EXIT_USAGE 9 /* bad input (also missing inputs: usage text) */
#define NB_EXIT_OUTPUT 10 /* an output file cannot be written */
/* printed by --version; torchbragg-cref and the Makefile pass the package's version */
#ifndef NB_VERSION
#define NB_VERSION "unknown"
#endif

enum { CONV_MOSFLM = 0, CONV_XDS, CONV_ADXV, CONV_DENZO, CONV_DIALS, CONV_CUSTOM };
enum { PIVOT_BEAM = 0, PIVOT_SAMPLE = 1 };
enum { SHAPE_SQUARE = 0, SHAPE_ROUND, SHAPE_GAUSS, SHAPE_TOPHAT };

/*
 * Compatibility profile: every bug-quirk switch in one place.  The pixel loop and the
 * set-up read this struct; there are no other ad-hoc quirk flags.
 * 1 = reproduce the C reference quirk (profile "nanobragg", the default), 0 = corrected behaviour.
 */
typedef struct nb_profile {
    const char *name;
    int phi0_carry_over;          /* Q1: a phi step at exactly 0 keeps the previous orientation */
    int twotheta_axis_sets_angle; /* Q4: -twotheta_axis x y z also sets 2theta = x deg, pivot SAMPLE */
    int pix0_vector_ignored;      /* Q6: -pix0_vector(_mm) values are discarded */
    int misset_seed_collision;    /* Q7: -misset_seed is also parsed as -misset */
    int interp_global_switchoff;  /* Q11: first out-of-range interpolation turns it off for the run */
    int thick_capture_no_sensor;  /* Q36: -oversample_thick evaluates the capture fraction
                                     (docs/behaviour/physics.md §6.10) even without a
                                     sensor (thickness 0): it is 0 */
    int mask_any_size;            /* Q37: a -mask of another size is read with the detector's flat
                                     pixel indices (past its end: 0); corrected: refused */
} nb_profile;

/* one trace request (slow, fast) */
typedef struct { int s, f; } nb_tracepix;

typedef struct nb_sim {
    nb_profile prof;
    int argc;
    char **argv;

    /* ---- file names ---- */
    const char *hklfile, *matfile, *imgfile, *maskfile, *sourcefile, *dumpfile;
    const char *stolfile, *stolfile_kind; /* kind: "stol", "4stol", "Q" */
    const char *floatfile, *intfile, *pgmfile, *noisefile;
    int write_pgm, write_noise;

    /* ---- crystal ---- */
    int user_cell;
    double cell[6]; /* a b c (A) alpha beta gamma (rad) */
    int cell_nvals;
    int misset_on, misset_random;
    double misset[3];
    long misset_seed, mosaic_seed, seed;
    double Na, Nb, Nc;
    double sample_x, sample_y, sample_z;
    int shape;
    double fudge;
    double mosaic_spread;
    int mosaic_domains;
    double default_F;

    /* ---- beam ---- */
    double lambda0;
    double dispersion, dispstep;
    int dispsteps;
    double hdivrange, vdivrange, hdivstep, vdivstep;
    int hdivsteps, vdivsteps;
    int round_div;
    double fluence, flux, exposure, beamsize;
    double polar_K;
    int nopolar;
    double water;

    /* ---- detector ---- */
    double pixel;
    int fpixels, spixels;
    double detsize_f, detsize_s;
    double distance, close_distance; /* close_distance < 0: unset */
    double Xbeam, Ybeam, Xclose, Yclose, ORGX, ORGY; /* NaN = unset */
    double Fbeam, Sbeam, Fclose, Sclose;
    int convention, pivot;
    double beam[3], fdet[3], sdet[3], odet[3], twotheta_axis[3], polar_vec[3], spindle[3];
    double vert[3]; /* unit(beam x polar) */
    double pix0[3], user_pix0[3];
    int user_pix0_set;
    double rotx, roty, rotz, twotheta;
    int curved, point_pixel;
    double thickness, mu, thickstep;
    int thicksteps;
    double ratio;
    double dials_origin[3];
    double orgx_out, orgy_out;
    /* run-level trace copies */
    double trace_fbeam_in, trace_sbeam_in, trace_dist_in, trace_fclose_in, trace_sclose_in,
        trace_close_in;

    /* ---- sampling ---- */
    double phi0, osc, phistep;
    int phisteps;
    int oversample, user_oversample;
    int oversample_thick, oversample_polar, oversample_omega;
    int roi_xmin, roi_xmax, roi_ymin, roi_ymax;
    double dmin;
    int interpolate; /* -1 auto, 0 off, 1 on */

    /* ---- output scaling ---- */
    double intfile_scale, pgm_scale, adc;

    /* ---- diagnostics ---- */
    int printout, printout_f, printout_s;
    int progress;
    nb_tracepix *trace;
    int ntrace;

    /* ---- derived crystal ---- */
    double a0[3], b0[3], c0[3];       /* metres */
    double astar[3], bstar[3], cstar[3]; /* 1/A, fixed */
    double V_cell;

    /* ---- structure factors ---- */
    int hkls;
    double hkl_last_hkl[3]; /* h, k, l of the last record of the HKL file's first pass */
    double hkl_last_F;      /* F of the last record of the second pass */
    int hkl_last_l;         /* l index of the last record of the second pass */
    int h_min, h_max, k_min, k_max, l_min, l_max, h_range, k_range, l_range;
    double *Fgrid; /* (h_range+1)*(k_range+1)*(l_range+1) */

    /* ---- sources ---- */
    int nsources;
    double *src_pos;   /* 3 per source, as given/generated */
    double *src_dir;   /* 3 per source: incident propagation direction (unit) */
    double *src_lambda;
    double *src_weight;
    int divsteps_printed;

    /* ---- mosaic ---- */
    double *mosaic_umats; /* 9 per domain */

    /* ---- mask / img ---- */
    unsigned short *maskimage;
    int mask_w, mask_h;

    /* ---- results ---- */
    double steps, I_bg;
    float *floatimage;
    double omega_sum;
    double max_I, max_I_x, max_I_y;
    int time_seed;
} nb_sim;

/* ---- nb_util (in nb_geometry.c) ---- */
double nb_dot(const double *a, const double *b);
double nb_mag(const double *v);
void nb_cross(const double *a, const double *b, double *out);
double nb_unitize(const double *v, double *out);
void nb_rotate_xyz(const double *v, double *out, double rx, double ry, double rz);
void nb_rotate_axis(const double *v, double *out, const double *axis, double phi);
void nb_rotate_umat(const double *v, double *out, const double *u);
void nb_fatal(const char *fmt, ...);
int nb_c_int(double v);
void *nb_xmalloc(size_t n);
void *nb_xcalloc(size_t n, size_t sz);

/* ---- nb_cli.c ---- */
void nb_defaults(nb_sim *S);
void nb_prepass(nb_sim *S);
void nb_parse(nb_sim *S);
void nb_usage(const nb_sim *S);
int nb_contact_request(int argc, char **argv);
void nb_help(const nb_sim *S);

/* ---- nb_geometry.c ---- */
void nb_detector_pixels(nb_sim *S);
void nb_beam_fluence(nb_sim *S);
void nb_install_convention(nb_sim *S);
void nb_detector_setup(nb_sim *S);

/* ---- nb_crystal.c ---- */
void nb_resolve_sampling(nb_sim *S);
void nb_build_crystal(nb_sim *S);
void nb_mosaic_matrix(double spread, long *seed, double *umat);
void nb_make_mosaic(nb_sim *S);
void nb_make_sources(nb_sim *S);

/* ---- nb_io_read.c (input files) ---- */
void nb_read_smv_header(nb_sim *S, const char *file, int is_mask);
void nb_read_hkl(nb_sim *S);
int nb_read_fdump(nb_sim *S, int probe_only);
void nb_read_mat(nb_sim *S, double *astar, double *bstar, double *cstar);
int nb_read_columns(const char *flag, const char *file, int ncol, double **cols,
                    const char *who);
void nb_read_stol(nb_sim *S);

/* ---- nb_io_write.c (output files) ---- */
void nb_write_outputs(nb_sim *S);

/* ---- nb_files.c (inputs without blocking, staged outputs, signals) ---- */
FILE *nb_open_input(const char *flag, const char *file);
FILE *nb_stage_open(const char *name, int optional);
int nb_stage_close(FILE *fp);
void nb_stage_commit(void);
void nb_install_signals(void);

/* ---- nb_check_num.c (strict number parsing) ---- */
int nb_is_space(int c);
int nb_is_digit(int c);
int nb_strict_real(const char *s, double *out);
int nb_strict_long(const char *s, long lo, long hi, long *out);

/* ---- nb_check_argv.c (strict check of the command line) ---- */
void nb_check_argv(nb_sim *S);

/* ---- nb_check.c (strict checks of files and outputs, limits, signals) ---- */
void nb_check_hkl(const char *file);
void nb_check_mat(const char *file);
void nb_check_sources(const char *file);
void nb_check_outputs(const nb_sim *S);
void nb_check_limits(const nb_sim *S, double nsources, int oversample);
int nb_count_from_ratio(double ratio, const char *what);
double nb_max_memory(void);

/* ---- nb_noise.c ---- */
float nb_ran1(long *idum);
float nb_poidev(float xm, long *idum);
float nb_gaussdev(long *idum);
float nb_lgamma(float xx);

/* ---- nb_render.c ---- */
void nb_render(nb_sim *S);

/* ---- nb_trace.c ---- */
extern int nb_line_open; /* stdout line left open (interpolation warning): trace lines start fresh */
void nb_trace_num(const char *name, double v);
void nb_trace_vec(const char *name, const double *v, int n, double scale);
void nb_trace_int(const char *name, int v);
void nb_trace_ints(const char *name, const int *v, int n);
void nb_trace_word(const char *name, const char *w);
void nb_trace_runlevel(const nb_sim *S, const double *term_f, const double *term_s,
                       const double *term_b);

#endif
