/* ctlclient.c - see ctlclient.h. */
#include "work/ctlclient.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

#define LINE_MAX_BYTES (1u << 20)
#define GREETING_MS 5000
#define REPLY_MS 20000   /* a reply line that does not come: a dead connection */
#define UPLOAD_CHUNK 65536

enum ctlc_mode { MODE_CONNECTING, MODE_GREETING, MODE_IDLE, MODE_LINE, MODE_UPLOAD, MODE_RAW, MODE_DEAD };

struct ctlc {
    struct node *node;
    char peer[256];
    struct stream_dial *dial;
    struct bstream *bs;
    struct buf in;
    enum ctlc_mode mode;
    ctlc_done_cb done;
    ctlc_data_cb data;
    void *arg;
    int fd;                 /* upload source */
    int upload_eof;
    uv_timer_t timer;
    int closing;
};

static void ctlc_free_timer(uv_handle_t *h) { free(h->data); }

static void finish(struct ctlc *c, const char *line, const char *err)
{
    ctlc_done_cb cb = c->done;
    c->done = NULL;
    uv_timer_stop(&c->timer);
    if (err)
        c->mode = MODE_DEAD;
    else if (c->mode != MODE_RAW)
        c->mode = MODE_IDLE;
    if (cb)
        cb(c->arg, line, err);
}

static void fail(struct ctlc *c, const char *err)
{
    if (c->mode == MODE_DEAD)
        return;
    finish(c, NULL, err);
}

/* An operation asked of a connection that is not idle: it may have died
 * while nobody waited on it (fail() then had no one to tell), so the
 * caller hears now, or it would wait forever. */
static int refuse_unless_idle(struct ctlc *c)
{
    if (c->mode == MODE_IDLE && c->bs)
        return 0;
    finish(c, NULL, c->mode == MODE_DEAD ? "connection closed" : "not connected");
    return -1;
}

/* Takes one line out of the buffer if there is one. */
static int take_line(struct ctlc *c, char *out, size_t outlen)
{
    uint8_t *p = buf_head(&c->in);
    size_t n = buf_size(&c->in);
    uint8_t *nl = n ? memchr(p, '\n', n) : NULL;
    if (!nl)
        return 0;
    size_t len = (size_t)(nl - p);
    size_t k = len < outlen - 1 ? len : outlen - 1;
    memcpy(out, p, k);
    out[k] = 0;
    if (k && out[k - 1] == '\r')
        out[k - 1] = 0;
    buf_consume(&c->in, len + 1);
    return 1;
}

static void process(struct ctlc *c)
{
    char line[8192];
    if (c->mode == MODE_GREETING) {
        if (!take_line(c, line, sizeof line))
            return;
        if (!strstr(line, c->peer)) {
            fail(c, "remote control service greeting does not name the node");
            return;
        }
        finish(c, line, NULL);
        return;
    }
    if (c->mode == MODE_LINE || (c->mode == MODE_UPLOAD && c->upload_eof)) {
        if (take_line(c, line, sizeof line))
            finish(c, line, NULL);
        return;
    }
    if (c->mode == MODE_RAW && buf_size(&c->in) && c->data) {
        size_t n = buf_size(&c->in);
        uint8_t *copy = malloc(n);
        if (copy) {
            memcpy(copy, buf_head(&c->in), n);
            buf_reset(&c->in);
            c->data(c->arg, copy, n);
            free(copy);
        }
    }
}

static void on_read(struct bstream *bs, const uint8_t *data, size_t len)
{
    struct ctlc *c = bs->data;
    if (c->mode == MODE_RAW && buf_size(&c->in) == 0) {
        if (c->data)
            c->data(c->arg, data, len); /* no copy on the hot path */
        return;
    }
    if (buf_append(&c->in, data, len) < 0) {
        fail(c, "reply line too long");
        return;
    }
    process(c);
}

static void on_eof(struct bstream *bs)
{
    struct ctlc *c = bs->data;
    if (c->mode == MODE_RAW)
        finish(c, NULL, NULL);
    else if (c->mode != MODE_IDLE)
        fail(c, "connection closed by the remote node");
}

static void on_error(struct bstream *bs, const char *msg)
{
    struct ctlc *c = bs->data;
    fail(c, msg);
}

