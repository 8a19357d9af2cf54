/* node.c - node lifecycle, the 1-second housekeeping tick, and the
 * connection protocol of spec 2.7 run on every adopted link.
 *
 * A connection starts in the initial phase: we send our routing update at
 * once and then on every tick until the peer's first routing update names
 * it (ForwardingNode), at most 11 times (a link we dialed then waits
 * longer: handshake_tick).  Checks (own ID, allowed peers) answer with a
 * reject; a peer we already hold a link to is rejected only if that link
 * has not ended within DUPLICATE_WAIT_S (establish).  Once established, the link's
 * messages are dispatched by type to flood.c, datagram.c and advert.c.
 * Housekeeping (periodic updates, idle timeout, advertisement interval,
 * de-dup expiry) all runs off one timer per node, so connections carry no
 * libuv handles of their own. */
#include "mesh/node_internal.h"

#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/util.h"
#include "mesh/routing.h"

/* ---- helpers ------------------------------------------------------------ */

struct conn *node_find_conn(struct node *n, const char *peer)
{
    for (struct conn *c = n->conns; c; c = c->next)
        if (c->peer && strcmp(c->peer, peer) == 0)
            return c;
    return NULL;
}

static void timer_start_once(uv_timer_t *t, uv_timer_cb cb, uint64_t ms)
{
    if (!uv_is_active((uv_handle_t *)t))
        uv_timer_start(t, cb, ms, 0);
}

static void on_flood_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    flood_send_update(n, 0);
}

static void on_route_timer(uv_timer_t *t)
{
    struct node *n = t->data;
    json_t *routes = routing_compute_db(&n->lsdb, n->id, NULL);
    if (!routes)
        return;
    n->counters.route_recomputations++;
    /* comparing and printing a large table costs more than computing it:
     * only when the line is logged */
    if (log_get_level() >= LOG_DEBUG && !json_equal(routes, n->routes)) {
        char *s = json_dumps(routes, JSON_COMPACT | JSON_SORT_KEYS);
        log_debug("Updated routing table: %s", s ? s : "?");
        free(s);
    }
    json_decref(n->routes);
    n->routes = routes;
}

/* base_ms while the mesh is small, base_ms x (known nodes / MESH_SMALL)
 * beyond, at most max_ms: the debounce delays of floods and recomputes. */
static uint64_t scaled_delay_ms(struct node *n, uint64_t base_ms, uint64_t max_ms)
{
    size_t known = origins_count(&n->origins);
    uint64_t ms = known <= MESH_SMALL ? base_ms : base_ms * known / MESH_SMALL;
    return ms < max_ms ? ms : max_ms;
}

void node_schedule_flood(struct node *n)
{
    n->own_dirty = 1;
    if (n->freeing)
        return;
    /* 100 ms as upstream; longer in a large mesh, where each flood crosses
     * every link and a hop's links come up by the hundred.  A pending
     * later flood (a hub's new link) is brought forward. */
    uint64_t ms = scaled_delay_ms(n, 100, FLOOD_DELAY_MAX_MS);
    if (uv_is_active((uv_handle_t *)&n->flood_timer) && uv_timer_get_due_in(&n->flood_timer) <= ms)
        return;
    uv_timer_start(&n->flood_timer, on_flood_timer, ms, 0);
}

/* A new link of a hub in a large mesh waits longer to be announced: its
 * row is the largest the mesh floods (a hop's hundred links), every node
 * decodes each version of it, and while nodes join a hop by the hundred it
 * sent a new version every 2 s (at 1000 nodes, most of what an execution
 * node spent while the mesh formed).  The cost: the mesh learns the new
 * node from its own update at once, but routes to it through this hub
 * (the hub's row) wait for the announcement.  A lost link is announced as
 * soon as before. */
static void node_schedule_flood_added(struct node *n)
{
    size_t links = 0;
    for (struct conn *c = n->conns; c && links <= HUB_LINKS; c = c->next)
        links += c->established;
    if (links <= HUB_LINKS || origins_count(&n->origins) <= MESH_SMALL) {
        node_schedule_flood(n);
        return;
    }
    n->own_dirty = 1;
    if (!n->freeing && !uv_is_active((uv_handle_t *)&n->flood_timer))
        uv_timer_start(&n->flood_timer, on_flood_timer,
                       scaled_delay_ms(n, 100 * HUB_FLOOD_FACTOR, FLOOD_DELAY_MAX_MS * HUB_FLOOD_FACTOR), 0);
}

