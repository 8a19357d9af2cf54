/* command.c - `work-command` units (spec 10.1).
 *
 * Each unit gets a detached runner process (its own session, see cmd_runner.c),
 * forked from the daemon; `receptor --command-runner command=C params=P
 * unitdir=D` runs the same runner, as upstream's command line does.  The runner owns the child process and keeps the
 * status file current, so a daemon restart leaves running jobs running; the
 * daemon only watches.  Cancel sends the runner SIGINT; the runner forwards
 * it, kills the command after 10 s, and the unit ends Canceled. */
#include "work/workceptor_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "work/cmd_runner.h"

#include "core/log.h"

int command_check_params(const struct work_type *wt, json_t *params, json_t **extra, char *err, size_t errlen)
{
    json_t *p = json_object_get(params, "params");
    const char *runtime = json_is_string(p) ? json_string_value(p) : "";
    if (runtime[0] && !wt->allow_runtime_params) {
        snprintf(err, errlen, "extra params provided but not allowed");
        return -1;
    }
    /* any length: a control line bounds it (no silent cut) */
    size_t need = strlen(wt->params) + 1 + strlen(runtime) + 1;
    char *eff = malloc(need);
    if (!eff) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (wt->params[0] && runtime[0])
        snprintf(eff, need, "%s %s", wt->params, runtime);
    else
        snprintf(eff, need, "%s", wt->params[0] ? wt->params : runtime);
    *extra = json_pack("{s:i,s:s}", "Pid", 0, "Params", eff);
    free(eff);
    return *extra ? 0 : -1;
}

static void finish_cancel(struct unit *u)
{
    unit_set_status(u, UNIT_CANCELED, "Canceled", -1);
    if (u->cancel_done) {
        unit_done_cb cb = u->cancel_done;
        u->cancel_done = NULL;
        cb(u->cancel_arg, "cancelled", NULL);
    }
}

struct gone_args {
    int cancel;
    const char *why;
};

static void apply_gone(struct unit_status *st, void *arg)
{
    const struct gone_args *g = arg;
    if (g->cancel) {
        st->state = UNIT_CANCELED;
        free(st->detail);
        st->detail = strdup("Canceled");
    } else if (!unit_state_complete(st->state) && st->state != UNIT_CANCELED) {
        free(st->detail);
        st->detail = NULL;
        st->state = UNIT_FAILED;
        char detail[256];
        snprintf(detail, sizeof detail, "command runner exited unexpectedly (%s)", g->why);
        st->detail = strdup(detail);
    }
    json_decref(st->extra);
    st->extra = NULL;
}

/* The runner is gone: settle the unit's final state and drop its Pid, in
 * one read-modify-write of the status file. */
static void runner_gone(struct unit *u, const char *why)
{
    u->runner_pid = 0;
    if (u->released)
        return; /* the directory is gone (released once the job completed) */
    struct gone_args g = { u->cancel_requested, why };
    unit_update(u, apply_gone, &g);
    unit_notify(u, 0);
    if (u->cancel_requested && u->cancel_done) {
        unit_done_cb cb = u->cancel_done; /* may release (delete) the unit */
        u->cancel_done = NULL;
        cb(u->cancel_arg, "cancelled", NULL);
    }
    unit_arm_poll(u);
}

static void child_exited(struct unit **pp, int status)
{
    struct unit *u = *pp;
    *pp = u->next_child;
    u->runner_is_child = 0;
    u->runner_spawned = 0;
    char why[64];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
    runner_gone(u, why);
    u->refs--;
    unit_maybe_free(u);
}

static void spawner_lost(struct workceptor *wc);

/* SIGCHLD: reap the runners this daemon forked, and the spawner. */
void command_reap(struct workceptor *wc)
{
    int status = 0;
    if (wc->spawner_pid > 0 && waitpid(wc->spawner_pid, &status, WNOHANG) == wc->spawner_pid) {
        wc->spawner_pid = 0;
        spawner_lost(wc);
    }
    for (struct unit **pp = &wc->children; *pp;) {
        struct unit *u = *pp;
        status = 0;
        if (u->runner_spawned ||
            (u->runner_pid > 0 && waitpid(u->runner_pid, &status, WNOHANG) != u->runner_pid)) {
            pp = &u->next_child;
            continue;
        }
        child_exited(pp, status);
    }
}

