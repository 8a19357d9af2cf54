/* tcp.h - the TCP backend (spec 2.2): listeners and redialing dialers that
 * produce framed links. */
#ifndef NET_TCP_H
#define NET_TCP_H

#include <uv.h>

#include "net/link.h"

struct tcp_listener;
struct tcp_dialer;

/* Binds bindaddr:port and calls cb for every accepted session.  NULL with a
 * message in err on failure. */
struct tcp_listener *tcp_listener_start(uv_loop_t *loop, const char *bindaddr, int port,
                                        link_new_cb cb, void *arg, char *err, size_t errlen);
/* Stops listening and closes every link it accepted. */
void tcp_listener_stop(struct tcp_listener *l);

/* Dials host:port now and, with redial, again after each failure or session
 * end with upstream's back-off (5 s, x1.5 per failure, at most 20 s). */
struct tcp_dialer *tcp_dialer_start(uv_loop_t *loop, const char *address, int redial,
                                    link_new_cb cb, void *arg, char *err, size_t errlen);
void tcp_dialer_stop(struct tcp_dialer *d);

/* Splits "host:port" ("[v6]:port" too); 0 on success. */
int tcp_split_address(const char *address, char *host, size_t hostlen, char *port, size_t portlen);

#endif
