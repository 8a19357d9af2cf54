/* status.c - the node's part of the `status` reply (spec 8.5): every key
 * upstream emits, built so that gojson_dump() without sorting writes Go's
 * output (top-level map keys in sorted order, struct fields in Go order). */
#include "mesh/node_internal.h"

#include <sched.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "core/gojson.h"

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

json_t *node_status(struct node *n)
{
    json_t *conns = json_array();
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->established)
            json_array_append_new(conns, json_pack("{s:s,s:f}", "NodeID", c->peer, "Cost", c->cost));
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
