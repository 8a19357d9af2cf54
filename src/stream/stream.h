/* stream.h - byte streams over the mesh: QUIC (RFC 9000 v1, ngtcp2) carried
 * in netceptor data messages, one bidirectional stream per connection, as
 * upstream Receptor does (spec 6).
 *
 * A listener binds a mesh service and accepts QUIC connections from any
 * (node, service); a dialer binds a fresh ephemeral service per connection.
 * Each accepted or dialed connection is handed up as a struct bstream, so
 * the control service, connect, proxies and remote work use the same
 * interface as for unix sockets and TCP.  QUIC flow control windows bound
 * the memory of every stream: a reader that stops reading stops the sender
 * across every hop.
 *
 * TLS: without a configured TLS, listeners present a fresh self-signed
 * RSA-2048 certificate with CN "netceptor-insecure-common-name" and dialers
 * accept only a chain containing that CN (spec 6.3).  Named tls-server /
 * tls-client configurations plug in through struct stream_tls. */
#ifndef STREAM_STREAM_H
#define STREAM_STREAM_H

#include <jansson.h>

#include "core/bstream.h"
#include "core/gnutls_lib.h"
#include "mesh/node.h"

/* A TLS policy for one listener or dial.  NULL everywhere = insecure mode. */
struct stream_tls {
    /* Applies credentials and verification to a fresh session; peer_node is
     * the node ID the peer must prove (dialer: the target; listener: the
     * dialing node), or NULL.  0 or -1 with err. */
    int (*setup)(void *arg, gnutls_session_t session, int is_server, const char *peer_node,
                 char *err, size_t errlen);
    /* Optional: a handshake under this policy failed, for the metrics;
     * reason is an enum tls_fail_reason (net/tlsconf.h). */
    void (*failed)(void *arg, int reason);
    void *arg;
};

struct stream_listener;
typedef void (*stream_accept_cb)(void *arg, struct bstream *bs, const char *remote_node);

struct stream_listener *stream_listen(struct node *n, const char *service, int advertise,
                                      json_t *tags, const struct stream_tls *tls,
                                      stream_accept_cb cb, void *arg, char *err, size_t errlen);
void stream_listener_close(struct stream_listener *l);
/* For fuzzers and tests: hand the listener a datagram as if it came from
 * (node, service) over the mesh; drop every connection it has. */
void stream_listener_receive(struct stream_listener *l, const char *node, const char *service,
                             const uint8_t *data, size_t len);
void stream_listener_reset(struct stream_listener *l);

struct stream_dial;
/* cb gets the connected stream, or NULL and an error text. */
typedef void (*stream_dial_cb)(void *arg, struct bstream *bs, const char *err);
struct stream_dial *stream_dial(struct node *n, const char *node, const char *service,
                                const struct stream_tls *tls, stream_dial_cb cb, void *arg);
/* Abandons a dial before its callback ran. */
void stream_dial_cancel(struct stream_dial *d);

#endif