/* Upstream recomputes 100 ms after a change; a node that already routes
 * towards a peer while the peer cannot route back yet drops the replies, so
 * we keep that window short: the computation is cheap and bursts of
 * updates within 10 ms still coalesce. */
void node_schedule_routes(struct node *n)
{
    /* a large mesh converging changes its topology many times a second,
     * and a recompute costs ~N log N: at most every 10 ms x (N/50)^2, up to
     * 5 s (1000 nodes: 4 s).  Nothing waits for it: whatever reads the
     * table (forwarding, dials, status, metrics) brings it up to date first
     * (node_routes), so the timer only bounds how stale an unread table
     * gets and when "Updated routing table" is logged. */
    size_t known = origins_count(&n->origins);
    uint64_t ms = known <= MESH_SMALL ? 10 : 10 * known * known / (MESH_SMALL * MESH_SMALL);
    if (!n->freeing)
        timer_start_once(&n->route_timer, on_route_timer, ms < 5000 ? ms : 5000);
}

/* The routing table as of now: a recompute still waiting on its debounce
 * timer runs at once, so a node never shows an advert (stored on arrival)
 * while refusing to route to its sender. */
json_t *node_routes(struct node *n)
{
    if (uv_is_active((uv_handle_t *)&n->route_timer)) {
        uv_timer_stop(&n->route_timer);
        on_route_timer(&n->route_timer);
    }
    return n->routes;
}

/* Token bucket per link for control-plane messages (routing updates and
 * advertisements): a peer flooding updates is slowed, never amplified. */
int node_cap_report_due(struct cap_report *r, uint64_t *more)
{
    int64_t now = util_mono_ns();
    if (r->last && now - r->last < CAP_REPORT_NS) {
        r->refused++;
        return 0;
    }
    *more = r->refused;
    r->refused = 0;
    r->last = now;
    return 1;
}

/* base * (known nodes / MESH_SMALL), never below base: the period of our
 * fresh routing updates and adverts (see MESH_SMALL). */
int64_t node_scaled_interval(struct node *n, int64_t base)
{
    double k = (double)origins_count(&n->origins) / MESH_SMALL;
    if (k <= 1)
        return base;
    double ns = (double)base * k * k; /* a flood costs ~links, and there are ~nodes of them */
    return ns > (double)MESH_REFRESH_MAX_NS ? (base > MESH_REFRESH_MAX_NS ? base : MESH_REFRESH_MAX_NS)
                                            : (int64_t)ns;
}

int conn_send(struct conn *c, const uint8_t *head, size_t hlen, const uint8_t *body, size_t blen)
{
    int rc = link_send(c->link, head, hlen, body, blen);
    if (rc == 0) {
        c->frames_out++;
        c->bytes_out += hlen + blen;
    }
    return rc;
}

int conn_allow_control_message(struct conn *c)
{
    int64_t now = util_mono_ns();
    double known = (double)origins_count(&c->node->origins);
    double rate = RATE_PER_SEC + RATE_PER_KNOWN_NODE * known;
    double burst = RATE_BURST + BURST_PER_KNOWN_NODE * known;
    /* a new link's table exchange may leave it above the burst: it drains */
    if (c->tokens < burst) {
        c->tokens += (double)(now - c->tokens_at) / 1e9 * rate;
        if (c->tokens > burst)
            c->tokens = burst;
    }
    c->tokens_at = now;
    if (c->tokens >= 1) {
        c->tokens -= 1;
        return 1;
    }
    if (now - c->warned_at > 10LL * 1000000000) {
        c->warned_at = now;
        log_warning("%s (%s): too many routing messages, dropping some", c->link->desc,
                    c->peer ? c->peer : "not yet identified");
    }
    return 0;
}

/* ---- connections -------------------------------------------------------- */

static void policy_copy(struct link_policy *dst, const struct link_policy *src)
{
    dst->cost = src->cost > 0 ? src->cost : 1.0;
    dst->nodecost = src->nodecost ? json_incref(src->nodecost) : NULL;
    dst->allowedpeers = src->allowedpeers ? json_incref(src->allowedpeers) : NULL;
    dst->dialed = src->dialed;
}

