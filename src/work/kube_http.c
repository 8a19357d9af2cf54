/* kube_http.c - libcurl's multi interface on the libuv loop (kube_http.h).
 *
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one
 * uv_poll per socket) and when to call it back (CURLMOPT_TIMERFUNCTION: one
 * uv_timer); events go back through curl_multi_socket_action and finished
 * transfers are collected with curl_multi_info_read, outside any libcurl
 * callback, so on_done may start or cancel requests.  on_data runs inside
 * libcurl's write callback and therefore must not start or cancel requests;
 * it returns -1 to stop its own.
 *
 * libcurl is mapped on first use (dlopen of the GnuTLS flavour, the TLS
 * stack the daemon already uses); the function table is process-wide like
 * core/gnutls_lib.c's, loaded once. */
#define CURL_DISABLE_TYPECHECK 1
#include "work/kube_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dlib.h"
#include "core/log.h"

#define KUBE_CURL_SONAME "libcurl-gnutls.so.4"

#define KCURL_FUNCS(X) \
    X(curl_global_init) \
    X(curl_easy_init) \
    X(curl_easy_setopt) \
    X(curl_easy_getinfo) \
    X(curl_easy_cleanup) \
    X(curl_easy_strerror) \
    X(curl_easy_send) \
    X(curl_easy_recv) \
    X(curl_multi_init) \
    X(curl_multi_cleanup) \
    X(curl_multi_add_handle) \
    X(curl_multi_remove_handle) \
    X(curl_multi_setopt) \
    X(curl_multi_socket_action) \
    X(curl_multi_info_read) \
    X(curl_multi_assign) \
    X(curl_slist_append) \
    X(curl_slist_free_all)

struct kcurl {
#define KCURL_FIELD(f) __typeof__(f) *f;
    KCURL_FUNCS(KCURL_FIELD)
#undef KCURL_FIELD
};

static struct kcurl kc;
static int kc_loaded;

static int kcurl_load(char *err, size_t errlen)
{
    static const char *const names[] = {
#define KCURL_NAME(f) #f,
        KCURL_FUNCS(KCURL_NAME)
#undef KCURL_NAME
    };
    void *ptrs[sizeof names / sizeof names[0]];
    _Static_assert(sizeof kc == sizeof ptrs, "kcurl table and names out of step");
    if (kc_loaded)
        return 0;
    if (dlib_load(KUBE_CURL_SONAME, names, ptrs, sizeof names / sizeof names[0], err, errlen) < 0)
        return -1;
    memcpy(&kc, ptrs, sizeof kc);
    if (kc.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "libcurl failed to initialise");
        return -1;
    }
    kc_loaded = 1;
    return 0;
}

struct ksock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct kube_http *h;
    struct ksock *next;
};

struct kube_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer;
    struct ksock *socks;
    struct kube_req *reqs;        /* every request under way */
};

struct kube_req {
    struct kube_http *h;
    struct kube_req *next, **pprev;
    CURL *e;
    struct curl_slist *headers;
    struct kube_req_opts o;
    char *url;
    char *buf;
    size_t len, cap;
    int status_known, streaming, aborted, too_large;
    int connect_only, connected;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- the loop side ----------------------------------------------------------- */

static void check_done(struct kube_http *h);

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct ksock *ks = p->data;
    struct kube_http *h = ks->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    kc.curl_multi_socket_action(h->multi, ks->fd, flags, &running);
    check_done(h);
}

static void on_timer(uv_timer_t *t)
{
    struct kube_http *h = t->data;
    int running;
    kc.curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static void free_on_close(uv_handle_t *hd) { free(hd->data); }

static void ksock_close(struct kube_http *h, struct ksock *ks)
{
    for (struct ksock **pp = &h->socks; *pp; pp = &(*pp)->next)
        if (*pp == ks) {
            *pp = ks->next;
            break;
        }
    uv_poll_stop(&ks->poll);
    uv_close((uv_handle_t *)&ks->poll, free_on_close);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    struct kube_http *h = userp;
    struct ksock *ks = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ks) {
            kc.curl_multi_assign(h->multi, s, NULL);
            ksock_close(h, ks);
        }
        return 0;
    }
    if (!ks) {
        ks = calloc(1, sizeof *ks);
        if (!ks || uv_poll_init_socket(h->loop, &ks->poll, s) < 0) {
            free(ks);
            return -1;
        }
        ks->fd = s;
        ks->h = h;
        ks->poll.data = ks;
        ks->next = h->socks;
        h->socks = ks;
        kc.curl_multi_assign(h->multi, s, ks);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    uv_poll_start(&ks->poll, ev, on_poll);
    return 0;
}

