/* kube_unit.c - the life of a kubernetes unit (spec 10.3), as upstream's
 * runWorkUsingLogger lives it, on the daemon's loop:
 *
 *   Pending "Connecting to Kubernetes"  (kubeconfig / runtime / incluster)
 *   Pending "Pod created"               (POST pods; PodName recorded)
 *     watch the pod until it is Ready (a watch that ends is resumed from its
 *     resourceVersion, a 410 Gone one from a fresh GET), failing on a failed
 *     pod, the 4th ImagePullBackOff, a deleted pod or pod_pending_timeout
 *   Pending "Sending stdin to pod"      (pods/attach WebSocket, kube_ws.c)
 *   Running "Pod Running"               (stdin delivered, or empty)
 *   Succeeded "Finished"                (the log ended and the pod is done)
 *
 * The worker's log is followed with timestamps; each line's timestamp is cut
 * off and the rest written to the unit's stdout as it arrives.  Only whole
 * lines count as written: when the API server cuts the stream (log
 * rotation, its connection limit) the file is cut back to the last whole
 * line and the log is asked for again from that line's timestamp, skipping
 * the lines already written (by timestamp, and by count among lines sharing
 * the last timestamp), so nothing is lost or doubled.  Five streams in a row
 * without progress fail the unit.  When the pod has terminated, requests
 * without follow collect the rest, until one brings no new line.
 *
 * Cancel (and release) stops everything, marks the unit Canceled and deletes
 * the pod.  At restart a Running unit follows its pod's log again, skipping
 * what its stdout already holds; a Pending one has its pod deleted
 * (deletepodonrestart) and fails, as upstream does. */
#include "work/kube_unit.h"
#include "work/kube_log.h"
#include "work/workceptor_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "work/kube_config.h"
#include "work/kube_http.h"
#include "work/kube_pod.h"
#include "work/kube_ws.h"
#include "work/kube_yaml.h"

#define KUBE_WATCH_LINE_MAX (4 << 20)   /* one watch event */
#define KUBE_BODY_MAX (4 << 20)         /* a pod, a Status */
#define KUBE_LOG_RETRIES 5
#define KUBE_RETRY_MS 200
#define KUBE_SIZE_MS 250

enum { STDIN_NONE, STDIN_RUNNING, STDIN_DONE, STDIN_FAILED };

struct kube_unit {
    int64_t pod_pending_ns;
    struct unit *u;
    int holding;                  /* a ref on u while work is under way */
    struct kube_conn conn;
    char *ns, *pod;
    struct kube_req *req;         /* create, get, watch */
    struct kube_req *log;
    struct kube_ws *ws;
    uv_timer_t *pending_timer, *retry_timer, *size_timer;
    void (*retry_fn)(struct kube_unit *ku);
    json_t *last_pod;
    char rv[64];
    char *wl;                     /* watch line buffer */
    size_t wl_len, wl_cap;
    int watch_result, watch_gone, watch_deleted, watch_retries;
    int pull_backoffs;
    int stdin_state, stdin_fd;
    char *stdin_err;
    int stdout_fd;
    int64_t committed;            /* stdout bytes of whole lines */
    int64_t skip_bytes;           /* after a restart: log bytes already in stdout */
    /* log parsing */
    int timestamps;
    struct kube_log log_lines;
    int log_failures, log_final, log_done;
    int size_dirty;
    char *fail_after_logs;        /* a failed pod: fail with this once its log is in */
    char stream_err[256];         /* why on_log_data stopped its stream */
};

static struct kube_http *kube_engine(struct unit *u, char *err, size_t errlen)
{
    struct workceptor *wc = u->wc;
    if (!wc->kube_http)
        wc->kube_http = kube_http_new(wc->loop, err, errlen);
    return wc->kube_http;
}

struct kube_unit *kube_unit_new(int64_t pod_pending_ns)
{
    struct kube_unit *ku = calloc(1, sizeof *ku);
    if (ku) {
        ku->pod_pending_ns = pod_pending_ns;
        ku->stdin_fd = ku->stdout_fd = -1;
    }
    return ku;
}

static void free_handle(uv_handle_t *h) { free(h); }

static void timer_drop(uv_timer_t **t)
{
    if (*t) {
        uv_timer_stop(*t);
        uv_close((uv_handle_t *)*t, free_handle);
        *t = NULL;
    }
}

