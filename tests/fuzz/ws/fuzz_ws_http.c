/* Fuzzes the WebSocket handshake parsers: the listener's verdict on a
 * request head (under each kind of ServeMux pattern), the dialer's checks
 * of a response and of a proxy's CONNECT answer, URL parsing and path
 * cleaning.  Answers must be well-formed and bounded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws_http.h"

static const char *const patterns[] = { "/", "/ws", "/ws/", "/a/b/" };

static void check_verdict(const struct ws_http_verdict *v)
{
    if (v->response_len == 0 || v->response_len >= sizeof v->response)
        abort();
    if (memcmp(v->response, "HTTP/1.1 ", 9) != 0)
        abort();
    if (!memchr(v->response, '\n', v->response_len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *pattern = patterns[data[0] % 4];
    data++;
    size--;
    static struct ws_http_verdict v;
    size_t hl = ws_http_head_len(data, size);
    if (hl > size)
        abort();
    ws_http_serve(data, hl ? hl : size, pattern, &v);
    check_verdict(&v);
    if (v.status == 101 && !strstr(v.response, "\r\nSec-WebSocket-Accept: "))
        abort();
    char why[256];
    ws_http_check_response(data, size < WS_HTTP_HEAD_MAX ? size : WS_HTTP_HEAD_MAX,
                           "dGhlIHNhbXBsZSBub25jZQ==", why, sizeof why);
    ws_http_check_connect(data, size < WS_HTTP_HEAD_MAX ? size : WS_HTTP_HEAD_MAX, why, sizeof why);

    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct ws_url u;
    char err[256], req[4096], clean[512];
    if (ws_url_parse(text, &u, err, sizeof err) == 0) {
        if (ws_http_request(&u, "dGhlIHNhbXBsZSBub25jZQ==", "X-A: b", req, sizeof req) < 0 &&
            strlen(text) < 1000)
            abort();
    }
    ws_http_check_extraheader(text, err, sizeof err);
    ws_http_clean_path(text, clean, sizeof clean);
    if (clean[0] != '/')
        abort();
    free(text);
    return 0;
}
