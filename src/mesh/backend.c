/* backend.c - see backend.h. */
#include "mesh/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/tcp.h"

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
    switch (spec->kind) {
    case BACKEND_TCP_LISTENER:
        b->handle = tcp_listener_start(node_loop(n), spec->bindaddr, spec->port, on_new_link, b, err, errlen);
        break;
    case BACKEND_TCP_PEER:
        b->handle = tcp_dialer_start(node_loop(n), spec->address, spec->redial, on_new_link, b, err, errlen);
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
    case BACKEND_LOCAL_ONLY:
        break;
    }
    json_decref(b->policy.nodecost);
    json_decref(b->policy.allowedpeers);
    free(b->key);
    free(b);
}

const char *backend_key(const struct backend *b) { return b->key; }
