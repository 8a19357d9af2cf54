/* kube_ws.c - a unit's stdin into its pod: the pods/attach sub-resource over
 * a WebSocket (kube_ws.h).
 *
 * The connection is libcurl's (CONNECT_ONLY: TLS, CA and client certificate
 * exactly as for the other requests); the upgrade request and the frames
 * are ours, framed by wslay.  The server picks `v5.channel.k8s.io` or, when
 * it is older than Kubernetes 1.30, `v4.channel.k8s.io`.  Every data
 * message starts with its channel byte (0 = stdin).  At the end of the stdin
 * file: v5 sends the close signal ([255, 0]: close channel 0), then, once
 * every data frame is out (wslay sends control frames first), both close
 * the WebSocket, which is also how v4 ends stdin (with stdinOnce set
 * the kubelet closes the container's stdin when the attach ends).
 *
 * The stdin file is read in 32 KiB pieces and at most KWS_QUEUE bytes wait
 * in wslay's queue, so memory is bounded whatever the payload size; the
 * socket is watched with one uv_poll. */
#include "work/kube_ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "core/gnutls_lib.h"
#include "core/util.h"

#define KWS_CHUNK (32 * 1024)
#define KWS_QUEUE (256 * 1024)
#define KWS_HEAD_MAX (16 * 1024)

struct kube_ws {
    struct kube_http *h;
    struct kube_req *conn;
    uv_loop_t *loop;
    uv_poll_t *poll;
    wslay_event_context_ptr ctx;
    int stdin_fd;
    int stdin_eof;
    int v5;
    int upgraded;
    int finished;
    int peer_eof;             /* the server closed the connection cleanly */
    char *request;            /* the upgrade request still to send */
    size_t req_len, req_off;
    char head[KWS_HEAD_MAX];  /* the response head, then any bytes after it */
    size_t head_len, pre_off, pre_len;
    char accept[64];
    void (*on_done)(void *arg, const char *err);
    void *arg;
};

static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static void ws_close_handles(struct kube_ws *w);

/* Ends the attach once; the callback may free the caller's state but not w
 * (kube_ws_cancel is still the owner's to call). */
