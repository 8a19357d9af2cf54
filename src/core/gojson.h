/* gojson.h - JSON text exactly as Go's encoding/json writes it.
 *
 * Receptor peers compare and forward JSON produced by Go, so our encoders must
 * match it byte for byte: objects are written in the jansson object's
 * insertion order (Go struct field order) or, with GOJSON_SORT_KEYS, sorted
 * (Go maps); float64 values use Go's shortest formatting (1 -> "1",
 * 1e21 -> "1e+21"); strings escape <, >, & and U+2028/2029 and replace invalid
 * UTF-8 with U+FFFD.  Decoding uses jansson; gojson_get() does Go's
 * case-insensitive struct-field matching. */
#ifndef CORE_GOJSON_H
#define CORE_GOJSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"

#define GOJSON_SORT_KEYS 0x1   /* every object: sorted keys (Go map) */

int gojson_dump(const json_t *v, int flags, struct buf *out);
/* Returns a malloc'ed NUL-terminated string or NULL. */
char *gojson_dumps(const json_t *v, int flags);
/* Writes a float64 the way Go's encoding/json does. */
int gojson_float(double f, struct buf *out);
/* Writes a JSON string literal the way Go does. */
int gojson_string(const char *s, size_t n, struct buf *out);
/* Case-insensitive member lookup (exact match preferred, as Go does). */
json_t *gojson_get(const json_t *obj, const char *key);
/* Reads a number member as double (integer or real); -1 if absent/not a number. */
int gojson_get_number(const json_t *obj, const char *key, double *out);

/* A copy of a Go map (object) with keys inserted in sorted order, recursing
 * into nested objects (maps of maps); arrays and scalars are shared. */
json_t *gojson_sorted(json_t *obj);

#endif
