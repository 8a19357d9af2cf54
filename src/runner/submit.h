/* submit.h - the AWX flow in one call: transmit a job straight into a
 * receptor `work submit`, follow `work results` into process, release.
 *
 * This is what AWX does for every job (runner-streaming spec 8): the
 * transmit stream is written directly onto the control connection (no copy
 * on disk; the socket's flow control is the back-pressure), the results are
 * followed from byte 0 and fed to the processor while they arrive (live
 * output, job_events, artifacts), and the unit is released at the end.
 * Ctrl-C cancels the unit and still releases it; a lost control connection
 * is resumed with `work results <id> <startpos>` from the last byte handed
 * to the processor, so no event is lost or duplicated. */
#ifndef RUNNER_SUBMIT_H
#define RUNNER_SUBMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct transmit_files;

struct submit_opts {
    const char *socket;        /* control socket: PATH, unix:PATH, tcp://HOST:PORT */
    const char *node;          /* target node; NULL: the node behind the socket */
    const char *worktype;      /* NULL: "local" for the local node, else "ansible-runner" */
    const char *worker_params; /* NULL: the default described in docs/awx-flow.md */
    const char *ttl;           /* Go duration, remote only; NULL: none */
    const char *tlsclient;     /* tls-client the controller uses to reach node */
    bool signwork;
    bool keep_unit;            /* do not release at the end */
    const char *pdd;           /* absolute private data dir */
    json_t *kwargs;            /* prepared kwargs with the ident set (borrowed) */
    const struct transmit_files *files; /* generated files for the zip (NULL: none) */
    const char *ident;         /* artifacts go to <pdd>/artifacts/<ident> */
    bool quiet;                /* no live playbook output */
    int reconnect_seconds;     /* how long to retry a lost control socket */
    int cancel_wait_seconds;   /* after Ctrl-C, how long to wait for the final status */
    int outfd;                 /* live output */
    /* container-group placement (AWX's container groups): the job runs in a
     * pod through a work-kubernetes work type on the node behind the socket */
    bool container_group;
    const char *kubeconfig;    /* file: kubernetes-runtime-auth with its text as
                                * secret_kube_config; NULL: kubernetes-incluster-auth */
    const char *namespace;     /* NULL: "default" (AWX_CONTAINER_GROUP_DEFAULT_NAMESPACE) */
    const char *pull_secret;   /* NULL: no imagePullSecrets */
    const char *pod_pending_timeout; /* NULL: "5m", as AWX sends */
    const char *pod_spec_override;   /* file (YAML or JSON) merged into the default pod */
    const char *install_id;          /* the pods' ansible-awx label */
    /* Registry credentials (AWX's EE credential): before anything is
     * submitted, called with the pod's namespace to make sure AWX's image
     * pull secret exists there; it writes the secret's name, which the pod's
     * imagePullSecrets then holds.  0, or -1 with why in err: nothing is
     * submitted.  (The Kubernetes client is src/work's, out of this
     * library's reach: the main supplies the call.)  NULL: none. */
    int (*ensure_pull_secret)(void *arg, const char *namespace, char *name, size_t namelen,
                              char *err, size_t errlen);
    void *pull_secret_arg;
};

/* What a container-group pod is built from. */
struct submit_pod {
    const char *ident;         /* the job: pod name automation-job-<ident>, label ansible-awx-job-id */
    const char *image;         /* the EE: spec.containers[0].image */
    const char *namespace;     /* metadata.namespace unless the override sets it */
    const char *pull_secret;   /* NULL: no imagePullSecrets */
    const char *install_id;    /* label ansible-awx (AWX's INSTALL_UUID); NULL: "ansible-runner-c" */
    json_t *override;          /* the instance group's pod_spec_override, a mapping, or NULL */
};

/* The pod AWX creates for a container-group job: its default pod spec
 * deep-merged with the override (mappings merge, lists and scalars
 * replace), then containers[0] given the EE image and the worker command,
 * imagePullSecrets, and metadata name and labels; as a JSON text (YAML's
 * superset) for secret_kube_pod.  NULL with err on a bad override. */
char *submit_pod_spec(const struct submit_pod *sp, char *err, size_t errlen);

/* Runs the flow; returns the exit code: the playbook's rc, 254 for a
 * canceled or timed-out job, 130 when interrupted before a final status
 * came back, 1 for submission, mesh or worker errors (printed on stderr). */
int submit_run(const struct submit_opts *o);

#endif
