/* quic.c - QUIC connections over mesh datagrams (see stream.h).
 *
 * Each connection (struct qconn) owns an ngtcp2_conn, a GnuTLS session, a
 * libuv timer for ngtcp2's expiry, a send queue holding every byte not yet
 * acknowledged, and a receive queue holding bytes the application has not
 * taken yet.  The receive queue can never outgrow the flow-control window we
 * advertise, because the window is only extended by what the application
 * consumed: that is the end-to-end back-pressure.
 *
 * ngtcp2 callbacks only record what happened; application callbacks run
 * after ngtcp2 returns (qconn_after_io), so the application may write or
 * close from inside them.  A connection is freed only when nothing is on
 * the stack that still uses it (the refs count) and its timer has closed.
 *
 * Packets: at most 1452 bytes, what quic-go reads.  Between two receptor-c
 * nodes the packets grow to QUIC_PKT_BIG: we advertise max_udp_payload_size
 * = QUIC_PKT_BIG, an unusual value, and use big packets only towards a peer
 * that advertised exactly the same. */
#include "stream/stream.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tlsconf.h"
#include "stream/quic_crypto_lib.h"
#include "stream/quic_tls.h"

#define QUIC_PKT_GO 1452
#define QUIC_PKT_BIG 16348            /* 16384 - 36: the mesh MTU */
#define QUIC_STREAM_WINDOW (2u << 20)
#define QUIC_CONN_WINDOW (3u << 20)
#define QUIC_SENDQ_LIMIT (64u << 20)
#define QUIC_IDLE_TIMEOUT (30 * NGTCP2_SECONDS)
#define QUIC_HANDSHAKE_TIMEOUT (15 * NGTCP2_SECONDS)
#define QUIC_KEEPALIVE (15 * NGTCP2_SECONDS)
#define QUIC_INITIAL_RTT (10 * NGTCP2_MILLISECONDS)
#define QUIC_ACCEPT_TIMEOUT_NS (60LL * 1000000000)
#define LISTENER_MAX_CONNS 1024

struct stream_listener {
    struct node *node;
    struct node_service *svc;
    struct stream_tls tls;
    int has_tls;
    gnutls_certificate_credentials_t creds;
    stream_accept_cb cb;
    void *arg;
    struct qconn *conns;
    int nconns;
    int closing;
    int refs;
};

#define QCHUNK_MIN 16384

struct qchunk {
    struct qchunk *next;
    size_t off;     /* bytes of this chunk already acknowledged */
    size_t len;     /* bytes used */
    size_t cap;
    uint8_t data[];
};

struct qconn {
    struct bstream bs;                 /* first: handed up as the stream */
    struct node *node;
    struct stream_listener *listener;  /* server side */
    struct node_service *svc;          /* the local service we send from */
    char remote_node[256];
    char remote_service[MSG_SERVICE_MAX + 1];
    ngtcp2_conn *conn;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t creds; /* dialer's own, insecure mode */
    ngtcp2_crypto_conn_ref ref;
    uv_timer_t timer;
    int is_server;
    int64_t stream_id;
    int stream_ready;                  /* stream opened (client) or accepted */
    int first_byte_pending;            /* server: the 0x00 not seen yet */
    int handed_up;                     /* the application has the bstream */
    int handshake_done;
    int initial_keys;                  /* server: keys installed, a close can be sealed */
    uint64_t peer_epoch;               /* the peer process's, at the handshake */
    size_t pkt_size;
    int64_t accept_deadline;
    /* send side: ngtcp2 points into unacknowledged data until it is
     * acknowledged, so it lives in chunks that never move */
    struct qchunk *sq_head, *sq_tail;
    size_t sq_bytes;                   /* unacknowledged bytes queued */
    uint64_t acked;                    /* stream offset of the first queued byte */
    uint64_t sent;                     /* stream offset handed to ngtcp2 */
    int fin_wanted, fin_sent;
    int above_high_water;
    /* receive side */
    struct buf recvq;
    int reading;
    int eof_received, eof_delivered;
    int fin_received;                  /* the peer's FIN: eof_received with nothing missing */
    int net_done;                      /* closed by the peer; only the receive queue is left */
    /* lifecycle */
    stream_dial_cb dial_cb;
    void *dial_arg;
    struct node_observer *observer;    /* the remote node restarting */
    int64_t created_s;                 /* wall clock, Unix seconds */
    const char *fail_reason;           /* set when the connection failed */
    struct stream_tls policy;          /* the TLS policy's hooks, or all NULL */
    int tls_fail;                      /* 1 + enum tls_fail_reason: the handshake failed */
    char fail_buf[160];
    int closing;                       /* no more I/O; free when refs drop */
    int close_notified;                /* the application got on_close */
    int app_closed;                    /* lingering: flush, then close */
    int refs;
    int in_callback;
    int timer_closed;
    struct qconn *next;
};

static void qconn_flush(struct qconn *c);
static void qconn_after_io(struct qconn *c);
static void qconn_fail(struct qconn *c, const char *why);
static const struct bstream_ops qconn_ops;

static ngtcp2_tstamp now_ts(void) { return (ngtcp2_tstamp)util_mono_ns(); }

/* A fixed pair of fake socket addresses: the mesh demultiplexes by
 * (node, service) before ngtcp2 sees a packet, so the path never varies. */
