/* node_internal.h - the node's private state, shared by the files of
 * src/mesh that implement one concept each:
 *   node.c      lifecycle, timers, connections and the connection protocol
 *   flood.c     routing updates: making, flooding, processing (spec 4.2)
 *   lsdb.c      the link-state database: every known node's row, and who lists whom
 *   seen.c      the UpdateIDs seen recently
 *   origins.c   each known node's newest accepted update
 *   name_index.c  finds a name's entry in lsdb's and origins' tables
 *   resume.c    what a returning peer already knows
 *   datagram.c  data messages: routing, delivery, unreach, firewall
 *   advert.c    service advertisements (spec 4.8)
 *   ping.c      ping and its client
 *   status.c    the status report
 * Nothing outside src/mesh includes this file. */
#ifndef MESH_NODE_INTERNAL_H
#define MESH_NODE_INTERNAL_H

#include "mesh/lsdb.h"
#include "mesh/node.h"
#include "mesh/origins.h"
#include "mesh/seen.h"

#define NODE_MAX_KNOWN 4096         /* most nodes one mesh may hold */
#define NODE_SEEN_MAX 100000        /* de-dup table bound */
/* Byte bounds of the tables peers fill (estimates of what each entry costs
 * in memory, allocator overhead included): a 4096-node mesh of honest nodes
 * needs a fraction of each; a flooding peer meets them instead of growing
 * the node by gigabytes (4096 rows of 4096 connections, 16384 adverts of
 * 64 KB).  The 100,000 UpdateIDs of NODE_SEEN_MAX take 16 bytes each. */
#define NODE_KNOWN_MAX_BYTES (16u << 20)
#define NODE_ADS_MAX 16384
#define NODE_ADS_MAX_BYTES (16u << 20)
#define CAP_REPORT_NS (10LL * 1000000000)
#define ROUTE_INTERVAL_NS (10LL * 1000000000)
#define AD_INTERVAL_NS (60LL * 1000000000)
/* UpdateIDs matter while an update is in flight; replays are refused by
 * (epoch, sequence) anyway.  Upstream keeps them an hour; at our refresh
 * rates that would be most of a large mesh's memory per node. */
#define SEEN_EXPIRY_NS (600LL * 1000000000)
#define DEFAULT_IDLE_NS (21LL * 1000000000)
#define INITIAL_SENDS_MAX 11
#define TICK_STALL_NS (3LL * 1000000000) /* a 1 s tick this late: the process was not running */
#define TRIM_EVERY_MESSAGES 200     /* routing messages between two heap trims (trim_heap) */
#define TRIM_FREE_MIN (256u << 10)  /* ... and free bytes the heap must hold */
#define TABLE_WINDOW (32u << 10)    /* bytes queued on a link before its table waits for a drain */
#define INITIAL_WAIT_DIALED_S 60    /* how long a dialed link waits for the handshake */
#define INITIAL_RESEND_DIALED_S 5   /* ... resending our update this often after 11 s */
#define RESUME_MARGIN_NS (30LL * 1000000000) /* rows sent this long before a link ended had arrived */
#define RESUME_KEEP_NS (600LL * 1000000000)  /* how long a departed peer is remembered */
#define RESUME_MAX NODE_MAX_KNOWN
#define DUPLICATE_WAIT_S 5          /* a new link named after a peer we hold a link to waits this long for the old one to end */
/* Per-link control-plane limit (routing updates and adverts): a base rate
 * and burst, plus what an honest mesh of the size this node knows floods
 * through one link (every node's periodic update and its adverts); a link
 * starts with room for a full table exchange (flood_send_known). */
#define RATE_PER_SEC 100.0          /* control messages per second per link */
#define RATE_BURST 400.0
#define RATE_PER_KNOWN_NODE 0.5     /* per second, per node this node knows */
#define BURST_PER_KNOWN_NODE 2.0
#define RATE_SYNC_ALLOWANCE (2.0 * NODE_MAX_KNOWN)
/* Large meshes: a node floods a fresh routing update every
 * ROUTE_INTERVAL_NS while it knows at most MESH_SMALL nodes, and every
 * ROUTE_INTERVAL_NS * (known / MESH_SMALL)^2 beyond, at most hourly (the
 * flood of each update crosses every link of the mesh, so refreshing at a
 * fixed period costs nodes x links); in between, every ROUTE_INTERVAL_NS, the last update is
 * sent again to each peer as the keep-alive (peers have seen its UpdateID
 * and drop it).  Adverts likewise.  New nodes learn the topology from their
 * peers' table exchange at connection time rather than from everyone
 * re-flooding when a node appears. */
