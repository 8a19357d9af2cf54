/* pyjson.h - JSON text exactly as Python's json module reads and writes it.
 *
 * The one Python-JSON module, used by ansible-runner-c (the span functions,
 * pyjson.c) and by receptorctl (the value tree, pyjson_value.c).  Both share
 * its string writer, float repr and \u parser, and core/utf8.
 *
 * ansible-runner writes every control line, event and artifact file with
 * json.dumps() defaults ("PyJSON"): ", " and ": " separators, everything
 * outside printable ASCII escaped as lowercase \uXXXX (surrogate pairs above
 * the BMP), floats in repr() form, NaN/Infinity literals, no newline.
 *
 * For the runner, rather than building a tree, the module works on text spans:
 *   - pyjson_canon() validates a JSON text with json.loads() rules and
 *     rewrites it in canonical PyJSON (big integers and lone surrogates are
 *     kept exactly, as Python keeps them);
 *   - pyjson_members() walks the top-level members of an object and hands
 *     out each decoded key with the raw span of its value;
 *   - pyjson_dump() writes a jansson value (our own data) in PyJSON.
 * The stream parser, the event merger and the processor are built on these,
 * so memory is proportional to one line, never to a tree of it. */
#ifndef CORE_PYJSON_H
#define CORE_PYJSON_H

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
/* Same with ensure_ascii, for a str that came from bytes with
 * surrogateescape (argv): an invalid byte becomes \udcXX, and a lone
 * surrogate kept in its 3-byte form is written back as \udXXX. */
int pyjson_put_string_escaped(struct buf *out, const char *s, size_t n);
/* Writes a double as json.dumps does (NaN, Infinity, else repr()). */
int pyjson_put_float(struct buf *out, double d);
/* Python's float repr (shortest round-trip, "1e-05", "inf", "nan"). */
void py_float_repr(double d, char *out, size_t outlen);
/* The code point of the \u escape whose 4 hex digits start s (avail bytes
 * left), joined with a following \uXXXX low surrogate as json.loads does.
 * Returns the bytes consumed after "\u" (4 or 10), 0 if not 4 hex digits. */
size_t pyjson_u_escape(const char *s, size_t avail, unsigned *cp);
/* Writes a jansson value as PyJSON (objects in insertion order). */
int pyjson_dump(const json_t *v, bool ensure_ascii, struct buf *out);
/* Same, with json.dumps(indent=4) layout (registry auth files). */
int pyjson_dump_indent(const json_t *v, struct buf *out);

/* ------------------------------------------------------------ value tree
 * pyjson_value.c: a parsed tree for receptorctl, which needs Python's
 * JSONDecodeError texts and prints values back with json.dumps(indent=4,
 * sort_keys=True), repr() and str().  Integers stay exact digit strings,
 * floats are stored as repr(), objects keep insertion order with a repeated
 * key overwriting in place, strings hold lone surrogates as 3-byte forms. */

enum pj_type { PJ_NULL, PJ_BOOL, PJ_INT, PJ_FLOAT, PJ_STR, PJ_ARRAY, PJ_OBJECT };

struct pj {
    enum pj_type type;
    bool boolean;
    char *text;         /* INT: digits as Python prints them; FLOAT: repr();
                           STR: UTF-8 (lone surrogates kept as 3-byte forms) */
    size_t len;         /* length of text */
    struct pj **items;  /* ARRAY items / OBJECT values, in order */
    char **keys;        /* OBJECT keys (UTF-8, NUL-terminated) */
    size_t *key_lens;
    size_t count;
};

/* Parses one JSON text as json.loads does; on failure err holds Python's
 * message ("Expecting value: line 1 column 1 (char 0)"). */
struct pj *pj_parse(const char *text, size_t len, struct buf *err);
void pj_free(struct pj *v);
struct pj *pj_get(const struct pj *obj, const char *key);
/* dict.pop(key): detaches and returns the value (caller frees), NULL if absent. */
struct pj *pj_pop(struct pj *obj, const char *key);
bool pj_truthy(const struct pj *v);
/* Compares a value with a Python int (True == 1, 1.0 == 1). */
bool pj_equals_int(const struct pj *v, long n);

/* json.dumps(v, indent=4, sort_keys=True) (ensure_ascii). */
int pj_dump_pretty(const struct pj *v, struct buf *out);
/* repr() and str() of a value. */
int pj_repr(const struct pj *v, struct buf *out);
int pj_str(const struct pj *v, struct buf *out);
int py_repr_str(const char *s, size_t n, struct buf *out);
/* Number of code points (Python len()) of UTF-8 text. */
size_t py_len(const char *s, size_t n);
/* f"{s:<width}": s followed by spaces up to width code points. */
int py_pad(struct buf *out, const char *s, size_t n, size_t width);
/* Python's float repr (shortest round-trip, "1e-05", "inf"). */
void py_float_repr(double d, char *out, size_t outlen);

#endif
