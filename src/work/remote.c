/* remote.c - remote work (spec 10.4): a local unit of type `remote` that
 * mirrors a unit on another node, driven through that node's control
 * service over mesh streams.
 *
 * Start: dial (node, control), submit the JSON line, upload the local stdin
 * file, half-close, read the result.  If the node cannot be reached the
 * submission answers "Job Submitted" and keeps trying with back-off (1 s
 * x1.5, at most 60 s) until it starts, is cancelled, or its TTL expires.
 *
 * Follow: a results stream from startpos = the local stdout size appends to
 * the local stdout file as bytes arrive, so every disconnect or restart (of
 * the relay, the executor or this node) resumes exactly where it stopped.
 * The remote node closes the stream when its unit is complete; a status
 * request then settles the final state.  A 1 s status poll runs alongside
 * for Running details, cancellation, and units that vanished on the other
 * side (failed at once with a reason, instead of staying Running forever).
 *
 * Cancel and release are sent to the remote node, or retried in the
 * background ("cancel pending", "release pending") while it is unreachable. */
#include "work/workceptor_internal.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/godur.h"
#include "core/gojson.h"
#include "core/log.h"
#include "core/util.h"
#include "work/ctlclient.h"
#include "work/sign.h"
#include "work/signature.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define STATUS_POLL_MS 1000

enum remote_phase { PH_IDLE, PH_STARTING, PH_FOLLOWING, PH_CANCELING, PH_RELEASING, PH_DONE };

struct remote {
    struct unit *u;
    enum remote_phase phase;
    struct ctlc *main;          /* start / cancel / release conversation */
    struct ctlc *results;       /* results download */
    struct ctlc *status;        /* status poll */
    uv_timer_t retry, poll;
    int timers;                 /* open timer handles */
    uint64_t backoff;
    int out_fd;                 /* local stdout, append */
    int results_done;           /* remote closed the results stream */
    int force;
    unit_done_cb start_done, action_done;
    void *start_arg, *action_arg;
    int start_sync;             /* the first, synchronous start attempt */
    int freed;
};

static void remote_follow(struct remote *r);
static void remote_try_start(struct remote *r);
static void remote_send_action(struct remote *r);

/* ---- ExtraData ------------------------------------------------------------- */

static json_t *extra(struct remote *r) { return r->u->st.extra; }
static const char *x_str(struct remote *r, const char *k)
{
    const char *s = json_string_value(json_object_get(extra(r), k));
    return s ? s : "";
}
static int x_bool(struct remote *r, const char *k) { return json_is_true(json_object_get(extra(r), k)); }

static void x_set(struct remote *r, const char *k, json_t *v)
{
    json_t *e = json_deep_copy(extra(r));
    json_object_set_new(e, k, v);
    unit_set_extra(r->u, e);
    json_decref(e);
}

static const struct stream_tls *remote_tls(struct remote *r)
{
    const char *name = x_str(r, "TLSClient");
    struct workceptor *wc = r->u->wc;
    if (!name[0] || !wc->tls_lookup)
        return NULL;
    return wc->tls_lookup(wc->tls_arg, name);
}