#define MESH_SMALL 50
#define MESH_REFRESH_MAX_NS (3600LL * 1000000000)
#define FLOOD_DELAY_MAX_MS 2000
#define HUB_LINKS 8            /* more links than this: a hub (node_schedule_flood_added) */
#define HUB_FLOOD_FACTOR 3     /* a hub's new links are announced this many times later */

struct conn {
    struct node *node;
    struct link *link;
    struct link_policy policy;
    char *peer;                     /* NULL until established */
    int established;
    int remote_established;
    double cost;
    int initial_sends;
    int initial_ticks;              /* ticks spent in the initial phase */
    char *duplicate_of;             /* the node we hold a link to that this link's peer named (NULL: none) */
    int duplicate_ticks;            /* ticks spent waiting for that link to end */
    uint8_t *initial_msg;           /* the update the initial phase repeats */
    size_t initial_len;
    int64_t last_recv;
    int64_t established_at;         /* mono ns */
    uint64_t peer_epoch;            /* the epoch of the peer's handshake update (0: not known) */
    double tokens;
    int64_t tokens_at;
    int64_t warned_at;
    uint64_t bytes_in, bytes_out, frames_in, frames_out;
    /* The routing table being sent to this peer (flood_send_known), as
     * the link drains: the next origins entry, and rows older than since
     * (mono ns) are skipped. */
    int table_active;
    uint32_t table_next;
    int64_t table_since;
    size_t table_sent, table_skipped;
    int relay_now;                  /* flood_handle_update: sending to it now */
    struct conn *next;
};

struct node_service {
    struct node *node;
    char name[MSG_SERVICE_MAX + 1];
    int advertise;
    enum conn_type type;
    json_t *tags;
    int64_t ad_ns;          /* Time of our last flooded ad (advert.c); 0: none yet */
    node_datagram_cb on_data;
    node_unreach_cb on_unreach;
    void *arg;
    struct node_service *next;
};

struct received_ad {
    struct msg_ad ad;
    uint8_t *raw;      /* type byte + JSON as received, forwarded unchanged */
    size_t rawlen;
    size_t cost;       /* counted in node.ads_bytes */
    struct received_ad *next;
};

struct node_ping {
    struct node *node;
    struct node_service *svc;
    uv_timer_t timer;
    node_ping_cb cb;
    void *arg;
    int64_t start;
    const char *pending_err;   /* a local send error reported on the next tick */
    int starting;              /* inside node_ping(): results wait for the loop */
    int have_result;
    char result_from[256];
    char result_err[128];      /* "" = success */
    int done;
    struct node_ping *next;
};

/* A table refusing entries: one log line per CAP_REPORT_NS at most. */
struct cap_report {
    int64_t last;
    uint64_t refused;   /* since the last line */
};

struct node_observer {
    void (*cb)(void *arg, const char *node, uint64_t epoch);
    void *arg;
    struct node_observer *next;
};

struct node {
    uv_loop_t *loop;
    char *id;
    uint64_t id_hash;
    uint64_t epoch;
    uint64_t sequence;
    struct names names;
    struct firewall fw;
    int64_t max_idle_ns;
    struct conn *conns;
    struct lsdb lsdb;       /* every known node's row (lsdb.c) */
    struct origins origins; /* node -> its newest accepted update (origins.c) */
    json_t *departed;       /* peer -> [epoch, rows it has up to (mono ns), lost at] (resume.c) */
    struct seen seen;       /* UpdateIDs of the last SEEN_EXPIRY_NS */
    size_t known_bytes;     /* lsdb + origins, re-counted when near the cap */
    struct cap_report known_report;
    json_t *routes;         /* dest -> next hop */
    struct received_ad *ads;
    size_t nads, ads_bytes;
    struct cap_report ads_report;
    struct node_service *services;
    struct node_ping *pings;
    json_t *work_commands;
    uv_timer_t tick, flood_timer, route_timer;
    int64_t next_update, next_seen_scan;
    int64_t refreshed_at, ads_at;   /* our last fresh routing update, our last adverts (mono ns) */
    int64_t last_tick;              /* when the housekeeping tick last ran */
    uint64_t trim_mark;             /* routing messages counted at the last heap trim */
    int ads_due;
    int own_dirty;          /* our connections changed since our last update */
    uint8_t *last_update;   /* our last flooded update, resent as keep-alive */
    size_t last_update_len;
    /* holdback.c: relays held back from hubs, oldest first */
    struct held_relay *held_relays, *held_relays_last;
    size_t held_count, held_bytes;
    uv_timer_t holdback_timer;
    int handles;
    int freeing;
    struct node_observer *observers;
    struct node_counters counters;
    json_t *ping_rtt;       /* target -> seconds of the last ping answered */
    void (*shutdown_cb)(void *arg, const char *why);
    void *shutdown_arg;
};

