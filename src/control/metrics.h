/* metrics.h - the opt-in Prometheus / OpenMetrics text endpoint (`metrics`
 * config entry; upstream Receptor has none).
 *
 * A plain HTTP/1.1 listener on a libuv TCP socket answers GET /metrics
 * with the text exposition format (version 0.0.4), read fresh from the
 * node, its connections, the control service, the workceptor and the TLS
 * configs on every scrape: the counters live where they are counted
 * (struct node, struct conn, struct control, struct workceptor, struct
 * tls_config) and this file only reads them.  It sits in src/control
 * because it reads mesh and work state, like the control service.
 *
 * Hostile input: a request head is at most METRICS_HTTP_MAX_REQUEST bytes
 * (431 beyond), garbage gets 400, other paths 404, other methods 405; one
 * request per connection; a connection that has not sent a whole request
 * within METRICS_IDLE_MS is closed, and at most METRICS_MAX_CONNS are open
 * (more are closed at once). */
#ifndef CONTROL_METRICS_H
#define CONTROL_METRICS_H

#include <stddef.h>
#include <uv.h>

#include "core/buf.h"

#define METRICS_IDLE_MS 5000
#define METRICS_MAX_CONNS 64
/* The text's bound: a 4096-node mesh's RTT series (~400 KB) and a
 * thousand direct peers (~600 KB) fit; over it a scrape gets a 500. */
#define METRICS_MAX_BODY (4u << 20)

struct node;
struct control;
struct workceptor;
struct tlsconf;

struct metrics_sources {
    struct node *node;
    struct control *control;     /* may be NULL */
    struct workceptor *work;     /* may be NULL */
    const struct tlsconf *tls;   /* may be NULL */
};

struct metrics;

/* Listens on address:port; NULL with err on failure (bad address, port in
 * use). */
struct metrics *metrics_new(uv_loop_t *loop, const struct metrics_sources *src, const char *address,
                            int port, char *err, size_t errlen);
/* Closes the listener and every connection. */
void metrics_free(struct metrics *m);

/* Writes the exposition text (what GET /metrics answers); -1 if it would
 * pass out's limit. */
int metrics_render(const struct metrics_sources *src, struct buf *out);

#endif
