/* udp.c - see udp.h.
 *
 * Design.  A udp_link is one session.  Listener sessions share the
 * listener's socket and send with the peer address; dialer sessions own a
 * connected socket.  Sends first try uv_udp_try_send (no copy); only when the
 * kernel buffer is full are they copied into a uv_udp_send request, bounded
 * per session (UDP_LINK_BACKLOG) and per listener socket
 * (UDP_LISTENER_BACKLOG); beyond that the message is dropped (-ENOBUFS), as
 * UDP would drop it anyway.
 *
 * Sessions.  The listener's table is a small hash of remote address ->
 * session, at most UDP_MAX_SESSIONS entries.  A datagram from an unknown
 * source opens a session only when it is a routing update (type 1): a Go or
 * C dialer always starts with one, and garbage from spoofed sources then
 * costs nothing (upstream answers any datagram with routing updates).  A
 * session leaves the table when it is closed, so the next datagram from that
 * source starts afresh.  Drops are counted and reported at most every 5 s:
 * the first at once, those that follow within the 5 s when they end (a
 * timer), so every drop is reported even if no more datagrams come.
 *
 * Lifetime.  link_close() never calls back synchronously: the session's
 * handles are uv_close()d and on_close runs from libuv's close callback,
 * exactly once.  Send requests still in flight keep the memory alive
 * (pending count) until their callbacks ran; they hold the listener pointer
 * themselves, and libuv runs them before the listener socket's own close
 * callback frees the listener. */
#include "net/udp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "net/dialer.h"

#define TABLE_BUCKETS 256
#define DROP_REPORT_MS 5000
#define MSG_TYPE_ROUTING 1

struct udp_link {
    struct link link;
    uv_udp_t sock;            /* dialer sessions: their own connected socket */
    uv_timer_t closer;        /* never started: closing it defers on_close */
    struct udp_listener *ls;  /* listener session (NULL once detached) */
    struct udp_dialer *d;     /* dialer session */
    struct sockaddr_storage peer;
    size_t backlog;
    unsigned pending;         /* send requests in flight */
    int handles;              /* open libuv handles */
    int closing;
    struct udp_link *next;    /* hash chain */
};

struct udp_listener {
    uv_udp_t sock;
    uv_timer_t report_timer;  /* reports the drops counted since the last report */
    int handles;              /* open libuv handles (sock, report_timer) */
    link_new_cb cb;
    void *arg;
    struct udp_link *table[TABLE_BUCKETS];
    size_t nsessions;
    size_t backlog;
    uint64_t drop_unknown, drop_full, drop_bad;
    uint64_t last_report;
    char desc[80];
    uint8_t rbuf[UDP_RECV_BUFFER];
};

/* dl.busy: resolving; dl.session: the udp_link. */
struct udp_dialer {
    struct dialer dl;
    char host[256], port[16];
    char target[300];         /* "udp host:port" */
    uint8_t rbuf[UDP_RECV_BUFFER];
};

struct send_req {
    uv_udp_send_t req;
    struct udp_link *ul;
    struct udp_listener *ls;
    size_t len;
    uint8_t data[];
};


/* ---- addresses and the session table ------------------------------------ */

static void addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        snprintf(out, outlen, "[%s]:%d", host, port);
        return;
    }
    uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof host);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    snprintf(out, outlen, "%s:%d", host, port);
}

static size_t addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family)
        return 0;
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static unsigned addr_hash(const struct sockaddr *sa)
{
    const uint8_t *p;
    size_t n;
    uint16_t port;
    if (sa->sa_family == AF_INET6) {
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        n = 16;
        port = ((const struct sockaddr_in6 *)sa)->sin6_port;
    } else {
        p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr.s_addr;
        n = 4;
        port = ((const struct sockaddr_in *)sa)->sin_port;
    }
    uint32_t h = 2166136261u ^ port;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return (h ^ (h >> 16)) % TABLE_BUCKETS;
}

static struct udp_link *table_find(struct udp_listener *ls, const struct sockaddr *sa)
{
    for (struct udp_link *ul = ls->table[addr_hash(sa)]; ul; ul = ul->next)
        if (addr_equal((struct sockaddr *)&ul->peer, sa))
            return ul;
    return NULL;
}

static void table_insert(struct udp_listener *ls, struct udp_link *ul)
{
    unsigned h = addr_hash((struct sockaddr *)&ul->peer);
    ul->next = ls->table[h];
    ls->table[h] = ul;
    ls->nsessions++;
}

