/* kube_unit.h - what the files of the kubernetes work type share inside
 * src/work: the type's settings (kube_type.c) and a unit's in-memory state
 * (kube_unit.c).  See kube.h for the behaviour. */
#ifndef WORK_KUBE_UNIT_H
#define WORK_KUBE_UNIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "work/workceptor.h"

struct kube_type {
    char authmethod[16];      /* lower case: kubeconfig | incluster | runtime */
    char *namespace_, *image, *command, *params, *kubeconfig, *pod; /* "" when unset */
    char *name_prefix;        /* lower-cased work type + "-" (the pods' generateName) */
    int allow_runtime_auth, allow_runtime_command, allow_runtime_params, allow_runtime_pod;
    int delete_pod_on_restart;
};

/* A unit's state that is not in its status file (kube_unit.c). */
struct kube_unit;

void kube_type_free(struct kube_type *kt);
struct kube_unit *kube_unit_new(int64_t pod_pending_ns);
void kube_unit_free(struct kube_unit *ku);

/* Submission check (upstream SetFromParams): ExtraData and unit state. */
int kube_check_params(const struct work_type *wt, json_t *params, json_t **extra,
                      struct kube_unit **state, char *err, size_t errlen);
void kube_start(struct unit *u, unit_done_cb done, void *arg);
void kube_cancel(struct unit *u, unit_done_cb done, void *arg);
void kube_restart(struct unit *u);
/* The daemon is stopping: drop the unit's requests, leave its state. */
void kube_stop(struct unit *u);

#endif
