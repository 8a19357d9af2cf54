/* pyjson.h - JSON text exactly as Python's json module reads and writes it.
 *
 * ansible-runner writes every control line, event and artifact file with
 * json.dumps() defaults ("PyJSON"): ", " and ": " separators, everything
 * outside printable ASCII escaped as lowercase \uXXXX (surrogate pairs above
 * the BMP), floats in repr() form, NaN/Infinity literals, no newline.
 *
 * Rather than building a tree, this module works on text spans:
 *   - pyjson_canon() validates a JSON text with json.loads() rules and
 *     rewrites it in canonical PyJSON (big integers and lone surrogates are
 *     kept exactly, as Python keeps them);
 *   - pyjson_members() walks the top-level members of an object and hands
 *     out each decoded key with the raw span of its value;
 *   - pyjson_dump() writes a jansson value (our own data) in PyJSON.
 * The stream parser, the event merger and the processor are built on these,
 * so memory is proportional to one line, never to a tree of it. */
#ifndef RUNNER_PYJSON_H
#define RUNNER_PYJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

enum pyjson_type {
    PYJSON_INVALID = 0,
    PYJSON_OBJECT,
    PYJSON_ARRAY,
    PYJSON_STRING,
    PYJSON_INT,
    PYJSON_FLOAT,   /* includes NaN / Infinity */
    PYJSON_TRUE,
    PYJSON_FALSE,
    PYJSON_NULL,
};

/* Canonical PyJSON of text[0..n) appended to out.  ensure_ascii selects
 * json.dumps' default escaping (true) or ensure_ascii=False (raw UTF-8).
 * Returns the top-level type, or PYJSON_INVALID (out then holds garbage). */
enum pyjson_type pyjson_canon(const char *text, size_t n, bool ensure_ascii,
                              struct buf *out);

/* Type of the JSON value text[0..n) (validated); PYJSON_INVALID on error. */
enum pyjson_type pyjson_type_of(const char *text, size_t n);

/* One member of a top-level object. */
struct pyjson_member {
    const char *key;     /* decoded UTF-8, NUL-terminated (valid until next call) */
    size_t key_len;
    const char *val;     /* raw value text */
    size_t val_len;
    enum pyjson_type type;
};

typedef int (*pyjson_member_fn)(const struct pyjson_member *m, void *ctx);

/* Walks the members of the object text[0..n) in order.  Returns the top-level
 * type (members are visited only for objects), PYJSON_INVALID on a syntax
 * error; a non-zero return of fn stops the walk and is returned negated
 * as -(rc) (always < 0). */
int pyjson_members(const char *text, size_t n, pyjson_member_fn fn, void *ctx);

/* Finds member key in object text; fills *m and returns 1, 0 if absent,
 * -1 on invalid JSON or a non-object. */
int pyjson_find(const char *text, size_t n, const char *key, struct pyjson_member *m);

/* Value helpers on raw value spans. */
bool pyjson_truthy(const char *val, size_t n, enum pyjson_type t);
/* Decodes a JSON string literal span into out (UTF-8, lone surrogates as
 * WTF-8).  0 on success. */
int pyjson_unquote(const char *val, size_t n, struct buf *out);
/* Parses an integer span; 0 on success, -1 on overflow or not an integer. */
int pyjson_int(const char *val, size_t n, long long *out);

/* Writes s[0..n) (UTF-8; invalid bytes become U+FFFD as Python's
 * errors='replace' does) as a PyJSON string literal. */
int pyjson_put_string(struct buf *out, const char *s, size_t n, bool ensure_ascii);
/* Writes a double as Python's repr() / json.dumps does. */
int pyjson_put_float(struct buf *out, double d);
/* Writes a jansson value as PyJSON (objects in insertion order). */
int pyjson_dump(const json_t *v, bool ensure_ascii, struct buf *out);
/* Same, with json.dumps(indent=4) layout (registry auth files). */
int pyjson_dump_indent(const json_t *v, struct buf *out);

#endif