/* Stops every request, stream and timer; no callback comes afterwards. */
static void ku_stop(struct kube_unit *ku)
{
    kube_req_cancel(ku->req);
    ku->req = NULL;
    kube_req_cancel(ku->log);
    ku->log = NULL;
    kube_ws_cancel(ku->ws);
    ku->ws = NULL;
    timer_drop(&ku->pending_timer);
    timer_drop(&ku->retry_timer);
    timer_drop(&ku->size_timer);
    if (ku->stdin_fd >= 0)
        close(ku->stdin_fd);
    if (ku->stdout_fd >= 0)
        close(ku->stdout_fd);
    ku->stdin_fd = ku->stdout_fd = -1;
}

void kube_unit_free(struct kube_unit *ku)
{
    if (!ku)
        return;
    ku_stop(ku);
    kube_conn_free(&ku->conn);
    json_decref(ku->last_pod);
    free(ku->ns);
    free(ku->pod);
    free(ku->wl);
    free(ku->stdin_err);
    free(ku->fail_after_logs);
    free(ku);
}

static void ku_hold(struct kube_unit *ku)
{
    if (!ku->holding) {
        ku->holding = 1;
        ku->u->refs++;
    }
}

static void ku_release_hold(struct kube_unit *ku)
{
    if (ku->holding) {
        ku->holding = 0;
        ku->u->refs--;
        unit_maybe_free(ku->u);
    }
}

static int64_t stdout_size(struct kube_unit *ku)
{
    struct stat sb;
    return ku->stdout_fd >= 0 && fstat(ku->stdout_fd, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* The unit's end: final status, everything stopped, the hold dropped. */
static void ku_end(struct kube_unit *ku, int state, const char *detail)
{
    int64_t size = stdout_size(ku);
    ku_stop(ku);
    if (detail && state == UNIT_FAILED)
        log_error("Work unit %s: %s", ku->u->id, detail);
    unit_set_status(ku->u, state, detail, size);
    ku_release_hold(ku);
}

static void ku_failf(struct kube_unit *ku, const char *fmt, const char *a, const char *b)
{
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    ku_end(ku, UNIT_FAILED, msg);
}

static void ku_retry_later(struct kube_unit *ku, void (*fn)(struct kube_unit *ku), uint64_t ms);

/* ---- deleting a pod ------------------------------------------------------- */

struct pod_delete {
    struct kube_conn conn;
    char name[300];
};

static void on_deleted(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct pod_delete *d = arg;
    if (err || (status != 200 && status != 202 && status != 404)) {
        char *m = err ? strdup(err) : kube_status_message(body, status);
        log_error("Error deleting pod %s: %s", d->name, m ? m : "");
        free(m);
    }
    kube_conn_free(&d->conn);
    free(d);
}

static void on_delete_dropped(void *arg)
{
    struct pod_delete *d = arg;
    log_warning("Pod %s could not be deleted: the daemon is stopping", d->name);
    kube_conn_free(&d->conn);
    free(d);
}

/* DELETE the pod; the request outlives the unit (it owns the connection
 * settings, taken from ku). */
static void ku_delete_pod(struct kube_unit *ku)
{
    if (!ku->pod || !ku->conn.server)
        return;
    char err[256];
    struct kube_http *h = kube_engine(ku->u, err, sizeof err);
    struct pod_delete *d = h ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        log_error("Error deleting pod %s: %s", ku->pod, h ? "out of memory" : err);
        return;
    }
    d->conn = ku->conn;
    memset(&ku->conn, 0, sizeof ku->conn);
    snprintf(d->name, sizeof d->name, "%s", ku->pod);
    char path[700];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ku->ns, ku->pod);
    struct kube_req_opts o = { .conn = &d->conn, .method = "DELETE", .path = path,
                               .max_body = KUBE_BODY_MAX, .timeout_ms = 60000,
                               .on_done = on_deleted, .on_drop = on_delete_dropped, .arg = d };
    if (!kube_req_start(h, &o, err, sizeof err)) {
        log_error("Error deleting pod %s: %s", ku->pod, err);
        kube_conn_free(&d->conn);
        free(d);
    }
}

/* ---- connecting --------------------------------------------------------------- */

static int dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static void apply_extra_field(struct unit_status *st, void *arg)
{
    const char *const *kv = arg;
    if (st->extra)
        json_object_set_new(st->extra, kv[0], json_string(kv[1]));
}

static void ku_set_extra(struct kube_unit *ku, const char *key, const char *value)
{
    const char *kv[2] = { key, value };
    unit_update(ku->u, apply_extra_field, (void *)kv);
}

