/* tcp.c - see tcp.h.
 *
 * A tcp_link owns a uv_tcp_t, a framer for input and a byte count of queued
 * writes (the backlog).  Closing flushes queued writes with uv_shutdown so a
 * reject message reaches the peer (upstream often loses it), with a timer
 * that forces the close if the peer does not read.  The link, its listener
 * or dialer, and their handles are freed only after libuv's close callbacks. */
#include "net/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/framer.h"

#define DIAL_FIRST_WAIT 5000
#define DIAL_MAX_WAIT 20000
#define CLOSE_FLUSH_MS 2000

struct tcp_link {
    struct link link;
    uv_tcp_t tcp;
    uv_timer_t flush_timer;
    uv_shutdown_t shutdown;
    struct framer fr;
    size_t backlog;
    int closing;
    int handles;   /* open libuv handles still to be closed */
    struct tcp_listener *listener;
    struct tcp_dialer *dialer;
    struct tcp_link *next;
};

struct tcp_listener {
    uv_tcp_t tcp;
    link_new_cb cb;
    void *arg;
    struct tcp_link *links;
    char desc[80];
};

struct tcp_dialer {
    uv_loop_t *loop;
    uv_timer_t timer;
    struct tcp_link *pending; /* link whose socket is connecting */
    uv_connect_t connect;
    uv_getaddrinfo_t resolve;
    char host[256], port[16];
    int redial;
    int stopped;
    int busy;                /* resolve or connect in flight */
    uint64_t wait_ms;
    link_new_cb cb;
    void *arg;
    struct tcp_link *link;   /* established session, if any */
};

struct write_req {
    uv_write_t req;
    struct tcp_link *tl;
    size_t len;
    uint8_t data[];
};

static void dialer_schedule(struct tcp_dialer *d, uint64_t ms);
static void dialer_maybe_free(struct tcp_dialer *d);

/* ---- links -------------------------------------------------------------- */

static void link_handle_closed(uv_handle_t *h)
{
    struct tcp_link *tl = h->data;
    if (--tl->handles > 0)
        return;
    if (tl->link.on_close)
        tl->link.on_close(&tl->link);
    if (tl->listener) {
        struct tcp_link **pp = &tl->listener->links;
        while (*pp && *pp != tl)
            pp = &(*pp)->next;
        if (*pp)
            *pp = tl->next;
    }
    struct tcp_dialer *d = tl->dialer;
    if (d) {
        d->link = NULL;
        if (d->redial && !d->stopped) {
            d->wait_ms = DIAL_FIRST_WAIT;
            dialer_schedule(d, d->wait_ms);
        } else {
            d->stopped = 1;
            dialer_maybe_free(d);
        }
    }
    framer_free(&tl->fr);
    free(tl);
}

static void link_close_now(struct tcp_link *tl)
{
    if (!uv_is_closing((uv_handle_t *)&tl->tcp))
        uv_close((uv_handle_t *)&tl->tcp, link_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&tl->flush_timer))
        uv_close((uv_handle_t *)&tl->flush_timer, link_handle_closed);
}

static void on_flush_timeout(uv_timer_t *t) { link_close_now(t->data); }

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    link_close_now(req->data);
}

static void tcp_link_close(struct link *l)
{
    struct tcp_link *tl = (struct tcp_link *)l;
    if (tl->closing)
        return;
    tl->closing = 1;
    uv_read_stop((uv_stream_t *)&tl->tcp);
    tl->shutdown.data = tl;
    if (uv_shutdown(&tl->shutdown, (uv_stream_t *)&tl->tcp, on_shutdown) != 0) {
        link_close_now(tl);
        return;
    }
    uv_timer_start(&tl->flush_timer, on_flush_timeout, CLOSE_FLUSH_MS, 0);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    wr->tl->backlog -= wr->len;
    if (status < 0 && !wr->tl->closing) {
        log_debug("%s: write failed: %s", wr->tl->link.desc, uv_strerror(status));
        tcp_link_close(&wr->tl->link);
    }
    free(wr);
}

