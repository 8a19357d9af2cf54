/* run.c - `run DIR -p PLAYBOOK`: the job in the foreground, with the
 * runner writing job_events/ files itself and, unless quiet, echoing the
 * playbook output (spec 6). */
#include "runner/stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/util.h"
#include "runner/job.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 2.3.1's debug logger: a line on stdout, and in the log file (when one
 * was given) behind a "%Y-%m-%d %H:%M:%S,mmm: " stamp. */
static void debug_line(const struct run_opts *o, FILE *log, const char *a, const char *b,
                       const char *c)
{
    if (!o->debug)
        return;
    printf("%s%s%s\n", a, b ? b : "", c ? c : "");
    if (log) {
        struct timeval tv;
        struct tm tm;
        char stamp[32];
        gettimeofday(&tv, NULL);
        localtime_r(&tv.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(log, "%s,%03d: %s%s%s\n", stamp, (int)(tv.tv_usec / 1000), a, b ? b : "",
                c ? c : "");
        fflush(log);
    }
}

/* What 2.3.1's --debug shows of the prepared job: the environment, sorted,
 * and the command.  (Its loader's file-by-file messages are left out.) */
static void debug_job(const struct run_opts *o, FILE *log, const struct job *j)
{
    if (!o->debug)
        return;
    debug_line(o, log, "env:", NULL, NULL);
    size_t n = json_object_size(j->env), i = 0;
    const char **keys = calloc(n + 1, sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(j->env, k, v)
        if (keys)
            keys[i++] = k;
    if (keys) {
        qsort(keys, i, sizeof *keys, cmp_str);
        for (size_t x = 0; x < i; x++) {
            char *kv = util_asprintf(" %s: ", keys[x]);
            debug_line(o, log, kv ? kv : "", job_json_str(j->env, keys[x]), NULL);
            free(kv);
        }
    }
    free(keys);
    struct buf b;
    buf_init(&b, JOB_LINE_LIMIT);
    for (size_t a = 0; a < j->argc; a++) {
        if (a)
            buf_append(&b, " ", 1);
        buf_append_str(&b, j->argv[a]);
    }
    const char *cmd = "";
    buf_cstr(&b, &cmd);
    debug_line(o, log, "command: ", cmd, NULL);
    buf_free(&b);
    fflush(stdout);
}

static bool run_event(void *ctx, const char *line, size_t n)
{
    (void)ctx;
    (void)line;
    (void)n;
    return true; /* no handler: the runner writes the event file */
}

/* interface.run() checks the engine before anything else (spec 7.1):
 * `<exe> --version` must work, else a message on stdout and exit 1.  The
 * CLI's --process-isolation-executable defaults to podman, so null (not
 * given) means podman here. */
static bool engine_missing(const json_t *kw)
{
    const json_t *pi = json_object_get(kw, "process_isolation");
    if (!pi || json_is_null(pi) || json_is_false(pi))
        return false;
    const json_t *e = json_object_get(kw, "process_isolation_executable");
    const char *exe = json_is_string(e) ? json_string_value(e) : "podman";
    if (job_engine_available(exe))
        return false;
    printf("Unable to find process isolation executable: %s\n", exe);
    fflush(stdout);
    return true;
}

int run_local(const struct run_opts *o, char *err, size_t errlen)
{
    struct job j;
    FILE *log = NULL;
    if (o->logfile && !(log = fopen(o->logfile, "a"))) {
        snprintf(err, errlen, "ansible-runner-c run: --logfile %s: %s", o->logfile, strerror(errno));
        json_decref(o->kwargs);
        return -1;
    }
    debug_line(o, log, "starting debug logging", NULL, NULL);
    fflush(stdout);
    if (engine_missing(o->kwargs)) {
        json_decref(o->kwargs);
        if (log)
            fclose(log);
        return 1;
    }
    if (job_prepare(&j, o->pdd, o->kwargs, err, errlen) < 0) {
        job_free(&j);
        if (log)
            fclose(log);
        return -1;
    }
    debug_job(o, log, &j);
    if (log)
        fclose(log);
    j.print_output = !j.suppress_ansible_output;
    j.hooks.event = run_event;
    job_install_signals();
    int rc = job_run(&j);
    job_free(&j);
    return rc & 0xff;
}
