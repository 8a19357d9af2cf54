/* framer.c - see framer.h. */
#include "net/framer.h"

#define FRAMER_READ 65536
#define FRAMER_LIMIT (2 + 65535 + FRAMER_READ)

void framer_init(struct framer *f) { buf_init(&f->in, FRAMER_LIMIT); }
void framer_free(struct framer *f) { buf_free(&f->in); }

/* Reads go into a small buffer that grows only to the size of the frame
 * being received, so an idle link costs a few KiB, not 64. */
#define FRAMER_SMALL 4096

uint8_t *framer_space(struct framer *f, size_t *len)
{
    size_t have = buf_size(&f->in);
    size_t want = FRAMER_SMALL;
    if (have >= 2) {
        const uint8_t *p = buf_head(&f->in);
        size_t need = 2 + ((size_t)p[0] | ((size_t)p[1] << 8));
        if (need > have && need - have > want)
            want = need - have;
    }
    size_t room = buf_room(&f->in);
    if (want > room)
        want = room;
    *len = want;
    return want ? buf_reserve(&f->in, want) : NULL;
}

int framer_commit(struct framer *f, size_t n, framer_cb cb, void *arg)
{
    buf_commit(&f->in, n);
    for (;;) {
        size_t have = buf_size(&f->in);
        if (have < 2)
            return 0;
        const uint8_t *p = buf_head(&f->in);
        size_t len = (size_t)p[0] | ((size_t)p[1] << 8);
        if (have < 2 + len)
            return 0;
        int rc = cb(arg, p + 2, len);
        buf_consume(&f->in, 2 + len);
        if (buf_size(&f->in) == 0 && f->in.cap > 4 * FRAMER_SMALL)
            buf_free(&f->in); /* give a big frame's memory back */
        if (rc)
            return rc;
    }
}

void framer_prefix(size_t len, uint8_t out[2])
{
    out[0] = (uint8_t)(len & 0xff);
    out[1] = (uint8_t)(len >> 8);
}
