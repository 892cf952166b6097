/* Vector helpers, rotations (docs/behaviour/physics.md §1.4) and detector geometry
 * (docs/behaviour/physics.md §6). */
#include "nb.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void nb_fatal(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    exit(NB_EXIT_USAGE);
}

/* C's (int)v for a double, as x86-64 converts it, without the undefined behaviour: a value
 * outside the int range (or NaN) gives INT_MIN (e.g. -detsize 1e308 -> a refused detector) */
int nb_c_int(double v)
{
    if (!(v > -2147483649.0 && v < 2147483648.0))
        return -2147483647 - 1;
    return (int)v;
}

void *nb_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        nb_fatal("ERROR: out of memory (%lu bytes)", (unsigned long)n);
    return p;
}

void *nb_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        nb_fatal("ERROR: out of memory (%lu x %lu bytes)", (unsigned long)n, (unsigned long)sz);
    return p;
}

double nb_dot(const double *a, const double *b)
{
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

double nb_mag(const double *v)
{
    return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

void nb_cross(const double *a, const double *b, double *out)
{
    double x = a[1] * b[2] - a[2] * b[1];
    double y = a[2] * b[0] - a[0] * b[2];
    double z = a[0] * b[1] - a[1] * b[0];
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

/* unit(v) = v/|v| (division per component); unit(0) = 0.  Returns the magnitude. */
double nb_unitize(const double *v, double *out)
{
    double m = nb_mag(v);
    if (m != 0.0) {
        out[0] = v[0] / m;
        out[1] = v[1] / m;
        out[2] = v[2] / m;
    } else {
        out[0] = v[0];
        out[1] = v[1];
        out[2] = v[2];
    }
    return m;
}

/* (R1): about x, then y, then z; each skipped when its angle is exactly 0 */
void nb_rotate_xyz(const double *v, double *out, double rx, double ry, double rz)
{
    double x = v[0], y = v[1], z = v[2], nx, ny, nz;
    if (rx != 0.0) {
        double c = cos(rx), s = sin(rx);
        ny = y * c - z * s;
        nz = y * s + z * c;
        y = ny;
        z = nz;
    }
    if (ry != 0.0) {
        double c = cos(ry), s = sin(ry);
        nx = x * c + z * s;
        nz = -x * s + z * c;
        x = nx;
        z = nz;
    }
    if (rz != 0.0) {
        double c = cos(rz), s = sin(rz);
        nx = x * c - y * s;
        ny = x * s + y * c;
        x = nx;
        y = ny;
    }
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

/* (R2): Rodrigues about the (assumed unit) axis */
void nb_rotate_axis(const double *v, double *out, const double *u, double phi)
{
    double c = cos(phi), s = sin(phi);
    double D = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) * (1.0 - c);
    double x = u[0] * D + v[0] * c + (-u[2] * v[1] + u[1] * v[2]) * s;
    double y = u[1] * D + v[1] * c + (u[2] * v[0] - u[0] * v[2]) * s;
    double z = u[2] * D + v[2] * c + (-u[1] * v[0] + u[0] * v[1]) * s;
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

/* (R3) */
void nb_rotate_umat(const double *v, double *out, const double *u)
{
    double x = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    double y = u[3] * v[0] + u[4] * v[1] + u[5] * v[2];
    double z = u[6] * v[0] + u[7] * v[1] + u[8] * v[2];
    out[0] = x;
    out[1] = y;
    out[2] = z;
}

/* docs/behaviour/physics.md §6.1 / docs/behaviour/cli.md §2.4 */
void nb_detector_pixels(nb_sim *S)
{
    if (S->fpixels != 0)
        S->detsize_f = S->pixel * S->fpixels;
    if (S->spixels != 0)
        S->detsize_s = S->pixel * S->spixels;
    S->fpixels = nb_c_int(ceil(S->detsize_f / S->pixel - 0.5));
    S->spixels = nb_c_int(ceil(S->detsize_s / S->pixel - 0.5));
}

/* docs/behaviour/cli.md §5.1 (docs/behaviour/physics.md §7.10, §2.6 clipping) */
void nb_beam_fluence(nb_sim *S)
{
    if (S->flux != 0.0 && S->exposure > 0.0 && S->beamsize >= 0.0)
        S->fluence = ((S->flux * S->exposure) / S->beamsize) / S->beamsize;
    if (S->beamsize >= 0.0) {
        if (S->beamsize < S->sample_y) {
            printf("WARNING: clipping sample (%lg m high) with beam (%lg m)\n", S->sample_y,
                   S->beamsize);
            S->sample_y = S->beamsize;
        }
        if (S->beamsize < S->sample_z) {
            printf("WARNING: clipping sample (%lg m wide) with beam (%lg m)\n", S->sample_z,
                   S->beamsize);
            S->sample_z = S->beamsize;
        }
    }
    if (S->exposure > 0.0)
        S->flux = S->fluence / S->exposure * S->beamsize * S->beamsize;
}

static void set3(double *v, double x, double y, double z)
{
    v[0] = x;
    v[1] = y;
    v[2] = z;
}

/* docs/behaviour/physics.md §6.2-§6.4 steps 1-2, §6.3 normalisation */
void nb_install_convention(nb_sim *S)
{
    double px = S->pixel;
    double m, fxs[3];
    /* step 1: near-point defaults */
    S->Fclose = isnan(S->ORGX) ? S->detsize_f / 2.0 : (S->ORGX - 0.5) * px;
    S->Sclose = isnan(S->ORGY) ? S->detsize_s / 2.0 : (S->ORGY - 0.5) * px;
    if (isnan(S->Xclose))
        S->Xclose = S->Fclose;
    if (isnan(S->Yclose))
        S->Yclose = S->Sclose;
    switch (S->convention) {
    case CONV_MOSFLM:
    case CONV_DENZO:
        set3(S->beam, 1, 0, 0);
        set3(S->fdet, 0, 0, 1);
        set3(S->sdet, 0, -1, 0);
        set3(S->odet, 1, 0, 0);
        set3(S->twotheta_axis, 0, 0, -1);
        set3(S->polar_vec, 0, 0, 1);
        set3(S->spindle, 0, 0, 1);
        if (isnan(S->Xbeam))
            S->Xbeam = (S->detsize_s + px) / 2.0;
        if (isnan(S->Ybeam))
            S->Ybeam = (S->detsize_f + px) / 2.0;
        if (S->convention == CONV_MOSFLM) {
            S->Fbeam = S->Ybeam + 0.5 * px;
            S->Sbeam = S->Xbeam + 0.5 * px;
        } else {
            S->Fbeam = S->Ybeam;
            S->Sbeam = S->Xbeam;
        }
        S->pivot = PIVOT_BEAM;
        break;
    case CONV_ADXV:
        set3(S->beam, 0, 0, 1);
        set3(S->fdet, 1, 0, 0);
        set3(S->sdet, 0, -1, 0);
        set3(S->odet, 0, 0, 1);
        set3(S->twotheta_axis, -1, 0, 0);
        set3(S->polar_vec, 1, 0, 0);
        set3(S->spindle, 1, 0, 0);
        if (isnan(S->Xbeam))
            S->Xbeam = (S->detsize_f + px) / 2.0;
        if (isnan(S->Ybeam))
            S->Ybeam = (S->detsize_s - px) / 2.0;
        S->Fbeam = S->Xbeam;
        S->Sbeam = S->detsize_s - S->Ybeam;
        S->pivot = PIVOT_BEAM;
        break;
    case CONV_XDS:
    case CONV_DIALS:
        set3(S->beam, 0, 0, 1);
        set3(S->fdet, 1, 0, 0);
        set3(S->sdet, 0, 1, 0);
        set3(S->odet, 0, 0, 1);
        if (S->convention == CONV_XDS) {
            set3(S->twotheta_axis, 1, 0, 0);
            set3(S->polar_vec, 1, 0, 0);
            set3(S->spindle, 1, 0, 0);
        } else {
            set3(S->twotheta_axis, 0, 1, 0);
            set3(S->polar_vec, 0, 1, 0);
            set3(S->spindle, 0, 1, 0);
        }
        if (isnan(S->Xbeam))
            S->Xbeam = S->Xclose;
        if (isnan(S->Ybeam))
            S->Ybeam = S->Yclose;
        S->Fbeam = S->Xbeam;
        S->Sbeam = S->Ybeam;
        S->pivot = PIVOT_SAMPLE;
        break;
    default: /* CUSTOM: keep the vectors, pivot from the flags */
        if (isnan(S->Xbeam))
            S->Xbeam = S->Xclose;
        if (isnan(S->Ybeam))
            S->Ybeam = S->Yclose;
        S->Fbeam = S->Xbeam;
        S->Sbeam = S->Ybeam;
        S->Fclose = S->Xbeam;
        S->Sclose = S->Ybeam;
        break;
    }
    /* §6.3 normalisation */
    nb_unitize(S->beam, S->beam);
    nb_unitize(S->fdet, S->fdet);
    nb_unitize(S->sdet, S->sdet);
    nb_unitize(S->polar_vec, S->polar_vec);
    nb_unitize(S->spindle, S->spindle);
    m = nb_unitize(S->odet, S->odet);
    if (m != 1.0) {
        printf("WARNING: auto-generating odet_vector\n");
        nb_cross(S->fdet, S->sdet, fxs);
        nb_unitize(fxs, S->odet);
    }
    nb_cross(S->beam, S->polar_vec, fxs);
    nb_unitize(fxs, S->vert);
}

/* docs/behaviour/physics.md §6.6 */
static void derive_from_pix0(nb_sim *S)
{
    double n[3], t[3];
    double zhat[3] = {0, 0, 1}, yhat[3] = {0, 1, 0}, mxhat[3] = {-1, 0, 0};
    double cr;
    S->Fclose = -nb_dot(S->pix0, S->fdet);
    S->Sclose = -nb_dot(S->pix0, S->sdet);
    S->close_distance = nb_dot(S->pix0, S->odet);
    cr = S->close_distance / S->ratio;
    t[0] = cr * S->beam[0];
    t[1] = cr * S->beam[1];
    t[2] = cr * S->beam[2];
    n[0] = t[0] - S->pix0[0];
    n[1] = t[1] - S->pix0[1];
    n[2] = t[2] - S->pix0[2];
    S->Fbeam = nb_dot(S->fdet, n);
    S->Sbeam = nb_dot(S->sdet, n);
    S->distance = S->close_distance / S->ratio;
    S->orgx_out = S->Fclose / S->pixel + 0.5;
    S->orgy_out = S->Sclose / S->pixel + 0.5;
    S->dials_origin[0] = 1000.0 * nb_dot(S->pix0, zhat);
    S->dials_origin[1] = 1000.0 * nb_dot(S->pix0, yhat);
    S->dials_origin[2] = 1000.0 * nb_dot(S->pix0, mxhat);
}

static const char *conv_name(int c)
{
    switch (c) {
    case CONV_MOSFLM: return "mosflm";
    case CONV_XDS: return "xds";
    case CONV_ADXV: return "adxv";
    case CONV_DENZO: return "denzo";
    case CONV_DIALS: return "dials";
    default: return "custom";
    }
}

void nb_detector_setup(nb_sim *S)
{
    double o_rot[3], v[3];
    double tf[3] = {0, 0, 0}, ts[3] = {0, 0, 0}, tb[3] = {0, 0, 0};
    int k;

    printf("%s convention selected.\n", conv_name(S->convention));
    printf("%s\n", S->pivot == PIVOT_SAMPLE ? "pivoting detector around sample"
                                             : "pivoting detector around direct beam spot");
    /* 1. ratio from the normal rotated by rotx/y/z only */
    nb_rotate_xyz(S->odet, o_rot, S->rotx, S->roty, S->rotz);
    S->ratio = nb_dot(S->beam, o_rot);
    if (S->ratio == 0.0)
        S->ratio = NB_DBL_MIN;
    /* 2. distances */
    if (S->close_distance < 0.0)
        S->close_distance = fabs(S->ratio * S->distance);
    S->distance = S->close_distance / S->ratio;
    S->trace_fbeam_in = S->Fbeam;
    S->trace_sbeam_in = S->Sbeam;
    S->trace_dist_in = S->distance;
    S->trace_fclose_in = S->Fclose;
    S->trace_sclose_in = S->Sclose;
    S->trace_close_in = S->close_distance;
    /* 3. SAMPLE pivot: origin from the unrotated axes, then rotated */
    if (S->pivot == PIVOT_SAMPLE) {
        for (k = 0; k < 3; k++)
            S->pix0[k] = -S->Fclose * S->fdet[k] - S->Sclose * S->sdet[k] +
                         S->close_distance * S->odet[k];
        nb_rotate_xyz(S->pix0, S->pix0, S->rotx, S->roty, S->rotz);
        nb_rotate_axis(S->pix0, S->pix0, S->twotheta_axis, S->twotheta);
    }
    /* 4. orient the detector */
    nb_rotate_xyz(S->fdet, v, S->rotx, S->roty, S->rotz);
    nb_rotate_axis(v, S->fdet, S->twotheta_axis, S->twotheta);
    nb_rotate_xyz(S->sdet, v, S->rotx, S->roty, S->rotz);
    nb_rotate_axis(v, S->sdet, S->twotheta_axis, S->twotheta);
    nb_rotate_xyz(S->odet, v, S->rotx, S->roty, S->rotz);
    nb_rotate_axis(v, S->odet, S->twotheta_axis, S->twotheta);
    /* 5. BEAM pivot: origin from the rotated axes */
    if (S->pivot == PIVOT_BEAM) {
        for (k = 0; k < 3; k++) {
            tf[k] = -S->Fbeam * S->fdet[k];
            ts[k] = S->Sbeam * S->sdet[k];
            tb[k] = S->distance * S->beam[k];
            S->pix0[k] = tf[k] - ts[k] + tb[k];
            ts[k] = -ts[k];
        }
    }
    /* Q6 corrected: the user's origin replaces the computed one */
    if (!S->prof.pix0_vector_ignored && S->user_pix0_set) {
        for (k = 0; k < 3; k++)
            S->pix0[k] = S->user_pix0[k];
    }
    if (S->ntrace > 0)
        nb_trace_runlevel(S, tf, ts, tb);
    /* 6. derived quantities */
    derive_from_pix0(S);
    printf("XDS incident beam: %g %g %g\n", nb_dot(S->beam, S->fdet), nb_dot(S->beam, S->sdet),
           nb_dot(S->beam, S->odet));
}
