/* envfile.c - see envfile.h.  YAML goes through libyaml's event parser into
 * jansson values, resolving plain scalars like PyYAML's SafeLoader
 * (null/~, true/yes/on, false/no/off, ints, floats). */
#include "runner/envfile.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/pyjson.h"
#include "core/util.h"

#define ENVFILE_MAX (64u * 1024 * 1024)

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, ENVFILE_MAX);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (buf_append(&b, tmp, n) < 0)
            break;
    fclose(f);
    const char *s;
    if (buf_cstr(&b, &s) < 0) {
        buf_free(&b);
        return NULL;
    }
    *len = buf_size(&b);
    char *out = (char *)b.data; /* b.off is 0: nothing was consumed */
    return out;
}

static int plain_matches(const char *s, const char *re)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

static json_t *yaml_scalar(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag)
        return json_stringn(s, n);
    if (n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (plain_matches(s, "^(yes|Yes|YES|true|True|TRUE|on|On|ON)$"))
        return json_true();
    if (plain_matches(s, "^(no|No|NO|false|False|FALSE|off|Off|OFF)$"))
        return json_false();
    if (plain_matches(s, "^[-+]?(0|[1-9][0-9_]*)$")) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!errno && !*end)
            return json_integer(v);
    }
    if (plain_matches(s, "^[-+]?([0-9][0-9_]*)?\\.[0-9.]*([eE][-+][0-9]+)?$"))
        return json_real(strtod(s, NULL));
    return json_stringn(s, n);
}

/* Builds the value starting at the current event; returns NULL on error. */
static json_t *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth)
{
    if (depth > 64)
        return NULL;
    if (ev->type == YAML_SCALAR_EVENT)
        return yaml_scalar(ev);
    if (ev->type != YAML_MAPPING_START_EVENT && ev->type != YAML_SEQUENCE_START_EVENT)
        return NULL;
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    json_t *v = is_map ? json_object() : json_array();
    for (;;) {
        yaml_event_t k;
        if (!yaml_parser_parse(p, &k)) {
            json_decref(v);
            return NULL;
        }
        if (k.type == YAML_MAPPING_END_EVENT || k.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&k);
            return v;
        }
        json_t *key = yaml_node(p, &k, depth + 1);
        yaml_event_delete(&k);
        if (!key) {
            json_decref(v);
            return NULL;
        }
        if (!is_map) {
            json_array_append_new(v, key);
            continue;
        }
        yaml_event_t val;
        json_t *jv = NULL;
        if (yaml_parser_parse(p, &val)) {
            jv = yaml_node(p, &val, depth + 1);
            yaml_event_delete(&val);
        }
        char *ks = json_is_string(key) ? strdup(json_string_value(key)) : envfile_pystr(key);
        json_decref(key);
        if (!jv || !ks) {
            free(ks);
            json_decref(jv);
            json_decref(v);
            return NULL;
        }
        json_object_set_new(v, ks, jv);
        free(ks);
    }
}

json_t *envfile_yaml_to_json(const char *text, size_t n)
{
    yaml_parser_t p;
    yaml_event_t ev;
    json_t *out = NULL;
    if (!yaml_parser_initialize(&p))
        return NULL;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev))
            break;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_SCALAR_EVENT || t == YAML_MAPPING_START_EVENT ||
            t == YAML_SEQUENCE_START_EVENT) {
            out = yaml_node(&p, &ev, 0);
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return out;
}

static int json_falsy(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_string(v) && json_string_length(v) == 0) ||
           (json_is_integer(v) && json_integer_value(v) == 0);
}

