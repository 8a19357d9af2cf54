/* flood.c - routing updates: making our own, flooding, and processing the
 * ones peers send (spec 4.2-4.4).  The link-state database is n->lsdb
 * (lsdb.c), which also names the rows that list a node; freshness per
 * originator is n->origins (origins.c); n->seen (seen.c) de-duplicates
 * UpdateIDs.  They are bounded so a flooding peer
 * cannot grow them without limit: the seen set is forgotten when full (the
 * freshness rules still drop replays), and an update whose
 * row would take the known-nodes table past NODE_KNOWN_MAX_BYTES is
 * refused and not forwarded.  known_bytes is kept up to date by the updates
 * here; the connections made and lost locally change it a little, so it is
 * counted afresh before it refuses anything. */
#include "mesh/node_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* Estimated memory per known node and per entry of its row, allocator
 * overhead and index slots included.  An entry costs 16 bytes in the row
 * and 4-8 in the index the other way; a peer that only one row lists also
 * costs its interned name (~40 bytes with its index slot).  The estimate
 * takes that worst case, which is what a peer inventing names makes. */
#define KNOWN_NODE_COST 200   /* origins entry + lsdb entry */
#define KNOWN_ENTRY_COST 64   /* one (peer, cost) in a row + the entry the other way + a name */

static size_t row_cost(const char *node, json_t *row)
{
    size_t c = KNOWN_NODE_COST + 2 * strlen(node);
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v)
        c += strlen(k) + KNOWN_ENTRY_COST;
    return c;
}

static size_t stored_row_cost(const struct lsdb *db, const struct lsdb_entry *e)
{
    size_t c = KNOWN_NODE_COST + 2 * strlen(e->name);
    for (uint32_t i = 0; i < e->nrow; i++)
        c += strlen(db->e[e->row[i].peer].name) + KNOWN_ENTRY_COST;
    return c;
}

static size_t known_bytes_count(struct node *n)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n->lsdb.count; i++)
        if (n->lsdb.e[i].has_row)
            total += stored_row_cost(&n->lsdb, &n->lsdb.e[i]);
    return total;
}

int flood_make_update(struct node *n, uint64_t suspected, struct buf *out)
{
    char update_id[9];
    util_random_id(update_id, 8);
    struct msg_route r = {
        .node_id = n->id,
        .update_id = update_id,
        .epoch = n->epoch,
        .sequence = ++n->sequence,
        .connections = json_object(),
        .forwarding_node = n->id,
        .suspected_dup = suspected,
    };
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->established)
            json_object_set_new(r.connections, c->peer, json_real(c->cost));
    int rc = msg_route_encode(&r, out);
    json_decref(r.connections);
    return rc;
}

size_t flood_to_all(struct node *n, const uint8_t *msg, size_t len, struct conn *except)
{
    size_t sent = 0;
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->established && c != except && c->link->on_message &&
            conn_send(c, msg, len, NULL, 0) == 0)
            sent++;
    return sent;
}

/* When our next keep-alive is due.  Every 10 s as upstream in a small
 * mesh.  In a large one the nodes that came up together would send theirs
 * in the same second, every 10 s: a thousand processes woken at once on a
 * shared machine held a control socket's answer in the run queue for
 * hundreds of milliseconds.  There each interval is drawn from 7.5-10 s,
 * which spreads the nodes over the period within a few rounds and stays
 * well inside a peer's 21 s idle limit. */
static int64_t next_keepalive(struct node *n, int64_t now)
{
    if (origins_count(&n->origins) <= MESH_SMALL)
        return now + ROUTE_INTERVAL_NS;
    return now + ROUTE_INTERVAL_NS - (int64_t)(util_random_u64() % (uint64_t)(ROUTE_INTERVAL_NS / 4));
}

void flood_send_update(struct node *n, uint64_t suspected)
{
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (flood_make_update(n, suspected, &b) == 0) {
        log_debug("Sending routing update (sequence %llu)", (unsigned long long)n->sequence);
        n->counters.route_updates_sent += flood_to_all(n, buf_head(&b), buf_size(&b), NULL);
        uint8_t *copy = suspected ? NULL : malloc(buf_size(&b));
        free(n->last_update);
        n->last_update = copy;
        n->last_update_len = copy ? buf_size(&b) : 0;
        if (copy)
            memcpy(copy, buf_head(&b), buf_size(&b));
        n->own_dirty = 0;
    } else {
        log_error("routing update too large to send");
    }
    buf_free(&b);
    int64_t now = util_mono_ns();
    n->next_update = next_keepalive(n, now);
    n->refreshed_at = now;
}

