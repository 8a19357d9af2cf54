/* gojson_scan.h - reading JSON exactly as Go's encoding/json reads it.
 *
 * gojson.c writes Go's JSON bytes; this is the reading side, for input that
 * must be judged as a Go program judges it (the work-signing JWTs of
 * work/sign.c).  jansson differs from Go on hostile input (its depth limit,
 * integers beyond 64 bits, invalid UTF-8, NUL escapes), so:
 *   - the scanner is a port of encoding/json's scanner: same error texts
 *     ("invalid character 'x' looking for beginning of value", "unexpected
 *     end of JSON input"), same 10000-level depth limit, no recursion;
 *   - the walker (spans, next member/element, unquote) moves only over text
 *     the scanner accepted: no tree, nothing that grows with nesting. */
#ifndef CORE_GOJSON_SCAN_H
#define CORE_GOJSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define GOJSON_MAX_DEPTH 10000   /* Go's encoding/json maxNestingDepth */

struct gojson_scanner;
typedef int (*gojson_scan_fn)(struct gojson_scanner *, uint8_t);

/* About 10 KB (the depth stack): allocate it, do not put it on the stack. */
struct gojson_scanner {
    gojson_scan_fn step;
    int end_top, failed;
    const char *literal; /* "true", "false" or "null" being matched */
    size_t literal_pos, hex_left, depth;
    uint8_t stack[GOJSON_MAX_DEPTH + 1];
    char err[96];        /* Go's error text after a failed scan */
};

/* json.Unmarshal's checkValid: p[0..n) must be exactly one value.  0, or -1
 * with s->err. */
int gojson_scan_whole(struct gojson_scanner *s, const uint8_t *p, size_t n);
/* json.Decoder.Decode's read of the first value: 0 with *end past it (what
 * follows is ignored), or -1 with s->err ("EOF", "unexpected EOF", ...). */
int gojson_scan_first(struct gojson_scanner *s, const uint8_t *p, size_t n, size_t *end);

/* ---- walking validated text ---- */

enum gojson_kind { GOJSON_OBJECT, GOJSON_ARRAY, GOJSON_STRING, GOJSON_NUMBER, GOJSON_BOOL, GOJSON_NULL };

struct gojson_span {
    size_t at, end;   /* p[at..end) */
};

/* The kind of the value starting with byte c. */
enum gojson_kind gojson_kind_of(uint8_t c);
/* Go's name for a JSON value in UnmarshalTypeError ("object", "number"). */
const char *gojson_kind_name(enum gojson_kind k);
/* The Go type an interface{} gets for it ("map[string]interface {}"). */
const char *gojson_go_type(enum gojson_kind k);
size_t gojson_skip_ws(const uint8_t *p, size_t n, size_t i);
/* Past the string literal starting at p[i]. */
size_t gojson_skip_string(const uint8_t *p, size_t n, size_t i);
/* Past the (valid) value at p[i]. */
size_t gojson_skip_value(const uint8_t *p, size_t n, size_t i);
/* Next member of the object whose '{' or last value ends at *pos: 1 with
 * key and val (key includes its quotes), 0 at the end. */
int gojson_next_member(const uint8_t *p, size_t n, size_t *pos, struct gojson_span *key,
                       struct gojson_span *val);
/* Next element of the array whose '[' or last element ends at *pos. */
int gojson_next_element(const uint8_t *p, size_t n, size_t *pos, struct gojson_span *val);
/* Go's unquote of the (valid) string literal s: escapes resolved, invalid
 * UTF-8 and lone surrogate escapes replaced by U+FFFD.  malloc'ed and
 * NUL-terminated; *len excludes the NUL (the text may contain "\u0000"). */
char *gojson_unquote(const uint8_t *p, struct gojson_span s, size_t *len);
/* Go's %q of raw bytes (the raw JSON text of a value in an error), truncated
 * to fit out. */
void gojson_quote(const uint8_t *p, size_t n, char *out, size_t outlen);

#endif
