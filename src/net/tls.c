/* tls.c - see tls.h.
 *
 * One struct tls_stream per session: the outer bstream, the inner one, a
 * GnuTLS session whose pull function reads from `in` (ciphertext received)
 * and whose push function writes straight into the inner stream (which
 * copies and queues), `pending` for plaintext written before the handshake,
 * and one timer used in turn to start the handshake on the next loop
 * iteration, to time it out, to resume delivery after read_start(), and to
 * bound the flush of a final alert.
 *
 * Ordering rules that keep callbacks safe:
 * - Data is only ever delivered from loop callbacks (inner read, timer),
 *   never from inside a call the owner makes (read_start, write...).
 * - After teardown starts (`dead`), nothing is delivered and the inner
 *   stream is not touched once its close was requested.
 * - The memory goes only when both the inner stream and the timer handle
 *   have reported their close, and the timer's close is always
 *   asynchronous, so the struct never vanishes under a running callback. */
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define RECORD_MAX 16384
#define FLUSH_MS 1000
#define MAX_NONFATAL 1000  /* non-fatal record errors in a row before giving up */

struct tls_stream {
    struct bstream s;          /* first: the owner's view */
    struct bstream *inner;
    struct tls_config *cfg;    /* handshake failures are counted there */
    gnutls_session_t sess;
    uv_timer_t timer;
    struct buf in;             /* ciphertext not yet pulled by GnuTLS */
    struct buf pending;        /* plaintext written before the handshake */
    void (*on_ready)(struct bstream *s);
    unsigned timeout_ms;
    int kicked;                /* the handshake was started */
    int ready;                 /* handshake done, peer verified */
    int reading;               /* the owner wants data */
    int inner_reading;
    int inner_eof;
    int eof_reported;
    int shut_wanted;
    int dead;                  /* failed or closed: no more I/O for the owner */
    int flushing;              /* waiting for the inner queue before closing */
    int inner_failed;
    int close_called;          /* inner close requested, timer closing */
    int inner_closed;
    int timer_closed;
    int in_drive;
};

static void drive(struct tls_stream *t);

/* ---- teardown --------------------------------------------------------------- */

static void maybe_finish(struct tls_stream *t)
{
    if (!(t->close_called && t->inner_closed && t->timer_closed))
        return;
    if (t->s.on_close)
        t->s.on_close(&t->s);
    gnutls_deinit(t->sess);
    buf_free(&t->in);
    buf_free(&t->pending);
    free(t);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tls_stream *t = h->data;
    t->timer_closed = 1;
    maybe_finish(t);
}

static void close_now(struct tls_stream *t)
{
    if (t->close_called)
        return;
    t->close_called = 1;
    t->dead = 1;
    t->flushing = 0;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
    if (!t->inner_closed)
        bstream_close(t->inner);
}

static void on_timer(uv_timer_t *h);

/* Lets a final alert reach the peer before the socket goes: half-close
 * after it, and keep reading (and dropping) until the peer closes too, so
 * the kernel does not answer the peer's unread bytes with a reset that
 * would destroy the alert.  Bounded by FLUSH_MS. */
static void flush_then_close(struct tls_stream *t)
{
    if (t->close_called || t->flushing)
        return;
    if (t->inner_failed || t->inner_closed || t->inner_eof) {
        close_now(t);
        return;
    }
    t->flushing = 1;
    bstream_shutdown(t->inner);
    if (!t->inner_reading) {
        t->inner_reading = 1;
        bstream_read_start(t->inner);
    }
    uv_timer_start(&t->timer, on_timer, FLUSH_MS, 0);
}

static void fail(struct tls_stream *t, const char *why)
{
    if (t->dead)
        return;
    t->dead = 1;
    char msg[700];
    snprintf(msg, sizeof msg, "%s: %s", t->s.desc, why);
    if (t->s.on_error)
        t->s.on_error(&t->s, msg);
    flush_then_close(t);
}

