/* ping.c - the reserved `ping` service and the ping client (spec 5.1).
 *
 * A ping opens an ephemeral service, sends an empty datagram to
 * (target, "ping") with the requested hops-to-live and finishes on the first
 * of: a reply, an unreachable notice (its Problem is the error, its sender
 * the "From"), a local send error, or 10 s.  The callback runs from the
 * event loop, never from inside node_ping(). */
#include "mesh/node_internal.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

#define PING_TIMEOUT_MS 10000

void ping_handle_request(struct node *n, const struct msg_data *md, const char *from)
{
    const char *err;
    node_send(n, "ping", from, md->from_service, NULL, 0, NODE_HOPS_DEFAULT, &err);
}

static void ping_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_timer(uv_timer_t *t);

static void ping_finish(struct node_ping *p, const char *from, const char *err)
{
    if (p->done)
        return;
    if (p->starting) {
        /* a ping to ourselves answers inside node_ping(): report it from the
         * loop, so the caller never gets a callback before node_ping returns */
        if (!p->have_result) {
            p->have_result = 1;
            snprintf(p->result_from, sizeof p->result_from, "%s", from ? from : "");
            snprintf(p->result_err, sizeof p->result_err, "%s", err ? err : "");
        }
        return;
    }
    p->done = 1;
    int64_t elapsed = util_mono_ns() - p->start;
    struct node *n = p->node;
    struct node_ping **pp = &n->pings;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    if (p->svc)
        node_unlisten(n, p->svc);
    p->svc = NULL;
    uv_timer_stop(&p->timer);
    if (!err && from && from[0] && (json_object_get(n->ping_rtt, from) ||
                                    json_object_size(n->ping_rtt) < NODE_MAX_KNOWN))
        json_object_set_new(n->ping_rtt, from, json_real((double)elapsed / 1e9));
    if (p->cb)
        p->cb(p->arg, from, elapsed, err);
    uv_close((uv_handle_t *)&p->timer, ping_closed);
}

static void on_reply(void *arg, const char *from_node, const char *from_service,
                     const uint8_t *data, size_t len)
{
    (void)from_service;
    (void)data;
    (void)len;
    ping_finish(arg, from_node, NULL);
}

static void on_unreach(void *arg, const struct msg_unreach *u, const char *reporter)
{
    ping_finish(arg, reporter, u->problem);
}

static void on_timer(uv_timer_t *t)
{
    struct node_ping *p = t->data;
    if (p->have_result)
        ping_finish(p, p->result_from, p->result_err[0] ? p->result_err : NULL);
    else if (p->pending_err)
        ping_finish(p, p->node->id, p->pending_err);
    else
        ping_finish(p, p->node->id, "timeout");
}

struct node_ping *node_ping(struct node *n, const char *target, int hops, node_ping_cb cb, void *arg)
{
    struct node_ping *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    char err[128];
    p->node = n;
    p->cb = cb;
    p->arg = arg;
    uv_timer_init(n->loop, &p->timer);
    p->timer.data = p;
    p->next = n->pings;
    n->pings = p;
    p->svc = node_listen(n, NULL, 0, CONN_DATAGRAM, NULL, on_reply, on_unreach, p, err, sizeof err);
    p->start = util_mono_ns();
    p->starting = 1;
    const char *serr = NULL;
    if (!p->svc)
        serr = "cannot open a service";
    else if (node_send(n, node_service_name(p->svc), target, "ping", NULL, 0, hops, &serr) < 0 && !serr)
        serr = "send failed";
    p->starting = 0;
    if (p->have_result) {
        uv_timer_start(&p->timer, on_timer, 0, 0);
    } else if (serr) {
        p->pending_err = serr;
        uv_timer_start(&p->timer, on_timer, 0, 0);
    } else {
        uv_timer_start(&p->timer, on_timer, PING_TIMEOUT_MS, 0);
    }
    return p;
}

void node_ping_cancel(struct node_ping *p)
{
    p->cb = NULL;
    ping_finish(p, NULL, NULL);
}

void ping_free_all(struct node *n)
{
    while (n->pings)
        node_ping_cancel(n->pings);
}