/* Every link hears from us every ROUTE_INTERVAL_NS; between refreshes that
 * is our last update again, unchanged (same UpdateID and sequence: every
 * peer drops it as seen or stale, and nobody forwards it).  Only an update
 * that still lists every established peer may be repeated: a peer checks
 * that it is listed. */
void flood_send_keepalive(struct node *n)
{
    /* the period is judged by the mesh we know now: an update sent while
     * we knew a few nodes is not refreshed on the short period of then */
    int64_t now = util_mono_ns();
    if (!n->last_update || n->own_dirty ||
        now - n->refreshed_at >= node_scaled_interval(n, ROUTE_INTERVAL_NS)) {
        flood_send_update(n, 0);
        return;
    }
    n->counters.route_updates_sent += flood_to_all(n, n->last_update, n->last_update_len, NULL);
    n->next_update = next_keepalive(n, now);
}

/* A new link gets the routing table we hold: the last accepted update of
 * every node we know (its own UpdateID, epoch and sequence, with us as the
 * forwarder), so a node that joins learns the mesh at once instead of at
 * every node's next refresh, and nodes already holding these updates drop
 * them as seen or stale.  The rows go out as the link drains, at most
 * TABLE_WINDOW bytes queued at a time: a hop that a hundred nodes join at
 * once would otherwise hold a hundred tables in its heap.  Each row is
 * encoded when its turn comes, so it is the newest we have; the origins
 * table only grows, so the cursor stays valid. */
void flood_send_known(struct node *n, struct conn *to, int64_t since)
{
    to->table_active = 1;
    to->table_next = 0;
    to->table_since = since;
    to->table_sent = to->table_skipped = 0;
    flood_pump_known(n, to);
}

void flood_row_costs(const struct lsdb *db, const struct lsdb_entry *e, struct msg_cost *out)
{
    for (uint32_t i = 0; i < e->nrow; i++)
        out[i] = (struct msg_cost){ db->e[e->row[i].peer].name, e->row[i].cost };
    msg_costs_sort(out, e->nrow);
}

/* Encodes and queues one row; 0 sent, 1 nothing to send, -1 the link is
 * full (try again at the next drain), -2 the link is gone. */
static int send_row(struct node *n, struct conn *to, const struct origin *o, struct buf *b)
{
    const struct lsdb_entry *e = lsdb_row(&n->lsdb, o->name);
    if (!e || strcmp(o->name, n->id) == 0 || strcmp(o->name, to->peer) == 0)
        return 1;
    if (to->table_since && o->accepted_at < to->table_since) {
        to->table_skipped++; /* the returning peer has it (resume.c) */
        return 1;
    }
    struct msg_route r = {
        .node_id = o->name,
        .update_id = o->update_id,
        .epoch = o->epoch,
        .sequence = o->sequence,
        .forwarding_node = n->id,
    };
    struct msg_cost *costs = malloc((e->nrow ? e->nrow : 1) * sizeof *costs);
    if (!costs)
        return 1;
    flood_row_costs(&n->lsdb, e, costs);
    buf_reset(b);
    int enc = msg_route_encode_costs(&r, costs, e->nrow, b);
    free(costs);
    if (enc != 0)
        return 1;
    int rc = conn_send(to, buf_head(b), buf_size(b), NULL, 0);
    if (rc == -ENOBUFS)
        return -1;
    if (rc != 0)
        return -2;
    n->counters.route_updates_sent++;
    to->table_sent++;
    return 0;
}

void flood_pump_known(struct node *n, struct conn *to)
{
    if (!to->table_active || !to->established)
        return;
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    int paced = link_paced(to->link), rc = 0;
    while (to->table_next < n->origins.count) {
        if (paced && link_queued(to->link) >= TABLE_WINDOW)
            break;
        rc = send_row(n, to, &n->origins.e[to->table_next], &b);
        if (rc == -1)
            break;
        to->table_next++;
        if (rc == -2)
            break;
    }
    buf_free(&b);
    if (to->table_next < n->origins.count && rc != -2)
        return; /* more at the next drain (or tick) */
    to->table_active = 0;
    if (to->table_since)
        log_debug("%s returns with the same epoch: sent it the %zu routing rows that changed since it "
                  "left, not the %zu it has", to->peer, to->table_sent, to->table_skipped);
}

