/* backend.h - the running backends of a node (listeners and dialers of the
 * TCP, UDP and WebSocket backends, and local-only), each
 * keyed by the canonical text of the config item that made it, so that a
 * reload stops exactly the removed ones and starts exactly the new ones
 * while untouched links stay up (upstream restarts them all). */
#ifndef MESH_BACKEND_H
#define MESH_BACKEND_H

#include "mesh/node.h"

enum backend_kind {
    BACKEND_TCP_LISTENER,
    BACKEND_TCP_PEER,
    BACKEND_UDP_LISTENER,
    BACKEND_UDP_PEER,
    BACKEND_WS_LISTENER,
    BACKEND_WS_PEER,
    BACKEND_LOCAL_ONLY,
};

struct backend_spec {
    enum backend_kind kind;
    const char *key;        /* canonical config text */
    const char *bindaddr;   /* listeners */
    int port;
    const char *address;    /* peers: host:port, or a ws:// / wss:// URL */
    int redial;
    const char *path;       /* ws-listener: ServeMux pattern */
    const char *extraheader; /* ws-peer: "Name:Value" or NULL */
    const char *tls;        /* name of a tls-server / tls-client config, or NULL */
    struct tls_config *tls_config; /* `tls` resolved by the daemon (net/tlsconf.h), or NULL */
    struct link_policy policy;
};

struct backend;

struct backend *backend_start(struct node *n, const struct backend_spec *spec, char *err, size_t errlen);
void backend_stop(struct backend *b);
const char *backend_key(const struct backend *b);

#endif
