/* gojson_scan.c - see gojson_scan.h.
 *
 * The scanner is Go's encoding/json scanner.go state machine, a byte at a
 * time with an explicit stack of GOJSON_MAX_DEPTH (no recursion); its error
 * texts are Go's.  The walker below it only moves over text the scanner has
 * accepted, so it can skip values without checking them again. */
#include "core/gojson_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

/* ---- the scanner (Go's scanner.go, one state function per step) ------- */

enum { SCAN_CONTINUE, SCAN_SKIP_SPACE, SCAN_END_OBJECT, SCAN_END_ARRAY, SCAN_END, SCAN_ERROR };
enum { PARSE_OBJECT_KEY, PARSE_OBJECT_VALUE, PARSE_ARRAY_VALUE };

static int st_begin_value(struct gojson_scanner *s, uint8_t c);
static int st_begin_string(struct gojson_scanner *s, uint8_t c);
static int st_end_value(struct gojson_scanner *s, uint8_t c);

static int is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Go's quoteChar: the byte as a quoted character for error messages. */
static void quote_char(uint8_t c, char *out, size_t len)
{
    static const char esc[] = "\a\b\f\n\r\t\v\\";
    static const char *names[] = {"\\a", "\\b", "\\f", "\\n", "\\r", "\\t", "\\v", "\\\\"};
    const char *e = c ? strchr(esc, c) : NULL;
    if (c == '\'')
        snprintf(out, len, "'\\''");
    else if (c == '"')
        snprintf(out, len, "'\"'");
    else if (e)
        snprintf(out, len, "'%s'", names[e - esc]);
    else if (c < 0x20 || c == 0x7f)
        snprintf(out, len, "'\\x%02x'", c);
    else if (c < 0x80)
        snprintf(out, len, "'%c'", c);
    else if (c <= 0xa0 || c == 0xad) /* not printable as a Latin-1 rune */
        snprintf(out, len, "'\\u%04x'", c);
    else
        snprintf(out, len, "'%c%c'", 0xc0 | c >> 6, 0x80 | (c & 0x3f));
}

static int st_error(struct gojson_scanner *s, uint8_t c)
{
    (void)s;
    (void)c;
    return SCAN_ERROR;
}

static int scan_fail(struct gojson_scanner *s, uint8_t c, const char *context)
{
    char q[16];
    quote_char(c, q, sizeof q);
    s->step = st_error;
    s->failed = 1;
    snprintf(s->err, sizeof s->err, "invalid character %s %s", q, context);
    return SCAN_ERROR;
}

static int push_state(struct gojson_scanner *s, uint8_t c, uint8_t state)
{
    s->stack[s->depth++] = state;
    return s->depth <= GOJSON_MAX_DEPTH ? SCAN_CONTINUE : scan_fail(s, c, "exceeded max depth");
}

static int st_end_top(struct gojson_scanner *s, uint8_t c)
{
    if (!is_space(c))
        scan_fail(s, c, "after top-level value"); /* reported on the next step */
    return SCAN_END;
}

static void pop_state(struct gojson_scanner *s)
{
    s->depth--;
    s->step = s->depth == 0 ? st_end_top : st_end_value;
    s->end_top = s->depth == 0;
}

static int st_end_value(struct gojson_scanner *s, uint8_t c)
{
    if (s->depth == 0) {
        s->step = st_end_top;
        s->end_top = 1;
        return st_end_top(s, c);
    }
    if (is_space(c)) {
        s->step = st_end_value;
        return SCAN_SKIP_SPACE;
    }
    uint8_t *top = &s->stack[s->depth - 1];
    if (*top == PARSE_OBJECT_KEY) {
        if (c != ':')
            return scan_fail(s, c, "after object key");
        *top = PARSE_OBJECT_VALUE;
        s->step = st_begin_value;
        return SCAN_CONTINUE;
    }
    if (c == ',') {
        s->step = *top == PARSE_OBJECT_VALUE ? st_begin_string : st_begin_value;
        if (*top == PARSE_OBJECT_VALUE)
            *top = PARSE_OBJECT_KEY;
        return SCAN_CONTINUE;
    }
    if (*top == PARSE_OBJECT_VALUE && c == '}') {
        pop_state(s);
        return SCAN_END_OBJECT;
    }
    if (*top == PARSE_ARRAY_VALUE && c == ']') {
        pop_state(s);
        return SCAN_END_ARRAY;
    }
    return scan_fail(s, c, *top == PARSE_OBJECT_VALUE ? "after object key:value pair" : "after array element");
}