static void conn_free(struct conn *c)
{
    json_decref(c->policy.nodecost);
    json_decref(c->policy.allowedpeers);
    free(c->peer);
    free(c->initial_msg);
    free(c->duplicate_of);
    free(c);
}

static void conn_unlink(struct conn *c)
{
    struct node *n = c->node;
    struct conn **pp = &n->conns;
    holdback_forget(n, c);
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    if (c->established) {
        lsdb_del_edge(&n->lsdb, c->peer, n->id);
        lsdb_del_edge(&n->lsdb, n->id, c->peer);
        log_info("Connection to %s closed (%s)", c->peer, c->link->desc);
        resume_note_lost(n, c, util_mono_ns());
        node_schedule_flood(n);
        node_schedule_routes(n);
    }
}

static void establish(struct conn *c, const char *peer);

/* A link waiting for the one that ended (establish) takes its place. */
static void establish_waiting(struct node *n, const char *peer)
{
    for (struct conn *c = n->conns; c; c = c->next)
        if (!c->established && c->duplicate_of && c->link->on_message && strcmp(c->duplicate_of, peer) == 0) {
            char *id = c->duplicate_of;
            c->duplicate_of = NULL;
            establish(c, id);
            free(id);
            return;
        }
}

static void on_link_close(struct link *l)
{
    struct conn *c = l->owner;
    if (!c)
        return;
    conn_unlink(c);
    if (c->established && !c->node->freeing)
        establish_waiting(c->node, c->peer);
    conn_free(c);
}

void node_drop_conn(struct conn *c, const char *why, int reject)
{
    if (why)
        log_warning("%s%s%s: %s", c->link->desc, c->peer ? " " : "", c->peer ? c->peer : "", why);
    if (reject)
        conn_send(c, msg_reject, sizeof msg_reject, NULL, 0);
    c->link->on_message = NULL;
    c->link->on_drain = NULL;
    link_close(c->link);
}

static int peer_allowed(const struct conn *c, const char *peer)
{
    json_t *ap = c->policy.allowedpeers;
    if (!ap || json_array_size(ap) == 0)
        return 1;
    size_t i;
    json_t *v;
    json_array_foreach(ap, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), peer) == 0)
            return 1;
    return 0;
}

/* The first send is a fresh update, as upstream's; the resends repeat its
 * bytes (same UpdateID).  A peer that reads them late (a busy hop reads
 * the whole queue at once) establishes on the first and floods the next
 * once, then drops the rest as seen; fresh resends made it flood every one
 * of them through the mesh (11 floods per new link instead of one). */
static void send_initial_update(struct conn *c)
{
    if (!c->initial_msg) {
        struct buf b;
        buf_init(&b, LINK_MAX_MESSAGE);
        if (flood_make_update(c->node, 0, &b) == 0 && (c->initial_msg = malloc(buf_size(&b))) != NULL) {
            memcpy(c->initial_msg, buf_head(&b), buf_size(&b));
            c->initial_len = buf_size(&b);
        }
        buf_free(&b);
    }
    if (c->initial_msg && conn_send(c, c->initial_msg, c->initial_len, NULL, 0) == 0)
        c->node->counters.route_updates_sent++;
    c->initial_sends++;
}

/* The peer's first routing update names it (ForwardingNode): checks, then
 * the link is up.  A new link named after a node we still hold a link to
 * waits for that link to end (DUPLICATE_WAIT_S): a peer that redials after
 * timing out a busy node reaches it before that node has read the old
 * link to its end (at 1000 nodes, megabytes of queued floods), and an
 * immediate reject made it redial again and again. */