int remote_check_params(struct workceptor *wc, const char *node, const char *worktype, json_t *params,
                        json_t **out, char *err, size_t errlen)
{
    const char *tls = json_string_value(json_object_get(params, "tlsclient"));
    if (tls && tls[0] && (!wc->tls_lookup || !wc->tls_lookup(wc->tls_arg, tls))) {
        snprintf(err, errlen, "unknown TLS client config %s", tls);
        return -1;
    }
    json_t *rp = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v) {
        if (strcmp(k, "tlsclient") == 0 || strcmp(k, "ttl") == 0 || strcmp(k, "signwork") == 0)
            continue;
        if (strncasecmp(k, "secret_", 7) == 0 && !(tls && tls[0])) {
            json_decref(rp);
            snprintf(err, errlen, "cannot send secrets over a non-TLS connection");
            return -1;
        }
        json_object_set(rp, k, v);
    }
    const char *sign = json_string_value(json_object_get(params, "signwork"));
    int signwork = sign && strcmp(sign, "true") == 0;
    if (signwork && !wc->signer) {
        json_decref(rp);
        snprintf(err, errlen, "cannot sign work: no work-signing key configured");
        return -1;
    }
    char expiration[64] = "0001-01-01T00:00:00Z";
    const char *ttl = json_string_value(json_object_get(params, "ttl"));
    if (ttl && ttl[0]) {
        int64_t ns;
        if (godur_parse(ttl, &ns, err, errlen) < 0) {
            json_decref(rp);
            return -1;
        }
        int64_t now = util_now_ns();
        if (ns > INT64_MAX - now) { /* the sum would overflow */
            json_decref(rp);
            snprintf(err, errlen, "ttl %s is out of range: the unit would expire after the year 2262", ttl);
            return -1;
        }
        util_format_rfc3339(now + ns, expiration, sizeof expiration);
        if (signwork && ns > sign_signer_lifetime(wc->signer))
            log_warning("json web token expires before ttl: the remote node may refuse late commands");
    }
    *out = json_pack("{s:s,s:s,s:o,s:s,s:b,s:b,s:b,s:b,s:s,s:s}", "RemoteNode", node, "RemoteWorkType",
                     worktype, "RemoteParams", rp, "RemoteUnitID", "", "RemoteStarted", 0,
                     "LocalCancelled", 0, "LocalReleased", 0, "SignWork", signwork, "TLSClient",
                     tls ? tls : "", "Expiration", expiration);
    return *out ? 0 : -1;
}

/* ---- state ---------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    struct remote *r = h->data;
    if (--r->timers == 0)
        free(r);
}

static struct remote *remote_get(struct unit *u)
{
    if (u->remote)
        return u->remote;
    struct remote *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->u = u;
    r->out_fd = -1;
    r->backoff = BACKOFF_FIRST_MS;
    uv_timer_init(u->wc->loop, &r->retry);
    uv_timer_init(u->wc->loop, &r->poll);
    r->retry.data = r->poll.data = r;
    r->timers = 2;
    u->remote = r;
    return r;
}

static void close_conn(struct ctlc **c)
{
    if (*c)
        ctlc_close(*c);
    *c = NULL;
}

void remote_stop(struct unit *u)
{
    struct remote *r = u->remote;
    if (!r)
        return;
    close_conn(&r->main);
    close_conn(&r->results);
    close_conn(&r->status);
    uv_timer_stop(&r->retry);
    uv_timer_stop(&r->poll);
    if (r->out_fd >= 0)
        close(r->out_fd);
    r->out_fd = -1;
    r->phase = PH_DONE;
}

void remote_free_state(struct unit *u)
{
    struct remote *r = u->remote;
    if (!r)
        return;
    remote_stop(u);
    u->remote = NULL;
    uv_close((uv_handle_t *)&r->retry, timer_closed);
    uv_close((uv_handle_t *)&r->poll, timer_closed);
}

static void schedule_retry(struct remote *r, uv_timer_cb cb)
{
    uv_timer_start(&r->retry, cb, r->backoff, 0);
    r->backoff = r->backoff * 3 / 2;
    if (r->backoff > BACKOFF_MAX_MS)
        r->backoff = BACKOFF_MAX_MS;
}

/* A JSON command line with the signature when the unit signs its work. */
static char *command_line(struct remote *r, json_t *cmd)
{
    if (x_bool(r, "SignWork")) {
        char err[256];
        char *tok = signature_make(r->u->wc, x_str(r, "RemoteNode"), err, sizeof err);
        if (!tok) {
            log_error("Work unit %s: %s", r->u->id, err);
            return NULL;
        }
        json_object_set_new(cmd, "signature", json_string(tok));
        free(tok);
    }
    return gojson_dumps(cmd, GOJSON_SORT_KEYS);
}

static int expired(struct remote *r)
{
    const char *exp = x_str(r, "Expiration");
    int64_t ns;
    if (!exp[0] || strncmp(exp, "0001-", 5) == 0 || util_parse_rfc3339(exp, &ns) < 0)
        return 0;
    if (util_now_ns() < ns)
        return 0;
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    localtime_r(&t, &tm);
    char when[64], detail[96];
    strftime(when, sizeof when, "%a %b %e %H:%M:%S", &tm);
    snprintf(detail, sizeof detail, "Work unit expired on %s", when);
    unit_set_status(r->u, UNIT_FAILED, detail, -1);
    return 1;
}

/* ---- start -------------------------------------------------------------------- */

