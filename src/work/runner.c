/* runner.c - the command runner (`receptor --command-runner ...`): a small
 * process, detached from the daemon, that runs one unit's command with
 * stdin from the unit's stdin file and stdout+stderr into its stdout file,
 * and keeps the status file current (spec 10.1): Running "Running: PID n"
 * with StdoutSize every 250 ms, then Succeeded "exit status 0" or Failed
 * "exit status n" / "signal: name".  SIGINT or SIGTERM: the command gets
 * SIGINT, SIGKILL 10 s later, and the unit is written Failed "Killed". */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/log.h"
#include "core/shlex.h"
#include "work/workceptor.h"

struct runner {
    uv_loop_t loop;
    uv_process_t proc;
    uv_timer_t tick, kill_timer;
    uv_signal_t sigint, sigterm;
    const char *dir;
    char stdout_path[4200];
    int spawned;
    int proc_used;   /* uv_spawn was called: the handle must be closed */
    int killing;
    int exit_code;
};

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

static void set_status(struct runner *r, int state, const char *detail)
{
    struct unit_status st;
    char err[256];
    if (unit_status_load(r->dir, &st, err, sizeof err) < 0)
        unit_status_init(&st, "");
    if (state >= 0)
        st.state = state;
    if (detail) {
        free(st.detail);
        st.detail = strdup(detail);
    }
    st.stdout_size = file_size(r->stdout_path);
    if (unit_status_save(r->dir, &st, err, sizeof err) < 0)
        log_error("command runner: %s", err);
    unit_status_free(&st);
}

static void on_tick(uv_timer_t *t)
{
    struct runner *r = t->data;
    char detail[64];
    snprintf(detail, sizeof detail, "Running: PID %d", r->proc.pid);
    set_status(r, UNIT_RUNNING, detail);
}

static void close_all(struct runner *r)
{
    uv_close((uv_handle_t *)&r->tick, NULL);
    uv_close((uv_handle_t *)&r->kill_timer, NULL);
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    if (r->proc_used)
        uv_close((uv_handle_t *)&r->proc, NULL);
}

/* Go's names for the signals a command usually dies of. */
static void signal_text(int sig, char *out, size_t len)
{
    const char *s = strsignal(sig);
    snprintf(out, len, "signal: %s", s ? s : "unknown");
    for (char *p = out + 8; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct runner *r = p->data;
    char detail[128];
    if (r->killing) {
        set_status(r, UNIT_FAILED, "Killed");
    } else if (sig) {
        signal_text(sig, detail, sizeof detail);
        set_status(r, UNIT_FAILED, detail);
    } else {
        snprintf(detail, sizeof detail, "exit status %lld", (long long)status);
        set_status(r, status == 0 ? UNIT_SUCCEEDED : UNIT_FAILED, detail);
    }
    close_all(r);
}

static void on_kill_timer(uv_timer_t *t)
{
    struct runner *r = t->data;
    uv_process_kill(&r->proc, SIGKILL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct runner *r = s->data;
    (void)signum;
    if (!r->spawned) {
        close_all(r);
        return;
    }
    if (r->killing)
        return;
    r->killing = 1;
    uv_process_kill(&r->proc, SIGINT);
    uv_timer_start(&r->kill_timer, on_kill_timer, 10000, 0);
}

static char **build_argv(const char *command, const char *params, const char **err)
{
    char **words = shlex_split(params ? params : "", err);
    if (!words)
        return NULL;
    size_t n = 0;
    while (words[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) {
        shlex_free(words);
        *err = "out of memory";
        return NULL;
    }
    argv[0] = strdup(command);
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = words[i];
    free(words); /* the strings moved into argv */
    return argv;
}

static void start_error(struct runner *r, const char *command, int rc)
{
    char detail[512];
    if (rc == UV_ENOENT && !strchr(command, '/'))
        snprintf(detail, sizeof detail, "exec: \"%s\": executable file not found in $PATH", command);
    else
        snprintf(detail, sizeof detail, "fork/exec %s: %s", command, uv_strerror(rc));
    set_status(r, UNIT_FAILED, detail);
}

int work_runner_main(const char *command, const char *params, const char *unitdir)
{
    static struct runner r; /* one per runner process */
    r.dir = unitdir;
    snprintf(r.stdout_path, sizeof r.stdout_path, "%s/stdout", unitdir);
    char stdin_path[4200];
    snprintf(stdin_path, sizeof stdin_path, "%s/stdin", unitdir);
    int in = open(stdin_path, O_RDONLY | O_CLOEXEC);
    int out = open(r.stdout_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (in < 0 || out < 0) {
        char detail[512];
        snprintf(detail, sizeof detail, "Error: %s", strerror(errno));
        set_status(&r, UNIT_FAILED, detail);
        return 1;
    }
    const char *err = NULL;
    char **argv = build_argv(command, params, &err);
    if (!argv) {
        char detail[256];
        snprintf(detail, sizeof detail, "Error: cannot parse params: %s", err);
        set_status(&r, UNIT_FAILED, detail);
        return 1;
    }
    uv_loop_init(&r.loop);
    uv_timer_init(&r.loop, &r.tick);
    uv_timer_init(&r.loop, &r.kill_timer);
    uv_signal_init(&r.loop, &r.sigint);
    uv_signal_init(&r.loop, &r.sigterm);
    r.tick.data = r.kill_timer.data = r.sigint.data = r.sigterm.data = r.proc.data = &r;
    uv_signal_start(&r.sigint, on_signal, SIGINT);
    uv_signal_start(&r.sigterm, on_signal, SIGTERM);
    set_status(&r, UNIT_PENDING, "Not started yet");
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_INHERIT_FD, .data.fd = in }, { .flags = UV_INHERIT_FD, .data.fd = out },
        { .flags = UV_INHERIT_FD, .data.fd = out },
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb, .file = argv[0], .args = argv, .stdio_count = 3, .stdio = stdio,
    };
    int rc = uv_spawn(&r.loop, &r.proc, &opts);
    r.proc_used = 1;
    close(in);
    close(out);
    if (rc < 0) {
        start_error(&r, command, rc);
        close_all(&r);
    } else {
        r.spawned = 1;
        on_tick(&r.tick);
        uv_timer_start(&r.tick, on_tick, 250, 250);
    }
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    shlex_free(argv);
    return 0;
}
