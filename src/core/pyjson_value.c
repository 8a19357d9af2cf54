/* pyjson_value.c - JSON values as Python's json module sees them: the
 * value-tree half of core/pyjson.h, used by receptorctl.
 *
 * Upstream receptorctl does json.loads() on the daemon's Go JSON and prints
 * with json.dumps(indent=4, sort_keys=True), repr() and f-strings.  To print
 * the same bytes we keep what Python would keep: integers stay exact digit
 * strings (Go's cost 1.0 arrives as "1" and Python prints 1), floats are
 * printed with Python's shortest repr, objects keep their insertion order
 * with a repeated key overwriting the first one's value in place, and
 * strings are decoded code points (stored as UTF-8; a lone \ud800 escape is
 * kept as its 3-byte form so that it can be printed back as \ud800).
 *
 * Parse errors carry Python's JSONDecodeError text. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pyjson.h"
#include "core/utf8.h"

#define PJ_MAX_DEPTH 512
#define PJ_STRING_MAX ((size_t)64 << 20)   /* a string is at most one line */

struct parser {
    const char *s;
    size_t n;
    size_t pos;
    struct buf *err;
    int depth;
};

/* ---------------------------------------------------------------- UTF-8 */

/* Decodes one code point of a Python str held as bytes: valid UTF-8, lone
 * surrogates in their 3-byte form, and any other byte as itself with
 * cp = 0xDC00 + byte (surrogateescape).  Returns the length consumed. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp)
{
    uint32_t v;
    size_t len = utf8_decode(s, n, UTF8_WTF8, &v);
    if (len == 0) {
        *cp = 0xDC00 + s[0];
        return 1;
    }
    *cp = v;
    return len;
}

size_t py_len(const char *s, size_t n)
{
    size_t count = 0, i = 0;
    unsigned cp;
    while (i < n) {
        i += utf8_next((const unsigned char *)s + i, n - i, &cp);
        count++;
    }
    return count;
}

int py_pad(struct buf *out, const char *s, size_t n, size_t width)
{
    if (buf_append(out, s, n) < 0)
        return -1;
    for (size_t len = py_len(s, n); len < width; len++)
        if (buf_append(out, " ", 1) < 0)
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- values */

static struct pj *pj_new(enum pj_type type)
{
    struct pj *v = calloc(1, sizeof *v);
    if (v)
        v->type = type;
    return v;
}

void pj_free(struct pj *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        pj_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->key_lens);
    free(v->text);
    free(v);
}

static long find_key(const struct pj *obj, const char *key, size_t klen)
{
    if (!obj || obj->type != PJ_OBJECT)
        return -1;
    for (size_t i = 0; i < obj->count; i++)
        if (obj->key_lens[i] == klen && memcmp(obj->keys[i], key, klen) == 0)
            return (long)i;
    return -1;
}

struct pj *pj_get(const struct pj *obj, const char *key)
{
    long i = find_key(obj, key, strlen(key));
    return i < 0 ? NULL : obj->items[i];
}

struct pj *pj_pop(struct pj *obj, const char *key)
{
    long i = find_key(obj, key, strlen(key));
    if (i < 0)
        return NULL;
    struct pj *v = obj->items[i];
    free(obj->keys[i]);
    size_t tail = obj->count - (size_t)i - 1;
    memmove(obj->items + i, obj->items + i + 1, tail * sizeof *obj->items);
    memmove(obj->keys + i, obj->keys + i + 1, tail * sizeof *obj->keys);
    memmove(obj->key_lens + i, obj->key_lens + i + 1, tail * sizeof *obj->key_lens);
    obj->count--;
    return v;
}