static void start_finished(struct remote *r, const char *result, const char *err)
{
    unit_done_cb cb = r->start_done;
    r->start_done = NULL;
    if (cb)
        cb(r->start_arg, result, err);
}

static void start_retry(uv_timer_t *t);

static void start_failed(struct remote *r, const char *err, int connected)
{
    close_conn(&r->main);
    if (x_bool(r, "LocalCancelled")) {
        r->phase = PH_DONE;
        return;
    }
    if (connected && r->start_sync) {
        /* reached the node but it refused: the submission fails */
        char detail[600];
        snprintf(detail, sizeof detail, "Error starting worker: %s", err);
        unit_set_status(r->u, UNIT_FAILED, detail, -1);
        r->phase = PH_DONE;
        start_finished(r, NULL, err);
        return;
    }
    if (strstr(err, "TLS") || strstr(err, "CRYPTO_ERROR")) {
        char detail[600];
        snprintf(detail, sizeof detail, "TLS error connecting to remote service: %s", err);
        unit_set_status(r->u, UNIT_FAILED, detail, -1);
        r->phase = PH_DONE;
        start_finished(r, NULL, err);
        return;
    }
    if (r->start_sync) {
        r->start_sync = 0;
        unit_set_status(r->u, UNIT_PENDING, "Waiting for the remote node", -1);
        start_finished(r, "Job Submitted", NULL);
    }
    log_debug("Work unit %s: remote start: %s (will retry)", r->u->id, err);
    if (expired(r)) {
        r->phase = PH_DONE;
        return;
    }
    schedule_retry(r, start_retry);
}

static void on_start_result(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    if (err) {
        start_failed(r, err, 1);
        return;
    }
    const char *e = strstr(line, "ERROR: ");
    if (e) {
        char msg[600];
        snprintf(msg, sizeof msg, "error from remote: %s", e + 7);
        start_failed(r, msg, 1);
        return;
    }
    close_conn(&r->main);
    x_set(r, "RemoteStarted", json_true());
    r->backoff = BACKOFF_FIRST_MS;
    unit_set_status(r->u, UNIT_PENDING, "Remote work started", -1);
    int was_sync = r->start_sync;
    r->start_sync = 0;
    if (was_sync)
        start_finished(r, "Job Started", NULL);
    remote_follow(r);
}