void flood_expire_seen(struct node *n, int64_t now) { seen_expire(&n->seen, now - SEEN_EXPIRY_NS); }

static void handle_own_id(struct node *n, const struct msg_route *r)
{
    if (r->epoch == n->epoch)
        return;
    if (r->suspected_dup == n->epoch) {
        log_error("Routing update suggests we are a duplicate node ID %s: shutting down", n->id);
        if (n->shutdown_cb)
            n->shutdown_cb(n->shutdown_arg, "duplicate node ID");
        return;
    }
    if (r->epoch > n->epoch) {
        log_warning("Another node is using our node ID %s (newer epoch): telling it to stop", n->id);
        flood_send_update(n, r->epoch);
    }
}

/* Drops the originator from row k unless k is us, the originator, or
 * listed in the originator's new row. */
static void withdraw_from(struct node *n, const struct msg_route *r, const char *k)
{
    if (strcmp(k, n->id) == 0 || strcmp(k, r->node_id) == 0 || json_object_get(r->connections, k))
        return;
    if (lsdb_del_edge(&n->lsdb, k, r->node_id)) {
        size_t gone = strlen(r->node_id) + KNOWN_ENTRY_COST;
        n->known_bytes = n->known_bytes > gone ? n->known_bytes - gone : 0;
    }
}

/* Every row that lists the originator and is not listed back by its new
 * row loses the entry (as upstream).  The index names those rows; only if
 * it cannot (out of memory) is every row looked at. */
static void withdraw_unlisted(struct node *n, const struct msg_route *r)
{
    const char **by;
    size_t nby;
    if (lsdb_listers(&n->lsdb, r->node_id, &by, &nby) == 0) {
        for (size_t i = 0; i < nby; i++)
            withdraw_from(n, r, by[i]);
        free(by);
        return;
    }
    for (uint32_t i = 0; i < n->lsdb.count; i++)
        if (n->lsdb.e[i].has_row && lsdb_lists(&n->lsdb, n->lsdb.e[i].name, r->node_id))
            withdraw_from(n, r, n->lsdb.e[i].name);
}

static void known_refuse(struct node *n, const struct msg_route *r, const char *why);

/* Replaces the originator's row when it changed; 1 if it did. */
static int apply_connections(struct node *n, const struct msg_route *r)
{
    if (lsdb_row_equals(&n->lsdb, r->node_id, r->connections))
        return 0;
    const struct lsdb_entry *row = lsdb_row(&n->lsdb, r->node_id);
    size_t old = row ? stored_row_cost(&n->lsdb, row) : 0;
    if (lsdb_set_row(&n->lsdb, r->node_id, r->connections) < 0) {
        known_refuse(n, r, "out of memory");
        return 0;
    }
    n->known_bytes += row_cost(r->node_id, r->connections);
    n->known_bytes = n->known_bytes > old ? n->known_bytes - old : 0;
    withdraw_unlisted(n, r);
    node_schedule_routes(n);
    return 1;
}

static void known_refuse(struct node *n, const struct msg_route *r, const char *why)
{
    uint64_t more = 0;
    n->counters.route_updates_dropped[NODE_DROP_TABLE_FULL]++;
    if (node_cap_report_due(&n->known_report, &more))
        log_warning("Ignoring routing update from %s: %s (%llu more refused since the last "
                    "report)", r->node_id, why, (unsigned long long)more);
}

/* 1 if the originator's new row fits in the known-nodes byte budget. */
static int known_fits(struct node *n, const struct msg_route *r)
{
    const struct lsdb_entry *row = lsdb_row(&n->lsdb, r->node_id);
    size_t old = row ? stored_row_cost(&n->lsdb, row) : 0;
    size_t add = row_cost(r->node_id, r->connections);
    if (add <= old || n->known_bytes + (add - old) <= NODE_KNOWN_MAX_BYTES)
        return 1;
    n->known_bytes = known_bytes_count(n);
    if (n->known_bytes + (add - old) <= NODE_KNOWN_MAX_BYTES)
        return 1;
    char why[160];
    snprintf(why, sizeof why, "the known nodes would take more than %u bytes (%zu now)",
             NODE_KNOWN_MAX_BYTES, n->known_bytes);
    known_refuse(n, r, why);
    return 0;
}

