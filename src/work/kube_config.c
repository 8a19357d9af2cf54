/* kube_config.c - kubeconfig and in-cluster connection settings
 * (kube_config.h).
 *
 * A kubeconfig is read as client-go's loader reads one file: the
 * current-context names a context, which names a cluster and a user (and
 * may give a namespace); *-data fields are base64 and win over the file
 * fields; relative file names are relative to the kubeconfig's directory.
 * Every error names the field that is wrong. */
#include "work/kube_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "work/kube_yaml.h"

#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void kube_conn_free(struct kube_conn *c)
{
    for (int i = 0; i < 3; i++)
        if (c->owned[i]) {
            unlink(c->owned[i]);
            free(c->owned[i]);
        }
    free(c->server);
    free(c->ca_file);
    free(c->ca_data);
    free(c->token);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    free(c->key_data);
    free(c->username);
    free(c->password);
    free(c->namespace_);
    memset(c, 0, sizeof *c);
}

/* ---- small helpers ----------------------------------------------------------- */

char *kube_file_read(const char *path, size_t *len, enum kube_file_error *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = KUBE_FILE_OPEN;
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > KUBE_FILE_MAX) {
        *why = KUBE_FILE_NOT_SMALL;
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        *why = KUBE_FILE_NO_MEMORY;
        return NULL;
    }
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

static char *read_small_file(const char *path, size_t *len, char *err, size_t errlen)
{
    enum kube_file_error why;
    char *buf = kube_file_read(path, len, &why);
    if (!buf && why == KUBE_FILE_OPEN)
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    else if (!buf && why == KUBE_FILE_NOT_SMALL)
        snprintf(err, errlen, "cannot read %s: not a regular file of at most %d bytes", path,
                 KUBE_FILE_MAX);
    else if (!buf)
        snprintf(err, errlen, "out of memory");
    return buf;
}

static int b64_value(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Standard base64 (whitespace ignored, padding optional) to a NUL-terminated
 * string; NULL when malformed. */
static char *b64_decode(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n * 3 / 4 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p; p++) {
        if (*p == '=' || *p == '\n' || *p == '\r' || *p == ' ' || *p == '\t')
            continue;
        int v = b64_value((unsigned char)*p);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && s[0] ? s : NULL;
}

/* The entry of list (clusters, users, contexts) with this name: its inner
 * object (cluster, user, context). */
static json_t *named_entry(json_t *root, const char *list, const char *inner, const char *name)
{
    json_t *arr = json_object_get(root, list);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0) {
            json_t *in = json_object_get(e, inner);
            return json_is_object(in) ? in : NULL;
        }
    }
    return NULL;
}

/* data (base64) wins over file, as client-go has it. */
static int take_data_or_file(json_t *o, const char *data_key, const char *file_key,
                             const char *base_dir, char **data, char **file, char *err, size_t errlen)
{
    const char *d = jstr(o, data_key), *f = jstr(o, file_key);
    if (d) {
        *data = b64_decode(d);
        if (!*data) {
            snprintf(err, errlen, "kubeconfig: %s is not valid base64", data_key);
            return -1;
        }
    } else if (f) {
        *file = util_path_join(base_dir, f);
    }
    return 0;
}

/* ---- kubeconfig -------------------------------------------------------------- */

static int conn_cluster(struct kube_conn *c, json_t *cl, const char *base_dir, char *err,
                        size_t errlen)
{
    const char *server = jstr(cl, "server");
    if (!server) {
        snprintf(err, errlen, "kubeconfig: the cluster has no server");
        return -1;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        snprintf(err, errlen, "kubeconfig: server %s is not an http(s) URL", server);
        return -1;
    }
    c->server = strdup(server);
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    c->insecure = json_is_true(json_object_get(cl, "insecure-skip-tls-verify"));
    return take_data_or_file(cl, "certificate-authority-data", "certificate-authority", base_dir,
                             &c->ca_data, &c->ca_file, err, errlen);
}

static int conn_user(struct kube_conn *c, json_t *u, const char *base_dir, char *err, size_t errlen)
{
    if (json_object_get(u, "exec") || json_object_get(u, "auth-provider")) {
        snprintf(err, errlen, "kubeconfig: the user's credentials come from an %s plugin, which "
                              "receptor-c does not run; use a token or a client certificate",
                 json_object_get(u, "exec") ? "exec" : "auth-provider");
        return -1;
    }
    const char *tok = jstr(u, "token"), *tokfile = jstr(u, "tokenFile");
    if (tok) {
        c->token = strdup(tok);
    } else if (tokfile) {
        char *path = util_path_join(base_dir, tokfile);
        char *t = path ? read_small_file(path, NULL, err, errlen) : NULL;
        free(path);
        if (!t)
            return -1;
        t[strcspn(t, "\r\n")] = '\0';
        c->token = t;
    }
    if (jstr(u, "username"))
        c->username = strdup(jstr(u, "username"));
    if (jstr(u, "password"))
        c->password = strdup(jstr(u, "password"));
    if (take_data_or_file(u, "client-certificate-data", "client-certificate", base_dir,
                          &c->cert_data, &c->cert_file, err, errlen) < 0)
        return -1;
    return take_data_or_file(u, "client-key-data", "client-key", base_dir, &c->key_data,
                             &c->key_file, err, errlen);
}