static int pj_append(struct pj *parent, char *key, size_t klen, struct pj *v)
{
    if (key) {
        long i = find_key(parent, key, klen);
        if (i >= 0) { /* dict semantics: first position, last value */
            pj_free(parent->items[i]);
            parent->items[i] = v;
            free(key);
            return 0;
        }
    }
    size_t n = parent->count + 1;
    struct pj **items = realloc(parent->items, n * sizeof *items);
    if (!items)
        return -1;
    parent->items = items;
    if (parent->type == PJ_OBJECT) {
        char **keys = realloc(parent->keys, n * sizeof *keys);
        if (!keys)
            return -1;
        parent->keys = keys;
        size_t *lens = realloc(parent->key_lens, n * sizeof *lens);
        if (!lens)
            return -1;
        parent->key_lens = lens;
        keys[parent->count] = key;
        lens[parent->count] = klen;
    }
    items[parent->count] = v;
    parent->count = n;
    return 0;
}

bool pj_truthy(const struct pj *v)
{
    if (!v)
        return false;
    switch (v->type) {
    case PJ_NULL: return false;
    case PJ_BOOL: return v->boolean;
    case PJ_INT: return strcmp(v->text, "0") != 0;
    case PJ_FLOAT: return strtod(v->text, NULL) != 0.0 || strcmp(v->text, "nan") == 0;
    case PJ_STR: return v->len > 0;
    default: return v->count > 0;
    }
}

bool pj_equals_int(const struct pj *v, long n)
{
    if (!v)
        return false;
    if (v->type == PJ_BOOL)
        return (v->boolean ? 1 : 0) == n;
    if (v->type == PJ_INT) {
        char want[32];
        snprintf(want, sizeof want, "%ld", n);
        return strcmp(v->text, want) == 0;
    }
    if (v->type == PJ_FLOAT)
        return strtod(v->text, NULL) == (double)n;
    return false;
}

/* ---------------------------------------------------------------- parser */

static int parse_error(struct parser *p, const char *msg, size_t at)
{
    size_t line = 1, col_start = 0;
    for (size_t i = 0; i < at && i < p->n; i++)
        if (p->s[i] == '\n') {
            line++;
            col_start = i + 1;
        }
    size_t chr = py_len(p->s, at);
    size_t col = py_len(p->s + col_start, at - col_start) + 1;
    buf_reset(p->err);
    buf_printf(p->err, "%s: line %zu column %zu (char %zu)", msg, line, col, chr);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->n && strchr(" \t\n\r", p->s[p->pos]) && p->s[p->pos])
        p->pos++;
}

static struct pj *parse_value(struct parser *p);

/* p->pos is at the opening quote; fills out with the decoded UTF-8. */
static int parse_string_into(struct parser *p, struct buf *out)
{
    size_t start = p->pos++;
    for (;;) {
        if (p->pos >= p->n)
            return parse_error(p, "Unterminated string starting at", start);
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20)
            return parse_error(p, "Invalid control character at", p->pos);
        if (c != '\\') {
            if (buf_append(out, &c, 1) < 0)
                return parse_error(p, "Out of memory", p->pos);
            p->pos++;
            continue;
        }
        if (p->pos + 1 >= p->n)
            return parse_error(p, "Unterminated string starting at", start);
        char e = p->s[p->pos + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            char ch = map[simple - "\"\\/bfnrt"];
            buf_append(out, &ch, 1);
            p->pos += 2;
            continue;
        }
        if (e != 'u') {
            buf_reset(p->err);
            return parse_error(p, "Invalid \\escape", p->pos);
        }
        unsigned cp;
        size_t len = pyjson_u_escape(p->s + p->pos + 2, p->n - p->pos - 2, &cp);
        if (len == 0)
            return parse_error(p, "Invalid \\uXXXX escape", p->pos + 1);
        p->pos += 2 + len;
        if (utf8_put(out, cp) < 0)
            return parse_error(p, "Out of memory", p->pos);
    }
}

static char *take_cstr(struct buf *b, size_t *len)
{
    *len = buf_size(b);
    char *s = malloc(*len + 1);
    if (!s)
        return NULL;
    if (*len)
        memcpy(s, buf_head(b), *len);
    s[*len] = 0;
    return s;
}

