/* routing.h - link-state routing (spec 4.5).
 *
 * The link-state database (lsdb.h) holds the directed costs each node
 * advertised.  routing_compute_db() runs Dijkstra over it from the local
 * node and returns destination -> next hop; routing_compute() does the same
 * over a jansson object node -> (peer -> cost), as `status` prints it.  A node
 * that only appears as someone's neighbour (never as a key) is unreachable,
 * as upstream.  Equal-cost ties go to the lexicographically smaller
 * predecessor, so results are deterministic. */
#ifndef MESH_ROUTING_H
#define MESH_ROUTING_H

#include <jansson.h>

#include "mesh/lsdb.h"

/* Returns a new object dest -> next hop name; NULL on allocation failure.
 * If path_costs is non-NULL it receives dest -> total cost. */
json_t *routing_compute(const char *self, json_t *costs, json_t **path_costs);
json_t *routing_compute_db(const struct lsdb *db, const char *self, json_t **path_costs);

#endif