int kube_conn_from_kubeconfig(struct kube_conn *c, const char *text, size_t len, const char *base_dir,
                              char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    char why[256];
    json_t *root = kube_yaml_parse(text, len, why, sizeof why);
    if (!root) {
        snprintf(err, errlen, "kubeconfig: %s", why);
        return -1;
    }
    int rc = -1;
    const char *cur = jstr(root, "current-context");
    json_t *ctx = cur ? named_entry(root, "contexts", "context", cur) : NULL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "kubeconfig: not a mapping");
    } else if (!cur) {
        snprintf(err, errlen, "kubeconfig: no current-context is set");
    } else if (!ctx) {
        snprintf(err, errlen, "kubeconfig: context \"%s\" does not exist", cur);
    } else {
        const char *cname = jstr(ctx, "cluster"), *uname = jstr(ctx, "user");
        json_t *cl = cname ? named_entry(root, "clusters", "cluster", cname) : NULL;
        json_t *u = uname ? named_entry(root, "users", "user", uname) : NULL;
        if (!cl)
            snprintf(err, errlen, "kubeconfig: cluster \"%s\" of context \"%s\" does not exist",
                     cname ? cname : "", cur);
        else if (uname && !u)
            snprintf(err, errlen, "kubeconfig: user \"%s\" of context \"%s\" does not exist", uname,
                     cur);
        else if (conn_cluster(c, cl, base_dir, err, errlen) == 0 &&
                 (!u || conn_user(c, u, base_dir, err, errlen) == 0)) {
            c->namespace_ = strdup(jstr(ctx, "namespace") ? jstr(ctx, "namespace") : "default");
            rc = 0;
        }
    }
    json_decref(root);
    if (rc < 0)
        kube_conn_free(c);
    return rc;
}

int kube_conn_default_kubeconfig(struct kube_conn *c, char *err, size_t errlen)
{
    char path[4096];
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    if (env && env[0])
        snprintf(path, sizeof path, "%.*s", (int)strcspn(env, ":"), env);
    else
        snprintf(path, sizeof path, "%s/.kube/config", home ? home : "");
    size_t len;
    char *text = read_small_file(path, &len, err, errlen);
    if (!text)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int rc = kube_conn_from_kubeconfig(c, text, len, slash ? dir : NULL, err, errlen);
    free(text);
    return rc;
}

/* ---- in cluster -------------------------------------------------------------- */

int kube_conn_incluster(struct kube_conn *c, const char *root, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !host[0] || !port || !port[0]) {
        snprintf(err, errlen, "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                              "KUBERNETES_SERVICE_PORT must be defined");
        return -1;
    }
    char path[4096], url[600];
    snprintf(path, sizeof path, "%s" KUBE_SA_DIR "/token", root ? root : "");
    char *tok = read_small_file(path, NULL, err, errlen);
    if (!tok)
        return -1;
    tok[strcspn(tok, "\r\n")] = '\0';
    c->token = tok;
    int v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof url, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    c->server = strdup(url);
    snprintf(path, sizeof path, "%s" KUBE_SA_DIR "/ca.crt", root ? root : "");
    c->ca_file = strdup(path);
    snprintf(path, sizeof path, "%s" KUBE_SA_DIR "/namespace", root ? root : "");
    char why[256];
    char *ns = read_small_file(path, NULL, why, sizeof why);
    if (ns)
        ns[strcspn(ns, "\r\n")] = '\0';
    c->namespace_ = ns && ns[0] ? ns : strdup("default");
    if (ns && !ns[0])
        free(ns);
    return 0;
}

/* ---- files for libcurl ------------------------------------------------------- */

static int write_secret_file(struct kube_conn *c, const char *dir, const char *prefix, int slot,
                             const char *name, const char *data, char **out, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%s", dir, prefix, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t n = strlen(data), off = 0;
    while (fd >= 0 && off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (fd < 0 || off < n) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    free(*out);
    *out = strdup(path);
    free(c->owned[slot]);
    c->owned[slot] = strdup(path);
    return 0;
}

int kube_conn_write_files(struct kube_conn *c, const char *dir, const char *prefix, char *err,
                          size_t errlen)
{
    if (!c->ca_data && !c->cert_data && !c->key_data)
        return 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (c->ca_data &&
        write_secret_file(c, dir, prefix, 0, "ca.crt", c->ca_data, &c->ca_file, err, errlen) < 0)
        return -1;
    if (c->cert_data &&
        write_secret_file(c, dir, prefix, 1, "client.crt", c->cert_data, &c->cert_file, err, errlen) < 0)
        return -1;
    if (c->key_data &&
        write_secret_file(c, dir, prefix, 2, "client.key", c->key_data, &c->key_file, err, errlen) < 0)
        return -1;
    return 0;
}
