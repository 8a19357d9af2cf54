/* work_cmd.c - the `work` control command (spec 8.8): submit, list, status,
 * results, cancel, release, force-release, in plain and JSON forms, with
 * upstream's parameter checks and error texts.
 *
 * submit and results take the connection over (and return
 * CONTROL_SESSION_HANDED to the session that ran them): submit copies every byte up
 * to the client's half-close into the unit's stdin file (reading only as
 * fast as the disk takes it), starts the unit and answers; results streams
 * the unit's stdout from startpos, following the file as it grows, and
 * closes the connection when the unit is complete and all bytes were sent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/control.h"
#include "core/bstream.h"
#include "core/gojson.h"
#include "core/log.h"
#include "core/util.h"
#include "work/signature.h"
#include "work/workceptor.h"

#define RESULTS_CHUNK 65536

/* ---- parsing ---------------------------------------------------------------- */

/* struct work_args and its parsing: parse.c */

/* A string member of the JSON form; NULL after replying an error. */
static const char *field(struct control_session *s, struct work_args *a, const char *name)
{
    json_t *v = json_object_get(a->cmd, name);
    if (!v) {
        control_reply_error(s, "field %s missing", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        control_reply_error(s, "field %s must be a string", name);
        return NULL;
    }
    return json_string_value(v);
}

static const char *optional_string(json_t *cmd, const char *name)
{
    json_t *v = json_object_get(cmd, name);
    return json_is_string(v) ? json_string_value(v) : "";
}

static struct workceptor *wc_of(struct control_session *s) { return control_workceptor(s); }

static void reply_unknown_unit(struct control_session *s, const char *id)
{
    int64_t at = workceptor_released_at(wc_of(s), id);
    if (at) {
        /* keep upstream's words (remote monitors look for them), then say why */
        long ago = (long)((util_now_ns() - at) / 1000000000);
        control_reply_error(s, "unknown work unit %s (released %lds ago)", id, ago);
        return;
    }
    control_reply_error(s, "unknown work unit %s", id);
}

/* The unit named by the command, or NULL after replying; its status is
 * re-read unless !fresh (the caller then refreshes it itself). */
static struct unit *get_unit_ex(struct control_session *s, struct work_args *a, const char *usage, int fresh)
{
    const char *id;
    if (a->cmd) {
        id = field(s, a, "unitid");
        if (!id)
            return NULL;
    } else {
        if (a->nwords < 1) {
            control_reply_error(s, "%s", usage);
            return NULL;
        }
        id = a->words[0];
    }
    struct unit *u = fresh ? workceptor_find(wc_of(s), id) : workceptor_lookup(wc_of(s), id);
    if (!u)
        reply_unknown_unit(s, id);
    return u;
}

static struct unit *get_unit(struct control_session *s, struct work_args *a, const char *usage)
{
    return get_unit_ex(s, a, usage, 1);
}

/* Spec 11: 0 to go on; replies the error otherwise. */
static int check_signature(struct control_session *s, struct work_args *a, int required)
{
    const char *sig = a->cmd ? optional_string(a->cmd, "signature") : "";
    char err[300];
    if (signature_check(wc_of(s), required, sig, control_trusted(s), err, sizeof err) < 0) {
        control_reply_error(s, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- submit ------------------------------------------------------------------ */

struct submit_op {
    struct bstream *bs;
    struct unit *u;
    int fd;
    int failed;
    char id[16];
    char err[320];      /* why the payload could not be stored */
};

static void submit_finish(struct submit_op *op, const char *line)
{
    if (!op->bs)
        return; /* the client left while the unit was starting */
    op->bs->data = NULL;
    op->bs->on_close = NULL;
    bstream_write(op->bs, line, strlen(line));
    bstream_shutdown(op->bs);
    bstream_close(op->bs);
}

static void submit_started(void *arg, const char *result, const char *err)
{
    struct submit_op *op = arg;
    char line[512];
    if (err) {
        snprintf(line, sizeof line, "ERROR: %s\n", err);
    } else {
        json_t *o = json_pack("{s:s,s:s}", "result", result, "unitid", op->id);
        char *t = gojson_dumps(o, GOJSON_SORT_KEYS);
        snprintf(line, sizeof line, "%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
    }
    submit_finish(op, line);
    free(op);
}

/* The payload cannot be stored: the unit fails, with the reason in its
 * status and (at EOF) in the answer.  What was written is useless: it is
 * cut off, which also gives a full disk the room for the status. */
static void submit_fail(struct submit_op *op, const char *what, int e)
{
    snprintf(op->err, sizeof op->err, "%s of unit %s: %s", what, op->id, strerror(e));
    log_error("%s", op->err);
    op->failed = 1;
    if (op->fd >= 0 && ftruncate(op->fd, 0) < 0)
        log_error("work unit %s: cannot truncate stdin: %s", op->id, strerror(errno));
    char err[256];
    if (unit_set_status_err(op->u, UNIT_FAILED, op->err, -1, err, sizeof err) < 0)
        snprintf(op->err + strlen(op->err), sizeof op->err - strlen(op->err), "; %s", err);
}

static int submit_write(struct submit_op *op, const uint8_t *data, size_t len)
{
    while (len > 0 && !op->failed) {
        ssize_t n = write(op->fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            submit_fail(op, "cannot write stdin", errno);
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return op->failed ? -1 : 0;
}

static void submit_on_read(struct bstream *bs, const uint8_t *data, size_t len)
{
    struct submit_op *op = bs->data;
    submit_write(op, data, len); /* after a failure the rest is read and dropped */
}

static void submit_on_eof(struct bstream *bs)
{
    struct submit_op *op = bs->data;
    if (close(op->fd) < 0 && !op->failed) { /* e.g. NFS reports write errors here */
        op->fd = -1;
        submit_fail(op, "cannot write stdin", errno);
    }
    op->fd = -1;
    bs->on_read = NULL;
    char err[256];
    if (!op->failed && unit_set_status_err(op->u, UNIT_PENDING, "Starting Worker", -1, err, sizeof err) < 0) {
        snprintf(op->err, sizeof op->err, "cannot start unit %s: %s", op->id, err);
        op->failed = 1;
        unit_set_status(op->u, UNIT_FAILED, op->err, -1);
    }
    if (op->failed) {
        char line[400];
        snprintf(line, sizeof line, "ERROR: %s\n", op->err);
        submit_finish(op, line);
        free(op);
        return;
    }
    unit_start(op->u, submit_started, op);
}

static void submit_on_close(struct bstream *bs)
{
    struct submit_op *op = bs->data;
    if (!op)
        return;
    /* the client went away before EOF: the payload is incomplete */
    if (op->fd >= 0) {
        close(op->fd);
        unit_set_status(op->u, UNIT_FAILED, "Client disconnected before sending all stdin data", -1);
        free(op);
    } else {
        op->bs = NULL; /* the start is in flight; its callback frees op */
    }
}

static void submit_on_error(struct bstream *bs, const char *msg)
{
    (void)bs;
    log_debug("work submit: connection error: %s", msg);
}

static json_t *submit_params(struct control_session *s, struct work_args *a, const char **node,
                             const char **worktype)
{
    json_t *params = json_object();
    if (!a->cmd) {
        if (a->nwords < 2) {
            json_decref(params);
            control_reply_error(s, "work submit requires a target node and work type");
            return NULL;
        }
        *node = a->words[0];
        *worktype = a->words[1];
        if (a->nwords > 2) /* every word from the third on, verbatim, as upstream joins them */
            json_object_set_new(params, "params", json_string(a->rest_from2));
        return params;
    }
    const char *k;
    json_t *v;
    json_object_foreach(a->cmd, k, v) {
        if (!json_is_string(v)) {
            json_decref(params);
            control_reply_error(s, "submit parameters must all be strings and %s is not", k);
            return NULL;
        }
        static const char *reserved[] = { "command", "subcommand", "node", "worktype", "signature" };
        int skip = 0;
        for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
            skip |= strcmp(k, reserved[i]) == 0;
        if (!skip)
            json_object_set(params, k, v);
    }
    *node = field(s, a, "node");
    if (*node)
        *worktype = field(s, a, "worktype");
    if (!*node || !*worktype) {
        json_decref(params);
        return NULL;
    }
    return params;
}

static enum control_handoff work_submit(struct control_session *s, struct work_args *a)
{
    const char *node = NULL, *worktype = NULL;
    json_t *params = submit_params(s, a, &node, &worktype);
    if (!params)
        return CONTROL_SESSION_KEPT;
    struct workceptor *wc = wc_of(s);
    const struct work_type *wt = workceptor_type(wc, worktype);
    /* the check uses this node's definition of the type (spec 11) */
    if (check_signature(s, a, wt && wt->verify_signature) < 0) {
        json_decref(params);
        return CONTROL_SESSION_KEPT;
    }
    char err[512];
    struct unit *u = workceptor_submit(wc, node, worktype, params, err, sizeof err);
    json_decref(params);
    if (!u) {
        control_reply_error(s, "%s", err);
        return CONTROL_SESSION_KEPT;
    }
    struct submit_op *op = calloc(1, sizeof *op);
    char path[4200];
    snprintf(path, sizeof path, "%s/stdin", unit_dir(u));
    /* the file was just created empty; no O_TRUNC: on ext4 a truncate to 0
     * makes close() start writeback, and release's unlink then waits for it */
    int fd = op ? open(path, O_WRONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
        free(op);
        unit_set_status(u, UNIT_FAILED, "cannot open stdin", -1);
        control_reply_error(s, "cannot open %s: %s", path, strerror(errno));
        return CONTROL_SESSION_KEPT;
    }
    op->fd = fd;
    op->u = u;
    snprintf(op->id, sizeof op->id, "%s", unit_id(u));
    struct bstream *bs = control_stream(s);
    char line[128];
    int n = snprintf(line, sizeof line, "Work unit created with ID %s. Send stdin data and EOF.\n", op->id);
    bstream_write(bs, line, (size_t)n);
    uint8_t *rest;
    size_t restlen;
    control_take_over(s, &rest, &restlen);
    op->bs = bs;
    bs->data = op;
    bs->on_read = submit_on_read;
    bs->on_eof = submit_on_eof;
    bs->on_error = submit_on_error;
    bs->on_close = submit_on_close;
    if (restlen)
        submit_write(op, rest, restlen);
    free(rest);
    bstream_read_start(bs);
    return CONTROL_SESSION_HANDED;
}

/* ---- results ----------------------------------------------------------------- */

struct results_op {
    struct bstream *bs;
    struct unit *u;
    struct work_counters *counters;  /* the workceptor's: bytes served */
    struct unit_watch *watch;
    int fd;
    int64_t pos;
    int waiting_drain;
    int done;
    int open_failed;        /* stdout could not be opened (logged once) */
    uv_timer_t timer;
    int timer_inited;
};

static void results_pump(struct results_op *op, int reload);

/* One read buffer for every results stream: bstream_write() copies, and the
 * loop is single-threaded (a 64 KiB buffer per stream cost 16 page faults
 * per `work results`). */
static uint8_t pump_buf[RESULTS_CHUNK];

static void results_timer_closed(uv_handle_t *h) { free(h->data); }

static void results_end(struct results_op *op)
{
    if (op->done)
        return;
    op->done = 1;
    if (op->watch)
        unit_watch_remove(op->watch);
    op->watch = NULL;
    if (op->fd >= 0)
        close(op->fd);
    op->fd = -1;
    op->bs->data = NULL;
    op->bs->on_drain = NULL;
    op->bs->on_close = NULL;
    bstream_shutdown(op->bs);
    bstream_close(op->bs);
    uv_close((uv_handle_t *)&op->timer, results_timer_closed);
}

static void results_on_close(struct bstream *bs)
{
    struct results_op *op = bs->data;
    if (!op || op->done)
        return;
    op->done = 1;
    if (op->watch)
        unit_watch_remove(op->watch);
    if (op->fd >= 0)
        close(op->fd);
    uv_close((uv_handle_t *)&op->timer, results_timer_closed);
}

static void results_on_drain(struct bstream *bs)
{
    struct results_op *op = bs->data;
    if (op && op->waiting_drain) {
        op->waiting_drain = 0;
        results_pump(op, 0);
    }
}

static void results_on_eof(struct bstream *bs)
{
    (void)bs; /* receptorctl half-closes after the header: keep streaming */
}

static void results_on_watch(void *arg, int gone)
{
    struct results_op *op = arg;
    if (gone) {
        results_end(op); /* the unit is being deleted: finish (and unwatch) */
        return;
    }
    if (!op->waiting_drain)
        results_pump(op, 0); /* the unit's status was just brought up to date */
}

static void results_on_timer(uv_timer_t *t)
{
    struct results_op *op = t->data;
    if (!op->waiting_drain)
        results_pump(op, 1);
}

/* Sends what the file has from pos; finishes when the unit is complete and
 * everything was sent; otherwise waits for the next change.  The unit's
 * cached status is current when the unit's watcher calls (it is re-read on
 * every change of the status file, and the daemon's own writes update it),
 * so only the fallback timer re-reads the file (reload). */
static void results_pump(struct results_op *op, int reload)
{
    if (op->done)
        return;
    if (op->fd < 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/stdout", unit_dir(op->u));
        op->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (op->fd < 0 && errno != ENOENT) {
            /* out of descriptors (EMFILE, ENFILE) or memory: the output is
             * there, this stream just cannot read it yet.  Ending here would
             * look like a unit with no output; try again shortly. */
            if (!op->open_failed)
                log_warning("work results %s: cannot open %s: %s; trying again",
                            unit_id(op->u), path, strerror(errno));
            op->open_failed = 1;
            uv_timer_start(&op->timer, results_on_timer, 500, 0);
            return;
        }
        if (op->fd < 0) { /* no stdout yet: the unit has not started */
            unit_refresh(op->u);
            if (unit_state_complete(unit_status(op->u)->state)) {
                results_end(op);
                return;
            }
            uv_timer_start(&op->timer, results_on_timer, 500, 0);
            return;
        }
    }
    while (bstream_queued(op->bs) < BSTREAM_HIGH_WATER) {
        ssize_t n = pread(op->fd, pump_buf, sizeof pump_buf, op->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        op->pos += n;
        op->counters->result_bytes_served += (uint64_t)n;
        if (bstream_write(op->bs, pump_buf, (size_t)n) < 0) {
            results_end(op);
            return;
        }
    }
    if (bstream_queued(op->bs) >= BSTREAM_HIGH_WATER) {
        op->waiting_drain = 1;
        return;
    }
    if (reload)
        unit_refresh(op->u);
    const struct unit_status *st = unit_status(op->u);
    struct stat sb;
    if (unit_state_complete(st->state) && op->pos >= st->stdout_size &&
        (fstat(op->fd, &sb) < 0 || op->pos >= sb.st_size)) {
        results_end(op);
        return;
    }
    /* wait: the unit's watcher wakes us; a slow timer covers the rest */
    uv_timer_start(&op->timer, results_on_timer, 1000, 0);
}

static enum control_handoff work_results(struct control_session *s, struct work_args *a)
{
    int64_t startpos = 0;
    char err[300];
    if (!a->cmd && a->nwords > 2) {
        control_reply_error(s, "work results only takes a unit ID and optional start position");
        return CONTROL_SESSION_KEPT;
    }
    if ((a->cmd && work_startpos_json(json_object_get(a->cmd, "startpos"), &startpos, err, sizeof err) < 0) ||
        (!a->cmd && a->nwords == 2 && work_startpos_word(a->words[1], &startpos, err, sizeof err) < 0)) {
        control_reply_error(s, "%s", err);
        return CONTROL_SESSION_KEPT;
    }
    /* the status is read once the unit is watched (below) */
    struct unit *u = get_unit_ex(s, a, "work results requires a unit ID", 0);
    if (!u || check_signature(s, a, unit_needs_signature(u)) < 0)
        return CONTROL_SESSION_KEPT;
    struct results_op *op = calloc(1, sizeof *op);
    if (!op) {
        control_reply_error(s, "out of memory");
        return CONTROL_SESSION_KEPT;
    }
    op->u = u;
    op->counters = workceptor_counters(wc_of(s));
    op->fd = -1;
    op->pos = startpos;
    op->bs = control_stream(s);
    uv_timer_init(node_loop(control_node(s)), &op->timer);
    op->timer.data = op;
    char line[128];
    int n = snprintf(line, sizeof line, "Streaming results for work unit %s\n", unit_id(u));
    bstream_write(op->bs, line, (size_t)n);
    uint8_t *rest;
    size_t restlen;
    control_take_over(s, &rest, &restlen);
    free(rest);
    op->bs->data = op;
    op->bs->on_read = NULL;
    op->bs->on_eof = results_on_eof;
    op->bs->on_drain = results_on_drain;
    op->bs->on_close = results_on_close;
    op->watch = unit_watch_add(u, results_on_watch, op);
    bstream_read_start(op->bs); /* to notice the client going away */
    results_pump(op, 1); /* watched now: no change can fall between */
    return CONTROL_SESSION_HANDED;
}

/* ---- list, status, cancel, release ----------------------------------------- */

static void work_list(struct control_session *s, struct work_args *a)
{
    const char *only = NULL;
    if (a->cmd) {
        json_t *v = json_object_get(a->cmd, "unitid");
        if (v && !json_is_string(v)) {
            control_reply_error(s, "field unitid must be a string");
            return;
        }
        only = v ? json_string_value(v) : NULL;
    } else if (a->nwords > 0) {
        only = a->words[0];
    }
    char err[256];
    json_t *list = workceptor_list(wc_of(s), only, err, sizeof err);
    if (!list) {
        reply_unknown_unit(s, only);
        return;
    }
    control_reply_json(s, list, 0);
}

static void work_status(struct control_session *s, struct work_args *a)
{
    if (!a->cmd && a->nwords > 1) {
        control_reply_error(s, "work status does not take parameters after the unit ID");
        return;
    }
    struct unit *u = get_unit(s, a, "work status requires a unit ID");
    if (!u)
        return;
    control_reply_json(s, unit_status_reply(unit_status(u)), 0);
}

struct action_op {
    struct control_session *s;
    char id[16];
};

static void action_done(void *arg, const char *result, const char *err)
{
    struct action_op *op = arg;
    struct control_session *s = op->s;
    control_clear_pending(s);
    if (err)
        control_reply_error(s, "%s", err);
    else
        control_reply_json(s, json_pack("{s:s}", result, op->id), 1);
    free(op);
}

static void action_cancel(void *arg)
{
    struct action_op *op = arg;
    op->s = NULL; /* the client left; the action still completes */
}

static void action_done_guarded(void *arg, const char *result, const char *err)
{
    struct action_op *op = arg;
    if (!op->s) {
        free(op);
        return;
    }
    action_done(arg, result, err);
}

static void work_action(struct control_session *s, struct work_args *a, int kind)
{
    const char *usage = kind == 0 ? "work cancel requires a unit ID" : "work release requires a unit ID";
    struct unit *u = get_unit(s, a, usage);
    if (!u || check_signature(s, a, unit_needs_signature(u)) < 0)
        return;
    struct action_op *op = calloc(1, sizeof *op);
    if (!op) {
        control_reply_error(s, "out of memory");
        return;
    }
    op->s = s;
    snprintf(op->id, sizeof op->id, "%s", unit_id(u));
    control_set_pending(s, action_cancel, op);
    if (kind == 0)
        unit_cancel(u, action_done_guarded, op);
    else
        unit_release(u, kind == 2, action_done_guarded, op);
}

/* ---- adopt (beyond upstream) ------------------------------------------------ */

static void work_adopt(struct control_session *s, struct work_args *a)
{
    const char *node, *remote;
    json_t *params = json_object();
    if (a->cmd) {
        node = field(s, a, "node");
        remote = node ? field(s, a, "unitid") : NULL;
        if (!remote) {
            json_decref(params);
            return;
        }
        const char *tls = optional_string(a->cmd, "tlsclient");
        const char *sign = optional_string(a->cmd, "signwork");
        if (tls[0])
            json_object_set_new(params, "tlsclient", json_string(tls));
        if (sign[0])
            json_object_set_new(params, "signwork", json_string(sign));
    } else {
        if (a->nwords < 2) {
            json_decref(params);
            control_reply_error(s, "work adopt requires a node and a unit ID");
            return;
        }
        node = a->words[0];
        remote = a->words[1];
        if (a->nwords > 2)
            json_object_set_new(params, "tlsclient", json_string(a->words[2]));
    }
    char err[512];
    struct unit *u = workceptor_adopt(wc_of(s), node, remote, params, err, sizeof err);
    json_decref(params);
    if (!u) {
        control_reply_error(s, "%s", err);
        return;
    }
    control_reply_json(s, json_pack("{s:s,s:s}", "result", "Adopted", "unitid", unit_id(u)), 1);
}

/* ---- dispatch ----------------------------------------------------------------- */

enum control_handoff cmd_work(struct control_session *s, const char *params, json_t *cmd)
{
    struct work_args a;
    if (!wc_of(s)) {
        control_reply_error(s, "Unknown command");
        return CONTROL_SESSION_KEPT;
    }
    char err[64];
    if (work_args_parse(params, cmd, &a, err, sizeof err) < 0) {
        control_reply_error(s, "%s", err);
        return CONTROL_SESSION_KEPT;
    }
    enum control_handoff r = CONTROL_SESSION_KEPT;
    if (strcmp(a.sub, "submit") == 0)
        r = work_submit(s, &a);
    else if (strcmp(a.sub, "list") == 0)
        work_list(s, &a);
    else if (strcmp(a.sub, "status") == 0)
        work_status(s, &a);
    else if (strcmp(a.sub, "results") == 0)
        r = work_results(s, &a);
    else if (strcmp(a.sub, "cancel") == 0)
        work_action(s, &a, 0);
    else if (strcmp(a.sub, "release") == 0)
        work_action(s, &a, 1);
    else if (strcmp(a.sub, "force-release") == 0)
        work_action(s, &a, 2);
    else if (strcmp(a.sub, "adopt") == 0)
        work_adopt(s, &a);
    else
        control_reply_error(s, "bad command");
    work_args_free(&a);
    return r;
}
