/* lsdb.c - see lsdb.h.  Rows are exact-size arrays (a row changes as a
 * whole when an update arrives; local links add or drop one entry).  The
 * lists the other way grow by doubling and are searched linearly: an
 * execution node is listed by its two or three peers, a hop by its
 * hundred. */
#include "mesh/lsdb.h"

#include <stdlib.h>
#include <string.h>

#define NONE NAME_INDEX_NONE

static const char *entry_name(const void *owner, uint32_t i)
{
    return ((const struct lsdb *)owner)->e[i].name;
}

#define COMPACT_MIN 1024 /* names held before the first compaction */

void lsdb_init(struct lsdb *db)
{
    memset(db, 0, sizeof *db);
    db->compact_at = COMPACT_MIN;
    name_index_init(&db->index, entry_name, db);
}

void lsdb_free(struct lsdb *db)
{
    for (uint32_t i = 0; i < db->count; i++) {
        free(db->e[i].name);
        free(db->e[i].row);
        free(db->e[i].by);
    }
    free(db->e);
    name_index_free(&db->index);
    lsdb_init(db);
}

static uint32_t lookup(const struct lsdb *db, const char *name) { return name_index_find(&db->index, name); }

static uint32_t intern(struct lsdb *db, const char *name)
{
    uint32_t i = lookup(db, name);
    if (i != NONE)
        return i;
    if (db->count == db->ecap) {
        uint32_t ncap = db->ecap ? db->ecap * 2 : 64;
        struct lsdb_entry *ne = realloc(db->e, ncap * sizeof *ne);
        if (!ne)
            return NONE;
        db->e = ne;
        db->ecap = ncap;
    }
    char *copy = strdup(name);
    if (!copy)
        return NONE;
    db->e[db->count] = (struct lsdb_entry){ .name = copy };
    if (name_index_add(&db->index, db->count) < 0) {
        free(copy);
        return NONE;
    }
    return db->count++;
}

const struct lsdb_entry *lsdb_row(const struct lsdb *db, const char *name)
{
    uint32_t i = lookup(db, name);
    return i != NONE && db->e[i].has_row ? &db->e[i] : NULL;
}

static uint32_t find_edge(const struct lsdb_entry *e, uint32_t peer)
{
    for (uint32_t i = 0; i < e->nrow; i++)
        if (e->row[i].peer == peer)
            return i;
    return NONE;
}

int lsdb_lists(const struct lsdb *db, const char *owner, const char *peer)
{
    const struct lsdb_entry *e = lsdb_row(db, owner);
    uint32_t p = e ? lookup(db, peer) : NONE;
    return p != NONE && find_edge(e, p) != NONE;
}

/* ---- the index the other way ------------------------------------------- */

static uint32_t find_by(const struct lsdb_entry *e, uint32_t who)
{
    for (uint32_t i = 0; i < e->nby; i++)
        if (e->by[i] == who)
            return i;
    return NONE;
}

static void by_add(struct lsdb *db, uint32_t target, uint32_t lister)
{
    struct lsdb_entry *e = &db->e[target];
    if (find_by(e, lister) != NONE)
        return;
    if (e->nby == e->bycap) {
        uint32_t ncap = e->bycap ? e->bycap * 2 : 2;
        uint32_t *nb = realloc(e->by, ncap * sizeof *nb);
        if (!nb) {
            db->broken = 1;
            return;
        }
        e->by = nb;
        e->bycap = ncap;
    }
    e->by[e->nby++] = lister;
}

static void by_del(struct lsdb *db, uint32_t target, uint32_t lister)
{
    struct lsdb_entry *e = &db->e[target];
    uint32_t at = find_by(e, lister);
    if (at != NONE)
        e->by[at] = e->by[--e->nby];
}

static void by_rebuild(struct lsdb *db)
{
    db->broken = 0;
    for (uint32_t i = 0; i < db->count; i++)
        db->e[i].nby = 0;
    for (uint32_t i = 0; i < db->count; i++)
        for (uint32_t j = 0; j < db->e[i].nrow; j++)
            by_add(db, db->e[i].row[j].peer, i);
}

/* ---- rows --------------------------------------------------------------- */

static void row_replace(struct lsdb *db, uint32_t owner, struct lsdb_edge *row, uint32_t n)
{
    struct lsdb_entry *e = &db->e[owner];
    for (uint32_t i = 0; i < e->nrow; i++) {
        uint32_t j = 0;
        while (j < n && row[j].peer != e->row[i].peer)
            j++;
        if (j == n)
            by_del(db, e->row[i].peer, owner);
    }
    for (uint32_t j = 0; j < n; j++)
        if (find_edge(e, row[j].peer) == NONE)
            by_add(db, row[j].peer, owner);
    free(e->row);
    e->row = row;
    e->nrow = n;
    if (!e->has_row)
        db->rows++;
    e->has_row = 1;
}

