/* tcp.c - see tcp.h.
 *
 * A tcp_link owns a byte stream (a uvstream, or TLS over one), a framer
 * for input and a flush timer.  Sends frame the message into the link's
 * cork buffer, written to the stream once per loop iteration (a uv_check
 * handle): a hop relaying a burst of updates to many peers makes one write
 * per peer, not one per message and peer.  The stream's queue plus the cork
 * is the link's backlog (queued()); the link's on_drain runs when the
 * stream has handed everything to the kernel, so a writer with more to
 * send (the mesh's table) can wait for it instead of queueing it all.
 * Closing half-closes the stream once queued writes (and TLS's
 * close_notify) are out, so a reject message reaches the peer, with the
 * timer forcing the close if the peer does not read.  The link is freed only after both the stream and
 * the timer have reported their close.
 *
 * A link is "open" once the mesh has it: at once for plain TCP, after the
 * handshake for TLS.  A link that never opened ends silently for the mesh;
 * for a dialer it counts as a failed dial (back-off), with its reason. */
#include "net/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bstream.h"
#include "core/buf.h"
#include "core/log.h"
#include "net/dialer.h"
#include "net/framer.h"
#include "net/tls.h"
#include "net/uvstream.h"

#define CLOSE_FLUSH_MS 2000
#define CORK_MAX (2 + LINK_MAX_MESSAGE)   /* one frame always fits */
#define LISTENER_HANDSHAKE_MS 15000
#define LISTENER_MAX_HANDSHAKES 256   /* TLS sessions not yet verified, per listener */

struct tcp_link {
    struct link link;
    struct bstream *bs;
    uv_timer_t flush_timer;
    uv_check_t cork_check;
    struct buf cork;   /* frames not yet handed to the stream */
    struct framer fr;
    int is_tls;
    int open;          /* handed to the mesh */
    int closing;
    int bs_closed, timer_closed, check_closed;
    char why[700];     /* why a link that never opened ended */
    struct tcp_listener *listener;
    struct tcp_dialer *dialer;
    struct tcp_link *next;
};

struct tcp_listener {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    struct tls_config *tls;
    link_new_cb cb;
    void *arg;
    struct tcp_link *links;
    int handshakes;       /* links still in their TLS handshake */
    char desc[80];
};

/* dl.timer: the next dial; during a TLS dial, its deadline.  dl.busy: a
 * resolve or connect is in flight; dl.session: the tcp_link (open or in its
 * TLS handshake). */
struct tcp_dialer {
    struct dialer dl;
    struct bstream *pending;    /* socket being connected */
    uv_connect_t connect;
    struct tls_config *tls;
    char host[256], port[16];
    char target[300];           /* "tcp host:port" */
    int timed_out;
    uint64_t dial_start;
};

/* ---- links -------------------------------------------------------------- */

static void link_unlist(struct tcp_link *tl)
{
    if (!tl->listener)
        return;
    if (!tl->open && tl->is_tls)
        tl->listener->handshakes--;
    struct tcp_link **pp = &tl->listener->links;
    while (*pp && *pp != tl)
        pp = &(*pp)->next;
    if (*pp)
        *pp = tl->next;
}

static void link_dialer_done(struct tcp_link *tl)
{
    struct tcp_dialer *d = tl->dialer;
    if (!d)
        return;
    dialer_end_session(&d->dl, tl->open ? NULL : tl->why[0] ? tl->why : "connection closed");
}

static void link_maybe_free(struct tcp_link *tl)
{
    if (!tl->bs_closed || !tl->timer_closed || !tl->check_closed)
        return;
    if (tl->open && tl->link.on_close)
        tl->link.on_close(&tl->link);
    link_unlist(tl);
    link_dialer_done(tl);
    framer_free(&tl->fr);
    buf_free(&tl->cork);
    free(tl);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tcp_link *tl = h->data;
    tl->timer_closed = 1;
    link_maybe_free(tl);
}

static void on_check_closed(uv_handle_t *h)
{
    struct tcp_link *tl = h->data;
    tl->check_closed = 1;
    link_maybe_free(tl);
}

/* Hands the corked frames to the stream (its buffer is given back: a hop
 * has hundreds of links, most of them idle). */
static void cork_flush(struct tcp_link *tl)
{
    if (buf_size(&tl->cork) > 0 && !tl->bs_closed && bstream_write(tl->bs, buf_head(&tl->cork), buf_size(&tl->cork)) < 0)
        log_debug("%s: write failed", tl->link.desc);
    buf_free(&tl->cork);
    buf_init(&tl->cork, CORK_MAX);
    uv_check_stop(&tl->cork_check);
}