/* ---- transport ------------------------------------------------------------- */

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
    struct tls_stream *t = p;
    size_t have = buf_size(&t->in);
    if (have == 0) {
        if (t->inner_eof || t->inner_closed)
            return 0;
        gnutls_transport_set_errno(t->sess, EAGAIN);
        return -1;
    }
    size_t n = have < len ? have : len;
    memcpy(data, buf_head(&t->in), n);
    buf_consume(&t->in, n);
    return (ssize_t)n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    (void)ms;
    struct tls_stream *t = p;
    return buf_size(&t->in) > 0 || t->inner_eof || t->inner_closed ? 1 : 0;
}

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
    struct tls_stream *t = p;
    if (t->close_called || t->inner_closed || t->inner_failed ||
        bstream_write(t->inner, data, len) < 0) {
        gnutls_transport_set_errno(t->sess, EPIPE);
        return -1;
    }
    return (ssize_t)len;
}

static void update_inner_reading(struct tls_stream *t)
{
    if (t->close_called || t->inner_closed || t->flushing)
        return;
    int want = !t->dead && !t->inner_eof && (!t->ready || t->reading);
    if (want == t->inner_reading)
        return;
    t->inner_reading = want;
    if (want)
        bstream_read_start(t->inner);
    else
        bstream_read_stop(t->inner);
}

/* ---- handshake ------------------------------------------------------------- */

static const char *describe(struct tls_stream *t, int rc, char *buf, size_t len)
{
    const char *ours = tlsconf_session_error(t->sess);
    if (ours)
        return ours;
    switch (rc) {
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
        snprintf(buf, len, "remote error: %s", gnutls_alert_get_name(gnutls_alert_get(t->sess)));
        return buf;
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
    case GNUTLS_E_CERTIFICATE_REQUIRED:
        return "peer certificate missing";
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
        snprintf(buf, len, "no TLS version or cipher suite in common with the peer (%s)",
                 gnutls_strerror(rc));
        return buf;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
        if (t->inner_eof || t->inner_closed)
            return "connection closed by peer during TLS handshake";
        break;
    default:
        break;
    }
    snprintf(buf, len, "%s", gnutls_strerror(rc));
    return buf;
}

static enum tls_fail_reason classify(struct tls_stream *t, int rc)
{
    if (tlsconf_session_error(t->sess))
        return TLS_FAIL_VERIFY;
    switch (rc) {
    case GNUTLS_E_FATAL_ALERT_RECEIVED:
        return TLS_FAIL_REMOTE_ALERT;
    case GNUTLS_E_NO_CERTIFICATE_FOUND:
    case GNUTLS_E_CERTIFICATE_REQUIRED:
        return TLS_FAIL_NO_CERTIFICATE;
    case GNUTLS_E_NO_CIPHER_SUITES:
    case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
    case GNUTLS_E_NO_COMMON_KEY_SHARE:
        return TLS_FAIL_NO_COMMON;
    case GNUTLS_E_PREMATURE_TERMINATION:
    case GNUTLS_E_UNEXPECTED_PACKET_LENGTH:
        return (t->inner_eof || t->inner_closed) ? TLS_FAIL_CLOSED : TLS_FAIL_OTHER;
    default:
        return TLS_FAIL_OTHER;
    }
}