static struct pj *parse_string(struct parser *p)
{
    struct buf b;
    buf_init(&b, PJ_STRING_MAX);
    if (parse_string_into(p, &b) < 0) {
        buf_free(&b);
        return NULL;
    }
    struct pj *v = pj_new(PJ_STR);
    if (v)
        v->text = take_cstr(&b, &v->len);
    buf_free(&b);
    return v;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static struct pj *parse_number(struct parser *p)
{
    size_t start = p->pos, i = p->pos;
    if (i < p->n && p->s[i] == '-')
        i++;
    if (i >= p->n || !is_digit(p->s[i])) {
        parse_error(p, "Expecting value", start);
        return NULL;
    }
    if (p->s[i] == '0')
        i++;
    else
        while (i < p->n && is_digit(p->s[i]))
            i++;
    bool is_float = false;
    if (i + 1 < p->n && p->s[i] == '.' && is_digit(p->s[i + 1])) {
        is_float = true;
        i++;
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    if (i < p->n && (p->s[i] == 'e' || p->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < p->n && (p->s[j] == '+' || p->s[j] == '-'))
            j++;
        if (j < p->n && is_digit(p->s[j])) {
            is_float = true;
            while (j < p->n && is_digit(p->s[j]))
                j++;
            i = j;
        }
    }
    p->pos = i;
    size_t len = i - start;
    char *lex = malloc(len + 1);
    struct pj *v = pj_new(is_float ? PJ_FLOAT : PJ_INT);
    if (!lex || !v) {
        free(lex);
        free(v);
        return NULL;
    }
    memcpy(lex, p->s + start, len);
    lex[len] = 0;
    if (is_float) {
        char repr[64];
        py_float_repr(strtod(lex, NULL), repr, sizeof repr);
        free(lex);
        v->text = strdup(repr);
    } else if (strcmp(lex, "-0") == 0) {
        free(lex);
        v->text = strdup("0");
    } else {
        v->text = lex;
    }
    v->len = v->text ? strlen(v->text) : 0;
    return v;
}

static struct pj *parse_container(struct parser *p, bool is_object)
{
    if (++p->depth > PJ_MAX_DEPTH) {
        buf_reset(p->err);
        buf_append_str(p->err, "maximum recursion depth exceeded while decoding a JSON document");
        return NULL;
    }
    char close = is_object ? '}' : ']';
    struct pj *v = pj_new(is_object ? PJ_OBJECT : PJ_ARRAY);
    if (!v)
        return NULL;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        if (is_object) {
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != '"') {
                parse_error(p, "Expecting property name enclosed in double quotes", p->pos);
                goto fail;
            }
            struct buf kb;
            buf_init(&kb, PJ_STRING_MAX);
            if (parse_string_into(p, &kb) < 0) {
                buf_free(&kb);
                goto fail;
            }
            key = take_cstr(&kb, &klen);
            buf_free(&kb);
            skip_ws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') {
                free(key);
                parse_error(p, "Expecting ':' delimiter", p->pos);
                goto fail;
            }
            p->pos++;
        }
        skip_ws(p);
        struct pj *item = parse_value(p);
        if (!item) {
            free(key);
            goto fail;
        }
        if (pj_append(v, key, klen, item) < 0) {
            free(key);
            pj_free(item);
            goto fail;
        }
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return v;
        }
        if (p->pos >= p->n || p->s[p->pos] != ',') {
            parse_error(p, "Expecting ',' delimiter", p->pos);
            goto fail;
        }
        p->pos++;
        skip_ws(p);
        if (!is_object && p->pos < p->n && p->s[p->pos] == ']') {
            parse_error(p, "Expecting value", p->pos);
            goto fail;
        }
    }
fail:
    pj_free(v);
    return NULL;
}

