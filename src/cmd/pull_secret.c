/* pull_secret.c - AWX's image pull secret for a container group
 * (pull_secret.h).
 *
 * Every request is synchronous for the caller: a private libuv loop runs
 * src/work's libcurl engine until the one request under way is done (30 s
 * at most each).  Responses are bounded (kube_http's max_body) and parsed as
 * hostile: a Status body's message is quoted, cut to a sane length. */
#include "cmd/pull_secret.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "work/kube_config.h"
#include "work/kube_http.h"

#define PULL_SECRET_TIMEOUT_MS 30000L

/* ---- the secret's content ------------------------------------------------------- */

/* Standard padded base64 by GnuTLS, as a NUL-terminated malloc'd string. */
static char *b64_encode(const unsigned char *in, size_t n)
{
    gnutls_datum_t d = { (unsigned char *)in, (unsigned)n }, out = { NULL, 0 };
    if (n > UINT32_MAX / 2 || gnutls_base64_encode2(&d, &out) < 0)
        return NULL;
    char *s = malloc(out.size + 1);
    if (s) {
        memcpy(s, out.data, out.size);
        s[out.size] = 0;
    }
    gnutls_free(out.data);
    return s;
}

int pull_secret_registry(const char *host, char *out, size_t cap)
{
    const char *p = host ? host : "";
    p += strspn(p, " \t");
    const char *scheme = strstr(p, "://");
    if (scheme && (size_t)(scheme - p) == strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."))
        p = scheme + 3;
    else if (p[0] == '/' && p[1] == '/')
        p += 2;
    size_t n = strcspn(p, "/?# \t");
    const char *at = memchr(p, '@', n);
    if (at) { /* user info is no part of the host */
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n == 0 || n >= cap || p[0] == ':')
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] - 'A' + 'a') : p[i];
    out[n] = 0;
    return 0;
}

/* A DNS-1123 subdomain, as the API server wants a Secret's name. */
static int dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return 0;
        int edge = i == 0 || i == n - 1 || s[i - 1] == '.' || s[i + 1] == '.';
        if (edge && !alnum)
            return 0;
    }
    return 1;
}

int pull_secret_name(const struct pull_secret *ps, char *out, size_t cap, char *err, size_t errlen)
{
    char reg[512];
    if (pull_secret_registry(ps->host, reg, sizeof reg) < 0) {
        snprintf(err, errlen, "the registry credential's host \"%.200s\" names no registry",
                 ps->host ? ps->host : "");
        return -1;
    }
    /* the credential's id: FNV-1a of what identifies it (registry, user) */
    uint64_t h = 1469598103934665603ULL;
    const char *parts[2] = { reg, ps->username ? ps->username : "" };
    for (int k = 0; k < 2; k++) {
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ '\n') * 1099511628211ULL;
    }
    const char *iid = ps->install_id && *ps->install_id ? ps->install_id : "ansible-runner-c";
    int n = snprintf(out, cap, "automation-%.5s-image-pull-secret-%08x", iid, (unsigned)(h & 0xffffffffu));
    if (n < 0 || (size_t)n >= cap || !dns_subdomain(out)) {
        snprintf(err, errlen, "the image pull secret's name \"%.300s\" is no DNS-1123 subdomain "
                              "(its part \"%.5s\" comes from --awx-install-id: lower-case letters, "
                              "digits and '-' only)", out, iid);
        return -1;
    }
    return 0;
}

