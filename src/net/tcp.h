/* tcp.h - the TCP backend (spec 2.2): listeners and redialing dialers that
 * produce framed links, optionally over TLS (tcp-listener / tcp-peer `tls`).
 *
 * Framing runs over a byte stream (core/bstream.h): the accepted or dialed
 * socket as a uvstream, or TLS wrapped around it (net/tls.h).  With TLS a
 * link is handed to the mesh only once the handshake has completed and the
 * peer passed verification; a dialer whose handshake fails backs off like a
 * failed dial and logs the reason ("Backend connection failed (will retry):
 * dial tcp host:port: tls host:port: x509: certificate signed by unknown
 * authority").  A TLS dial (connect + handshake) must finish within 15 s. */
#ifndef NET_TCP_H
#define NET_TCP_H

#include <uv.h>

#include "net/link.h"
#include "net/tlsconf.h"

struct tcp_listener;
struct tcp_dialer;

/* Binds bindaddr:port and calls cb for every accepted session.  tls: a
 * tls-server config, or NULL for plain TCP.  NULL with a message in err on
 * failure. */
struct tcp_listener *tcp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        struct tls_config *tls, link_new_cb cb, void *arg,
                                        char *err, size_t errlen);
/* Stops listening and closes every link it accepted. */
void tcp_listener_stop(struct tcp_listener *l);

/* Dials host:port now and, with redial, again after each failure or session
 * end with upstream's back-off (5 s, x1.5 per failure, at most 20 s).  tls:
 * a tls-client config (the server must be valid for host), or NULL. */
struct tcp_dialer *tcp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    struct tls_config *tls, link_new_cb cb, void *arg,
                                    char *err, size_t errlen);
void tcp_dialer_stop(struct tcp_dialer *d);

/* Splits "host:port" ("[v6]:port" too); 0 on success. */
int tcp_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen);

#endif