/* A fresh table holding only the names that have rows or are listed:
 * entry numbers change.  Out of memory: the old table stays. */
static void compact(struct lsdb *db)
{
    db->compact_at = 2 * db->count + COMPACT_MIN; /* also if it fails */
    struct lsdb fresh;
    lsdb_init(&fresh);
    for (uint32_t i = 0; i < db->count; i++) {
        const struct lsdb_entry *e = &db->e[i];
        if (!e->has_row)
            continue;
        json_t *row = lsdb_row_json(db, e);
        int rc = row ? lsdb_set_row(&fresh, e->name, row) : -1;
        json_decref(row);
        if (rc < 0) {
            lsdb_free(&fresh);
            return;
        }
    }
    lsdb_free(db);
    *db = fresh;
    db->index.owner = db; /* the index reads names through its owner */
    db->compact_at = 2 * db->count + COMPACT_MIN;
}

int lsdb_set_row(struct lsdb *db, const char *name, json_t *conns)
{
    if (db->count >= db->compact_at)
        compact(db);
    if (db->broken)
        by_rebuild(db);
    uint32_t owner = intern(db, name);
    if (owner == NONE)
        return -1;
    size_t max = json_is_object(conns) ? json_object_size(conns) : 0;
    struct lsdb_edge *row = max ? malloc(max * sizeof *row) : NULL;
    if (max && !row)
        return -1;
    uint32_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(conns, k, v) {
        if (!json_is_number(v))
            continue;
        uint32_t p = intern(db, k);
        if (p == NONE) {
            free(row);
            return -1;
        }
        row[n++] = (struct lsdb_edge){ p, json_number_value(v) };
    }
    row_replace(db, owner, row, n);
    return 0;
}

int lsdb_row_equals(const struct lsdb *db, const char *name, json_t *conns)
{
    const struct lsdb_entry *e = lsdb_row(db, name);
    if (!e || !json_is_object(conns) || json_object_size(conns) != e->nrow)
        return 0;
    for (uint32_t i = 0; i < e->nrow; i++) {
        json_t *v = json_object_get(conns, db->e[e->row[i].peer].name);
        if (!json_is_number(v) || json_number_value(v) != e->row[i].cost)
            return 0;
    }
    return 1;
}

int lsdb_set_edge(struct lsdb *db, const char *owner, const char *peer, double cost)
{
    uint32_t o = intern(db, owner), p = intern(db, peer);
    if (o == NONE || p == NONE)
        return -1;
    struct lsdb_entry *e = &db->e[o];
    uint32_t at = find_edge(e, p);
    if (at != NONE) {
        e->row[at].cost = cost;
        return 0;
    }
    struct lsdb_edge *row = realloc(e->row, (e->nrow + 1) * sizeof *row);
    if (!row)
        return -1;
    e->row = row;
    e->row[e->nrow++] = (struct lsdb_edge){ p, cost };
    if (!e->has_row)
        db->rows++;
    e->has_row = 1;
    by_add(db, p, o);
    return 0;
}

int lsdb_del_edge(struct lsdb *db, const char *owner, const char *peer)
{
    uint32_t o = lookup(db, owner), p = lookup(db, peer);
    if (o == NONE || p == NONE)
        return 0;
    struct lsdb_entry *e = &db->e[o];
    uint32_t at = find_edge(e, p);
    if (at == NONE)
        return 0;
    e->row[at] = e->row[--e->nrow]; /* the row's order does not matter */
    by_del(db, p, o);
    return 1;
}

int lsdb_listers(const struct lsdb *db, const char *name, const char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (db->broken)
        return -1;
    uint32_t t = lookup(db, name);
    if (t == NONE || db->e[t].nby == 0)
        return 0;
    const struct lsdb_entry *e = &db->e[t];
    const char **out = malloc(e->nby * sizeof *out);
    if (!out)
        return -1;
    for (uint32_t i = 0; i < e->nby; i++)
        out[i] = db->e[e->by[i]].name;
    *names = out;
    *n = e->nby;
    return 0;
}

json_t *lsdb_row_json(const struct lsdb *db, const struct lsdb_entry *e)
{
    json_t *o = json_object();
    for (uint32_t i = 0; o && i < e->nrow; i++)
        if (json_object_set_new(o, db->e[e->row[i].peer].name, json_real(e->row[i].cost)) < 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}

json_t *lsdb_json(const struct lsdb *db)
{
    json_t *o = json_object();
    for (uint32_t i = 0; o && i < db->count; i++)
        if (db->e[i].has_row && json_object_set_new(o, db->e[i].name, lsdb_row_json(db, &db->e[i])) < 0) {
            json_decref(o);
            o = NULL;
        }
    return o;
}
