/* buf.h - a growable byte buffer with a hard upper bound.
 *
 * Every buffer in the project has a limit: appending past it fails with
 * -ENOBUFS instead of growing, so a hostile or slow peer can never make a
 * process use unbounded memory.  Consumed bytes are dropped from the front
 * with buf_consume(), which compacts lazily. */
#ifndef CORE_BUF_H
#define CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t off;   /* start of unconsumed bytes */
    size_t len;   /* end of valid bytes (data[off..len) is the content) */
    size_t cap;
    size_t limit; /* maximum content size */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
static inline size_t buf_size(const struct buf *b) { return b->len - b->off; }
/* An empty buffer that never held anything has no storage: NULL, never NULL + 0. */
static inline uint8_t *buf_head(const struct buf *b) { return b->data ? b->data + b->off : b->data; }
static inline size_t buf_room(const struct buf *b) { return b->limit - buf_size(b); }
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Reserves room for n more bytes and returns where to write them; commit with
 * buf_commit().  NULL when the limit would be exceeded. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_commit(struct buf *b, size_t n);
/* NUL-terminates the content (not counted in size); -ENOBUFS at the limit. */
int buf_cstr(struct buf *b, const char **out);

#endif