static void fake_path(ngtcp2_path *path, struct sockaddr_in6 *local, struct sockaddr_in6 *remote)
{
    memset(local, 0, sizeof *local);
    memset(remote, 0, sizeof *remote);
    local->sin6_family = remote->sin6_family = AF_INET6;
    local->sin6_port = htons(1);
    remote->sin6_port = htons(2);
    path->local.addr = (struct sockaddr *)local;
    path->local.addrlen = sizeof *local;
    path->remote.addr = (struct sockaddr *)remote;
    path->remote.addrlen = sizeof *remote;
    path->user_data = NULL;
}

/* ---- lifetime ------------------------------------------------------------ */

static void listener_unref(struct stream_listener *l);

static void qconn_release(struct qconn *c)
{
    if (c->refs > 0 || !c->timer_closed)
        return;
    if (c->conn)
        ngtcp2_conn_del(c->conn);
    if (c->tls)
        gnutls_deinit(c->tls);
    if (c->creds)
        gnutls_certificate_free_credentials(c->creds);
    while (c->sq_head) {
        struct qchunk *k = c->sq_head;
        c->sq_head = k->next;
        free(k);
    }
    buf_free(&c->recvq);
    struct stream_listener *l = c->listener;
    free(c);
    if (l)
        listener_unref(l);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct qconn *c = h->data;
    c->timer_closed = 1;
    qconn_release(c);
}

/* Detaches a connection from its service/listener and schedules the free. */
static void qconn_destroy(struct qconn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->listener) {
        struct qconn **pp = &c->listener->conns;
        while (*pp && *pp != c)
            pp = &(*pp)->next;
        if (*pp) {
            *pp = c->next;
            c->listener->nconns--;
        }
    } else if (c->svc) {
        node_unlisten(c->node, c->svc);
    }
    c->svc = NULL;
    if (c->observer)
        node_unobserve(c->node, c->observer);
    c->observer = NULL;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* Sends one packet as a mesh datagram. */
static void qconn_send_packet(struct qconn *c, const uint8_t *pkt, size_t len)
{
    const char *err;
    const char *from = c->listener ? node_service_name(c->listener->svc) : node_service_name(c->svc);
    if (node_send(c->node, from, c->remote_node, c->remote_service, pkt, len, NODE_HOPS_DEFAULT, &err) < 0 &&
        !c->handshake_done && !c->is_server) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "%s", err);
        c->fail_reason = c->fail_buf;
    }
}

/* Sends CONNECTION_CLOSE with an application error code; a server that
 * never got a valid Initial has nothing to seal it with and stays silent. */
static void qconn_send_close(struct qconn *c, uint64_t code, const char *reason)
{
    if (!c->conn || (c->is_server && !c->initial_keys) || ngtcp2_conn_is_in_closing_period(c->conn) ||
        ngtcp2_conn_is_in_draining_period(c->conn))
        return;
    ngtcp2_connection_close_error ccerr;
    ngtcp2_connection_close_error_default(&ccerr);
    ngtcp2_connection_close_error_set_application_error(&ccerr, code, (const uint8_t *)reason,
                                                        strlen(reason));
    uint8_t pkt[QUIC_PKT_GO];
    struct sockaddr_in6 la, ra;
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_write_connection_close(c->conn, &ps.path, &pi, pkt, sizeof pkt,
                                                        &ccerr, now_ts());
    (void)la;
    (void)ra;
    if (n > 0)
        qconn_send_packet(c, pkt, (size_t)n);
}

/* The connection cannot go on: tell whoever waits, then free it. */
static void qconn_fail(struct qconn *c, const char *why)
{
    if (c->closing)
        return;
    if (!c->fail_reason) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "%s", why);
        c->fail_reason = c->fail_buf;
    }
    if (c->tls_fail && !c->handshake_done && c->policy.failed)
        c->policy.failed(c->policy.arg, c->tls_fail - 1);
    c->refs++;
    if (c->dial_cb) {
        stream_dial_cb cb = c->dial_cb;
        c->dial_cb = NULL;
        cb(c->dial_arg, NULL, c->fail_reason);
    } else if (c->handed_up && !c->close_notified) {
        c->close_notified = 1;
        if (c->bs.on_error)
            c->bs.on_error(&c->bs, c->fail_reason);
        if (c->bs.on_close)
            c->bs.on_close(&c->bs);
    }
    c->refs--;
    qconn_destroy(c);
    qconn_release(c);
}

/* ---- ngtcp2 callbacks ----------------------------------------------------- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
    return ((struct qconn *)ref->user_data)->conn;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud)
{
    (void)conn;
    (void)ud;
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0 ||
        gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
        return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    return 0;
}

static int recv_stream_data_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
                               uint64_t offset, const uint8_t *data, size_t len, void *ud,
                               void *sud)
{
    (void)conn;
    (void)offset;
    (void)sud;
    struct qconn *c = ud;
    if (c->stream_id < 0) {
        if (!c->is_server)
            return 0;
        c->stream_id = stream_id; /* the peer's one stream */
    }
    if (stream_id != c->stream_id)
        return 0; /* upstream uses exactly one stream; ignore others */
    if (c->first_byte_pending && len > 0) {
        if (data[0] != 0) {
            c->fail_reason = "Read Data Error";
            return NGTCP2_ERR_CALLBACK_FAILURE;
        }
        c->first_byte_pending = 0;
        c->stream_ready = 1;
        data++;
        len--;
        /* the byte was consumed: give its credit back */
        ngtcp2_conn_extend_max_stream_offset(c->conn, stream_id, 1);
        ngtcp2_conn_extend_max_offset(c->conn, 1);
    }
    if (len && buf_append(&c->recvq, data, len) < 0) {
        c->fail_reason = "peer exceeded the flow control window";
        return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
        c->eof_received = c->fin_received = 1;
    return 0;
}