static void on_submit_reply(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    if (err) {
        start_failed(r, err, 1);
        return;
    }
    const char *p = strstr(line, "with ID ");
    char id[64] = "";
    if (p && sscanf(p + 8, "%63[a-zA-Z0-9]", id) == 1 && p[8 + strlen(id)] == '.') {
        x_set(r, "RemoteUnitID", json_string(id));
    } else {
        char msg[600];
        const char *e = strstr(line, "ERROR: ");
        if (e)
            snprintf(msg, sizeof msg, "error from remote: %s", e + 7);
        else
            snprintf(msg, sizeof msg, "could not parse response: %.500s", line);
        start_failed(r, msg, 1);
        return;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/stdin", r->u->dir);
    ctlc_upload(r->main, path, on_start_result, r);
}

static void on_start_connected(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    (void)line;
    if (err) {
        start_failed(r, err, 0);
        return;
    }
    json_t *cmd = json_deep_copy(json_object_get(extra(r), "RemoteParams"));
    if (!json_is_object(cmd))
        cmd = json_object();
    json_object_set_new(cmd, "command", json_string("work"));
    json_object_set_new(cmd, "subcommand", json_string("submit"));
    json_object_set_new(cmd, "node", json_string(x_str(r, "RemoteNode")));
    json_object_set_new(cmd, "worktype", json_string(x_str(r, "RemoteWorkType")));
    json_object_set_new(cmd, "tlsclient", json_string(x_str(r, "TLSClient")));
    char *text = command_line(r, cmd);
    json_decref(cmd);
    if (!text) {
        start_failed(r, "cannot sign the submission", 1);
        return;
    }
    ctlc_request(r->main, text, on_submit_reply, r);
    free(text);
}

static void start_retry(uv_timer_t *t) { remote_try_start(t->data); }

static void remote_try_start(struct remote *r)
{
    if (r->phase != PH_STARTING)
        return;
    unit_refresh(r->u);
    if (x_bool(r, "LocalCancelled") || expired(r)) {
        r->phase = PH_DONE;
        return;
    }
    close_conn(&r->main);
    r->main = ctlc_connect(r->u->wc->node, x_str(r, "RemoteNode"), remote_tls(r), on_start_connected, r);
    if (!r->main)
        start_failed(r, "out of memory", 0);
}

void remote_start(struct unit *u, unit_done_cb done, void *arg)
{
    struct remote *r = remote_get(u);
    if (!r) {
        done(arg, NULL, "out of memory");
        return;
    }
    unit_set_status(u, UNIT_PENDING, "Launching command runner", -1);
    r->phase = PH_STARTING;
    r->start_done = done;
    r->start_arg = arg;
    r->start_sync = 1;
    remote_try_start(r);
}

/* ---- following ----------------------------------------------------------------- */

static int64_t local_size(struct remote *r)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/stdout", r->u->dir);
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void follow_retry(uv_timer_t *t) { remote_follow(t->data); }

/* The remote node's `work status` answer has the status file's fields: one
 * decoder checks them (a State past int32 is refused rather than wrapped
 * into a known state: 4294967298 would read as 2, Succeeded). */
static void apply_remote_status(struct remote *r, const char *line)
{
    struct unit_status st;
    char err[256];
    if (unit_status_decode(line, strlen(line), &st, err, sizeof err) < 0) {
        log_warning("Ignoring the status of remote unit %s: %s", r->u->id, err);
        return;
    }
    unit_set_status(r->u, st.state, st.detail, st.stdout_size);
    if (!x_str(r, "RemoteWorkType")[0] && st.work_type[0]) /* an adopted unit */
        x_set(r, "RemoteWorkType", json_string(st.work_type));
    unit_status_free(&st);
}

static void maybe_done(struct remote *r)
{
    unit_refresh(r->u);
    const struct unit_status *st = &r->u->st;
    if (r->phase == PH_FOLLOWING && unit_state_complete(st->state) && r->results_done &&
        local_size(r) >= st->stdout_size) {
        r->phase = PH_IDLE; /* complete and every byte is here */
        close_conn(&r->status);
        uv_timer_stop(&r->poll);
    }
}

static void on_status_reply(void *arg, const char *line, const char *err);
static void status_connect(struct remote *r);

static void status_poll(uv_timer_t *t)
{
    struct remote *r = t->data;
    if (r->phase != PH_FOLLOWING)
        return;
    if (!r->status) { /* the last dial failed: dial again */
        status_connect(r);
        return;
    }
    char line[128];
    snprintf(line, sizeof line, "work status %s", x_str(r, "RemoteUnitID"));
    ctlc_request(r->status, line, on_status_reply, r);
}

static void on_status_connected(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    (void)line;
    if (err) {
        close_conn(&r->status);
        uv_timer_start(&r->poll, status_poll, STATUS_POLL_MS, 0);
        return;
    }
    status_poll(&r->poll);
}

static void status_connect(struct remote *r)
{
    close_conn(&r->status);
    r->status = ctlc_connect(r->u->wc->node, x_str(r, "RemoteNode"), remote_tls(r), on_status_connected, r);
    if (!r->status) /* out of memory: try again at the next poll */
        uv_timer_start(&r->poll, status_poll, STATUS_POLL_MS, 0);
}

static void status_reconnect(uv_timer_t *t)
{
    struct remote *r = t->data;
    if (r->phase == PH_FOLLOWING)
        status_connect(r);
}

static void on_status_reply(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    if (err) {
        close_conn(&r->status);
        uv_timer_start(&r->poll, status_reconnect, STATUS_POLL_MS, 0);
        return;
    }
    if (strncmp(line, "ERROR", 5) == 0) {
        if (strstr(line, "unknown work unit")) {
            log_warning("Work unit %s: the unit %s on %s is gone", r->u->id, x_str(r, "RemoteUnitID"),
                        x_str(r, "RemoteNode"));
            unit_set_status(r->u, UNIT_FAILED, "Remote work unit is gone", -1);
            close_conn(&r->results);
            r->phase = PH_IDLE;
        }
        close_conn(&r->status);
        return;
    }
    apply_remote_status(r, line);
    maybe_done(r);
    if (r->phase == PH_FOLLOWING)
        uv_timer_start(&r->poll, status_poll, STATUS_POLL_MS, 0);
}

static void on_results_data(void *arg, const uint8_t *data, size_t len)
{
    struct remote *r = arg;
    while (len > 0 && r->out_fd >= 0) {
        ssize_t n = write(r->out_fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char detail[256];
            snprintf(detail, sizeof detail, "cannot write stdout: %s", strerror(errno));
            log_error("Work unit %s: %s", r->u->id, detail);
            unit_set_status(r->u, UNIT_FAILED, detail, -1);
            close_conn(&r->results);
            close(r->out_fd);
            r->out_fd = -1;
            r->phase = PH_IDLE;
            return;
        }
        data += n;
        len -= (size_t)n;
    }
    unit_notify(r->u, 0); /* local results followers */
}

static void on_results_end(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    (void)line;
    close_conn(&r->results);
    if (r->phase != PH_FOLLOWING)
        return;
    if (err) {
        schedule_retry(r, follow_retry);
        return;
    }
    r->backoff = BACKOFF_FIRST_MS;
    r->results_done = 1; /* the remote unit is complete: settle its state */
    if (r->status)
        status_poll(&r->poll);
    else
        status_connect(r);
}

static void on_results_header(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    if (err || !strstr(line, "Streaming results")) {
        if (!err && strstr(line, "unknown work unit")) {
            unit_set_status(r->u, UNIT_FAILED, "Remote work unit is gone", -1);
            close_conn(&r->results);
            r->phase = PH_IDLE;
            return;
        }
        close_conn(&r->results);
        schedule_retry(r, follow_retry);
        return;
    }
    r->backoff = BACKOFF_FIRST_MS; /* resumed: a next break retries after 1 s again */
    ctlc_download(r->results, on_results_data, on_results_end, r);
}

static void on_results_connected(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    (void)line;
    if (err) {
        close_conn(&r->results);
        schedule_retry(r, follow_retry);
        return;
    }
    json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "command", "work", "subcommand", "results", "unitid",
                            x_str(r, "RemoteUnitID"), "startpos", (json_int_t)local_size(r));
    char *text = command_line(r, cmd);
    json_decref(cmd);
    if (!text) {
        close_conn(&r->results);
        return;
    }
    ctlc_request(r->results, text, on_results_header, r);
    free(text);
}

