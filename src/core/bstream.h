/* bstream.h - one byte-stream interface for unix sockets, TCP, TLS over any
 * byte stream, and QUIC streams over the mesh.
 *
 * Code above (control sessions, connect, proxies, remote work) is written
 * once against this interface.  A stream delivers bytes with on_read until
 * read_stop(); write() copies the bytes into the stream's queue and never
 * blocks; writers watch bstream_queued() and wait for on_drain before writing
 * more than BSTREAM_HIGH_WATER, which gives back-pressure end to end.
 * shutdown() half-closes (FIN / SHUT_WR) after queued bytes are sent;
 * close() tears everything down and on_close runs exactly once, after which
 * the stream's memory is gone.
 *
 * Callbacks: on_read(data, len) with len > 0; on_eof() when the peer
 * half-closed; on_error(msg) before a failure close; on_close(). */
#ifndef CORE_BSTREAM_H
#define CORE_BSTREAM_H

#include <stddef.h>
#include <stdint.h>

#define BSTREAM_HIGH_WATER (256u * 1024)

struct bstream;

struct bstream_ops {
    int (*write)(struct bstream *s, const uint8_t *data, size_t len);
    size_t (*queued)(struct bstream *s);
    void (*read_start)(struct bstream *s);
    void (*read_stop)(struct bstream *s);
    void (*shutdown)(struct bstream *s);
    void (*close)(struct bstream *s);
};

struct bstream {
    const struct bstream_ops *ops;
    void (*on_read)(struct bstream *s, const uint8_t *data, size_t len);
    void (*on_eof)(struct bstream *s);
    void (*on_error)(struct bstream *s, const char *msg);
    void (*on_drain)(struct bstream *s);   /* queue fell to zero after a write */
    void (*on_close)(struct bstream *s);
    void *data;                             /* owner's pointer */
    char desc[96];                          /* for log lines */
};

static inline int bstream_write(struct bstream *s, const void *d, size_t n)
{
    return s->ops->write(s, (const uint8_t *)d, n);
}
static inline size_t bstream_queued(struct bstream *s) { return s->ops->queued(s); }
static inline void bstream_read_start(struct bstream *s) { s->ops->read_start(s); }
static inline void bstream_read_stop(struct bstream *s) { s->ops->read_stop(s); }
static inline void bstream_shutdown(struct bstream *s) { s->ops->shutdown(s); }
static inline void bstream_close(struct bstream *s) { s->ops->close(s); }

/* No callback of s runs any more (its owner is letting go of it). */
static inline void bstream_clear_callbacks(struct bstream *s)
{
    s->on_read = NULL;
    s->on_eof = NULL;
    s->on_error = NULL;
    s->on_drain = NULL;
    s->on_close = NULL;
}

#endif