/* The connection settings for the unit's auth method. */
static int ku_connect(struct kube_unit *ku, char *err, size_t errlen)
{
    const struct kube_type *kt = ku->u->wt->kube;
    json_t *extra = ku->u->st.extra;
    const char *kc = json_string_value(json_object_get(extra, "KubeConfig"));
    char why[512];
    int rc;
    if (strcmp(kt->authmethod, "incluster") == 0)
        rc = kube_conn_incluster(&ku->conn, NULL, why, sizeof why);
    else if (kc && kc[0])
        rc = kube_conn_from_kubeconfig(&ku->conn, kc, strlen(kc), NULL, why, sizeof why);
    else
        rc = kube_conn_default_kubeconfig(&ku->conn, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    /* beside the unit directories (scans skip dot names), so that a pod
     * delete still has them after a release removed the unit's directory */
    char dir[4200], prefix[64];
    snprintf(dir, sizeof dir, "%s/.kube", ku->u->wc->dir);
    snprintf(prefix, sizeof prefix, "%s-%016llx", ku->u->id, (unsigned long long)util_random_u64());
    if (kube_conn_write_files(&ku->conn, dir, prefix, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    const char *ns = json_string_value(json_object_get(extra, "KubeNamespace"));
    if (!ns || !ns[0]) {
        ns = ku->conn.namespace_;
        ku_set_extra(ku, "KubeNamespace", ns);
    }
    free(ku->ns);
    ku->ns = strdup(ns);
    return ku->ns ? 0 : -1;
}

/* ---- stdout: the followed log ------------------------------------------------- */

static int out_write(struct kube_unit *ku, const char *p, size_t n)
{
    if (ku->skip_bytes > 0) {
        size_t s = (int64_t)n < ku->skip_bytes ? n : (size_t)ku->skip_bytes;
        ku->skip_bytes -= (int64_t)s;
        p += s;
        n -= s;
    }
    while (n > 0) {
        ssize_t w = write(ku->stdout_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        ku->size_dirty = 1;
    }
    return 0;
}

static int log_write(void *arg, const char *p, size_t n) { return out_write(arg, p, n); }

static void log_commit(void *arg)
{
    struct kube_unit *ku = arg;
    ku->committed = lseek(ku->stdout_fd, 0, SEEK_CUR);
    ku->log_failures = 0;
}

/* Log bytes "<timestamp> <text>\n..." to stdout, timestamps cut off
 * (kube_log.c). */
static int on_log_data(void *arg, const char *p, size_t n)
{
    struct kube_unit *ku = arg;
    if (!ku->timestamps) {
        if (out_write(ku, p, n) == 0)
            return 0;
        snprintf(ku->stream_err, sizeof ku->stream_err, "writing to stdout: %s", strerror(errno));
        return -1;
    }
    if (kube_log_feed(&ku->log_lines, p, n) == 0)
        return 0;
    snprintf(ku->stream_err, sizeof ku->stream_err, "%s", ku->log_lines.err);
    return -1;
}

static void apply_size(struct unit_status *st, void *arg)
{
    st->stdout_size = *(int64_t *)arg;
}

static void on_size_timer(uv_timer_t *t)
{
    struct kube_unit *ku = t->data;
    if (!ku->size_dirty)
        return;
    ku->size_dirty = 0;
    int64_t size = stdout_size(ku);
    unit_update(ku->u, apply_size, &size);
    unit_notify(ku->u, 0);
}

static void ku_start_log(struct kube_unit *ku);
static void ku_check_finished(struct kube_unit *ku);

/* The stream ended: the pod's state says whether to follow again. */
static void on_pod_after_log(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct kube_unit *ku = arg;
    ku->req = NULL;
    json_t *pod = !err && status == 200 ? json_loads(body, 0, NULL) : NULL;
    if (!pod) {
        if (++ku->log_failures >= KUBE_LOG_RETRIES) {
            char *m = err ? strdup(err) : kube_status_message(body, status);
            char msg[900];
            snprintf(msg, sizeof msg, "Error getting pod %s/%s. Error: %s", ku->ns, ku->pod, m ? m : "");
            free(m);
            ku_end(ku, UNIT_FAILED, msg);
            return;
        }
        ku_retry_later(ku, ku_start_log, 1000);
        return;
    }
    const char *phase = kube_pod_phase(pod);
    int over = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
    json_decref(pod);
    if (over)
        ku->log_final = 1; /* one more request, without follow, for the rest */
    ku_retry_later(ku, ku_start_log, over ? 0 : KUBE_RETRY_MS);
}

static void get_pod(struct kube_unit *ku,
                    void (*cb)(void *, long, const char *, size_t, const char *));

static void on_log_done(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct kube_unit *ku = arg;
    ku->log = NULL;
    if (ku->stream_err[0]) {
        char msg[400];
        snprintf(msg, sizeof msg, "Error with pod's stdout: %s", ku->stream_err);
        ku_end(ku, UNIT_FAILED, msg);
        return;
    }
    int ok = !err && status >= 200 && status < 300;
    if (!ok && !err) {
        /* the API refused the log (HTTP error): retried like upstream */
        if (++ku->log_failures >= KUBE_LOG_RETRIES) {
            char *m = kube_status_message(body, status);
            char msg[900];
            snprintf(msg, sizeof msg, "Error opening log stream for pod %s/%s. Error: %s", ku->ns,
                     ku->pod, m ? m : "");
            free(m);
            ku_end(ku, UNIT_FAILED, msg);
            return;
        }
        ku_retry_later(ku, ku_start_log, 1000);
        return;
    }
    if (ok && ku->log_final && ku->log_lines.wrote_this_stream) {
        ku_start_log(ku); /* the rest may have been cut off too: ask until nothing is new */
        return;
    }
    if (ok && (ku->log_final || !ku->timestamps)) {
        ku->committed = lseek(ku->stdout_fd, 0, SEEK_CUR); /* a last line without newline */
        ku->log_done = 1;
        ku_check_finished(ku);
        return;
    }
    if (!ku->log_lines.wrote_this_stream && ++ku->log_failures >= KUBE_LOG_RETRIES) {
        char msg[900];
        snprintf(msg, sizeof msg, "Error with pod's stdout: %s", err ? err : "the log stream ended");
        ku_end(ku, UNIT_FAILED, msg);
        return;
    }
    log_info("Work unit %s: log stream of pod %s/%s ended (%s); reconnecting", ku->u->id, ku->ns,
             ku->pod, err ? err : "end of stream");
    get_pod(ku, on_pod_after_log);
}

static void ku_start_log(struct kube_unit *ku)
{
    /* whatever of a line the last stream left half-written goes */
    if (ftruncate(ku->stdout_fd, ku->committed) < 0 || lseek(ku->stdout_fd, ku->committed, SEEK_SET) < 0) {
        ku_failf(ku, "Error with pod's stdout: %s%s", strerror(errno), NULL);
        return;
    }
    ku->log_lines.write = log_write;
    ku->log_lines.commit = log_commit;
    ku->log_lines.arg = ku;
    kube_log_stream_start(&ku->log_lines);
    char path[1200];
    int n = snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/log?container=worker%s%s",
                     ku->ns, ku->pod, ku->log_final ? "" : "&follow=true",
                     ku->timestamps ? "&timestamps=true" : "");
    if (ku->timestamps && ku->log_lines.last_ts[0])
        snprintf(path + n, sizeof path - (size_t)n, "&sinceTime=%s", ku->log_lines.last_ts);
    struct kube_req_opts o = { .conn = &ku->conn, .method = "GET", .path = path, .stream = 1,
                               .max_body = KUBE_BODY_MAX, .on_data = on_log_data,
                               .on_done = on_log_done, .arg = ku };
    char err[256];
    ku->log = kube_req_start(ku->u->wc->kube_http, &o, err, sizeof err);
    if (!ku->log)
        ku_failf(ku, "Error opening log stream: %s%s", err, NULL);
}

static void ku_check_finished(struct kube_unit *ku)
{
    if (!ku->log_done || ku->stdin_state == STDIN_RUNNING)
        return;
    if (ku->fail_after_logs) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ku->fail_after_logs);
        ku_delete_pod(ku);
        ku_end(ku, UNIT_FAILED, msg);
        return;
    }
    if (ku->stdin_state == STDIN_FAILED) {
        char msg[1024];
        snprintf(msg, sizeof msg, "Error with pod's stdin: %s", ku->stdin_err ? ku->stdin_err : "");
        ku_end(ku, UNIT_FAILED, msg);
        return;
    }
    ku_end(ku, UNIT_SUCCEEDED, "Finished");
}

/* ---- stdin: the attach ---------------------------------------------------------- */

static void on_stdin_done(void *arg, const char *err)
{
    struct kube_unit *ku = arg;
    if (err) {
        char msg[900];
        snprintf(msg, sizeof msg, "Error streaming stdin to pod %s/%s. Error: %s", ku->ns, ku->pod, err);
        ku->stdin_state = STDIN_FAILED;
        ku_end(ku, UNIT_FAILED, msg);
        return;
    }
    ku->stdin_state = STDIN_DONE;
    unit_set_status(ku->u, UNIT_RUNNING, "Pod Running", stdout_size(ku));
    ku_check_finished(ku);
}

static int open_stdout(struct kube_unit *ku)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/stdout", ku->u->dir);
    ku->stdout_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (ku->stdout_fd < 0)
        return -1;
    ku->committed = lseek(ku->stdout_fd, 0, SEEK_END);
    return ku->committed < 0 ? -1 : 0;
}

