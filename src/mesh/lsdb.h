/* lsdb.h - the link-state database: the row every known node advertised.
 *
 * A node's routing update carries its row, the peers it holds links to
 * with their costs (spec 4.4).  We keep the newest row of every node we
 * know, and the same entries the other way round ("which rows list X"):
 * an update that no longer lists a peer withdraws that peer's entry for
 * its originator, and scanning every row for those entries was most of a
 * converging mesh's CPU.
 *
 * Names are interned once in a flat array (entry numbers, found through a
 * name_index); a row is an array of (entry, cost), the index the other way
 * an array of entry numbers.  jansson objects took ~700 KB of an execution
 * node's 1.4 MB in a 1000-node mesh; this takes ~150 bytes per node.
 *
 * Entry numbers stay valid until the next lsdb_set_row, which compacts the
 * table (keeps the names rows have or list) when it has doubled since the
 * last compaction: a peer sending rows of ever-new names cannot grow it
 * without bound, and each compaction is paid for by as many new names as
 * it keeps.  Callers keep names, not numbers.  On allocation failure a row is left as it was (-1);
 * a failed update of the index the other way marks it broken, lsdb_listers
 * then says so (the caller scans the rows) until lsdb_set_row rebuilds it. */
#ifndef MESH_LSDB_H
#define MESH_LSDB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh/name_index.h"

struct lsdb_edge {
    uint32_t peer;          /* entry number */
    double cost;
};

struct lsdb_entry {
    char *name;
    struct lsdb_edge *row;  /* what this node advertised (has_row) */
    uint32_t *by;           /* entries whose row lists this node */
    uint32_t nrow, nby, bycap;
    int has_row;            /* we know its row (maybe empty) */
};

struct lsdb {
    struct lsdb_entry *e;
    uint32_t count, ecap;
    uint32_t rows;          /* entries with has_row */
    uint32_t compact_at;    /* entry count that makes lsdb_set_row compact */
    struct name_index index;
    int broken;             /* the by lists are not exact */
};

void lsdb_init(struct lsdb *db);
void lsdb_free(struct lsdb *db);
static inline size_t lsdb_rows(const struct lsdb *db) { return db->rows; }
/* The entry of name if we know its row, else NULL. */
const struct lsdb_entry *lsdb_row(const struct lsdb *db, const char *name);
/* 1 if owner's row lists peer. */
int lsdb_lists(const struct lsdb *db, const char *owner, const char *peer);
/* 1 if we know name's row and it is exactly conns (peer -> number). */
int lsdb_row_equals(const struct lsdb *db, const char *name, json_t *conns);
/* Makes conns (peer -> number; other values skipped, a non-object is an
 * empty row) name's row.  -1 out of memory: the row is as it was. */
int lsdb_set_row(struct lsdb *db, const char *name, json_t *conns);
/* Sets peer's cost in owner's row, making the row if we had none. */
int lsdb_set_edge(struct lsdb *db, const char *owner, const char *peer, double cost);
/* Drops peer from owner's row; 1 if it was listed. */
int lsdb_del_edge(struct lsdb *db, const char *owner, const char *peer);
/* The names whose rows list name, as a malloc'd array of borrowed names
 * (valid until the next lsdb_set_row); *n = 0 and NULL when there are
 * none.  -1 when the index cannot answer (broken, or out of memory). */
int lsdb_listers(const struct lsdb *db, const char *name, const char ***names, size_t *n);
/* e's row as an object peer -> cost; the whole database as
 * node -> {peer: cost} (rows we know only). */
json_t *lsdb_row_json(const struct lsdb *db, const struct lsdb_entry *e);
json_t *lsdb_json(const struct lsdb *db);

#endif
