/* commands.c - the one table of control commands and the mesh commands
 * (spec 8.3-8.7).  Work commands join the table in src/work. */
#include "control/control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/godur.h"
#include "core/gojson.h"

#define TRACEROUTE_MAX_HOPS 30

/* ---- ping ------------------------------------------------------------------ */

static json_t *time_fields(json_t *o, int64_t ns)
{
    char ts[64];
    godur_format(ns, ts, sizeof ts);
    json_object_set_new(o, "Time", json_integer(ns));
    json_object_set_new(o, "TimeStr", json_string(ts));
    return o;
}

static void ping_result(void *arg, const char *from, int64_t elapsed, const char *err)
{
    struct control_session *s = arg;
    control_clear_pending(s);
    if (err) {
        control_reply_json(s, json_pack("{s:s,s:b}", "Error", err, "Success", 0), 1);
        return;
    }
    json_t *o = json_pack("{s:s,s:b}", "From", from, "Success", 1);
    control_reply_json(s, time_fields(o, elapsed), 1);
}

static void cancel_ping(void *p) { node_ping_cancel(p); }

/* Target from "cmd TARGET" or {"target": ...}; NULL after replying an error. */
static const char *get_target(struct control_session *s, const char *params, json_t *cmd,
                              const char *what)
{
    if (cmd) {
        json_t *t = json_object_get(cmd, "target");
        if (!t) {
            control_reply_error(s, "no %s target", what);
            return NULL;
        }
        if (!json_is_string(t)) {
            control_reply_error(s, "%s target must be string", what);
            return NULL;
        }
        return json_string_value(t);
    }
    if (!params || !params[0]) {
        control_reply_error(s, "no %s target", what);
        return NULL;
    }
    return params;
}

static enum control_handoff cmd_ping(struct control_session *s, const char *params, json_t *cmd)
{
    const char *target = get_target(s, params, cmd, "ping");
    if (!target)
        return CONTROL_SESSION_KEPT;
    struct node_ping *p = node_ping(control_node(s), target, NODE_HOPS_DEFAULT, ping_result, s);
    if (!p) {
        control_reply_error(s, "out of memory");
        return CONTROL_SESSION_KEPT;
    }
    control_set_pending(s, cancel_ping, p);
    return CONTROL_SESSION_KEPT;
}

/* ---- traceroute ------------------------------------------------------------ */

struct trace {
    struct control_session *s;
    char *target;
    int hop;
    json_t *result;
    struct node_ping *ping;
};

static void trace_free(struct trace *t)
{
    json_decref(t->result);
    free(t->target);
    free(t);
}

static void trace_cancel(void *arg)
{
    struct trace *t = arg;
    if (t->ping)
        node_ping_cancel(t->ping);
    trace_free(t);
}

static void trace_step(struct trace *t);

static void trace_result(void *arg, const char *from, int64_t elapsed, const char *err)
{
    struct trace *t = arg;
    t->ping = NULL;
    json_t *hop = json_pack("{s:s}", "From", from ? from : "");
    time_fields(hop, elapsed);
    int last = !err || strcmp(err, "message expired") != 0 || t->hop >= TRACEROUTE_MAX_HOPS;
    if (err && strcmp(err, "message expired") != 0)
        json_object_set_new(hop, "Error", json_string(err));
    char key[16];
    snprintf(key, sizeof key, "%d", t->hop);
    json_object_set_new(t->result, key, gojson_sorted(hop));
    json_decref(hop);
    if (last) {
        struct control_session *s = t->s;
        control_clear_pending(s);
        json_t *r = json_incref(t->result);
        trace_free(t);
        control_reply_json(s, r, 1);
        return;
    }
    t->hop++;
    trace_step(t);
}

static void trace_step(struct trace *t)
{
    t->ping = node_ping(control_node(t->s), t->target, t->hop, trace_result, t);
}

static enum control_handoff cmd_traceroute(struct control_session *s, const char *params, json_t *cmd)
{
    const char *target = get_target(s, params, cmd, "traceroute");
    if (!target)
        return CONTROL_SESSION_KEPT;
    struct trace *t = calloc(1, sizeof *t);
    if (!t || !(t->target = strdup(target))) {
        free(t);
        control_reply_error(s, "out of memory");
        return CONTROL_SESSION_KEPT;
    }
    t->s = s;
    t->result = json_object();
    control_set_pending(s, trace_cancel, t);
    trace_step(t);
    return CONTROL_SESSION_KEPT;
}

/* ---- status ---------------------------------------------------------------- */

static enum control_handoff cmd_status(struct control_session *s, const char *params, json_t *cmd)
{
    json_t *fields = cmd ? json_object_get(cmd, "requested_fields") : NULL;
    if (params && params[0]) {
        control_reply_error(s, "status command does not take parameters");
        return CONTROL_SESSION_KEPT;
    }
    if (fields && !json_is_array(fields)) {
        control_reply_error(s, "requested_fields must be a list of strings");
        return CONTROL_SESSION_KEPT;
    }
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) if (!json_is_string(f)) {
        control_reply_error(s, "requested_fields must be a list of strings");
        return CONTROL_SESSION_KEPT;
    }
    if (!fields) { /* written directly: a large mesh's tables are large */
        struct buf b;
        buf_init(&b, 64u << 20);
        control_reply_line(s, &b, node_status_write(control_node(s), &b) == 0);
        return CONTROL_SESSION_KEPT;
    }
    json_t *st = node_status(control_node(s));
    /* node_status() inserts its keys sorted: keep that order */
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(st, k, v) {
        json_array_foreach(fields, i, f) if (strcmp(json_string_value(f), k) == 0) {
            json_object_set(out, k, v);
            break;
        }
    }
    json_decref(st);
    control_reply_json(s, out, 0);
    return CONTROL_SESSION_KEPT;
}

/* ---- reload ---------------------------------------------------------------- */

static enum control_handoff cmd_reload(struct control_session *s, const char *params, json_t *cmd)
{
    (void)params;
    (void)cmd;
    const struct control_hooks *h = control_session_hooks(s);
    char err[512];
    int code = 4;
    if (!h->reload) {
        control_reply_json(s, json_pack("{s:s,s:b}", "Error",
                                        "no configuration file was provided, reload function not set ERRORCODE 4",
                                        "Success", 0), 1);
        return CONTROL_SESSION_KEPT;
    }
    if (h->reload(h->arg, err, sizeof err, &code) < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s ERRORCODE %d", err, code);
        control_reply_json(s, json_pack("{s:s,s:b}", "Error", msg, "Success", 0), 1);
        return CONTROL_SESSION_KEPT;
    }
    control_reply_json(s, json_pack("{s:b}", "Success", 1), 1);
    return CONTROL_SESSION_KEPT;
}

enum control_handoff cmd_connect(struct control_session *s, const char *params, json_t *cmd);
enum control_handoff cmd_work(struct control_session *s, const char *params, json_t *cmd);

const struct control_command control_commands[] = {
    { "ping", cmd_ping },
    { "traceroute", cmd_traceroute },
    { "status", cmd_status },
    { "reload", cmd_reload },
    { "connect", cmd_connect },
    { "work", cmd_work },
    { NULL, NULL },
};