static void ku_start_streams(struct kube_unit *ku, int skip_stdin)
{
    char path[4200], err[256];
    if (open_stdout(ku) < 0) {
        ku_failf(ku, "Error opening stdout file: %s%s", strerror(errno), NULL);
        return;
    }
    const char *env = getenv("RECEPTOR_KUBE_SUPPORT_RECONNECT");
    ku->timestamps = !env || strcmp(env, "enabled") == 0 || strcmp(env, "auto") == 0;
    ku->size_timer = calloc(1, sizeof *ku->size_timer);
    if (ku->size_timer) {
        uv_timer_init(ku->u->wc->loop, ku->size_timer);
        ku->size_timer->data = ku;
        uv_timer_start(ku->size_timer, on_size_timer, KUBE_SIZE_MS, KUBE_SIZE_MS);
    }
    if (!skip_stdin) {
        snprintf(path, sizeof path, "%s/stdin", ku->u->dir);
        ku->stdin_fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat sb;
        if (ku->stdin_fd < 0 || fstat(ku->stdin_fd, &sb) < 0) {
            ku_failf(ku, "Error opening stdin file: %s%s", strerror(errno), NULL);
            return;
        }
        skip_stdin = sb.st_size == 0;
    }
    if (skip_stdin) {
        unit_set_status(ku->u, UNIT_RUNNING, "Pod Running", stdout_size(ku));
    } else {
        unit_set_status(ku->u, UNIT_PENDING, "Sending stdin to pod", -1);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/attach?container=worker&stdin=true",
                 ku->ns, ku->pod);
        struct kube_ws_opts o = { .conn = &ku->conn, .path = path, .stdin_fd = ku->stdin_fd,
                                  .on_done = on_stdin_done, .arg = ku };
        ku->stdin_state = STDIN_RUNNING;
        ku->ws = kube_ws_start(ku->u->wc->kube_http, ku->u->wc->loop, &o, err, sizeof err);
        if (!ku->ws) {
            ku_failf(ku, "Error attaching to pod: %s%s", err, NULL);
            return;
        }
    }
    ku_start_log(ku);
}