/* ---- the send queue ------------------------------------------------------ */

static int sendq_append(struct qconn *c, const uint8_t *data, size_t len)
{
    if (c->sq_bytes + len > QUIC_SENDQ_LIMIT)
        return -1;
    struct qchunk *t = c->sq_tail;
    if (t && t->cap - t->len >= len) {
        memcpy(t->data + t->len, data, len); /* the unused tail: nothing moves */
        t->len += len;
    } else {
        size_t cap = len > QCHUNK_MIN ? len : QCHUNK_MIN;
        struct qchunk *k = malloc(sizeof *k + cap);
        if (!k)
            return -1;
        k->next = NULL;
        k->off = 0;
        k->len = len;
        k->cap = cap;
        memcpy(k->data, data, len);
        if (t)
            t->next = k;
        else
            c->sq_head = k;
        c->sq_tail = k;
    }
    c->sq_bytes += len;
    return 0;
}

static void sendq_ack(struct qconn *c, size_t n)
{
    c->acked += n;
    c->sq_bytes -= n;
    while (n > 0 && c->sq_head) {
        struct qchunk *k = c->sq_head;
        size_t take = k->len - k->off < n ? k->len - k->off : n;
        if (take == 0 && !k->next)
            break;
        k->off += take;
        n -= take;
        if (k->off == k->len && (k->next || k->len == k->cap)) {
            c->sq_head = k->next;
            if (!c->sq_head)
                c->sq_tail = NULL;
            free(k);
        }
    }
}

/* Vectors over the queued bytes from stream offset `from` (not yet sent). */
static size_t sendq_vecs(struct qconn *c, uint64_t from, ngtcp2_vec *v, size_t max)
{
    uint64_t pos = c->acked;
    size_t n = 0;
    for (struct qchunk *k = c->sq_head; k && n < max; k = k->next) {
        size_t avail = k->len - k->off;
        if (pos + avail <= from) {
            pos += avail;
            continue;
        }
        size_t skip = from > pos ? (size_t)(from - pos) : 0;
        v[n].base = k->data + k->off + skip;
        v[n].len = avail - skip;
        if (v[n].len)
            n++;
        pos += avail;
    }
    return n;
}

static int acked_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t len, void *ud,
                    void *sud)
{
    (void)conn;
    (void)stream_id;
    (void)sud;
    struct qconn *c = ud;
    if (offset + len > c->acked)
        sendq_ack(c, (size_t)(offset + len - c->acked));
    return 0;
}

static int stream_close_cb(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
                           uint64_t app_error_code, void *ud, void *sud)
{
    (void)conn;
    (void)flags;
    (void)app_error_code;
    (void)sud;
    struct qconn *c = ud;
    if (stream_id == c->stream_id)
        c->eof_received = 1;
    return 0;
}

static int stream_reset_cb(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size,
                           uint64_t app_error_code, void *ud, void *sud)
{
    (void)conn;
    (void)final_size;
    (void)sud;
    struct qconn *c = ud;
    if (stream_id == c->stream_id) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "stream reset by peer (code %llu)",
                 (unsigned long long)app_error_code);
        c->eof_received = 1;
    }
    return 0;
}

static int handshake_completed_cb(ngtcp2_conn *conn, void *ud)
{
    (void)conn;
    struct qconn *c = ud;
    c->handshake_done = 1;
    /* the process that answered: its routing update came before its reply,
     * over the same links, so the mesh already knows its epoch */
    c->peer_epoch = node_known_epoch(c->node, c->remote_node);
    return 0;
}

/* The server's Initial keys come from the client's first packet: until they
 * are installed a CONNECTION_CLOSE cannot be sealed (ngtcp2 asserts). */
static int recv_client_initial_cb(ngtcp2_conn *conn, const ngtcp2_cid *dcid, void *ud)
{
    struct qconn *c = ud;
    int rv = ngtcp2_crypto_recv_client_initial_cb(conn, dcid, ud);
    if (rv == 0)
        c->initial_keys = 1;
    return rv;
}

static void fill_callbacks(ngtcp2_callbacks *cb, int is_server)
{
    memset(cb, 0, sizeof *cb);
    if (is_server)
        cb->recv_client_initial = recv_client_initial_cb;
    else {
        cb->client_initial = ngtcp2_crypto_client_initial_cb;
        cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    }
    cb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    cb->encrypt = ngtcp2_crypto_encrypt_cb;
    cb->decrypt = ngtcp2_crypto_decrypt_cb;
    cb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    cb->update_key = ngtcp2_crypto_update_key_cb;
    cb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    cb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    cb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    cb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    cb->rand = rand_cb;
    cb->get_new_connection_id = new_cid_cb;
    cb->recv_stream_data = recv_stream_data_cb;
    cb->acked_stream_data_offset = acked_cb;
    cb->stream_close = stream_close_cb;
    cb->stream_reset = stream_reset_cb;
    cb->handshake_completed = handshake_completed_cb;
}

