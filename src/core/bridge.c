/* bridge.c - see bridge.h. */
#include "core/bridge.h"

#include <stdlib.h>

#include "core/log.h"

struct side {
    struct bstream *s;
    struct side *peer;
    struct bridge *br;
    int eof;        /* this side sent EOF (we shut the peer's writing) */
    int closed;     /* on_close seen */
    int paused;     /* reading stopped for back-pressure */
};

struct bridge {
    struct side a, b;
    int ending;
    int depth;      /* inside on_close: a peer closing synchronously must not free us */
    void (*done)(void *arg);
    void *arg;
};

static void bridge_end(struct bridge *br)
{
    if (br->ending)
        return;
    br->ending = 1;
    if (!br->a.closed)
        bstream_close(br->a.s);
    if (!br->b.closed)
        bstream_close(br->b.s);
}

static void maybe_free(struct bridge *br)
{
    if (br->depth == 0 && br->a.closed && br->b.closed) {
        if (br->done)
            br->done(br->arg);
        free(br);
    }
}

static void on_read(struct bstream *s, const uint8_t *data, size_t len)
{
    struct side *sd = s->data;
    struct bstream *to = sd->peer->s;
    if (bstream_write(to, data, len) < 0) {
        bridge_end(sd->br);
        return;
    }
    if (bstream_queued(to) >= BSTREAM_HIGH_WATER) {
        sd->paused = 1;
        bstream_read_stop(s);
    }
}

static void on_drain(struct bstream *s)
{
    struct side *sd = s->data;
    struct side *src = sd->peer; /* the side that writes into s */
    if (src->paused && !src->eof && !sd->br->ending) {
        src->paused = 0;
        bstream_read_start(src->s);
    }
}

static void on_eof(struct bstream *s)
{
    struct side *sd = s->data;
    sd->eof = 1;
    bstream_shutdown(sd->peer->s);
    if (sd->peer->eof)
        bridge_end(sd->br);
}

static void on_error(struct bstream *s, const char *msg)
{
    log_debug("bridge: %s: %s", s->desc, msg);
}

static void on_close(struct bstream *s)
{
    struct side *sd = s->data;
    struct bridge *br = sd->br;
    sd->closed = 1;
    br->depth++; /* closing the peer may report its close from inside close() */
    bridge_end(br);
    br->depth--;
    maybe_free(br);
}

static void side_init(struct side *sd, struct bstream *s, struct side *peer, struct bridge *br)
{
    sd->s = s;
    sd->peer = peer;
    sd->br = br;
    s->data = sd;
    s->on_read = on_read;
    s->on_eof = on_eof;
    s->on_error = on_error;
    s->on_drain = on_drain;
    s->on_close = on_close;
}

struct bridge *bridge_start(struct bstream *a, struct bstream *b, const uint8_t *a_to_b,
                            size_t a_to_b_len, void (*done)(void *arg), void *arg)
{
    struct bridge *br = calloc(1, sizeof *br);
    if (!br) {
        bstream_close(a);
        bstream_close(b);
        return NULL;
    }
    br->done = done;
    br->arg = arg;
    side_init(&br->a, a, &br->b, br);
    side_init(&br->b, b, &br->a, br);
    if (a_to_b_len)
        bstream_write(b, a_to_b, a_to_b_len);
    bstream_read_start(a);
    bstream_read_start(b);
    return br;
}