static bool match_word(struct parser *p, const char *w)
{
    size_t n = strlen(w);
    if (p->n - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) {
        p->pos += n;
        return true;
    }
    return false;
}

static struct pj *parse_value(struct parser *p)
{
    if (p->pos >= p->n) {
        parse_error(p, "Expecting value", p->pos);
        return NULL;
    }
    char c = p->s[p->pos];
    struct pj *v;
    if (c == '{' || c == '[')
        return parse_container(p, c == '{');
    if (c == '"')
        return parse_string(p);
    if (c == '-' || is_digit(c)) {
        if (match_word(p, "-Infinity")) {
            v = pj_new(PJ_FLOAT);
            if (v)
                v->text = strdup("-inf");
            goto done;
        }
        return parse_number(p);
    }
    if (match_word(p, "null"))
        return pj_new(PJ_NULL);
    if (match_word(p, "true") || match_word(p, "false")) {
        v = pj_new(PJ_BOOL);
        if (v)
            v->boolean = p->s[p->pos - 1] == 'e' && p->s[p->pos - 2] == 'u';
        return v;
    }
    if (match_word(p, "NaN") || match_word(p, "Infinity")) {
        v = pj_new(PJ_FLOAT);
        if (v)
            v->text = strdup(p->s[p->pos - 1] == 'N' ? "nan" : "inf");
        goto done;
    }
    parse_error(p, "Expecting value", p->pos);
    return NULL;
done:
    if (v)
        v->len = strlen(v->text);
    return v;
}

struct pj *pj_parse(const char *text, size_t len, struct buf *err)
{
    struct parser p = { .s = text, .n = len, .pos = 0, .err = err, .depth = 0 };
    buf_reset(err);
    skip_ws(&p);
    struct pj *v = parse_value(&p);
    if (!v) {
        if (buf_size(err) == 0)
            buf_append_str(err, "out of memory");
        return NULL;
    }
    skip_ws(&p);
    if (p.pos != p.n) {
        parse_error(&p, "Extra data", p.pos);
        pj_free(v);
        return NULL;
    }
    return v;
}

/* ---------------------------------------------------------------- output */

static void put_indent(struct buf *out, int level)
{
    buf_append(out, "\n", 1);
    for (int i = 0; i < level * 4; i++)
        buf_append(out, " ", 1);
}

