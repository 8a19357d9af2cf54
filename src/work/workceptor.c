/* workceptor.c - the unit table, the data directory, submission, watchers,
 * release and restart (see workceptor.h).  Work-type specific behaviour is
 * in command.c and remote.c; this file dispatches on the unit's kind. */
#include "work/workceptor_internal.h"
#include "work/kube_http.h"
#include "work/kube_unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define TOMBSTONE_NS (600LL * 1000000000)
#define TOMBSTONES_MAX 10000
#define POLL_MS 1000
#define COALESCE_MS 0

/* ---- the unit table -------------------------------------------------------- */

static unsigned id_bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % UNIT_BUCKETS;
}

static void table_add(struct workceptor *wc, struct unit *u)
{
    unsigned b = id_bucket(u->id);
    u->next = wc->buckets[b];
    wc->buckets[b] = u;
    wc->nunits++;
}

static void table_remove(struct workceptor *wc, struct unit *u)
{
    struct unit **pp = &wc->buckets[id_bucket(u->id)];
    while (*pp && *pp != u)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = u->next;
        wc->nunits--;
    }
}

static struct unit *table_get(struct workceptor *wc, const char *id)
{
    for (struct unit *u = wc->buckets[id_bucket(id)]; u; u = u->next)
        if (strcmp(u->id, id) == 0)
            return u;
    return NULL;
}

/* ---- watchers and change detection ---------------------------------------- */

struct unit_watch {
    struct unit *u;
    void (*cb)(void *arg, int gone);
    void *arg;
    int dead;
    struct unit_watch *next;
};

/* Watchers removed while callbacks run are only marked; they are unlinked
 * and freed once no notification is on the stack, so a callback may remove
 * any watcher, itself or another. */