static void on_cork_check(uv_check_t *h) { cork_flush(h->data); }

static void link_close_now(struct tcp_link *tl)
{
    tl->closing = 1;
    buf_free(&tl->cork); /* a failure close: nothing more is written */
    buf_init(&tl->cork, CORK_MAX);
    if (!uv_is_closing((uv_handle_t *)&tl->cork_check))
        uv_close((uv_handle_t *)&tl->cork_check, on_check_closed);
    if (!uv_is_closing((uv_handle_t *)&tl->flush_timer))
        uv_close((uv_handle_t *)&tl->flush_timer, on_timer_closed);
    if (!tl->bs_closed)
        bstream_close(tl->bs);
}

static void on_flush_timeout(uv_timer_t *t) { link_close_now(t->data); }

/* Flushes queued writes (and close_notify), then closes. */
static void tcp_link_close(struct link *l)
{
    struct tcp_link *tl = (struct tcp_link *)l;
    if (tl->closing)
        return;
    tl->closing = 1;
    if (tl->bs_closed) {
        link_close_now(tl);
        return;
    }
    cork_flush(tl); /* e.g. a reject message: it goes before the half-close */
    bstream_read_stop(tl->bs);
    bstream_shutdown(tl->bs);
    if (bstream_queued(tl->bs) == 0) {
        link_close_now(tl);
        return;
    }
    uv_timer_start(&tl->flush_timer, on_flush_timeout, CLOSE_FLUSH_MS, 0);
}

static size_t tcp_link_queued(struct link *l)
{
    struct tcp_link *tl = (struct tcp_link *)l;
    return (tl->bs_closed ? 0 : bstream_queued(tl->bs)) + buf_size(&tl->cork);
}

static int tcp_link_send(struct link *l, const uint8_t *head, size_t hlen,
                         const uint8_t *body, size_t blen)
{
    struct tcp_link *tl = (struct tcp_link *)l;
    size_t n = hlen + blen;
    if (tl->closing || tl->bs_closed)
        return -EPIPE;
    if (n == 0 || n > LINK_MAX_MESSAGE)
        return -EMSGSIZE;
    if (tcp_link_queued(l) + n + 2 > LINK_WRITE_BACKLOG)
        return -ENOBUFS;
    if (buf_room(&tl->cork) < n + 2)
        cork_flush(tl);
    uint8_t *frame = buf_reserve(&tl->cork, n + 2);
    if (!frame)
        return -ENOBUFS;
    framer_prefix(n, frame);
    memcpy(frame + 2, head, hlen);
    if (blen)
        memcpy(frame + 2 + hlen, body, blen);
    buf_commit(&tl->cork, n + 2);
    if (!uv_is_active((uv_handle_t *)&tl->cork_check))
        uv_check_start(&tl->cork_check, on_cork_check);
    return 0;
}

static const struct link_ops tcp_link_ops = {
    .send = tcp_link_send, .close = tcp_link_close, .queued = tcp_link_queued
};

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

static void on_bs_read(struct bstream *bs, const uint8_t *data, size_t len)
{
    struct tcp_link *tl = bs->data;
    while (len > 0 && !tl->closing && tl->open) {
        size_t room;
        uint8_t *p = framer_space(&tl->fr, &room);
        if (!p) {
            link_close_now(tl);
            return;
        }
        size_t k = room < len ? room : len;
        memcpy(p, data, k);
        framer_commit(&tl->fr, k, deliver, tl);
        data += k;
        len -= k;
    }
}

static void on_bs_eof(struct bstream *bs)
{
    struct tcp_link *tl = bs->data;
    if (!tl->open && !tl->why[0])
        snprintf(tl->why, sizeof tl->why, "connection closed by peer");
    link_close_now(tl);
}

static void on_bs_error(struct bstream *bs, const char *msg)
{
    struct tcp_link *tl = bs->data;
    if (!tl->open) {
        snprintf(tl->why, sizeof tl->why, "%s", msg);
        if (tl->listener)
            log_error("TLS handshake failed: %s", msg);
    } else if (tl->is_tls) {
        log_warning("%s", msg);
    } else {
        log_debug("%s: %s", tl->link.desc, msg);
    }
    tl->closing = 1;
}

