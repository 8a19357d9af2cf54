/* holdback.c - a leaf waits before relaying a routing update to a hub.
 *
 * Flooding sends every fresh update on every link but the one it came in
 * on, as upstream does.  In an automation mesh an execution node has links
 * to two hops, and each hop forwards every update to all of its hundred
 * nodes at once: so each execution node gets every update from both hops,
 * and relays the first copy to the other hop, which already has it.  At
 * 1000 nodes that was 97% of what a hop received (130,000 copies while the
 * mesh formed), each one read, framed and looked up, and an encode of the
 * update with our name as forwarder on every execution node.
 *
 * So a node with few links (at most HOLDBACK_LEAF_LINKS) in a large mesh
 * (more than MESH_SMALL nodes known) holds back an update it would relay
 * to a peer with more links than itself, for HOLDBACK_NS.  When the peer
 * sends us the same update meanwhile (the UpdateID), the peer has it and
 * the relay is dropped; otherwise it goes out when the time is up, so an
 * update still reaches a hub whose only path runs through us, only later.
 * Hubs relay at once, and so do nodes in a chain (their peers have no more
 * links than they do): nothing waits where nothing would come back.
 *
 * What is held is the update as received (bytes, not decoded): the common
 * end is a drop, and only an update actually sent late is re-encoded with
 * this node as forwarder.  Bounded by HOLDBACK_MAX entries and
 * HOLDBACK_MAX_BYTES; past either, an update is relayed at once. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "mesh/node_internal.h"

#define HOLDBACK_LEAF_LINKS 4
#define HOLDBACK_NS (1000LL * 1000000)
#define HOLDBACK_MAX 512
#define HOLDBACK_MAX_BYTES (512u * 1024)

struct held_relay {
    struct conn *to;
    int64_t due;                       /* mono ns */
    char update_id[MSG_UPDATE_ID_MAX + 1];
    size_t len;
    struct held_relay *next;
    uint8_t json[];                    /* the update as received, JSON */
};

static void on_holdback_timer(uv_timer_t *t);

static void arm(struct node *n)
{
    if (!n->held_relays) {
        uv_timer_stop(&n->holdback_timer);
        return;
    }
    int64_t wait = n->held_relays->due - util_mono_ns();
    uint64_t ms = wait > 0 ? (uint64_t)(wait + 999999) / 1000000 : 0;
    uv_timer_start(&n->holdback_timer, on_holdback_timer, ms, 0);
}

static void unlink_first(struct node *n)
{
    struct held_relay *h = n->held_relays;
    n->held_relays = h->next;
    if (!n->held_relays)
        n->held_relays_last = NULL;
    n->held_count--;
    n->held_bytes -= h->len;
}

size_t holdback_leaf(struct node *n)
{
    if (origins_count(&n->origins) <= MESH_SMALL)
        return 0;
    size_t links = 0;
    for (const struct conn *c = n->conns; c; c = c->next)
        if (c->established && ++links > HOLDBACK_LEAF_LINKS)
            return 0;
    return links;
}

int holdback_toward(struct node *n, size_t links, const struct conn *to)
{
    const struct lsdb_entry *row = lsdb_row(&n->lsdb, to->peer);
    return row && row->nrow > links;
}

int holdback_add(struct node *n, struct conn *to, const char *update_id, const uint8_t *json, size_t len)
{
    size_t idlen = strlen(update_id);
    if (n->held_count >= HOLDBACK_MAX || n->held_bytes + len > HOLDBACK_MAX_BYTES ||
        idlen > MSG_UPDATE_ID_MAX)
        return -1;
    struct held_relay *h = malloc(sizeof *h + len);
    if (!h)
        return -1;
    h->to = to;
    h->due = util_mono_ns() + HOLDBACK_NS;
    memcpy(h->update_id, update_id, idlen + 1);
    h->len = len;
    h->next = NULL;
    memcpy(h->json, json, len);
    if (n->held_relays_last)
        n->held_relays_last->next = h;
    else
        n->held_relays = h;
    n->held_relays_last = h;
    n->held_count++;
    n->held_bytes += len;
    if (n->held_relays == h)
        arm(n);
    return 0;
}

/* Removes the entries matching (to, and update_id unless NULL). */
static void drop_matching(struct node *n, const struct conn *to, const char *update_id)
{
    struct held_relay **pp = &n->held_relays, *prev = NULL;
    int first_gone = 0;
    while (*pp) {
        struct held_relay *h = *pp;
        if (h->to == to && (!update_id || strcmp(h->update_id, update_id) == 0)) {
            if (h == n->held_relays)
                first_gone = 1;
            *pp = h->next;
            if (n->held_relays_last == h)
                n->held_relays_last = prev;
            n->held_count--;
            n->held_bytes -= h->len;
            free(h);
            if (update_id)
                break;
            continue;
        }
        prev = h;
        pp = &h->next;
    }
    if (first_gone)
        arm(n);
}

void holdback_cancel(struct node *n, const struct conn *from, const char *update_id)
{
    if (n->held_relays)
        drop_matching(n, from, update_id);
}

void holdback_forget(struct node *n, const struct conn *c)
{
    if (n->held_relays)
        drop_matching(n, c, NULL);
}

static void relay_late(struct node *n, struct held_relay *h)
{
    struct msg_route r;
    char err[160];
    if (msg_route_decode(h->json, h->len, &r, err, sizeof err) < 0)
        return;
    struct buf b;
    buf_init(&b, LINK_MAX_MESSAGE);
    if (flood_encode_relay(n, &r, &b) == 0 && conn_send(h->to, buf_head(&b), buf_size(&b), NULL, 0) == 0)
        n->counters.route_updates_sent++;
    buf_free(&b);
    msg_route_free(&r);
}

static void on_holdback_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = util_mono_ns();
    while (n->held_relays && n->held_relays->due <= now) {
        struct held_relay *h = n->held_relays;
        unlink_first(n);
        if (h->to->established && h->to->link->on_message)
            relay_late(n, h);
        free(h);
    }
    arm(n);
}

void holdback_init(struct node *n)
{
    uv_timer_init(n->loop, &n->holdback_timer);
    n->holdback_timer.data = n;
}

void holdback_close(struct node *n, uv_close_cb cb)
{
    while (n->held_relays) {
        struct held_relay *h = n->held_relays;
        unlink_first(n);
        free(h);
    }
    uv_close((uv_handle_t *)&n->holdback_timer, cb);
}