static void fill_settings(ngtcp2_settings *s, ngtcp2_transport_params *p, int is_server)
{
    ngtcp2_settings_default(s);
    s->initial_ts = now_ts();
    s->initial_rtt = QUIC_INITIAL_RTT; /* mesh links are short; ngtcp2 paces by it */
    s->handshake_timeout = QUIC_HANDSHAKE_TIMEOUT;
    s->max_tx_udp_payload_size = QUIC_PKT_BIG;
    s->no_tx_udp_payload_size_shaping = 1; /* the buffer size we pass decides */
    s->no_pmtud = 1;
    /* no window auto-tuning: the receive queue may hold exactly one window,
     * which is what bounds a stream's memory when its reader stops */
    s->max_window = QUIC_CONN_WINDOW;
    s->max_stream_window = QUIC_STREAM_WINDOW;
    ngtcp2_transport_params_default(p);
    p->initial_max_stream_data_bidi_local = QUIC_STREAM_WINDOW;
    p->initial_max_stream_data_bidi_remote = QUIC_STREAM_WINDOW;
    p->initial_max_data = QUIC_CONN_WINDOW;
    p->initial_max_streams_bidi = is_server ? 100 : 0;
    p->initial_max_streams_uni = 0;
    p->max_idle_timeout = QUIC_IDLE_TIMEOUT;
    p->max_udp_payload_size = QUIC_PKT_BIG;
    p->disable_active_migration = 1;
    p->active_connection_id_limit = 2;
}

/* ---- I/O ----------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void qconn_arm_timer(struct qconn *c)
{
    if (c->closing)
        return;
    ngtcp2_tstamp exp = ngtcp2_conn_get_expiry(c->conn);
    int64_t accept_left = -1;
    if (c->is_server && !c->stream_ready)
        accept_left = c->accept_deadline - util_mono_ns();
    if (exp == UINT64_MAX && accept_left < 0) {
        uv_timer_stop(&c->timer);
        return;
    }
    ngtcp2_tstamp now = now_ts();
    uint64_t ms = exp == UINT64_MAX ? UINT64_MAX : (exp <= now ? 0 : (exp - now + 999999) / 1000000);
    if (accept_left >= 0 && (uint64_t)(accept_left / 1000000 + 1) < ms)
        ms = (uint64_t)(accept_left / 1000000 + 1);
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void update_pkt_size(struct qconn *c)
{
    if (c->pkt_size == QUIC_PKT_GO && c->handshake_done) {
        const ngtcp2_transport_params *rp = ngtcp2_conn_get_remote_transport_params(c->conn);
        if (rp && rp->max_udp_payload_size == QUIC_PKT_BIG)
            c->pkt_size = QUIC_PKT_BIG;
    }
}

/* Writes every packet ngtcp2 wants to send now, up to the send quantum. */
static void qconn_flush(struct qconn *c)
{
    if (c->closing || !c->conn)
        return;
    if (c->in_callback)
        return;
    update_pkt_size(c);
    uint8_t pkt[QUIC_PKT_BIG];
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info pi;
    ngtcp2_tstamp ts = now_ts();
    size_t quantum = ngtcp2_conn_get_send_quantum(c->conn);
    size_t written = 0;
    int blocked = 0;
    for (;;) {
        int64_t sid = -1;
        ngtcp2_vec v[16];
        size_t vcnt = 0;
        uint32_t flags = 0;
        uint64_t total = c->acked + c->sq_bytes;
        if (c->stream_ready && c->stream_id >= 0 && !blocked &&
            (c->sent < total || (c->fin_wanted && !c->fin_sent))) {
            sid = c->stream_id;
            vcnt = sendq_vecs(c, c->sent, v, 16);
            if (c->fin_wanted)
                flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
        }
        ngtcp2_ssize datalen = -1;
        ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, pkt, c->pkt_size, &datalen,
                                                   flags, sid, vcnt ? v : NULL, vcnt, ts);
        if (n < 0) {
            if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
                n == NGTCP2_ERR_STREAM_NOT_FOUND) {
                blocked = 1;
                continue;
            }
            qconn_fail(c, ngtcp2_strerror((int)n));
            return;
        }
        if (datalen >= 0 && sid >= 0) {
            c->sent += (uint64_t)datalen;
            if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) && c->sent == total)
                c->fin_sent = 1;
        }
        if (n == 0)
            break;
        qconn_send_packet(c, pkt, (size_t)n);
        written += (size_t)n;
        if (written >= quantum)
            break;
    }
    ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
    qconn_arm_timer(c);
}

/* Hands received bytes to the application while it reads, giving the
 * flow-control credit back as they are consumed. */
static void qconn_deliver(struct qconn *c)
{
    if (c->app_closed) {
        size_t n = buf_size(&c->recvq); /* nobody reads any more: discard */
        if (n && !c->closing) {
            buf_consume(&c->recvq, n);
            ngtcp2_conn_extend_max_stream_offset(c->conn, c->stream_id, n);
            ngtcp2_conn_extend_max_offset(c->conn, n);
        }
        return;
    }
    int live = !c->closing || c->net_done;
    while (live && c->handed_up && c->reading && buf_size(&c->recvq) > 0) {
        size_t n = buf_size(&c->recvq);
        if (n > 65536)
            n = 65536;
        uint8_t chunk[65536];
        memcpy(chunk, buf_head(&c->recvq), n);
        buf_consume(&c->recvq, n);
        if (!c->closing) {
            ngtcp2_conn_extend_max_stream_offset(c->conn, c->stream_id, n);
            ngtcp2_conn_extend_max_offset(c->conn, n);
        }
        if (c->bs.on_read)
            c->bs.on_read(&c->bs, chunk, n);
        live = !c->closing || c->net_done;
    }
    if (live && c->handed_up && c->reading && c->eof_received && !c->eof_delivered &&
        buf_size(&c->recvq) == 0) {
        c->eof_delivered = 1;
        if (c->bs.on_eof)
            c->bs.on_eof(&c->bs);
    }
}