/* ---- waiting for the pod --------------------------------------------------------- */

static void ku_start_watch(struct kube_unit *ku);

static void ku_pod_not_starting(struct kube_unit *ku, const char *why)
{
    char msg[900];
    const char *reason = ku->last_pod ? kube_pod_waiting_reason(ku->last_pod) : NULL;
    snprintf(msg, sizeof msg, "Error creating pod: %s%s%s", why, reason ? ", " : "", reason ? reason : "");
    ku_delete_pod(ku);
    ku_end(ku, UNIT_FAILED, msg);
}

static void ku_pod_verdict(struct kube_unit *ku, enum kube_readiness r)
{
    timer_drop(&ku->pending_timer);
    const char *msg = NULL;
    int code = kube_pod_exit_code(ku->last_pod, &msg);
    char detail[900];
    switch (r) {
    case KUBE_POD_READY:
        ku_start_streams(ku, 0);
        break;
    case KUBE_POD_COMPLETED:
        if (code > 0) {
            snprintf(detail, sizeof detail, "Error creating pod: container failed with exit code %d: %s",
                     code, msg ? msg : "");
            ku_end(ku, UNIT_FAILED, detail);
        } else {
            ku_start_streams(ku, 1);
        }
        break;
    case KUBE_POD_FAILED:
        /* what the pod said goes to stdout first, then the unit fails */
        snprintf(detail, sizeof detail, "Error creating pod: pod failed to start, exit code %d: %s", code,
                 msg ? msg : "");
        ku->fail_after_logs = strdup(detail);
        ku->log_final = 1;
        ku_start_streams(ku, 1);
        break;
    case KUBE_POD_PULL_FAILED:
        ku_pod_not_starting(ku, "container failed to start");
        break;
    case KUBE_POD_WAITING:
        break;
    }
}

