/* message.c - see message.h. */
#include "mesh/message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gojson.h"
#include "core/util.h"

const uint8_t msg_reject[3] = { MSG_REJECT, '[', ']' };

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void get_service(const uint8_t *p, char out[MSG_SERVICE_MAX + 1])
{
    memcpy(out, p, MSG_SERVICE_MAX);
    out[MSG_SERVICE_MAX] = 0;
    /* trailing NULs stripped; interior NULs would end the C string, which
     * only matters for names no listener can have */
}

int msg_data_decode(const uint8_t *m, size_t n, struct msg_data *out, const char **err)
{
    if (n < MSG_DATA_HEADER || m[0] != MSG_DATA) {
        *err = "data too short to be a valid message";
        return -1;
    }
    out->hops = m[1];
    out->from_node = get_be64(m + 4);
    out->to_node = get_be64(m + 12);
    get_service(m + 20, out->from_service);
    get_service(m + 28, out->to_service);
    out->payload = m + MSG_DATA_HEADER;
    out->len = n - MSG_DATA_HEADER;
    return 0;
}

void msg_data_header(const struct msg_data *d, uint8_t out[MSG_DATA_HEADER])
{
    memset(out, 0, MSG_DATA_HEADER);
    out[0] = MSG_DATA;
    out[1] = d->hops;
    put_be64(out + 4, d->from_node);
    put_be64(out + 12, d->to_node);
    memcpy(out + 20, d->from_service, strnlen(d->from_service, MSG_SERVICE_MAX));
    memcpy(out + 28, d->to_service, strnlen(d->to_service, MSG_SERVICE_MAX));
}

/* ---- JSON field helpers ------------------------------------------------ */

/* Field key of the given type in *out (NULL when absent or null); -1 with
 * "field <key>: expected <type>" when it has another type.  JSON_TRUE
 * stands for either boolean. */
