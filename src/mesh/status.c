/* status.c - the node's part of the `status` reply (spec 8.5): every key
 * upstream emits, built so that gojson_dump() without sorting writes Go's
 * output (top-level map keys in sorted order, struct fields in Go order).
 *
 * node_status_write() writes the same bytes without building the reply as
 * jansson objects: at 1000 nodes the two tables are ~90 KB and building,
 * sorting and dumping them took ~4 ms of a hop's CPU per request, which on
 * a busy machine is a long wait in the run queue for whoever asked. */
#include "mesh/node_internal.h"

#include <sched.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "core/gojson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static long long memory_mib(void)
{
    struct sysinfo si;
    if (sysinfo(&si) != 0)
        return 0;
    return (long long)si.totalram * si.mem_unit / (1024 * 1024);
}

static json_t *known_costs_sorted(struct node *n)
{
    json_t *all = lsdb_json(&n->lsdb);
    json_t *sorted = all ? gojson_sorted(all) : NULL;
    json_decref(all);
    return sorted;
}

static json_t *connections_status(struct node *n)
{
    json_t *conns = json_array();
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->established)
            json_array_append_new(conns, json_pack("{s:s,s:f}", "NodeID", c->peer, "Cost", c->cost));
    return conns;
}

json_t *node_status(struct node *n)
{
    json_t *conns = connections_status(n);
    json_t *o = json_object();
    json_object_set_new(o, "Advertisements", advert_status(n));
    json_object_set_new(o, "Connections", conns);
    json_object_set_new(o, "KnownConnectionCosts", known_costs_sorted(n));
    json_object_set_new(o, "NodeID", json_string(n->id));
    json_object_set_new(o, "RoutingTable", gojson_sorted(node_routes(n)));
    json_object_set_new(o, "SystemCPUCount", json_integer(cpu_count()));
    json_object_set_new(o, "SystemMemoryMiB", json_integer(memory_mib()));
    json_object_set_new(o, "Version", json_string(RECEPTOR_VERSION));
    return o;
}

/* ---- the same reply, written directly ----------------------------------- */

static int cmp_entries(const void *a, const void *b)
{
    return strcmp((*(const struct lsdb_entry *const *)a)->name, (*(const struct lsdb_entry *const *)b)->name);
}

static int write_key(const char *k, struct buf *out)
{
    int rc = gojson_string(k, strlen(k), out);
    return rc ? rc : buf_append_str(out, ":");
}

/* A Go map[string]float64: {"peer":cost,...}, sorted. */
static int write_row(const struct lsdb *db, const struct lsdb_entry *e, struct msg_cost *scratch,
                     struct buf *out)
{
    flood_row_costs(db, e, scratch);
    int rc = buf_append_str(out, "{");
    for (uint32_t i = 0; i < e->nrow && rc == 0; i++) {
        if (i)
            rc = buf_append_str(out, ",");
        if (!rc) rc = write_key(scratch[i].node, out);
        if (!rc) rc = gojson_float(scratch[i].cost, out);
    }
    return rc ? rc : buf_append_str(out, "}");
}

static int write_known_costs(struct node *n, struct buf *out)
{
    const struct lsdb *db = &n->lsdb;
    const struct lsdb_entry **rows = malloc((db->rows ? db->rows : 1) * sizeof *rows);
    uint32_t nrows = 0, widest = 1;
    for (uint32_t i = 0; rows && i < db->count; i++)
        if (db->e[i].has_row && nrows < db->rows) {
            rows[nrows++] = &db->e[i];
            if (db->e[i].nrow > widest)
                widest = db->e[i].nrow;
        }
    struct msg_cost *scratch = malloc(widest * sizeof *scratch);
    int rc = rows && scratch ? buf_append_str(out, "{") : -ENOMEM;
    if (rc == 0)
        qsort(rows, nrows, sizeof *rows, cmp_entries);
    for (uint32_t i = 0; i < nrows && rc == 0; i++) {
        if (i)
            rc = buf_append_str(out, ",");
        if (!rc) rc = write_key(rows[i]->name, out);
        if (!rc) rc = write_row(db, rows[i], scratch, out);
    }
    free(rows);
    free(scratch);
    return rc ? rc : buf_append_str(out, "}");
}

/* "key": and a jansson value dumped as is (the small parts). */
static int write_json(const char *key, json_t *v, struct buf *out)
{
    int rc = v ? write_key(key, out) : -ENOMEM;
    if (!rc)
        rc = gojson_dump(v, 0, out);
    json_decref(v);
    return rc;
}

int node_status_write(struct node *n, struct buf *out)
{
    int rc = buf_append_str(out, "{");
    if (!rc) rc = write_json("Advertisements", advert_status(n), out);
    if (!rc) rc = buf_append_str(out, ",");
    if (!rc) rc = write_json("Connections", connections_status(n), out);
    if (!rc) rc = buf_append_str(out, ",");
    if (!rc) rc = write_key("KnownConnectionCosts", out);
    if (!rc) rc = write_known_costs(n, out);
    if (!rc) rc = buf_append_str(out, ",");
    if (!rc) rc = write_key("NodeID", out);
    if (!rc) rc = gojson_string(n->id, strlen(n->id), out);
    if (!rc) rc = buf_append_str(out, ",");
    if (!rc) rc = write_key("RoutingTable", out);
    if (!rc) rc = gojson_dump(node_routes(n), GOJSON_SORT_KEYS, out); /* a Go map[string]string */
    if (!rc) rc = buf_printf(out, ",\"SystemCPUCount\":%d,\"SystemMemoryMiB\":%lld,\"Version\":",
                             cpu_count(), memory_mib());
    if (!rc) rc = gojson_string(RECEPTOR_VERSION, strlen(RECEPTOR_VERSION), out);
    return rc ? rc : buf_append_str(out, "}");
}