static void establish(struct conn *c, const char *peer)
{
    struct node *n = c->node;
    if (!peer[0]) {
        log_warning("Rejected connection from %s: routing update without a node ID", c->link->desc);
        node_drop_conn(c, NULL, 1);
        return;
    }
    if (strcmp(peer, n->id) == 0) {
        log_warning("Rejected connection from %s because it tried to connect using our own node ID",
                    c->link->desc);
        node_drop_conn(c, NULL, 1);
        return;
    }
    if (!peer_allowed(c, peer)) {
        log_warning("Rejected connection from %s: node %s is not in allowedpeers", c->link->desc, peer);
        node_drop_conn(c, NULL, 1);
        return;
    }
    double cost = c->policy.cost;
    json_t *nc = c->policy.nodecost ? json_object_get(c->policy.nodecost, peer) : NULL;
    if (json_is_number(nc))
        cost = json_number_value(nc);
    if (node_find_conn(n, peer)) {
        /* wait for the old link to end (handshake_tick rejects later) */
        if (!c->duplicate_of) {
            log_debug("%s names %s, which we hold a link to: waiting up to %d s for that link to end",
                      c->link->desc, peer, DUPLICATE_WAIT_S);
            c->duplicate_of = strdup(peer);
        }
        return;
    }
    c->peer = strdup(peer);
    if (!c->peer) {
        node_drop_conn(c, "out of memory", 0);
        return;
    }
    c->established = 1;
    c->established_at = util_mono_ns();
    c->cost = cost;
    free(c->duplicate_of);
    c->duplicate_of = NULL;
    free(c->initial_msg); /* the initial phase is over */
    c->initial_msg = NULL;
    names_add(&n->names, peer);
    if (lsdb_set_edge(&n->lsdb, n->id, peer, cost) < 0 || lsdb_set_edge(&n->lsdb, peer, n->id, cost) < 0) {
        node_drop_conn(c, "out of memory", 0);
        return;
    }
    log_info("Connection established with %s (%s)", peer, c->link->desc);
    /* A node that has not flooded its update yet does so now: the table
     * its new peer sends makes it able to answer other nodes at once, and
     * its update (its epoch) must reach them before its answers do (a
     * dialer that learns a new epoch after the handshake takes the node
     * for restarted and drops the stream). */
    if (!n->last_update)
        flood_send_update(n, 0);
    else
        node_schedule_flood_added(n);
    node_schedule_routes(n);
    advert_send_own(n, c);
    advert_send_known(n, c);
    flood_send_known(n, c, resume_since(n, peer, c->peer_epoch));
}

/* Established-phase checks of spec 2.7 on a routing update; 0 to go on. */
static int check_established_update(struct conn *c, const struct msg_route *r)
{
    if (strcmp(r->forwarding_node, c->peer) != 0) {
        node_drop_conn(c, "remote node ID changed unexpectedly", 1);
        return -1;
    }
    if (strcmp(r->node_id, c->peer) != 0)
        return 0;
    json_t *us = json_object_get(r->connections, c->node->id);
    if (!us) {
        if (c->remote_established) {
            node_drop_conn(c, "remote node no longer lists us as a connection", 1);
            return -1;
        }
        return 1; /* a late initial message: ignore */
    }
    c->remote_established = 1;
    if (json_number_value(us) != c->cost) {
        node_drop_conn(c, "we disagree about the connection cost", 1);
        return -1;
    }
    return 0;
}

/* Most routing updates a node of a large mesh receives are copies it has
 * already seen (one per link the flood crosses) or keep-alives: those are
 * recognised by their UpdateID, read without decoding the whole update.
 * Only the plain form Go and we write is read here ("UpdateID":"<id>" once,
 * no escapes); anything else takes the full decoder. */
static int seen_before_decoding(struct conn *c, const uint8_t *json, size_t len)
{
    static const char key[] = "\"UpdateID\":\"";
    const size_t klen = sizeof key - 1;
    const uint8_t *p = memmem(json, len, key, klen);
    if (!c->established || !p)
        return 0;
    const uint8_t *id = p + klen, *end = json + len;
    if (memmem(id, (size_t)(end - id), key, klen))
        return 0;
    const uint8_t *q = memchr(id, '"', (size_t)(end - id));
    if (!q || q == id || q - id > MSG_UPDATE_ID_MAX || memchr(id, '\\', (size_t)(q - id)))
        return 0;
    char buf[MSG_UPDATE_ID_MAX + 1];
    memcpy(buf, id, (size_t)(q - id));
    buf[q - id] = '\0';
    if (!seen_has(&c->node->seen, buf, (size_t)(q - id)))
        return 0;
    holdback_cancel(c->node, c, buf);
    return 1;
}

