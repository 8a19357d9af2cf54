/* routing_bench.c - CPU time of one routing table computation
 * (mesh/routing.c) in the Automation-Mesh shape of large_mesh_bench.py: a
 * controller, 20 hops peered to it, every other node an execution node
 * peered to two hops.  Every node of a converging mesh recomputes after
 * topology changes, so this figure times the node count is the mesh's
 * routing CPU per round of changes.
 *
 * Beside it, one pass over the link-state database (every row and cost
 * visited once, nothing else): no computation over this representation
 * can take less, so it is the floor the figure is compared with.
 * Prints figures; asserts nothing.  usage: routing_bench [nodes...] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mesh/routing.h"

#define HOPS 20

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void link_both(json_t *g, const char *a, const char *b)
{
    const char *ends[2][2] = { { a, b }, { b, a } };
    for (int i = 0; i < 2; i++) {
        json_t *row = json_object_get(g, ends[i][0]);
        if (!row) {
            row = json_object();
            json_object_set_new(g, ends[i][0], row);
        }
        json_object_set_new(row, ends[i][1], json_real(1.0));
    }
}

static json_t *mesh_shape(int nodes)
{
    json_t *g = json_object();
    char a[32], b[32];
    for (int h = 0; h < HOPS; h++) {
        snprintf(a, sizeof a, "hop%d", h);
        link_both(g, "controller", a);
    }
    for (int e = 0; e < nodes - HOPS - 1; e++) {
        snprintf(a, sizeof a, "exec%d", e);
        snprintf(b, sizeof b, "hop%d", e % HOPS);
        link_both(g, a, b);
        snprintf(b, sizeof b, "hop%d", (e + 1) % HOPS);
        link_both(g, a, b);
    }
    return g;
}

/* The database a node keeps (mesh/lsdb.h) holding the rows of g. */
static void load(struct lsdb *db, json_t *g)
{
    lsdb_init(db);
    const char *k;
    json_t *row;
    json_object_foreach(g, k, row)
        if (lsdb_set_row(db, k, row) < 0)
            abort();
}

/* The floor: visit every row and every cost once. */
static double one_pass(const struct lsdb *db)
{
    double sum = 0;
    for (uint32_t i = 0; i < db->count; i++)
        for (uint32_t j = 0; j < db->e[i].nrow; j++)
            sum += db->e[i].row[j].cost;
    return sum;
}

int main(int argc, char **argv)
{
    int sizes[16] = { 100, 250, 500, 1000 }, nsizes = 4;
    if (argc > 1)
        for (nsizes = 0; nsizes < argc - 1 && nsizes < 16; nsizes++)
            sizes[nsizes] = atoi(argv[nsizes + 1]);
    printf("routing table computation, Automation-Mesh shape (%d hops), CPU time per run\n", HOPS);
    for (int s = 0; s < nsizes; s++) {
        if (sizes[s] < HOPS + 2)
            continue;
        json_t *g = mesh_shape(sizes[s]);
        struct lsdb db;
        load(&db, g);
        int runs = sizes[s] >= 1000 ? 200 : 1000;
        double t0 = cpu_ms(), sink = 0;
        for (int i = 0; i < runs; i++) {
            json_t *pc = NULL;
            json_t *t = routing_compute_db(&db, "exec5", &pc);
            sink += (double)json_object_size(t);
            json_decref(t);
            json_decref(pc);
        }
        double compute = (cpu_ms() - t0) / runs;
        t0 = cpu_ms();
        for (int i = 0; i < runs; i++)
            sink += one_pass(&db);
        double floor_ms = (cpu_ms() - t0) / runs;
        printf("  %4d nodes: %.3f ms per computation; one pass over the database %.3f ms "
               "(%.1fx the floor); %d nodes recomputing once: %.2f CPU-s%s\n",
               sizes[s], compute, floor_ms, compute / floor_ms, sizes[s], compute * sizes[s] / 1e3,
               sink < 0 ? " " : "");
        lsdb_free(&db);
        json_decref(g);
    }
    return 0;
}
