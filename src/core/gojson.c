/* gojson.c - see gojson.h. */
#include "core/gojson.h"

#include "core/fltfmt.h"
#include "core/utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int gojson_float(double f, struct buf *out)
{
    if (!isfinite(f))
        return -EINVAL; /* Go refuses too: json: unsupported value */
    if (f == 0)
        return buf_append_str(out, signbit(f) ? "-0" : "0");
    if (fabs(f) < 1e15 && f == (double)(int64_t)f) /* a whole number: Go writes its digits */
        return buf_printf(out, "%" PRId64, (int64_t)f);
    char digits[FLTFMT_DIGITS_MAX];
    int exp10;
    int rc = 0;
    if (f < 0) {
        rc |= buf_append_str(out, "-");
        f = -f;
    }
    int n = fltfmt_shortest(f, digits, &exp10);
    if (f < 1e-6 || f >= 1e21) {
        /* Go 'e' format: d[.ddd]e[+-]dd, then json strips a leading 0 of a
         * negative two-digit exponent ("e-07" -> "e-7"). */
        rc |= buf_append(out, digits, 1);
        if (n > 1) {
            rc |= buf_append_str(out, ".");
            rc |= buf_append(out, digits + 1, (size_t)n - 1);
        }
        int ae = exp10 < 0 ? -exp10 : exp10;
        if (exp10 < 0)
            rc |= buf_printf(out, "e-%d", ae);
        else
            rc |= buf_printf(out, "e+%02d", ae);
        return rc ? -ENOBUFS : 0;
    }
    if (exp10 < 0) {
        rc |= buf_append_str(out, "0.");
        for (int i = 0; i < -exp10 - 1; i++)
            rc |= buf_append_str(out, "0");
        rc |= buf_append(out, digits, (size_t)n);
    } else if (n <= exp10 + 1) {
        rc |= buf_append(out, digits, (size_t)n);
        for (int i = n; i < exp10 + 1; i++)
            rc |= buf_append_str(out, "0");
    } else {
        rc |= buf_append(out, digits, (size_t)exp10 + 1);
        rc |= buf_append_str(out, ".");
        rc |= buf_append(out, digits + exp10 + 1, (size_t)(n - exp10 - 1));
    }
    return rc ? -ENOBUFS : 0;
}

/* 1 for an ASCII byte Go writes as itself inside a string. */
static int plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
}

int gojson_string(const char *s, size_t n, struct buf *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    int rc = buf_append_str(out, "\"");
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t run = i;
        while (run < n && plain_byte(p[run]))
            run++;
        if (run > i) { /* the common case: names, IDs, words */
            rc = buf_append(out, p + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c < 0x80) {
            char esc[7];
            if (c == '"' || c == '\\') {
                esc[0] = '\\'; esc[1] = (char)c;
                rc = buf_append(out, esc, 2);
            } else if (c == '\n') rc = buf_append_str(out, "\\n");
            else if (c == '\r') rc = buf_append_str(out, "\\r");
            else if (c == '\t') rc = buf_append_str(out, "\\t");
            else if (c == '\b') rc = buf_append_str(out, "\\b"); /* Go >= 1.22 */
            else if (c == '\f') rc = buf_append_str(out, "\\f");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
                rc = buf_append(out, esc, 6);
            } else rc = buf_append(out, &c, 1);
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(p + i, n - i, 0, &cp);
        if (len == 0) {
            rc = buf_append_str(out, "\\ufffd");
            i++;
        } else if (len == 3 && p[i] == 0xe2 && p[i + 1] == 0x80 &&
                   (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            rc = buf_append_str(out, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
            i += 3;
        } else {
            rc = buf_append(out, p + i, len);
            i += len;
        }
    }
    if (rc == 0)
        rc = buf_append_str(out, "\"");
    return rc;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int dump_object(const json_t *v, int flags, struct buf *out)
{
    size_t n = json_object_size(v);
    int rc = buf_append_str(out, "{");
    if (n == 0)
        return rc ? rc : buf_append_str(out, "}");
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        return -ENOMEM;
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
        keys[k++] = key;
    if (flags & GOJSON_SORT_KEYS)
        qsort(keys, n, sizeof *keys, cmp_keys);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = buf_append_str(out, ",");
        if (!rc) rc = gojson_string(keys[i], strlen(keys[i]), out);
        if (!rc) rc = buf_append_str(out, ":");
        if (!rc) rc = gojson_dump(json_object_get(v, keys[i]), flags, out);
    }
    free(keys);
    return rc ? rc : buf_append_str(out, "}");
}

int gojson_dump(const json_t *v, int flags, struct buf *out)
{
    if (!v)
        return buf_append_str(out, "null");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(v, flags, out);
    case JSON_ARRAY: {
        int rc = buf_append_str(out, "[");
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            if (i)
                rc = buf_append_str(out, ",");
            if (!rc)
                rc = gojson_dump(json_array_get(v, i), flags, out);
        }
        return rc ? rc : buf_append_str(out, "]");
    }
    case JSON_STRING:
        return gojson_string(json_string_value(v), json_string_length(v), out);
    case JSON_INTEGER:
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return gojson_float(json_real_value(v), out);
    case JSON_TRUE:
        return buf_append_str(out, "true");
    case JSON_FALSE:
        return buf_append_str(out, "false");
    case JSON_NULL:
        return buf_append_str(out, "null");
    }
    return -EINVAL;
}

char *gojson_dumps(const json_t *v, int flags)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    const char *s;
    if (gojson_dump(v, flags, &b) < 0 || buf_cstr(&b, &s) < 0) {
        buf_free(&b);
        return NULL;
    }
    if (b.off) /* never happens: dump only appends */
        memmove(b.data, b.data + b.off, buf_size(&b) + 1);
    return (char *)b.data;
}

json_t *gojson_get(const json_t *obj, const char *key)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    const char *k;
    json_object_foreach((json_t *)obj, k, v)
        if (strcasecmp(k, key) == 0)
            return v;
    return NULL;
}

int gojson_get_number(const json_t *obj, const char *key, double *out)
{
    json_t *v = gojson_get(obj, key);
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

json_t *gojson_sorted(json_t *obj)
{
    if (!json_is_object(obj))
        return json_incref(obj);
    size_t n = json_object_size(obj);
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
        keys[i++] = k;
    qsort(keys, n, sizeof *keys, cmp_keys);
    json_t *out = json_object();
    for (i = 0; i < n; i++)
        json_object_set_new(out, keys[i], gojson_sorted(json_object_get(obj, keys[i])));
    free(keys);
    return out;
}