static void on_route_message(struct conn *c, const uint8_t *json, size_t len)
{
    c->node->counters.route_updates_received++;
    /* a copy already seen costs no more than reading it: only updates that
     * need decoding count against the link's limit (in a large mesh most
     * of what a link carries is copies of floods that came another way) */
    if (seen_before_decoding(c, json, len)) {
        c->node->counters.route_updates_dropped[NODE_DROP_DUPLICATE]++;
        return;
    }
    if (!conn_allow_control_message(c)) {
        c->node->counters.route_updates_dropped[NODE_DROP_RATE_LIMIT]++;
        return;
    }
    struct msg_route r;
    char err[160];
    if (msg_route_decode(json, len, &r, err, sizeof err) < 0) {
        c->node->counters.route_updates_dropped[NODE_DROP_INVALID]++;
        log_warning("%s%s%s: bad routing update: %s", c->link->desc, c->peer ? " " : "",
                    c->peer ? c->peer : "", err);
        return;
    }
    if (!c->established) {
        if (strcmp(r.node_id, r.forwarding_node) == 0)
            c->peer_epoch = r.epoch;
        establish(c, r.forwarding_node);
        msg_route_free(&r);
        return;
    }
    if (check_established_update(c, &r) == 0)
        flood_handle_update(c, &r, json, len);
    msg_route_free(&r);
}

static void on_link_message(struct link *l, const uint8_t *msg, size_t len)
{
    struct conn *c = l->owner;
    c->last_recv = util_mono_ns();
    c->frames_in++;
    c->bytes_in += len;
    switch (msg[0]) {
    case MSG_ROUTE:
        on_route_message(c, msg + 1, len - 1);
        break;
    case MSG_REJECT:
        log_warning("%s%s%s: peer rejected the connection", c->link->desc, c->peer ? " " : "",
                    c->peer ? c->peer : "");
        node_drop_conn(c, NULL, 0);
        break;
    case MSG_DATA:
        if (c->established)
            datagram_handle(c, msg, len);
        break;
    case MSG_SERVICE_AD:
        if (c->established)
            advert_handle(c, msg, len);
        break;
    default:
        log_warning("%s%s%s: unknown message type %u", c->link->desc, c->peer ? " " : "",
                    c->peer ? c->peer : "", msg[0]);
    }
}

/* The link took everything queued: the table it is being sent goes on. */
static void on_link_drain(struct link *l)
{
    struct conn *c = l->owner;
    if (c && l->on_message)
        flood_pump_known(c->node, c);
}

void node_adopt_link(struct node *n, struct link *l, const struct link_policy *policy)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c || n->freeing) {
        free(c);
        link_close(l);
        return;
    }
    c->node = n;
    c->link = l;
    policy_copy(&c->policy, policy);
    c->last_recv = c->tokens_at = util_mono_ns();
    c->tokens = RATE_BURST + RATE_SYNC_ALLOWANCE;
    c->next = n->conns;
    n->conns = c;
    l->owner = c;
    l->on_message = on_link_message;
    l->on_close = on_link_close;
    l->on_drain = on_link_drain;
    log_debug("New session %s", l->desc);
    send_initial_update(c);
}

/* ---- the tick ----------------------------------------------------------- */

/* A link in its initial phase: our update again every second, 11 times as
 * upstream, then give up.  A link this node dialed waits longer for a peer
 * that is alive but busy (a hop of a large mesh that starts up can take
 * more than 11 s to answer a new link): it resends every 5 s up to
 * INITIAL_WAIT_DIALED_S.  Giving up there only made the peer, once it got
 * to the link, send its whole table into a closed connection while the
 * redial was refused as "already connected".  Links others opened keep
 * upstream's 11 s, so strangers cannot hold half-open sessions longer. */
static void handshake_tick(struct conn *c)
{
    c->initial_ticks++;
    if (c->duplicate_of && ++c->duplicate_ticks > DUPLICATE_WAIT_S) {
        log_warning("Rejected connection from %s because it connected using a node ID we are already connected to (%s)",
                    c->link->desc, c->duplicate_of);
        node_drop_conn(c, NULL, 1);
        return;
    }
    if (c->initial_sends < INITIAL_SENDS_MAX) {
        send_initial_update(c);
        return;
    }
    if (!c->policy.dialed || c->initial_ticks >= INITIAL_WAIT_DIALED_S) {
        node_drop_conn(c, "no routing update received, giving up", 0);
        return;
    }
    if (c->initial_ticks % INITIAL_RESEND_DIALED_S == 0)
        send_initial_update(c);
}

static void tick_connections(struct node *n, int64_t now)
{
    struct conn *c = n->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (!c->link->on_message)
            continue; /* already closing */
        if (!c->established) {
            handshake_tick(c);
        } else if (now - c->last_recv > n->max_idle_ns) {
            node_drop_conn(c, "connection timed out (nothing received)", 0);
        } else if (c->table_active) {
            flood_pump_known(n, c); /* in case a drain went unseen */
        }
    }
}

