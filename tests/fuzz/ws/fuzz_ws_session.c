/* Fuzzes whole WebSocket sessions: the input is fed, in reads whose sizes
 * the first byte chooses, to a session over a fake byte stream, either as
 * a listener (HTTP upgrade request, then masked client frames) or as a
 * dialer (server frames).  The link owner behaves like the mesh: it replies
 * to some messages and closes the link from inside on_message on a reject
 * (type 3), which exercises the deferred paths.  Every message delivered
 * must be 1..65535 bytes, and on_close must run exactly once. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/bstream.h"
#include "core/log.h"
#include "net/ws.h"

struct fake {
    struct bstream s;
    int closed;
    size_t written;
};

static int closes, opened;

static int f_write(struct bstream *s, const uint8_t *d, size_t n)
{
    struct fake *f = (struct fake *)s;
    if (f->closed)
        return -1;
    if (n)
        (void)d[n - 1];
    f->written += n;
    return 0;
}
static size_t f_queued(struct bstream *s) { (void)s; return 0; }
static void f_noop(struct bstream *s) { (void)s; }
static void f_close(struct bstream *s) { ((struct fake *)s)->closed = 1; }

static const struct bstream_ops fake_ops = { f_write, f_queued, f_noop, f_noop, f_noop, f_close };

static void on_message(struct link *l, const uint8_t *msg, size_t len)
{
    if (len == 0 || len > 65535)
        abort();
    (void)msg[len - 1];
    if (msg[0] == 3) {
        l->on_message = NULL;
        link_close(l);
    } else if (msg[0] == 1) {
        static const uint8_t reply[] = { 1, '{', '}' };
        link_send(l, reply, sizeof reply, msg, len > 100 ? 100 : len);
    }
}

static void on_close(struct link *l)
{
    (void)l;
    closes++;
}

static void on_link(void *arg, struct link *l)
{
    (void)arg;
    opened++;
    l->on_message = on_message;
    l->on_close = on_close;
    static const uint8_t hello[] = { 1, '{', '}' };
    link_send(l, hello, sizeof hello, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    log_set_level(LOG_ERROR);
    uv_loop_t *loop = uv_default_loop();
    int server = data[0] & 1;
    size_t step = (size_t)(data[0] >> 1) * 37 + 1;
    data++;
    size--;
    struct fake *f = calloc(1, sizeof *f);
    f->s.ops = &fake_ops;
    opened = closes = 0;
    if (ws_session_start(loop, &f->s, server, "/", on_link, NULL) < 0)
        abort();
    for (size_t off = 0; off < size && !f->closed;) {
        size_t k = step < size - off ? step : size - off;
        f->s.on_read(&f->s, data + off, k);
        off += k;
    }
    if (!f->closed && f->s.on_eof)
        f->s.on_eof(&f->s);
    if (!f->closed)
        abort(); /* EOF must end the session */
    f->s.on_close(&f->s);
    uv_run(loop, UV_RUN_DEFAULT);
    if (closes != opened)
        abort();
    free(f);
    return 0;
}
