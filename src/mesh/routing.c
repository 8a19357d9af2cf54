/* routing.c - see routing.h.  O(V^2) Dijkstra: V is bounded (a mesh has at
 * most a few thousand nodes) and the computation runs only after topology
 * changes, debounced by the node. */
#include "mesh/routing.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *routing_compute(const char *self, json_t *costs, json_t **path_costs)
{
    size_t n = json_object_size(costs) + 1;
    const char **names = malloc(n * sizeof *names);
    double *dist = malloc(n * sizeof *dist);
    int *prev = malloc(n * sizeof *prev);
    char *done = calloc(n, 1);
    json_t *index = json_object();
    json_t *table = json_object();
    if (!names || !dist || !prev || !done || !index || !table) {
        json_decref(table);
        table = NULL;
        goto out;
    }
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
    for (;;) {
        int u = -1;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && dist[i] < DBL_MAX && (u < 0 || dist[i] < dist[u]))
                u = (int)i;
        if (u < 0)
            break;
        done[u] = 1;
        row = json_object_get(costs, names[u]);
        json_t *c;
        json_object_foreach(row, k, c) {
            json_t *idx = json_object_get(index, k);
            if (!idx || !json_is_number(c))
                continue;
            int w = (int)json_integer_value(idx);
            double nd = dist[u] + json_number_value(c);
            if (nd < dist[w] ||
                (nd == dist[w] && prev[w] >= 0 && strcmp(names[u], names[prev[w]]) < 0 && !done[w])) {
                dist[w] = nd;
                prev[w] = u;
            }
        }
    }
    if (path_costs)
        *path_costs = json_object();
    for (size_t d = 1; d < n; d++) {
        if (prev[d] < 0)
            continue;
        size_t hop = d;
        size_t guard = 0;
        while (prev[hop] != 0 && prev[hop] >= 0 && guard++ < n)
            hop = (size_t)prev[hop];
        if (prev[hop] != 0)
            continue;
        json_object_set_new(table, names[d], json_string(names[hop]));
        if (path_costs)
            json_object_set_new(*path_costs, names[d], json_real(dist[d]));
    }
out:
    free(names);
    free(dist);
    free(prev);
    free(done);
    json_decref(index);
    return table;
}
