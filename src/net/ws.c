/* ws.c - see ws.h.
 *
 * A ws_conn is one session over a bstream.  It goes through these states:
 *   PROXY   (dialer) CONNECT sent to an HTTP proxy, reading its answer
 *   HTTP    listener: reading the request head (<= 8 KiB, 5 s);
 *           dialer: upgrade request sent, reading the response head
 *   OPEN    wslay frames both ways; the link belongs to the mesh
 *   CLOSING a close frame or an HTTP error answer is being flushed; input is
 *           discarded; the stream closes on the peer's EOF or after 2 s
 * The handshake buffer exists only during PROXY/HTTP.  Bytes that follow a
 * head in the same read are fed to wslay, so nothing is lost.
 *
 * wslay runs on pushed input: conn_feed() points the recv callback at the
 * bytes just read and calls wslay_event_recv(); the callback says
 * WOULDBLOCK when they are used up, or as soon as the session must stop
 * (text frame, link closed from inside a message callback).  Output goes
 * through the send callback into the bstream; pieces marked WSLAY_MSG_MORE
 * (frame header, masked chunks) are gathered so one frame is one write.
 * Limits: messages and frames <= 65535 bytes (wslay closes with 1009 above
 * that), text frames close with 1003, queued output <= LINK_WRITE_BACKLOG.
 *
 * Back-pressure: wslay answers every ping with a pong and every close with
 * a close, whatever is already queued, so the mesh's send check cannot stop
 * them.  Everything wslay writes while it digests one read is gathered into
 * one write (one allocation per read, not one per pong); when the stream's
 * queue is then over LINK_WRITE_BACKLOG the session stops reading from the
 * peer until the queue drains (on_drain), as Go's blocking pong write does.
 * A peer that pings and never reads thus costs at most the backlog plus one
 * read, and its pings wait in the kernel.
 *
 * Calls from the mesh that arrive while wslay is inside a receive (a reply
 * sent, or the link closed, from on_message) are queued and acted on once
 * wslay_event_recv() has returned; wslay is never re-entered.
 *
 * Lifetime: every end goes through bstream_close(); the stream's on_close
 * closes the conn's timer, and the timer's close callback calls the link's
 * on_close (once, only if the mesh got the link), tells the dialer or
 * listener, and frees the conn.  Nothing is freed inside a caller's stack.
 *
 * TLS: with ws-listener `tls` each accepted socket is wrapped by tls_wrap()
 * before the HTTP head is read (the 5 s header timeout covers the TLS
 * handshake too); a wss:// dialer wraps the socket after connecting (and
 * after the proxy's CONNECT), sends its upgrade request at once (TLS holds
 * it until the handshake is done) and gets TLS failures through on_error,
 * which become the logged dial failure. */
#include "net/ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wslay/wslay.h>

#include "core/bstream.h"
#include "core/buf.h"
#include "core/gnutls_lib.h"
#include "core/log.h"
#include "net/dialer.h"
#include "net/tls.h"
#include "net/uvstream.h"
#include "net/ws_http.h"

#define CLOSE_FLUSH_MS 2000
#define LIMIT_REPORT_MS 5000
#define OUT_GATHER_MAX (WS_MAX_MESSAGE + 16)

enum ws_state { WS_CONNECTING, WS_PROXY, WS_HTTP, WS_OPEN, WS_CLOSING };

struct ws_conn {
    struct link link;
    struct bstream *s;
    wslay_event_context_ptr ctx;
    enum ws_state state;
    int server;           /* accepted by a listener */
    int aborted;          /* bstream_close() called: ignore further input */
    int adopted;          /* the mesh has the link: on_close is owed */
    int in_feed;          /* inside wslay_event_recv() */
    int close_wanted;     /* link_close() arrived during a feed */
    int gather;           /* inside conn_feed(): every output piece goes to out */
    int paused;           /* reading stopped until the write queue drains */
    int in_handshake_count;
    const char *fail;     /* why the session must end (set in callbacks) */
    uint16_t fail_code;
    struct ws_listener *ls;
    struct ws_dialer *d;
    const char *path;     /* server: the ServeMux pattern */
    link_new_cb cb;       /* who gets the link */
    void *cb_arg;
    struct ws_conn *next, **prevp;
    uv_timer_t timer;
    struct buf head;      /* HTTP head being read */
    struct buf out;       /* frame pieces gathered until the last one */
    const uint8_t *in;
    size_t inlen;
    char key[WS_KEY_LEN + 1];
    char why[240];        /* dialer: why the dial failed */
};

