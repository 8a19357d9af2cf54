/* submit.c - `ansible-runner-c submit`: transmit -> work submit -> work
 * results -> process -> work release, as AWX drives runner through
 * Receptor (runner-streaming spec 8.3-8.7).
 *
 * Three threads, all with SIGINT/SIGTERM/SIGHUP blocked:
 *
 *   main     submits (the transmit stream is written straight onto the
 *            control connection: the socket's flow control is the only
 *            buffer), then runs process_run() on the read end of a pipe,
 *            then decides the outcome and releases the unit.
 *   reader   follows `work results <unit> <pos>` and copies the bytes into
 *            the pipe.  <pos> is the number of bytes already written into
 *            the pipe, so after a lost control connection (receptor
 *            restarted, socket closed) it reconnects and resumes exactly at
 *            the next byte: nothing is lost or duplicated.  The pipe (1 MiB)
 *            gives back-pressure: a slow processor stops the reader, which
 *            stops reading the socket, which stops receptor.
 *   signals  sigtimedwait() loop.  During submission a signal aborts the
 *            upload (the main thread then cancels and releases).  While
 *            results flow, the first signal sends `work cancel`: the worker
 *            reports `canceled`, the artifacts and eof, which we still
 *            process; a second signal, or no eof within cancel_wait seconds,
 *            stops waiting.  The unit is released in every case.
 *
 * Memory is bounded: 64 KiB socket buffers, the pipe, and what
 * process_run holds for one line.
 *
 * On a terminal, a large upload (the transmit stream) and a large results
 * stream whose output does not go to the terminal show a one-line meter on
 * stderr (core/progress.h), drawn by the thread that moves the bytes;
 * --quiet, or a stderr that is not a terminal, shows none.
 *
 * Container groups (--container-group): as AWX, the job goes to the node
 * behind the socket as a kubernetes-incluster-auth unit, or
 * kubernetes-runtime-auth with the kubeconfig as secret_kube_config; the pod
 * is AWX's default (submit_pod_spec) as secret_kube_pod, with
 * pod_pending_timeout 5m; the kwargs say process isolation off (the pod is
 * the isolation) and the whole directory travels, as for remote work.  With
 * registry credentials the main's ensure_pull_secret makes AWX's image pull
 * secret first (cmd/pull_secret.c) and the pod names it; when it cannot,
 * nothing is submitted. */
#include "runner/submit.h"
#include "runner/envfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/progress.h"
#include "runner/ctlsock.h"
#include "runner/rio.h"
#include "runner/stream.h"
#include "runner/zipdir.h"

#define PFX "ansible-runner-c submit: "

enum phase { PH_SUBMIT, PH_RESULTS, PH_DONE };