static void on_close(struct bstream *bs)
{
    struct ctlc *c = bs->data;
    c->bs = NULL;
    if (c->mode != MODE_DEAD && c->mode != MODE_IDLE) {
        if (c->mode == MODE_RAW)
            finish(c, NULL, NULL);
        else
            fail(c, "connection closed");
    }
}

static void upload_pump(struct ctlc *c)
{
    uint8_t chunk[UPLOAD_CHUNK];
    while (!c->upload_eof && c->bs && bstream_queued(c->bs) < BSTREAM_HIGH_WATER) {
        ssize_t n = read(c->fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(c, strerror(errno));
            return;
        }
        if (n == 0) {
            c->upload_eof = 1;
            close(c->fd);
            c->fd = -1;
            bstream_shutdown(c->bs);
            process(c);
            return;
        }
        if (bstream_write(c->bs, chunk, (size_t)n) < 0) {
            fail(c, "write failed");
            return;
        }
    }
}

static void on_drain(struct bstream *bs)
{
    struct ctlc *c = bs->data;
    if (c->mode == MODE_UPLOAD && !c->upload_eof)
        upload_pump(c);
}

static void on_timeout(uv_timer_t *t)
{
    struct ctlc *c = t->data;
    fail(c, "timed out waiting for the remote control service");
}

static void on_dialed(void *arg, struct bstream *bs, const char *err)
{
    struct ctlc *c = arg;
    c->dial = NULL;
    if (!bs) {
        fail(c, err);
        return;
    }
    c->bs = bs;
    bs->data = c;
    bs->on_read = on_read;
    bs->on_eof = on_eof;
    bs->on_error = on_error;
    bs->on_drain = on_drain;
    bs->on_close = on_close;
    c->mode = MODE_GREETING;
    uv_timer_start(&c->timer, on_timeout, GREETING_MS, 0);
    bstream_read_start(bs);
}

struct ctlc *ctlc_connect(struct node *n, const char *node, const struct stream_tls *tls,
                          ctlc_done_cb ready, void *arg)
{
    struct ctlc *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = n;
    c->fd = -1;
    snprintf(c->peer, sizeof c->peer, "%s", node);
    buf_init(&c->in, LINE_MAX_BYTES);
    uv_timer_init(node_loop(n), &c->timer);
    c->timer.data = c;
    c->done = ready;
    c->arg = arg;
    c->mode = MODE_CONNECTING;
    c->dial = stream_dial(n, node, "control", tls, on_dialed, c);
    if (!c->dial) {
        buf_free(&c->in);
        uv_close((uv_handle_t *)&c->timer, ctlc_free_timer);
        return NULL;
    }
    return c;
}

void ctlc_request(struct ctlc *c, const char *line, ctlc_done_cb reply, void *arg)
{
    c->done = reply;
    c->arg = arg;
    if (refuse_unless_idle(c) < 0)
        return;
    c->mode = MODE_LINE;
    uv_timer_start(&c->timer, on_timeout, REPLY_MS, 0);
    bstream_write(c->bs, line, strlen(line));
    bstream_write(c->bs, "\n", 1);
    process(c);
}

void ctlc_upload(struct ctlc *c, const char *path, ctlc_done_cb reply, void *arg)
{
    c->done = reply;
    c->arg = arg;
    if (refuse_unless_idle(c) < 0)
        return;
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        fail(c, strerror(errno));
        return;
    }
    c->mode = MODE_UPLOAD;
    c->upload_eof = 0;
    upload_pump(c);
}

void ctlc_download(struct ctlc *c, ctlc_data_cb data, ctlc_done_cb done, void *arg)
{
    c->data = data;
    c->done = done;
    c->arg = arg;
    c->mode = MODE_RAW;
    process(c);
}

void ctlc_close(struct ctlc *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->done = NULL;
    c->data = NULL;
    c->mode = MODE_DEAD;
    if (c->dial)
        stream_dial_cancel(c->dial);
    if (c->bs) {
        c->bs->data = NULL;
        bstream_clear_callbacks(c->bs);
        bstream_close(c->bs);
    }
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->in);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, ctlc_free_timer);
}
