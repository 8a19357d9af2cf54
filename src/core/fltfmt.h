/* fltfmt.h - the one shortest round-trip float formatter.
 *
 * Go (strconv 'g' -1) and Python (repr) both print a double with the fewest
 * decimal digits that read back as the same double; they differ only in
 * where they put the point and how they write the exponent.  This module
 * finds those digits once; gojson.c and pyjson.c lay them out. */
#ifndef CORE_FLTFMT_H
#define CORE_FLTFMT_H

#define FLTFMT_DIGITS_MAX 18   /* 17 significant digits + NUL */

/* Shortest decimal digits of |f| (finite) that round-trip: writes them to
 * digits (no dot, no trailing zeros, NUL-terminated), sets *exp10 to the
 * decimal exponent of the first digit, returns the digit count (>= 1).
 * 0 gives "0" with exponent 0. */
int fltfmt_shortest(double f, char digits[FLTFMT_DIGITS_MAX], int *exp10);

#endif
