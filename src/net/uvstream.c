/* uvstream.c - see uvstream.h.  Writes are copied into one malloc'ed block
 * per write call; the queued byte count drives back-pressure (on_drain).
 * close() never drops queued bytes: it half-closes, lets libuv flush, and
 * closes when the shutdown completes (at most LINGER_MS later, for a peer
 * that stopped reading).  Only failures close at once. */
#include "net/uvstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define LINGER_MS 30000

struct uvstream {
    struct bstream s;
    union { uv_pipe_t pipe; uv_tcp_t tcp; uv_stream_t stream; } h;
    uv_shutdown_t shutdown_req;
    size_t queued;
    int is_pipe;
    int reading;
    int closing;
    int shut;
    int eof;
    int handle_closing;  /* uv_close called */
    uv_timer_t *linger;  /* while flushing before a close */
};

struct wreq {
    uv_write_t req;
    struct uvstream *u;
    size_t len;
    uint8_t data[];
};

static void on_closed(uv_handle_t *h)
{
    struct uvstream *u = h->data;
    if (u->s.on_close)
        u->s.on_close(&u->s);
    free(u);
}

static void timer_freed(uv_handle_t *h) { free(h); }

static void close_now(struct uvstream *u)
{
    u->closing = 1;
    if (u->handle_closing)
        return;
    u->handle_closing = 1;
    if (u->linger) {
        uv_close((uv_handle_t *)u->linger, timer_freed);
        u->linger = NULL;
    }
    uv_close((uv_handle_t *)&u->h, on_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
    close_now(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status);

static void us_close(struct bstream *s)
{
    struct uvstream *u = (struct uvstream *)s;
    if (u->closing)
        return;
    u->closing = 1;
    /* libuv clears "writable" as soon as a shutdown is requested, so after
     * our own shutdown the queued bytes are still on their way: wait for them */
    if (u->queued == 0 || (!u->shut && !uv_is_writable(&u->h.stream))) {
        close_now(u);
        return;
    }
    /* flush what is queued first: a half-close completes after it */
    if (u->reading) {
        uv_read_stop(&u->h.stream);
        u->reading = 0;
    }
    u->linger = malloc(sizeof *u->linger);
    if (u->linger) {
        uv_timer_init(u->h.stream.loop, u->linger);
        u->linger->data = u;
        uv_timer_start(u->linger, on_linger_timeout, LINGER_MS, 0);
    }
    if (!u->shut) {
        u->shut = 1;
        u->shutdown_req.data = u;
        if (uv_shutdown(&u->shutdown_req, &u->h.stream, on_shutdown) < 0)
            close_now(u);
    }
}

static void fail(struct uvstream *u, const char *msg)
{
    if (u->handle_closing)
        return;
    if (u->s.on_error && !u->closing)
        u->s.on_error(&u->s, msg);
    close_now(u);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct uvstream *u = w->u;
    u->queued -= w->len;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            fail(u, uv_strerror(status));
        return;
    }
    if (u->queued == 0 && !u->closing && u->s.on_drain)
        u->s.on_drain(&u->s);
}

static int us_write(struct bstream *s, const uint8_t *data, size_t len)
{
    struct uvstream *u = (struct uvstream *)s;
    if (u->closing || u->shut)
        return -1;
    if (len == 0)
        return 0;
    struct wreq *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    memcpy(w->data, data, len);
    w->u = u;
    w->len = len;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, &u->h.stream, &b, 1, on_write);
    if (rc < 0) {
        free(w);
        return -1;
    }
    u->queued += len;
    return 0;
}

static size_t us_queued(struct bstream *s) { return ((struct uvstream *)s)->queued; }

/* Reads.  libuv asks for a buffer (on_alloc) and hands it back filled
 * (on_read) in one go, for one stream at a time, on the loop's one thread;
 * whoever gets on_read copies what it keeps before returning.  So all the
 * streams of the process read into one 64 KiB buffer: a hop with a hundred
 * links busy at once holds one read buffer, not a hundred.  It is scratch
 * space, not state: nothing in it outlives a callback.  Should the buffer
 * be asked for while it is out (libuv never does that), the stream gets a
 * buffer of its own for that read. */
#define RBUF_SIZE 65536

static uint8_t shared_rbuf[RBUF_SIZE];
static int shared_rbuf_out;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h;
    (void)suggested;
    char *p = (char *)shared_rbuf;
    if (shared_rbuf_out)
        p = malloc(RBUF_SIZE);
    else
        shared_rbuf_out = 1;
    *out = uv_buf_init(p, p ? RBUF_SIZE : 0);
}

static void release_rbuf(const uv_buf_t *b)
{
    if (b->base == (char *)shared_rbuf)
        shared_rbuf_out = 0;
    else
        free(b->base);
}

static void deliver(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct uvstream *u = st->data;
    if (n == UV_EOF) {
        uv_read_stop(st);
        u->reading = 0;
        u->eof = 1;
        if (u->s.on_eof)
            u->s.on_eof(&u->s);
        else
            us_close(&u->s);
        return;
    }
    if (n < 0) {
        fail(u, uv_strerror((int)n));
        return;
    }
    if (n > 0 && u->s.on_read)
        u->s.on_read(&u->s, (const uint8_t *)b->base, (size_t)n);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    deliver(st, n, b);
    release_rbuf(b);
}