static void on_bs_drain(struct bstream *bs)
{
    struct tcp_link *tl = bs->data;
    if (tl->closing)
        link_close_now(tl);
    else if (tl->open && tl->link.on_drain)
        tl->link.on_drain(&tl->link);
}

static void on_bs_close(struct bstream *bs)
{
    struct tcp_link *tl = bs->data;
    tl->bs_closed = 1;
    link_close_now(tl);
    link_maybe_free(tl);
}

static struct tcp_link *link_new(uv_loop_t *loop, struct bstream *bs, int is_tls)
{
    struct tcp_link *tl = calloc(1, sizeof *tl);
    if (!tl)
        return NULL;
    tl->bs = bs;
    tl->is_tls = is_tls;
    uv_timer_init(loop, &tl->flush_timer);
    tl->flush_timer.data = tl;
    uv_check_init(loop, &tl->cork_check);
    tl->cork_check.data = tl;
    buf_init(&tl->cork, CORK_MAX);
    tl->link.ops = &tcp_link_ops;
    framer_init(&tl->fr);
    bs->data = tl;
    bs->on_read = on_bs_read;
    bs->on_eof = on_bs_eof;
    bs->on_error = on_bs_error;
    bs->on_drain = on_bs_drain;
    bs->on_close = on_bs_close;
    snprintf(tl->link.desc, sizeof tl->link.desc, "%s", bs->desc);
    return tl;
}

/* Hands the link to the mesh. */
static void link_open(struct tcp_link *tl, link_new_cb cb, void *arg)
{
    tl->open = 1;
    tl->link.backend_arg = arg;
    bstream_read_start(tl->bs);
    cb(arg, &tl->link);
}

/* Wraps a connected socket in TLS; NULL (socket closed) on failure. */
static struct bstream *wrap_tls(struct bstream *raw, struct tls_config *tls, int is_server, const char *host,
                                uv_loop_t *loop, unsigned timeout_ms)
{
    char err[256];
    struct bstream *bs = tls_wrap(raw, tls, is_server, host, NULL, loop, timeout_ms, err, sizeof err);
    if (!bs) {
        log_error("%s: %s", raw->desc, err);
        bstream_close(raw);
    }
    return bs;
}

/* ---- listener ----------------------------------------------------------- */

static void on_listener_tls_ready(struct bstream *bs)
{
    struct tcp_link *tl = bs->data;
    if (!tl->listener)
        return;
    tl->listener->handshakes--;
    link_open(tl, tl->listener->cb, tl->listener->arg);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp_listener *ls = server->data;
    struct bstream *bs = uvstream_accept(server, status, ls->desc);
    if (!bs)
        return;
    uvstream_start(bs);
    if (ls->tls && ls->handshakes >= LISTENER_MAX_HANDSHAKES) {
        log_warning("%s: refusing %s: %d TLS handshakes already in progress", ls->desc, bs->desc,
                    ls->handshakes);
        bstream_close(bs);
        return;
    }
    if (ls->tls && !(bs = wrap_tls(bs, ls->tls, 1, NULL, ls->loop, LISTENER_HANDSHAKE_MS)))
        return;
    struct tcp_link *tl = link_new(ls->loop, bs, ls->tls != NULL);
    if (!tl) {
        bstream_close(bs);
        return;
    }
    tl->listener = ls;
    tl->next = ls->links;
    ls->links = tl;
    ls->handshakes += ls->tls != NULL;
    if (ls->tls)
        tls_set_ready_cb(bs, on_listener_tls_ready);
    else
        link_open(tl, ls->cb, ls->arg);
}

struct tcp_listener *tcp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        struct tls_config *tls, link_new_cb cb, void *arg,
                                        char *err, size_t errlen)
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
    ls->loop = loop;
    ls->tls = tls;
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
    log_debug("Listening on TCP %s:%d%s", bindaddr, port, tls ? " with TLS" : "");
    return ls;
}

void tcp_listener_stop(struct tcp_listener *ls)
{
    for (struct tcp_link *tl = ls->links; tl; tl = tl->next) {
        tl->listener = NULL;
        if (tl->open)
            tcp_link_close(&tl->link);
        else
            link_close_now(tl);
    }
    ls->links = NULL;
    uv_close((uv_handle_t *)&ls->tcp, (uv_close_cb)free);
}

/* ---- dialer ------------------------------------------------------------- */

int tcp_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen)
{
    return dialer_split_address(address, host, hostlen, port, portlen, NULL, 0);
}