static void remote_follow(struct remote *r)
{
    if (r->phase == PH_DONE || r->phase == PH_CANCELING || r->phase == PH_RELEASING)
        return;
    r->phase = PH_FOLLOWING;
    r->results_done = 0;
    if (r->out_fd < 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/stdout", r->u->dir);
        r->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (r->out_fd < 0) { /* results with nowhere to go: fail, never drop them */
            char detail[256];
            snprintf(detail, sizeof detail, "cannot open stdout: %s", strerror(errno));
            log_error("Work unit %s: %s", r->u->id, detail);
            r->phase = PH_IDLE;
            close_conn(&r->status);
            unit_set_status(r->u, UNIT_FAILED, detail, -1);
            return;
        }
    }
    if (!r->status)
        status_connect(r);
    close_conn(&r->results);
    r->results = ctlc_connect(r->u->wc->node, x_str(r, "RemoteNode"), remote_tls(r), on_results_connected, r);
}

/* ---- cancel and release ------------------------------------------------------- */

static void action_finished(struct remote *r, const char *result, const char *err)
{
    unit_done_cb cb = r->action_done;
    r->action_done = NULL;
    if (cb)
        cb(r->action_arg, result, err);
}

static void release_local(struct remote *r)
{
    struct unit *u = r->u;
    remote_stop(u);
    action_finished(r, "released", NULL);
    unit_delete(u);
}

static void action_retry(uv_timer_t *t) { remote_send_action(t->data); }

static void on_action_reply(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    int releasing = r->phase == PH_RELEASING;
    close_conn(&r->main);
    if (err) {
        if (r->force && releasing) {
            log_warning("Work unit %s: force-release on %s failed: %s", r->u->id, x_str(r, "RemoteNode"), err);
            release_local(r);
            return;
        }
        if (r->action_done)
            action_finished(r, releasing ? "release pending" : "cancel pending", NULL);
        schedule_retry(r, action_retry);
        return;
    }
    if (strncmp(line, "ERROR", 5) == 0 && !strstr(line, "unknown work unit")) {
        char msg[600];
        snprintf(msg, sizeof msg, "error %s remote unit: %s", releasing ? "releasing" : "cancelling", line + 7);
        if (releasing && r->force) {
            release_local(r);
            return;
        }
        action_finished(r, NULL, msg);
        r->phase = PH_FOLLOWING;
        return;
    }
    if (releasing) {
        release_local(r);
        return;
    }
    action_finished(r, "cancelled", NULL);
    r->backoff = BACKOFF_FIRST_MS;
    r->phase = PH_FOLLOWING;
    remote_follow(r); /* keep mirroring: the remote unit is Canceled now */
}