static int key_cmp_ctx_sort(const struct pj *obj, size_t a, size_t b)
{
    size_t la = obj->key_lens[a], lb = obj->key_lens[b];
    int c = memcmp(obj->keys[a], obj->keys[b], la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

static void sort_key_order(const struct pj *obj, size_t *order)
{
    for (size_t i = 0; i < obj->count; i++)
        order[i] = i;
    for (size_t i = 1; i < obj->count; i++) { /* insertion sort: small maps */
        size_t v = order[i], j = i;
        while (j > 0 && key_cmp_ctx_sort(obj, order[j - 1], v) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

static int dump_scalar(const struct pj *v, struct buf *out)
{
    switch (v->type) {
    case PJ_NULL: return buf_append_str(out, "null");
    case PJ_BOOL: return buf_append_str(out, v->boolean ? "true" : "false");
    case PJ_INT: return buf_append(out, v->text, v->len);
    case PJ_FLOAT:
        if (strcmp(v->text, "nan") == 0)
            return buf_append_str(out, "NaN");
        if (strcmp(v->text, "inf") == 0)
            return buf_append_str(out, "Infinity");
        if (strcmp(v->text, "-inf") == 0)
            return buf_append_str(out, "-Infinity");
        return buf_append(out, v->text, v->len);
    case PJ_STR: return pyjson_put_string_escaped(out, v->text, v->len);
    default: return -1;
    }
}

static int dump_pretty(const struct pj *v, int level, struct buf *out)
{
    if (v->type != PJ_ARRAY && v->type != PJ_OBJECT)
        return dump_scalar(v, out);
    bool obj = v->type == PJ_OBJECT;
    if (v->count == 0)
        return buf_append_str(out, obj ? "{}" : "[]");
    size_t *order = NULL;
    if (obj) {
        order = malloc(v->count * sizeof *order);
        if (!order)
            return -1;
        sort_key_order(v, order);
    }
    buf_append(out, obj ? "{" : "[", 1);
    for (size_t i = 0; i < v->count; i++) {
        if (i)
            buf_append(out, ",", 1);
        put_indent(out, level + 1);
        size_t k = obj ? order[i] : i;
        if (obj) {
            pyjson_put_string_escaped(out, v->keys[k], v->key_lens[k]);
            buf_append(out, ": ", 2);
        }
        dump_pretty(v->items[k], level + 1, out);
    }
    put_indent(out, level);
    free(order);
    return buf_append(out, obj ? "}" : "]", 1);
}

int pj_dump_pretty(const struct pj *v, struct buf *out)
{
    return dump_pretty(v, 0, out);
}

/* Approximates Python's str.isprintable() for non-ASCII code points. */
static bool py_printable(unsigned cp)
{
    if (cp < 0x20 || cp == 0x7F)
        return false;
    if (cp < 0x7F)
        return true;
    if (cp <= 0xA0 || cp == 0xAD || cp == 0x61C || cp == 0x180E)
        return false;
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
        (cp >= 0x2060 && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
        (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xD800 && cp <= 0xF8FF) ||
        cp == 0xFFFE || cp == 0xFFFF || (cp >= 0xE0000))
        return false;
    if ((cp >= 0x2000 && cp <= 0x200A) || cp == 0x1680 || cp == 0x202F || cp == 0x205F)
        return false; /* Zs other than ' ' */
    return true;
}

int py_repr_str(const char *s, size_t n, struct buf *out)
{
    char quote = '\'';
    if (memchr(s, '\'', n) && !memchr(s, '"', n))
        quote = '"';
    buf_append(out, &quote, 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned cp;
        i += utf8_next(u + i, n - i, &cp);
        if (cp == (unsigned)quote || cp == '\\') {
            char esc[2] = { '\\', (char)cp };
            buf_append(out, esc, 2);
        } else if (cp == '\t') {
            buf_append(out, "\\t", 2);
        } else if (cp == '\n') {
            buf_append(out, "\\n", 2);
        } else if (cp == '\r') {
            buf_append(out, "\\r", 2);
        } else if (py_printable(cp)) {
            utf8_put(out, cp);
        } else if (cp <= 0xFF) {
            buf_printf(out, "\\x%02x", cp);
        } else if (cp <= 0xFFFF) {
            buf_printf(out, "\\u%04x", cp);
        } else {
            buf_printf(out, "\\U%08x", cp);
        }
    }
    return buf_append(out, &quote, 1);
}

int pj_repr(const struct pj *v, struct buf *out)
{
    switch (v->type) {
    case PJ_NULL: return buf_append_str(out, "None");
    case PJ_BOOL: return buf_append_str(out, v->boolean ? "True" : "False");
    case PJ_INT:
    case PJ_FLOAT: return buf_append(out, v->text, v->len);
    case PJ_STR: return py_repr_str(v->text, v->len, out);
    case PJ_ARRAY:
    case PJ_OBJECT: break;
    }
    bool obj = v->type == PJ_OBJECT;
    buf_append(out, obj ? "{" : "[", 1);
    for (size_t i = 0; i < v->count; i++) {
        if (i)
            buf_append(out, ", ", 2);
        if (obj) {
            py_repr_str(v->keys[i], v->key_lens[i], out);
            buf_append(out, ": ", 2);
        }
        pj_repr(v->items[i], out);
    }
    return buf_append(out, obj ? "}" : "]", 1);
}

int pj_str(const struct pj *v, struct buf *out)
{
    if (v->type == PJ_STR)
        return buf_append(out, v->text, v->len);
    return pj_repr(v, out);
}
