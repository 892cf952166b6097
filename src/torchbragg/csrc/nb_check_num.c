/* Strict number parsing (README "Exit status and errors"), shared by the
 * command-line checks (nb_check_argv.c) and the input-file checks (nb_check.c).
 *
 * Same rules as the Python CLI (torchbragg/cli/cnum.py). Every value accepted here converts
 * to exactly the number atof/atoi give, so the lenient scan in nb_cli.c then behaves as
 * before for every accepted command line. */
#include "nb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------- numbers */
int nb_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int nb_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* [ws] [+-] (digits [. digits] | . digits) [(e|E) [+-] digits] [ws], finite */
int nb_strict_real(const char *s, double *out)
{
    const char *p = s;
    int nd = 0;
    while (nb_is_space((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    while (nb_is_digit((unsigned char)*p)) {
        p++;
        nd++;
    }
    if (*p == '.') {
        p++;
        while (nb_is_digit((unsigned char)*p)) {
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
        while (nb_is_digit((unsigned char)*p)) {
            p++;
            ne++;
        }
        if (ne == 0)
            return 0;
    }
    while (nb_is_space((unsigned char)*p))
        p++;
    if (*p != '\0')
        return 0;
    *out = strtod(s, NULL);
    return isfinite(*out) ? 1 : 0;
}

/* [ws] [+-] digits [. zeros] [ws], within [lo, hi] */
int nb_strict_long(const char *s, long lo, long hi, long *out)
{
    const char *p = s;
    int nd = 0;
    long v = 0;
    while (nb_is_space((unsigned char)*p))
        p++;
    if (*p == '+' || *p == '-')
        p++;
    while (nb_is_digit((unsigned char)*p)) {
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
    while (nb_is_space((unsigned char)*p))
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
