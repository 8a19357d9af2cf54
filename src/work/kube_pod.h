/* kube_pod.h - building a unit's pod and reading a pod's status (see
 * kube_pod.c). */
#ifndef WORK_KUBE_POD_H
#define WORK_KUBE_POD_H

#include <jansson.h>
#include <stddef.h>

/* The pod to create from the unit's ExtraData; *ns (malloc'ed) may be
 * replaced by the spec's namespace.  NULL with the reason in err. */
json_t *kube_pod_build(json_t *extra, const char *name_prefix, char **ns, char *err, size_t errlen);

enum kube_readiness {
    KUBE_POD_WAITING,       /* not yet */
    KUBE_POD_READY,         /* Ready: attach stdin, follow the log */
    KUBE_POD_COMPLETED,     /* Succeeded before we attached */
    KUBE_POD_FAILED,        /* Failed before we attached */
    KUBE_POD_PULL_FAILED,   /* ImagePullBackOff seen a 4th time */
};

/* Upstream's podRunningAndReady; pull_backoffs counts ImagePullBackOff
 * observations across calls. */
enum kube_readiness kube_pod_readiness(json_t *pod, int *pull_backoffs);
const char *kube_pod_phase(json_t *pod);
const char *kube_pod_waiting_reason(json_t *pod);
/* The worker's exit code (-1: not terminated) and message. */
int kube_pod_exit_code(json_t *pod, const char **message);
/* An API error's text: the Status message, or "the server answered HTTP N". */
char *kube_status_message(const char *body, long status);

#endif