static void table_remove(struct udp_listener *ls, struct udp_link *ul)
{
    struct udp_link **pp = &ls->table[addr_hash((struct sockaddr *)&ul->peer)];
    while (*pp && *pp != ul)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = ul->next;
        ls->nsessions--;
    }
    ul->next = NULL;
}

/* ---- links -------------------------------------------------------------- */

static void link_maybe_free(struct udp_link *ul)
{
    if (ul->handles == 0 && ul->pending == 0)
        free(ul);
}

static void link_handle_closed(uv_handle_t *h)
{
    struct udp_link *ul = h->data;
    if (--ul->handles > 0)
        return;
    if (ul->link.on_close)
        ul->link.on_close(&ul->link);
    struct udp_dialer *d = ul->d;
    ul->d = NULL;
    if (d)
        dialer_end_session(&d->dl, NULL);
    link_maybe_free(ul);
}

static void udp_link_close(struct link *l)
{
    struct udp_link *ul = (struct udp_link *)l;
    if (ul->closing)
        return;
    ul->closing = 1;
    if (ul->ls) {
        table_remove(ul->ls, ul);
        ul->ls = NULL;
    }
    if (ul->d) {
        uv_udp_recv_stop(&ul->sock);
        uv_close((uv_handle_t *)&ul->sock, link_handle_closed);
    }
    uv_close((uv_handle_t *)&ul->closer, link_handle_closed);
}

static void on_sent(uv_udp_send_t *req, int status)
{
    struct send_req *sr = (struct send_req *)req;
    struct udp_link *ul = sr->ul;
    ul->backlog -= sr->len;
    if (sr->ls)
        sr->ls->backlog -= sr->len;
    ul->pending--;
    if (status < 0 && status != UV_ECANCELED && !ul->closing)
        log_debug("%s: send failed: %s", ul->link.desc, uv_strerror(status));
    free(sr);
    link_maybe_free(ul);
}

static uv_udp_t *link_socket(struct udp_link *ul)
{
    return ul->d ? &ul->sock : &ul->ls->sock;
}

static int send_queued(struct udp_link *ul, uv_buf_t *bufs, unsigned nbufs, size_t n)
{
    struct udp_listener *ls = ul->d ? NULL : ul->ls;
    if (ul->backlog + n > UDP_LINK_BACKLOG || (ls && ls->backlog + n > UDP_LISTENER_BACKLOG))
        return -ENOBUFS;
    struct send_req *sr = malloc(sizeof *sr + n);
    if (!sr)
        return -ENOMEM;
    size_t off = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        memcpy(sr->data + off, bufs[i].base, bufs[i].len);
        off += bufs[i].len;
    }
    sr->ul = ul;
    sr->ls = ls;
    sr->len = n;
    uv_buf_t b = uv_buf_init((char *)sr->data, (unsigned)n);
    const struct sockaddr *to = ul->d ? NULL : (struct sockaddr *)&ul->peer;
    int rc = uv_udp_send(&sr->req, link_socket(ul), &b, 1, to, on_sent);
    if (rc < 0) {
        free(sr);
        return rc;
    }
    ul->pending++;
    ul->backlog += n;
    if (ls)
        ls->backlog += n;
    return 0;
}

static int udp_link_send(struct link *l, const uint8_t *head, size_t hlen,
                         const uint8_t *body, size_t blen)
{
    struct udp_link *ul = (struct udp_link *)l;
    size_t n = hlen + blen;
    if (ul->closing)
        return -EPIPE;
    if (n == 0)
        return -EMSGSIZE;
    if (n > UDP_MAX_PAYLOAD) {
        log_warning("%s: data too large (%zu bytes, limit %d)", l->desc, n, UDP_MAX_PAYLOAD);
        return -EMSGSIZE;
    }
    uv_buf_t bufs[2] = { uv_buf_init((char *)head, (unsigned)hlen),
                         uv_buf_init((char *)body, (unsigned)blen) };
    unsigned nbufs = blen ? 2 : 1;
    const struct sockaddr *to = ul->d ? NULL : (struct sockaddr *)&ul->peer;
    int rc = uv_udp_try_send(link_socket(ul), bufs, nbufs, to);
    if (rc >= 0)
        return 0;
    if (rc == UV_EAGAIN || rc == UV_ENOBUFS)
        return send_queued(ul, bufs, nbufs, n);
    if (ul->d) { /* connected socket: the peer is gone (ICMP unreachable) */
        log_info("%s: send failed: %s", l->desc, uv_strerror(rc));
        udp_link_close(l);
    } else {
        log_debug("%s: send failed: %s", l->desc, uv_strerror(rc));
    }
    return rc;
}

