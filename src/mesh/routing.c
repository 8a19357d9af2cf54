/* routing.c - see routing.h.  Dijkstra with a binary heap over arrays: the
 * node names are sorted once (self first), a peer's index is found through
 * a jansson object (name -> index), and the heap is ordered by (distance, index), so nodes are
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

json_t *routing_compute(const char *self, json_t *costs, json_t **path_costs)
{
    size_t n = json_object_size(costs) + 1;
    const char **names = malloc(n * sizeof *names);
    double *dist = malloc(n * sizeof *dist);
    int *prev = malloc(n * sizeof *prev);
    char *done = calloc(n, 1);
    struct heap h = { NULL, 0, 0 };
    json_t *index = json_object(); /* name -> its index */
    json_t *table = json_object();
    json_t *pc = path_costs ? json_object() : NULL;
    json_t **hopstr = NULL;
    if (!names || !dist || !prev || !done || !index || !table || (path_costs && !pc))
        goto fail;
    size_t v = 0;
    names[v++] = self;
    const char *k;
    json_t *row;
    json_object_foreach(costs, k, row)
        if (strcmp(k, self) != 0)
            names[v++] = k;
    n = v;
    qsort(names + 1, n - 1, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(index, names[i], json_integer((json_int_t)i));
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
        row = json_object_get(costs, names[u]);
        json_t *c;
        json_object_foreach(row, k, c) {
            json_t *idx = json_is_number(c) ? json_object_get(index, k) : NULL;
            if (!idx)
                continue;
            int w = (int)json_integer_value(idx);
            double nd = dist[u] + json_number_value(c);
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
    json_decref(index);
    if (hopstr)
        for (size_t i = 0; i < n; i++)
            json_decref(hopstr[i]);
    free(hopstr);
    free(h.a);
    free(names);
    free(dist);
    free(prev);
    free(done);
    return table;
}