json_t *envfile_load_mapping(const char *pdd, const char *rel)
{
    char *path = util_path_join(pdd, rel);
    size_t len = 0;
    char *text = path ? read_file(path, &len) : NULL;
    free(path);
    if (!text)
        return NULL;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (json_falsy(v)) {
        json_decref(v);
        v = envfile_yaml_to_json(text, len);
    }
    free(text);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

char *envfile_load_string(const char *pdd, const char *rel)
{
    char *path = util_path_join(pdd, rel);
    size_t len = 0;
    char *text = path ? read_file(path, &len) : NULL;
    free(path);
    if (text && len == 0) {
        free(text);
        return NULL;
    }
    return text;
}

static int words_add(char ***w, int *n, struct buf *cur)
{
    const char *s;
    if (buf_cstr(cur, &s) < 0)
        return -1;
    char **nw = realloc(*w, (size_t)(*n + 2) * sizeof **w);
    if (!nw)
        return -1;
    *w = nw;
    nw[*n] = strdup(s);
    nw[++*n] = NULL;
    buf_reset(cur);
    return 0;
}

int envfile_shlex_split(const char *s, char ***words)
{
    struct buf cur;
    buf_init(&cur, strlen(s) + 1);
    char **w = calloc(1, sizeof *w);
    int n = 0, in_word = 0;
    char quote = 0;
    for (const char *p = s;; p++) {
        char c = *p;
        if (quote) {
            if (!c)
                goto fail;
            if (c == quote) {
                quote = 0;
            } else if (quote == '"' && c == '\\' && (p[1] == '"' || p[1] == '\\')) {
                buf_append(&cur, ++p, 1);
            } else {
                buf_append(&cur, &c, 1);
            }
            continue;
        }
        if (!c || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (in_word && words_add(&w, &n, &cur) < 0)
                goto fail;
            in_word = 0;
            if (!c)
                break;
            continue;
        }
        in_word = 1;
        if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\') {
            if (!p[1])
                goto fail;
            buf_append(&cur, ++p, 1);
        } else {
            buf_append(&cur, &c, 1);
        }
    }
    buf_free(&cur);
    *words = w;
    return n;
fail:
    buf_free(&cur);
    for (int i = 0; i < n; i++)
        free(w[i]);
    free(w);
    return -1;
}

int envfile_shlex_quote(struct buf *out, const char *s)
{
    if (!*s)
        return buf_append_str(out, "''");
    int safe = 1;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_", *p))
            safe = 0;
    if (safe)
        return buf_append_str(out, s);
    int rc = buf_append(out, "'", 1);
    for (const char *p = s; *p; p++)
        rc |= *p == '\'' ? buf_append_str(out, "'\"'\"'") : buf_append(out, p, 1);
    return rc | buf_append(out, "'", 1);
}

char *envfile_pystr(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_true(v))
        return strdup("True");
    if (json_is_false(v))
        return strdup("False");
    if (!v || json_is_null(v))
        return strdup("None");
    struct buf b;
    buf_init(&b, ENVFILE_MAX);
    const char *s;
    char *out = NULL;
    if (pyjson_dump(v, false, &b) == 0 && buf_cstr(&b, &s) == 0)
        out = strdup(s);
    buf_free(&b);
    return out;
}

int envfile_python_regex(const char *py, struct buf *out)
{
    int rc = 0;
    for (const char *p = py; *p && rc == 0; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 's': rc = buf_append_str(out, "[[:space:]]"); break;
            case 'S': rc = buf_append_str(out, "[^[:space:]]"); break;
            case 'd': rc = buf_append_str(out, "[0-9]"); break;
            case 'D': rc = buf_append_str(out, "[^0-9]"); break;
            case 'w': rc = buf_append_str(out, "[[:alnum:]_]"); break;
            case 'W': rc = buf_append_str(out, "[^[:alnum:]_]"); break;
            default:
                rc = buf_append(out, p - 1, 2);
            }
        } else if (*p == '?' && p > py && (p[-1] == '*' || p[-1] == '+' || p[-1] == '?' ||
                                            p[-1] == '}') && !(p > py + 1 && p[-2] == '\\')) {
            continue; /* lazy quantifier: same match set for a search */
        } else {
            rc = buf_append(out, p, 1);
        }
    }
    return rc;
}