static void qconn_hand_up(struct qconn *c)
{
    c->handed_up = 1;
    c->reading = 0;
    snprintf(c->bs.desc, sizeof c->bs.desc, "quic %.64s:%s", c->remote_node, c->remote_service);
    if (c->dial_cb) {
        stream_dial_cb cb = c->dial_cb;
        c->dial_cb = NULL;
        cb(c->dial_arg, &c->bs, NULL);
    } else if (c->listener && c->listener->cb) {
        c->listener->cb(c->listener->arg, &c->bs, c->remote_node);
    }
}

/* Everything that follows packet processing or a timer: state changes are
 * turned into application callbacks, then packets go out. */
static void qconn_after_io(struct qconn *c)
{
    c->refs++;
    if (!c->closing && !c->is_server && c->handshake_done && c->stream_id < 0) {
        int64_t sid;
        if (ngtcp2_conn_open_bidi_stream(c->conn, &sid, NULL) == 0) {
            c->stream_id = sid;
            c->stream_ready = 1;
            uint8_t zero = 0;
            sendq_append(c, &zero, 1); /* upstream's first-byte convention */
        }
    }
    if (!c->closing && !c->handed_up && !c->app_closed && c->stream_ready)
        qconn_hand_up(c);
    if (!c->closing)
        qconn_deliver(c);
    if (!c->closing && c->handed_up && c->above_high_water &&
        c->sq_bytes < BSTREAM_HIGH_WATER / 2) {
        c->above_high_water = 0;
        if (c->bs.on_drain)
            c->bs.on_drain(&c->bs);
    }
    if (!c->closing)
        qconn_flush(c);
    /* closed by the application and everything acknowledged: done */
    if (!c->closing && c->app_closed && c->fin_sent && c->sq_bytes == 0) {
        qconn_send_close(c, 0, "normal close");
        qconn_destroy(c);
    }
    c->refs--;
    qconn_release(c);
}

static void on_timer(uv_timer_t *t)
{
    struct qconn *c = t->data;
    if (c->closing)
        return;
    if (c->is_server && !c->stream_ready && util_mono_ns() >= c->accept_deadline) {
        qconn_send_close(c, 500, "Accept Timeout");
        qconn_fail(c, "no stream opened within 60 s");
        return;
    }
    int rv = ngtcp2_conn_handle_expiry(c->conn, now_ts());
    if (rv != 0) {
        if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
            c->tls_fail = 1 + TLS_FAIL_TIMEOUT;
        qconn_fail(c, rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT ? "handshake timed out"
                      : rv == NGTCP2_ERR_IDLE_CLOSE     ? "connection idle timeout"
                                                        : ngtcp2_strerror(rv));
        return;
    }
    qconn_after_io(c);
}

/* The metrics' reason for a TLS alert we raised in a QUIC handshake. */
static enum tls_fail_reason classify_alert(uint8_t alert)
{
    switch (alert) {
    case GNUTLS_A_CERTIFICATE_REQUIRED:
        return TLS_FAIL_NO_CERTIFICATE;
    case GNUTLS_A_HANDSHAKE_FAILURE:
    case GNUTLS_A_PROTOCOL_VERSION:
    case GNUTLS_A_INSUFFICIENT_SECURITY:
    case GNUTLS_A_NO_APPLICATION_PROTOCOL:
        return TLS_FAIL_NO_COMMON;
    case GNUTLS_A_BAD_CERTIFICATE:
    case GNUTLS_A_UNSUPPORTED_CERTIFICATE:
    case GNUTLS_A_CERTIFICATE_EXPIRED:
    case GNUTLS_A_CERTIFICATE_UNKNOWN:
    case GNUTLS_A_UNKNOWN_CA:
        return TLS_FAIL_VERIFY;
    default:
        return TLS_FAIL_OTHER;
    }
}

static void describe_close(struct qconn *c, int rv)
{
    ngtcp2_connection_close_error ccerr;
    ngtcp2_conn_get_connection_close_error(c->conn, &ccerr);
    const char *ours = c->tls ? tlsconf_session_error(c->tls) : NULL;
    if (ours) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "TLS handshake failed: %s", ours);
        c->tls_fail = 1 + TLS_FAIL_VERIFY;
    } else if (rv == NGTCP2_ERR_CRYPTO || ngtcp2_conn_get_tls_error(c->conn)) {
        uint8_t alert = ngtcp2_conn_get_tls_alert(c->conn);
        const char *e = gnutls_alert_get_name((gnutls_alert_description_t)alert);
        snprintf(c->fail_buf, sizeof c->fail_buf, "TLS handshake failed%s%s", e ? ": " : "", e ? e : "");
        c->tls_fail = 1 + classify_alert(alert);
    } else if (ccerr.reasonlen) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "connection closed by peer: %.*s (code %llu)",
                 (int)ccerr.reasonlen, (const char *)ccerr.reason, (unsigned long long)ccerr.error_code);
    } else if (rv == NGTCP2_ERR_DRAINING) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "connection closed by peer (code %llu)",
                 (unsigned long long)ccerr.error_code);
    } else {
        snprintf(c->fail_buf, sizeof c->fail_buf, "%s", ngtcp2_strerror(rv));
    }
    if (!c->tls_fail && ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
        ccerr.error_code >= NGTCP2_CRYPTO_ERROR && ccerr.error_code <= (NGTCP2_CRYPTO_ERROR | 0xff))
        c->tls_fail = 1 + TLS_FAIL_REMOTE_ALERT; /* the peer's TLS refused us */
    if (!c->fail_reason)
        c->fail_reason = c->fail_buf;
}

