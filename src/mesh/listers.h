/* listers.h - which rows of the link-state database list a node.
 *
 * When a node's routing update arrives, every other row that still lists
 * that node but is not listed back by the new row loses the entry (spec
 * 4.4, as upstream).  Finding those rows by scanning the whole database
 * costs known-nodes work per update, and a converging 1000-node mesh
 * processes thousands of updates per node: in perf that scan was most of
 * the mesh's CPU.  This index answers "who lists X" directly: it mirrors
 * every (row owner -> listed peer) entry of the database the other way
 * round, so an update costs the size of the rows it changes.
 *
 * Names are interned once (an entry per name, never moved: listers are
 * entry numbers); the table only grows, so the owner rebuilds it from the
 * database when listers_should_rebuild() says the names held are far more
 * than the database's (a peer sending rows of ever-new names cannot grow
 * it without bound).  Every function is a no-op on allocation failure
 * except that the index is then marked broken: callers fall back to the
 * scan until the next rebuild. */
#ifndef MESH_LISTERS_H
#define MESH_LISTERS_H

#include <stddef.h>
#include <stdint.h>

#include "mesh/name_index.h"

struct listers {
    struct listers_entry {
        char *name;
        uint32_t *by;       /* entries whose row lists this name */
        uint32_t n, cap;
    } *e;
    uint32_t count, ecap;
    struct name_index index;
    int broken;             /* an allocation failed: not exact until rebuilt */
};

void listers_init(struct listers *t);
void listers_free(struct listers *t);
/* Records that lister's row lists target (idempotent). */
void listers_add(struct listers *t, const char *target, const char *lister);
/* Records that lister's row no longer lists target. */
void listers_del(struct listers *t, const char *target, const char *lister);
/* The names whose rows list target, copied into a malloc'd array of
 * borrowed names (valid until the next listers_free); *n = 0 and NULL
 * when there are none.  Returns -1 when the index cannot answer (broken,
 * or out of memory). */
int listers_of(struct listers *t, const char *target, const char ***names, size_t *n);
/* 1 when the names held exceed what a database of rows entries needs. */
int listers_should_rebuild(const struct listers *t, size_t rows);

#endif
