/* config_yaml.c - v1 YAML configuration files -> configuration items.
 *
 * The file is read whole (at most CONFIG_MAX_FILE_SIZE) and walked with
 * libyaml's event parser by a small recursive-descent reader, so no
 * document tree is built and every message can carry the line of the event
 * it is about.  The shape is upstream's (spec 14.1): a top-level sequence
 * whose items are an entry name (`- local-only`), or a single-key mapping
 * whose value is null, a scalar (the bare value) or a mapping of options.
 *
 * Hostile input is bounded: aliases are refused outright (they are how a
 * "billion laughs" file expands), nesting is limited to CONFIG_MAX_DEPTH and
 * the number of events to CONFIG_MAX_NODES.  Scalars are converted exactly as
 * command-line text is (config_value_from_text); only CONFIG_JSON options (e.g.
 * firewallrules) keep YAML's own typing of plain scalars. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "config/config.h"
#include "config/config_priv.h"

struct yreader {
    yaml_parser_t parser;
    yaml_event_t ev;       /* the current event, valid when have_ev */
    int have_ev;
    unsigned depth;
    size_t events;
    const char *name;      /* file name for messages */
    const char *data;
    size_t len;
    char *err;
    size_t errlen;
};

/* ---- reader ------------------------------------------------------------- */

static size_t yr_line(const struct yreader *r)
{
    return r->ev.start_mark.line + 1;
}