/* The peer closed the connection after its FIN, so every byte it sent is
 * here, but the application has not read them all: it paused reading, its
 * own output being full.  The connection leaves the network and stays a
 * stream of what is left: qconn_deliver hands that out as the application
 * reads, then the EOF, and q_close frees it.  Freeing it at once lost the
 * tail of the stream (the peer had it all acknowledged, so it closed). */
static void qconn_keep_received(struct qconn *c)
{
    c->net_done = 1;
    c->refs++; /* the application's, given back by q_close */
    while (c->sq_head) { /* nobody will acknowledge these: the peer is gone */
        struct qchunk *k = c->sq_head;
        c->sq_head = k->next;
        free(k);
    }
    c->sq_tail = NULL;
    c->sq_bytes = 0;
    qconn_destroy(c);
}

static void qconn_recv(struct qconn *c, const uint8_t *data, size_t len)
{
    if (c->closing)
        return;
    ngtcp2_path_storage ps;
    struct sockaddr_in6 la, ra;
    fake_path(&ps.path, &la, &ra);
    ngtcp2_pkt_info pi = { 0 };
    c->in_callback = 1;
    int rv = ngtcp2_conn_read_pkt(c->conn, &ps.path, &pi, data, len, now_ts());
    c->in_callback = 0;
    if (rv != 0) {
        if (rv == NGTCP2_ERR_DRAINING && c->handed_up && c->eof_received) {
            c->refs++;
            qconn_deliver(c); /* the peer finished cleanly: deliver what is left */
            c->refs--;
            if (c->fin_received && !c->eof_delivered && !c->app_closed && !c->closing) {
                qconn_keep_received(c); /* ... and what the application cannot take yet */
                return;
            }
        }
        describe_close(c, rv);
        /* ngtcp2 asks for a silent drop (DROP_CONN) or has already sent or
         * received the close: anything else gets one */
        if (rv != NGTCP2_ERR_DRAINING && rv != NGTCP2_ERR_CLOSING && rv != NGTCP2_ERR_DROP_CONN)
            qconn_send_close(c, 0, "");
        if (c->handed_up && c->eof_delivered && c->fin_sent && !c->close_notified) {
            /* a normal end: no error for the application */
            c->close_notified = 1;
            c->refs++;
            if (c->bs.on_close)
                c->bs.on_close(&c->bs);
            c->refs--;
        }
        qconn_fail(c, c->fail_reason);
        return;
    }
    qconn_after_io(c);
}

/* ---- creating connections ----------------------------------------------- */

/* A connection whose handshake was answered by an older process of the
 * peer talks to a dead one: the new process drops its packets silently.
 * Before the handshake completes, only one opened clearly before the new
 * process started (2 s of clock skew allowed) is given up; a younger one
 * may be shaking hands with the new process already. */
static void on_remote_restart(void *arg, const char *node, uint64_t epoch)
{
    struct qconn *c = arg;
    if (!node) {
        if (c->app_closed) { /* a lingering stream: nobody to tell */
            qconn_destroy(c);
            qconn_release(c);
        } else {
            qconn_fail(c, "node shutting down");
        }
        return;
    }
    if (strcmp(node, c->remote_node) != 0 || c->closing)
        return;
    if (c->handshake_done ? epoch > c->peer_epoch : c->created_s + 2 < (int64_t)(epoch >> 24)) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "node %s restarted", node);
        c->fail_reason = c->fail_buf;
        qconn_fail(c, c->fail_reason);
    }
}

static struct qconn *qconn_new(struct node *n, int is_server, const char *remote_node,
                               const char *remote_service)
{
    struct qconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->bs.ops = &qconn_ops;
    c->node = n;
    c->is_server = is_server;
    c->stream_id = -1;
    c->pkt_size = QUIC_PKT_GO;
    c->first_byte_pending = is_server;
    snprintf(c->remote_node, sizeof c->remote_node, "%s", remote_node);
    snprintf(c->remote_service, sizeof c->remote_service, "%s", remote_service);
    buf_init(&c->recvq, QUIC_STREAM_WINDOW + 65536);
    uv_timer_init(node_loop(n), &c->timer);
    c->timer.data = c;
    c->ref.get_conn = get_conn;
    c->ref.user_data = c;
    c->created_s = util_now_ns() / 1000000000;
    c->observer = node_observe_restarts(n, on_remote_restart, c);
    snprintf(c->bs.desc, sizeof c->bs.desc, "quic %.64s:%s", remote_node, remote_service);
    return c;
}

static int qconn_setup_tls(struct qconn *c, const struct stream_tls *tls,
                           gnutls_certificate_credentials_t creds, char *err, size_t errlen)
{
    if (quic_tls_session_new(&c->tls, c->is_server) < 0) {
        snprintf(err, errlen, "cannot create a TLS session");
        return -1;
    }
    if (tls && tls->setup) {
        c->policy = *tls;
        if (tls->setup(tls->arg, c->tls, c->is_server, c->remote_node, err, errlen) < 0)
            return -1;
    } else if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, creds) < 0) {
        snprintf(err, errlen, "cannot set TLS credentials");
        return -1;
    }
    if (!c->is_server && !(tls && tls->setup))
        gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, node_id(c->node), strlen(node_id(c->node)));
    int rc = c->is_server ? ngtcp2_crypto_gnutls_configure_server_session(c->tls)
                          : ngtcp2_crypto_gnutls_configure_client_session(c->tls);
    if (rc != 0) {
        snprintf(err, errlen, "cannot configure the QUIC TLS session");
        return -1;
    }
    gnutls_session_set_ptr(c->tls, &c->ref);
    return 0;
}