struct shared {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const struct submit_opts *o;
    char unit[64];
    enum phase phase;
    int interrupted;        /* signals received */
    int cancel_sent;
    int abandon;            /* the reader must stop now */
    int submit_fd;          /* the submission socket, for an abort */
    int results_fd;         /* the current results socket */
    int pipe_w;
    int reader_done;
    int stop;               /* the signal thread must exit */
    unsigned long long pos; /* bytes handed to the processor */
    char reader_err[1024];
    /* from the status lines */
    char *status, *explanation, *traceback;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- small control-socket helpers ---------------------------------------------- */

/* One command, one reply; retries connecting for up to retry_s seconds. */
static int command_retry(const struct submit_opts *o, const char *line, char *reply, size_t cap,
                         int retry_s, char *err, size_t errlen)
{
    long long deadline = now_ms() + (long long)retry_s * 1000;
    int backoff = 100;
    for (;;) {
        if (ctlsock_command(o->socket, line, reply, cap, 10000, err, errlen) == 0)
            return 0;
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(backoff);
        backoff = backoff < 2000 ? backoff * 2 : 2000;
    }
}

/* `work status`: 0 and the parsed object, 1 when the unit is unknown,
 * -1 when receptor could not be asked. */
static int unit_status(const struct submit_opts *o, const char *unit, json_t **st, int retry_s,
                       char *err, size_t errlen)
{
    char line[128], reply[65536];
    snprintf(line, sizeof line, "work status %s", unit);
    *st = NULL;
    if (command_retry(o, line, reply, sizeof reply, retry_s, err, errlen) < 0)
        return -1;
    if (!strncmp(reply, "ERROR", 5)) {
        snprintf(err, errlen, "%.400s", reply);
        return strstr(reply, "unknown work unit") ? 1 : -1;
    }
    *st = json_loads(reply, 0, NULL);
    if (!json_is_object(*st)) {
        json_decref(*st);
        *st = NULL;
        snprintf(err, errlen, "unexpected work status reply: %.200s", reply);
        return -1;
    }
    return 0;
}

static void send_cancel(struct shared *sh, const char *unit)
{
    char line[128], reply[1024], err[512];
    snprintf(line, sizeof line, "work cancel %s", unit);
    if (command_retry(sh->o, line, reply, sizeof reply, 5, err, sizeof err) < 0)
        fprintf(stderr, PFX "could not cancel work unit %s: %s\n", unit, err);
    else if (!strncmp(reply, "ERROR", 5))
        fprintf(stderr, PFX "cancel of work unit %s: %s\n", unit, reply);
}

static int release_unit(const struct submit_opts *o, const char *unit)
{
    char line[128], reply[1024], err[512];
    snprintf(line, sizeof line, "work release %s", unit);
    if (command_retry(o, line, reply, sizeof reply, o->reconnect_seconds, err, sizeof err) < 0) {
        fprintf(stderr, PFX "could not release work unit %s: %s\n", unit, err);
        return -1;
    }
    if (!strncmp(reply, "ERROR", 5)) {
        fprintf(stderr, PFX "release of work unit %s: %s\n", unit, reply);
        return -1;
    }
    return 0;
}

/* The last bytes of the unit's output (spec 8.7: "Worker output"). */
static void print_tail(const struct submit_opts *o, const char *unit, long long size)
{
    struct ctlsock *c = malloc(sizeof *c);
    char err[512], hdr[512], cmd[128];
    int transient;
    long long start = size > 1000 ? size - 1000 : 0;
    if (!c || ctlsock_open(c, o->socket, 10000, &transient, err, sizeof err) < 0) {
        free(c);
        return;
    }
    snprintf(cmd, sizeof cmd, "work results %s %lld", unit, start);
    if (ctlsock_send_line(c, cmd) == 0 &&
        ctlsock_read_line(c, hdr, sizeof hdr, 10000, err, sizeof err) >= 0 &&
        !strncmp(hdr, "Streaming results", 17)) {
        struct timeval tv = { 5, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[1024];
        size_t got = 0;
        ssize_t n;
        fprintf(stderr, "Worker output:\n");
        while (got < 1000 && (n = ctlsock_read(c, buf, sizeof buf)) > 0) {
            fwrite(buf, 1, (size_t)n, stderr);
            got += (size_t)n;
        }
        if (got && buf[0] != 0)
            fputc('\n', stderr);
    }
    ctlsock_close(c);
    free(c);
}

/* ---- the signal thread ------------------------------------------------------------ */

static void force_stop(struct shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    sh->abandon = 1;
    if (sh->results_fd >= 0)
        shutdown(sh->results_fd, SHUT_RDWR);
    pthread_mutex_unlock(&sh->mu);
}

/* A canceled container-group unit: receptor deleted the pod, and the worker
 * with it, so no final status will come (AWX stops reading on cancel).  True
 * once the unit says Canceled and every byte it has was handed on. */
static int pod_gone(struct shared *sh, const char *unit)
{
    json_t *st = NULL;
    char err[512];
    if (unit_status(sh->o, unit, &st, 0, err, sizeof err) != 0)
        return 0;
    long long state = json_integer_value(json_object_get(st, "State"));
    long long size = json_integer_value(json_object_get(st, "StdoutSize"));
    json_decref(st);
    pthread_mutex_lock(&sh->mu);
    int drained = (long long)sh->pos >= size;
    pthread_mutex_unlock(&sh->mu);
    if (state != 4 || !drained)
        return 0;
    fprintf(stderr, PFX "work unit %s canceled: its pod is deleted, so no final status comes "
                    "back\n", unit);
    return 1;
}

static void *signal_thread(void *arg)
{
    struct shared *sh = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    long long cancel_deadline = -1;
    for (;;) {
        struct timespec ts = { 0, 200 * 1000000L };
        int sig = sigtimedwait(&set, NULL, &ts);
        pthread_mutex_lock(&sh->mu);
        if (sh->stop) {
            pthread_mutex_unlock(&sh->mu);
            break;
        }
        enum phase ph = sh->phase;
        char unit[64];
        memcpy(unit, sh->unit, sizeof unit);
        int n = sig > 0 ? ++sh->interrupted : sh->interrupted;
        if (sig > 0 && ph == PH_SUBMIT && sh->submit_fd >= 0)
            shutdown(sh->submit_fd, SHUT_RDWR);
        int do_cancel = sig > 0 && ph == PH_RESULTS && !sh->cancel_sent;
        if (do_cancel)
            sh->cancel_sent = 1;
        pthread_mutex_unlock(&sh->mu);
        if (sig <= 0) {
            if (cancel_deadline >= 0 && sh->o->container_group && pod_gone(sh, unit)) {
                cancel_deadline = -1;
                force_stop(sh);
            }
            if (cancel_deadline >= 0 && now_ms() >= cancel_deadline) {
                fprintf(stderr, PFX "no final status %d s after the cancel; giving up waiting\n",
                        sh->o->cancel_wait_seconds);
                cancel_deadline = -1;
                force_stop(sh);
            }
            continue;
        }
        if (ph == PH_DONE)
            continue; /* releasing: finish that */
        if (do_cancel) {
            fprintf(stderr, "\n" PFX "interrupted: canceling work unit %s "
                            "(interrupt again to stop waiting for its final status)\n", unit);
            send_cancel(sh, unit);
            cancel_deadline = now_ms() + (long long)sh->o->cancel_wait_seconds * 1000;
        } else if (ph == PH_RESULTS && n > 1) {
            fprintf(stderr, PFX "interrupted again: not waiting for the final status\n");
            cancel_deadline = -1;
            force_stop(sh);
        }
    }
    return NULL;
}

/* ---- the results reader ------------------------------------------------------------ */

static void *reader_thread(void *arg)
{
    struct shared *sh = arg;
    const struct submit_opts *o = sh->o;
    char err[512], hdr[1024], cmd[160];
    uint8_t *buf = malloc(65536);
    struct ctlsock *c = malloc(sizeof *c);
    int discard = 0, backoff = 100, lost = 0;
    long long lost_since = -1;
    struct progress meter;
    progress_start(&meter, progress_wanted(o->quiet, true) ? 2 : -1, "received", 0);
    while (buf && c) {
        pthread_mutex_lock(&sh->mu);
        int ab = sh->abandon;
        unsigned long long pos = sh->pos;
        pthread_mutex_unlock(&sh->mu);
        if (ab)
            break;
        int transient = 1;
        int ok = ctlsock_open(c, o->socket, 10000, &transient, err, sizeof err) == 0;
        if (ok) {
            snprintf(cmd, sizeof cmd, "work results %s %llu", sh->unit, pos);
            if (ctlsock_send_line(c, cmd) < 0 ||
                ctlsock_read_line(c, hdr, sizeof hdr, 30000, err, sizeof err) < 0) {
                ok = 0;
                ctlsock_close(c);
            } else if (!strncmp(hdr, "ERROR", 5)) {
                ctlsock_close(c);
                if (!discard)
                    snprintf(sh->reader_err, sizeof sh->reader_err, "work results %s: %.400s%s", sh->unit,
                             hdr, strstr(hdr, "unknown work unit") ? " (was it released?)" : "");
                break;
            } else if (strncmp(hdr, "Streaming results for work unit ", 32) != 0) {
                ctlsock_close(c);
                snprintf(sh->reader_err, sizeof sh->reader_err, "work results %s: unexpected reply %.300s",
                         sh->unit, hdr);
                break;
            }
        }
        if (!ok) {
            if (lost_since < 0)
                lost_since = now_ms();
            if (!lost) {
                progress_break(&meter);
                fprintf(stderr, PFX "lost the control connection at byte %llu of the results (%s); "
                                "reconnecting\n", pos, err);
                lost = 1;
            }
            if (!transient || now_ms() - lost_since > (long long)o->reconnect_seconds * 1000) {
                snprintf(sh->reader_err, sizeof sh->reader_err,
                         "could not reach the control socket again within %d s: %s",
                         o->reconnect_seconds, err);
                break;
            }
            sleep_ms(backoff);
            backoff = backoff < 2000 ? backoff * 2 : 2000;
            continue;
        }
        if (lost) {
            progress_break(&meter);
            fprintf(stderr, PFX "reconnected; resuming the results at byte %llu\n", pos);
            lost = 0;
        }
        lost_since = -1;
        backoff = 100;
        pthread_mutex_lock(&sh->mu);
        ab = sh->abandon;
        if (!ab)
            sh->results_fd = c->fd;
        pthread_mutex_unlock(&sh->mu);
        if (ab) {
            ctlsock_close(c);
            break;
        }
        ssize_t n;
        while ((n = ctlsock_read(c, buf, 65536)) > 0) {
            if (!discard && rio_write_all(sh->pipe_w, buf, (size_t)n) < 0)
                discard = 1; /* the processor is done (EPIPE): drain */
            pthread_mutex_lock(&sh->mu);
            sh->pos += (unsigned long long)n;
            pthread_mutex_unlock(&sh->mu);
            progress_add(&meter, (uint64_t)n);
        }
        int rerr = n < 0 ? errno : 0;
        pthread_mutex_lock(&sh->mu);
        sh->results_fd = -1;
        ab = sh->abandon;
        pos = sh->pos;
        pthread_mutex_unlock(&sh->mu);
        ctlsock_close(c);
        if (ab)
            break;
        /* The stream ended: receptor closes it when the unit is complete and
         * everything was sent.  Anything else is a lost connection. */
        json_t *st = NULL;
        int s = unit_status(o, sh->unit, &st, 0, err, sizeof err);
        if (s == 1) {
            if (!discard)
                snprintf(sh->reader_err, sizeof sh->reader_err, "work unit %s is gone: %s", sh->unit, err);
            break;
        }
        if (s == 0) {
            long long state = json_integer_value(json_object_get(st, "State"));
            long long size = json_integer_value(json_object_get(st, "StdoutSize"));
            json_decref(st);
            if (discard || ((state == 2 || state == 3) && (long long)pos >= size))
                break;
            snprintf(err, sizeof err, "%s", rerr ? strerror(rerr) : "closed before the unit finished");
        }
        if (lost_since < 0)
            lost_since = now_ms();
        progress_break(&meter);
        fprintf(stderr, PFX "lost the control connection at byte %llu of the results (%s); "
                        "reconnecting\n", pos, err);
        lost = 1;
        sleep_ms(100);
    }
    if (sh->reader_err[0])
        progress_break(&meter);
    else
        progress_end(&meter);
    free(buf);
    free(c);
    pthread_mutex_lock(&sh->mu);
    if (sh->pipe_w >= 0)
        close(sh->pipe_w);
    sh->pipe_w = -1;
    sh->reader_done = 1;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
    return NULL;
}

/* ---- status lines ---------------------------------------------------------------- */

static void keep(char **slot, json_t *v)
{
    if (!json_is_string(v))
        return;
    free(*slot);
    *slot = strdup(json_string_value(v));
}

static void on_status(void *ctx, const char *line, size_t n)
{
    struct shared *sh = ctx;
    json_t *j = json_loadb(line, n, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    keep(&sh->status, json_object_get(j, "status"));
    keep(&sh->explanation, json_object_get(j, "job_explanation"));
    keep(&sh->traceback, json_object_get(j, "result_traceback"));
    json_decref(j);
}

/* ---- submission ---------------------------------------------------------------- */

static char *submit_line(const struct submit_opts *o, const char *node, const char *worktype,
                         const char *params, json_t *kube)
{
    json_t *j = json_object();
    json_object_set_new(j, "command", json_string("work"));
    json_object_set_new(j, "subcommand", json_string("submit"));
    json_object_set_new(j, "node", json_string(node));
    json_object_set_new(j, "worktype", json_string(worktype));
    if (o->tlsclient && *o->tlsclient)
        json_object_set_new(j, "tlsclient", json_string(o->tlsclient));
    if (o->ttl && *o->ttl)
        json_object_set_new(j, "ttl", json_string(o->ttl));
    if (o->signwork)
        json_object_set_new(j, "signwork", json_string("true"));
    if (params && *params)
        json_object_set_new(j, "params", json_string(params));
    if (kube)
        json_object_update(j, kube);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* ---- container groups -------------------------------------------------------------- */

/* A DNS-1123 label from the ident for the pod's name (receptor appends
 * "-" and 5 random characters): lower case, other characters as '-'. */
static void pod_name_of(const char *ident, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "automation-job-");
    for (const char *p = ident; *p && n + 1 < cap && n < 56; p++) {
        char ch = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        out[n++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = 0;
}

/* AWX's deepmerge: mappings merge key by key, an override of null keeps
 * the default, anything else (lists included) replaces it.  New reference. */
static json_t *pod_deepmerge(json_t *a, json_t *b)
{
    if (json_is_object(a) && json_is_object(b)) {
        json_t *out = json_deep_copy(a);
        const char *k;
        json_t *v;
        json_object_foreach(b, k, v)
            json_object_set_new(out, k, pod_deepmerge(json_object_get(a, k), v));
        return out;
    }
    if (!b || json_is_null(b))
        return a ? json_deep_copy(a) : json_null();
    return json_deep_copy(b);
}

/* A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at
 * both ends (the ident is free text). */
static void label_value_of(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < cap && n < 63; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[n++] = ok ? ch : '-';
    }
    out[n] = 0;
    size_t lead = strspn(out, "._-");
    memmove(out, out + lead, strlen(out + lead) + 1);
    n = strlen(out);
    while (n > 0 && strchr("._-", out[n - 1]))
        out[--n] = 0;
}

char *submit_pod_spec(const struct submit_pod *sp, char *err, size_t errlen)
{
    char name[64], job[64];
    pod_name_of(sp->ident, name, sizeof name);
    label_value_of(sp->ident, job, sizeof job);
    json_t *worker = json_pack("{s:s, s:s, s:[sss], s:{s:{s:s, s:s}}}", "image", sp->image, "name",
                               "worker", "args", "ansible-runner", "worker",
                               "--private-data-dir=/runner", "resources", "requests", "cpu",
                               "250m", "memory", "100Mi");
    json_t *spec = json_pack("{s:s, s:b, s:[o]}", "serviceAccountName", "default",
                             "automountServiceAccountToken", 0, "containers", worker);
    json_t *def = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "v1", "kind", "Pod",
                            "metadata", "namespace", sp->namespace, "spec", spec);
    json_t *pod = pod_deepmerge(def, sp->override);
    json_decref(def);
    /* as AWX: the EE and the worker command win over the override */
    json_t *c0 = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    if (!json_is_object(c0)) {
        snprintf(err, errlen, "the pod spec override leaves no container to run the job in "
                              "(spec.containers[0] must be a mapping)");
        json_decref(pod);
        return NULL;
    }
    json_object_set_new(c0, "image", json_string(sp->image));
    json_object_set_new(c0, "args", json_pack("[sss]", "ansible-runner", "worker", "--private-data-dir=/runner"));
    if (sp->pull_secret && *sp->pull_secret)
        json_object_set_new(json_object_get(pod, "spec"), "imagePullSecrets",
                            json_pack("[{s:s}]", "name", sp->pull_secret));
    json_t *meta = json_pack("{s:s, s:{s:s, s:s}}", "name", name, "labels", "ansible-awx",
                             sp->install_id && *sp->install_id ? sp->install_id : "ansible-runner-c",
                             "ansible-awx-job-id", job);
    json_t *merged = pod_deepmerge(json_object_get(pod, "metadata"), meta);
    json_decref(meta);
    json_object_set_new(pod, "metadata", merged);
    char *s = json_dumps(pod, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(pod);
    if (!s)
        snprintf(err, errlen, "out of memory");
    return s;
}

static char *read_small_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    if (buf)
        n = fread(buf, 1, cap + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > cap) {
        snprintf(err, errlen, "%s: %s", path, !buf ? "out of memory" : bad ? "read error"
                                                                          : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* AWX's image pull secret (registry credentials given): made sure of in the
 * namespace the pod goes to (the override may name one) and named in the
 * pod's imagePullSecrets, replacing any other, as AWX does.  *pod is
 * rebuilt; 0, or -1 with err. */
static int pod_pull_secret(const struct submit_opts *o, struct submit_pod *sp, char **pod,
                           char *name, size_t namelen, char *err, size_t errlen)
{
    json_t *j = json_loads(*pod, 0, NULL);
    const char *ns = json_string_value(json_object_get(json_object_get(j, "metadata"), "namespace"));
    char nsbuf[256];
    if (!ns || !*ns || strlen(ns) >= sizeof nsbuf) {
        snprintf(err, errlen, "the pod's metadata.namespace must be a namespace name");
        json_decref(j);
        return -1;
    }
    snprintf(nsbuf, sizeof nsbuf, "%s", ns);
    json_decref(j);
    char why[1024];
    if (o->ensure_pull_secret(o->pull_secret_arg, nsbuf, name, namelen, why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (!o->quiet)
        fprintf(stderr, PFX "image pull secret %s in namespace %s\n", name, nsbuf);
    sp->pull_secret = name;
    char *again = submit_pod_spec(sp, err, errlen);
    if (!again)
        return -1;
    free(*pod);
    *pod = again;
    return 0;
}

/* AWX's container-group submission: the job runs in the EE image with
 * process isolation off (the pod is the isolation), the pod spec and the
 * kubeconfig travel as receptor's secret runtime params. */
static json_t *container_group_params(const struct submit_opts *o, const char **worktype,
                                      char *err, size_t errlen)
{
    json_t *kw = o->kwargs;
    const char *img = json_string_value(json_object_get(kw, "container_image"));
    struct submit_pod sp = { o->ident, img && *img ? img : "quay.io/ansible/awx-ee:latest",
                             o->namespace && *o->namespace ? o->namespace : "default",
                             o->pull_secret, o->install_id, NULL };
    if (o->pod_spec_override) {
        char *text = read_small_file(o->pod_spec_override, err, errlen);
        if (!text)
            return NULL;
        sp.override = envfile_yaml_to_json(text, strlen(text)); /* PyYAML's safe_load, as AWX */
        free(text);
        if (!json_is_object(sp.override)) {
            snprintf(err, errlen, "%s: the pod spec override must be a YAML or JSON mapping",
                     o->pod_spec_override);
            json_decref(sp.override);
            return NULL;
        }
    }
    char *pod = submit_pod_spec(&sp, err, errlen);
    char secret[256];
    if (pod && o->ensure_pull_secret && pod_pull_secret(o, &sp, &pod, secret, sizeof secret, err,
                                                        errlen) < 0) {
        free(pod);
        pod = NULL;
    }
    json_decref(sp.override);
    if (!pod)
        return NULL;
    json_object_set_new(kw, "process_isolation", json_false());
    static const char *const drop[] = { "container_image", "container_options",
                                        "container_volume_mounts", "container_auth_data",
                                        "process_isolation_executable" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        json_object_del(kw, drop[i]);
    json_t *p = pod ? json_pack("{s:s, s:s}", "secret_kube_pod", pod, "pod_pending_timeout",
                                o->pod_pending_timeout && *o->pod_pending_timeout
                                    ? o->pod_pending_timeout : "5m") : NULL;
    free(pod);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *worktype = "kubernetes-incluster-auth";
    if (o->kubeconfig) {
        char *kc = read_small_file(o->kubeconfig, err, errlen);
        if (!kc) {
            json_decref(p);
            return NULL;
        }
        json_object_set_new(p, "secret_kube_config", json_string(kc));
        free(kc);
        *worktype = "kubernetes-runtime-auth";
    }
    return p;
}

static int read_rc(const char *dir)
{
    char path[4200], b[32];
    snprintf(path, sizeof path, "%s/rc", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, b, sizeof b - 1);
    close(fd);
    if (n <= 0)
        return -1;
    b[n] = 0;
    char *end;
    long v = strtol(b, &end, 10);
    if (end == b)
        return -1;
    return v < 0 || v > 255 ? 1 : (int)v;
}

static int status_rc(const char *status)
{
    if (!status)
        return 1;
    if (!strcmp(status, "successful"))
        return 0;
    if (!strcmp(status, "canceled") || !strcmp(status, "timeout"))
        return 254;
    return 1;
}

int submit_run(const struct submit_opts *o)
{
    struct shared sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    sh.o = o;
    sh.submit_fd = sh.results_fd = sh.pipe_w = -1;
    sh.phase = PH_SUBMIT;
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t sig_tid, rd_tid;
    int have_reader = 0;
    if (pthread_create(&sig_tid, NULL, signal_thread, &sh) != 0) {
        fprintf(stderr, PFX "cannot start a thread\n");
        return 1;
    }
    int code = 1, release = 0;
    char err[1024] = "", line[4096];
    char *artifact_dir = NULL;
    struct ctlsock *c = malloc(sizeof *c);
    int transient;

    /* 1. work submit, the payload straight from transmit */
    if (!c || ctlsock_open(c, o->socket, 10000, &transient, err, sizeof err) < 0) {
        fprintf(stderr, PFX "%s\n", err);
        goto out;
    }
    const char *node = o->node && *o->node ? o->node : c->node;
    int is_local = !strcmp(node, c->node) || !strcasecmp(node, "localhost");
    const char *worktype = o->worktype && *o->worktype ? o->worktype : is_local ? "local" : "ansible-runner";
    char *params = NULL;
    int only_kwargs = 0;
    json_t *kube = NULL;
    if (o->container_group) {
        const char *kt;
        if (!(kube = container_group_params(o, &kt, err, sizeof err))) {
            fprintf(stderr, PFX "container group: %s\n", err);
            goto out;
        }
        if (!(o->worktype && *o->worktype))
            worktype = kt;
        is_local = 0; /* the worker runs in the pod, on its own copy of the job */
    }
    if (o->worker_params)
        params = strdup(o->worker_params);
    else if (is_local) {
        /* AWX's local work: the worker runs the private data dir in place */
        if (asprintf(&params, "--private-data-dir=%s", o->pdd) < 0)
            params = NULL;
        only_kwargs = 1;
    }
    char *sub = submit_line(o, node, worktype, params, kube);
    free(params);
    json_decref(kube);
    if (!sub || ctlsock_send_line(c, sub) < 0 ||
        ctlsock_read_line(c, line, sizeof line, 60000, err, sizeof err) < 0) {
        fprintf(stderr, PFX "submitting to %s: %s\n", o->socket, err[0] ? err : strerror(errno));
        free(sub);
        goto out;
    }
    free(sub);
    const char *pre = "Work unit created with ID ";
    const char *idp = strncmp(line, pre, strlen(pre)) ? NULL : line + strlen(pre);
    size_t idl = idp ? strspn(idp, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") : 0;
    if (!idp || idl == 0 || idl >= sizeof sh.unit || idp[idl] != '.') {
        fprintf(stderr, PFX "receptor refused the work (node %s, work type %s): %s\n", node, worktype,
                line);
        goto out;
    }
    pthread_mutex_lock(&sh.mu);
    memcpy(sh.unit, idp, idl);
    sh.unit[idl] = 0;
    sh.submit_fd = c->fd;
    int intr = sh.interrupted;
    pthread_mutex_unlock(&sh.mu);
    release = !o->keep_unit;
    if (!o->quiet)
        fprintf(stderr, PFX "work unit %s: %s on node %s\n", sh.unit, worktype, node);
    if (intr) {
        code = 130;
        goto out;
    }
    struct progress meter;
    progress_start(&meter, progress_wanted(o->quiet, false) ? 2 : -1, "sent", 0);
    struct transmit_opts to = { o->pdd, o->kwargs, only_kwargs != 0, o->files, &meter };
    err[0] = 0;
    int trc = transmit_run(&to, c->fd, err, sizeof err);
    if (trc == 0)
        progress_end(&meter);
    else
        progress_break(&meter);
    pthread_mutex_lock(&sh.mu);
    intr = sh.interrupted;
    pthread_mutex_unlock(&sh.mu);
    if (intr) {
        fprintf(stderr, PFX "interrupted while sending the job\n");
        code = 130;
        goto out;
    }
    if (trc < 0) {
        char e2[256];
        /* receptor may have said why it stopped reading */
        if (ctlsock_read_line(c, line, sizeof line, 2000, e2, sizeof e2) >= 0 && line[0])
            fprintf(stderr, PFX "sending the job: %s (receptor: %s)\n", err, line);
        else
            fprintf(stderr, PFX "sending the job: %s\n", err);
        goto out;
    }
    shutdown(c->fd, SHUT_WR);
    if (ctlsock_read_line(c, line, sizeof line, -1, err, sizeof err) < 0) {
        pthread_mutex_lock(&sh.mu);
        intr = sh.interrupted;
        pthread_mutex_unlock(&sh.mu);
        if (intr) {
            code = 130;
            goto out;
        }
        fprintf(stderr, PFX "work unit %s: no answer after the payload: %s\n", sh.unit, err);
        goto out;
    }
    if (!strncmp(line, "ERROR", 5)) {
        fprintf(stderr, PFX "work unit %s did not start: %s\n", sh.unit, line);
        goto out;
    }
    if (strstr(line, "Job Submitted") && !o->quiet)
        fprintf(stderr, PFX "node %s is not reachable yet; the job starts when it is\n", node);
    pthread_mutex_lock(&sh.mu);
    sh.submit_fd = -1; /* no shutdown() on a closed (maybe reused) descriptor */
    pthread_mutex_unlock(&sh.mu);
    ctlsock_close(c);

    /* 2. results -> pipe -> process */
    if (asprintf(&artifact_dir, "%s/artifacts/%s", o->pdd, o->ident) < 0) {
        artifact_dir = NULL;
        goto out;
    }
    if (!is_local)
        zipdir_rmtree(artifact_dir); /* AWX: deletions made by the job must show */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, PFX "pipe: %s\n", strerror(errno));
        goto out;
    }
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    pthread_mutex_lock(&sh.mu);
    sh.submit_fd = -1;
    sh.pipe_w = p[1];
    sh.phase = PH_RESULTS;
    intr = sh.interrupted && !sh.cancel_sent;
    if (intr)
        sh.cancel_sent = 1;
    pthread_mutex_unlock(&sh.mu);
    if (intr) {
        fprintf(stderr, "\n" PFX "interrupted: canceling work unit %s\n", sh.unit);
        send_cancel(&sh, sh.unit);
    }
    if (pthread_create(&rd_tid, NULL, reader_thread, &sh) != 0) {
        close(p[0]);
        close(p[1]);
        fprintf(stderr, PFX "cannot start a thread\n");
        goto out;
    }
    have_reader = 1;
    struct process_result res;
    memset(&res, 0, sizeof res);
    struct process_opts po = { o->pdd, o->ident, NULL, o->quiet, p[0], o->outfd,
                               true, on_status, &sh, &res };
    int prc = process_run(&po);
    close(p[0]); /* the reader now drains whatever still comes */

    /* wait for the unit to finish (the results stream closes) so that the
     * release does not race with the worker's own cleanup, and, after a line
     * that is not JSON, so that the status read below is the final one (the
     * worker usually ends right after its traceback; it is not over yet) */
    pthread_mutex_lock(&sh.mu);
    int wait_s = (res.saw_eof || res.bad_line) && !sh.interrupted ? 30 : 0;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += wait_s;
    while (!sh.reader_done && wait_s && pthread_cond_timedwait(&sh.cv, &sh.mu, &dl) == 0)
        ;
    pthread_mutex_unlock(&sh.mu);
    force_stop(&sh);
    pthread_join(rd_tid, NULL);
    have_reader = 0;
    pthread_mutex_lock(&sh.mu);
    sh.phase = PH_DONE;
    intr = sh.interrupted;
    pthread_mutex_unlock(&sh.mu);

    /* 3. the outcome */
    if (res.saw_eof) {
        if (sh.status && !strcmp(sh.status, "error")) {
            fprintf(stderr, PFX "work unit %s: the job ended with an error: %s\n", sh.unit,
                    sh.explanation ? sh.explanation : "(no explanation)");
            if (sh.traceback)
                fprintf(stderr, "%s%s", sh.traceback,
                        sh.traceback[0] && sh.traceback[strlen(sh.traceback) - 1] == '\n' ? "" : "\n");
            code = 1;
        } else {
            int rc = read_rc(artifact_dir);
            code = rc >= 0 ? rc : status_rc(sh.status);
            if (!o->quiet)
                fprintf(stderr, PFX "work unit %s: %s (rc %d); artifacts in %s\n", sh.unit,
                        sh.status ? sh.status : "no status", code, artifact_dir);
        }
        if (prc != 0)
            fprintf(stderr, PFX "the artifacts could not be unpacked into %s\n", artifact_dir);
    } else if (intr) {
        fprintf(stderr, PFX "work unit %s: interrupted before its final status arrived\n", sh.unit);
        code = 130;
    } else {
        code = 1;
        if (sh.reader_err[0])
            fprintf(stderr, PFX "%s\n", sh.reader_err);
        else if (res.bad_line)
            fprintf(stderr, PFX "work unit %s: the result stream is not a runner worker stream "
                            "(a line is not JSON, or it ended before eof)\n", sh.unit);
        json_t *st = NULL;
        char e2[512];
        int s = unit_status(o, sh.unit, &st, 5, e2, sizeof e2);
        if (s == 0) {
            const char *state = json_string_value(json_object_get(st, "StateName"));
            const char *detail = json_string_value(json_object_get(st, "Detail"));
            long long size = json_integer_value(json_object_get(st, "StdoutSize"));
            if (state && !strcmp(state, "Failed") && res.events == 0)
                print_tail(o, sh.unit, size);
            if (detail && *detail)
                fprintf(stderr, "Receptor detail:\n%s\n", detail);
            json_decref(st);
        } else {
            fprintf(stderr, PFX "work status %s: %s\n", sh.unit, e2);
        }
    }

out:
    if (c) {
        ctlsock_close(c);
        free(c);
    }
    if (have_reader) {
        force_stop(&sh);
        pthread_join(rd_tid, NULL);
    }
    pthread_mutex_lock(&sh.mu);
    sh.phase = PH_DONE;
    if (sh.interrupted && !sh.cancel_sent && sh.unit[0] && code == 130) {
        sh.cancel_sent = 1;
        pthread_mutex_unlock(&sh.mu);
        send_cancel(&sh, sh.unit);
    } else {
        pthread_mutex_unlock(&sh.mu);
    }
    if (release && sh.unit[0] && release_unit(o, sh.unit) == 0 && !o->quiet)
        fprintf(stderr, PFX "released work unit %s\n", sh.unit);
    else if (sh.unit[0] && o->keep_unit && !o->quiet)
        fprintf(stderr, PFX "kept work unit %s (--keep-unit)\n", sh.unit);
    pthread_mutex_lock(&sh.mu);
    sh.stop = 1;
    pthread_mutex_unlock(&sh.mu);
    pthread_join(sig_tid, NULL);
    /* signals stay blocked: one arriving now must not kill us mid-exit */
    free(artifact_dir);
    free(sh.status);
    free(sh.explanation);
    free(sh.traceback);
    pthread_mutex_destroy(&sh.mu);
    pthread_cond_destroy(&sh.cv);
    return code;
}
