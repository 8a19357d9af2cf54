/* bridge.h - copies bytes both ways between two byte streams (connect, the
 * proxies) with back-pressure: a side whose peer's queue is at the high
 * water mark stops being read until the peer drains.  EOF on one side
 * half-closes the other; when both directions ended, or either side fails,
 * both streams are closed and the bridge frees itself. */
#ifndef CORE_BRIDGE_H
#define CORE_BRIDGE_H

#include "core/bstream.h"

struct bridge;
/* Takes ownership of both streams; initial bytes for b (already read from a)
 * may be given.  done (optional) is called once when the bridge ends. */
struct bridge *bridge_start(struct bstream *a, struct bstream *b, const uint8_t *a_to_b,
                            size_t a_to_b_len, void (*done)(void *arg), void *arg);

#endif