static int st_in_string(struct gojson_scanner *s, uint8_t c);

static int is_hex(uint8_t c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int st_esc_u(struct gojson_scanner *s, uint8_t c)
{
    if (!is_hex(c))
        return scan_fail(s, c, "in \\u hexadecimal character escape");
    if (--s->hex_left == 0)
        s->step = st_in_string;
    return SCAN_CONTINUE;
}

static int st_in_string_esc(struct gojson_scanner *s, uint8_t c)
{
    if (c && strchr("bfnrt\\/\"", c)) {
        s->step = st_in_string;
        return SCAN_CONTINUE;
    }
    if (c != 'u')
        return scan_fail(s, c, "in string escape code");
    s->hex_left = 4;
    s->step = st_esc_u;
    return SCAN_CONTINUE;
}

static int st_in_string(struct gojson_scanner *s, uint8_t c)
{
    if (c == '"')
        s->step = st_end_value;
    else if (c == '\\')
        s->step = st_in_string_esc;
    else if (c < 0x20)
        return scan_fail(s, c, "in string literal");
    return SCAN_CONTINUE;
}

static int st_begin_string(struct gojson_scanner *s, uint8_t c)
{
    if (is_space(c))
        return SCAN_SKIP_SPACE;
    if (c != '"')
        return scan_fail(s, c, "looking for beginning of object key string");
    s->step = st_in_string;
    return SCAN_CONTINUE;
}

/* Right after '{': a key or the end of an empty object. */
static int st_begin_string_or_empty(struct gojson_scanner *s, uint8_t c)
{
    if (is_space(c))
        return SCAN_SKIP_SPACE;
    if (c == '}') {
        s->stack[s->depth - 1] = PARSE_OBJECT_VALUE;
        return st_end_value(s, c);
    }
    return st_begin_string(s, c);
}

static int st_begin_value_or_empty(struct gojson_scanner *s, uint8_t c)
{
    if (is_space(c))
        return SCAN_SKIP_SPACE;
    if (c == ']')
        return st_end_value(s, c);
    return st_begin_value(s, c);
}

static int st_exp_digits(struct gojson_scanner *s, uint8_t c)
{
    return is_digit(c) ? SCAN_CONTINUE : st_end_value(s, c);
}

static int st_exp_sign(struct gojson_scanner *s, uint8_t c)
{
    if (!is_digit(c))
        return scan_fail(s, c, "in exponent of numeric literal");
    s->step = st_exp_digits;
    return SCAN_CONTINUE;
}

static int st_exp(struct gojson_scanner *s, uint8_t c)
{
    if (c == '+' || c == '-') {
        s->step = st_exp_sign;
        return SCAN_CONTINUE;
    }
    return st_exp_sign(s, c);
}

static int st_frac_digits(struct gojson_scanner *s, uint8_t c)
{
    if (is_digit(c))
        return SCAN_CONTINUE;
    if (c == 'e' || c == 'E') {
        s->step = st_exp;
        return SCAN_CONTINUE;
    }
    return st_end_value(s, c);
}

static int st_dot(struct gojson_scanner *s, uint8_t c)
{
    if (!is_digit(c))
        return scan_fail(s, c, "after decimal point in numeric literal");
    s->step = st_frac_digits;
    return SCAN_CONTINUE;
}

/* After the integer part ("0" or "123"). */
static int st_int_done(struct gojson_scanner *s, uint8_t c)
{
    if (c == '.') {
        s->step = st_dot;
        return SCAN_CONTINUE;
    }
    if (c == 'e' || c == 'E') {
        s->step = st_exp;
        return SCAN_CONTINUE;
    }
    return st_end_value(s, c);
}

static int st_int_digits(struct gojson_scanner *s, uint8_t c)
{
    return is_digit(c) ? SCAN_CONTINUE : st_int_done(s, c);
}

static int st_neg(struct gojson_scanner *s, uint8_t c)
{
    if (!is_digit(c))
        return scan_fail(s, c, "in numeric literal");
    s->step = c == '0' ? st_int_done : st_int_digits;
    return SCAN_CONTINUE;
}

static int st_literal(struct gojson_scanner *s, uint8_t c)
{
    char want = s->literal[s->literal_pos];
    if ((char)c != want) {
        char context[48];
        snprintf(context, sizeof context, "in literal %s (expecting '%c')", s->literal, want);
        return scan_fail(s, c, context);
    }
    if (s->literal[++s->literal_pos] == 0)
        s->step = st_end_value;
    return SCAN_CONTINUE;
}

static int st_begin_value(struct gojson_scanner *s, uint8_t c)
{
    if (is_space(c))
        return SCAN_SKIP_SPACE;
    switch (c) {
    case '{':
        s->step = st_begin_string_or_empty;
        return push_state(s, c, PARSE_OBJECT_KEY);
    case '[':
        s->step = st_begin_value_or_empty;
        return push_state(s, c, PARSE_ARRAY_VALUE);
    case '"':
        s->step = st_in_string;
        return SCAN_CONTINUE;
    case '-':
        s->step = st_neg;
        return SCAN_CONTINUE;
    case '0':
        s->step = st_int_done;
        return SCAN_CONTINUE;
    case 't': case 'f': case 'n':
        s->literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
        s->literal_pos = 1;
        s->step = st_literal;
        return SCAN_CONTINUE;
    }
    if (is_digit(c)) {
        s->step = st_int_digits;
        return SCAN_CONTINUE;
    }
    return scan_fail(s, c, "looking for beginning of value");
}

static void scan_reset(struct gojson_scanner *s)
{
    s->step = st_begin_value;
    s->end_top = s->failed = 0;
    s->depth = 0;
    s->err[0] = 0;
}

/* json.Unmarshal's checkValid: the whole text must be exactly one value. */
int gojson_scan_whole(struct gojson_scanner *s, const uint8_t *p, size_t n)
{
    scan_reset(s);
    for (size_t i = 0; i < n; i++)
        if (s->step(s, p[i]) == SCAN_ERROR)
            return -1;
    if (s->failed)
        return -1;
    if (!s->end_top)
        s->step(s, ' ');
    if (s->end_top)
        return 0;
    if (!s->failed)
        snprintf(s->err, sizeof s->err, "unexpected end of JSON input");
    return -1;
}

/* json.Decoder.Decode's read of the first value: *end is set past it and
 * whatever follows is ignored. */
int gojson_scan_first(struct gojson_scanner *s, const uint8_t *p, size_t n, size_t *end)
{
    scan_reset(s);
    for (size_t i = 0; i < n; i++) {
        int r = s->step(s, p[i]);
        if (r == SCAN_END) {
            *end = i;
            return 0;
        }
        if ((r == SCAN_END_OBJECT || r == SCAN_END_ARRAY) && st_end_value(s, ' ') == SCAN_END) {
            *end = i + 1;
            return 0;
        }
        if (r == SCAN_ERROR)
            return -1;
    }
    if (s->step(s, ' ') == SCAN_END) {
        *end = n;
        return 0;
    }
    size_t i = 0;
    while (i < n && is_space(p[i]))
        i++;
    snprintf(s->err, sizeof s->err, "%s", i < n ? "unexpected EOF" : "EOF");
    return -1;
}

/* ---- reading validated JSON ------------------------------------------- */

enum gojson_kind gojson_kind_of(uint8_t c)
{
    switch (c) {
    case '{': return GOJSON_OBJECT;
    case '[': return GOJSON_ARRAY;
    case '"': return GOJSON_STRING;
    case 't': case 'f': return GOJSON_BOOL;
    case 'n': return GOJSON_NULL;
    default: return GOJSON_NUMBER;
    }
}

/* Go's names for a JSON value in UnmarshalTypeError. */
const char *gojson_kind_name(enum gojson_kind k)
{
    static const char *names[] = {"object", "array", "string", "number", "bool", "null"};
    return names[k];
}

/* The Go type an interface{} gets for a JSON value (for UnsupportedTypeError). */
const char *gojson_go_type(enum gojson_kind k)
{
    static const char *names[] = {"map[string]interface {}", "[]interface {}", "string",
                                  "float64", "bool", "<nil>"};
    return names[k];
}

size_t gojson_skip_ws(const uint8_t *p, size_t n, size_t i)
{
    while (i < n && is_space(p[i]))
        i++;
    return i;
}

size_t gojson_skip_string(const uint8_t *p, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

/* Past the (valid) value at p[i]. */
size_t gojson_skip_value(const uint8_t *p, size_t n, size_t i)
{
    if (p[i] == '"')
        return gojson_skip_string(p, n, i);
    if (p[i] != '{' && p[i] != '[') {
        while (i < n && !is_space(p[i]) && p[i] != ',' && p[i] != '}' && p[i] != ']')
            i++;
        return i;
    }
    size_t depth = 0;
    while (i < n) {
        if (p[i] == '"') {
            i = gojson_skip_string(p, n, i);
            continue;
        }
        if (p[i] == '{' || p[i] == '[')
            depth++;
        else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* Next member of the object whose '{' or last value ends at *pos. */
int gojson_next_member(const uint8_t *p, size_t n, size_t *pos, struct gojson_span *key, struct gojson_span *val)
{
    size_t i = gojson_skip_ws(p, n, *pos);
    if (i < n && (p[i] == '{' || p[i] == ','))
        i = gojson_skip_ws(p, n, i + 1);
    if (i >= n || p[i] != '"')
        return 0;
    key->at = i;
    key->end = gojson_skip_string(p, n, i);
    i = gojson_skip_ws(p, n, key->end) + 1; /* ':' */
    val->at = gojson_skip_ws(p, n, i);
    val->end = gojson_skip_value(p, n, val->at);
    *pos = val->end;
    return 1;
}

/* Next element of the array whose '[' or last element ends at *pos. */
int gojson_next_element(const uint8_t *p, size_t n, size_t *pos, struct gojson_span *val)
{
    size_t i = gojson_skip_ws(p, n, *pos);
    if (i < n && (p[i] == '[' || p[i] == ','))
        i = gojson_skip_ws(p, n, i + 1);
    if (i >= n || p[i] == ']')
        return 0;
    val->at = i;
    val->end = gojson_skip_value(p, n, i);
    *pos = val->end;
    return 1;
}

/* Length of the valid UTF-8 sequence at p, 0 when invalid (Go's rules are
 * the strict ones of core/utf8). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint32_t cp;
    return utf8_decode(p, n, 0, &cp);
}

/* The code unit of a "\uXXXX" at p (which must hold 6 bytes), or -1. */
static long hex4(const uint8_t *p, size_t n)
{
    if (n < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        if (!is_hex(p[i]))
            return -1;
        v = v * 16 + (is_digit(p[i]) ? p[i] - '0' : (p[i] | 0x20) - 'a' + 10);
    }
    return v;
}

/* A "\u" escape at p[*i]: surrogate pairs joined, lone halves -> U+FFFD. */
static size_t unicode_escape(const uint8_t *p, size_t n, size_t *i, char *out)
{
    long r = hex4(p + *i, n - *i);
    *i += 6;
    if (r >= 0xd800 && r < 0xe000) {
        long r2 = hex4(p + *i, n - *i);
        if (r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000) {
            *i += 6;
            return utf8_encode((uint32_t)(0x10000 + ((r - 0xd800) << 10) + (r2 - 0xdc00)), (unsigned char *)out);
        }
        r = 0xfffd;
    }
    return utf8_encode((uint32_t)r, (unsigned char *)out);
}

/* Go's unquote of the (valid) string literal s: escapes resolved, invalid
 * UTF-8 replaced by U+FFFD.  malloc'ed and NUL-terminated; *len excludes the
 * NUL (the text itself may contain "\u0000"). */
char *gojson_unquote(const uint8_t *p, struct gojson_span s, size_t *len)
{
    size_t n = s.end - 1; /* the closing quote */
    char *out = malloc(3 * (s.end - s.at) + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = s.at + 1;
    while (i < n) {
        if (p[i] == '\\') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *e = p[i + 1] == 'u' ? NULL : strchr(from, p[i + 1]);
            if (e) {
                out[o++] = to[e - from];
                i += 2;
            } else
                o += unicode_escape(p, n, &i, out + o);
        } else {
            size_t k = utf8_len(p + i, n - i);
            if (k) {
                memcpy(out + o, p + i, k);
                o += k;
                i += k;
            } else {
                o += utf8_encode(0xfffd, (unsigned char *)out + o);
                i++;
            }
        }
    }
    out[o] = 0;
    *len = o;
    return out;
}

/* Go's %q of raw bytes (used for the raw JSON text of a value), truncated
 * to fit out. */
void gojson_quote(const uint8_t *p, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen < 16) {
        snprintf(out, outlen, "\"\"");
        return;
    }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < outlen;) {
        size_t k = utf8_len(p + i, n - i);
        if (p[i] == '"' || p[i] == '\\') {
            out[o++] = '\\';
            out[o++] = (char)p[i++];
        } else if (k == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", p[i++]);
        } else {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        }
    }
    out[o++] = '"';
    out[o] = 0;
}