static void on_dialer_tls_ready(struct bstream *bs)
{
    struct tcp_link *tl = bs->data;
    struct tcp_dialer *d = tl->dialer;
    if (!d || d->dl.stopped)
        return;
    dialer_reset_backoff(&d->dl);
    link_open(tl, d->dl.cb, d->dl.arg);
}

/* The socket is connected: plain links open at once, TLS ones after the
 * handshake, which gets what is left of the dial timeout. */
static void dial_connected(struct tcp_dialer *d, struct bstream *bs)
{
    uvstream_start(bs);
    if (d->tls) {
        uint64_t spent = uv_now(d->dl.loop) - d->dial_start;
        unsigned left = spent >= TLS_DIAL_TIMEOUT_MS ? 1 : (unsigned)(TLS_DIAL_TIMEOUT_MS - spent);
        if (!(bs = wrap_tls(bs, d->tls, 0, d->host, d->dl.loop, left))) {
            dialer_fail_dial(&d->dl, "TLS setup failed");
            return;
        }
    }
    struct tcp_link *tl = link_new(d->dl.loop, bs, d->tls != NULL);
    if (!tl) {
        bstream_close(bs);
        dialer_fail_dial(&d->dl, "out of memory");
        return;
    }
    tl->dialer = d;
    d->dl.session = tl;
    if (d->tls) {
        tls_set_ready_cb(bs, on_dialer_tls_ready);
    } else {
        dialer_reset_backoff(&d->dl);
        link_open(tl, d->dl.cb, d->dl.arg);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct tcp_dialer *d = req->data;
    struct bstream *bs = d->pending;
    d->dl.busy = 0;
    d->pending = NULL;
    uv_timer_stop(&d->dl.timer);
    if (status < 0 || d->dl.stopped) {
        bstream_close(bs);
        dialer_fail_dial(&d->dl, d->timed_out ? "i/o timeout" : uv_strerror(status < 0 ? status : UV_ECANCELED));
        return;
    }
    dial_connected(d, bs);
}

static void on_dial_timeout(uv_timer_t *t)
{
    struct tcp_dialer *d = ((struct dialer *)t->data)->owner;
    if (d->pending) {
        d->timed_out = 1;
        bstream_close(d->pending); /* on_connect follows with ECANCELED */
    }
}

static void on_address(struct dialer *dl, const struct sockaddr *addr)
{
    struct tcp_dialer *d = dl->owner;
    struct bstream *bs = uvstream_new(dl->loop, 0);
    if (!bs) {
        dl->busy = 0;
        dialer_fail_dial(dl, "out of memory");
        return;
    }
    d->pending = bs;
    d->timed_out = 0;
    d->connect.data = d;
    int rc = uv_tcp_connect(&d->connect, (uv_tcp_t *)uvstream_handle(bs), addr, on_connect);
    if (rc < 0) {
        dl->busy = 0;
        d->pending = NULL;
        bstream_close(bs);
        dialer_fail_dial(dl, uv_strerror(rc));
        return;
    }
    if (d->tls)
        uv_timer_start(&dl->timer, on_dial_timeout, TLS_DIAL_TIMEOUT_MS, 0);
}

/* One attempt (the dialer is idle): resolve, connect (on_connect), then
 * TLS if configured. */
static void dial_now(struct dialer *dl)
{
    struct tcp_dialer *d = dl->owner;
    d->dial_start = uv_now(dl->loop);
    dialer_resolve_target(dl, d->host, d->port, SOCK_STREAM, on_address);
}

struct tcp_dialer *tcp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    struct tls_config *tls, link_new_cb cb, void *arg,
                                    char *err, size_t errlen)
{
    struct tcp_dialer *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (dialer_split_address(address, d->host, sizeof d->host, d->port, sizeof d->port, err,
                             errlen) < 0) {
        free(d);
        return NULL;
    }
    snprintf(d->target, sizeof d->target, "tcp %s:%s", d->host, d->port);
    d->tls = tls;
    dialer_start_dialing(&d->dl, loop, redial, cb, arg, d->target, dial_now, d);
    return d;
}

void tcp_dialer_stop(struct tcp_dialer *d)
{
    struct tcp_link *tl = d->dl.session;
    dialer_stop_dialing(&d->dl);
    if (tl) {
        if (tl->open)
            tcp_link_close(&tl->link);
        else
            link_close_now(tl);
    }
    if (d->pending)
        bstream_close(d->pending); /* on_connect follows with ECANCELED */
    dialer_free_if_idle(&d->dl);
}