static const struct link_ops udp_link_ops = { .send = udp_link_send, .close = udp_link_close };

static struct udp_link *link_new(uv_loop_t *loop, const struct sockaddr *peer)
{
    struct udp_link *ul = calloc(1, sizeof *ul);
    if (!ul)
        return NULL;
    uv_timer_init(loop, &ul->closer);
    ul->closer.data = ul;
    ul->handles = 1;
    ul->link.ops = &udp_link_ops;
    memcpy(&ul->peer, peer, addr_len(peer));
    char a[INET6_ADDRSTRLEN + 16];
    addr_format(peer, a, sizeof a);
    snprintf(ul->link.desc, sizeof ul->link.desc, "udp %s", a);
    return ul;
}

static void link_deliver(struct udp_link *ul, const uint8_t *msg, size_t len)
{
    if (ul->closing || !ul->link.on_message)
        return;
    if (len == 0) {
        log_debug("%s: ignoring an empty datagram", ul->link.desc);
        return;
    }
    ul->link.on_message(&ul->link, msg, len);
}

/* ---- listener ----------------------------------------------------------- */

static void report_drops_now(struct udp_listener *ls)
{
    ls->last_report = uv_now(ls->sock.loop);
    if (ls->drop_full)
        log_warning("%s: session table full (%d sessions): dropped %llu datagrams from new sources",
                    ls->desc, UDP_MAX_SESSIONS, (unsigned long long)ls->drop_full);
    if (ls->drop_unknown)
        log_warning("%s: dropped %llu datagrams from unknown sources that were not routing updates",
                    ls->desc, (unsigned long long)ls->drop_unknown);
    if (ls->drop_bad)
        log_warning("%s: dropped %llu truncated or empty datagrams", ls->desc,
                    (unsigned long long)ls->drop_bad);
    ls->drop_full = ls->drop_unknown = ls->drop_bad = 0;
}

static void on_report_timer(uv_timer_t *t)
{
    report_drops_now(t->data);
}

/* A drop was counted: report now, or when the 5 s since the last report
 * are over. */
static void report_drops(struct udp_listener *ls)
{
    uint64_t now = uv_now(ls->sock.loop);
    if (ls->last_report && now - ls->last_report < DROP_REPORT_MS) {
        if (!uv_is_active((uv_handle_t *)&ls->report_timer))
            uv_timer_start(&ls->report_timer, on_report_timer, ls->last_report + DROP_REPORT_MS - now, 0);
        return;
    }
    report_drops_now(ls);
}

static void listener_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct udp_listener *ls = h->data;
    *out = uv_buf_init((char *)ls->rbuf, sizeof ls->rbuf);
}

static struct udp_link *listener_open_session(struct udp_listener *ls, const struct sockaddr *from,
                                              const uint8_t *msg)
{
    if (msg[0] != MSG_TYPE_ROUTING) {
        ls->drop_unknown++;
        return NULL;
    }
    if (ls->nsessions >= UDP_MAX_SESSIONS) {
        ls->drop_full++;
        return NULL;
    }
    struct udp_link *ul = link_new(ls->sock.loop, from);
    if (!ul)
        return NULL;
    ul->ls = ls;
    ul->link.backend_arg = ls->arg;
    table_insert(ls, ul);
    ls->cb(ls->arg, &ul->link);
    return ul->closing ? NULL : ul;
}

static void listener_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                          unsigned flags)
{
    (void)b;
    struct udp_listener *ls = h->data;
    if (n < 0) {
        log_warning("%s: receive failed: %s", ls->desc, uv_strerror((int)n));
        return;
    }
    if (!from)
        return; /* nothing more to read */
    if (n == 0 || (flags & UV_UDP_PARTIAL)) {
        ls->drop_bad++;
        report_drops(ls);
        return;
    }
    struct udp_link *ul = table_find(ls, from);
    if (!ul)
        ul = listener_open_session(ls, from, ls->rbuf);
    if (ul)
        link_deliver(ul, ls->rbuf, (size_t)n);
    else
        report_drops(ls);
}