static int send_plain(struct tls_stream *t, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = gnutls_record_send(t->sess, p, len > RECORD_MAX ? RECORD_MAX : len);
        if (n <= 0) {
            char why[300];
            snprintf(why, sizeof why, "write failed: %s", gnutls_strerror((int)n));
            fail(t, why);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void handshake_done(struct tls_stream *t)
{
    t->ready = 1;
    uv_timer_stop(&t->timer);
    if (buf_size(&t->pending) > 0 && send_plain(t, buf_head(&t->pending), buf_size(&t->pending)) < 0)
        return;
    buf_free(&t->pending);
    if (t->on_ready)
        t->on_ready(&t->s);
    if (!t->dead && t->shut_wanted) {
        gnutls_bye(t->sess, GNUTLS_SHUT_WR);
        bstream_shutdown(t->inner);
    }
}

static void handshake_step(struct tls_stream *t)
{
    int rc;
    int tries = 0;
    do {
        rc = gnutls_handshake(t->sess);
    } while (rc < 0 && rc != GNUTLS_E_AGAIN && !gnutls_error_is_fatal(rc) && ++tries < MAX_NONFATAL);
    if (rc == GNUTLS_E_AGAIN)
        return;
    if (rc < 0) {
        char buf[300];
        const char *why = describe(t, rc, buf, sizeof buf);
        if (rc != GNUTLS_E_FATAL_ALERT_RECEIVED && !t->inner_eof && !t->inner_closed)
            gnutls_alert_send_appropriate(t->sess, rc);
        tls_config_count_failure(t->cfg, classify(t, rc));
        fail(t, why);
        return;
    }
    handshake_done(t);
}

/* ---- reading ----------------------------------------------------------------- */

static void report_eof(struct tls_stream *t)
{
    if (t->eof_reported)
        return;
    t->eof_reported = 1;
    if (t->s.on_eof)
        t->s.on_eof(&t->s);
    else
        close_now(t);
}

static void read_records(struct tls_stream *t)
{
    int nonfatal = 0;
    while (t->reading && !t->dead && !t->eof_reported) {
        uint8_t buf[RECORD_MAX];
        ssize_t n = gnutls_record_recv(t->sess, buf, sizeof buf);
        if (n > 0) {
            nonfatal = 0;
            if (t->s.on_read)
                t->s.on_read(&t->s, buf, (size_t)n);
            continue;
        }
        if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) {
            report_eof(t);
            return;
        }
        if (n == GNUTLS_E_AGAIN)
            return;
        if (!gnutls_error_is_fatal((int)n) && ++nonfatal < MAX_NONFATAL)
            continue; /* warning alerts, refused renegotiation requests */
        char why[300];
        if (n == GNUTLS_E_FATAL_ALERT_RECEIVED)
            snprintf(why, sizeof why, "remote error: %s", gnutls_alert_get_name(gnutls_alert_get(t->sess)));
        else
            snprintf(why, sizeof why, "read failed: %s", gnutls_strerror((int)n));
        fail(t, why);
        return;
    }
}

static void drive(struct tls_stream *t)
{
    if (t->in_drive || t->dead)
        return;
    t->in_drive = 1;
    if (!t->ready)
        handshake_step(t);
    if (t->ready && !t->dead)
        read_records(t);
    t->in_drive = 0;
    update_inner_reading(t);
}

static void on_timer(uv_timer_t *h)
{
    struct tls_stream *t = h->data;
    if (t->flushing) {
        close_now(t);
        return;
    }
    if (!t->kicked) {
        t->kicked = 1;
        if (t->timeout_ms)
            uv_timer_start(&t->timer, on_timer, t->timeout_ms, 0);
        drive(t);
        return;
    }
    if (!t->ready) {
        char why[80];
        snprintf(why, sizeof why, "TLS handshake timed out after %u s", t->timeout_ms / 1000);
        tls_config_count_failure(t->cfg, TLS_FAIL_TIMEOUT);
        fail(t, why);
        return;
    }
    drive(t); /* resume after read_start */
}

/* ---- inner stream callbacks -------------------------------------------------- */

static void inner_read(struct bstream *in, const uint8_t *data, size_t len)
{
    struct tls_stream *t = in->data;
    if (t->dead)
        return; /* failed: flushing, what the peer still sends is dropped */
    if (buf_append(&t->in, data, len) < 0) {
        fail(t, "too much data buffered");
        return;
    }
    drive(t);
}

static void inner_eof(struct bstream *in)
{
    struct tls_stream *t = in->data;
    t->inner_eof = 1;
    t->inner_reading = 0;
    if (t->flushing) {
        close_now(t);
        return;
    }
    if (!t->ready || t->reading)
        drive(t);
}

static void inner_error(struct bstream *in, const char *msg)
{
    struct tls_stream *t = in->data;
    t->inner_failed = 1;
    fail(t, msg);
}

static void inner_drain(struct bstream *in)
{
    struct tls_stream *t = in->data;
    if (t->ready && !t->dead && buf_size(&t->pending) == 0 && t->s.on_drain)
        t->s.on_drain(&t->s);
}

static void inner_close(struct bstream *in)
{
    struct tls_stream *t = in->data;
    t->inner_closed = 1;
    if (!t->close_called) {
        fail(t, "connection closed");
        close_now(t);
    }
    maybe_finish(t);
}

/* ---- the owner's operations -------------------------------------------------- */

static int t_write(struct bstream *s, const uint8_t *data, size_t len)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (t->dead || t->shut_wanted)
        return -1;
    if (len == 0)
        return 0;
    if (!t->ready)
        return buf_append(&t->pending, data, len) < 0 ? -1 : 0;
    return send_plain(t, data, len);
}