static void watch_event(struct kube_unit *ku, const char *line, size_t len)
{
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (!type || !json_is_object(obj)) {
        json_decref(ev);
        return;
    }
    if (strcmp(type, "ERROR") == 0) {
        ku->watch_gone = 1; /* 410 Gone (or another error): start over from a fresh GET */
    } else if (strcmp(type, "DELETED") == 0) {
        ku->watch_deleted = 1;
    } else {
        const char *rv = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                           "resourceVersion"));
        if (rv)
            snprintf(ku->rv, sizeof ku->rv, "%s", rv);
        json_decref(ku->last_pod);
        ku->last_pod = json_incref(obj);
        ku->watch_result = (int)kube_pod_readiness(obj, &ku->pull_backoffs);
    }
    json_decref(ev);
}

static int on_watch_data(void *arg, const char *p, size_t n)
{
    struct kube_unit *ku = arg;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (ku->wl_len + take > KUBE_WATCH_LINE_MAX) {
            snprintf(ku->stream_err, sizeof ku->stream_err,
                     "a watch event of the pod is larger than %d bytes", KUBE_WATCH_LINE_MAX);
            return -1;
        }
        if (ku->wl_len + take + 1 > ku->wl_cap) {
            size_t cap = ku->wl_cap ? ku->wl_cap : 8192;
            while (cap < ku->wl_len + take + 1)
                cap *= 2;
            char *nb = realloc(ku->wl, cap);
            if (!nb)
                return -1;
            ku->wl = nb;
            ku->wl_cap = cap;
        }
        memcpy(ku->wl + ku->wl_len, p, take);
        ku->wl_len += take;
        p += take;
        n -= take;
        if (nl) {
            p++;
            n--;
            watch_event(ku, ku->wl, ku->wl_len);
            ku->wl_len = 0;
            if (ku->watch_result != KUBE_POD_WAITING || ku->watch_gone || ku->watch_deleted)
                return -1; /* decided: on_watch_done acts on it */
        }
    }
    return 0;
}

static void on_pod_got(void *arg, long status, const char *body, size_t len, const char *err);

static void on_watch_done(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct kube_unit *ku = arg;
    ku->req = NULL;
    ku->wl_len = 0;
    if (ku->stream_err[0]) {
        ku_failf(ku, "Error creating pod: %s%s", ku->stream_err, NULL);
        return;
    }
    if (ku->watch_deleted) {
        ku_end(ku, UNIT_FAILED, "Error creating pod: pods \"\" not found");
        return;
    }
    if (ku->watch_result != KUBE_POD_WAITING) {
        ku_pod_verdict(ku, (enum kube_readiness)ku->watch_result);
        return;
    }
    if (ku->watch_gone) {
        ku->watch_gone = 0;
        get_pod(ku, on_pod_got);
        return;
    }
    if (!err && (status == 401 || status == 403 || status == 404)) {
        char *m = kube_status_message(body, status);
        ku_failf(ku, "Error creating pod: %s%s", m, NULL);
        free(m);
        return;
    }
    if ((err || status != 200) && ++ku->watch_retries > KUBE_LOG_RETRIES) {
        char *m = err ? strdup(err) : kube_status_message(body, status);
        ku_failf(ku, "Error creating pod: %s%s", m, NULL);
        free(m);
        return;
    }
    /* the watch ended (the server's timeout): go on from where it was */
    ku_retry_later(ku, ku_start_watch, err || status != 200 ? 1000 : 0);
}

static void ku_start_watch(struct kube_unit *ku)
{
    char path[1200], err[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods?fieldSelector=metadata.name%%3D%s"
             "&resourceVersion=%s&watch=true", ku->ns, ku->pod, ku->rv);
    struct kube_req_opts o = { .conn = &ku->conn, .method = "GET", .path = path, .stream = 1,
                               .max_body = KUBE_BODY_MAX, .on_data = on_watch_data,
                               .on_done = on_watch_done, .arg = ku };
    ku->watch_result = KUBE_POD_WAITING;
    ku->req = kube_req_start(ku->u->wc->kube_http, &o, err, sizeof err);
    if (!ku->req)
        ku_failf(ku, "Error creating pod: %s%s", err, NULL);
}

