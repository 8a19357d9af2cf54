/* command.c - `work-command` units (spec 10.1).
 *
 * Each unit gets a detached runner process (its own session, see runner.c),
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
#include <sys/wait.h>

#include "work/runner.h"

#include "core/log.h"

int command_check_params(const struct work_type *wt, json_t *params, json_t **extra, char *err, size_t errlen)
{
    json_t *p = json_object_get(params, "params");
    const char *runtime = json_is_string(p) ? json_string_value(p) : "";
    if (runtime[0] && !wt->allow_runtime_params) {
        snprintf(err, errlen, "extra params provided but not allowed");
        return -1;
    }
    char eff[8192];
    if (wt->params[0] && runtime[0])
        snprintf(eff, sizeof eff, "%s %s", wt->params, runtime);
    else
        snprintf(eff, sizeof eff, "%s", wt->params[0] ? wt->params : runtime);
    *extra = json_pack("{s:i,s:s}", "Pid", 0, "Params", eff);
    return 0;
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

/* The runner is gone: settle the unit's final state. */
static void runner_gone(struct unit *u, const char *why)
{
    u->runner_pid = 0;
    unit_refresh(u);
    if (u->cancel_requested) {
        finish_cancel(u);
    } else if (!unit_state_complete(u->st.state) && u->st.state != UNIT_CANCELED) {
        char detail[256];
        snprintf(detail, sizeof detail, "command runner exited unexpectedly (%s)", why);
        unit_set_status(u, UNIT_FAILED, detail, -1);
    }
    unit_set_extra(u, NULL);
    unit_notify(u, 0);
    unit_arm_poll(u);
}

/* SIGCHLD: reap the runners this daemon forked. */
void command_reap(struct workceptor *wc)
{
    for (struct unit **pp = &wc->children; *pp;) {
        struct unit *u = *pp;
        int status = 0;
        if (u->runner_pid > 0 && waitpid(u->runner_pid, &status, WNOHANG) != u->runner_pid) {
            pp = &u->next_child;
            continue;
        }
        *pp = u->next_child;
        u->runner_is_child = 0;
        char why[64];
        if (WIFSIGNALED(status))
            snprintf(why, sizeof why, "signal %d", WTERMSIG(status));
        else
            snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
        runner_gone(u, why);
        u->refs--;
        unit_maybe_free(u);
    }
}

void command_check_runner(struct unit *u)
{
    if (u->runner_pid <= 0 || u->runner_is_child)
        return;
    if (kill(u->runner_pid, 0) < 0 && errno == ESRCH)
        runner_gone(u, "not running");
}

void command_start(struct unit *u, unit_done_cb done, void *arg)
{
    const struct work_type *wt = u->wt;
    struct workceptor *wc = u->wc;
    char params[8192];
    const char *p = json_string_value(json_object_get(u->st.extra, "Params"));
    snprintf(params, sizeof params, "%s", p ? p : ""); /* st is reloaded below */
    unit_set_status(u, UNIT_PENDING, "Launching command runner", -1);
    pid_t pid = runner_launch(wt->command, params, u->dir);
    if (pid < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "Error starting worker: %s", strerror(errno));
        unit_set_status(u, UNIT_FAILED, msg, -1);
        done(arg, NULL, strerror(errno));
        return;
    }
    u->refs++; /* held until the runner exits */
    u->runner_pid = pid;
    u->runner_is_child = 1;
    u->next_child = wc->children;
    wc->children = u;
    json_t *extra = json_pack("{s:i,s:s}", "Pid", (int)u->runner_pid, "Params", params);
    unit_set_extra(u, extra);
    json_decref(extra);
    unit_arm_poll(u);
    done(arg, "Job Started", NULL);
}

void command_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    unit_refresh(u);
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