void command_check_runner(struct unit *u)
{
    if (u->runner_pid <= 0 || u->runner_is_child)
        return;
    /* an adopted runner is our child only when we are its reaper (PID 1
     * in a container, a subreaper): reap it, or it stays a zombie that
     * kill(0) finds alive */
    int status;
    if (waitpid(u->runner_pid, &status, WNOHANG) == u->runner_pid ||
        (kill(u->runner_pid, 0) < 0 && errno == ESRCH))
        runner_gone(u, "not running");
}

/* The runner of u was started (pid > 0) or could not be (err). */
static void launched(struct unit *u, pid_t pid, int err, int spawned, unit_done_cb done, void *arg,
                     const char *params)
{
    struct workceptor *wc = u->wc;
    if (pid <= 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "Error starting worker: %s", strerror(err));
        if (!u->released)
            unit_set_status(u, UNIT_FAILED, msg, -1);
        done(arg, NULL, strerror(err));
        return;
    }
    u->refs++; /* held until the runner exits */
    u->runner_pid = pid;
    u->runner_is_child = 1;
    u->runner_spawned = spawned;
    u->next_child = wc->children;
    wc->children = u;
    if (u->released || u->cancel_requested) {
        kill(pid, SIGKILL); /* released or cancelled while the spawner was starting it */
    } else {
        json_t *extra = json_pack("{s:i,s:s}", "Pid", (int)pid, "Params", params);
        unit_set_extra(u, extra);
        json_decref(extra);
    }
    unit_arm_poll(u);
    done(arg, "Job Started", NULL);
}

struct spawn_wait {
    struct unit *u;
    unit_done_cb done;
    void *arg;
    struct spawn_wait *next;
    char params[];
};

static struct spawn_wait *spawn_pop(struct workceptor *wc)
{
    struct spawn_wait *w = wc->spawn_head;
    if (w) {
        wc->spawn_head = w->next;
        if (!wc->spawn_head)
            wc->spawn_tail = &wc->spawn_head;
    }
    return w;
}

static void spawn_finish(struct spawn_wait *w, pid_t pid, int err)
{
    struct unit *u = w->u;
    launched(u, pid, err, pid > 0, w->done, w->arg, w->params);
    u->refs--;
    unit_maybe_free(u);
    free(w);
}

static void free_poll(uv_handle_t *h) { free(h); }

/* The spawner is gone: requests in flight fail (it may have started them,
 * so they are not started again), and the ends of the runners it started
 * are noticed by polling, as for runners found at a restart. */
static void spawner_lost(struct workceptor *wc)
{
    if (wc->spawner_fd < 0)
        return;
    log_warning("The command runner spawner is gone; the daemon forks runners itself from now on");
    uv_close((uv_handle_t *)wc->spawner_poll, free_poll);
    wc->spawner_poll = NULL;
    close(wc->spawner_fd);
    wc->spawner_fd = -1;
    struct spawn_wait *w;
    while ((w = spawn_pop(wc)))
        spawn_finish(w, 0, EPIPE);
    for (struct unit **pp = &wc->children; *pp;) {
        struct unit *u = *pp;
        if (!u->runner_spawned) {
            pp = &u->next_child;
            continue;
        }
        *pp = u->next_child;
        u->runner_spawned = 0;
        u->runner_is_child = 0;
        unit_arm_poll(u);
        u->refs--;
        unit_maybe_free(u);
    }
}

static void on_spawner(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct workceptor *wc = h->data;
    while (wc->spawner_fd >= 0) {
        struct cmd_runner_spawn_msg m;
        ssize_t n = recv(wc->spawner_fd, &m, sizeof m, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && status >= 0)
            return;
        if (n != (ssize_t)sizeof m) {
            spawner_lost(wc);
            return;
        }
        if (m.kind == CMD_RUNNER_SPAWN_STARTED) {
            struct spawn_wait *w = spawn_pop(wc);
            if (w)
                spawn_finish(w, m.pid, m.value);
        } else if (m.kind == CMD_RUNNER_SPAWN_EXITED) {
            for (struct unit **pp = &wc->children; *pp; pp = &(*pp)->next_child)
                if ((*pp)->runner_spawned && (*pp)->runner_pid == m.pid) {
                    child_exited(pp, m.value);
                    break;
                }
        }
    }
}