static void us_read_start(struct bstream *s)
{
    struct uvstream *u = (struct uvstream *)s;
    if (u->reading || u->closing || u->eof)
        return;
    u->reading = 1;
    uv_read_start(&u->h.stream, on_alloc, on_read);
}

static void us_read_stop(struct bstream *s)
{
    struct uvstream *u = (struct uvstream *)s;
    if (!u->reading || u->closing)
        return;
    u->reading = 0;
    uv_read_stop(&u->h.stream);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct uvstream *u = req->data;
    if (u->closing)
        close_now(u); /* everything queued before the close is out */
    else if (status < 0 && status != UV_ECANCELED)
        fail(u, uv_strerror(status));
}

static void us_shutdown(struct bstream *s)
{
    struct uvstream *u = (struct uvstream *)s;
    if (u->shut || u->closing)
        return;
    u->shut = 1;
    u->shutdown_req.data = u;
    if (uv_shutdown(&u->shutdown_req, &u->h.stream, on_shutdown) < 0)
        fail(u, "shutdown failed");
}

static const struct bstream_ops uvstream_ops = {
    us_write, us_queued, us_read_start, us_read_stop, us_shutdown, us_close,
};

struct bstream *uvstream_new(uv_loop_t *loop, int is_pipe)
{
    struct uvstream *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->s.ops = &uvstream_ops;
    u->is_pipe = is_pipe;
    if (is_pipe)
        uv_pipe_init(loop, &u->h.pipe, 0);
    else
        uv_tcp_init(loop, &u->h.tcp);
    u->h.stream.data = u;
    snprintf(u->s.desc, sizeof u->s.desc, "%s", is_pipe ? "unix socket" : "tcp");
    return &u->s;
}

uv_stream_t *uvstream_handle(struct bstream *s) { return &((struct uvstream *)s)->h.stream; }

struct bstream *uvstream_accept(uv_stream_t *server, int status, const char *desc)
{
    if (status < 0) {
        log_error("%s: accept failed: %s", desc, uv_strerror(status));
        return NULL;
    }
    struct bstream *s = uvstream_new(server->loop, 0);
    if (!s)
        return NULL;
    if (uv_accept(server, uvstream_handle(s)) != 0) {
        bstream_close(s);
        return NULL;
    }
    return s;
}

void uvstream_start(struct bstream *s)
{
    struct uvstream *u = (struct uvstream *)s;
    if (!u->is_pipe) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        char host[64] = "?";
        int port = 0;
        uv_tcp_nodelay(&u->h.tcp, 1);
        if (uv_tcp_getpeername(&u->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET6) {
                uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
                port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            } else {
                uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
                port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            }
        }
        snprintf(u->s.desc, sizeof u->s.desc, "tcp %s:%d", host, port);
    }
    us_read_start(s);
}

/* ---- outbound connections ------------------------------------------------- */

struct connect_op {
    uv_connect_t req;
    uv_getaddrinfo_t resolve;
    struct bstream *s;
    uvstream_connect_cb cb;
    void *arg;
    uv_loop_t *loop;
};

static void on_connected(uv_connect_t *req, int status)
{
    struct connect_op *op = req->data;
    if (status < 0) {
        op->cb(op->arg, NULL, uv_strerror(status));
        bstream_close(op->s);
    } else {
        uvstream_start(op->s);
        bstream_read_stop(op->s);
        op->cb(op->arg, op->s, NULL);
    }
    free(op);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct connect_op *op = req->data;
    if (status < 0) {
        op->cb(op->arg, NULL, uv_strerror(status));
        bstream_close(op->s);
        free(op);
        return;
    }
    op->req.data = op;
    int rc = uv_tcp_connect(&op->req, (uv_tcp_t *)uvstream_handle(op->s), res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (rc < 0) {
        op->cb(op->arg, NULL, uv_strerror(rc));
        bstream_close(op->s);
        free(op);
    }
}

int uvstream_connect_tcp(uv_loop_t *loop, const char *address, uvstream_connect_cb cb, void *arg)
{
    char host[256], port[16];
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address || (size_t)(colon - address) >= sizeof host || strlen(colon + 1) >= sizeof port)
        return -1;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = 0;
    strcpy(port, colon + 1);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct connect_op *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->s = uvstream_new(loop, 0);
    op->cb = cb;
    op->arg = arg;
    op->loop = loop;
    op->resolve.data = op;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    if (!op->s || uv_getaddrinfo(loop, &op->resolve, on_resolved, host, port, &hints) < 0) {
        if (op->s)
            bstream_close(op->s);
        free(op);
        return -1;
    }
    return 0;
}

int uvstream_connect_unix(uv_loop_t *loop, const char *path, uvstream_connect_cb cb, void *arg)
{
    struct connect_op *op = calloc(1, sizeof *op);
    if (!op)
        return -1;
    op->s = uvstream_new(loop, 1);
    if (!op->s) {
        free(op);
        return -1;
    }
    op->cb = cb;
    op->arg = arg;
    op->req.data = op;
    uv_pipe_connect(&op->req, (uv_pipe_t *)uvstream_handle(op->s), path, on_connected);
    return 0;
}
