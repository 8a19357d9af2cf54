/* buf.c - see buf.h. */
#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t limit)
{
    memset(b, 0, sizeof *b);
    b->limit = limit;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}

void buf_reset(struct buf *b) { b->off = b->len = 0; }

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    size_t size = buf_size(b);
    if (n > b->limit - size + 1) /* +1: room for a NUL terminator */
        return NULL;
    if (b->len + n <= b->cap)
        return b->data + b->len;
    if (b->off > 0) { /* compact before growing */
        memmove(b->data, b->data + b->off, size);
        b->off = 0;
        b->len = size;
        if (b->len + n <= b->cap)
            return b->data + b->len;
    }
    size_t want = b->cap ? b->cap : 256;
    while (want < size + n)
        want *= 2;
    if (want > b->limit + 1)
        want = b->limit + 1;
    uint8_t *p = realloc(b->data, want);
    if (!p)
        return NULL;
    b->data = p;
    b->cap = want;
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n) { b->len += n; }

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n > buf_room(b))
        return -ENOBUFS;
    if (n == 0)
        return 0;
    uint8_t *dst = buf_reserve(b, n);
    if (!dst)
        return -ENOBUFS;
    memcpy(dst, p, n);
    b->len += n;
    return 0;
}

int buf_append_str(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

int buf_printf(struct buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < sizeof small)
        return buf_append(b, small, (size_t)n);
    if ((size_t)n > buf_room(b))
        return -ENOBUFS;
    uint8_t *dst = buf_reserve(b, (size_t)n + 1);
    if (!dst)
        return -ENOBUFS;
    va_start(ap, fmt);
    vsnprintf((char *)dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= buf_size(b)) {
        b->off = b->len = 0;
        return;
    }
    b->off += n;
}

int buf_cstr(struct buf *b, const char **out)
{
    uint8_t *p = buf_reserve(b, 1);
    if (!p)
        return -ENOBUFS;
    *p = 0;
    *out = (const char *)buf_head(b);
    return 0;
}
