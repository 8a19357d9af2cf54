/* origins.h - what a node knows of each originator of routing updates: the
 * epoch and sequence of its newest accepted update (the freshness rule of
 * spec 4.3), that update's UpdateID (resent in table exchanges) and when it
 * was accepted (resume.c).
 *
 * One entry per known node, in a flat array in the order nodes became
 * known, found by name through a name_index.
 * A jansson object of arrays took ~350 bytes per node; this takes ~100.
 * Entries are never removed (nodes are never forgotten, as upstream); the
 * caller bounds the count (NODE_MAX_KNOWN). */
#ifndef MESH_ORIGINS_H
#define MESH_ORIGINS_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/name_index.h"

struct origin {
    char *name;
    char *update_id;
    uint64_t epoch, sequence;
    int64_t accepted_at;    /* mono ns */
};

struct origins {
    struct origin *e;
    uint32_t count, ecap;
    struct name_index index;
};

void origins_init(struct origins *t);
void origins_free(struct origins *t);
struct origin *origins_get(const struct origins *t, const char *name);
/* Records the newest update of name (adding name if new); -1 when out of
 * memory (nothing changed). */
int origins_set(struct origins *t, const char *name, uint64_t epoch, uint64_t sequence,
                const char *update_id, int64_t accepted_at);
static inline size_t origins_count(const struct origins *t) { return t->count; }

#endif