struct ws_listener {
    uv_tcp_t tcp;
    struct tls_config *tls;
    link_new_cb cb;
    void *arg;
    char path[1024];
    struct ws_conn *conns;
    size_t nconns, nhandshakes;
    uint64_t refused, last_report;
    char desc[80];
};

struct ws_proxy {
    int on;
    char host[256], port[8];
    char auth[448];
};

/* dl.busy: resolving; dl.session: the ws_conn (open or in its handshake). */
struct ws_dialer {
    struct dialer dl;
    uv_connect_t connect;
    struct ws_url url;
    struct ws_proxy proxy;
    struct tls_config *tls;   /* wss:// */
    char address[2100];
    char extraheader[1100];
};

static void conn_begin_close(struct ws_conn *c);
static void conn_feed(struct ws_conn *c, const uint8_t *data, size_t len);

/* ---- conn lifetime ------------------------------------------------------ */

static void conn_freed(uv_handle_t *h)
{
    struct ws_conn *c = h->data;
    if (c->adopted && c->link.on_close)
        c->link.on_close(&c->link);
    if (c->ls) {
        *c->prevp = c->next;
        if (c->next)
            c->next->prevp = c->prevp;
        c->ls->nconns--;
        if (c->in_handshake_count)
            c->ls->nhandshakes--;
    }
    struct ws_dialer *d = c->d;
    if (d)
        dialer_end_session(&d->dl, c->adopted ? NULL
                                   : c->why[0] ? c->why
                                               : "connection closed during the handshake");
    wslay_event_context_free(c->ctx);
    buf_free(&c->head);
    buf_free(&c->out);
    free(c);
}

static void on_stream_close(struct bstream *s)
{
    struct ws_conn *c = s->data;
    c->s = NULL;
    uv_close((uv_handle_t *)&c->timer, conn_freed);
}

static void conn_abort(struct ws_conn *c)
{
    c->aborted = 1;
    if (c->s)
        bstream_close(c->s);
}

static void conn_fail(struct ws_conn *c, const char *why)
{
    if (!c->why[0])
        snprintf(c->why, sizeof c->why, "%.200s", why);
    conn_abort(c);
}

static void on_stream_eof(struct bstream *s) { conn_abort(s->data); }

static void on_stream_error(struct bstream *s, const char *msg)
{
    struct ws_conn *c = s->data;
    log_debug("%s: %s", c->link.desc[0] ? c->link.desc : s->desc, msg);
    if (!c->why[0])
        snprintf(c->why, sizeof c->why, "%s", msg);
}

/* ---- wslay callbacks ---------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                          void *user)
{
    (void)flags;
    struct ws_conn *c = user;
    if (c->fail || c->close_wanted || c->inlen == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < c->inlen ? len : c->inlen;
    memcpy(buf, c->in, n);
    c->in += n;
    c->inlen -= n;
    return (ssize_t)n;
}

/* Writes what was gathered in out as one write. */
static int out_write(struct ws_conn *c)
{
    if (buf_size(&c->out) == 0 || !c->s)
        return 0;
    int rc = bstream_write(c->s, buf_head(&c->out), buf_size(&c->out));
    if (c->out.cap > 16384)
        buf_free(&c->out);
    else
        buf_reset(&c->out);
    return rc;
}

/* Gathers a piece; writes the gathered bytes when the piece ends a frame
 * outside a feed, or when out is full (then the piece follows them). */
static int out_put(struct ws_conn *c, const uint8_t *data, size_t len, int more)
{
    if (buf_append(&c->out, data, len) == 0)
        return more || c->gather ? 0 : out_write(c);
    int rc = out_write(c);
    if (rc == 0 && buf_append(&c->out, data, len) < 0)
        rc = bstream_write(c->s, data, len);
    return rc;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    struct ws_conn *c = user;
    int rc = -1;
    if (c->s)
        rc = out_put(c, data, len, (flags & WSLAY_MSG_MORE) != 0);
    if (rc < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    (void)user;
    return gnutls_rnd(GNUTLS_RND_NONCE, buf, len) < 0 ? -1 : 0;
}

static void ws_frame_start_cb(wslay_event_context_ptr ctx,
                              const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    (void)ctx;
    struct ws_conn *c = user;
    if (c->fail)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        c->fail = "received a text frame; only binary messages carry mesh messages";
        c->fail_code = WSLAY_CODE_UNSUPPORTED_DATA;
    } else if (!wslay_is_ctrl_frame(arg->opcode) && arg->payload_length > WS_MAX_MESSAGE) {
        c->fail = "received a frame larger than 65535 bytes";
        c->fail_code = WSLAY_CODE_MESSAGE_TOO_BIG;
    }
}

