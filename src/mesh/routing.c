/* routing.c - see routing.h.  Dijkstra with a binary heap over arrays: the
 * node names are sorted once (self first), a peer's index is found through
 * its entry number in the database, and the heap is ordered by (distance, index), so nodes are
 * settled in exactly the order of the plain O(V^2) scan (lowest distance,
 * then lowest index) and equal-cost ties resolve as they always did.  A
 * 1000-node mesh recomputes in a fraction of a millisecond; every node of
 * a converging large mesh recomputes several times a second. */
#include "mesh/routing.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct heap_item {
    double d;
    int v;
};

struct heap {
    struct heap_item *a;
    size_t n, cap;
};

static int item_before(struct heap_item x, struct heap_item y)
{
    return x.d < y.d || (x.d == y.d && x.v < y.v);
}

static int heap_push(struct heap *h, double d, int v)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct heap_item *a = realloc(h->a, cap * sizeof *a);
        if (!a)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->a[i] = (struct heap_item){ d, v };
    while (i > 0 && item_before(h->a[i], h->a[(i - 1) / 2])) {
        struct heap_item t = h->a[i];
        h->a[i] = h->a[(i - 1) / 2];
        h->a[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static struct heap_item heap_pop(struct heap *h)
{
    struct heap_item top = h->a[0];
    h->a[0] = h->a[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && item_before(h->a[l], h->a[m]))
            m = l;
        if (r < h->n && item_before(h->a[r], h->a[m]))
            m = r;
        if (m == i)
            break;
        struct heap_item t = h->a[i];
        h->a[i] = h->a[m];
        h->a[m] = t;
        i = m;
    }
    return top;
}

/* Walks back from d to the first hop after self; -1 if the chain is broken. */
static int first_hop(const int *prev, size_t n, size_t d)
{
    size_t hop = d, guard = 0;
    while (prev[hop] > 0 && guard++ < n)
        hop = (size_t)prev[hop];
    return prev[hop] == 0 ? (int)hop : -1;
}

/* The entries that have rows, self first, the rest sorted by name. */
static size_t order_nodes(const struct lsdb *db, uint32_t self, const char **names, int *idx_of,
                          uint32_t *entry_of)
{
    size_t v = 0;
    names[v++] = db->e[self].name;
    for (uint32_t i = 0; i < db->count; i++)
        if (db->e[i].has_row && i != self)
            names[v++] = db->e[i].name;
    qsort(names + 1, v - 1, sizeof *names, cmp_str);
    for (uint32_t i = 0; i < db->count; i++)
        idx_of[i] = -1;
    for (size_t i = 0; i < v; i++) {
        uint32_t e = name_index_find(&db->index, names[i]);
        idx_of[e] = (int)i;
        entry_of[i] = e;
    }
    return v;
}

json_t *routing_compute_db(const struct lsdb *db, const char *self, json_t **path_costs)
{
    uint32_t me = name_index_find(&db->index, self);
    size_t n = db->rows + 1, cnt = db->count ? db->count : 1;
    const char **names = malloc(n * sizeof *names);
    uint32_t *entry_of = malloc(n * sizeof *entry_of);
    int *idx_of = malloc(cnt * sizeof *idx_of);
    double *dist = malloc(n * sizeof *dist);
    int *prev = malloc(n * sizeof *prev);
    char *done = calloc(n, 1);
    struct heap h = { NULL, 0, 0 };
    json_t *table = json_object();
    json_t *pc = path_costs ? json_object() : NULL;
    json_t **hopstr = NULL;
    if (!names || !entry_of || !idx_of || !dist || !prev || !done || !table || (path_costs && !pc))
        goto fail;
    if (me == NAME_INDEX_NONE)
        goto out; /* no row of ours: nothing is reachable */
    n = order_nodes(db, me, names, idx_of, entry_of);
    for (size_t i = 0; i < n; i++) {
        dist[i] = DBL_MAX;
        prev[i] = -1;
    }
    dist[0] = 0;
    if (heap_push(&h, 0, 0) < 0)
        goto fail;
    while (h.n > 0) {
        struct heap_item it = heap_pop(&h);
        int u = it.v;
        if (done[u] || it.d != dist[u])
            continue; /* settled already, or a superseded distance */
        done[u] = 1;
        const struct lsdb_entry *row = &db->e[entry_of[u]];
        for (uint32_t j = 0; j < row->nrow; j++) {
            int w = idx_of[row->row[j].peer];
            if (w < 0)
                continue; /* only listed, never heard from: unreachable */
            double nd = dist[u] + row->row[j].cost;
            if (nd < dist[w]) {
                dist[w] = nd;
                prev[w] = u;
                if (heap_push(&h, nd, w) < 0)
                    goto fail;
            } else if (nd == dist[w] && prev[w] >= 0 && !done[w] &&
                       strcmp(names[u], names[prev[w]]) < 0) {
                prev[w] = u; /* equal cost: the smaller predecessor */
            }
        }
    }
    /* one string per next hop, shared by its destinations: a 1000-node
     * table of an execution node holds two */
    hopstr = calloc(n, sizeof *hopstr);
    if (!hopstr)
        goto fail;
    for (size_t d = 1; d < n; d++) {
        int hop = prev[d] < 0 ? -1 : first_hop(prev, n, d);
        if (hop < 0)
            continue;
        if (!hopstr[hop] && !(hopstr[hop] = json_string(names[hop])))
            goto fail;
        json_object_set(table, names[d], hopstr[hop]);
        if (pc)
            json_object_set_new(pc, names[d], json_real(dist[d]));
    }
    goto out;
fail:
    json_decref(table);
    json_decref(pc);
    table = pc = NULL;
out:
    if (path_costs)
        *path_costs = pc;
    if (hopstr)
        for (size_t i = 0; i < n; i++)
            json_decref(hopstr[i]);
    free(hopstr);
    free(h.a);
    free(names);
    free(entry_of);
    free(idx_of);
    free(dist);
    free(prev);
    free(done);
    return table;
}

json_t *routing_compute(const char *self, json_t *costs, json_t **path_costs)
{
    struct lsdb db;
    lsdb_init(&db);
    int rc = lsdb_set_row(&db, self, json_object_get(costs, self));
    const char *k;
    json_t *row;
    json_object_foreach(costs, k, row)
        if (rc == 0 && strcmp(k, self) != 0)
            rc = lsdb_set_row(&db, k, row);
    json_t *table = rc == 0 ? routing_compute_db(&db, self, path_costs) : NULL;
    if (rc != 0 && path_costs)
        *path_costs = NULL;
    lsdb_free(&db);
    return table;
}
