/* kube_config.h - where a Kubernetes API server is and how to log in to it:
 * from kubeconfig text (contexts, current-context, clusters, users; inline
 * *-data or files; token, tokenFile, client certificates,
 * certificate-authority(-data), insecure-skip-tls-verify) or from inside a
 * cluster (KUBERNETES_SERVICE_HOST/_PORT and the service-account token, CA
 * and namespace files).  Exec and auth-provider credential plugins are
 * refused with a clear error. */
#ifndef WORK_KUBE_CONFIG_H
#define WORK_KUBE_CONFIG_H

#include <stddef.h>

struct kube_conn {
    char *server;             /* https://host:port, no trailing slash */
    char *ca_file;            /* CA bundle file, or NULL: the system's trust */
    char *ca_data;            /* PEM, when given inline (kube_conn_write_files) */
    int insecure;             /* insecure-skip-tls-verify */
    char *token;              /* bearer token, or NULL */
    char *cert_file, *key_file;
    char *cert_data, *key_data;
    char *username, *password; /* basic auth (rare) */
    char *namespace_;         /* the context's namespace, or "default" */
    char *owned[3];           /* files kube_conn_write_files made: removed by kube_conn_free */
};

/* Parses kubeconfig text; base_dir resolves relative file names (NULL: the
 * current directory).  0, or -1 with the reason in err. */
int kube_conn_from_kubeconfig(struct kube_conn *c, const char *text, size_t len, const char *base_dir,
                              char *err, size_t errlen);
/* In-cluster config; root is prepended to /var/run/secrets/... (tests). */
int kube_conn_incluster(struct kube_conn *c, const char *root, char *err, size_t errlen);
/* The default kubeconfig: $KUBECONFIG (first entry) or ~/.kube/config. */
int kube_conn_default_kubeconfig(struct kube_conn *c, char *err, size_t errlen);
/* Writes inline CA/cert/key data to 0600 files in dir (created 0700 if
 * need be), named prefix-*, and points the *_file fields at them (libcurl's
 * GnuTLS backend takes files only); kube_conn_free removes them. */
int kube_conn_write_files(struct kube_conn *c, const char *dir, const char *prefix, char *err,
                          size_t errlen);
void kube_conn_free(struct kube_conn *c);

/* Why kube_file_read gave up. */
enum kube_file_error { KUBE_FILE_OPEN, KUBE_FILE_NOT_SMALL, KUBE_FILE_NO_MEMORY };
#define KUBE_FILE_MAX (4 << 20)  /* kubeconfigs, pod specs, tokens, CAs */
/* The whole of a regular file of at most KUBE_FILE_MAX bytes, NUL-ended,
 * with its length in *len (may be NULL); NULL with the reason in *why (and
 * errno set for KUBE_FILE_OPEN). */
char *kube_file_read(const char *path, size_t *len, enum kube_file_error *why);

#endif