static size_t t_queued(struct bstream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    size_t inner = t->close_called || t->inner_closed ? 0 : bstream_queued(t->inner);
    return buf_size(&t->pending) + inner;
}

static void t_read_start(struct bstream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (t->dead || t->reading)
        return;
    t->reading = 1;
    int buffered = buf_size(&t->in) > 0 || gnutls_record_check_pending(t->sess) > 0 || t->inner_eof;
    if (t->ready && buffered && !t->in_drive)
        uv_timer_start(&t->timer, on_timer, 0, 0);
    update_inner_reading(t);
}

static void t_read_stop(struct bstream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (!t->reading)
        return;
    t->reading = 0;
    if (!t->in_drive)
        update_inner_reading(t);
}

static void t_shutdown(struct bstream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    if (t->dead || t->shut_wanted)
        return;
    t->shut_wanted = 1;
    if (t->ready) {
        gnutls_bye(t->sess, GNUTLS_SHUT_WR);
        bstream_shutdown(t->inner);
    }
}

static void t_close(struct bstream *s)
{
    struct tls_stream *t = (struct tls_stream *)s;
    t->dead = 1;
    close_now(t);
}

static const struct bstream_ops tls_ops = {
    t_write, t_queued, t_read_start, t_read_stop, t_shutdown, t_close,
};

/* ---- setup ------------------------------------------------------------------- */

static void describe_peer(struct tls_stream *t)
{
    const char *d = t->inner->desc;
    if (strncmp(d, "tcp ", 4) == 0)
        d += 4;
    snprintf(t->s.desc, sizeof t->s.desc, "tls %.*s", (int)sizeof t->s.desc - 5, d);
}

static int session_new(struct tls_stream *t, struct tls_config *cfg, int is_server, const char *server_name,
                       const char *expect_node_id, char *err, size_t errlen)
{
    if (gnutls_init(&t->sess, (is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NONBLOCK) < 0) {
        snprintf(err, errlen, "cannot create a TLS session");
        return -1;
    }
    if (tlsconf_session_setup(cfg, t->sess, is_server, server_name, expect_node_id, 0, err, errlen) < 0) {
        gnutls_deinit(t->sess);
        return -1;
    }
    gnutls_transport_set_ptr(t->sess, t);
    gnutls_transport_set_push_function(t->sess, tls_push);
    gnutls_transport_set_pull_function(t->sess, tls_pull);
    gnutls_transport_set_pull_timeout_function(t->sess, tls_pull_timeout);
    gnutls_handshake_set_timeout(t->sess, 0);
    return 0;
}

struct bstream *tls_wrap(struct bstream *inner, struct tls_config *cfg, int is_server,
                         const char *server_name, const char *expect_node_id, uv_loop_t *loop,
                         unsigned handshake_timeout_ms, char *err, size_t errlen)
{
    struct tls_stream *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (session_new(t, cfg, is_server, server_name, expect_node_id, err, errlen) < 0) {
        free(t);
        return NULL;
    }
    t->s.ops = &tls_ops;
    t->inner = inner;
    t->cfg = cfg;
    t->timeout_ms = handshake_timeout_ms;
    buf_init(&t->in, TLS_INPUT_MAX);
    buf_init(&t->pending, TLS_PENDING_MAX);
    describe_peer(t);
    inner->data = t;
    inner->on_read = inner_read;
    inner->on_eof = inner_eof;
    inner->on_error = inner_error;
    inner->on_drain = inner_drain;
    inner->on_close = inner_close;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, 0, 0);
    t->inner_reading = 1; /* the handshake needs the peer's bytes */
    bstream_read_start(inner);
    return &t->s;
}

void tls_set_ready_cb(struct bstream *s, void (*on_ready)(struct bstream *s))
{
    ((struct tls_stream *)s)->on_ready = on_ready;
}

int tls_is_ready(const struct bstream *s) { return ((const struct tls_stream *)s)->ready; }