/* A fresh look at the pod (after 410 Gone): decide, or watch from here. */
static void on_pod_got(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct kube_unit *ku = arg;
    ku->req = NULL;
    json_t *pod = !err && status == 200 ? json_loads(body, 0, NULL) : NULL;
    if (!pod) {
        char *m = err ? strdup(err) : kube_status_message(body, status);
        if (status == 404 || ++ku->watch_retries > KUBE_LOG_RETRIES) {
            ku_failf(ku, "Error creating pod: %s%s", m, NULL);
            free(m);
            return;
        }
        free(m);
        ku_retry_later(ku, ku_start_watch, 1000);
        return;
    }
    const char *rv = json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                       "resourceVersion"));
    snprintf(ku->rv, sizeof ku->rv, "%s", rv ? rv : "0");
    json_decref(ku->last_pod);
    ku->last_pod = pod;
    enum kube_readiness r = kube_pod_readiness(pod, &ku->pull_backoffs);
    if (r != KUBE_POD_WAITING)
        ku_pod_verdict(ku, r);
    else
        ku_start_watch(ku);
}

static void get_pod(struct kube_unit *ku, void (*cb)(void *, long, const char *, size_t, const char *))
{
    char path[800], err[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ku->ns, ku->pod);
    struct kube_req_opts o = { .conn = &ku->conn, .method = "GET", .path = path,
                               .max_body = KUBE_BODY_MAX, .timeout_ms = 60000, .on_done = cb,
                               .arg = ku };
    ku->req = kube_req_start(ku->u->wc->kube_http, &o, err, sizeof err);
    if (!ku->req)
        ku_failf(ku, "Error getting pod: %s%s", err, NULL);
}

static void on_pending_timeout(uv_timer_t *t)
{
    struct kube_unit *ku = t->data;
    ku_pod_not_starting(ku, "timed out waiting for the condition");
}

static void apply_created(struct unit_status *st, void *arg)
{
    st->state = UNIT_PENDING;
    free(st->detail);
    st->detail = strdup("Pod created");
    st->stdout_size = 0;
    if (st->extra)
        json_object_set_new(st->extra, "PodName", json_string(arg));
}

static void on_created(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)len;
    struct kube_unit *ku = arg;
    ku->req = NULL;
    json_t *pod = !err && status == 201 ? json_loads(body, 0, NULL) : NULL;
    json_t *meta = json_object_get(pod, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
    if (!name || !dns_name_ok(name)) {
        char *m = err ? strdup(err)
                : pod ? strdup("the server returned a pod without a valid name")
                : status == 201 ? strdup("the server's answer is not a pod (invalid JSON)")
                : kube_status_message(body, status);
        json_decref(pod);
        ku_failf(ku, "Error creating pod: %s%s", m, NULL);
        free(m);
        return;
    }
    ku->pod = strdup(name);
    snprintf(ku->rv, sizeof ku->rv, "%s", rv ? rv : "0");
    ku->last_pod = pod;
    unit_update(ku->u, apply_created, (void *)name);
    unit_notify(ku->u, 0);
    if (ku->pod_pending_ns > 0) {
        ku->pending_timer = calloc(1, sizeof *ku->pending_timer);
        if (ku->pending_timer) {
            uv_timer_init(ku->u->wc->loop, ku->pending_timer);
            ku->pending_timer->data = ku;
            uv_timer_start(ku->pending_timer, on_pending_timeout,
                           (uint64_t)(ku->pod_pending_ns / 1000000), 0);
        }
    }
    ku_start_watch(ku);
}

