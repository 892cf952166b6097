/* Orchestration of one run in the order of docs/behaviour/physics.md §1.7 and the report of
 * docs/behaviour/cli.md §8. */
#include "nb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *shape_name(int shape)
{
    switch (shape) {
    case SHAPE_ROUND: return "ellipsoidal";
    case SHAPE_GAUSS: return "gaussian";
    case SHAPE_TOPHAT: return "tophat-spot";
    default: return "parallelpiped";
    }
}

static void crystal_size_and_oversample(nb_sim *S)
{
    double la = nb_mag(S->a0), lb = nb_mag(S->b0), lc = nb_mag(S->c0);
    double xtal_max, recip_pix;
    int nrec;
    if (S->sample_x > 0.0)
        S->Na = ceil(S->sample_x / la);
    if (S->sample_y > 0.0)
        S->Nb = ceil(S->sample_y / lb);
    if (S->sample_z > 0.0)
        S->Nc = ceil(S->sample_z / lc);
    if (S->Na <= 1.0)
        S->Na = 1.0;
    if (S->Nb <= 1.0)
        S->Nb = 1.0;
    if (S->Nc <= 1.0)
        S->Nc = 1.0;
    printf("crystal is %g x %g x %g microns\n", S->Na * la * 1e6, S->Nb * lb * 1e6,
           S->Nc * lc * 1e6);
    xtal_max = S->Na * la;
    if (S->Nb * lb > xtal_max)
        xtal_max = S->Nb * lb;
    if (S->Nc * lc > xtal_max)
        xtal_max = S->Nc * lc;
    recip_pix = S->lambda0 * S->distance / S->pixel;
    {
        double r = ceil(3.0 * xtal_max / recip_pix);
        nrec = (r >= 1.0 && r < 1e6) ? (int)r : 1;
    }
    if (S->user_oversample <= 0) {
        S->oversample = nrec;
        printf("auto-selected %d-fold oversampling\n", S->oversample);
    } else {
        S->oversample = S->user_oversample;
        if (S->oversample < nrec) {
            printf("WARNING: maximum dimension of sample is %g A\n", xtal_max * 1e10);
            printf("         but reciprocal pixel size is %g A\n", recip_pix * 1e10);
            printf("         intensity may vary significantly across a pixel!\n");
            printf("         recommend -oversample %d to work around this\n", nrec);
        }
    }
    printf("approximate MW = %g\n", 1.2e6 * (la * lb * lc) * NB_AVOGADRO);
}

static void print_summary(const nb_sim *S)
{
    double pn[3];
    printf("  %d initialized hkls (all others =%g)\n", S->hkls, S->default_F);
    printf("  %s xtal: %.0fx%.0fx%.0f cells\n", shape_name(S->shape), S->Na, S->Nb, S->Nc);
    printf("  wave=%g meters +/- %g%% in %d steps\n", S->lambda0, S->dispersion * 100.0,
           S->dispsteps);
    if (S->nopolar)
        printf("  polarization effect disabled\n");
    else
        printf("  Kahn polarization factor: %f\n", S->polar_K);
    if (S->curved)
        printf("  curved detector: all pixels same distance from origin\n");
    if (S->point_pixel)
        printf("  pixel obliquity effect disabled\n");
    printf("  incident fluence: %lg photons/m^2\n", S->fluence);
    printf("  distance=%lg detsize=%lgx%lg  pixel=%lg meters (%dx%d pixels)\n", S->distance,
           S->detsize_f, S->detsize_s, S->pixel, S->fpixels, S->spixels);
    printf("  sensor is %lg m thick in %d layers with mu= %lg\n", S->thickness, S->thicksteps,
           S->mu);
    printf("  Xbeam=%lg Ybeam=%lg\n", S->Xbeam, S->Ybeam);
    printf("  Fbeam=%lg Sbeam=%lg\n", S->Fbeam, S->Sbeam);
    printf("  Xclose=%lg Yclose=%lg\n", S->Xclose, S->Yclose);
    printf("  Fclose=%lg Sclose=%lg\n", S->Fclose, S->Sclose);
    printf("  DIRECTION_OF_DETECTOR_X-AXIS= %g %g %g\n", S->fdet[0], S->fdet[1], S->fdet[2]);
    printf("  DIRECTION_OF_DETECTOR_Y-AXIS= %g %g %g\n", S->sdet[0], S->sdet[1], S->sdet[2]);
    printf("  DIRECTION_OF_DETECTOR_Z-AXIS= %g %g %g\n", S->odet[0], S->odet[1], S->odet[2]);
    printf("  INCIDENT_BEAM_DIRECTION= %g %g %g\n", S->beam[0], S->beam[1], S->beam[2]);
    printf("  spindle ROTATION_AXIS= %g %g %g\n", S->spindle[0], S->spindle[1], S->spindle[2]);
    nb_cross(S->beam, S->polar_vec, pn);
    printf("  POLARIZATION_PLANE_NORMAL= %g %g %g\n", pn[0], pn[1], pn[2]);
    printf("  dials origin= %g %g %g\n", S->dials_origin[0], S->dials_origin[1],
           S->dials_origin[2]);
    printf("  roi: %d < x < %d && %d < y < %d\n", S->roi_xmin, S->roi_xmax, S->roi_ymin,
           S->roi_ymax);
    printf("  hdivrange=%g hdivstep=%g  radians\n", S->hdivrange, S->hdivstep);
    printf("  vdivrange=%g vdivstep=%g  radians\n", S->vdivrange, S->vdivstep);
    printf("  %d divergence steps\n", S->divsteps_printed);
    printf("  %d sources\n", S->nsources);
    printf("  %d mosaic domains over mosaic spread of %g degrees\n", S->mosaic_domains,
           S->mosaic_spread * NB_RTD);
    printf("  %d phi steps from %g to %g degrees\n", S->phisteps, S->phi0 * NB_RTD,
           (S->phi0 + S->osc) * NB_RTD);
    printf("  %dx%d pixel oversample steps", S->oversample, S->oversample);
    if (S->oversample_thick)
        printf(" +thick");
    if (S->oversample_polar)
        printf(" +polar");
    if (S->oversample_omega)
        printf(" +omega");
    printf("\n");
    if (S->maskimage)
        printf("  skipping zero-flagged pixels in %s\n", S->maskfile);
    if (S->write_noise) {
        printf("\n  noise image paramters:\n");
        printf("  seed: %ld\n", S->seed);
        printf("  water droplet size: %g m\n", S->water);
    }
}

