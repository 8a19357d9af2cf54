/* proxy.h - tcp/udp/unix proxy services between local sockets and the mesh
 * (spec 13: tcp-server, tcp-client, udp-server, udp-client,
 * unix-socket-server, unix-socket-client). */
#ifndef STREAM_PROXY_H
#define STREAM_PROXY_H

#include "mesh/node.h"
#include "net/tlsconf.h"
#include "stream/stream.h"

enum proxy_kind {
    PROXY_TCP_SERVER, PROXY_TCP_CLIENT, PROXY_UDP_SERVER, PROXY_UDP_CLIENT,
    PROXY_UNIX_SERVER, PROXY_UNIX_CLIENT,
};

struct proxy_spec {
    enum proxy_kind kind;
    const char *bindaddr;       /* *-server: local listen address */
    int port;                   /* tcp-server, udp-server */
    const char *remotenode;     /* *-server: mesh target */
    const char *remoteservice;
    const char *service;        /* *-client: mesh service to offer */
    const char *address;        /* tcp-client, udp-client: host:port to reach */
    const char *filename;       /* unix-socket-*: socket path */
    int permissions;            /* unix-socket-server */
    const struct stream_tls *mesh_tls; /* tls for the mesh side, NULL = insecure */
    struct tls_config *local_tls;      /* tcp-server: tls-server for accepted TCP;
                                          tcp-client: tls-client for the outbound TCP */
};

struct proxy;
struct proxy *proxy_start(struct node *n, const struct proxy_spec *spec, char *err, size_t errlen);
void proxy_stop(struct proxy *p);

#endif