static int tcp_link_send(struct link *l, const uint8_t *head, size_t hlen,
                         const uint8_t *body, size_t blen)
{
    struct tcp_link *tl = (struct tcp_link *)l;
    size_t n = hlen + blen;
    if (tl->closing)
        return -EPIPE;
    if (n == 0 || n > LINK_MAX_MESSAGE)
        return -EMSGSIZE;
    if (tl->backlog + n > LINK_WRITE_BACKLOG)
        return -ENOBUFS;
    struct write_req *wr = malloc(sizeof *wr + 2 + n);
    if (!wr)
        return -ENOMEM;
    framer_prefix(n, wr->data);
    memcpy(wr->data + 2, head, hlen);
    if (blen)
        memcpy(wr->data + 2 + hlen, body, blen);
    wr->tl = tl;
    wr->len = 2 + n;
    uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)wr->len);
    int rc = uv_write(&wr->req, (uv_stream_t *)&tl->tcp, &b, 1, on_write);
    if (rc < 0) {
        free(wr);
        return rc;
    }
    tl->backlog += wr->len;
    return 0;
}

static const struct link_ops tcp_link_ops = { tcp_link_send, tcp_link_close };

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct tcp_link *tl = h->data;
    size_t len;
    uint8_t *p = framer_space(&tl->fr, &len);
    *out = uv_buf_init((char *)p, p ? (unsigned)len : 0);
}

static int deliver(void *arg, const uint8_t *msg, size_t len)
{
    struct tcp_link *tl = arg;
    if (len == 0) {
        log_warning("%s: ignoring a zero-length frame", tl->link.desc);
        return 0;
    }
    if (tl->link.on_message)
        tl->link.on_message(&tl->link, msg, len);
    return tl->closing; /* stop delivering once the mesh closed the link */
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct tcp_link *tl = s->data;
    if (n < 0) {
        if (n != UV_EOF)
            log_debug("%s: read failed: %s", tl->link.desc, uv_strerror((int)n));
        tl->closing = 1;
        link_close_now(tl);
        return;
    }
    if (n > 0)
        framer_commit(&tl->fr, (size_t)n, deliver, tl);
}

static struct tcp_link *link_new(uv_loop_t *loop)
{
    struct tcp_link *tl = calloc(1, sizeof *tl);
    if (!tl)
        return NULL;
    uv_tcp_init(loop, &tl->tcp);
    uv_timer_init(loop, &tl->flush_timer);
    tl->tcp.data = tl->flush_timer.data = tl;
    tl->handles = 2;
    tl->link.ops = &tcp_link_ops;
    framer_init(&tl->fr);
    return tl;
}

static void link_describe(struct tcp_link *tl)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&tl->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(tl->link.desc, sizeof tl->link.desc, "tcp %s:%d", host, port);
}

static void link_begin(struct tcp_link *tl, link_new_cb cb, void *arg)
{
    uv_tcp_nodelay(&tl->tcp, 1);
    link_describe(tl);
    tl->link.backend_arg = arg;
    uv_read_start((uv_stream_t *)&tl->tcp, on_alloc, on_read);
    cb(arg, &tl->link);
}

/* ---- listener ----------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_listener *ls = server->data;
    if (status < 0) {
        log_error("%s: accept failed: %s", ls->desc, uv_strerror(status));
        return;
    }
    struct tcp_link *tl = link_new(server->loop);
    if (!tl)
        return;
    if (uv_accept(server, (uv_stream_t *)&tl->tcp) != 0) {
        tl->closing = 1;
        link_close_now(tl);
        return;
    }
    tl->listener = ls;
    tl->next = ls->links;
    ls->links = tl;
    link_begin(tl, ls->cb, ls->arg);
}

struct tcp_listener *tcp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (uv_ip4_addr(bindaddr, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(bindaddr, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "invalid bind address %s", bindaddr);
        return NULL;
    }
    struct tcp_listener *ls = calloc(1, sizeof *ls);
    if (!ls)
        return NULL;
    snprintf(ls->desc, sizeof ls->desc, "tcp listener %s:%d", bindaddr, port);
    uv_tcp_init(loop, &ls->tcp);
    ls->tcp.data = ls;
    ls->cb = cb;
    ls->arg = arg;
    int rc = uv_tcp_bind(&ls->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ls->tcp, 128, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "listen tcp %s:%d: %s", bindaddr, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&ls->tcp, (uv_close_cb)free);
        return NULL;
    }
    log_debug("Listening on TCP %s:%d", bindaddr, port);
    return ls;
}

void tcp_listener_stop(struct tcp_listener *ls)
{
    for (struct tcp_link *tl = ls->links; tl; tl = tl->next) {
        tl->listener = NULL;
        tcp_link_close(&tl->link);
    }
    ls->links = NULL;
    uv_close((uv_handle_t *)&ls->tcp, (uv_close_cb)free);
}

/* ---- dialer ------------------------------------------------------------- */

