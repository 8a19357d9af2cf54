/* pyjson.c - see pyjson.h.
 *
 * One recursive-descent scanner serves every purpose: it validates, and
 * optionally emits each token in canonical form (ASCII-escaped, raw UTF-8
 * or decoded without quotes).  Nesting is limited to PYJSON_MAX_DEPTH so a
 * hostile line cannot blow the stack. */
#include "core/pyjson.h"

#include "core/fltfmt.h"
#include "core/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PYJSON_MAX_DEPTH 900

enum emit { EMIT_NONE, EMIT_ASCII, EMIT_UTF8, EMIT_RAW };

struct scan {
    const char *s;
    size_t n, i;
    struct buf *out;
    enum emit emit;
    int depth;
    int err;
};

static void scan_put(struct scan *p, const void *d, size_t n)
{
    if (p->emit != EMIT_NONE && buf_append(p->out, d, n) < 0)
        p->err = 1;
}

static void scan_puts(struct scan *p, const char *s) { scan_put(p, s, strlen(s)); }

static void skip_ws(struct scan *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(const char *s, size_t avail, unsigned *cp)
{
    if (avail < 4)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    *cp = v;
    return 0;
}

size_t pyjson_u_escape(const char *s, size_t avail, unsigned *cp)
{
    unsigned lo;
    if (hex4(s, avail, cp) < 0)
        return 0;
    if (*cp >= 0xd800 && *cp <= 0xdbff && avail >= 10 && s[4] == '\\' && s[5] == 'u' &&
        hex4(s + 6, avail - 6, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
        return 10;
    }
    return 4;
}

/* Emits one code point inside a string literal in the selected style. */
static void put_cp(struct buf *out, unsigned cp, enum emit e, int *err)
{
    char tmp[16];
    size_t n = 0;
    if (e == EMIT_NONE)
        return;
    if (e == EMIT_RAW) {
        n = utf8_encode(cp, (unsigned char *)tmp);
    } else if (cp == '"') { n = 2; memcpy(tmp, "\\\"", 2); }
    else if (cp == '\\') { n = 2; memcpy(tmp, "\\\\", 2); }
    else if (cp == '\n') { n = 2; memcpy(tmp, "\\n", 2); }
    else if (cp == '\r') { n = 2; memcpy(tmp, "\\r", 2); }
    else if (cp == '\t') { n = 2; memcpy(tmp, "\\t", 2); }
    else if (cp == '\b') { n = 2; memcpy(tmp, "\\b", 2); }
    else if (cp == '\f') { n = 2; memcpy(tmp, "\\f", 2); }
    else if (cp < 0x20) { n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", cp); }
    else if (cp < 0x7f || e == EMIT_UTF8) { n = utf8_encode(cp, (unsigned char *)tmp); }
    else if (cp > 0xffff) {
        unsigned v = cp - 0x10000;
        n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x\\u%04x",
                             0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
        n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", cp);
    }
    if (buf_append(out, tmp, n) < 0)
        *err = 1;
}

static enum pyjson_type scan_string(struct scan *p)
{
    p->i++; /* opening quote */
    if (p->emit != EMIT_RAW)
        scan_put(p, "\"", 1);
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            if (p->emit != EMIT_RAW)
                scan_put(p, "\"", 1);
            return PYJSON_STRING;
        }
        if (c < 0x20)
            return PYJSON_INVALID;
        if (c != '\\') {
            /* fast path for plain ASCII runs */
            if (c < 0x7f) {
                size_t j = p->i;
                while (j < p->n) {
                    unsigned char d = (unsigned char)p->s[j];
                    if (d < 0x20 || d >= 0x7f || d == '"' || d == '\\')
                        break;
                    j++;
                }
                scan_put(p, p->s + p->i, j - p->i);
                p->i = j;
                continue;
            }
            uint32_t cp;
            size_t len = utf8_decode(p->s + p->i, p->n - p->i, 0, &cp);
            if (len == 0)
                return PYJSON_INVALID;
            p->i += len;
            put_cp(p->out, cp, p->emit, &p->err);
            continue;
        }
        p->i++;
        if (p->i >= p->n)
            return PYJSON_INVALID;
        char e = p->s[p->i++];
        unsigned cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u': {
            size_t len = pyjson_u_escape(p->s + p->i, p->n - p->i, &cp);
            if (len == 0)
                return PYJSON_INVALID;
            p->i += len;
            break;
        }
        default:
            return PYJSON_INVALID;
        }
        put_cp(p->out, cp, p->emit, &p->err);
    }
    return PYJSON_INVALID;
}