/* holdback.c */
void holdback_init(struct node *n);
void holdback_close(struct node *n, uv_close_cb cb);
/* Our link count if we are a leaf of a large mesh (we hold back relays to
 * hubs), else 0; then 1 if relaying to `to` should wait for its own copy. */
size_t holdback_leaf(struct node *n);
int holdback_toward(struct node *n, size_t links, const struct conn *to);
/* Holds the update (JSON as received) for `to`; -1: full, relay it now. */
int holdback_add(struct node *n, struct conn *to, const char *update_id, const uint8_t *json, size_t len);
/* `from` sent us update_id: it has it, so nothing held for it goes out. */
void holdback_cancel(struct node *n, const struct conn *from, const char *update_id);
void holdback_forget(struct node *n, const struct conn *c);

/* node.c */
/* link_send() on a connection, counted in its metrics. */
int conn_send(struct conn *c, const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen);
struct conn *node_find_conn(struct node *n, const char *peer);
void node_drop_conn(struct conn *c, const char *why, int reject);
void node_schedule_flood(struct node *n);
void node_schedule_routes(struct node *n);
json_t *node_routes(struct node *n);

void node_notify_restart(struct node *n, const char *node, uint64_t epoch);
void node_notify_shutdown(struct node *n);

/* flood.c */
int flood_make_update(struct node *n, uint64_t suspected, struct buf *out);
void flood_send_update(struct node *n, uint64_t suspected);
/* Returns the number of links the message was queued on. */
size_t flood_to_all(struct node *n, const uint8_t *msg, size_t len, struct conn *except);
/* e's row as costs (e->nrow of them), sorted as Go writes a map. */
void flood_row_costs(const struct lsdb *db, const struct lsdb_entry *e, struct msg_cost *out);
/* Encodes r with this node as forwarder (type byte + JSON). */
int flood_encode_relay(struct node *n, struct msg_route *r, struct buf *out);
void flood_handle_update(struct conn *c, struct msg_route *r, const uint8_t *json, size_t len);
void flood_expire_seen(struct node *n, int64_t now);
void flood_send_keepalive(struct node *n);
/* Starts sending to a new peer the rows accepted from since on (mono ns;
 * 0: the whole table); flood_pump_known sends more as its link drains. */
void flood_send_known(struct node *n, struct conn *to, int64_t since);
void flood_pump_known(struct node *n, struct conn *to);
int64_t node_scaled_interval(struct node *n, int64_t base);

/* resume.c */
void resume_note_lost(struct node *n, const struct conn *c, int64_t now);
/* From when on rows must be sent to the peer now establishing (0: all). */
int64_t resume_since(struct node *n, const char *peer, uint64_t epoch);
void resume_expire(struct node *n, int64_t now);

/* datagram.c */
void datagram_handle(struct conn *c, const uint8_t *msg, size_t len);
int datagram_route(struct node *n, struct msg_data *md, const char *from, const char *to,
                   const char **err);
void datagram_send_unreach(struct node *n, const char *from, const char *to,
                           const char *from_svc, const char *to_svc, const char *problem);

/* advert.c */
void advert_handle(struct conn *c, const uint8_t *msg, size_t len);
void advert_send_own(struct node *n, struct conn *only);
void advert_send_known(struct node *n, struct conn *to);
void advert_send_cancel(struct node *n, struct node_service *s);
void advert_free_all(struct node *n);
json_t *advert_status(struct node *n);

/* ping.c */
void ping_handle_request(struct node *n, const struct msg_data *md, const char *from);
void ping_free_all(struct node *n);

int conn_allow_control_message(struct conn *c);
/* Counts a refusal; 1 when a line should be logged now, *more = the
 * refusals since the previous line that were not logged. */
int node_cap_report_due(struct cap_report *r, uint64_t *more);

#endif
