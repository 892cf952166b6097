/* Strict checks (README "Exit status and errors"): input files before they
 * are read, output names and folders, work and memory limits.  The command line is checked in nb_check_argv.c, numbers are parsed
 * by nb_check_num.c.
 *
 * Same rules as the Python CLI (torchbragg/cli/limits.py and the strict readers in io/
 * readers). */
#define _POSIX_C_SOURCE 200809L
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#include <sys/ioctl.h>
#endif
#include <fcntl.h>

/* ------------------------------------------------------------- input files */
static char *slurp(const char *flag, const char *file, size_t *len)
{
    FILE *fp = nb_open_input(flag, file);
    char *buf;
    size_t cap = 1 << 16, n = 0, got;
    if (fp == NULL)
        nb_fatal("ERROR: %s %s: cannot open: %s", flag, file, strerror(errno));
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
        if (!nb_is_digit((unsigned char)*s++))
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
        while (*p && nb_is_space((unsigned char)*p)) {
            lineno += (*p == '\n');
            p++;
        }
        if (!*p)
            break;
        start = p;
        while (*p && !nb_is_space((unsigned char)*p))
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
    if (!isfinite(det) || !isfinite(scale * scale * scale))
        nb_fatal("ERROR: -mat %s: matrix values too large (largest %g; the reciprocal cell would "
                 "overflow)", file, scale);
    if (!(fabs(det) > 1e-12 * scale * scale * scale))
        nb_fatal("ERROR: -mat %s: the orientation matrix is singular (determinant %g)", file, det);
}

/* X Y Z [weight [wavelength]] per non-blank line (docs/behaviour/formats.md §5) */
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
static void output_error(const char *path, const char *why, const char *detail)
{
    fflush(stdout);
    fprintf(stderr, "ERROR: cannot write %s: %s%s\n", path, why, detail ? detail : "");
    exit(NB_EXIT_OUTPUT);
}

/* an existing regular file whose inode flags forbid replacing it (chattr +i / +a) */
static int immutable(const char *path)
{
#if defined(__linux__) && defined(FS_IOC_GETFLAGS)
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY), flags = 0, bad = 0;
    if (fd < 0)
        return 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0)
        bad = (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0;
    close(fd);
    return bad;
#else
    (void)path;
    return 0;
#endif
}

/* everything that would make the final rename fail is refused before rendering (exit 10) */
static void check_one_output(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    struct stat st;
    long name_max;
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (path[0] == '\0')
        output_error(path, "empty file name", NULL);
    if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        output_error(path, "the name ends in '/' (or is . or ..): a folder, not a file", NULL);
    if (strlen(path) + 1 > sizeof(dir))
        output_error(path, "the name is too long", NULL);
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
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
    name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0)
        name_max = 255;
    if ((long)strlen(base) > name_max)
        output_error(path, "the file name is longer than the folder allows", NULL);
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode) || (stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
            output_error(path, "it is a folder", NULL);
        if (S_ISREG(st.st_mode) && immutable(path))
            output_error(path, "the file is immutable or append-only (chattr)", NULL);
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

/* bytes: TORCHBRAGG_MAX_MEMORY, else the machine's physical memory */
double nb_max_memory(void)
{
    return env_number("TORCHBRAGG_MAX_MEMORY",
                      (double)sysconf(_SC_PAGESIZE) * (double)sysconf(_SC_PHYS_PAGES));
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
    double max_mem = nb_max_memory();
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