static void on_action_connected(void *arg, const char *line, const char *err)
{
    struct remote *r = arg;
    (void)line;
    if (err) {
        on_action_reply(r, NULL, err);
        return;
    }
    json_t *cmd = json_pack("{s:s,s:s,s:s}", "command", "work", "subcommand",
                            r->phase == PH_RELEASING ? (r->force ? "force-release" : "release") : "cancel",
                            "unitid", x_str(r, "RemoteUnitID"));
    char *text = command_line(r, cmd);
    json_decref(cmd);
    if (!text) {
        on_action_reply(r, NULL, "cannot sign the command");
        return;
    }
    ctlc_request(r->main, text, on_action_reply, r);
    free(text);
}

static void remote_send_action(struct remote *r)
{
    close_conn(&r->main);
    r->main = ctlc_connect(r->u->wc->node, x_str(r, "RemoteNode"), remote_tls(r), on_action_connected, r);
    if (!r->main)
        on_action_reply(r, NULL, "out of memory");
}

void remote_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    struct remote *r = remote_get(u);
    if (!r) {
        done(arg, NULL, "out of memory");
        return;
    }
    x_set(r, "LocalCancelled", json_true());
    if (!x_bool(r, "RemoteStarted")) {
        remote_stop(u);
        unit_set_status(u, UNIT_FAILED, "Locally Cancelled", -1);
        done(arg, "cancelled", NULL);
        return;
    }
    close_conn(&r->results);
    close_conn(&r->status);
    uv_timer_stop(&r->poll);
    uv_timer_stop(&r->retry);
    r->phase = PH_CANCELING;
    r->action_done = done;
    r->action_arg = arg;
    r->backoff = BACKOFF_FIRST_MS;
    remote_send_action(r);
}

void remote_release(struct unit *u, int force, unit_done_cb done, void *arg)
{
    struct remote *r = remote_get(u);
    if (!r) {
        done(arg, NULL, "out of memory");
        return;
    }
    unit_refresh(u);
    json_t *e = json_deep_copy(u->st.extra);
    json_object_set_new(e, "LocalCancelled", json_true());
    json_object_set_new(e, "LocalReleased", json_true());
    unit_set_extra(u, e);
    json_decref(e);
    r->action_done = done;
    r->action_arg = arg;
    if (!x_bool(r, "RemoteStarted")) {
        release_local(r);
        return;
    }
    close_conn(&r->results);
    close_conn(&r->status);
    uv_timer_stop(&r->poll);
    uv_timer_stop(&r->retry);
    r->phase = PH_RELEASING;
    r->force = force;
    r->backoff = BACKOFF_FIRST_MS;
    remote_send_action(r);
}

/* ---- restart ------------------------------------------------------------------ */

void remote_restart(struct unit *u)
{
    struct remote *r = remote_get(u);
    if (!r)
        return;
    if (!x_bool(r, "RemoteStarted")) {
        if (!unit_state_complete(u->st.state))
            unit_set_status(u, UNIT_FAILED, "Failed to restart: remote work had not previously started", -1);
        return;
    }
    if (x_bool(r, "LocalReleased")) {
        r->phase = PH_RELEASING;
        remote_send_action(r);
        return;
    }
    if (x_bool(r, "LocalCancelled") && u->st.state != UNIT_CANCELED && !unit_state_complete(u->st.state)) {
        r->phase = PH_CANCELING;
        remote_send_action(r);
        return;
    }
    if (unit_state_complete(u->st.state) && local_size(r) >= u->st.stdout_size)
        return; /* finished and every byte is here */
    remote_follow(r);
}

void remote_adopt(struct unit *u)
{
    struct remote *r = remote_get(u);
    if (r)
        remote_follow(r);
}