static void sweep_watchers(struct unit *u)
{
    struct unit_watch **pp = &u->watchers;
    while (*pp) {
        struct unit_watch *w = *pp;
        if (w->dead) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

void unit_notify(struct unit *u, int gone)
{
    u->refs++;
    u->notifying++;
    for (struct unit_watch *w = u->watchers; w; w = w->next)
        if (!w->dead)
            w->cb(w->arg, gone);
    if (--u->notifying == 0)
        sweep_watchers(u);
    u->refs--;
    unit_maybe_free(u);
}

static void on_coalesce(uv_timer_t *t)
{
    struct unit *u = t->data;
    int reload = u->status_dirty;
    u->status_dirty = 0;
    u->check_pending = 0;
    if (reload)
        unit_refresh(u);
    unit_notify(u, 0);
    unit_arm_poll(u);
}

static void unit_schedule_check(struct unit *u, int status_changed)
{
    if (status_changed)
        u->status_dirty = 1;
    if (u->check_pending || u->freeing)
        return;
    u->check_pending = 1;
    uv_timer_start(&u->timer, on_coalesce, COALESCE_MS, 0);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    struct unit *u = h->data;
    if (status < 0 || !filename)
        return;
    if (strcmp(filename, "status") == 0)
        unit_schedule_check(u, 1);
    else if (strcmp(filename, "stdout") == 0)
        unit_schedule_check(u, 0);
}

static void on_poll(uv_timer_t *t)
{
    struct unit *u = t->data;
    unit_refresh(u);
    if (u->wt && u->wt->kind == WORK_COMMAND)
        command_check_runner(u);
    unit_notify(u, 0);
    unit_arm_poll(u);
}

/* While someone watches an unfinished unit, follow its files: inotify for
 * promptness, a 1 s poll for what inotify cannot see.  A runner this
 * daemon did not fork (adopted at a restart) sends no SIGCHLD: it is
 * polled until it is seen gone, even after it wrote its final state (it
 * writes that just before it exits, and a cancel is answered only when it
 * has exited). */
void unit_arm_poll(struct unit *u)
{
    if (u->freeing || u->check_pending)
        return;
    int follow = !unit_state_complete(u->st.state) && (u->watchers || u->runner_pid > 0);
    int adopted = u->runner_pid > 0 && !u->runner_is_child;
    int active = follow || adopted;
    if (follow && !u->fs_active) {
        if (!u->fs_inited) {
            uv_fs_event_init(u->wc->loop, &u->fsev);
            u->fsev.data = u;
            u->fs_inited = 1;
            u->handles++;
        }
        if (uv_fs_event_start(&u->fsev, on_fs_event, u->dir, 0) == 0)
            u->fs_active = 1;
    } else if (!follow && u->fs_active) {
        uv_fs_event_stop(&u->fsev);
        u->fs_active = 0;
    }
    if (active)
        uv_timer_start(&u->timer, on_poll, POLL_MS, 0);
    else
        uv_timer_stop(&u->timer);
}

struct unit_watch *unit_watch_add(struct unit *u, void (*cb)(void *arg, int gone), void *arg)
{
    struct unit_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->u = u;
    w->cb = cb;
    w->arg = arg;
    w->next = u->watchers;
    u->watchers = w;
    u->refs++;
    unit_arm_poll(u);
    return w;
}

void unit_watch_remove(struct unit_watch *w)
{
    struct unit *u = w->u;
    if (u->notifying) {
        w->dead = 1; /* freed by the notification loop */
    } else {
        struct unit_watch **pp = &u->watchers;
        while (*pp && *pp != w)
            pp = &(*pp)->next;
        if (*pp)
            *pp = w->next;
        free(w);
    }
    u->refs--;
    unit_arm_poll(u);
    unit_maybe_free(u);
}

/* ---- units ------------------------------------------------------------------- */

static void unit_handle_closed(uv_handle_t *h)
{
    struct unit *u = h->data;
    if (--u->handles > 0)
        return;
    unit_status_free(&u->st);
    remote_free_state(u);
    kube_unit_free(u->kube);
    u->kube = NULL;
    free(u->dir);
    free(u);
}

void unit_maybe_free(struct unit *u)
{
    if (!u->forgotten || u->refs > 0 || u->freeing)
        return;
    u->freeing = 1;
    uv_close((uv_handle_t *)&u->timer, unit_handle_closed);
    if (u->fs_inited)
        uv_close((uv_handle_t *)&u->fsev, unit_handle_closed);

}

/* Removes the unit from the table; memory goes when nobody holds it. */
void unit_forget(struct unit *u)
{
    if (u->forgotten)
        return;
    u->forgotten = 1;
    table_remove(u->wc, u);
    unit_maybe_free(u);
}

static struct unit *unit_new(struct workceptor *wc, const char *id)
{
    struct unit *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->wc = wc;
    snprintf(u->id, sizeof u->id, "%s", id);
    size_t len = strlen(wc->dir) + strlen(id) + 2;
    u->dir = malloc(len);
    if (!u->dir) {
        free(u);
        return NULL;
    }
    snprintf(u->dir, len, "%s/%s", wc->dir, id);
    uv_timer_init(wc->loop, &u->timer);
    u->timer.data = u;
    u->handles = 1;
    return u;
}

const char *unit_id(const struct unit *u) { return u->id; }
const char *unit_dir(const struct unit *u) { return u->dir; }

void unit_refresh(struct unit *u)
{
    struct unit_status st;
    char err[256];
    if (unit_status_load(u->dir, &st, err, sizeof err) == 0) {
        unit_status_free(&u->st);
        u->st = st;
    }
}

const struct unit_status *unit_status(struct unit *u) { return &u->st; }

struct set_args {
    int state;
    const char *detail;
    int64_t size;
};

static void apply_set(struct unit_status *st, void *arg)
{
    struct set_args *a = arg;
    if (a->state >= 0)
        st->state = a->state;
    if (a->detail) {
        free(st->detail);
        st->detail = strdup(a->detail);
    }
    if (a->size >= 0)
        st->stdout_size = a->size;
}

static int unit_update_err(struct unit *u, void (*fn)(struct unit_status *st, void *arg), void *arg,
                           char *err, size_t errlen)
{
    struct unit_status st;
    if (unit_status_update(u->dir, fn, arg, &st, err, errlen) < 0) {
        log_error("Work unit %s: %s", u->id, err);
        return -1;
    }
    unit_status_free(&u->st);
    u->st = st; /* what was written: no need to read it back */
    return 0;
}

int unit_update(struct unit *u, void (*fn)(struct unit_status *st, void *arg), void *arg)
{
    char err[256];
    return unit_update_err(u, fn, arg, err, sizeof err);
}

int unit_set_status_err(struct unit *u, int state, const char *detail, int64_t stdout_size, char *err,
                        size_t errlen)
{
    struct set_args a = { state, detail, stdout_size };
    if (unit_update_err(u, apply_set, &a, err, errlen) < 0)
        return -1;
    unit_notify(u, 0);
    return 0;
}

int unit_set_status(struct unit *u, int state, const char *detail, int64_t stdout_size)
{
    char err[256];
    return unit_set_status_err(u, state, detail, stdout_size, err, sizeof err);
}

static void apply_extra(struct unit_status *st, void *arg)
{
    json_decref(st->extra);
    st->extra = arg ? json_deep_copy(arg) : NULL;
}

int unit_set_extra(struct unit *u, json_t *extra)
{
    return unit_update(u, apply_extra, extra);
}

int unit_needs_signature(struct unit *u)
{
    if (strcmp(u->st.work_type, "remote") == 0)
        return json_is_true(json_object_get(u->st.extra, "SignWork"));
    return u->wt && u->wt->verify_signature;
}

/* Loads a unit directory found on disk (not yet in the table). */
static struct unit *unit_load(struct workceptor *wc, const char *id)
{
    if (!util_safe_component(id, 64))
        return NULL;
    struct unit *u = unit_new(wc, id);
    if (!u)
        return NULL;
    char err[256];
    if (unit_status_load(u->dir, &u->st, err, sizeof err) < 0) {
        struct stat sb;
        if (stat(u->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
            u->forgotten = 1;
            unit_maybe_free(u);
            return NULL;
        }
        /* a corrupt status file: keep the unit, failed with the reason */
        log_warning("Work unit %s: %s", id, err);
        unit_status_init(&u->st, "");
        u->st.state = UNIT_FAILED;
        unit_status_set_detail(&u->st, "Failed to restart: %s", err);
        unit_status_save(u->dir, &u->st, err, sizeof err);
    }
    u->wt = workceptor_type(wc, u->st.work_type);
    table_add(wc, u);
    return u;
}

struct unit *workceptor_lookup(struct workceptor *wc, const char *id)
{
    if (!util_safe_component(id, 64))
        return NULL;
    struct unit *u = table_get(wc, id);
    return u ? u : unit_load(wc, id);
}

struct unit *workceptor_find(struct workceptor *wc, const char *id)
{
    if (!util_safe_component(id, 64))
        return NULL;
    struct unit *u = table_get(wc, id);
    if (u) {
        unit_refresh(u);
        return u;
    }
    return unit_load(wc, id);
}

/* ---- submission --------------------------------------------------------------- */

static int allocate_dir(struct workceptor *wc, char *id)
{
    for (int tries = 0; tries < 100; tries++) {
        util_random_id(id, 8);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", wc->dir, id);
        if (table_get(wc, id))
            continue;
        if (mkdir(path, 0700) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int create_files(struct unit *u, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/stdin", u->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return unit_status_save(u->dir, &u->st, err, errlen);
}

struct unit *workceptor_submit(struct workceptor *wc, const char *node, const char *worktype,
                               json_t *params, char *err, size_t errlen)
{
    int local = strcasecmp(node, "localhost") == 0 || strcmp(node, node_id(wc->node)) == 0;
    const struct work_type *wt = NULL;
    json_t *extra = NULL;
    struct kube_unit *kube = NULL;
    if (local) {
        wt = workceptor_type(wc, worktype);
        if (!wt || wt->kind == WORK_REMOTE) {
            snprintf(err, errlen, "unknown work type %s", worktype);
            return NULL;
        }
        if (json_object_get(params, "ttl")) {
            snprintf(err, errlen, "ttl option is intended for remote work only");
            return NULL;
        }
        if (wt->kind == WORK_KUBE ? kube_check_params(wt, params, &extra, &kube, err, errlen) < 0
                                  : command_check_params(wt, params, &extra, err, errlen) < 0)
            return NULL;
    } else {
        wt = workceptor_type(wc, "remote");
        if (remote_check_params(wc, node, worktype, params, &extra, err, errlen) < 0)
            return NULL;
    }
    char id[16];
    if (allocate_dir(wc, id) < 0) {
        snprintf(err, errlen, "cannot create a unit directory in %s: %s", wc->dir, strerror(errno));
        json_decref(extra);
        kube_unit_free(kube);
        return NULL;
    }
    struct unit *u = unit_new(wc, id);
    if (!u) {
        json_decref(extra);
        kube_unit_free(kube);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    u->wt = wt;
    u->kube = kube;
    unit_status_init(&u->st, wt->name);
    u->st.extra = extra;
    unit_status_set_detail(&u->st, "Waiting for Input Data");
    if (create_files(u, err, errlen) < 0) {
        /* no half-made unit may stay behind to be listed (e.g. a full disk) */
        if (nftw(u->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
            log_error("Work unit %s: cannot remove %s: %s", u->id, u->dir, strerror(errno));
        u->forgotten = 1;
        unit_maybe_free(u);
        return NULL;
    }
    table_add(wc, u);
    return u;
}

struct unit *workceptor_adopt(struct workceptor *wc, const char *node, const char *remote_id,
                              json_t *params, char *err, size_t errlen)
{
    if (!util_safe_component(remote_id, 64)) {
        snprintf(err, errlen, "invalid unit ID %s", remote_id);
        return NULL;
    }
    if (strcasecmp(node, "localhost") == 0 || strcmp(node, node_id(wc->node)) == 0) {
        snprintf(err, errlen, "adopt follows a unit on another node");
        return NULL;
    }
    struct unit *u = workceptor_submit(wc, node, "", params, err, errlen);
    if (!u)
        return NULL;
    json_t *e = json_deep_copy(u->st.extra);
    json_object_set_new(e, "RemoteUnitID", json_string(remote_id));
    json_object_set_new(e, "RemoteStarted", json_true());
    unit_set_extra(u, e);
    json_decref(e);
    unit_set_status(u, UNIT_PENDING, "Adopted", -1);
    remote_adopt(u);
    return u;
}

/* ---- start, cancel, release ------------------------------------------------- */

void unit_start(struct unit *u, unit_done_cb done, void *arg)
{
    if (!u->wt) {
        done(arg, NULL, "unknown work type");
        return;
    }
    if (u->wt->kind == WORK_COMMAND)
        command_start(u, done, arg);
    else if (u->wt->kind == WORK_KUBE)
        kube_start(u, done, arg);
    else
        remote_start(u, done, arg);
}

void unit_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    if (!u->wt) {
        done(arg, "cancelled", NULL); /* unknown type: a no-op */
        return;
    }
    if (u->wt->kind == WORK_COMMAND)
        command_cancel(u, done, arg);
    else if (u->wt->kind == WORK_KUBE)
        kube_cancel(u, done, arg);
    else
        remote_cancel(u, done, arg);
}

/* Deletes the unit's directory and forgets it, leaving a tombstone. */
void unit_delete(struct unit *u)
{
    struct workceptor *wc = u->wc;
    if (nftw(u->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        log_error("Work unit %s: cannot remove %s: %s", u->id, u->dir, strerror(errno));
    if (json_object_size(wc->tombstones) >= TOMBSTONES_MAX)
        json_object_clear(wc->tombstones);
    json_object_set_new(wc->tombstones, u->id, json_integer(util_now_ns()));
    u->released = 1;
    unit_notify(u, 1);
    unit_forget(u);
}

struct release_op {
    struct unit *u;
    int force;
    unit_done_cb done;
    void *arg;
};

static void release_after_cancel(void *arg, const char *result, const char *err)
{
    struct release_op *op = arg;
    struct unit *u = op->u;
    (void)result;
    if (err && !op->force) {
        op->done(op->arg, NULL, err);
    } else {
        char id[16];
        snprintf(id, sizeof id, "%s", u->id);
        unit_delete(u);
        op->done(op->arg, "released", NULL);
    }
    u->refs--;
    unit_maybe_free(u);
    free(op);
}

void unit_release(struct unit *u, int force, unit_done_cb done, void *arg)
{
    if (u->wt && u->wt->kind == WORK_REMOTE) {
        remote_release(u, force, done, arg);
        return;
    }
    struct release_op *op = calloc(1, sizeof *op);
    if (!op) {
        done(arg, NULL, "out of memory");
        return;
    }
    op->u = u;
    op->force = force;
    op->done = done;
    op->arg = arg;
    u->refs++;
    unit_cancel(u, release_after_cancel, op);
}

int64_t workceptor_released_at(struct workceptor *wc, const char *id)
{
    json_t *t = json_object_get(wc->tombstones, id);
    if (!t)
        return 0;
    if (util_now_ns() - json_integer_value(t) > TOMBSTONE_NS) {
        json_object_del(wc->tombstones, id);
        return 0;
    }
    return json_integer_value(t);
}

/* ---- listing ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *workceptor_list(struct workceptor *wc, const char *only_id, char *err, size_t errlen)
{
    json_t *out = json_object();
    if (only_id) {
        struct unit *u = workceptor_find(wc, only_id);
        if (!u) {
            json_decref(out);
            snprintf(err, errlen, "unknown work unit %s", only_id);
            return NULL;
        }
        json_object_set_new(out, u->id, unit_status_reply(&u->st));
        return out;
    }
    /* units on disk that another process created are listed too */
    DIR *d = opendir(wc->dir);
    size_t cap = 64, n = 0;
    char **ids = malloc(cap * sizeof *ids);
    struct dirent *de;
    while (d && ids && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **ni = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!ni)
                break;
            ids = ni;
        }
        ids[n++] = strdup(de->d_name);
    }
    if (d)
        closedir(d);
    if (ids)
        qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 0; i < n; i++) {
        struct unit *u = ids[i] ? workceptor_find(wc, ids[i]) : NULL;
        if (u)
            json_object_set_new(out, u->id, unit_status_reply(&u->st));
        free(ids[i]);
    }
    free(ids);
    return out;
}

/* ---- setup ------------------------------------------------------------------- */

struct work_type *workceptor_add_type(struct workceptor *wc, const char *name, enum work_kind kind)
{
    struct work_type *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->name = strdup(name);
    t->kind = kind;
    struct work_type **pp = &wc->types;
    while (*pp)
        pp = &(*pp)->next;
    *pp = t;
    return t;
}

static void on_sigchld(uv_signal_t *h, int sig);

struct workceptor *workceptor_new(struct node *n, const char *datadir, const char *self_exe,
                                  char *err, size_t errlen)
{
    struct workceptor *wc = calloc(1, sizeof *wc);
    if (!wc)
        return NULL;
    wc->node = n;
    wc->loop = node_loop(n);
    wc->self_exe = strdup(self_exe);
    size_t len = strlen(datadir) + strlen(node_id(n)) + 2;
    wc->dir = malloc(len);
    snprintf(wc->dir, len, "%s/%s", datadir, node_id(n));
    wc->tombstones = json_object();
    wc->spawner_fd = -1;
    wc->spawn_tail = &wc->spawn_head;
    if (!util_safe_component(node_id(n), 255) || util_mkdir_p(wc->dir, 0700, 0700) < 0) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", wc->dir,
                 errno ? strerror(errno) : "node ID is not a safe directory name");
        workceptor_free(wc);
        return NULL;
    }
    workceptor_add_type(wc, "remote", WORK_REMOTE);
    uv_signal_init(wc->loop, &wc->sigchld);
    wc->sigchld.data = wc;
    uv_signal_start(&wc->sigchld, on_sigchld, SIGCHLD);
    return wc;
}

static void on_sigchld(uv_signal_t *h, int sig)
{
    (void)sig;
    command_reap(h->data);
}

void workceptor_advertise_types(struct workceptor *wc)
{
    json_t *arr = json_array();
    for (struct work_type *t = wc->types; t; t = t->next)
        if (t->kind != WORK_REMOTE)
            json_array_append_new(arr, json_pack("{s:s,s:b}", "WorkType", t->name, "Secure",
                                                 t->verify_signature));
    node_set_work_commands(wc->node, arr);
    json_decref(arr);
}

int workceptor_add_command(struct workceptor *wc, const char *name, const char *command,
                           const char *params, int allow_runtime_params, int verify_signature,
                           char *err, size_t errlen)
{
    if (workceptor_type(wc, name)) {
        snprintf(err, errlen, "work type %s is already registered", name);
        return -1;
    }
    struct work_type *t = workceptor_add_type(wc, name, WORK_COMMAND);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->command = strdup(command);
    t->params = strdup(params ? params : "");
    t->allow_runtime_params = allow_runtime_params;
    t->verify_signature = verify_signature;
    workceptor_advertise_types(wc);
    command_spawner_start(wc); /* now, while the daemon is small */
    return 0;
}

const struct work_type *workceptor_type(struct workceptor *wc, const char *name)
{
    for (struct work_type *t = wc->types; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

struct node *workceptor_node(struct workceptor *wc) { return wc->node; }

void workceptor_set_keys(struct workceptor *wc, struct work_signer *signer, struct work_verifier *verifier)
{
    wc->signer = signer;
    wc->verifier = verifier;
}

struct work_signer *workceptor_signer(struct workceptor *wc) { return wc->signer; }
struct work_verifier *workceptor_verifier(struct workceptor *wc) { return wc->verifier; }

void workceptor_set_tls_lookup(struct workceptor *wc,
                               const struct stream_tls *(*lookup)(void *arg, const char *name), void *arg)
{
    wc->tls_lookup = lookup;
    wc->tls_arg = arg;
}

void workceptor_scan(struct workceptor *wc)
{
    DIR *d = opendir(wc->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || table_get(wc, de->d_name))
            continue;
        struct unit *u = unit_load(wc, de->d_name);
        if (!u || !u->wt)
            continue; /* unknown types stay listed; start and cancel are no-ops */
        if (u->wt->kind == WORK_COMMAND)
            command_restart(u);
        else if (u->wt->kind == WORK_KUBE)
            kube_restart(u);
        else
            remote_restart(u);
    }
    closedir(d);
}

static void free_on_close(uv_handle_t *h) { free(h->data); }

void workceptor_free(struct workceptor *wc)
{
    command_spawner_stop(wc);
    for (int b = 0; b < UNIT_BUCKETS; b++)
        while (wc->buckets[b]) {
            struct unit *u = wc->buckets[b];
            remote_stop(u);
            kube_stop(u);
            /* watchers (a `work results` stream and its timer) are told the
             * unit is gone, so they let go of it before it is freed */
            unit_notify(u, 1);
            while (u->watchers)
                unit_watch_remove(u->watchers);
            u->refs = 0;
            unit_forget(u);
        }
    while (wc->types) {
        struct work_type *t = wc->types;
        wc->types = t->next;
        free(t->name);
        free(t->command);
        free(t->params);
        kube_type_free(t->kube);
        free(t);
    }
    json_decref(wc->tombstones);
    kube_http_free(wc->kube_http);
    free(wc->self_exe);
    free(wc->dir);
    if (wc->sigchld.data) {
        uv_close((uv_handle_t *)&wc->sigchld, free_on_close);
        return;
    }
    free(wc);
}

/* ---- metrics ----------------------------------------------------------------- */

struct work_counters *workceptor_counters(struct workceptor *wc) { return &wc->counters; }

void workceptor_foreach_type(struct workceptor *wc, void (*cb)(void *arg, const char *worktype),
                             void *arg)
{
    for (const struct work_type *t = wc->types; t; t = t->next)
        cb(arg, t->name);
}

void workceptor_foreach_unit(struct workceptor *wc,
                             void (*cb)(void *arg, const char *worktype, int state), void *arg)
{
    for (size_t b = 0; b < UNIT_BUCKETS; b++)
        for (struct unit *u = wc->buckets[b]; u; u = u->next)
            if (!u->released && !u->forgotten)
                cb(arg, u->st.work_type ? u->st.work_type : "", u->st.state);
}
