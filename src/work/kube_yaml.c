/* kube_yaml.c - YAML (or JSON, which is YAML) text to a jansson value, for
 * kubeconfig files and pod specs (kube_yaml.h).
 *
 * Built on libyaml's event parser.  Plain scalars get YAML 1.1 core types as
 * Kubernetes' sigs.k8s.io/yaml reads them (null, booleans, integers,
 * floats); quoted and block scalars stay strings.  Anchors and aliases are
 * refused (a kubeconfig or pod spec has no use for them, and aliases are
 * the classic way to make a small document expand without bound), as are
 * documents nested deeper than KUBE_YAML_DEPTH or with more than
 * KUBE_YAML_NODES nodes.  Only the first document is read. */
#include "work/kube_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define KUBE_YAML_DEPTH 64
#define KUBE_YAML_NODES 200000

struct ky {
    yaml_parser_t p;
    size_t nodes;
    char *err;
    size_t errlen;
};

static int ky_fail(struct ky *k, const char *what, const yaml_event_t *ev)
{
    if (ev)
        snprintf(k->err, k->errlen, "%s at line %lu", what, (unsigned long)ev->start_mark.line + 1);
    else
        snprintf(k->err, k->errlen, "%s", what);
    return -1;
}

static int ky_next(struct ky *k, yaml_event_t *ev)
{
    if (yaml_parser_parse(&k->p, ev))
        return 0;
    snprintf(k->err, k->errlen, "yaml: line %lu: %s", (unsigned long)k->p.problem_mark.line + 1,
             k->p.problem ? k->p.problem : "parse error");
    return -1;
}

static int is_int_text(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static json_t *plain_scalar(const char *s)
{
    static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
    static const char *const trues[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
    static const char *const falses[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off",
                                          "OFF" };
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(s, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; i < sizeof trues / sizeof trues[0]; i++)
        if (strcmp(s, trues[i]) == 0)
            return json_true();
    for (size_t i = 0; i < sizeof falses / sizeof falses[0]; i++)
        if (strcmp(s, falses[i]) == 0)
            return json_false();
    if (is_int_text(s)) {
        errno = 0;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && !*end)
            return json_integer(v);
    }
    char *end;
    double d = strtod(s, &end);
    if (*s && !*end && (s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9')) &&
        isfinite(d) && !strchr(s, 'x') && !strchr(s, 'X'))
        return json_real(d);
    return json_string(s);
}

static json_t *ky_value(struct ky *k, yaml_event_t *ev, int depth);

static json_t *ky_mapping(struct ky *k, int depth)
{
    json_t *obj = json_object();
    for (;;) {
        yaml_event_t kev;
        if (ky_next(k, &kev) < 0)
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            ky_fail(k, "yaml: mapping keys must be scalars", &kev);
            yaml_event_delete(&kev);
            goto fail;
        }
        char *key = strdup((const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        yaml_event_t vev;
        json_t *v = NULL;
        if (key && ky_next(k, &vev) == 0) {
            v = ky_value(k, &vev, depth + 1);
            yaml_event_delete(&vev);
        }
        if (!v || json_object_set_new(obj, key, v) < 0) {
            free(key);
            goto fail;
        }
        free(key);
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *ky_sequence(struct ky *k, int depth)
{
    json_t *arr = json_array();
    for (;;) {
        yaml_event_t ev;
        if (ky_next(k, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        json_t *v = ky_value(k, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!v || json_array_append_new(arr, v) < 0)
            goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *ky_value(struct ky *k, yaml_event_t *ev, int depth)
{
    if (depth > KUBE_YAML_DEPTH) {
        ky_fail(k, "yaml: document nested too deeply", ev);
        return NULL;
    }
    if (++k->nodes > KUBE_YAML_NODES) {
        ky_fail(k, "yaml: document has too many nodes", ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        ky_fail(k, "yaml: aliases are not supported", ev);
        return NULL;
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) {
            ky_fail(k, "yaml: anchors are not supported", ev);
            return NULL;
        }
        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag)
            return plain_scalar((const char *)ev->data.scalar.value);
        return json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor) {
            ky_fail(k, "yaml: anchors are not supported", ev);
            return NULL;
        }
        return ky_mapping(k, depth);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor) {
            ky_fail(k, "yaml: anchors are not supported", ev);
            return NULL;
        }
        return ky_sequence(k, depth);
    default:
        ky_fail(k, "yaml: unexpected event", ev);
        return NULL;
    }
}

json_t *kube_yaml_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct ky k = { .err = err, .errlen = errlen };
    if (!yaml_parser_initialize(&k.p)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&k.p, (const unsigned char *)text, len);
    json_t *out = NULL;
    int done = 0;
    while (!done) {
        yaml_event_t ev;
        if (ky_next(&k, &ev) < 0)
            break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
            break;
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = 1;
            if (!out)
                out = json_null();
            break;
        default:
            out = ky_value(&k, &ev, 0);
            done = 1;
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&k.p);
    return out;
}
