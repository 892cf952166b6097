/* Normalised per-pixel trace lines (docs/behaviour/trace.md §5, §6): "TRACE_C: <name> <values>". */
#include "nb.h"

int nb_line_open = 0;

static void fresh_line(void)
{
    if (nb_line_open) {
        putchar('\n');
        nb_line_open = 0;
    }
}

void nb_trace_num(const char *name, double v)
{
    fresh_line();
    printf("TRACE_C: %s %.15g\n", name, v);
}

void nb_trace_vec(const char *name, const double *v, int n, double scale)
{
    int k;
    fresh_line();
    printf("TRACE_C: %s", name);
    for (k = 0; k < n; k++)
        printf(" %.15g", scale == 1.0 ? v[k] : v[k] * scale);
    printf("\n");
}

void nb_trace_int(const char *name, int v)
{
    fresh_line();
    printf("TRACE_C: %s %d\n", name, v);
}

void nb_trace_ints(const char *name, const int *v, int n)
{
    int k;
    fresh_line();
    printf("TRACE_C: %s", name);
    for (k = 0; k < n; k++)
        printf(" %d", v[k]);
    printf("\n");
}

void nb_trace_word(const char *name, const char *w)
{
    fresh_line();
    printf("TRACE_C: %s %s\n", name, w);
}

/* docs/behaviour/trace.md §6.2 item 1: run-level block, once, before any pixel is rendered */
void nb_trace_runlevel(const nb_sim *S, const double *term_f, const double *term_s,
                       const double *term_b)
{
    static const char *conv[] = {"MOSFLM", "XDS", "ADXV", "DENZO", "DIALS", "CUSTOM"};
    int k;
    for (k = 0; k < S->ntrace; k++)
        printf("TRACE_C: trace_pixel %d %d\n", S->trace[k].s, S->trace[k].f);
    nb_trace_word("detector_convention", conv[S->convention]);
    nb_trace_word("detector_pivot", S->pivot == PIVOT_SAMPLE ? "SAMPLE" : "BEAM");
    nb_trace_num("detector_rotx_rad", S->rotx);
    nb_trace_num("detector_roty_rad", S->roty);
    nb_trace_num("detector_rotz_rad", S->rotz);
    nb_trace_num("detector_twotheta_rad", S->twotheta);
    nb_trace_vec("twotheta_axis", S->twotheta_axis, 3, 1.0);
    nb_trace_vec("fdet_after_twotheta", S->fdet, 3, 1.0);
    nb_trace_vec("sdet_after_twotheta", S->sdet, 3, 1.0);
    nb_trace_vec("odet_after_twotheta", S->odet, 3, 1.0);
    if (S->pivot == PIVOT_BEAM) {
        nb_trace_num("Fbeam_m", S->trace_fbeam_in);
        nb_trace_num("Sbeam_m", S->trace_sbeam_in);
        nb_trace_num("distance_m", S->trace_dist_in);
        nb_trace_vec("term_fast", term_f, 3, 1.0);
        nb_trace_vec("term_slow", term_s, 3, 1.0);
        nb_trace_vec("term_beam", term_b, 3, 1.0);
    } else {
        nb_trace_num("Fclose_m", S->trace_fclose_in);
        nb_trace_num("Sclose_m", S->trace_sclose_in);
        nb_trace_num("close_distance_m", S->trace_close_in);
        nb_trace_num("ratio", S->ratio);
    }
    nb_trace_vec("pix0_vector", S->pix0, 3, 1.0);
}