static void random_cid(ngtcp2_cid *cid, size_t len)
{
    cid->datalen = len;
    gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, len);
}

/* ---- dialing -------------------------------------------------------------- */

static void dial_on_data(void *arg, const char *from_node, const char *from_service,
                         const uint8_t *data, size_t len)
{
    struct qconn *c = arg;
    if (strcmp(from_node, c->remote_node) != 0 || strcmp(from_service, c->remote_service) != 0)
        return;
    qconn_recv(c, data, len);
}

static void on_unreach(void *arg, const struct msg_unreach *u, const char *reporter)
{
    struct qconn *c = arg;
    (void)reporter;
    if (strcmp(u->to_node, c->remote_node) != 0 || strcmp(u->to_service, c->remote_service) != 0)
        return;
    if (strcmp(u->problem, "service unknown") == 0 || !c->handshake_done) {
        snprintf(c->fail_buf, sizeof c->fail_buf, "%s", u->problem);
        c->fail_reason = c->fail_buf;
        qconn_fail(c, c->fail_reason);
    }
}

static void dial_report_error(uv_timer_t *t)
{
    struct qconn *c = t->data;
    qconn_fail(c, c->fail_reason ? c->fail_reason : "dial failed");
}

struct stream_dial *stream_dial(struct node *n, const char *node, const char *service,
                                const struct stream_tls *tls, stream_dial_cb cb, void *arg)
{
    if (strcasecmp(node, "localhost") == 0)
        node = node_id(n);
    struct qconn *c = qconn_new(n, 0, node, service);
    if (!c)
        return NULL;
    c->dial_cb = cb;
    c->dial_arg = arg;
    char err[256] = "";
    c->svc = node_listen(n, NULL, 0, CONN_DATAGRAM, NULL, dial_on_data, on_unreach, c, err, sizeof err);
    if (!c->svc)
        goto fail;
    if (!(tls && tls->setup) && quic_tls_insecure_client_creds(&c->creds) < 0) {
        snprintf(err, sizeof err, "cannot create TLS credentials");
        goto fail;
    }
    if (strlen(service) > MSG_SERVICE_MAX) {
        snprintf(err, sizeof err, "service name too long");
        goto fail;
    }
    if (qconn_setup_tls(c, tls, c->creds, err, sizeof err) < 0)
        goto fail;
    ngtcp2_callbacks callbacks;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    fill_callbacks(&callbacks, 0);
    fill_settings(&settings, &params, 0);
    ngtcp2_cid dcid, scid;
    random_cid(&dcid, 8);
    random_cid(&scid, 8);
    ngtcp2_path_storage ps;
    struct sockaddr_in6 la, ra;
    fake_path(&ps.path, &la, &ra);
    if (ngtcp2_conn_client_new(&c->conn, &dcid, &scid, &ps.path, NGTCP2_PROTO_VER_V1, &callbacks,
                               &settings, &params, NULL, c) != 0) {
        snprintf(err, sizeof err, "cannot create a QUIC connection");
        goto fail;
    }
    ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
    ngtcp2_conn_set_keep_alive_timeout(c->conn, QUIC_KEEPALIVE);
    qconn_flush(c);
    if (c->fail_reason && !c->closing) {
        /* e.g. "no route to node": report from the loop, not from here */
        uv_timer_start(&c->timer, dial_report_error, 0, 0);
    }
    return (struct stream_dial *)c;
fail:
    snprintf(c->fail_buf, sizeof c->fail_buf, "%.150s", err[0] ? err : "dial failed");
    c->fail_reason = c->fail_buf;
    uv_timer_start(&c->timer, dial_report_error, 0, 0);
    return (struct stream_dial *)c;
}

void stream_dial_cancel(struct stream_dial *d)
{
    struct qconn *c = (struct qconn *)d;
    c->dial_cb = NULL;
    qconn_send_close(c, 0, "normal close");
    qconn_destroy(c);
    qconn_release(c);
}

/* ---- listening ------------------------------------------------------------- */

static struct qconn *listener_find(struct stream_listener *l, const char *node, const char *service)
{
    for (struct qconn *c = l->conns; c; c = c->next)
        if (strcmp(c->remote_node, node) == 0 && strcmp(c->remote_service, service) == 0)
            return c;
    return NULL;
}

static struct qconn *listener_accept(struct stream_listener *l, const char *from_node,
                                     const char *from_service, const uint8_t *data, size_t len)
{
    ngtcp2_pkt_hd hd;
    if (ngtcp2_accept(&hd, data, len) != 0)
        return NULL;
    if (l->nconns >= LISTENER_MAX_CONNS) {
        log_warning("Stream listener %s: too many connections, refusing one from %s",
                    node_service_name(l->svc), from_node);
        return NULL;
    }
    struct qconn *c = qconn_new(l->node, 1, from_node, from_service);
    if (!c)
        return NULL;
    char err[256];
    /* The insecure certificate is made on the first connection, not at
     * startup: a node nobody dials never maps GnuTLS (core/gnutls_lib.h). */
    if ((!l->has_tls && !l->creds && quic_tls_insecure_server_creds(&l->creds, err, sizeof err) < 0) ||
        qconn_setup_tls(c, l->has_tls ? &l->tls : NULL, l->creds, err, sizeof err) < 0) {
        log_warning("Stream listener %s: %s", node_service_name(l->svc), err);
        qconn_destroy(c);
        qconn_release(c);
        return NULL;
    }
    ngtcp2_callbacks callbacks;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    fill_callbacks(&callbacks, 1);
    fill_settings(&settings, &params, 1);
    params.original_dcid = hd.dcid;
    ngtcp2_cid scid;
    random_cid(&scid, 8);
    ngtcp2_path_storage ps;
    struct sockaddr_in6 la, ra;
    fake_path(&ps.path, &la, &ra);
    if (ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &ps.path, hd.version, &callbacks,
                               &settings, &params, NULL, c) != 0) {
        qconn_destroy(c);
        qconn_release(c);
        return NULL;
    }
    ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
    c->listener = l;
    l->refs++;
    c->accept_deadline = util_mono_ns() + QUIC_ACCEPT_TIMEOUT_NS;
    c->next = l->conns;
    l->conns = c;
    l->nconns++;
    return c;
}

