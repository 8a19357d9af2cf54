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

int run_local(const struct run_opts *o, char *err, size_t errlen)
{
    struct job j;
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