void py_float_repr(double d, char *out, size_t outlen)
{
    if (isnan(d)) {
        snprintf(out, outlen, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(out, outlen, d < 0 ? "-inf" : "inf");
        return;
    }
    if (d == 0) {
        snprintf(out, outlen, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    bool neg = d < 0;
    char digits[FLTFMT_DIGITS_MAX];
    int exp10;
    size_t nd = (size_t)fltfmt_shortest(d, digits, &exp10);
    int decpt = exp10 + 1;
    char res[64];
    size_t r = 0;
    if (neg)
        res[r++] = '-';
    if (decpt <= -4 || decpt > 16) {
        res[r++] = digits[0];
        if (nd > 1) {
            res[r++] = '.';
            memcpy(res + r, digits + 1, nd - 1);
            r += nd - 1;
        }
        snprintf(res + r, sizeof res - r, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        res[r++] = '0';
        res[r++] = '.';
        for (int i = 0; i < -decpt; i++)
            res[r++] = '0';
        memcpy(res + r, digits, nd);
        res[r + nd] = 0;
    } else if ((size_t)decpt >= nd) {
        memcpy(res + r, digits, nd);
        r += nd;
        for (size_t i = nd; i < (size_t)decpt; i++)
            res[r++] = '0';
        memcpy(res + r, ".0", 3);
    } else {
        memcpy(res + r, digits, (size_t)decpt);
        r += (size_t)decpt;
        res[r++] = '.';
        memcpy(res + r, digits + decpt, nd - (size_t)decpt);
        res[r + nd - (size_t)decpt] = 0;
    }
    snprintf(out, outlen, "%s", res);
}

int pyjson_put_float(struct buf *out, double d)
{
    if (isnan(d))
        return buf_append_str(out, "NaN");
    if (isinf(d))
        return buf_append_str(out, d > 0 ? "Infinity" : "-Infinity");
    char tmp[40];
    py_float_repr(d, tmp, sizeof tmp);
    return buf_append_str(out, tmp) < 0 ? -ENOBUFS : 0;
}

static enum pyjson_type scan_number(struct scan *p)
{
    size_t st = p->i;
    bool isfloat = false;
    if (p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == 'I') {
        if (p->n - p->i >= 8 && memcmp(p->s + p->i, "Infinity", 8) == 0) {
            p->i += 8;
            scan_puts(p, "-Infinity");
            return PYJSON_FLOAT;
        }
        return PYJSON_INVALID;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return PYJSON_INVALID;
    if (p->s[p->i] == '0')
        p->i++;
    else
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    if (p->i + 1 < p->n && p->s[p->i] == '.' && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9') {
        isfloat = true;
        p->i++;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        size_t j = p->i + 1;
        if (j < p->n && (p->s[j] == '+' || p->s[j] == '-'))
            j++;
        if (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') {
            isfloat = true;
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9')
                j++;
            p->i = j;
        }
    }
    if (p->emit == EMIT_NONE || p->emit == EMIT_RAW)
        return isfloat ? PYJSON_FLOAT : PYJSON_INT;
    if (!isfloat) {
        size_t len = p->i - st;
        if (len == 2 && p->s[st] == '-' && p->s[st + 1] == '0')
            scan_put(p, "0", 1);
        else
            scan_put(p, p->s + st, len);
        return PYJSON_INT;
    }
    char tmp[64];
    char *heap = NULL;
    size_t len = p->i - st;
    char *num = tmp;
    if (len >= sizeof tmp) {
        heap = malloc(len + 1);
        if (!heap) { p->err = 1; return PYJSON_FLOAT; }
        num = heap;
    }
    memcpy(num, p->s + st, len);
    num[len] = 0;
    double d = strtod(num, NULL);
    free(heap);
    if (pyjson_put_float(p->out, d) < 0)
        p->err = 1;
    return PYJSON_FLOAT;
}

static enum pyjson_type scan_value(struct scan *p);

static enum pyjson_type scan_object(struct scan *p)
{
    p->i++;
    scan_put(p, "{", 1);
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        scan_put(p, "}", 1);
        return PYJSON_OBJECT;
    }
    for (bool first = true;; first = false) {
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"')
            return PYJSON_INVALID;
        if (!first)
            scan_put(p, ", ", 2);
        if (scan_string(p) == PYJSON_INVALID)
            return PYJSON_INVALID;
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':')
            return PYJSON_INVALID;
        p->i++;
        scan_put(p, ": ", 2);
        skip_ws(p);
        if (scan_value(p) == PYJSON_INVALID)
            return PYJSON_INVALID;
        skip_ws(p);
        if (p->i >= p->n)
            return PYJSON_INVALID;
        if (p->s[p->i] == '}') {
            p->i++;
            scan_put(p, "}", 1);
            return PYJSON_OBJECT;
        }
        if (p->s[p->i] != ',')
            return PYJSON_INVALID;
        p->i++;
    }
}

static enum pyjson_type scan_array(struct scan *p)
{
    p->i++;
    scan_put(p, "[", 1);
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        scan_put(p, "]", 1);
        return PYJSON_ARRAY;
    }
    for (bool first = true;; first = false) {
        skip_ws(p);
        if (!first)
            scan_put(p, ", ", 2);
        if (scan_value(p) == PYJSON_INVALID)
            return PYJSON_INVALID;
        skip_ws(p);
        if (p->i >= p->n)
            return PYJSON_INVALID;
        if (p->s[p->i] == ']') {
            p->i++;
            scan_put(p, "]", 1);
            return PYJSON_ARRAY;
        }
        if (p->s[p->i] != ',')
            return PYJSON_INVALID;
        p->i++;
    }
}

static enum pyjson_type scan_literal(struct scan *p, const char *lit, enum pyjson_type t)
{
    size_t len = strlen(lit);
    if (p->n - p->i < len || memcmp(p->s + p->i, lit, len) != 0)
        return PYJSON_INVALID;
    p->i += len;
    scan_put(p, lit, len);
    return t;
}

static enum pyjson_type scan_value(struct scan *p)
{
    if (p->i >= p->n)
        return PYJSON_INVALID;
    enum pyjson_type t;
    switch (p->s[p->i]) {
    case '{':
    case '[':
        if (++p->depth > PYJSON_MAX_DEPTH)
            return PYJSON_INVALID;
        t = p->s[p->i] == '{' ? scan_object(p) : scan_array(p);
        p->depth--;
        return t;
    case '"': return scan_string(p);
    case 't': return scan_literal(p, "true", PYJSON_TRUE);
    case 'f': return scan_literal(p, "false", PYJSON_FALSE);
    case 'n': return scan_literal(p, "null", PYJSON_NULL);
    case 'N': return scan_literal(p, "NaN", PYJSON_FLOAT);
    case 'I': return scan_literal(p, "Infinity", PYJSON_FLOAT);
    default: return scan_number(p);
    }
}

static enum pyjson_type scan_whole(struct scan *p)
{
    skip_ws(p);
    enum pyjson_type t = scan_value(p);
    if (t == PYJSON_INVALID || p->err)
        return PYJSON_INVALID;
    skip_ws(p);
    return p->i == p->n ? t : PYJSON_INVALID;
}

enum pyjson_type pyjson_canon(const char *text, size_t n, bool ensure_ascii, struct buf *out)
{
    struct scan p = { text, n, 0, out, ensure_ascii ? EMIT_ASCII : EMIT_UTF8, 0, 0 };
    return scan_whole(&p);
}

enum pyjson_type pyjson_type_of(const char *text, size_t n)
{
    struct scan p = { text, n, 0, NULL, EMIT_NONE, 0, 0 };
    return scan_whole(&p);
}

int pyjson_members(const char *text, size_t n, pyjson_member_fn fn, void *ctx)
{
    struct buf key;
    buf_init(&key, n + 16);
    struct scan p = { text, n, 0, NULL, EMIT_NONE, 0, 0 };
    enum pyjson_type top = pyjson_type_of(text, n);
    if (top != PYJSON_OBJECT) {
        buf_free(&key);
        return (int)top;
    }
    skip_ws(&p);
    p.i++; /* { */
    skip_ws(&p);
    int ret = PYJSON_OBJECT;
    while (p.i < p.n && p.s[p.i] == '"') {
        buf_reset(&key);
        struct scan ks = { text, n, p.i, &key, EMIT_RAW, 0, 0 };
        scan_string(&ks);
        const char *k;
        if (ks.err || buf_cstr(&key, &k) < 0) {
            ret = PYJSON_INVALID;
            break;
        }
        p.i = ks.i;
        skip_ws(&p);
        p.i++; /* : */
        skip_ws(&p);
        struct pyjson_member m = { k, buf_size(&key), text + p.i, 0, PYJSON_INVALID };
        m.type = scan_value(&p);
        m.val_len = (size_t)(text + p.i - m.val);
        int rc = fn(&m, ctx);
        if (rc != 0) {
            ret = rc > 0 ? -rc : rc;
            break;
        }
        skip_ws(&p);
        if (p.i < p.n && p.s[p.i] == ',') {
            p.i++;
            skip_ws(&p);
        }
    }
    buf_free(&key);
    return ret;
}

struct find_ctx {
    const char *key;
    struct pyjson_member *m;
    int found;
    struct buf *keycopy;
};

static int find_cb(const struct pyjson_member *m, void *vctx)
{
    struct find_ctx *c = vctx;
    if (strcmp(m->key, c->key) == 0) {
        /* Python keeps the last duplicate's value */
        *c->m = *m;
        c->m->key = c->key;
        c->found = 1;
    }
    return 0;
}

int pyjson_find(const char *text, size_t n, const char *key, struct pyjson_member *m)
{
    struct find_ctx c = { key, m, 0, NULL };
    int t = pyjson_members(text, n, find_cb, &c);
    if (t != PYJSON_OBJECT)
        return -1;
    return c.found;
}

bool pyjson_truthy(const char *val, size_t n, enum pyjson_type t)
{
    switch (t) {
    case PYJSON_TRUE: return true;
    case PYJSON_FALSE: case PYJSON_NULL: case PYJSON_INVALID: return false;
    case PYJSON_STRING: return n > 2;
    case PYJSON_OBJECT: case PYJSON_ARRAY: {
        for (size_t i = 1; i + 1 < n; i++)
            if (val[i] != ' ' && val[i] != '\t' && val[i] != '\n' && val[i] != '\r')
                return true;
        return false;
    }
    case PYJSON_INT: {
        for (size_t i = 0; i < n; i++)
            if (val[i] >= '1' && val[i] <= '9')
                return true;
        return false;
    }
    case PYJSON_FLOAT: {
        if (n >= 1 && (val[0] == 'N' || val[0] == 'I' || val[n - 1] == 'y'))
            return true;
        char tmp[64];
        size_t l = n < sizeof tmp - 1 ? n : sizeof tmp - 1;
        memcpy(tmp, val, l);
        tmp[l] = 0;
        return strtod(tmp, NULL) != 0.0;
    }
    }
    return false;
}

int pyjson_unquote(const char *val, size_t n, struct buf *out)
{
    if (n < 2 || val[0] != '"')
        return -1;
    struct scan p = { val, n, 0, out, EMIT_RAW, 0, 0 };
    if (scan_string(&p) != PYJSON_STRING || p.err)
        return -1;
    return 0;
}

int pyjson_int(const char *val, size_t n, long long *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, val, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* A string literal of s[0..n); an invalid byte becomes U+FFFD or, with
 * surrogateescape, U+DC80..U+DCFF (then encoded surrogates pass as WTF-8). */
static int put_string(struct buf *out, const char *s, size_t n, enum emit e, bool surrogateescape)
{
    int err = 0;
    if (buf_append(out, "\"", 1) < 0)
        return -ENOBUFS;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            size_t j = i;
            while (j < n && (unsigned char)s[j] >= 0x20 && (unsigned char)s[j] < 0x7f &&
                   s[j] != '"' && s[j] != '\\')
                j++;
            if (buf_append(out, s + i, j - i) < 0)
                return -ENOBUFS;
            i = j;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, surrogateescape ? UTF8_WTF8 : 0, &cp);
        if (len == 0) {
            cp = surrogateescape ? 0xdc00 + c : 0xfffd;
            len = 1;
        }
        i += len;
        put_cp(out, cp, e, &err);
    }
    if (err || buf_append(out, "\"", 1) < 0)
        return -ENOBUFS;
    return 0;
}

int pyjson_put_string(struct buf *out, const char *s, size_t n, bool ensure_ascii)
{
    return put_string(out, s, n, ensure_ascii ? EMIT_ASCII : EMIT_UTF8, false);
}

int pyjson_put_string_escaped(struct buf *out, const char *s, size_t n)
{
    return put_string(out, s, n, EMIT_ASCII, true);
}

static int dump_value(const json_t *v, bool ascii, int indent, int level, struct buf *out);

static int put_newline_indent(struct buf *out, int indent, int level)
{
    int rc = buf_append(out, "\n", 1);
    for (int k = 0; k < indent * level && rc == 0; k++)
        rc = buf_append(out, " ", 1);
    return rc;
}

static int dump_object(const json_t *v, bool ascii, int indent, int level, struct buf *out)
{
    const char *k;
    json_t *x;
    int rc = buf_append(out, "{", 1);
    bool first = true;
    if (json_object_size(v) == 0)
        return rc | buf_append(out, "}", 1);
    json_object_foreach((json_t *)v, k, x) {
        if (!first)
            rc |= buf_append_str(out, indent ? "," : ", ");
        if (indent)
            rc |= put_newline_indent(out, indent, level + 1);
        first = false;
        rc |= pyjson_put_string(out, k, strlen(k), ascii);
        rc |= buf_append(out, ": ", 2);
        rc |= dump_value(x, ascii, indent, level + 1, out);
    }
    if (indent)
        rc |= put_newline_indent(out, indent, level);
    return rc | buf_append(out, "}", 1);
}

static int dump_array(const json_t *v, bool ascii, int indent, int level, struct buf *out)
{
    int rc = buf_append(out, "[", 1);
    size_t i;
    json_t *x;
    if (json_array_size(v) == 0)
        return rc | buf_append(out, "]", 1);
    json_array_foreach(v, i, x) {
        if (i)
            rc |= buf_append_str(out, indent ? "," : ", ");
        if (indent)
            rc |= put_newline_indent(out, indent, level + 1);
        rc |= dump_value(x, ascii, indent, level + 1, out);
    }
    if (indent)
        rc |= put_newline_indent(out, indent, level);
    return rc | buf_append(out, "]", 1);
}

static int dump_value(const json_t *v, bool ascii, int indent, int level, struct buf *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return dump_object(v, ascii, indent, level, out);
    case JSON_ARRAY: return dump_array(v, ascii, indent, level, out);
    case JSON_STRING:
        return pyjson_put_string(out, json_string_value(v), json_string_length(v), ascii);
    case JSON_INTEGER: return buf_printf(out, "%lld", (long long)json_integer_value(v));
    case JSON_REAL: return pyjson_put_float(out, json_real_value(v));
    case JSON_TRUE: return buf_append_str(out, "true");
    case JSON_FALSE: return buf_append_str(out, "false");
    case JSON_NULL: return buf_append_str(out, "null");
    }
    return -1;
}

int pyjson_dump(const json_t *v, bool ensure_ascii, struct buf *out)
{
    return dump_value(v, ensure_ascii, 0, 0, out) ? -ENOBUFS : 0;
}

int pyjson_dump_indent(const json_t *v, struct buf *out)
{
    return dump_value(v, true, 4, 0, out) ? -ENOBUFS : 0;
}