int tcp_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address || !colon[1])
        return -1;
    const char *h = address;
    size_t hl = (size_t)(colon - address);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    strcpy(port, colon + 1);
    return 0;
}

static void dialer_freed(uv_handle_t *h) { free(h->data); }

static void dialer_maybe_free(struct tcp_dialer *d)
{
    if (d->stopped && !d->busy && !d->link && !d->pending) {
        if (!uv_is_closing((uv_handle_t *)&d->timer))
            uv_close((uv_handle_t *)&d->timer, dialer_freed);
    }
}

static void dial_failed(struct tcp_dialer *d, const char *why)
{
    if (d->stopped) {
        dialer_maybe_free(d);
        return;
    }
    log_warning("Backend connection failed (will retry): dial tcp %s:%s: %s", d->host, d->port, why);
    if (!d->redial) {
        d->stopped = 1;
        dialer_maybe_free(d);
        return;
    }
    dialer_schedule(d, d->wait_ms);
    d->wait_ms = d->wait_ms * 3 / 2;
    if (d->wait_ms > DIAL_MAX_WAIT)
        d->wait_ms = DIAL_MAX_WAIT;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tcp_dialer *d = req->data;
    struct tcp_link *tl = d->pending;
    d->busy = 0;
    d->pending = NULL;
    if (status < 0 || d->stopped) {
        tl->closing = 1;
        link_close_now(tl);
        dial_failed(d, uv_strerror(status < 0 ? status : UV_ECANCELED));
        return;
    }
    d->wait_ms = DIAL_FIRST_WAIT;
    d->link = tl;
    tl->dialer = d;
    link_begin(tl, d->cb, d->arg);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct tcp_dialer *d = req->data;
    if (status < 0 || d->stopped) {
        d->busy = 0;
        if (res)
            uv_freeaddrinfo(res);
        dial_failed(d, uv_strerror(status < 0 ? status : UV_ECANCELED));
        return;
    }
    struct tcp_link *tl = link_new(d->loop);
    if (!tl) {
        d->busy = 0;
        uv_freeaddrinfo(res);
        dial_failed(d, "out of memory");
        return;
    }
    d->pending = tl;
    d->connect.data = d;
    int rc = uv_tcp_connect(&d->connect, &tl->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (rc < 0) {
        d->busy = 0;
        d->pending = NULL;
        tl->closing = 1;
        link_close_now(tl);
        dial_failed(d, uv_strerror(rc));
    }
}

static void dial_now(uv_timer_t *t)
{
    struct tcp_dialer *d = t->data;
    if (d->stopped || d->busy || d->link)
        return;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    d->busy = 1;
    d->resolve.data = d;
    int rc = uv_getaddrinfo(d->loop, &d->resolve, on_resolved, d->host, d->port, &hints);
    if (rc < 0) {
        d->busy = 0;
        dial_failed(d, uv_strerror(rc));
    }
}

static void dialer_schedule(struct tcp_dialer *d, uint64_t ms)
{
    uv_timer_start(&d->timer, dial_now, ms, 0);
}

struct tcp_dialer *tcp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct tcp_dialer *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (tcp_split_address(address, d->host, sizeof d->host, d->port, sizeof d->port) < 0) {
        snprintf(err, errlen, "address %s: expected host:port", address);
        free(d);
        return NULL;
    }
    d->loop = loop;
    d->redial = redial;
    d->cb = cb;
    d->arg = arg;
    d->wait_ms = DIAL_FIRST_WAIT;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    dialer_schedule(d, 0);
    return d;
}

void tcp_dialer_stop(struct tcp_dialer *d)
{
    d->stopped = 1;
    uv_timer_stop(&d->timer);
    if (d->link)
        tcp_link_close(&d->link->link);
    if (d->pending && !d->pending->closing) {
        d->pending->closing = 1;
        link_close_now(d->pending); /* on_connect follows with ECANCELED */
    }
    dialer_maybe_free(d);
}