static void ws_finish(struct kube_ws *w, const char *err)
{
    if (w->finished)
        return;
    w->finished = 1;
    if (w->poll)
        uv_poll_stop(w->poll);
    w->on_done(w->arg, err);
}

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct kube_ws *w = ud;
    if (w->pre_off < w->pre_len) {
        size_t n = w->pre_len - w->pre_off < len ? w->pre_len - w->pre_off : len;
        memcpy(buf, w->head + w->pre_off, n);
        w->pre_off += n;
        return (ssize_t)n;
    }
    ssize_t r = kube_req_recv(w->conn, buf, len);
    if (r == -2) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r <= 0) {
        w->peer_eof = r == 0;
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                          void *ud)
{
    (void)flags;
    struct kube_ws *w = ud;
    ssize_t r = kube_req_send(w->conn, data, len);
    if (r == -2 || r == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (r < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return r;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx;
    (void)ud;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)util_random_u64();
    return 0;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    (void)ctx;
    (void)a;
    (void)ud; /* stdout and stderr are not attached; the status channel is not needed */
}

/* Queues stdin while the queue has room; at the end, the close signal and
 * the close frame. */
static int ws_fill(struct kube_ws *w, char *err, size_t errlen)
{
    uint8_t buf[KWS_CHUNK + 1];
    while (!w->stdin_eof && wslay_event_get_queued_msg_length(w->ctx) < KWS_QUEUE) {
        ssize_t n = read(w->stdin_fd, buf + 1, KWS_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "reading stdin: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            w->stdin_eof = 1;
            if (w->v5) {
                static const uint8_t close_stdin[2] = { 255, 0 };
                struct wslay_event_msg m = { WSLAY_BINARY_FRAME, close_stdin, 2 };
                wslay_event_queue_msg(w->ctx, &m);
            }
            break;
        }
        buf[0] = 0;
        struct wslay_event_msg m = { WSLAY_BINARY_FRAME, buf, (size_t)n + 1 };
        if (wslay_event_queue_msg(w->ctx, &m) != 0) {
            snprintf(err, errlen, "websocket queue refused a message");
            return -1;
        }
    }
    return 0;
}

static void ws_on_poll(uv_poll_t *p, int status, int events);

static void ws_arm(struct kube_ws *w)
{
    int ev = UV_READABLE;
    /* writable: to send what wslay holds, and to go on reading stdin */
    if (!w->upgraded ? w->req_off < w->req_len
                     : wslay_event_want_write(w->ctx) || !w->stdin_eof ||
                           !wslay_event_get_close_sent(w->ctx))
        ev |= UV_WRITABLE;
    uv_poll_start(w->poll, ev, ws_on_poll);
}

/* The response head: 101 with the subprotocol we offered. */
static int ws_check_head(struct kube_ws *w, char *err, size_t errlen)
{
    char *end = strstr(w->head, "\r\n\r\n");
    size_t hl = (size_t)(end - w->head) + 4;
    w->pre_off = hl;
    w->pre_len = w->head_len;
    *end = '\0';
    if (strncmp(w->head, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(w->head, "\r\n");
        snprintf(err, errlen, "attach refused: %.*s", eol ? (int)(eol - w->head) : 80, w->head);
        return -1;
    }
    const char *proto = NULL, *accept = NULL;
    for (char *line = strstr(w->head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Sec-WebSocket-Protocol:", 23) == 0)
            proto = line + 23;
        else if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0)
            accept = line + 21;
    }
    while (proto && *proto == ' ')
        proto++;
    while (accept && *accept == ' ')
        accept++;
    if (!accept || strncmp(accept, w->accept, strlen(w->accept)) != 0) {
        snprintf(err, errlen, "attach: the server's Sec-WebSocket-Accept is wrong");
        return -1;
    }
    if (proto && strncmp(proto, "v5.channel.k8s.io", 17) == 0)
        w->v5 = 1;
    else if (!proto || strncmp(proto, "v4.channel.k8s.io", 17) != 0) {
        snprintf(err, errlen, "attach: the server chose no supported subprotocol (want "
                              "v5.channel.k8s.io or v4.channel.k8s.io)");
        return -1;
    }
    struct wslay_event_callbacks cb = { ws_recv_cb, ws_send_cb, ws_genmask_cb, NULL, NULL, NULL,
                                        ws_on_msg };
    if (wslay_event_context_client_init(&w->ctx, &cb, w) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(w->ctx, 1 << 20);
    w->upgraded = 1;
    return 0;
}

/* Before the upgrade: send the request, read the head. */
static int ws_handshake_io(struct kube_ws *w, char *err, size_t errlen)
{
    while (w->req_off < w->req_len) {
        ssize_t n = kube_req_send(w->conn, w->request + w->req_off, w->req_len - w->req_off);
        if (n == -2 || n == 0)
            return 0;
        if (n < 0) {
            snprintf(err, errlen, "attach: sending the upgrade request failed");
            return -1;
        }
        w->req_off += (size_t)n;
    }
    for (;;) {
        if (w->head_len >= sizeof w->head - 1) {
            snprintf(err, errlen, "attach: response head larger than %d bytes", KWS_HEAD_MAX);
            return -1;
        }
        ssize_t n = kube_req_recv(w->conn, w->head + w->head_len, sizeof w->head - 1 - w->head_len);
        if (n == -2)
            return 0;
        if (n <= 0) {
            snprintf(err, errlen, "attach: the server closed the connection during the upgrade");
            return -1;
        }
        w->head_len += (size_t)n;
        w->head[w->head_len] = '\0';
        if (strstr(w->head, "\r\n\r\n"))
            return ws_check_head(w, err, errlen);
    }
}

static void ws_step(struct kube_ws *w)
{
    char err[256] = "";
    if (!w->upgraded) {
        if (ws_handshake_io(w, err, sizeof err) < 0) {
            ws_finish(w, err);
            return;
        }
        if (!w->upgraded) {
            ws_arm(w);
            return;
        }
    }
    if (ws_fill(w, err, sizeof err) < 0) {
        ws_finish(w, err);
        return;
    }
    int rr = wslay_event_recv(w->ctx);
    int rs = rr == 0 ? wslay_event_send(w->ctx) : 0;
    if (ws_fill(w, err, sizeof err) == 0 && rs == 0 && rr == 0)
        rs = wslay_event_send(w->ctx);
    /* wslay sends control frames before queued data: close only once all
     * of stdin (and the close signal) has gone out */
    if (rs == 0 && rr == 0 && w->stdin_eof && !wslay_event_get_close_sent(w->ctx) &&
        wslay_event_get_queued_msg_count(w->ctx) == 0) {
        wslay_event_queue_close(w->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        rs = wslay_event_send(w->ctx);
    }
    if (wslay_event_get_close_sent(w->ctx) &&
        wslay_event_get_status_code_sent(w->ctx) != WSLAY_CODE_NORMAL_CLOSURE) {
        /* wslay closed the stream itself: the server broke the protocol */
        snprintf(err, sizeof err, "attach: the server's data is not valid WebSocket frames "
                 "(closed with code %u)", (unsigned)wslay_event_get_status_code_sent(w->ctx));
        ws_finish(w, err);
        return;
    }
    /* done: all of stdin went out, we closed, and the server answered our
     * close or hung up cleanly (not: sent something that is no frame) */
    if (w->stdin_eof && wslay_event_get_close_sent(w->ctx) &&
        (wslay_event_get_close_received(w->ctx) || (rr == WSLAY_ERR_CALLBACK_FAILURE && w->peer_eof))) {
        ws_finish(w, NULL); /* all of stdin went out and the attach is closed */
        return;
    }
    if (rr != 0 || rs != 0) {
        if (!err[0] && rr != 0 && rr != WSLAY_ERR_CALLBACK_FAILURE)
            snprintf(err, sizeof err, "attach: the server's data is not valid WebSocket frames");
        ws_finish(w, err[0] ? err : "attach: the connection to the API server was lost");
        return;
    }
    if (!wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx)) {
        ws_finish(w, w->stdin_eof ? NULL : "attach: the server closed the stream early");
        return;
    }
    ws_arm(w);
}

static void ws_on_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct kube_ws *w = p->data;
    if (w->finished)
        return;
    if (status < 0 && !w->upgraded) {
        ws_finish(w, "attach: socket error");
        return;
    }
    ws_step(w);
}

static void ws_on_connected(void *arg, long status, const char *body, size_t len, const char *err)
{
    (void)status;
    (void)body;
    (void)len;
    struct kube_ws *w = arg;
    if (err) {
        char msg[512];
        snprintf(msg, sizeof msg, "attach: %s", err);
        ws_finish(w, msg);
        return;
    }
    int fd = kube_req_fd(w->conn);
    w->poll = calloc(1, sizeof *w->poll);
    if (fd < 0 || !w->poll || uv_poll_init_socket(w->loop, w->poll, fd) < 0) {
        free(w->poll);
        w->poll = NULL;
        ws_finish(w, "attach: cannot watch the connection");
        return;
    }
    w->poll->data = w;
    ws_step(w);
}

struct kube_ws *kube_ws_start(struct kube_http *h, uv_loop_t *loop, const struct kube_ws_opts *o,
                              char *err, size_t errlen)
{
    struct kube_ws *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->h = h;
    w->loop = loop;
    w->stdin_fd = o->stdin_fd;
    w->on_done = o->on_done;
    w->arg = o->arg;
    unsigned char key[16], digest[20];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)util_random_u64();
    char key64[32], cat[128];
    b64_encode(key, sizeof key, key64);
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key64);
    if (gnutls_lib_load(err, errlen) < 0) {
        free(w);
        return NULL;
    }
    gnutls_hash_fast(GNUTLS_DIG_SHA1, cat, strlen(cat), digest);
    b64_encode(digest, sizeof digest, w->accept);
    const char *host = strstr(o->conn->server, "://");
    host = host ? host + 3 : o->conn->server;
    size_t cap = strlen(o->path) + strlen(host) + (o->conn->token ? strlen(o->conn->token) : 0) + 512;
    w->request = malloc(cap);
    if (!w->request) {
        free(w);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int n = snprintf(w->request, cap,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"
                     "%s%s%s\r\n",
                     o->path, host, key64, o->conn->token ? "Authorization: Bearer " : "",
                     o->conn->token ? o->conn->token : "", o->conn->token ? "\r\n" : "");
    w->req_len = (size_t)n;
    w->conn = kube_req_connect(h, o->conn, ws_on_connected, w, err, errlen);
    if (!w->conn) {
        free(w->request);
        free(w);
        return NULL;
    }
    return w;
}

static void free_poll(uv_handle_t *hd) { free(hd); }

static void ws_close_handles(struct kube_ws *w)
{
    if (w->poll) {
        uv_poll_stop(w->poll);
        uv_close((uv_handle_t *)w->poll, free_poll);
        w->poll = NULL;
    }
}

void kube_ws_cancel(struct kube_ws *w)
{
    if (!w)
        return;
    ws_close_handles(w);
    if (w->ctx)
        wslay_event_context_free(w->ctx);
    kube_req_cancel(w->conn);
    free(w->request);
    free(w);
}