static int on_timeout(CURLM *m, long ms, void *userp)
{
    (void)m;
    struct kube_http *h = userp;
    if (ms < 0)
        uv_timer_stop(h->timer);
    else
        uv_timer_start(h->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

struct kube_http *kube_http_new(uv_loop_t *loop, char *err, size_t errlen)
{
    if (kcurl_load(err, errlen) < 0)
        return NULL;
    struct kube_http *h = calloc(1, sizeof *h);
    uv_timer_t *t = calloc(1, sizeof *t);
    CURLM *m = h && t ? kc.curl_multi_init() : NULL;
    if (!m) {
        free(h);
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = loop;
    h->multi = m;
    h->timer = t;
    uv_timer_init(loop, t);
    t->data = h;
    kc.curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    kc.curl_multi_setopt(m, CURLMOPT_SOCKETDATA, h);
    kc.curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timeout);
    kc.curl_multi_setopt(m, CURLMOPT_TIMERDATA, h);
    return h;
}

static void req_free(struct kube_req *r);

void kube_http_free(struct kube_http *h)
{
    if (!h)
        return;
    while (h->reqs) {
        struct kube_req *r = h->reqs;
        void (*drop)(void *) = r->o.on_drop;
        void *arg = r->o.arg;
        req_free(r);
        if (drop)
            drop(arg);
    }
    kc.curl_multi_cleanup(h->multi);
    while (h->socks)
        ksock_close(h, h->socks);
    uv_timer_stop(h->timer);
    h->timer->data = h->timer;
    uv_close((uv_handle_t *)h->timer, free_on_close);
    free(h);
}

/* ---- requests ------------------------------------------------------------------ */

static void req_free(struct kube_req *r)
{
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
    }
    if (r->e) {
        kc.curl_multi_remove_handle(r->h->multi, r->e);
        kc.curl_easy_cleanup(r->e);
    }
    kc.curl_slist_free_all(r->headers);
    free(r->url);
    free(r->buf);
    free(r);
}

void kube_req_cancel(struct kube_req *r)
{
    if (r)
        req_free(r);
}

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    struct kube_req *r = ud;
    size_t len = sz * n;
    if (r->o.stream && !r->status_known) {
        long code = 0;
        kc.curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &code);
        r->streaming = code >= 200 && code < 300;
        r->status_known = 1;
    }
    if (r->streaming) {
        if (r->o.on_data(r->o.arg, p, len) < 0) {
            r->aborted = 1;
            return 0;
        }
        return len;
    }
    size_t max = r->o.max_body ? r->o.max_body : (1 << 20);
    if (r->len + len > max) {
        r->too_large = 1;
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb) {
            r->too_large = 1;
            return 0;
        }
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, len);
    r->len += len;
    r->buf[r->len] = '\0';
    return len;
}

static void finish(struct kube_req *r, CURLcode rc)
{
    long code = 0;
    kc.curl_easy_getinfo(r->e, CURLINFO_RESPONSE_CODE, &code);
    char why[CURL_ERROR_SIZE + 128];
    const char *err = NULL;
    if (r->aborted) {
        err = "aborted";
    } else if (r->too_large) {
        snprintf(why, sizeof why, "response larger than %zu bytes",
                 r->o.max_body ? r->o.max_body : (size_t)(1 << 20));
        err = why;
    } else if (rc != CURLE_OK) {
        snprintf(why, sizeof why, "%s%s%s", kc.curl_easy_strerror(rc), r->errbuf[0] ? ": " : "",
                 r->errbuf);
        err = why;
    }
    if (r->connect_only) {
        r->connected = err == NULL;
        r->o.on_done(r->o.arg, 0, NULL, 0, err);
        return; /* the caller keeps the connection until kube_req_cancel */
    }
    kc.curl_multi_remove_handle(r->h->multi, r->e);
    void (*done)(void *, long, const char *, size_t, const char *) = r->o.on_done;
    void *arg = r->o.arg;
    char *body = r->buf;
    size_t len = r->len;
    r->buf = NULL;
    req_free(r);
    done(arg, code, body ? body : "", len, err);
    free(body);
}

static void check_done(struct kube_http *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = kc.curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct kube_req *r = NULL;
        kc.curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            finish(r, msg->data.result);
    }
}

static int set_tls(struct kube_req *r, const struct kube_conn *c)
{
    CURL *e = r->e;
    if (c->ca_file) {
        /* the cluster's CA replaces the system's trust, as in kubectl; not
         * loading the system CA directory also saves ~7 MB per process */
        kc.curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        kc.curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
    }
    if (c->insecure) {
        kc.curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        kc.curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->cert_file)
        kc.curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
    if (c->key_file)
        kc.curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    if (c->username) {
        kc.curl_easy_setopt(e, CURLOPT_USERNAME, c->username);
        kc.curl_easy_setopt(e, CURLOPT_PASSWORD, c->password ? c->password : "");
    }
    return 0;
}