/* Routing traffic frees buffers all over the heap (a hop relaying a burst
 * of updates to a hundred links holds megabytes for a moment), and glibc
 * gives freed memory back only from the top of the heap: the holes stay
 * resident, counted in the process's memory, until the heap is trimmed.
 * A tick trims when the heap holds TRIM_FREE_MIN free bytes and routing
 * messages came or went since the last trim: TRIM_EVERY_MESSAGES of them
 * (once a second while a mesh converges), or any at our keep-alive (every
 * 7.5-10 s in a steady mesh).  An idle node does not trim. */
static void trim_heap(struct node *n, int at_keepalive)
{
    uint64_t now = n->counters.route_updates_received + n->counters.route_updates_sent;
    uint64_t moved = now - n->trim_mark;
    if (moved < TRIM_EVERY_MESSAGES && !(at_keepalive && moved > 0))
        return;
    n->trim_mark = now;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks >= TRIM_FREE_MIN)
        malloc_trim(0);
}

/* A tick that comes long after the last one means the process did not run
 * (a starved machine, SIGSTOP): its sockets may hold what the peers sent
 * meanwhile, and libuv runs timers before it reads them.  Links are judged
 * on the next tick, once they have been read; otherwise every link looks
 * idle after a stall and is dropped with its data unread. */