static int yr_fail(struct yreader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int yr_fail(struct yreader *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return config_fail(r->err, r->errlen, "%s:%zu: %s", r->name, yr_line(r), msg);
}

/* Line of a reader (encoding) error, which libyaml reports as an offset. */
static size_t offset_line(const struct yreader *r, size_t offset)
{
    size_t line = 1;
    for (size_t i = 0; i < offset && i < r->len; i++)
        line += r->data[i] == '\n';
    return line;
}

static int yr_syntax_error(struct yreader *r)
{
    const yaml_parser_t *p = &r->parser;
    size_t line = p->error == YAML_READER_ERROR ? offset_line(r, p->problem_offset)
                                                : p->problem_mark.line + 1;
    return config_fail(r->err, r->errlen, "%s:%zu: YAML syntax error: %s%s%s%s", r->name, line,
                       p->problem ? p->problem : "unknown problem", p->context ? " (" : "",
                       p->context ? p->context : "", p->context ? ")" : "");
}

/* Advances to the next event, enforcing the input bounds. */
static int yr_next(struct yreader *r)
{
    if (r->have_ev)
        yaml_event_delete(&r->ev);
    r->have_ev = 0;
    if (!yaml_parser_parse(&r->parser, &r->ev))
        return yr_syntax_error(r);
    r->have_ev = 1;
    if (++r->events > CONFIG_MAX_NODES)
        return yr_fail(r, "too many YAML nodes (more than %u)", CONFIG_MAX_NODES);
    switch (r->ev.type) {
    case YAML_ALIAS_EVENT:
        return yr_fail(r, "YAML aliases are not allowed (*%.60s)",
                       (const char *)r->ev.data.alias.anchor);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (++r->depth > CONFIG_MAX_DEPTH)
            return yr_fail(r, "YAML nesting deeper than %d levels", CONFIG_MAX_DEPTH);
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        r->depth--;
        break;
    default:
        break;
    }
    return 0;
}

static int yr_is(const struct yreader *r, yaml_event_type_t type)
{
    return r->ev.type == type;
}

static const char *yr_text(const struct yreader *r)
{
    return (const char *)r->ev.data.scalar.value;
}

/* A plain, untagged null scalar: "", "~", "null". */
static int yr_is_null(const struct yreader *r)
{
    if (!yr_is(r, YAML_SCALAR_EVENT) || r->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
        r->ev.data.scalar.tag)
        return 0;
    const char *t = yr_text(r);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
           !strcmp(t, "NULL");
}

/* The current scalar as a C string; refuses embedded NUL bytes. */
static int yr_scalar(struct yreader *r, const char **out)
{
    if (strlen(yr_text(r)) != r->ev.data.scalar.length)
        return yr_fail(r, "value contains a NUL byte");
    *out = yr_text(r);
    return 0;
}

/* ---- generic YAML -> JSON (CONFIG_JSON) ------------------------------------- */

static json_t *plain_scalar_json(const char *t)
{
    int b;
    int64_t i;
    double f;
    if (!*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL"))
        return json_null();
    if (!config_parse_bool(t, &b) && strcmp(t, "0") && strcmp(t, "1"))
        return json_boolean(b);
    if (!config_parse_int(t, &i))
        return json_integer(i);
    if (((*t >= '0' && *t <= '9') || *t == '-' || *t == '+' || *t == '.') && !config_parse_float(t, &f))
        return json_real(f);
    return json_stringn_nocheck(t, strlen(t));
}

static int yr_to_json(struct yreader *r, json_t **out);

static int yr_seq_to_json(struct yreader *r, json_t **out)
{
    json_t *arr = json_array();
    if (!arr)
        return yr_fail(r, "out of memory");
    for (;;) {
        json_t *v;
        if (yr_next(r))
            goto fail;
        if (yr_is(r, YAML_SEQUENCE_END_EVENT))
            break;
        if (yr_to_json(r, &v))
            goto fail;
        if (json_array_append_new(arr, v)) {
            yr_fail(r, "out of memory");
            goto fail;
        }
    }
    *out = arr;
    return 0;
fail:
    json_decref(arr);
    return -1;
}

static int yr_map_to_json(struct yreader *r, json_t **out)
{
    json_t *obj = json_object();
    if (!obj)
        return yr_fail(r, "out of memory");
    for (;;) {
        const char *key = NULL;
        json_t *v;
        if (yr_next(r))
            goto fail;
        if (yr_is(r, YAML_MAPPING_END_EVENT))
            break;
        if (!yr_is(r, YAML_SCALAR_EVENT)) {
            yr_fail(r, "mapping keys must be strings");
            goto fail;
        }
        if (yr_scalar(r, &key))
            goto fail;
        char *k = strdup(key);
        if (!k) {
            yr_fail(r, "out of memory");
            goto fail;
        }
        int bad = json_object_get(obj, k) != NULL;
        if (bad || yr_next(r) || yr_to_json(r, &v)) {
            if (bad)
                yr_fail(r, "key \"%.80s\" given more than once", k);
            free(k);
            goto fail;
        }
        if (json_object_set_new(obj, k, v)) {
            yr_fail(r, "key \"%.80s\" is not valid UTF-8", k);
            free(k);
            goto fail;
        }
        free(k);
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return -1;
}

/* Converts the node starting at the current event. */
static int yr_to_json(struct yreader *r, json_t **out)
{
    const char *t = NULL;
    switch (r->ev.type) {
    case YAML_SCALAR_EVENT:
        if (yr_scalar(r, &t))
            return -1;
        *out = r->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !r->ev.data.scalar.tag
                   ? plain_scalar_json(t)
                   : json_stringn_nocheck(t, strlen(t));
        return *out ? 0 : yr_fail(r, "out of memory");
    case YAML_SEQUENCE_START_EVENT:
        return yr_seq_to_json(r, out);
    case YAML_MAPPING_START_EVENT:
        return yr_map_to_json(r, out);
    default:
        return yr_fail(r, "unexpected YAML event");
    }
}

/* ---- typed option values ------------------------------------------------- */

struct yopt {
    const struct config_item *item;
    const struct config_option *opt;
};

static int yr_opt_fail(struct yreader *r, const struct yopt *o, const char *why)
{
    return yr_fail(r, "entry '%s': key '%s': %s", o->item->def->name, o->opt->name, why);
}

static int yr_text_value(struct yreader *r, const struct yopt *o, json_t **out)
{
    const char *t = NULL;
    char why[256];
    if (yr_scalar(r, &t))
        return -1;
    if (config_value_from_text(o->opt, t, out, why, sizeof why))
        return yr_opt_fail(r, o, why);
    return 0;
}

/* A YAML sequence of scalars -> JSON array of strings. */
static int yr_list_value(struct yreader *r, const struct yopt *o, json_t **out)
{
    json_t *arr = json_array();
    if (!arr)
        return yr_fail(r, "out of memory");
    for (;;) {
        const char *t = NULL;
        if (yr_next(r))
            goto fail;
        if (yr_is(r, YAML_SEQUENCE_END_EVENT))
            break;
        if (!yr_is(r, YAML_SCALAR_EVENT) || yr_is_null(r)) {
            yr_opt_fail(r, o, "expected a list of strings");
            goto fail;
        }
        if (yr_scalar(r, &t))
            goto fail;
        if (json_array_append_new(arr, json_stringn_nocheck(t, strlen(t)))) {
            yr_fail(r, "out of memory");
            goto fail;
        }
    }
    *out = arr;
    return 0;
fail:
    json_decref(arr);
    return -1;
}

/* A YAML mapping of scalar -> number (nodecost) -> JSON object of reals. */
static int yr_map_value(struct yreader *r, const struct yopt *o, json_t **out)
{
    json_t *obj = json_object();
    if (!obj)
        return yr_fail(r, "out of memory");
    for (;;) {
        const char *t = NULL;
        double f;
        char key[256];
        if (yr_next(r))
            goto fail;
        if (yr_is(r, YAML_MAPPING_END_EVENT))
            break;
        if (!yr_is(r, YAML_SCALAR_EVENT) || yr_scalar(r, &t)) {
            yr_opt_fail(r, o, "expected a mapping of names to numbers");
            goto fail;
        }
        if (strlen(t) >= sizeof key || json_object_get(obj, t)) {
            yr_opt_fail(r, o, "name too long or given more than once");
            goto fail;
        }
        snprintf(key, sizeof key, "%s", t);
        if (yr_next(r))
            goto fail;
        if (!yr_is(r, YAML_SCALAR_EVENT) || yr_scalar(r, &t) || config_parse_float(t, &f)) {
            char why[400];
            snprintf(why, sizeof why, "value for \"%s\": expected a number", key);
            yr_opt_fail(r, o, why);
            goto fail;
        }
        if (json_object_set_new(obj, key, json_real(f))) {
            yr_opt_fail(r, o, "names must be valid UTF-8");
            goto fail;
        }
    }
    *out = obj;
    return 0;
fail:
    json_decref(obj);
    return -1;
}

/* Converts the value starting at the current event; *out = NULL for null. */
static int yr_option_value(struct yreader *r, const struct yopt *o, json_t **out)
{
    enum config_type type = o->opt->type;
    *out = NULL;
    if (yr_is_null(r))
        return 0;
    if (type == CONFIG_JSON)
        return yr_to_json(r, out);
    if (yr_is(r, YAML_SCALAR_EVENT))
        return yr_text_value(r, o, out);
    if (yr_is(r, YAML_SEQUENCE_START_EVENT) && type == CONFIG_LIST)
        return yr_list_value(r, o, out);
    if (yr_is(r, YAML_MAPPING_START_EVENT) && type == CONFIG_MAP)
        return yr_map_value(r, o, out);
    char why[128];
    snprintf(why, sizeof why, "expected %s, got a %s", config_type_expectation(type),
             yr_is(r, YAML_MAPPING_START_EVENT) ? "mapping" : "list");
    return yr_opt_fail(r, o, why);
}

/* ---- entries -------------------------------------------------------------- */

static size_t yr_new_item(struct yreader *r, struct config *cfg, const char *name)
{
    const struct config_entry_def *def = config_entry_lookup(name, 0);
    if (!def) {
        yr_fail(r, "unknown entry '%.80s'", name);
        return CONFIG_NO_ITEM;
    }
    char where[512];
    snprintf(where, sizeof where, "%s:%zu", r->name, yr_line(r));
    return config_add_item(cfg, def, where, r->err, r->errlen);
}

/* `- name` */
static int yr_item_scalar(struct yreader *r, struct config *cfg)
{
    const char *name = NULL;
    if (yr_is_null(r))
        return yr_fail(r, "empty list item; expected an entry name");
    if (yr_scalar(r, &name))
        return -1;
    return yr_new_item(r, cfg, name) == CONFIG_NO_ITEM ? -1 : 0;
}

static int yr_set_option(struct yreader *r, struct config_item *it, const struct config_option *opt)
{
    struct yopt o = { it, opt };
    json_t *v;
    if (yr_option_value(r, &o, &v))
        return -1;
    if (v && json_object_set_new(it->opts, opt->name, v))
        return yr_fail(r, "out of memory");
    return 0;
}

/* `name: value` where value is a bare scalar. */
static int yr_bare_value(struct yreader *r, struct config_item *it)
{
    const struct config_option *bare = config_bare_option(it->def);
    if (!bare)
        return yr_fail(r, "entry '%s': does not take a bare value (got \"%.80s\")", it->def->name,
                       yr_text(r));
    return yr_set_option(r, it, bare);
}

/* `name: {option: value, ...}` */
static int yr_options(struct yreader *r, struct config_item *it)
{
    for (;;) {
        const char *key = NULL;
        if (yr_next(r))
            return -1;
        if (yr_is(r, YAML_MAPPING_END_EVENT))
            return 0;
        if (!yr_is(r, YAML_SCALAR_EVENT) || yr_is_null(r))
            return yr_fail(r, "entry '%s': option names must be strings", it->def->name);
        if (yr_scalar(r, &key))
            return -1;
        const struct config_option *opt = config_option_lookup(it->def, key);
        if (!opt)
            return yr_fail(r, "entry '%s': unknown key '%.80s'", it->def->name, key);
        if (json_object_get(it->opts, opt->name))
            return yr_fail(r, "entry '%s': key '%s' given more than once", it->def->name,
                           opt->name);
        if (yr_next(r) || yr_set_option(r, it, opt))
            return -1;
    }
}

/* `- name: ...` (a single-key mapping) */
static int yr_item_mapping(struct yreader *r, struct config *cfg)
{
    const char *name = NULL;
    if (yr_next(r))
        return -1;
    if (!yr_is(r, YAML_SCALAR_EVENT) || yr_is_null(r))
        return yr_fail(r, "expected an entry name");
    if (yr_scalar(r, &name))
        return -1;
    size_t idx = yr_new_item(r, cfg, name);
    if (idx == CONFIG_NO_ITEM || yr_next(r))
        return -1;
    struct config_item *it = &cfg->items[idx];
    int rc = 0;
    if (yr_is(r, YAML_SCALAR_EVENT))
        rc = yr_is_null(r) ? 0 : yr_bare_value(r, it);
    else if (yr_is(r, YAML_MAPPING_START_EVENT))
        rc = yr_options(r, it);
    else
        rc = yr_fail(r, "entry '%s': expected a mapping of options or a single value",
                     it->def->name);
    if (rc || yr_next(r))
        return -1;
    if (!yr_is(r, YAML_MAPPING_END_EVENT))
        return yr_fail(r, "list item has more than one entry name; start each entry with \"- \"");
    return 0;
}

static int yr_items(struct yreader *r, struct config *cfg)
{
    for (;;) {
        if (yr_next(r))
            return -1;
        if (yr_is(r, YAML_SEQUENCE_END_EVENT))
            return 0;
        int rc;
        if (yr_is(r, YAML_SCALAR_EVENT))
            rc = yr_item_scalar(r, cfg);
        else if (yr_is(r, YAML_MAPPING_START_EVENT))
            rc = yr_item_mapping(r, cfg);
        else
            rc = yr_fail(r, "each list item must be an entry name or a single-key mapping");
        if (rc)
            return -1;
    }
}

/* Reads the first document; later documents are ignored, like yaml.v2. */
static int yr_stream(struct yreader *r, struct config *cfg)
{
    if (yr_next(r) || yr_next(r))  /* stream start, then document start or stream end */
        return -1;
    if (yr_is(r, YAML_STREAM_END_EVENT))
        return 0;
    if (!yr_is(r, YAML_DOCUMENT_START_EVENT))
        return yr_fail(r, "expected a YAML document");
    if (yr_next(r))
        return -1;
    if (yr_is(r, YAML_SEQUENCE_START_EVENT)) {
        if (yr_items(r, cfg))
            return -1;
    } else if (!yr_is_null(r)) {
        return yr_fail(r, "the configuration must be a list of entries");
    }
    return yr_next(r);  /* document end: reports trailing syntax errors */
}

int config_load_buffer(struct config *cfg, const char *name, const char *data, size_t len,
                       char *err, size_t errlen)
{
    if (len > CONFIG_MAX_FILE_SIZE)
        return config_fail(err, errlen, "%s: file is larger than 16 MiB (%u bytes)", name,
                           CONFIG_MAX_FILE_SIZE);
    struct yreader r;
    memset(&r, 0, sizeof r);
    r.name = name;
    r.data = data;
    r.len = len;
    r.err = err;
    r.errlen = errlen;
    if (!yaml_parser_initialize(&r.parser))
        return config_fail(err, errlen, "%s: out of memory", name);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)data, len);
    int rc = yr_stream(&r, cfg);
    if (r.have_ev)
        yaml_event_delete(&r.ev);
    yaml_parser_delete(&r.parser);
    return rc;
}

/* Reads at most CONFIG_MAX_FILE_SIZE + 1 bytes, so oversize input is seen
 * (also for pipes and devices, whose size stat does not know). */
static int read_bounded(FILE *f, char **out, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap > CONFIG_MAX_FILE_SIZE)
            break;  /* end of file, error, or already one byte over the limit */
        size_t ncap = cap * 2 > CONFIG_MAX_FILE_SIZE + 1 ? CONFIG_MAX_FILE_SIZE + 1 : cap * 2;
        char *grown = realloc(buf, ncap);
        if (!grown) {
            free(buf);
            return -1;
        }
        buf = grown;
        cap = ncap;
    }
    if (ferror(f)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return config_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CONFIG_MAX_FILE_SIZE) {
        fclose(f);
        return config_fail(err, errlen, "%s: file is larger than 16 MiB (%u bytes)", path,
                           CONFIG_MAX_FILE_SIZE);
    }
    char *data = NULL;
    size_t len = 0;
    errno = 0;
    int rc = read_bounded(f, &data, &len);
    int saved = errno;
    fclose(f);
    if (rc)
        return config_fail(err, errlen, "%s: cannot read: %s", path, strerror(saved ? saved : EIO));
    rc = config_load_buffer(cfg, path, data, len, err, errlen);
    free(data);
    return rc;
}