void command_spawner_start(struct workceptor *wc)
{
    if (wc->spawner_fd >= 0 || wc->spawner_pid != 0)
        return; /* running, or it died: not again */
    uv_poll_t *p = malloc(sizeof *p);
    pid_t pid;
    int fd = p ? cmd_runner_spawner_start(&pid) : -1;
    if (fd < 0) {
        free(p);
        log_warning("Cannot start the command runner spawner: %s", strerror(errno));
        return;
    }
    if (uv_poll_init(wc->loop, p, fd) < 0) {
        free(p);
        close(fd); /* it leaves on EOF */
        return;
    }
    p->data = wc;
    uv_poll_start(p, UV_READABLE, on_spawner);
    wc->spawner_poll = p;
    wc->spawner_fd = fd;
    wc->spawner_pid = pid;
}

void command_spawner_stop(struct workceptor *wc)
{
    struct spawn_wait *w;
    while ((w = spawn_pop(wc))) {
        w->u->refs--;
        free(w);
    }
    if (wc->spawner_fd < 0)
        return;
    uv_close((uv_handle_t *)wc->spawner_poll, free_poll);
    wc->spawner_poll = NULL;
    close(wc->spawner_fd); /* the spawner leaves on EOF; its runners stay */
    wc->spawner_fd = -1;
}

void command_start(struct unit *u, unit_done_cb done, void *arg)
{
    const struct work_type *wt = u->wt;
    struct workceptor *wc = u->wc;
    const char *p = json_string_value(json_object_get(u->st.extra, "Params"));
    char *params = strdup(p ? p : ""); /* st is reloaded below; any length */
    if (!params) {
        unit_set_status(u, UNIT_FAILED, "Error starting worker: out of memory", -1);
        done(arg, NULL, "out of memory");
        return;
    }
    unit_set_status(u, UNIT_PENDING, "Launching command runner", -1);
    if (wc->spawner_fd >= 0) {
        size_t plen = strlen(params) + 1;
        struct spawn_wait *w = malloc(sizeof *w + plen);
        if (w && cmd_runner_spawner_request(wc->spawner_fd, wt->command, params, u->dir) == 0) {
            w->u = u;
            w->done = done;
            w->arg = arg;
            w->next = NULL;
            memcpy(w->params, params, plen);
            u->refs++; /* until the spawner answers */
            *wc->spawn_tail = w;
            wc->spawn_tail = &w->next;
            free(params);
            return;
        }
        free(w); /* the spawner is busy or gone: fork here */
    }
    pid_t pid = cmd_runner_launch(wt->command, params, u->dir);
    launched(u, pid, errno, 0, done, arg, params);
    free(params);
}

/* Callers found u with workceptor_find(), which has just read its status. */
void command_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    if (unit_state_complete(u->st.state) || u->st.state == UNIT_CANCELED || u->cancel_done) {
        done(arg, "cancelled", NULL);
        return;
    }
    u->cancel_requested = 1;
    if (u->runner_pid > 0 && kill(u->runner_pid, SIGINT) == 0) {
        u->cancel_done = done; /* answered when the runner has exited */
        u->cancel_arg = arg;
        return;
    }
    finish_cancel(u); /* never started, or already gone */
    done(arg, "cancelled", NULL);
}

void command_restart(struct unit *u)
{
    if (unit_state_complete(u->st.state) || u->st.state == UNIT_CANCELED)
        return;
    if (u->st.state == UNIT_PENDING) {
        unit_set_status(u, UNIT_FAILED, "Pending at restart", -1);
        return;
    }
    json_t *pid = json_object_get(u->st.extra, "Pid");
    pid_t p = json_is_integer(pid) ? (pid_t)json_integer_value(pid) : 0;
    if (p > 0 && kill(p, 0) == 0) {
        u->runner_pid = p; /* still running: watch it */
        u->runner_is_child = 0;
        unit_arm_poll(u);
        return;
    }
    unit_refresh(u);
    if (!unit_state_complete(u->st.state))
        unit_set_status(u, UNIT_FAILED, "Failed to restart: command runner is not running", -1);
}
