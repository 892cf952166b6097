/* Native helper for torchbragg.io.hkl_plain: the bulk reading of a plain HKL file
 * (docs/behaviour/formats.md §2) in one pass over its bytes, written from that specification.
 *
 * A plain file uses only digits, '+', '-', '.', spaces and line feeds; each non-blank line
 * holds four tokens; h, k, l are signed integers of one to nine digits; F is a signed decimal
 * number with at most one point, at least one digit and fewer than 300 characters; a sign
 * only as a token's first character. Any other file is not plain (the caller's exact path
 * reads it). A token's value: with at most 15 digits, the integer m of its digits (exact in
 * binary64) divided by 10^f, f the digits after the point (one correctly rounded division of
 * exact operands); else strtod's correctly rounded value. Both are the value the C's %lg
 * gives, negated for a leading '-' (so "-0" is −0.0).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 10^0 … 10^22, each exact in binary64 */
static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The value of the plain token t[0 .. len − 1], or 0 with *ok = 0 where it breaks the rules
 * (``index``: h, k or l). */
static double token_value(const char *t, int64_t len, int index, int *ok)
{
    int64_t i = 0, digits = 0, points = 0, after = 0;
    int negative = 0;
    int64_t m = 0;
    if (t[0] == '+' || t[0] == '-') {
        negative = t[0] == '-';
        i = 1;
    }
    for (; i < len; i++) {
        char c = t[i];
        if (c >= '0' && c <= '9') {
            if (digits < 15)
                m = m * 10 + (c - '0');
            digits++;
            after += points;
        } else if (c == '.') {
            points++;
        } else { /* a sign inside the token */
            *ok = 0;
            return 0.0;
        }
    }
    if (digits < 1 || (index ? (points != 0 || digits > 9) : (points > 1 || len >= 300))) {
        *ok = 0;
        return 0.0;
    }
    double value;
    if (digits <= 15 && after <= 22) {
        value = (double)m / pow10_exact[after];
    } else {
        char buf[301];
        memcpy(buf, t, (size_t)len);
        buf[len] = 0;
        value = strtod(buf, NULL);
        return value; /* (strtod keeps the sign) */
    }
    return negative ? -value : value;
}

/* The records of the plain file data[0 .. n − 1] into out (h, k, l, F per record; room for
 * ``cap`` values). Returns the number of values written, or −1 where the file is not plain
 * or the values do not fit. */
int64_t tb_hkl_plain(const char *data, int64_t n, double *out, int64_t cap)
{
    int64_t count = 0, on_line = 0, i = 0;
    while (i < n) {
        char c = data[i];
        if (c == ' ') {
            i++;
            continue;
        }
        if (c == '\n') {
            if (on_line != 0 && on_line != 4)
                return -1;
            on_line = 0;
            i++;
            continue;
        }
        int64_t start = i;
        while (i < n && data[i] != ' ' && data[i] != '\n') {
            char d = data[i];
            if (!((d >= '0' && d <= '9') || d == '+' || d == '-' || d == '.'))
                return -1;
            i++;
        }
        if (on_line == 4 || count >= cap)
            return -1;
        int ok = 1;
        out[count] = token_value(data + start, i - start, on_line < 3, &ok);
        if (!ok)
            return -1;
        count++;
        on_line++;
    }
    if (on_line != 0 && on_line != 4)
        return -1;
    return count;
}

/* The smallest and largest h, k and l of n records (h, k, l, F each) into lo[3], hi[3]:
 * the records of a plain file, whose indices are whole numbers below 10^9 in magnitude. */
void tb_hkl_extent(const double *rec, int64_t n, double *lo, double *hi)
{
    for (int a = 0; a < 3; a++) {
        lo[a] = n ? rec[a] : 0.0;
        hi[a] = lo[a];
    }
    for (int64_t i = 1; i < n; i++)
        for (int a = 0; a < 3; a++) {
            double x = rec[4 * i + a];
            lo[a] = x < lo[a] ? x : lo[a];
            hi[a] = x > hi[a] ? x : hi[a];
        }
}

/* The second pass's stores of n plain records into grid[s0][s1][s2] (row-major), whose
 * node [0][0][0] is index (h0, k0, l0): in record order, so the last of duplicate indices
 * wins, as in the C's reading loop; a record outside the grid is skipped. */
void tb_hkl_store(const double *rec, int64_t n, double *grid, int64_t s0, int64_t s1,
                  int64_t s2, int64_t h0, int64_t k0, int64_t l0)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t h = (int64_t)rec[4 * i] - h0, k = (int64_t)rec[4 * i + 1] - k0,
                l = (int64_t)rec[4 * i + 2] - l0;
        if (h < 0 || h >= s0 || k < 0 || k >= s1 || l < 0 || l >= s2)
            continue;
        grid[(h * s1 + k) * s2 + l] = rec[4 * i + 3];
    }
}