char *pull_secret_dockerconfig(const struct pull_secret *ps, char *err, size_t errlen)
{
    char reg[512];
    if (pull_secret_registry(ps->host, reg, sizeof reg) < 0) {
        snprintf(err, errlen, "the registry credential's host \"%.200s\" names no registry",
                 ps->host ? ps->host : "");
        return NULL;
    }
    const char *u = ps->username ? ps->username : "", *pw = ps->password ? ps->password : "";
    size_t ul = strlen(u), pl = strlen(pw);
    char *userpass = malloc(ul + pl + 2);
    char *tok = NULL, *text = NULL, *out = NULL;
    if (userpass) {
        memcpy(userpass, u, ul);
        userpass[ul] = ':';
        memcpy(userpass + ul + 1, pw, pl + 1);
        tok = b64_encode((const unsigned char *)userpass, ul + pl + 1);
        memset(userpass, 0, ul + pl + 1);
    }
    free(userpass);
    json_t *doc = tok ? json_pack("{s:{s:{s:s}}}", "auths", reg, "auth", tok) : NULL;
    /* Python's json.dumps(indent=4): ASCII only, ", " and ": " separators */
    if (doc)
        text = json_dumps(doc, JSON_INDENT(4) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (text)
        out = b64_encode((const unsigned char *)text, strlen(text));
    if (tok)
        memset(tok, 0, strlen(tok));
    if (text)
        memset(text, 0, strlen(text));
    free(tok);
    free(text);
    if (!out)
        snprintf(err, errlen, "out of memory");
    return out;
}

/* ---- one request at a time on a private loop ----------------------------------- */

struct ps_call {
    int done;
    long status;
    char *body;
    char err[512];
};

static void ps_on_done(void *arg, long status, const char *body, size_t len, const char *err)
{
    struct ps_call *c = arg;
    c->done = 1;
    c->status = status;
    c->body = malloc(len + 1);
    if (c->body) {
        memcpy(c->body, body, len);
        c->body[len] = 0;
    }
    if (err)
        snprintf(c->err, sizeof c->err, "%s", err);
}

struct ps_client {
    uv_loop_t loop;
    struct kube_http *http;
    struct kube_conn conn;
    char tmpdir[4096];
    const char *who;          /* whose credentials: for the messages */
};

static int ps_call(struct ps_client *cl, const char *what, const char *method, const char *path,
                   const char *body, struct ps_call *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct kube_req_opts o = { .conn = &cl->conn, .method = method, .path = path, .body = body,
                               .body_len = body ? strlen(body) : 0, .max_body = 1 << 20,
                               .timeout_ms = PULL_SECRET_TIMEOUT_MS, .on_done = ps_on_done,
                               .arg = out };
    char why[512];
    if (!kube_req_start(cl->http, &o, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", what, why);
        return -1;
    }
    while (!out->done)
        uv_run(&cl->loop, UV_RUN_ONCE);
    if (out->err[0]) {
        snprintf(err, errlen, "%s: cannot reach the Kubernetes API at %s: %s", what, cl->conn.server,
                 out->err);
        return -1;
    }
    return 0;
}

/* The message of a Status body, or the start of whatever came. */
static void ps_status_message(const char *body, char *out, size_t cap)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(j, "message"));
    snprintf(out, cap, "%.400s", m ? m : body && *body ? body : "(no message)");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    json_decref(j);
}

/* A sentence for an answer that is not the expected one. */
static void ps_http_error(const struct ps_client *cl, const char *what, const struct ps_call *c,
                          const char *ns, char *err, size_t errlen)
{
    char msg[512];
    ps_status_message(c->body, msg, sizeof msg);
    if (c->status == 401)
        snprintf(err, errlen, "%s: the Kubernetes API at %s refused the credentials of %s (401 "
                              "Unauthorized: %s)", what, cl->conn.server, cl->who, msg);
    else if (c->status == 403)
        snprintf(err, errlen, "%s: the Kubernetes API at %s forbids it (403 Forbidden: %s); %s needs "
                              "get, create and update rights on secrets in namespace %s", what,
                 cl->conn.server, msg, cl->who, ns);
    else
        snprintf(err, errlen, "%s: the Kubernetes API at %s answered HTTP %ld: %s", what,
                 cl->conn.server, c->status, msg);
}

