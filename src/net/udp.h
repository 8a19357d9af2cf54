/* udp.h - the UDP backend (spec 2.3): one mesh message per datagram, no
 * framing.
 *
 * A listener binds one socket and keeps a bounded table of sessions keyed by
 * the remote address; each session is a link.  A dialer opens a connected
 * UDP socket to `address` per session and redials with upstream's back-off
 * (5 s, x1.5 per failure, at most 20 s) when a session ends or a dial fails. */
#ifndef NET_UDP_H
#define NET_UDP_H

#include <uv.h>

#include "net/link.h"

#define UDP_MAX_PAYLOAD 65507          /* larger sends fail: "data too large" */
#define UDP_RECV_BUFFER 65536
#define UDP_MAX_SESSIONS 1024          /* per listener; more sources are dropped */
#define UDP_LINK_BACKLOG (256u << 10)  /* bytes queued per session before sends drop */
#define UDP_LISTENER_BACKLOG (4u << 20) /* bytes queued on one listener socket */

struct udp_listener;
struct udp_dialer;

/* Binds bindaddr:port; cb runs for every new session (a new source address
 * whose first datagram is a routing update).  NULL with err on failure. */
struct udp_listener *udp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        link_new_cb cb, void *arg, char *err, size_t errlen);
/* Closes the socket and every session of the listener. */
void udp_listener_stop(struct udp_listener *ls);
/* Number of live sessions (tests, status). */
size_t udp_listener_sessions(const struct udp_listener *ls);

/* Checks "host:port" now; dials (resolves and connects) at once and again
 * after each session end or failure while redial is set. */
struct udp_dialer *udp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    link_new_cb cb, void *arg, char *err, size_t errlen);
void udp_dialer_stop(struct udp_dialer *d);

#endif
