/* kube_unit.c - the life of a kubernetes unit (spec 10.3).
 *
 * Phase 1 of receptor-c's kubernetes work: the work type is configured,
 * advertised and accepts submissions with upstream's checks, but the
 * Kubernetes API client is not in yet, so a started unit fails at once with
 * a detail saying so (upstream's first status, Pending "Connecting to
 * Kubernetes", is written first, as upstream does).  Cancel behaves as
 * upstream's (Canceled "Canceled"); a unit found unfinished at restart
 * fails as upstream's Restart does for a unit it cannot resume. */
#include "work/kube_unit.h"
#include "work/workceptor_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

#define KUBE_NO_CLIENT "Error creating pod: the Kubernetes API client is not implemented in " \
                       "receptor-c yet"

struct kube_unit *kube_unit_new(int64_t pod_pending_ns)
{
    struct kube_unit *ku = calloc(1, sizeof *ku);
    if (ku)
        ku->pod_pending_ns = pod_pending_ns;
    return ku;
}

void kube_unit_free(struct kube_unit *ku) { free(ku); }

void kube_start(struct unit *u, unit_done_cb done, void *arg)
{
    unit_set_status(u, UNIT_PENDING, "Connecting to Kubernetes", 0);
    unit_set_status(u, UNIT_FAILED, KUBE_NO_CLIENT, 0);
    log_error("%s", KUBE_NO_CLIENT);
    done(arg, NULL, KUBE_NO_CLIENT);
}

void kube_cancel(struct unit *u, unit_done_cb done, void *arg)
{
    if (!unit_state_complete(u->st.state))
        unit_set_status(u, UNIT_CANCELED, "Canceled", -1);
    done(arg, "cancelled", NULL);
}

void kube_restart(struct unit *u)
{
    int st = u->st.state;
    if (unit_state_complete(st) || st == UNIT_CANCELED)
        return;
    unit_set_status(u, UNIT_FAILED, "Failed to restart: work unit is not in running state, "
                                    "cannot be restarted", -1);
}
