/* godur.c - see godur.h.  Follows the behaviour of Go's time package. */
#include "core/godur.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; int64_t ns; } units[] = {
    { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
    { "ms", 1000000 }, { "s", 1000000000 }, { "m", 60LL * 1000000000 },
    { "h", 3600LL * 1000000000 },
};

int godur_parse(const char *s, int64_t *out, char *err, size_t errlen)
{
    const char *orig = s;
    int neg = 0;
    double total = 0;
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (*s == 0)
        goto bad;
    while (*s) {
        const char *start = s;
        double v = 0, frac = 0, scale = 1;
        while (*s >= '0' && *s <= '9')
            v = v * 10 + (*s++ - '0');
        int had_int = s > start;
        int had_frac = 0;
        if (*s == '.') {
            s++;
            const char *fs = s;
            while (*s >= '0' && *s <= '9') {
                scale /= 10;
                frac += (*s++ - '0') * scale;
            }
            had_frac = s > fs;
        }
        if (!had_int && !had_frac)
            goto bad;
        size_t best = 0;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t l = strlen(units[i].name);
            if (strncmp(s, units[i].name, l) == 0 && l > best) {
                best = l;
                mult = units[i].ns;
            }
        }
        if (!best) {
            snprintf(err, errlen, "time: missing unit in duration \"%s\"", orig);
            return -1;
        }
        s += best;
        total += (v + frac) * (double)mult;
        if (total > 9.2e18)
            goto bad;
    }
    *out = (int64_t)(neg ? -total : total);
    return 0;
bad:
    snprintf(err, errlen, "time: invalid duration \"%s\"", orig);
    return -1;
}

/* Writes v / 10^prec with trailing zeros (and a bare dot) removed. */
static int fmt_frac(char *out, size_t len, uint64_t v, int prec)
{
    uint64_t p10 = 1;
    for (int i = 0; i < prec; i++)
        p10 *= 10;
    uint64_t ip = v / p10, fp = v % p10;
    if (fp == 0)
        return snprintf(out, len, "%llu", (unsigned long long)ip);
    char fs[24];
    snprintf(fs, sizeof fs, "%0*llu", prec, (unsigned long long)fp);
    size_t n = strlen(fs);
    while (n > 0 && fs[n - 1] == '0')
        fs[--n] = 0;
    return snprintf(out, len, "%llu.%s", (unsigned long long)ip, fs);
}

size_t godur_format(int64_t ns, char *out, size_t outlen)
{
    int neg = ns < 0;
    uint64_t u = neg ? (uint64_t)(-(ns + 1)) + 1 : (uint64_t)ns;
    char body[64];
    if (u == 0) {
        snprintf(out, outlen, "0s");
        return strlen(out);
    }
    if (u < 1000000000ULL) {
        if (u < 1000)
            snprintf(body, sizeof body, "%lluns", (unsigned long long)u);
        else if (u < 1000000) {
            int n = fmt_frac(body, sizeof body, u, 3);
            snprintf(body + n, sizeof body - (size_t)n, "\xc2\xb5s");
        } else {
            int n = fmt_frac(body, sizeof body, u, 6);
            snprintf(body + n, sizeof body - (size_t)n, "ms");
        }
    } else {
        uint64_t secs_ns = u % 60000000000ULL;
        uint64_t mins = u / 60000000000ULL;
        uint64_t hours = mins / 60;
        mins %= 60;
        char sec[40];
        int n = fmt_frac(sec, sizeof sec, secs_ns, 9);
        snprintf(sec + n, sizeof sec - (size_t)n, "s");
        if (hours)
            snprintf(body, sizeof body, "%lluh%llum%s", (unsigned long long)hours,
                     (unsigned long long)mins, sec);
        else if (mins)
            snprintf(body, sizeof body, "%llum%s", (unsigned long long)mins, sec);
        else
            snprintf(body, sizeof body, "%s", sec);
    }
    snprintf(out, outlen, "%s%s", neg ? "-" : "", body);
    return strlen(out);
}