static int get_typed(json_t *o, const char *key, json_type type, json_t **out, char *err,
                     size_t errlen)
{
    static const char *const names[] = {
        [JSON_OBJECT] = "an object",   [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer", [JSON_TRUE] = "a boolean",
    };
    json_t *v = gojson_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (type == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != type) {
        snprintf(err, errlen, "field %s: expected %s", key, names[type]);
        return -1;
    }
    *out = v;
    return 0;
}

/* A string field of at most max bytes (absent or null: ""). */
static int get_string(json_t *o, const char *key, size_t max, char **out, char *err,
                      size_t errlen)
{
    json_t *v;
    if (get_typed(o, key, JSON_STRING, &v, err, errlen) < 0)
        return -1;
    if (!v) {
        *out = strdup("");
        return *out ? 0 : -1;
    }
    if (json_string_length(v) > max) {
        snprintf(err, errlen, "field %s: %zu bytes long (limit %zu)", key, json_string_length(v),
                 max);
        return -1;
    }
    *out = strndup(json_string_value(v), json_string_length(v));
    return *out ? 0 : -1;
}

static int get_u64(json_t *o, const char *key, uint64_t *out, char *err, size_t errlen)
{
    json_t *v = gojson_get(o, key);
    if (!v || json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "field %s: expected an unsigned integer", key);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static json_t *parse_object(const uint8_t *json, size_t n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)json, n, JSON_DECODE_ANY, &je);
    if (!o) {
        snprintf(err, errlen, "invalid JSON: %s", je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        snprintf(err, errlen, "invalid JSON: not an object");
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Decodes the fields of a parsed message object into out. */
typedef int (*fields_fn)(json_t *o, void *out, char *err, size_t errlen);

/* What every JSON message decoder does around its fields: out zeroed, the
 * message parsed as an object, its fields decoded by fields; when they are
 * wrong, out is freed again by free_out and err says why. */
static int decode_object(const uint8_t *json, size_t n, void *out, size_t size, fields_fn fields,
                         void (*free_out)(void *), char *err, size_t errlen)
{
    memset(out, 0, size);
    json_t *o = parse_object(json, n, err, errlen);
    if (!o)
        return -1;
    int rc = fields(o, out, err, errlen);
    json_decref(o);
    if (rc < 0)
        free_out(out);
    return rc;
}

/* ---- routing updates ---------------------------------------------------- */

static int route_fields(json_t *o, void *p, char *err, size_t errlen)
{
    struct msg_route *out = p;
    if (get_string(o, "NodeID", MSG_NODE_ID_MAX, &out->node_id, err, errlen) < 0 ||
        get_string(o, "UpdateID", MSG_UPDATE_ID_MAX, &out->update_id, err, errlen) < 0 ||
        get_u64(o, "UpdateEpoch", &out->epoch, err, errlen) < 0 ||
        get_u64(o, "UpdateSequence", &out->sequence, err, errlen) < 0 ||
        get_string(o, "ForwardingNode", MSG_NODE_ID_MAX, &out->forwarding_node, err, errlen) < 0 ||
        get_u64(o, "SuspectedDuplicate", &out->suspected_dup, err, errlen) < 0)
        return -1;
    json_t *c;
    out->connections = json_object();
    if (get_typed(o, "Connections", JSON_OBJECT, &c, err, errlen) < 0)
        return -1;
    if (c) {
        if (json_object_size(c) > MSG_ROUTE_MAX_CONNECTIONS) {
            snprintf(err, errlen, "field Connections: %zu entries (limit %d)",
                     json_object_size(c), MSG_ROUTE_MAX_CONNECTIONS);
            return -1;
        }
        const char *k;
        json_t *v;
        json_object_foreach(c, k, v) {
            if (strlen(k) > MSG_NODE_ID_MAX) {
                snprintf(err, errlen, "field Connections: node ID of %zu bytes (limit %d)",
                         strlen(k), MSG_NODE_ID_MAX);
                return -1;
            }
            if (!json_is_number(v)) {
                snprintf(err, errlen, "field Connections: cost of %.64s is not a number", k);
                return -1;
            }
            json_object_set_new(out->connections, k, json_real(json_number_value(v)));
        }
    }
    return 0;
}

static void route_free(void *p) { msg_route_free(p); }

int msg_route_decode(const uint8_t *json, size_t n, struct msg_route *out, char *err, size_t errlen)
{
    return decode_object(json, n, out, sizeof *out, route_fields, route_free, err, errlen);
}

static int cmp_cost(const void *a, const void *b)
{
    return strcmp(((const struct msg_cost *)a)->node, ((const struct msg_cost *)b)->node);
}

void msg_costs_sort(struct msg_cost *c, size_t n)
{
    if (n > 1)
        qsort(c, n, sizeof *c, cmp_cost);
}

int msg_route_encode_costs(const struct msg_route *r, const struct msg_cost *c, size_t n, struct buf *out)
{
    int rc = buf_append(out, "\x01", 1);
    rc |= buf_append_str(out, "{\"NodeID\":");
    rc |= gojson_string(r->node_id, strlen(r->node_id), out);
    rc |= buf_append_str(out, ",\"UpdateID\":");
    rc |= gojson_string(r->update_id, strlen(r->update_id), out);
    rc |= buf_printf(out, ",\"UpdateEpoch\":%" PRIu64 ",\"UpdateSequence\":%" PRIu64
                     ",\"Connections\":{", r->epoch, r->sequence);
    for (size_t i = 0; i < n; i++) {
        if (i)
            rc |= buf_append_str(out, ",");
        rc |= gojson_string(c[i].node, strlen(c[i].node), out);
        rc |= buf_append_str(out, ":");
        rc |= gojson_float(c[i].cost, out);
    }
    rc |= buf_append_str(out, "},\"ForwardingNode\":");
    rc |= gojson_string(r->forwarding_node, strlen(r->forwarding_node), out);
    rc |= buf_printf(out, ",\"SuspectedDuplicate\":%" PRIu64 "}", r->suspected_dup);
    return rc ? -ENOBUFS : 0;
}

int msg_route_encode(const struct msg_route *r, struct buf *out)
{
    size_t n = json_object_size(r->connections), i = 0;
    struct msg_cost *c = malloc((n ? n : 1) * sizeof *c);
    if (!c)
        return -ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(r->connections, k, v)
        c[i++] = (struct msg_cost){ k, json_number_value(v) };
    msg_costs_sort(c, n);
    int rc = msg_route_encode_costs(r, c, n, out);
    free(c);
    return rc;
}

void msg_route_free(struct msg_route *r)
{
    free(r->node_id);
    free(r->update_id);
    free(r->forwarding_node);
    json_decref(r->connections);
    memset(r, 0, sizeof *r);
}

/* ---- service advertisements -------------------------------------------- */

static int ad_fields(json_t *o, void *p, char *err, size_t errlen)
{
    struct msg_ad *out = p;
    if (get_string(o, "NodeID", MSG_NODE_ID_MAX, &out->node_id, err, errlen) < 0 ||
        get_string(o, "Service", MSG_SERVICE_MAX, &out->service, err, errlen) < 0 ||
        get_string(o, "Time", MSG_TIME_MAX, &out->time, err, errlen) < 0)
        return -1;
    if (util_parse_rfc3339(out->time, &out->time_ns) < 0) {
        snprintf(err, errlen, "field Time: not an RFC 3339 time");
        return -1;
    }
    json_t *v;
    if (get_typed(o, "ConnType", JSON_INTEGER, &v, err, errlen) < 0)
        return -1;
    if (v)
        out->conn_type = (int)json_integer_value(v);
    if (get_typed(o, "Tags", JSON_OBJECT, &v, err, errlen) < 0)
        return -1;
    if (v) {
        const char *k;
        json_t *tv;
        json_object_foreach(v, k, tv) if (!json_is_string(tv)) {
            snprintf(err, errlen, "field Tags: values must be strings");
            return -1;
        }
        out->tags = json_incref(v);
    }
    if (get_typed(o, "WorkCommands", JSON_ARRAY, &v, err, errlen) < 0)
        return -1;
    if (v) {
        json_t *wc = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            json_t *wt = gojson_get(e, "WorkType"), *sec = gojson_get(e, "Secure");
            if (!json_is_object(e) || (wt && !json_is_string(wt)) || (sec && !json_is_boolean(sec))) {
                json_decref(wc);
                snprintf(err, errlen, "field WorkCommands: bad element");
                return -1;
            }
            json_array_append_new(wc, json_pack("{s:s,s:b}", "WorkType",
                                                wt ? json_string_value(wt) : "", "Secure",
                                                sec ? json_is_true(sec) : 0));
        }
        out->work_commands = wc;
    }
    if (get_typed(o, "Cancel", JSON_TRUE, &v, err, errlen) < 0)
        return -1;
    if (v)
        out->cancel = json_is_true(v);
    return 0;
}

static void ad_free(void *p) { msg_ad_free(p); }

int msg_ad_decode(const uint8_t *json, size_t n, struct msg_ad *out, char *err, size_t errlen)
{
    return decode_object(json, n, out, sizeof *out, ad_fields, ad_free, err, errlen);
}

json_t *msg_ad_to_json(const struct msg_ad *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "NodeID", json_string(a->node_id));
    json_object_set_new(o, "Service", json_string(a->service));
    json_object_set_new(o, "Time", json_string(a->time));
    json_object_set_new(o, "ConnType", json_integer(a->conn_type));
    json_object_set(o, "Tags", a->tags ? a->tags : json_null());
    json_object_set(o, "WorkCommands", a->work_commands ? a->work_commands : json_null());
    return o;
}

int msg_ad_encode(const struct msg_ad *a, struct buf *out, int with_type, int with_cancel)
{
    json_t *o = msg_ad_to_json(a);
    /* Tags is a Go map: sorted keys.  Rebuild it sorted, then dump in
     * insertion order so the struct order of the outer object is kept. */
    if (a->tags) {
        json_t *sorted = gojson_sorted(a->tags);
        if (!sorted) {
            json_decref(o);
            return -ENOMEM;
        }
        json_object_set_new(o, "Tags", sorted);
    }
    if (with_cancel)
        json_object_set_new(o, "Cancel", json_boolean(a->cancel));
    int rc = with_type ? buf_append(out, "\x02", 1) : 0;
    rc |= gojson_dump(o, 0, out);
    json_decref(o);
    return rc ? -ENOBUFS : 0;
}

void msg_ad_free(struct msg_ad *a)
{
    free(a->node_id);
    free(a->service);
    free(a->time);
    json_decref(a->tags);
    json_decref(a->work_commands);
    memset(a, 0, sizeof *a);
}

/* ---- unreachable notices ------------------------------------------------ */

/* No bound of their own: a string is never longer than the message it is in. */
static int unreach_fields(json_t *o, void *p, char *err, size_t errlen)
{
    struct msg_unreach *out = p;
    if (get_string(o, "FromNode", SIZE_MAX, &out->from_node, err, errlen) < 0 ||
        get_string(o, "ToNode", SIZE_MAX, &out->to_node, err, errlen) < 0 ||
        get_string(o, "FromService", SIZE_MAX, &out->from_service, err, errlen) < 0 ||
        get_string(o, "ToService", SIZE_MAX, &out->to_service, err, errlen) < 0 ||
        get_string(o, "Problem", SIZE_MAX, &out->problem, err, errlen) < 0)
        return -1;
    return 0;
}

static void unreach_free(void *p) { msg_unreach_free(p); }

int msg_unreach_decode(const uint8_t *json, size_t n, struct msg_unreach *out)
{
    char err[32 + JSON_ERROR_TEXT_LENGTH]; /* room for parse_object's "invalid JSON: <text>" */
    return decode_object(json, n, out, sizeof *out, unreach_fields, unreach_free, err, sizeof err);
}

int msg_unreach_encode(const struct msg_unreach *u, struct buf *out)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "FromNode", u->from_node, "ToNode",
                          u->to_node, "FromService", u->from_service, "ToService",
                          u->to_service, "Problem", u->problem);
    if (!o)
        return -EINVAL;
    int rc = gojson_dump(o, 0, out);
    json_decref(o);
    return rc;
}

void msg_unreach_free(struct msg_unreach *u)
{
    free(u->from_node);
    free(u->to_node);
    free(u->from_service);
    free(u->to_service);
    free(u->problem);
    memset(u, 0, sizeof *u);
}