static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = util_mono_ns();
    int stalled = now - n->last_tick > TICK_STALL_NS;
    n->last_tick = now;
    if (!stalled)
        tick_connections(n, now);
    int keepalive = now >= n->next_update && n->conns;
    trim_heap(n, keepalive);
    if (keepalive)
        flood_send_keepalive(n);
    if (n->ads_due || now - n->ads_at >= node_scaled_interval(n, AD_INTERVAL_NS)) {
        n->ads_due = 0;
        n->ads_at = now;
        advert_send_own(n, NULL);
    }
    if (now >= n->next_seen_scan) {
        n->next_seen_scan = now + SEEN_EXPIRY_NS / 2;
        flood_expire_seen(n, now);
        resume_expire(n, now);
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

struct node *node_new(uv_loop_t *loop, const struct node_config *cfg, char *err, size_t errlen)
{
    if (strlen(cfg->id) > MSG_NODE_ID_MAX) {
        snprintf(err, errlen, "node ID is %zu bytes long (limit %d: peers refuse longer ones)",
                 strlen(cfg->id), MSG_NODE_ID_MAX);
        return NULL;
    }
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->loop = loop;
    n->id = strdup(cfg->id);
    if (firewall_load(&n->fw, cfg->firewallrules, err, errlen) < 0) {
        free(n->id);
        free(n);
        return NULL;
    }
    n->max_idle_ns = cfg->max_idle_ns > 0 ? cfg->max_idle_ns : DEFAULT_IDLE_NS;
    /* seconds << 24 as upstream, but the low 24 bits are the fraction of
     * the second (64 ns steps) instead of random bits: a node restarted
     * within the same second then still has a newer epoch, where
     * upstream's random bits make it older half of the time and the mesh
     * ignores the restarted node. */
    int64_t wall = util_now_ns();
    n->epoch = ((uint64_t)(wall / 1000000000) << 24) | (((uint64_t)(wall % 1000000000) >> 6) & 0xffffff);
    names_init(&n->names);
    n->id_hash = names_add(&n->names, n->id);
    lsdb_init(&n->lsdb);
    lsdb_set_row(&n->lsdb, n->id, NULL); /* ours, empty until a link comes up */
    origins_init(&n->origins);
    n->departed = json_object();
    seen_init(&n->seen);
    n->routes = json_object();
    n->ping_rtt = json_object();
    int64_t now = util_mono_ns();
    n->next_update = now + ROUTE_INTERVAL_NS;
    n->ads_at = now;
    n->next_seen_scan = now + SEEN_EXPIRY_NS / 2;
    uv_timer_init(loop, &n->tick);
    uv_timer_init(loop, &n->flood_timer);
    uv_timer_init(loop, &n->route_timer);
    n->tick.data = n->flood_timer.data = n->route_timer.data = n;
    n->handles = 4;
    holdback_init(n);
    n->last_tick = util_mono_ns();
    uv_timer_start(&n->tick, on_tick, 1000, 1000);
    return n;
}

const char *node_id(const struct node *n) { return n->id; }
uv_loop_t *node_loop(const struct node *n) { return n->loop; }

void node_on_shutdown(struct node *n, void (*cb)(void *arg, const char *why), void *arg)
{
    n->shutdown_cb = cb;
    n->shutdown_arg = arg;
}

struct node_observer *node_observe_restarts(struct node *n,
                                            void (*cb)(void *arg, const char *node, uint64_t epoch),
                                            void *arg)
{
    struct node_observer *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->cb = cb;
    o->arg = arg;
    o->next = n->observers;
    n->observers = o;
    return o;
}

void node_unobserve(struct node *n, struct node_observer *o)
{
    struct node_observer **pp = &n->observers;
    while (*pp && *pp != o)
        pp = &(*pp)->next;
    if (*pp)
        *pp = o->next;
    free(o);
}

void node_notify_restart(struct node *n, const char *node, uint64_t epoch)
{
    log_info("Node %s restarted (new epoch)", node);
    struct node_observer *o = n->observers, *next;
    for (; o; o = next) {
        next = o->next; /* an observer may remove itself */
        o->cb(o->arg, node, epoch);
    }
}

uint64_t node_known_epoch(struct node *n, const char *node)
{
    const struct origin *o = origins_get(&n->origins, node);
    return o ? o->epoch : 0;
}

void node_notify_shutdown(struct node *n)
{
    struct node_observer *o = n->observers, *next;
    for (; o; o = next) {
        next = o->next;
        o->cb(o->arg, NULL, 0);
    }
}

void node_set_work_commands(struct node *n, json_t *work_commands)
{
    json_decref(n->work_commands);
    n->work_commands = work_commands ? json_incref(work_commands) : NULL;
    n->ads_due = 1;
}

static void node_release(uv_handle_t *h)
{
    struct node *n = h->data;
    if (--n->handles > 0)
        return;
    names_free(&n->names);
    firewall_free(&n->fw);
    lsdb_free(&n->lsdb);
    origins_free(&n->origins);
    json_decref(n->departed);
    free(n->last_update);
    seen_free(&n->seen);
    json_decref(n->routes);
    json_decref(n->ping_rtt);
    json_decref(n->work_commands);
    free(n->id);
    free(n);
}

void node_free(struct node *n)
{
    n->freeing = 1;
    struct conn *c = n->conns, *next;
    for (; c; c = next) {
        next = c->next;
        c->link->owner = NULL;
        c->link->on_message = NULL;
        c->link->on_drain = NULL;
        link_close(c->link);
        conn_free(c);
    }
    n->conns = NULL;
    /* whatever still holds services of ours (streams lingering after
     * their owners left) lets go now: node NULL means "this node stops" */
    node_notify_shutdown(n);
    ping_free_all(n);
    while (n->services)
        node_unlisten(n, n->services);
    advert_free_all(n);
    while (n->observers)
        node_unobserve(n, n->observers);
    uv_close((uv_handle_t *)&n->tick, node_release);
    uv_close((uv_handle_t *)&n->flood_timer, node_release);
    uv_close((uv_handle_t *)&n->route_timer, node_release);
    holdback_close(n, node_release);
}

/* ---- metrics ------------------------------------------------------------ */

const char *node_drop_reason_name(enum node_drop_reason r)
{
    static const char *const names[NODE_DROP_COUNT] = {
        "rate_limit", "duplicate", "stale", "table_full", "invalid",
    };
    return (unsigned)r < NODE_DROP_COUNT ? names[r] : "unknown";
}

const struct node_counters *node_counters(const struct node *n) { return &n->counters; }

void node_foreach_peer(struct node *n, void (*cb)(void *arg, const struct node_peer_stats *st),
                       void *arg)
{
    for (struct conn *c = n->conns; c; c = c->next) {
        struct node_peer_stats st = {
            .peer = c->established ? c->peer : NULL, .desc = c->link->desc, .cost = c->cost,
            .bytes_in = c->bytes_in, .bytes_out = c->bytes_out,
            .frames_in = c->frames_in, .frames_out = c->frames_out,
        };
        cb(arg, &st);
    }
}

size_t node_known_count(const struct node *n) { return lsdb_rows(&n->lsdb); }

json_t *node_ping_rtts(const struct node *n) { return n->ping_rtt; }
