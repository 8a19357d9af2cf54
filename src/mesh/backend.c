/* backend.c - see backend.h.  A backend is a handle from one of the net/
 * backends (tcp, udp, ws) plus the admission policy its links carry into
 * the node; every backend hands its new links to node_adopt_link(). */
#include "mesh/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tcp.h"
#include "net/udp.h"
#include "net/ws.h"

struct backend {
    struct node *node;
    enum backend_kind kind;
    char *key;
    struct link_policy policy;
    void *handle;
};

static void on_new_link(void *arg, struct link *l)
{
    struct backend *b = arg;
    node_adopt_link(b->node, l, &b->policy);
}

static void *start_ws_listener(struct node *n, const struct backend_spec *spec, struct backend *b,
                               char *err, size_t errlen)
{
    struct ws_listener_config c = { spec->bindaddr, spec->port, spec->path, spec->tls_config };
    return ws_listener_start(node_loop(n), &c, on_new_link, b, err, errlen);
}

static void *start_ws_peer(struct node *n, const struct backend_spec *spec, struct backend *b,
                           char *err, size_t errlen)
{
    struct ws_dialer_config c = { spec->address, spec->redial, spec->extraheader, spec->tls_config };
    return ws_dialer_start(node_loop(n), &c, on_new_link, b, err, errlen);
}

struct backend *backend_start(struct node *n, const struct backend_spec *spec, char *err, size_t errlen)
{
    struct backend *b = calloc(1, sizeof *b);
    if (!b || !(b->key = strdup(spec->key))) {
        free(b);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->node = n;
    b->kind = spec->kind;
    b->policy.cost = spec->policy.cost;
    b->policy.nodecost = spec->policy.nodecost ? json_incref(spec->policy.nodecost) : NULL;
    b->policy.allowedpeers = spec->policy.allowedpeers ? json_incref(spec->policy.allowedpeers) : NULL;
    b->policy.dialed = spec->kind == BACKEND_TCP_PEER || spec->kind == BACKEND_UDP_PEER ||
                       spec->kind == BACKEND_WS_PEER;
    switch (spec->kind) {
    case BACKEND_TCP_LISTENER:
        b->handle = tcp_listener_start(node_loop(n), spec->bindaddr, spec->port, spec->tls_config,
                                       on_new_link, b, err, errlen);
        break;
    case BACKEND_TCP_PEER:
        b->handle = tcp_dialer_start(node_loop(n), spec->address, spec->redial, spec->tls_config,
                                     on_new_link, b, err, errlen);
        break;
    case BACKEND_UDP_LISTENER:
        b->handle = udp_listener_start(node_loop(n), spec->bindaddr, spec->port, on_new_link, b, err, errlen);
        break;
    case BACKEND_UDP_PEER:
        b->handle = udp_dialer_start(node_loop(n), spec->address, spec->redial, on_new_link, b, err, errlen);
        break;
    case BACKEND_WS_LISTENER:
        b->handle = start_ws_listener(n, spec, b, err, errlen);
        break;
    case BACKEND_WS_PEER:
        b->handle = start_ws_peer(n, spec, b, err, errlen);
        break;
    case BACKEND_LOCAL_ONLY:
        b->handle = b;
        break;
    }
    if (!b->handle) {
        b->kind = BACKEND_LOCAL_ONLY;
        backend_stop(b);
        return NULL;
    }
    return b;
}

void backend_stop(struct backend *b)
{
    switch (b->kind) {
    case BACKEND_TCP_LISTENER:
        tcp_listener_stop(b->handle);
        break;
    case BACKEND_TCP_PEER:
        tcp_dialer_stop(b->handle);
        break;
    case BACKEND_UDP_LISTENER:
        udp_listener_stop(b->handle);
        break;
    case BACKEND_UDP_PEER:
        udp_dialer_stop(b->handle);
        break;
    case BACKEND_WS_LISTENER:
        ws_listener_stop(b->handle);
        break;
    case BACKEND_WS_PEER:
        ws_dialer_stop(b->handle);
        break;
    case BACKEND_LOCAL_ONLY:
        break;
    }
    json_decref(b->policy.nodecost);
    json_decref(b->policy.allowedpeers);
    free(b->key);
    free(b);
}

const char *backend_key(const struct backend *b) { return b->key; }