/* 1 if the update is fresh and was recorded (then it is forwarded). */
static int accept_update(struct node *n, const struct msg_route *r)
{
    struct origin *o = origins_get(&n->origins, r->node_id);
    if (r->suspected_dup) {
        if (o && o->epoch == r->suspected_dup)
            origins_set(&n->origins, r->node_id, r->epoch, r->sequence, r->update_id, util_mono_ns());
        return 1;
    }
    uint64_t e = 0;
    if (o) {
        e = o->epoch;
        if (r->epoch < o->epoch || (r->epoch == o->epoch && r->sequence <= o->sequence)) {
            n->counters.route_updates_dropped[NODE_DROP_STALE]++;
            return 0;
        }
    } else if (origins_count(&n->origins) >= NODE_MAX_KNOWN) {
        char why[80];
        snprintf(why, sizeof why, "a new node, and already %d nodes known", NODE_MAX_KNOWN);
        known_refuse(n, r, why);
        return 0;
    }
    if (!known_fits(n, r))
        return 0;
    if (origins_set(&n->origins, r->node_id, r->epoch, r->sequence, r->update_id, util_mono_ns()) < 0) {
        known_refuse(n, r, "out of memory");
        return 0;
    }
    if (!o) {
        names_add(&n->names, r->node_id);
        /* upstream floods its own update so the new node learns about us;
         * in a large mesh every node doing so for every node that appears
         * is a storm: there the joining node's peers send it their table */
        if (origins_count(&n->origins) <= MESH_SMALL)
            node_schedule_flood(n);
    } else if (r->epoch > e) {
        /* a restarted node knows nothing: tell it about us now rather
         * than at our next periodic update (upstream waits up to 10 s,
         * dropping the node's traffic meanwhile: "hash not found") */
        node_notify_restart(n, r->node_id, r->epoch);
        node_schedule_flood(n);
    }
    apply_connections(n, r);
    return 1;
}

static int remember_update_id(struct node *n, const char *id)
{
    size_t len = strlen(id);
    if (seen_has(&n->seen, id, len)) {
        n->counters.route_updates_dropped[NODE_DROP_DUPLICATE]++;
        return 0;
    }
    if (seen_count(&n->seen) >= NODE_SEEN_MAX) {
        /* bounded: forget; the freshness rules still drop old updates */
        log_warning("Forgetting %zu remembered routing update IDs (%zu bytes): the table is full "
                    "(limit %d IDs)", seen_count(&n->seen), seen_bytes(&n->seen), NODE_SEEN_MAX);
        seen_clear(&n->seen);
    }
    seen_add(&n->seen, id, len, util_mono_ns()); /* out of memory: not remembered, still fresh-checked */
    return 1;
}

int flood_encode_relay(struct node *n, struct msg_route *r, struct buf *out)
{
    char *fwd = strdup(n->id);
    if (!fwd)
        return -1;
    free(r->forwarding_node);
    r->forwarding_node = fwd;
    return msg_route_encode(r, out);
}

/* json/len: the update as received, for relays held back (holdback.c). */
void flood_handle_update(struct conn *c, struct msg_route *r, const uint8_t *json, size_t len)
{
    struct node *n = c->node;
    if (r->node_id[0] == 0)
        return;
    if (strcmp(r->node_id, n->id) == 0) {
        handle_own_id(n, r);
        return;
    }
    if (!remember_update_id(n, r->update_id)) {
        holdback_cancel(n, c, r->update_id);
        return;
    }
    if (!accept_update(n, r))
        return;
    size_t now = 0, leaf = holdback_leaf(n);
    for (struct conn *to = n->conns; to; to = to->next) {
        to->relay_now = 0;
        if (!to->established || to == c || !to->link->on_message)
            continue;
        if (leaf && holdback_toward(n, leaf, to) && holdback_add(n, to, r->update_id, json, len) == 0)
            continue;
        to->relay_now = 1;
        now++;
    }
    if (!now)
        return;
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (flood_encode_relay(n, r, &b) == 0)
        for (struct conn *to = n->conns; to; to = to->next)
            if (to->relay_now && conn_send(to, buf_head(&b), buf_size(&b), NULL, 0) == 0)
                n->counters.route_updates_sent++;
    buf_free(&b);
}
