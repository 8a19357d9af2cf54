/* run.c - `run DIR -p PLAYBOOK`: the job in the foreground, with the
 * runner writing job_events/ files itself and, unless quiet, echoing the
 * playbook output (spec 6). */
#include "runner/stream.h"

#include <stdio.h>

#include "runner/job.h"

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
    if (engine_missing(o->kwargs)) {
        json_decref(o->kwargs);
        return 1;
    }
    if (job_prepare(&j, o->pdd, o->kwargs, err, errlen) < 0) {
        job_free(&j);
        return -1;
    }
    const json_t *s = json_object_get(j.settings, "suppress_ansible_output");
    j.print_output = s ? !json_is_true(s) : !o->quiet;
    j.hooks.event = run_event;
    job_install_signals();
    int rc = job_run(&j);
    job_free(&j);
    return rc & 0xff;
}
