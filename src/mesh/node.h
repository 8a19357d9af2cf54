/* node.h - the mesh node: connections, link-state routing, datagrams,
 * service advertisements, ping (spec 2.7, 3, 4, 5, 12).
 *
 * All state of a node hangs off struct node; there are no globals, so a test
 * can run several nodes in one process.  Backends hand links to
 * node_adopt_link(); the node runs the connection protocol on each, floods
 * routing updates, recomputes shortest paths (debounced), routes data
 * messages, and delivers datagrams to local services registered with
 * node_listen().  Upper layers (streams, control, work) only use the
 * functions below. */
#ifndef MESH_NODE_H
#define MESH_NODE_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "mesh/firewall.h"
#include "mesh/message.h"
#include "mesh/names.h"
#include "net/link.h"

struct node;
struct conn;

/* How a backend's sessions are admitted (tcp-listener/peer options). */
struct link_policy {
    double cost;
    json_t *nodecost;     /* node -> cost, or NULL */
    json_t *allowedpeers; /* array of node IDs, or NULL = anyone */
    int dialed;           /* this node dialed the link (a *-peer entry) */
};

/* A datagram service on this node. */
struct node_service;
typedef void (*node_datagram_cb)(void *arg, const char *from_node, const char *from_service,
                                 const uint8_t *data, size_t len);
typedef void (*node_unreach_cb)(void *arg, const struct msg_unreach *u, const char *reporter);

enum conn_type { CONN_DATAGRAM = 0, CONN_STREAM = 1, CONN_STREAM_TLS = 2 };

struct node_config {
    const char *id;
    json_t *firewallrules;     /* may be NULL */
    int64_t max_idle_ns;       /* 0 = 21 s */
};

struct node *node_new(uv_loop_t *loop, const struct node_config *cfg, char *err, size_t errlen);
/* Closes every connection and frees the node once libuv handles are done. */
void node_free(struct node *n);
const char *node_id(const struct node *n);
uv_loop_t *node_loop(const struct node *n);
/* Called when a duplicate of our node ID makes this node shut down. */
void node_on_shutdown(struct node *n, void (*cb)(void *arg, const char *why), void *arg);

/* Starts the connection protocol on a new backend session. */
void node_adopt_link(struct node *n, struct link *l, const struct link_policy *policy);

/* Registers a local service.  service NULL picks a fresh ephemeral name.
 * Advertised services (advertise=1) are sent to the mesh with tags. */
struct node_service *node_listen(struct node *n, const char *service, int advertise,
                                 enum conn_type type, json_t *tags,
                                 node_datagram_cb on_data, node_unreach_cb on_unreach, void *arg,
                                 char *err, size_t errlen);
const char *node_service_name(const struct node_service *s);
void node_unlisten(struct node *n, struct node_service *s);

#define NODE_HOPS_DEFAULT (-1) /* 30, as upstream */
/* Sends a datagram from a local service with the given hops-to-live.
 * Returns 0 or -1 with err set to upstream's text ("no route to node",
 * "service unknown", ...). */
int node_send(struct node *n, const char *from_service, const char *to_node,
              const char *to_service, const uint8_t *data, size_t len, int hops,
              const char **err);

/* Observers of other nodes restarting (a routing update with a newer
 * epoch): streams to that node opened before it started are dead, whatever
 * QUIC's timers think.  epoch is the new process's (its start time by its
 * clock: Unix seconds << 24 | fraction).  When this node itself is being
 * freed, observers are called once with node NULL. */
struct node_observer;
struct node_observer *node_observe_restarts(struct node *n,
                                            void (*cb)(void *arg, const char *node, uint64_t epoch),
                                            void *arg);
void node_unobserve(struct node *n, struct node_observer *o);
/* The epoch of node's process as the last routing update said; 0 unknown. */
uint64_t node_known_epoch(struct node *n, const char *node);

/* The work types this node advertises in its control service ad. */
void node_set_work_commands(struct node *n, json_t *work_commands);

/* status command: every key upstream emits (Go order/format ready). */
json_t *node_status(struct node *n);
/* The same as JSON text, as gojson_dump(node_status(n), 0) writes it,
 * without building it (the tables are large in a large mesh). */
int node_status_write(struct node *n, struct buf *out);

/* ---- metrics ------------------------------------------------------------
 * Counters for the metrics endpoint (control/metrics.c), kept on the node
 * and its connections; read-only views, valid until the loop runs again. */
enum node_drop_reason {
    NODE_DROP_RATE_LIMIT,   /* over the per-link control message budget */
    NODE_DROP_DUPLICATE,    /* UpdateID already seen (a flood echo) */
    NODE_DROP_STALE,        /* older epoch/sequence than known */
    NODE_DROP_TABLE_FULL,   /* known-nodes caps */
    NODE_DROP_INVALID,      /* undecodable */
    NODE_DROP_COUNT
};
const char *node_drop_reason_name(enum node_drop_reason r);

struct node_counters {
    uint64_t route_updates_received;   /* routing messages from peers */
    uint64_t route_updates_sent;       /* routing messages to peers (one per link) */
    uint64_t route_updates_dropped[NODE_DROP_COUNT];
    uint64_t route_recomputations;
};
const struct node_counters *node_counters(const struct node *n);

struct node_peer_stats {
    const char *peer;          /* NULL while the connection protocol runs */
    const char *desc;          /* the link, "tcp 127.0.0.1:51234" */
    double cost;
    uint64_t bytes_in, bytes_out;    /* mesh message bytes (framing excluded) */
    uint64_t frames_in, frames_out;  /* mesh messages */
};
/* Calls cb for every connection, established or not. */
void node_foreach_peer(struct node *n, void (*cb)(void *arg, const struct node_peer_stats *st),
                       void *arg);
/* Nodes in the link-state database, this one included. */
size_t node_known_count(const struct node *n);
/* Round-trip time of the last successful ping from this node, per target:
 * node -> seconds (borrowed; at most NODE_MAX_KNOWN entries). */
json_t *node_ping_rtts(const struct node *n);

/* Ping: result callback gets err NULL on success with from = replying node. */
struct node_ping;
typedef void (*node_ping_cb)(void *arg, const char *from, int64_t elapsed_ns, const char *err);
struct node_ping *node_ping(struct node *n, const char *target, int hops, node_ping_cb cb, void *arg);
void node_ping_cancel(struct node_ping *p);

#endif
