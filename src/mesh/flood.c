/* flood.c - routing updates: making our own, flooding, and processing the
 * ones peers send (spec 4.2-4.4).  The link-state database is
 * n->known_costs; freshness per originator is n->known_info; n->seen
 * de-duplicates UpdateIDs and is bounded (NODE_SEEN_MAX) so a flooding peer
 * cannot grow it without limit. */
#include "mesh/node_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

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

void flood_to_all(struct node *n, const uint8_t *msg, size_t len, struct conn *except)
{
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->established && c != except && c->link->on_message)
            link_send(c->link, msg, len, NULL, 0);
}

void flood_send_update(struct node *n, uint64_t suspected)
{
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (flood_make_update(n, suspected, &b) == 0) {
        log_debug("Sending routing update (sequence %llu)", (unsigned long long)n->sequence);
        flood_to_all(n, buf_head(&b), buf_size(&b), NULL);
    } else {
        log_error("routing update too large to send");
    }
    buf_free(&b);
    n->next_update = util_mono_ns() + ROUTE_INTERVAL_NS;
}

void flood_expire_seen(struct node *n, int64_t now)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(n->seen, tmp, k, v)
        if (now - json_integer_value(v) > SEEN_EXPIRY_NS)
            json_object_del(n->seen, k);
}

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

/* Replaces the originator's row when it changed; 1 if it did. */
static int apply_connections(struct node *n, const struct msg_route *r)
{
    json_t *row = json_object_get(n->known_costs, r->node_id);
    if (row && json_equal(row, r->connections))
        return 0;
    json_object_set(n->known_costs, r->node_id, r->connections);
    const char *k;
    json_t *other;
    json_object_foreach(n->known_costs, k, other) {
        if (strcmp(k, n->id) == 0 || strcmp(k, r->node_id) == 0)
            continue;
        if (!json_object_get(r->connections, k))
            json_object_del(other, r->node_id);
    }
    node_schedule_routes(n);
    return 1;
}

/* 1 if the update is fresh and was recorded (then it is forwarded). */
static int accept_update(struct node *n, const struct msg_route *r)
{
    json_t *info = json_object_get(n->known_info, r->node_id);
    if (r->suspected_dup) {
        if (info && (uint64_t)json_integer_value(json_array_get(info, 0)) == r->suspected_dup)
            json_object_set_new(n->known_info, r->node_id,
                                json_pack("[I,I]", (json_int_t)r->epoch, (json_int_t)r->sequence));
        return 1;
    }
    if (info) {
        uint64_t e = (uint64_t)json_integer_value(json_array_get(info, 0));
        uint64_t s = (uint64_t)json_integer_value(json_array_get(info, 1));
        if (r->epoch < e || (r->epoch == e && r->sequence <= s))
            return 0;
        if (r->epoch > e) {
            /* a restarted node knows nothing: tell it about us now rather
             * than at our next periodic update (upstream waits up to 10 s,
             * dropping the node's traffic meanwhile: "hash not found") */
            node_notify_restart(n, r->node_id, r->epoch);
            node_schedule_flood(n);
        }
    } else {
        if (json_object_size(n->known_info) >= NODE_MAX_KNOWN) {
            log_warning("Ignoring routing update from new node %s: already %d nodes known",
                        r->node_id, NODE_MAX_KNOWN);
            return 0;
        }
        names_add(&n->names, r->node_id);
        node_schedule_flood(n);
    }
    json_object_set_new(n->known_info, r->node_id,
                        json_pack("[I,I]", (json_int_t)r->epoch, (json_int_t)r->sequence));
    apply_connections(n, r);
    return 1;
}

static int remember_update_id(struct node *n, const char *id)
{
    if (json_object_get(n->seen, id))
        return 0;
    if (json_object_size(n->seen) >= NODE_SEEN_MAX)
        json_object_clear(n->seen); /* bounded: forget, freshness rules still apply */
    json_object_set_new(n->seen, id, json_integer(util_mono_ns()));
    return 1;
}

void flood_handle_update(struct conn *c, struct msg_route *r)
{
    struct node *n = c->node;
    if (r->node_id[0] == 0)
        return;
    if (strcmp(r->node_id, n->id) == 0) {
        handle_own_id(n, r);
        return;
    }
    if (!remember_update_id(n, r->update_id) || !accept_update(n, r))
        return;
    char *fwd = strdup(n->id);
    if (!fwd)
        return;
    free(r->forwarding_node);
    r->forwarding_node = fwd;
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (msg_route_encode(r, &b) == 0)
        flood_to_all(n, buf_head(&b), buf_size(&b), c);
    buf_free(&b);
}