static int parse_bind(const char *bindaddr, int port, struct sockaddr_storage *ss)
{
    if (uv_ip4_addr(bindaddr, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    return uv_ip6_addr(bindaddr, port, (struct sockaddr_in6 *)ss);
}

static void listener_handle_closed(uv_handle_t *h)
{
    struct udp_listener *ls = h->data;
    if (--ls->handles == 0)
        free(ls);
}

static void listener_close_handles(struct udp_listener *ls)
{
    uv_close((uv_handle_t *)&ls->report_timer, listener_handle_closed);
    uv_close((uv_handle_t *)&ls->sock, listener_handle_closed);
}

struct udp_listener *udp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (port < 0 || port > 65535 || parse_bind(bindaddr, port, &ss) != 0) {
        snprintf(err, errlen, "invalid UDP listen address %s:%d", bindaddr, port);
        return NULL;
    }
    struct udp_listener *ls = calloc(1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(ls->desc, sizeof ls->desc, "udp listener %s:%d", bindaddr, port);
    uv_udp_init(loop, &ls->sock);
    ls->sock.data = ls;
    uv_timer_init(loop, &ls->report_timer);
    ls->report_timer.data = ls;
    ls->handles = 2;
    ls->cb = cb;
    ls->arg = arg;
    int rc = uv_udp_bind(&ls->sock, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&ls->sock, listener_alloc, listener_recv);
    if (rc != 0) {
        snprintf(err, errlen, "listen udp %s:%d: %s", bindaddr, port, uv_strerror(rc));
        listener_close_handles(ls);
        return NULL;
    }
    log_debug("Listening on UDP %s:%d", bindaddr, port);
    return ls;
}

void udp_listener_stop(struct udp_listener *ls)
{
    for (size_t i = 0; i < TABLE_BUCKETS; i++) {
        while (ls->table[i])
            udp_link_close(&ls->table[i]->link); /* unlinks itself */
    }
    uv_udp_recv_stop(&ls->sock);
    listener_close_handles(ls);
}

size_t udp_listener_sessions(const struct udp_listener *ls) { return ls->nsessions; }

/* ---- dialer ------------------------------------------------------------- */

static void dialer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct udp_link *ul = h->data;
    *out = uv_buf_init((char *)ul->d->rbuf, sizeof ul->d->rbuf);
}

static void dialer_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *from,
                        unsigned flags)
{
    (void)b;
    (void)from;
    struct udp_link *ul = h->data;
    if (ul->closing)
        return;
    if (n < 0) {
        log_info("%s: receive failed: %s", ul->link.desc, uv_strerror((int)n));
        udp_link_close(&ul->link);
        return;
    }
    if (n == 0 || (flags & UV_UDP_PARTIAL))
        return;
    link_deliver(ul, ul->d->rbuf, (size_t)n);
}

static int dialer_open(struct udp_dialer *d, const struct sockaddr *to)
{
    struct udp_link *ul = link_new(d->dl.loop, to);
    if (!ul)
        return UV_ENOMEM;
    uv_udp_init(d->dl.loop, &ul->sock);
    ul->sock.data = ul;
    ul->handles = 2;
    ul->d = d;
    int rc = uv_udp_connect(&ul->sock, to);
    if (rc == 0)
        rc = uv_udp_recv_start(&ul->sock, dialer_alloc, dialer_recv);
    if (rc != 0) {
        ul->d = NULL;
        ul->closing = 1;
        uv_close((uv_handle_t *)&ul->sock, link_handle_closed);
        uv_close((uv_handle_t *)&ul->closer, link_handle_closed);
        return rc;
    }
    d->dl.session = ul;
    dialer_reset_backoff(&d->dl);
    ul->link.backend_arg = d->dl.arg;
    d->dl.cb(d->dl.arg, &ul->link);
    return 0;
}

static void on_address(struct dialer *dl, const struct sockaddr *addr)
{
    dl->busy = 0;
    int rc = dialer_open(dl->owner, addr);
    if (rc < 0)
        dialer_fail_dial(dl, uv_strerror(rc));
}

/* One attempt (the dialer is idle): resolve, then open the session. */
static void dial_now(struct dialer *dl)
{
    struct udp_dialer *d = dl->owner;
    dialer_resolve_target(dl, d->host, d->port, SOCK_DGRAM, on_address);
}

struct udp_dialer *udp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    link_new_cb cb, void *arg, char *err, size_t errlen)
{
    struct udp_dialer *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (dialer_split_address(address, d->host, sizeof d->host, d->port, sizeof d->port, err,
                             errlen) < 0) {
        free(d);
        return NULL;
    }
    snprintf(d->target, sizeof d->target, "udp %s:%s", d->host, d->port);
    dialer_start_dialing(&d->dl, loop, redial, cb, arg, d->target, dial_now, d);
    return d;
}

void udp_dialer_stop(struct udp_dialer *d)
{
    struct udp_link *ul = d->dl.session;
    dialer_stop_dialing(&d->dl);
    if (ul)
        udp_link_close(&ul->link); /* dialer_end_session follows */
    dialer_free_if_idle(&d->dl);
}