static int ps_connect(struct ps_client *cl, const struct pull_secret *ps, char *err, size_t errlen)
{
    char why[600];
    int rc;
    if (ps->kubeconfig) {
        size_t len = 0;
        enum kube_file_error fe;
        char *text = kube_file_read(ps->kubeconfig, &len, &fe);
        if (!text) {
            snprintf(err, errlen, "%s: %s", ps->kubeconfig,
                     fe == KUBE_FILE_OPEN ? strerror(errno)
                     : fe == KUBE_FILE_NOT_SMALL ? "not a regular file of at most 4 MiB" : "out of memory");
            return -1;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", ps->kubeconfig);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        rc = kube_conn_from_kubeconfig(&cl->conn, text, len, slash ? dir : NULL, why, sizeof why);
        free(text);
        cl->who = "the kubeconfig's user";
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", ps->kubeconfig, why);
            return -1;
        }
    } else {
        rc = kube_conn_incluster(&cl->conn, NULL, why, sizeof why);
        cl->who = "this pod's service account";
        if (rc < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
    }
    /* inline CA and client certificate data: libcurl wants files */
    const char *tmp = getenv("TMPDIR");
    snprintf(cl->tmpdir, sizeof cl->tmpdir, "%s/ansible-runner-c-kube-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(cl->tmpdir)) {
        snprintf(err, errlen, "cannot create a directory in %s: %s", tmp && *tmp ? tmp : "/tmp",
                 strerror(errno));
        cl->tmpdir[0] = 0;
        return -1;
    }
    if (kube_conn_write_files(&cl->conn, cl->tmpdir, "conn", why, sizeof why) < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

static void ps_client_close(struct ps_client *cl)
{
    if (cl->http) {
        kube_http_free(cl->http);
        uv_run(&cl->loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
    }
    uv_loop_close(&cl->loop);
    kube_conn_free(&cl->conn);
    if (cl->tmpdir[0])
        rmdir(cl->tmpdir);
}

/* The Secret body for POST and PUT. */
static char *ps_secret_body(const char *name, const char *ns, const char *config)
{
    json_t *j = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1", "kind",
                          "Secret", "metadata", "name", name, "namespace", ns, "type",
                          "kubernetes.io/dockerconfigjson", "data", ".dockerconfigjson", config);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    return s;
}

/* What a GET found: 1 the same data, 0 other data, -1 not there. */
static int ps_same_data(const char *body, const char *config)
{
    json_t *j = json_loads(body, 0, NULL);
    json_t *data = json_object_get(j, "data");
    const char *have = json_string_value(json_object_get(data, ".dockerconfigjson"));
    int same = have && json_object_size(data) == 1 && !strcmp(have, config) &&
               json_is_string(json_object_get(j, "type")) &&
               !strcmp(json_string_value(json_object_get(j, "type")), "kubernetes.io/dockerconfigjson");
    json_decref(j);
    return same;
}

static int ps_sync(struct ps_client *cl, const char *name, const char *ns, const char *config,
                   char *err, size_t errlen)
{
    char path[1024], what[512];
    snprintf(what, sizeof what, "the image pull secret %s in namespace %s", name, ns);
    for (int round = 0; round < 3; round++) {
        struct ps_call c;
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets/%s", ns, name);
        if (ps_call(cl, what, "GET", path, NULL, &c, err, errlen) < 0) {
            free(c.body);
            return -1;
        }
        int found = c.status == 200, same = found && ps_same_data(c.body, config);
        if (!found && c.status != 404) {
            ps_http_error(cl, what, &c, ns, err, errlen);
            free(c.body);
            return -1;
        }
        free(c.body);
        if (same)
            return 0;
        char *body = ps_secret_body(name, ns, config);
        if (!body) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!found)
            snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", ns);
        int rc = ps_call(cl, what, found ? "PUT" : "POST", path, body, &c, err, errlen);
        memset(body, 0, strlen(body));
        free(body);
        if (rc < 0) {
            free(c.body);
            return -1;
        }
        int ok = found ? c.status == 200 : c.status == 201 || c.status == 200;
        /* 409: another job made it (or changed it) meanwhile; 404 on PUT: deleted meanwhile */
        int again = c.status == 409 || (found && c.status == 404);
        if (!ok && !again)
            ps_http_error(cl, what, &c, ns, err, errlen);
        free(c.body);
        if (ok)
            return 0;
        if (!again)
            return -1;
    }
    snprintf(err, errlen, "%s: it keeps changing under us (created or replaced by someone else "
                          "three times)", what);
    return -1;
}

int pull_secret_ensure(const struct pull_secret *ps, const char *ns, char *name, size_t cap,
                       char *err, size_t errlen)
{
    if (!dns_subdomain(ns) || strchr(ns, '.')) {
        snprintf(err, errlen, "the pod's namespace \"%.200s\" is no DNS-1123 label", ns);
        return -1;
    }
    if (pull_secret_name(ps, name, cap, err, errlen) < 0)
        return -1;
    char *config = pull_secret_dockerconfig(ps, err, errlen);
    if (!config)
        return -1;
    struct ps_client cl;
    memset(&cl, 0, sizeof cl);
    int rc = -1;
    if (uv_loop_init(&cl.loop) < 0) {
        snprintf(err, errlen, "cannot start an event loop");
        free(config);
        return -1;
    }
    char why[600];
    if (ps_connect(&cl, ps, err, errlen) == 0) {
        if (!(cl.http = kube_http_new(&cl.loop, why, sizeof why)))
            snprintf(err, errlen, "cannot talk to the Kubernetes API: %s", why);
        else
            rc = ps_sync(&cl, name, ns, config, err, errlen);
    }
    ps_client_close(&cl);
    free(config);
    return rc;
}