int main(int argc, char **argv)
{
    static nb_sim sim;
    nb_sim *S = &sim;
    int k;

    nb_defaults(S);
    S->argc = argc;
    S->argv = argv;
    switch (nb_contact_request(argc, argv)) {
    case 1:
        nb_help(S);
        return 0;
    case 2:
        printf("torchbragg-cref %s\n", NB_VERSION);
        return 0;
    default:
        break;
    }
    nb_install_signals();
    nb_check_argv(S);
    nb_prepass(S);
    if (S->maskfile)
        nb_read_smv_header(S, S->maskfile, 1);
    if (S->imgfile)
        nb_read_smv_header(S, S->imgfile, 0);
    nb_parse(S);

    if (S->matfile)
        nb_check_mat(S->matfile);
    if (S->sourcefile)
        nb_check_sources(S->sourcefile);
    nb_check_outputs(S);
    nb_detector_pixels(S);
    if (S->fpixels <= 0 || S->spixels <= 0 || (double)S->fpixels * S->spixels > 4e9)
        nb_fatal("ERROR: detector size %d x %d pixels is not usable (check -detpixels, "
                 "-detsize, -pixel)", S->fpixels, S->spixels);
    nb_beam_fluence(S);
    if (S->roi_xmin < 0) S->roi_xmin = 0;
    if (S->roi_xmax < 0) S->roi_xmax = S->fpixels;
    if (S->roi_ymin < 0) S->roi_ymin = 0;
    if (S->roi_ymax < 0) S->roi_ymax = S->spixels;
    nb_install_convention(S);

    printf("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17\n");
    if (S->hklfile == NULL && !nb_read_fdump(S, 1) && S->default_F == 0.0) {
        printf("ERROR: no hkl file and no dump file to read.");
        nb_usage(S);
        exit(NB_EXIT_USAGE);
    }
    if (S->matfile == NULL && !(S->user_cell && S->cell[0] > 0.0)) {
        nb_usage(S);
        exit(NB_EXIT_USAGE);
    }

    nb_resolve_sampling(S);
    nb_detector_setup(S);
    if (S->interpolate < 0) {
        S->interpolate = (S->Na <= 2 || S->Nb <= 2 || S->Nc <= 2) ? 1 : 0;
        printf("%s\n", S->interpolate ? "auto-selected tricubic interpolation of structure factors"
                                       : "auto-selected no interpolation");
    }
    nb_build_crystal(S);
    crystal_size_and_oversample(S);

    {
        /* work and memory estimate before anything large is allocated */
        double nsrc = (double)S->hdivsteps * S->vdivsteps * S->dispsteps;
        if (S->sourcefile)
            nsrc = 1.0; /* bounded by the file, already read in full by the check */
        nb_check_limits(S, nsrc, S->oversample);
    }
    if (S->hklfile)
        nb_read_hkl(S);
    else if (nb_read_fdump(S, 1))
        nb_read_fdump(S, 0);
    else
        S->hkls = 0;
    if (S->hkls == 0)
        S->interpolate = 0;
    if (S->stolfile)
        nb_read_stol(S);

    for (k = 0; k < S->thicksteps; k++)
        printf("thick%d = %g um\n", k, k * S->thickstep * 1e6);
    for (k = 0; k < S->phisteps; k++)
        printf("phi%d = %g\n", k, (S->phi0 + S->phistep * k) * NB_RTD);
    nb_make_sources(S);
    nb_make_mosaic(S);
    S->steps = (double)S->nsources * S->mosaic_domains * S->phisteps * S->oversample *
               S->oversample;
    S->I_bg = 2.57 * 2.57 * NB_R_E_SQR * S->fluence * S->water * S->water * S->water * 1e6 *
              NB_AVOGADRO / 18.0;
    print_summary(S);
    fflush(stdout);

    nb_render(S);
    nb_write_outputs(S);
    fflush(stdout);

    free(S->floatimage);
    free(S->Fgrid);
    free(S->src_pos);
    free(S->src_dir);
    free(S->src_lambda);
    free(S->src_weight);
    free(S->mosaic_umats);
    free(S->maskimage);
    free(S->trace);
    return 0;
}
