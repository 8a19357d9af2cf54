/* metrics_http.c - see metrics_http.h.  The request line is
 * METHOD SP TARGET SP HTTP/1.x CRLF; bare LF is accepted as line end.
 * Header lines are not interpreted, only checked for control bytes, so a
 * client gets the metrics whatever it sends as Accept or Host. */
#include "control/metrics_http.h"

#include <string.h>

/* Offset just past the blank line that ends the head, or 0 if none yet. */
static size_t head_end(const char *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (d[i] != '\n')
            continue;
        if (i + 1 < len && d[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* Bytes a request may contain: printable ASCII, tab, CR, LF, and UTF-8
 * bytes in header values; NUL and other control bytes are refused. */
static int head_bytes_ok(const char *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
            return 0;
        if (c == 0x7f)
            return 0;
    }
    return 1;
}

static int target_is_metrics(const char *t, size_t len)
{
    static const char path[] = "/metrics";
    size_t plen = sizeof path - 1;
    if (len < plen || memcmp(t, path, plen) != 0)
        return 0;
    return len == plen || t[plen] == '?';
}

static enum metrics_http_result parse_request_line(const char *d, size_t len)
{
    const char *sp1 = memchr(d, ' ', len);
    if (!sp1 || sp1 == d)
        return METRICS_HTTP_BAD_REQUEST;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', len - (size_t)(target - d));
    if (!sp2 || sp2 == target)
        return METRICS_HTTP_BAD_REQUEST;
    const char *version = sp2 + 1;
    size_t vlen = len - (size_t)(version - d);
    if (vlen != 8 || memcmp(version, "HTTP/1.", 7) != 0 || (version[7] != '0' && version[7] != '1'))
        return METRICS_HTTP_BAD_REQUEST;
    size_t mlen = (size_t)(sp1 - d), tlen = (size_t)(sp2 - target);
    if (memchr(target, ' ', tlen))
        return METRICS_HTTP_BAD_REQUEST;
    int get = mlen == 3 && memcmp(d, "GET", 3) == 0;
    int head = mlen == 4 && memcmp(d, "HEAD", 4) == 0;
    if (!get && !head)
        return METRICS_HTTP_BAD_METHOD;
    if (!target_is_metrics(target, tlen))
        return METRICS_HTTP_NOT_FOUND;
    return get ? METRICS_HTTP_OK : METRICS_HTTP_HEAD;
}

enum metrics_http_result metrics_http_parse(const char *data, size_t len)
{
    size_t scan = len > METRICS_HTTP_MAX_REQUEST ? METRICS_HTTP_MAX_REQUEST : len;
    size_t end = head_end(data, scan);
    /* only the head is looked at: bytes after it (a body, a pipelined
     * request) cannot change a decision already made */
    if (!head_bytes_ok(data, end ? end : scan))
        return METRICS_HTTP_BAD_REQUEST;
    if (!end) {
        /* a request line that is already wrong need not wait for the rest */
        const char *nl = memchr(data, '\n', scan);
        if (nl) {
            size_t l = (size_t)(nl - data);
            if (l > 0 && data[l - 1] == '\r')
                l--;
            enum metrics_http_result r = parse_request_line(data, l);
            if (r == METRICS_HTTP_BAD_REQUEST)
                return r;
        }
        return len >= METRICS_HTTP_MAX_REQUEST ? METRICS_HTTP_TOO_LARGE : METRICS_HTTP_INCOMPLETE;
    }
    const char *nl = memchr(data, '\n', end);
    size_t l = (size_t)(nl - data);
    if (l > 0 && data[l - 1] == '\r')
        l--;
    return parse_request_line(data, l);
}

const char *metrics_http_status(enum metrics_http_result r)
{
    switch (r) {
    case METRICS_HTTP_NOT_FOUND:
        return "404 Not Found";
    case METRICS_HTTP_BAD_METHOD:
        return "405 Method Not Allowed";
    case METRICS_HTTP_BAD_REQUEST:
        return "400 Bad Request";
    case METRICS_HTTP_TOO_LARGE:
        return "431 Request Header Fields Too Large";
    default:
        return NULL;
    }
}
