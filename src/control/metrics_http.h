/* metrics_http.h - the HTTP/1.x request parser of the metrics endpoint.
 *
 * Deliberately minimal: one request per connection, no bodies, no
 * keep-alive.  The parser only looks at the request line, waits for the
 * blank line that ends the head, and refuses anything over
 * METRICS_HTTP_MAX_REQUEST bytes.  No I/O and no allocation, so it is
 * fuzzed on its own (tests/fuzz/fuzz_metrics_http.c). */
#ifndef CONTROL_METRICS_HTTP_H
#define CONTROL_METRICS_HTTP_H

#include <stddef.h>

#define METRICS_HTTP_MAX_REQUEST 8192   /* request line + headers */

enum metrics_http_result {
    METRICS_HTTP_INCOMPLETE,   /* the head has not ended yet: read more */
    METRICS_HTTP_OK,           /* GET /metrics (any query string) */
    METRICS_HTTP_HEAD,         /* HEAD /metrics: headers only */
    METRICS_HTTP_NOT_FOUND,    /* another path: 404 */
    METRICS_HTTP_BAD_METHOD,   /* another method: 405 */
    METRICS_HTTP_BAD_REQUEST,  /* not HTTP/1.x, control bytes, malformed: 400 */
    METRICS_HTTP_TOO_LARGE,    /* head over METRICS_HTTP_MAX_REQUEST: 431 */
};

/* Parses the bytes received so far on a connection. */
enum metrics_http_result metrics_http_parse(const char *data, size_t len);
/* The status line text for a result ("404 Not Found"); NULL for OK/HEAD. */
const char *metrics_http_status(enum metrics_http_result r);

#endif
