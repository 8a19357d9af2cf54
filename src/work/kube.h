/* kube.h - `work-kubernetes` work types (spec 10.3, upstream
 * pkg/workceptor/kubernetes.go).
 *
 * The daemon turns each work-kubernetes config entry into kube_settings,
 * checks them as upstream's Prepare does (same words), and registers the
 * type.  Submissions are checked as upstream's SetFromParams does: runtime
 * parameters need their allowruntime* permission, and the unit's ExtraData
 * gets upstream's fields (Image, Command, Params, KubeNamespace, KubeConfig,
 * KubePod, PodName) with the kubeconfig and pod contents, which the control
 * service redacts and the status file keeps. */
#ifndef WORK_KUBE_H
#define WORK_KUBE_H

#include <stddef.h>

struct workceptor;

struct kube_settings {
    const char *worktype;
    const char *namespace_;   /* NULL or "": none */
    const char *image;
    const char *command;
    const char *params;
    const char *authmethod;   /* kubeconfig | incluster | runtime (any case) */
    const char *kubeconfig;   /* file name */
    const char *pod;          /* file name */
    const char *streammethod; /* logger | tcp (any case) */
    int allow_runtime_auth;
    int allow_runtime_command;
    int allow_runtime_params;
    int allow_runtime_pod;
    int delete_pod_on_restart;
    int verify_signature;
};

/* Upstream's Prepare checks, plus receptor-c's own refusal of
 * streammethod tcp; 0, or -1 with the reason in err. */
int kube_settings_check(const struct kube_settings *ks, char *err, size_t errlen);
/* Registers the work type (and advertises it); the settings are copied. */
int workceptor_add_kube(struct workceptor *wc, const struct kube_settings *ks, char *err, size_t errlen);

#endif
