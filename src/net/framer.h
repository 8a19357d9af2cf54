/* framer.h - TCP length framing (spec 2.2): u16 little-endian length + body.
 *
 * framer_feed() takes bytes as they arrive, in any split, and calls back once
 * per complete message.  The buffer never holds more than one maximum frame
 * plus one read, so memory per link is bounded. */
#ifndef NET_FRAMER_H
#define NET_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef int (*framer_cb)(void *arg, const uint8_t *msg, size_t len);

struct framer {
    struct buf in;
};

void framer_init(struct framer *f);
void framer_free(struct framer *f);
/* Space to read into (at least 64 KiB when possible). */
uint8_t *framer_space(struct framer *f, size_t *len);
/* Accounts n bytes just read into framer_space() and delivers frames; stops
 * early and returns the callback's non-zero result if it asks to. */
int framer_commit(struct framer *f, size_t n, framer_cb cb, void *arg);
/* Writes the 2-byte prefix for a message of len bytes. */
void framer_prefix(size_t len, uint8_t out[2]);

#endif