static void listen_on_data(void *arg, const char *from_node, const char *from_service,
                           const uint8_t *data, size_t len)
{
    struct stream_listener *l = arg;
    if (l->closing)
        return;
    struct qconn *c = listener_find(l, from_node, from_service);
    if (!c)
        c = listener_accept(l, from_node, from_service, data, len);
    if (c)
        qconn_recv(c, data, len);
}

static void listen_on_unreach(void *arg, const struct msg_unreach *u, const char *reporter)
{
    struct stream_listener *l = arg;
    struct qconn *c = listener_find(l, u->to_node, u->to_service);
    if (c)
        on_unreach(c, u, reporter);
}

struct stream_listener *stream_listen(struct node *n, const char *service, int advertise,
                                      json_t *tags, const struct stream_tls *tls,
                                      stream_accept_cb cb, void *arg, char *err, size_t errlen)
{
    struct stream_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->node = n;
    l->cb = cb;
    l->arg = arg;
    l->refs = 1;
    if (tls && tls->setup) {
        l->tls = *tls;
        l->has_tls = 1;
    }
    l->svc = node_listen(n, service, advertise, l->has_tls ? CONN_STREAM_TLS : CONN_STREAM, tags,
                         listen_on_data, listen_on_unreach, l, err, errlen);
    if (!l->svc) {
        free(l);
        return NULL;
    }
    return l;
}

static void listener_unref(struct stream_listener *l)
{
    if (--l->refs > 0)
        return;
    if (l->creds)
        gnutls_certificate_free_credentials(l->creds);
    free(l);
}

void stream_listener_receive(struct stream_listener *l, const char *node, const char *service,
                             const uint8_t *data, size_t len)
{
    listen_on_data(l, node, service, data, len);
}

void stream_listener_reset(struct stream_listener *l)
{
    while (l->conns)
        qconn_fail(l->conns, "reset");
}

void stream_listener_close(struct stream_listener *l)
{
    l->closing = 1;
    while (l->conns) {
        struct qconn *c = l->conns;
        qconn_send_close(c, 500, "Listener Closed");
        qconn_fail(c, "listener closed");
    }
    node_unlisten(l->node, l->svc);
    l->svc = NULL;
    listener_unref(l);
}

/* ---- the bstream interface ------------------------------------------------- */

static int q_write(struct bstream *s, const uint8_t *data, size_t len)
{
    struct qconn *c = (struct qconn *)s;
    if (c->closing || c->fin_wanted)
        return -1;
    if (sendq_append(c, data, len) < 0)
        return -1;
    if (c->sq_bytes >= BSTREAM_HIGH_WATER)
        c->above_high_water = 1;
    qconn_flush(c);
    return 0;
}

static size_t q_queued(struct bstream *s)
{
    struct qconn *c = (struct qconn *)s;
    return c->sq_bytes;
}

static void q_read_start(struct bstream *s)
{
    struct qconn *c = (struct qconn *)s;
    if (c->reading || (c->closing && !c->net_done))
        return;
    c->reading = 1;
    c->refs++;
    qconn_deliver(c);
    qconn_flush(c); /* window updates */
    c->refs--;
    qconn_release(c);
}

static void q_read_stop(struct bstream *s)
{
    ((struct qconn *)s)->reading = 0;
}

static void q_shutdown(struct bstream *s)
{
    struct qconn *c = (struct qconn *)s;
    if (c->fin_wanted || c->closing)
        return;
    c->fin_wanted = 1;
    qconn_flush(c);
}

/* Upstream's Close() only ends the sending direction; we do the same and
 * linger, detached from the application, until every queued byte is
 * acknowledged (no data lost), then close with application code 0. */
static void q_close(struct bstream *s)
{
    struct qconn *c = (struct qconn *)s;
    if (c->app_closed)
        return;
    c->app_closed = 1;
    c->refs++;
    if (!c->close_notified) {
        c->close_notified = 1;
        if (c->bs.on_close)
            c->bs.on_close(&c->bs);
    }
    bstream_clear_callbacks(&c->bs);
    if (!c->closing) {
        if (!c->handed_up) {
            qconn_send_close(c, 0, "normal close");
            qconn_destroy(c);
        } else {
            c->fin_wanted = 1;
            qconn_after_io(c);
        }
    }
    if (c->net_done) {
        c->net_done = 0;
        c->refs--; /* qconn_keep_received's */
    }
    c->refs--;
    qconn_release(c);
}

static const struct bstream_ops qconn_ops = {
    q_write, q_queued, q_read_start, q_read_stop, q_shutdown, q_close,
};
