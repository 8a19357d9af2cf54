/* pull_secret.h - AWX's image pull secret for a container group.
 *
 * When a container-group job's execution environment has a registry
 * credential, AWX (awx/main/scheduler/kubernetes.py, PodManager.create_secret,
 * called from the pod definition in awx/main/tasks/receptor.py) makes sure a
 * Secret of type kubernetes.io/dockerconfigjson exists in the pod's namespace
 * before the work is submitted, and names it in the pod's imagePullSecrets:
 *
 *   name   automation-<install id, first 5 characters>-image-pull-secret-<credential id>
 *   data   .dockerconfigjson: base64 of {"auths": {HOST: {"auth": base64(user:password)}}}
 *          (indented by 4, as Python's json.dumps(indent=4)); HOST is the
 *          credential's host reduced to host[:port] (no scheme, no path)
 *
 * An existing secret with the same data is used as it is; one with other
 * data (the password changed) is replaced.  The secret is not deleted after
 * the job: every job with the same credential uses it (AWX does the same).
 *
 * The Kubernetes API is reached with src/work's client (kube_config.c,
 * kube_http.c) on a private libuv loop: the kubeconfig given to submit, or
 * the in-cluster service account, as the daemon's kubernetes work does.
 * This lives beside the main because the runner library may depend on
 * src/core only: submit calls back into it (submit_opts.ensure_pull_secret). */
#ifndef CMD_PULL_SECRET_H
#define CMD_PULL_SECRET_H

#include <stddef.h>

struct pull_secret {
    const char *kubeconfig;   /* file: its context's cluster and user; NULL: in-cluster */
    const char *install_id;   /* AWX's INSTALL_UUID; NULL or "": "ansible-runner-c" */
    const char *host;         /* the registry credential (container_auth_data) */
    const char *username;
    const char *password;
};

/* The `auths` key AWX derives from a credential's host: the host (lower
 * case) and its port, without scheme, user info or path.  0, or -1 when
 * there is no host in it. */
int pull_secret_registry(const char *host, char *out, size_t cap);

/* The secret's name (see above; the credential id is a hash of the registry
 * and the user name, as there is no AWX database to number credentials).
 * 0, or -1 with why in err (the name would be no DNS-1123 subdomain). */
int pull_secret_name(const struct pull_secret *ps, char *out, size_t cap, char *err, size_t errlen);

/* The base64 value of data[.dockerconfigjson]; malloc'd, NULL with err. */
char *pull_secret_dockerconfig(const struct pull_secret *ps, char *err, size_t errlen);

/* Makes sure the secret exists in namespace ns with these credentials:
 * GET it; 404: POST it; other data: PUT the new one (a 409 from a
 * concurrent creation is looked at again).  Writes its name.  0, or -1 with
 * a sentence in err naming what failed (connection, 401, 403, ...). */
int pull_secret_ensure(const struct pull_secret *ps, const char *ns, char *name, size_t cap,
                       char *err, size_t errlen);

#endif
