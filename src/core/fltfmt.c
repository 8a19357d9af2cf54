/* fltfmt.c - see fltfmt.h.  The digits come from printf's correctly rounded
 * %.*e at increasing precision; the first that strtod reads back exactly is
 * the shortest (17 significant digits always do). */
#include "core/fltfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fltfmt_shortest(double f, char digits[FLTFMT_DIGITS_MAX], int *exp10)
{
    char tmp[40];
    f = fabs(f);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f || prec == 17)
            break;
    }
    /* tmp looks like d[.ddd]e[+-]xx */
    char *e = strchr(tmp, 'e');
    *exp10 = atoi(e + 1);
    int n = 0;
    for (char *p = tmp; p < e; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    return n;
}