static struct kube_req *req_new(struct kube_http *h, const struct kube_conn *c, const char *path,
                                char *err, size_t errlen)
{
    struct kube_req *r = calloc(1, sizeof *r);
    size_t n = strlen(c->server) + strlen(path) + 1;
    if (r)
        r->url = malloc(n);
    if (!r || !r->url || !(r->e = kc.curl_easy_init())) {
        if (r)
            free(r->url);
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(r->url, n, "%s%s", c->server, path);
    r->h = h;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->pprev = &r->next;
    h->reqs = r;
    r->pprev = &h->reqs;
    CURL *e = r->e;
    kc.curl_easy_setopt(e, CURLOPT_URL, r->url);
    kc.curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    kc.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    kc.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    kc.curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    kc.curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    kc.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* a followed log or a watch can be quiet for hours: keepalives notice a
     * connection that died without a word */
    kc.curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    kc.curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 60L);
    kc.curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 20L);
    set_tls(r, c);
    return r;
}

static int add_header(struct kube_req *r, const char *fmt, const char *value)
{
    char line[8192];
    snprintf(line, sizeof line, fmt, value);
    struct curl_slist *l = kc.curl_slist_append(r->headers, line);
    if (!l)
        return -1;
    r->headers = l;
    return 0;
}

struct kube_req *kube_req_start(struct kube_http *h, const struct kube_req_opts *o, char *err,
                                size_t errlen)
{
    struct kube_req *r = req_new(h, o->conn, o->path, err, errlen);
    if (!r)
        return NULL;
    r->o = *o;
    CURL *e = r->e;
    int bad = add_header(r, "%s", "Accept: application/json, */*") < 0;
    if (o->conn->token)
        bad |= add_header(r, "Authorization: Bearer %s", o->conn->token) < 0;
    if (o->body) {
        bad |= add_header(r, "%s", "Content-Type: application/json") < 0;
        kc.curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)o->body_len);
        kc.curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->body);
    }
    if (strcmp(o->method, "GET") != 0 && !(strcmp(o->method, "POST") == 0 && o->body))
        kc.curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
    kc.curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    kc.curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    kc.curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (o->timeout_ms > 0)
        kc.curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (bad || kc.curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        snprintf(err, errlen, "cannot start a request to %s", r->url);
        req_free(r);
        return NULL;
    }
    return r;
}

struct kube_req *kube_req_connect(struct kube_http *h, const struct kube_conn *conn,
                                  void (*on_done)(void *arg, long status, const char *body,
                                                  size_t len, const char *err),
                                  void *arg, char *err, size_t errlen)
{
    struct kube_req *r = req_new(h, conn, "/", err, errlen);
    if (!r)
        return NULL;
    r->connect_only = 1;
    r->o.on_done = on_done;
    r->o.arg = arg;
    r->o.conn = conn;
    kc.curl_easy_setopt(r->e, CURLOPT_CONNECT_ONLY, 1L);
    if (kc.curl_multi_add_handle(h->multi, r->e) != CURLM_OK) {
        snprintf(err, errlen, "cannot connect to %s", r->url);
        req_free(r);
        return NULL;
    }
    return r;
}

int kube_req_fd(struct kube_req *r)
{
    curl_socket_t s = CURL_SOCKET_BAD;
    if (kc.curl_easy_getinfo(r->e, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK)
        return -1;
    /* libcurl no longer watches this socket: give it up to the caller */
    for (struct ksock *ks = r->h->socks; ks; ks = ks->next)
        if (ks->fd == s) {
            kc.curl_multi_assign(r->h->multi, s, NULL);
            ksock_close(r->h, ks);
            break;
        }
    return (int)s;
}

ssize_t kube_req_send(struct kube_req *r, const void *buf, size_t len)
{
    size_t n = 0;
    CURLcode rc = kc.curl_easy_send(r->e, buf, len, &n);
    if (rc == CURLE_AGAIN)
        return -2;
    return rc == CURLE_OK ? (ssize_t)n : -1;
}

ssize_t kube_req_recv(struct kube_req *r, void *buf, size_t len)
{
    size_t n = 0;
    CURLcode rc = kc.curl_easy_recv(r->e, buf, len, &n);
    if (rc == CURLE_AGAIN)
        return -2;
    return rc == CURLE_OK ? (ssize_t)n : -1;
}
