/* remote.c - remote work (spec 10.4).  Placeholder until the remote-work
 * client is in: submissions to other nodes are refused with a clear error. */
#include "work/workceptor_internal.h"

#include <stdio.h>

int remote_check_params(struct workceptor *wc, const char *node, const char *worktype, json_t *params,
                        json_t **extra, char *err, size_t errlen)
{
    (void)wc;
    (void)worktype;
    (void)params;
    (void)extra;
    snprintf(err, errlen, "remote work to %s is not supported yet", node);
    return -1;
}

void remote_start(struct unit *u, unit_done_cb done, void *arg)
{
    (void)u;
    done(arg, NULL, "remote work is not supported yet");
}

void remote_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    (void)u;
    done(arg, "cancelled", NULL);
}

void remote_release(struct unit *u, int force, unit_done_cb done, void *arg)
{
    (void)force;
    unit_delete(u);
    done(arg, "released", NULL);
}

void remote_restart(struct unit *u) { (void)u; }
void remote_stop(struct unit *u) { (void)u; }
void remote_free_state(struct unit *u) { (void)u; }