static void ku_create_pod(struct kube_unit *ku)
{
    char err[512];
    json_t *pod = kube_pod_build(ku->u->st.extra, ku->u->wt->kube->name_prefix, &ku->ns, err, sizeof err);
    if (pod && !dns_name_ok(ku->ns))
        snprintf(err, sizeof err, "invalid namespace \"%.100s\"", ku->ns);
    char *body = pod && dns_name_ok(ku->ns) ? json_dumps(pod, JSON_COMPACT) : NULL;
    json_decref(pod);
    if (!body) {
        ku_failf(ku, "Error creating pod: %s%s", err, NULL);
        return;
    }
    ku_set_extra(ku, "KubeNamespace", ku->ns);
    char path[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", ku->ns);
    struct kube_req_opts o = { .conn = &ku->conn, .method = "POST", .path = path, .body = body,
                               .body_len = strlen(body), .max_body = KUBE_BODY_MAX,
                               .timeout_ms = 60000, .on_done = on_created, .arg = ku };
    ku->req = kube_req_start(ku->u->wc->kube_http, &o, err, sizeof err);
    free(body);
    if (!ku->req)
        ku_failf(ku, "Error creating pod: %s%s", err, NULL);
}

/* ---- timers ----------------------------------------------------------------------- */

static void on_retry(uv_timer_t *t)
{
    struct kube_unit *ku = t->data;
    void (*fn)(struct kube_unit *) = ku->retry_fn;
    ku->retry_fn = NULL;
    if (fn)
        fn(ku);
}

static void ku_retry_later(struct kube_unit *ku, void (*fn)(struct kube_unit *ku), uint64_t ms)
{
    if (!ku->retry_timer) {
        ku->retry_timer = calloc(1, sizeof *ku->retry_timer);
        if (!ku->retry_timer) {
            ku_end(ku, UNIT_FAILED, "out of memory");
            return;
        }
        uv_timer_init(ku->u->wc->loop, ku->retry_timer);
        ku->retry_timer->data = ku;
    }
    ku->retry_fn = fn;
    uv_timer_start(ku->retry_timer, on_retry, ms, 0);
}

/* ---- the work type's entry points -------------------------------------------------- */

static struct kube_unit *ku_of(struct unit *u)
{
    if (!u->kube)
        u->kube = kube_unit_new(0);
    if (u->kube)
        u->kube->u = u;
    return u->kube;
}

void kube_start(struct unit *u, unit_done_cb done, void *arg)
{
    struct kube_unit *ku = ku_of(u);
    char err[600];
    unit_set_status(u, UNIT_PENDING, "Connecting to Kubernetes", 0);
    if (!ku || !kube_engine(u, err, sizeof err) || ku_connect(ku, err, sizeof err) < 0) {
        if (!ku)
            snprintf(err, sizeof err, "out of memory");
        unit_set_status(u, UNIT_FAILED, err, 0);
        log_error("Work unit %s: %s", u->id, err);
        done(arg, NULL, err);
        return;
    }
    ku_hold(ku);
    done(arg, "Job Started", NULL);
    ku_create_pod(ku);
}

void kube_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    struct kube_unit *ku = u->kube;
    if (ku) {
        ku_stop(ku);
        if (!ku->pod) {
            const char *pn = json_string_value(json_object_get(u->st.extra, "PodName"));
            if (pn && pn[0] && dns_name_ok(pn))
                ku->pod = strdup(pn);
        }
        if (ku->pod && ku->ns)
            ku_delete_pod(ku);
    }
    if (!unit_state_complete(u->st.state))
        unit_set_status(u, UNIT_CANCELED, "Canceled", -1);
    if (ku)
        ku_release_hold(ku);
    done(arg, "cancelled", NULL);
}

void kube_stop(struct unit *u)
{
    if (u->kube) {
        ku_stop(u->kube);
        u->kube->holding = 0; /* the workceptor is going: refs no longer matter */
    }
}

/* Resumes following a Running unit's pod: its stdout already holds the
 * first bytes of the log, which are skipped. */
static void ku_resume(struct kube_unit *ku)
{
    const char *pn = json_string_value(json_object_get(ku->u->st.extra, "PodName"));
    if (!pn || !dns_name_ok(pn) || !dns_name_ok(ku->ns)) {
        ku_end(ku, UNIT_FAILED, "Failed to restart: the unit has no valid pod name or namespace");
        return;
    }
    ku->pod = strdup(pn);
    struct stat sb;
    char path[4200];
    snprintf(path, sizeof path, "%s/stdout", ku->u->dir);
    ku->skip_bytes = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    ku_start_streams(ku, 1);
}

void kube_restart(struct unit *u)
{
    int st = u->st.state;
    if (unit_state_complete(st) || st == UNIT_CANCELED)
        return;
    struct kube_unit *ku = ku_of(u);
    char err[600];
    int connected = ku && kube_engine(u, err, sizeof err) && ku_connect(ku, err, sizeof err) == 0;
    if (st == UNIT_RUNNING) {
        if (!connected) {
            char msg[700];
            snprintf(msg, sizeof msg, "Failed to restart: %s", ku ? err : "out of memory");
            unit_set_status(u, UNIT_FAILED, msg, -1);
            return;
        }
        ku_hold(ku);
        ku_resume(ku);
        return;
    }
    if (connected && u->wt->kube->delete_pod_on_restart) {
        const char *pn = json_string_value(json_object_get(u->st.extra, "PodName"));
        if (pn && dns_name_ok(pn) && dns_name_ok(ku->ns)) {
            ku->pod = strdup(pn);
            ku_delete_pod(ku);
        }
    }
    unit_set_status(u, UNIT_FAILED, "Failed to restart: work unit is not in running state, cannot be "
                                    "restarted", -1);
}
