/* ws_http.h - the HTTP/1.1 side of the WebSocket backend, as pure functions:
 * bytes in, a verdict or a request out.  No I/O and no allocation beyond
 * GnuTLS' base64 helpers, so every function is unit-tested and fuzzed.
 *
 * Server: ws_http_serve() takes one complete request head and answers it as
 * upstream's Go listener would (net/http ServeMux pattern rules, then
 * gorilla/websocket's Upgrader checks in gorilla's order): 101 with
 * Sec-WebSocket-Accept, or 301/400/403/404/405/505 with a short body.
 * Client: ws_url_parse(), ws_http_request() and ws_http_check_response()
 * (gorilla's Dialer checks).  Proxies: a CONNECT request and its answer. */
#ifndef NET_WS_HTTP_H
#define NET_WS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define WS_HTTP_HEAD_MAX 8192     /* request or response head, bytes */
#define WS_HTTP_MAX_HEADERS 100   /* header lines per head */
#define WS_KEY_LEN 24             /* base64 of 16 bytes */
#define WS_ACCEPT_LEN 28          /* base64 of a SHA-1 */

struct ws_http_field {
    char *name;
    char *value;
};

/* A head split in place: the first line and the header fields. */
struct ws_http_head {
    char *line;
    size_t n;
    struct ws_http_field f[WS_HTTP_MAX_HEADERS];
};

/* Length of the head through its empty line ("\r\n\r\n", or bare "\n" line
 * ends as Go tolerates), or 0 while it is not complete. */
size_t ws_http_head_len(const uint8_t *buf, size_t len);

/* Splits a NUL-terminated head in place.  0, or -1 with why on a malformed
 * line or too many fields. */
int ws_http_parse(char *text, struct ws_http_head *h, const char **why);
/* First value of a field (case-insensitive name), or NULL. */
const char *ws_http_get(const struct ws_http_head *h, const char *name);
size_t ws_http_count(const struct ws_http_head *h, const char *name);
/* 1 when any value of the field holds token in its comma-separated list
 * (case-insensitive), as gorilla's tokenListContainsValue. */
int ws_http_has_token(const struct ws_http_head *h, const char *name, const char *token);

/* Sec-WebSocket-Accept for a key; 0 or -1. */
int ws_http_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);
/* A fresh random Sec-WebSocket-Key; 0 or -1. */
int ws_http_new_key(char out[WS_KEY_LEN + 1]);

/* Go's path cleaning for ServeMux (path.Clean keeping a trailing slash). */
void ws_http_clean_path(const char *in, char *out, size_t outlen);
/* ServeMux with one pattern: 1 match, 0 no match (404), 2 redirect to
 * path + "/" (the pattern is the subtree of that path). */
int ws_http_path_match(const char *pattern, const char *path);

/* The server's answer to one request head. */
struct ws_http_verdict {
    int status;                    /* 101 = upgrade */
    char why[200];                 /* for the log when status != 101 */
    char response[WS_HTTP_HEAD_MAX + 512];
    size_t response_len;
};

void ws_http_serve(const uint8_t *head, size_t len, const char *pattern,
                   struct ws_http_verdict *v);
/* A plain error answer (used for 431 and timeouts). */
void ws_http_error(int status, const char *why, struct ws_http_verdict *v);

/* ws:// or wss:// URL as gorilla's Dialer reads it. */
struct ws_url {
    int tls;                /* wss */
    char host[256];         /* without brackets */
    char port[8];           /* explicit or 80 / 443 */
    char hostport[300];     /* as written in the URL: the Host header */
    char target[2048];      /* request-target: path and query, "/" when empty */
    char auth[448];         /* "Basic ..." from user:pass@, or "" */
};
int ws_url_parse(const char *url, struct ws_url *u, char *err, size_t errlen);

/* Checks an extraheader ("Name:Value") as the dialer will use it; 0 or -1
 * with err ("extra header must be in the form key:value", or a header the
 * handshake owns). */
int ws_http_check_extraheader(const char *extra, char *err, size_t errlen);
/* Writes the upgrade request; its length, or -1 when out is too small. */
int ws_http_request(const struct ws_url *u, const char *key, const char *extraheader,
                    char *out, size_t outlen);
/* Checks the server's answer to our upgrade: 0, or -1 with why. */
int ws_http_check_response(const uint8_t *head, size_t len, const char *key, char *why,
                           size_t whylen);

/* HTTP proxy: the CONNECT request for hostport (auth may be ""), and the
 * check of the proxy's answer (any 2xx). */
int ws_http_connect_request(const char *hostport, const char *auth, char *out, size_t outlen);
int ws_http_check_connect(const uint8_t *head, size_t len, char *why, size_t whylen);

#endif