static void ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    struct ws_conn *c = user;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        log_debug("%s: peer closed the websocket (status %u)", c->link.desc, arg->status_code);
        return;
    }
    if (arg->opcode != WSLAY_BINARY_FRAME || c->fail || c->close_wanted || c->state != WS_OPEN)
        return;
    if (arg->msg_length == 0) {
        log_warning("%s: ignoring an empty websocket message", c->link.desc);
        return;
    }
    if (c->link.on_message)
        c->link.on_message(&c->link, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_callbacks = {
    ws_recv_cb, ws_send_cb, ws_genmask_cb, ws_frame_start_cb, NULL, NULL, ws_msg_cb,
};

/* ---- the open session --------------------------------------------------- */

/* Sends a close frame (if the session can still send) and flushes. */
static void conn_close_with(struct ws_conn *c, uint16_t code)
{
    if (c->state == WS_OPEN && wslay_event_get_write_enabled(c->ctx)) {
        wslay_event_queue_close(c->ctx, code, NULL, 0);
        wslay_event_send(c->ctx);
    }
    conn_begin_close(c);
}

static void conn_check_ended(struct ws_conn *c, int rc)
{
    if (c->fail) {
        log_warning("%s: %s; closing the session", c->link.desc, c->fail);
        conn_close_with(c, c->fail_code);
        return;
    }
    if (c->close_wanted) {
        conn_close_with(c, WSLAY_CODE_NORMAL_CLOSURE);
        return;
    }
    if (rc != 0) {
        log_warning("%s: websocket I/O failed (wslay error %d); closing", c->link.desc, rc);
        conn_abort(c);
        return;
    }
    if (wslay_event_get_read_enabled(c->ctx))
        return;
    if (!wslay_event_get_close_received(c->ctx)) {
        uint16_t code = wslay_event_get_status_code_sent(c->ctx);
        if (code == WSLAY_CODE_MESSAGE_TOO_BIG)
            log_warning("%s: received a message larger than 65535 bytes; closing the session",
                        c->link.desc);
        else
            log_warning("%s: websocket protocol error (sent close status %u); closing the session",
                        c->link.desc, code);
    }
    conn_begin_close(c);
}

/* Stops reading from a peer that does not read what we queue for it
 * (pongs it asked for included); on_stream_drain resumes. */
static void conn_check_backlog(struct ws_conn *c)
{
    if (c->paused || c->aborted || c->state != WS_OPEN || !c->s ||
        bstream_queued(c->s) <= LINK_WRITE_BACKLOG)
        return;
    c->paused = 1;
    bstream_read_stop(c->s);
    log_debug("%s: the peer is not reading (%zu bytes queued for it); not reading from it "
              "until it does", c->link.desc, bstream_queued(c->s));
}

static void on_stream_drain(struct bstream *s)
{
    struct ws_conn *c = s->data;
    if (!c->paused || c->aborted || c->state != WS_OPEN)
        return;
    c->paused = 0;
    bstream_read_start(s);
}

static void conn_feed(struct ws_conn *c, const uint8_t *data, size_t len)
{
    if (c->state != WS_OPEN || len == 0)
        return;
    c->in = data;
    c->inlen = len;
    c->in_feed = 1;
    c->gather = 1;
    int rc = wslay_event_recv(c->ctx);
    c->in_feed = 0;
    c->in = NULL;
    c->inlen = 0;
    if (rc == 0 && c->state == WS_OPEN)
        rc = wslay_event_send(c->ctx);
    c->gather = 0;
    if (out_write(c) < 0 && rc == 0)
        rc = WSLAY_ERR_CALLBACK_FAILURE;
    if (c->state == WS_OPEN)
        conn_check_ended(c, rc);
    conn_check_backlog(c);
}

static int ws_link_send(struct link *l, const uint8_t *head, size_t hlen, const uint8_t *body,
                        size_t blen)
{
    struct ws_conn *c = (struct ws_conn *)l;
    size_t n = hlen + blen;
    if (c->state != WS_OPEN || c->close_wanted || !c->s || !wslay_event_get_write_enabled(c->ctx))
        return -EPIPE;
    if (n == 0 || n > WS_MAX_MESSAGE)
        return -EMSGSIZE;
    if (bstream_queued(c->s) + wslay_event_get_queued_msg_length(c->ctx) + n > LINK_WRITE_BACKLOG)
        return -ENOBUFS;
    uint8_t *tmp = NULL;
    const uint8_t *msg = head;
    if (blen) {
        if (!(tmp = malloc(n)))
            return -ENOMEM;
        memcpy(tmp, head, hlen);
        memcpy(tmp + hlen, body, blen);
        msg = tmp;
    }
    struct wslay_event_msg m = { WSLAY_BINARY_FRAME, msg, n };
    int rc = wslay_event_queue_msg(c->ctx, &m);
    free(tmp);
    if (rc != 0)
        return rc == WSLAY_ERR_NOMEM ? -ENOMEM : -EPIPE;
    if (!c->in_feed && wslay_event_send(c->ctx) != 0) {
        log_debug("%s: send failed", l->desc);
        conn_abort(c);
        return -EPIPE;
    }
    return 0;
}

static void ws_link_close(struct link *l)
{
    struct ws_conn *c = (struct ws_conn *)l;
    if (c->state != WS_OPEN)
        return;
    if (c->in_feed) {
        c->close_wanted = 1;
        return;
    }
    conn_close_with(c, WSLAY_CODE_NORMAL_CLOSURE);
}

static const struct link_ops ws_link_ops = { .send = ws_link_send, .close = ws_link_close };

static void on_timer(uv_timer_t *t);

static void conn_begin_close(struct ws_conn *c)
{
    if (c->state == WS_CLOSING || !c->s)
        return;
    c->state = WS_CLOSING;
    bstream_shutdown(c->s);
    uv_timer_start(&c->timer, on_timer, CLOSE_FLUSH_MS, 0);
}

/* Leaves the handshake: wslay takes over and the mesh gets the link. */
static int conn_open(struct ws_conn *c, int server, link_new_cb cb, void *arg)
{
    int rc = server ? wslay_event_context_server_init(&c->ctx, &ws_callbacks, c)
                    : wslay_event_context_client_init(&c->ctx, &ws_callbacks, c);
    if (rc != 0)
        return -1;
    wslay_event_config_set_max_recv_msg_length(c->ctx, WS_MAX_MESSAGE);
    uv_timer_stop(&c->timer);
    c->state = WS_OPEN;
    if (c->ls && c->in_handshake_count) {
        c->in_handshake_count = 0;
        c->ls->nhandshakes--;
    }
    c->adopted = 1;
    c->link.backend_arg = arg;
    cb(arg, &c->link);
    return 0;
}

/* Feeds what followed the head: the rest of the head buffer, then the rest
 * of the read, and drops the handshake buffer. */
static void conn_feed_leftover(struct ws_conn *c, size_t headlen, const uint8_t *rest,
                               size_t restlen)
{
    struct buf h = c->head;
    buf_init(&c->head, WS_HTTP_HEAD_MAX);
    conn_feed(c, buf_head(&h) + headlen, buf_size(&h) - headlen);
    conn_feed(c, rest, restlen);
    buf_free(&h);
}

static void on_timer(uv_timer_t *t)
{
    struct ws_conn *c = t->data;
    switch (c->state) {
    case WS_CLOSING:
        conn_abort(c);
        break;
    case WS_HTTP:
        if (c->server) {
            log_warning("%s: no complete HTTP request within %d s; closing", c->link.desc,
                        WS_HEADER_TIMEOUT_MS / 1000);
            conn_abort(c);
            break;
        }
        /* fall through */
    default:
        conn_fail(c, "no answer to the websocket handshake in time");
        break;
    }
}

/* Takes handshake bytes: 1 with *headlen when the head is complete, 0 for
 * more, -1 when it does not fit.  *used = bytes of data taken. */
static int head_take(struct ws_conn *c, const uint8_t *data, size_t len, size_t *used,
                     size_t *headlen)
{
    size_t before = buf_size(&c->head);
    size_t room = WS_HTTP_HEAD_MAX - before;
    size_t n = len < room ? len : room;
    if (buf_append(&c->head, data, n) < 0)
        return -1;
    *used = n;
    size_t from = before > 3 ? before - 3 : 0;
    size_t e = ws_http_head_len(buf_head(&c->head) + from, buf_size(&c->head) - from);
    if (e) {
        *headlen = from + e;
        return 1;
    }
    return buf_size(&c->head) >= WS_HTTP_HEAD_MAX ? -1 : 0;
}

static void on_stream_read(struct bstream *s, const uint8_t *data, size_t len);

static void conn_attach(struct ws_conn *c, struct bstream *s)
{
    c->s = s;
    s->data = c;
    s->on_read = on_stream_read;
    s->on_eof = on_stream_eof;
    s->on_error = on_stream_error;
    s->on_drain = on_stream_drain;
    s->on_close = on_stream_close;
}

static struct ws_conn *conn_new(uv_loop_t *loop, struct bstream *s)
{
    struct ws_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->link.ops = &ws_link_ops;
    buf_init(&c->head, WS_HTTP_HEAD_MAX);
    buf_init(&c->out, OUT_GATHER_MAX);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    conn_attach(c, s);
    return c;
}

static void conn_describe(struct ws_conn *c, int tls)
{
    const char *d = c->s->desc;
    if (strncmp(d, "tcp ", 4) == 0 || strncmp(d, "tls ", 4) == 0)
        d += 4;
    snprintf(c->link.desc, sizeof c->link.desc, "%s %.88s", tls ? "wss" : "ws", d);
}

/* ---- listener ----------------------------------------------------------- */

static void server_handshake(struct ws_conn *c, size_t headlen, const uint8_t *rest,
                             size_t restlen)
{
    struct ws_http_verdict *v = malloc(sizeof *v);
    if (!v) {
        conn_abort(c);
        return;
    }
    ws_http_serve(buf_head(&c->head), headlen, c->path, v);
    bstream_write(c->s, v->response, v->response_len);
    if (v->status != 101) {
        log_warning("%s: websocket handshake refused with HTTP %d: %s", c->link.desc, v->status,
                    v->why);
        free(v);
        conn_begin_close(c);
        return;
    }
    free(v);
    if (conn_open(c, 1, c->cb, c->cb_arg) < 0) {
        conn_abort(c);
        return;
    }
    conn_feed_leftover(c, headlen, rest, restlen);
}

static void server_read(struct ws_conn *c, const uint8_t *data, size_t len)
{
    size_t used = 0, headlen = 0;
    int rc = head_take(c, data, len, &used, &headlen);
    if (rc == 0)
        return;
    if (rc < 0) {
        struct ws_http_verdict *v = malloc(sizeof *v);
        if (v) {
            ws_http_error(431, "request header larger than 8 KiB", v);
            bstream_write(c->s, v->response, v->response_len);
            free(v);
        }
        log_warning("%s: HTTP request header larger than %d bytes; closing", c->link.desc,
                    WS_HTTP_HEAD_MAX);
        conn_begin_close(c);
        return;
    }
    server_handshake(c, headlen, data + used, len - used);
}

static void client_read(struct ws_conn *c, const uint8_t *data, size_t len);

static void on_stream_read(struct bstream *s, const uint8_t *data, size_t len)
{
    struct ws_conn *c = s->data;
    if (c->aborted)
        return;
    switch (c->state) {
    case WS_OPEN:
        conn_feed(c, data, len);
        break;
    case WS_HTTP:
    case WS_PROXY:
        if (c->server)
            server_read(c, data, len);
        else
            client_read(c, data, len);
        break;
    default:
        break; /* CLOSING: discard */
    }
}

static void listener_report(struct ws_listener *ls)
{
    uint64_t now = uv_now(ls->tcp.loop);
    ls->refused++;
    if (ls->last_report && now - ls->last_report < LIMIT_REPORT_MS)
        return;
    log_warning("%s: too many sessions (%zu open, %zu in handshake; limits %d/%d): refused %llu",
                ls->desc, ls->nconns, ls->nhandshakes, WS_MAX_SESSIONS, WS_MAX_HANDSHAKES,
                (unsigned long long)ls->refused);
    ls->last_report = now;
    ls->refused = 0;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ws_listener *ls = server->data;
    struct bstream *s = uvstream_accept(server, status, ls->desc);
    if (!s)
        return;
    if (ls->nconns >= WS_MAX_SESSIONS || ls->nhandshakes >= WS_MAX_HANDSHAKES) {
        listener_report(ls);
        bstream_close(s);
        return;
    }
    uvstream_start(s);
    if (ls->tls) {
        char err[256];
        struct bstream *w = tls_wrap(s, ls->tls, 1, NULL, NULL, server->loop,
                                     WS_HEADER_TIMEOUT_MS, err, sizeof err);
        if (!w) {
            log_error("%s: %s", s->desc, err);
            bstream_close(s);
            return;
        }
        s = w;
        bstream_read_start(s);
    }
    struct ws_conn *c = conn_new(server->loop, s);
    if (!c) {
        bstream_close(s);
        return;
    }
    c->ls = ls;
    c->server = 1;
    c->path = ls->path;
    c->cb = ls->cb;
    c->cb_arg = ls->arg;
    c->next = ls->conns;
    if (c->next)
        c->next->prevp = &c->next;
    c->prevp = &ls->conns;
    ls->conns = c;
    ls->nconns++;
    ls->nhandshakes++;
    c->in_handshake_count = 1;
    c->state = WS_HTTP;
    conn_describe(c, ls->tls != NULL);
    uv_timer_start(&c->timer, on_timer, WS_HEADER_TIMEOUT_MS, 0);
}

static int normalise_path(const char *path, char *out, size_t outlen)
{
    if (!path || !*path)
        path = "/";
    int n = snprintf(out, outlen, "%s%s", path[0] == '/' ? "" : "/", path);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

struct ws_listener *ws_listener_start(uv_loop_t *loop, const struct ws_listener_config *cfg,
                                      link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (uv_ip4_addr(cfg->bindaddr, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(cfg->bindaddr, cfg->port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "invalid bind address %s", cfg->bindaddr);
        return NULL;
    }
    struct ws_listener *ls = calloc(1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (normalise_path(cfg->path, ls->path, sizeof ls->path) < 0) {
        snprintf(err, errlen, "ws-listener path too long");
        free(ls);
        return NULL;
    }
    snprintf(ls->desc, sizeof ls->desc, "ws listener %s:%d", cfg->bindaddr, cfg->port);
    uv_tcp_init(loop, &ls->tcp);
    ls->tcp.data = ls;
    ls->cb = cb;
    ls->arg = arg;
    ls->tls = cfg->tls;
    int rc = uv_tcp_bind(&ls->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ls->tcp, 128, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "listen tcp %s:%d: %s", cfg->bindaddr, cfg->port, uv_strerror(rc));
        uv_close((uv_handle_t *)&ls->tcp, (uv_close_cb)free);
        return NULL;
    }
    log_debug("Listening on %s:%d (websocket path %s%s)", cfg->bindaddr, cfg->port, ls->path,
              cfg->tls ? ", TLS" : "");
    return ls;
}

void ws_listener_stop(struct ws_listener *ls)
{
    struct ws_conn *c = ls->conns, *next;
    for (; c; c = next) {
        next = c->next;
        c->ls = NULL; /* the listener is gone before the conns */
        if (c->state == WS_OPEN && !c->in_feed)
            conn_close_with(c, WSLAY_CODE_GOING_AWAY);
        else
            conn_abort(c);
    }
    ls->conns = NULL;
    uv_close((uv_handle_t *)&ls->tcp, (uv_close_cb)free);
}

/* ---- sessions over any stream ------------------------------------------- */

int ws_session_start(uv_loop_t *loop, struct bstream *s, int server, const char *path,
                     link_new_cb cb, void *arg)
{
    struct ws_conn *c = conn_new(loop, s);
    if (!c)
        return -1;
    c->server = server;
    c->path = path;
    c->cb = cb;
    c->cb_arg = arg;
    conn_describe(c, 0);
    if (server) {
        c->state = WS_HTTP;
        uv_timer_start(&c->timer, on_timer, WS_HEADER_TIMEOUT_MS, 0);
    } else if (conn_open(c, 0, cb, arg) < 0) {
        conn_abort(c);
    }
    return 0;
}

/* ---- dialer: proxies ---------------------------------------------------- */

static const char *env2(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (!v || !*v)
        v = getenv(b);
    return v && *v ? v : NULL;
}

static int host_is_loopback(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* One NO_PROXY entry against host (domains match their subdomains). */
static int no_proxy_entry(const char *e, size_t el, const char *host)
{
    char ent[256];
    if (el == 0 || el >= sizeof ent)
        return 0;
    memcpy(ent, e, el);
    ent[el] = 0;
    if (strcmp(ent, "*") == 0)
        return 1;
    char *colon = strrchr(ent, ':');
    if (colon && !strchr(ent, ']') && strchr(ent, ':') == colon)
        *colon = 0; /* host:port -> host */
    const char *d = ent;
    if (d[0] == '*' && d[1] == '.')
        d++;
    if (d[0] == '.') {
        size_t dl = strlen(d), hl = strlen(host);
        return (hl > dl && strcasecmp(host + hl - dl, d) == 0) || strcasecmp(host, d + 1) == 0;
    }
    size_t dl = strlen(d), hl = strlen(host);
    if (strcasecmp(host, d) == 0)
        return 1;
    return hl > dl + 1 && host[hl - dl - 1] == '.' && strcasecmp(host + hl - dl, d) == 0;
}

static int no_proxy_matches(const char *host)
{
    const char *np = env2("NO_PROXY", "no_proxy");
    if (!np)
        return 0;
    const char *s = np;
    while (*s) {
        size_t n = strcspn(s, ", ");
        if (no_proxy_entry(s, n, host))
            return 1;
        s += n;
        while (*s == ',' || *s == ' ')
            s++;
    }
    return 0;
}

/* Go's http.ProxyFromEnvironment for our URL; -1 with err for an unusable
 * proxy setting. */
static int proxy_from_env(const struct ws_url *u, struct ws_proxy *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    const char *v = u->tls ? env2("HTTPS_PROXY", "https_proxy") : env2("HTTP_PROXY", "http_proxy");
    if (!u->tls && getenv("REQUEST_METHOD"))
        v = NULL; /* CGI: HTTP_PROXY may come from the client */
    if (!v || host_is_loopback(u->host) || no_proxy_matches(u->host))
        return 0;
    char url[1200];
    snprintf(url, sizeof url, "%s%s", strstr(v, "://") ? "" : "http://", v);
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errlen, "proxy %.200s: only http:// proxies are supported", v);
        return -1;
    }
    struct ws_url pu;
    char tmp[1210];
    snprintf(tmp, sizeof tmp, "ws://%s", url + 7);
    if (ws_url_parse(tmp, &pu, err, errlen) < 0)
        return -1;
    p->on = 1;
    snprintf(p->host, sizeof p->host, "%s", pu.host);
    snprintf(p->port, sizeof p->port, "%s", pu.port);
    snprintf(p->auth, sizeof p->auth, "%s", pu.auth);
    return 0;
}

/* ---- dialer: handshake -------------------------------------------------- */

static void client_send_upgrade(struct ws_conn *c)
{
    struct ws_dialer *d = c->d;
    char req[4096];
    if (ws_http_new_key(c->key) < 0) {
        conn_fail(c, "cannot make a Sec-WebSocket-Key");
        return;
    }
    int n = ws_http_request(&d->url, c->key, d->extraheader, req, sizeof req);
    if (n < 0 || bstream_write(c->s, req, (size_t)n) < 0) {
        conn_fail(c, "cannot send the upgrade request");
        return;
    }
    buf_reset(&c->head);
    c->state = WS_HTTP;
}

/* wss: TLS over the connected socket (or the proxy tunnel), then the
 * upgrade request, which TLS sends once its handshake is done. */
static void client_secure_and_upgrade(struct ws_conn *c)
{
    struct ws_dialer *d = c->d;
    if (d->url.tls) {
        char err[256];
        struct bstream *w = tls_wrap(c->s, d->tls, 0, d->url.host, NULL, d->dl.loop,
                                     WS_TLS_DIAL_TIMEOUT_MS, err, sizeof err);
        if (!w) {
            conn_fail(c, err);
            return;
        }
        conn_attach(c, w);
        bstream_read_start(w);
    }
    client_send_upgrade(c);
}

static void client_send_connect(struct ws_conn *c)
{
    struct ws_dialer *d = c->d;
    char req[1024], hostport[300];
    snprintf(hostport, sizeof hostport, "%s%s%s:%s", strchr(d->url.host, ':') ? "[" : "",
             d->url.host, strchr(d->url.host, ':') ? "]" : "", d->url.port);
    int n = ws_http_connect_request(hostport, d->proxy.auth, req, sizeof req);
    if (n < 0 || bstream_write(c->s, req, (size_t)n) < 0) {
        conn_fail(c, "cannot send CONNECT to the proxy");
        return;
    }
    c->state = WS_PROXY;
}

static void client_read(struct ws_conn *c, const uint8_t *data, size_t len)
{
    size_t used = 0, headlen = 0;
    int rc = head_take(c, data, len, &used, &headlen);
    if (rc == 0)
        return;
    if (rc < 0) {
        conn_fail(c, "HTTP response header larger than 8 KiB");
        return;
    }
    char why[200];
    if (c->state == WS_PROXY) {
        if (ws_http_check_connect(buf_head(&c->head), headlen, why, sizeof why) < 0) {
            conn_fail(c, why);
        } else if (buf_size(&c->head) > headlen || used < len) {
            conn_fail(c, "proxy sent bytes after its CONNECT answer");
        } else {
            client_secure_and_upgrade(c);
        }
        return;
    }
    if (ws_http_check_response(buf_head(&c->head), headlen, c->key, why, sizeof why) < 0) {
        conn_fail(c, why);
        return;
    }
    if (conn_open(c, 0, c->d->dl.cb, c->d->dl.arg) < 0) {
        conn_fail(c, "out of memory");
        return;
    }
    dialer_reset_backoff(&c->d->dl);
    log_debug("%s: websocket connected to %s", c->link.desc, c->d->address);
    conn_feed_leftover(c, headlen, data + used, len - used);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct ws_conn *c = req->data;
    if (status < 0) {
        conn_fail(c, uv_strerror(status));
        return;
    }
    if (!c->s || c->state != WS_CONNECTING)
        return;
    uvstream_start(c->s);
    conn_describe(c, c->d->url.tls);
    uv_timer_start(&c->timer, on_timer, WS_RESPONSE_TIMEOUT_MS, 0);
    if (c->d->proxy.on)
        client_send_connect(c);
    else
        client_secure_and_upgrade(c);
}

/* ---- dialer: redial ----------------------------------------------------- */

static void on_address(struct dialer *dl, const struct sockaddr *addr)
{
    struct ws_dialer *d = dl->owner;
    dl->busy = 0;
    struct bstream *s = uvstream_new(dl->loop, 0);
    struct ws_conn *c = s ? conn_new(dl->loop, s) : NULL;
    if (!c) {
        if (s)
            bstream_close(s);
        dialer_fail_dial(dl, "out of memory");
        return;
    }
    c->d = d;
    c->state = WS_CONNECTING;
    snprintf(c->link.desc, sizeof c->link.desc, "ws %.80s", d->address);
    dl->session = c;
    d->connect.data = c;
    int rc = uv_tcp_connect(&d->connect, (uv_tcp_t *)uvstream_handle(s), addr, on_connect);
    if (rc < 0)
        conn_fail(c, uv_strerror(rc));
}

/* One attempt (the dialer is idle): resolve the server or the proxy, then
 * connect (on_connect). */
static void dial_now(struct dialer *dl)
{
    struct ws_dialer *d = dl->owner;
    const char *host = d->proxy.on ? d->proxy.host : d->url.host;
    const char *port = d->proxy.on ? d->proxy.port : d->url.port;
    dialer_resolve_target(dl, host, port, SOCK_STREAM, on_address);
}

struct ws_dialer *ws_dialer_start(uv_loop_t *loop, const struct ws_dialer_config *cfg,
                                  link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct ws_dialer *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *extra = cfg->extraheader ? cfg->extraheader : "";
    if (snprintf(d->address, sizeof d->address, "%s", cfg->address) >= (int)sizeof d->address ||
        snprintf(d->extraheader, sizeof d->extraheader, "%s", extra) >= (int)sizeof d->extraheader) {
        snprintf(err, errlen, "ws-peer address or extraheader too long");
        free(d);
        return NULL;
    }
    if (ws_url_parse(cfg->address, &d->url, err, errlen) < 0 ||
        ws_http_check_extraheader(extra, err, errlen) < 0 ||
        proxy_from_env(&d->url, &d->proxy, err, errlen) < 0) {
        free(d);
        return NULL;
    }
    if (d->url.tls && !cfg->tls) {
        snprintf(err, errlen,
                 "ws-peer %s: wss:// needs tls naming a tls-client config "
                 "(upstream fails here with: pinned fingerprints missing for default)",
                 cfg->address);
        free(d);
        return NULL;
    }
    d->tls = cfg->tls;
    dialer_start_dialing(&d->dl, loop, cfg->redial, cb, arg, d->address, dial_now, d);
    return d;
}

void ws_dialer_stop(struct ws_dialer *d)
{
    struct ws_conn *c = d->dl.session;
    dialer_stop_dialing(&d->dl);
    if (c) {
        if (c->state == WS_OPEN && !c->in_feed)
            conn_close_with(c, WSLAY_CODE_GOING_AWAY);
        else
            conn_abort(c);
    }
    dialer_free_if_idle(&d->dl);
}
