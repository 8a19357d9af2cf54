/* ws.h - the WebSocket backend (spec 2.4): ws-listener / ws-peer.
 *
 * RFC 6455 over HTTP/1.1, framing by wslay, one mesh message per binary
 * message, no subprotocol, no extensions.  Everything runs over the bstream
 * interface (core/bstream.h), so wss:// is the TLS filter (net/tls.h)
 * underneath and the HTTP and WebSocket code does not change.  The HTTP handshake parsing lives
 * in ws_http.c (pure functions, unit-tested and fuzzed). */
#ifndef NET_WS_H
#define NET_WS_H

#include <uv.h>

#include "net/link.h"
#include "net/tlsconf.h"

#define WS_MAX_MESSAGE 65535            /* larger frames/messages close the session */
#define WS_HEADER_TIMEOUT_MS 5000       /* listener: whole request head within 5 s */
#define WS_RESPONSE_TIMEOUT_MS 30000    /* dialer: our own bound; upstream has none */
#define WS_MAX_HANDSHAKES 128           /* listener: sessions still in HTTP */
#define WS_MAX_SESSIONS 1024            /* listener: all sessions */
#define WS_TLS_DIAL_TIMEOUT_MS 15000    /* dialer: connect + TLS handshake */

struct ws_listener;
struct ws_dialer;

struct ws_listener_config {
    const char *bindaddr;
    int port;
    const char *path;   /* Go ServeMux pattern: "/" all, "/x" exact, "/x/" subtree */
    struct tls_config *tls; /* a tls-server config (HTTPS), or NULL */
};

struct ws_dialer_config {
    const char *address;     /* ws://host[:port]/path or wss://... */
    int redial;
    const char *extraheader; /* "Name:Value" or NULL */
    struct tls_config *tls;  /* a tls-client config; required for wss:// */
};

struct ws_listener *ws_listener_start(uv_loop_t *loop, const struct ws_listener_config *cfg,
                                      link_new_cb cb, void *arg, char *err, size_t errlen);
/* Stops listening and closes every session it accepted. */
void ws_listener_stop(struct ws_listener *ls);

/* Checks the URL now; dials at once and again after each session end or
 * failure (5 s, x1.5 per failure, at most 20 s) while redial is set. */
struct ws_dialer *ws_dialer_start(uv_loop_t *loop, const struct ws_dialer_config *cfg,
                                  link_new_cb cb, void *arg, char *err, size_t errlen);
void ws_dialer_stop(struct ws_dialer *d);

/* A session over an already connected stream s (its callbacks are taken
 * over): server=1 first answers an HTTP upgrade request for the ServeMux
 * pattern path (which must outlive the handshake); server=0 starts with an
 * open client-side WebSocket, no handshake.  cb gets the link once it is
 * open.  Used by the fuzz target and by tests; 0, or -1 (s untouched). */
struct bstream;
int ws_session_start(uv_loop_t *loop, struct bstream *s, int server, const char *path,
                     link_new_cb cb, void *arg);

#endif
