/* ws_http.c - see ws_http.h.
 *
 * Every input here is hostile: heads are length-checked before they are
 * copied, NUL bytes are refused, every field is bounded, and each answer is
 * written with snprintf into a fixed buffer.  The checks follow upstream's
 * Go listener in order: request line and fields (net/http), the path
 * (ServeMux: clean-path redirect, subtree redirect, 404), then gorilla's
 * Upgrader (Connection, Upgrade, method, version, Origin, key). */
#include "net/ws_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/gnutls_lib.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- heads -------------------------------------------------------------- */

size_t ws_http_head_len(const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static int is_tchar(int c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* Cuts the next line off *p (LF or CRLF ends); NULL at the end. */
static char *next_line(char **p)
{
    char *s = *p;
    if (!s || !*s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = 0;
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r')
        s[n - 1] = 0;
    return s;
}

static int parse_field(char *line, struct ws_http_field *f, const char **why)
{
    if (line[0] == ' ' || line[0] == '\t') {
        *why = "folded header line";
        return -1;
    }
    char *colon = strchr(line, ':');
    if (!colon || colon == line) {
        *why = "malformed header line";
        return -1;
    }
    *colon = 0;
    for (char *c = line; *c; c++)
        if (!is_tchar((unsigned char)*c)) {
            *why = "invalid header name";
            return -1;
        }
    for (char *c = colon + 1; *c; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t') {
            *why = "control character in a header value";
            return -1;
        }
    f->name = line;
    f->value = trim(colon + 1);
    return 0;
}

int ws_http_parse(char *text, struct ws_http_head *h, const char **why)
{
    char *p = text, *line;
    h->n = 0;
    h->line = next_line(&p);
    if (!h->line || !*h->line) {
        *why = "empty request";
        return -1;
    }
    while ((line = next_line(&p)) && *line) {
        if (h->n == WS_HTTP_MAX_HEADERS) {
            *why = "too many header fields";
            return -1;
        }
        if (parse_field(line, &h->f[h->n], why) < 0)
            return -1;
        h->n++;
    }
    return 0;
}

const char *ws_http_get(const struct ws_http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->f[i].name, name) == 0)
            return h->f[i].value;
    return NULL;
}

size_t ws_http_count(const struct ws_http_head *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += strcasecmp(h->f[i].name, name) == 0;
    return n;
}

static int list_has_token(const char *list, const char *token)
{
    size_t tl = strlen(token);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *end = e;
        while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if ((size_t)(end - s) == tl && strncasecmp(s, token, tl) == 0)
            return 1;
        s = e;
    }
    return 0;
}

int ws_http_has_token(const struct ws_http_head *h, const char *name, const char *token)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->f[i].name, name) == 0 && list_has_token(h->f[i].value, token))
            return 1;
    return 0;
}

/* ---- keys --------------------------------------------------------------- */

static int base64_encode(const uint8_t *data, size_t len, char *out, size_t outlen)
{
    gnutls_datum_t in = { (unsigned char *)data, (unsigned)len }, res = { NULL, 0 };
    if (gnutls_base64_encode2(&in, &res) < 0)
        return -1;
    int ok = res.size < outlen;
    if (ok) {
        memcpy(out, res.data, res.size);
        out[res.size] = 0;
    }
    gnutls_free(res.data);
    return ok ? 0 : -1;
}

int ws_http_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    char buf[128];
    uint8_t digest[20];
    int n = snprintf(buf, sizeof buf, "%s%s", key, WS_GUID);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -1;
    if (gnutls_hash_fast(GNUTLS_DIG_SHA1, buf, (size_t)n, digest) < 0)
        return -1;
    return base64_encode(digest, sizeof digest, out, WS_ACCEPT_LEN + 1);
}

int ws_http_new_key(char out[WS_KEY_LEN + 1])
{
    uint8_t raw[16];
    if (gnutls_rnd(GNUTLS_RND_NONCE, raw, sizeof raw) < 0)
        return -1;
    return base64_encode(raw, sizeof raw, out, WS_KEY_LEN + 1);
}

/* gorilla: base64 (standard, padded) of exactly 16 bytes. */
static int key_valid(const char *key)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!key || strlen(key) != WS_KEY_LEN || strcmp(key + 22, "==") != 0)
        return 0;
    for (int i = 0; i < 22; i++)
        if (!strchr(alphabet, key[i]) || !key[i])
            return 0;
    return 1;
}

/* ---- paths (net/http ServeMux) ------------------------------------------ */

void ws_http_clean_path(const char *in, char *out, size_t outlen)
{
    /* path.Clean on a rooted path: drop empty and "." elements, ".." pops */
    size_t n = 0, inlen = strlen(in);
    if (outlen < 2) {
        if (outlen)
            out[0] = 0;
        return;
    }
    out[n++] = '/';
    const char *s = in;
    while (*s) {
        while (*s == '/')
            s++;
        const char *e = strchr(s, '/');
        size_t sl = e ? (size_t)(e - s) : strlen(s);
        if (sl == 0 || (sl == 1 && s[0] == '.')) {
            /* skip */
        } else if (sl == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 1 && out[n - 1] != '/')
                n--;
            if (n > 1)
                n--; /* the slash before the popped element */
        } else if (n + sl + 1 < outlen) {
            if (n > 1)
                out[n++] = '/';
            memcpy(out + n, s, sl);
            n += sl;
        }
        s += sl;
    }
    /* keep a trailing slash, as ServeMux's cleanPath does */
    if (inlen && in[inlen - 1] == '/' && n > 1 && n + 1 < outlen)
        out[n++] = '/';
    out[n] = 0;
}

int ws_http_path_match(const char *pattern, const char *path)
{
    size_t pl = strlen(pattern);
    if (pl && pattern[pl - 1] == '/') {
        if (strncmp(path, pattern, pl) == 0)
            return 1;
        if (strlen(path) == pl - 1 && strncmp(path, pattern, pl - 1) == 0)
            return 2;
        return 0;
    }
    return strcmp(path, pattern) == 0;
}

/* Percent-decodes a path; -1 on a bad escape or an encoded NUL. */
static int unescape_path(const char *in, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)in[i + 1]) ||
                !isxdigit((unsigned char)in[i + 2]))
                return -1;
            char hex[3] = { in[i + 1], in[i + 2], 0 };
            c = (int)strtol(hex, NULL, 16);
            if (c == 0)
                return -1;
            i += 2;
        }
        if (n + 1 >= outlen)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return 0;
}

/* ---- server answers ----------------------------------------------------- */

static const char *status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

static void answer(struct ws_http_verdict *v, int status, const char *extra_fields,
                   const char *body, const char *why)
{
    int n = snprintf(v->response, sizeof v->response,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n%s",
                     status, status_text(status), extra_fields, strlen(body), body);
    if (n < 0 || (size_t)n >= sizeof v->response)
        n = snprintf(v->response, sizeof v->response,
                     "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    v->status = status;
    v->response_len = (size_t)n;
    snprintf(v->why, sizeof v->why, "%s", why);
}

void ws_http_error(int status, const char *why, struct ws_http_verdict *v)
{
    char body[80];
    snprintf(body, sizeof body, "%d %s", status, status_text(status));
    answer(v, status, "", body, why);
}

/* gorilla's returnError: the status text as body, plus the version field. */
static void upgrade_error(struct ws_http_verdict *v, int status, const char *why)
{
    char body[64];
    snprintf(body, sizeof body, "%s\n", status_text(status));
    answer(v, status, "Sec-Websocket-Version: 13\r\n", body, why);
}

/* Host part of an Origin URL as Go's url.Parse gives it (u.Host). */
static void origin_host(const char *origin, char *out, size_t outlen)
{
    const char *s = origin, *auth = NULL;
    out[0] = 0;
    if (s[0] == '/' && s[1] == '/') {
        auth = s + 2;
    } else if (isalpha((unsigned char)s[0])) {
        const char *p = s;
        while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
            p++;
        if (p[0] == ':' && p[1] == '/' && p[2] == '/')
            auth = p + 3;
    }
    if (!auth)
        return;
    size_t len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', len);
    while (at) { /* the last '@' ends the userinfo */
        len -= (size_t)(at + 1 - auth);
        auth = at + 1;
        at = memchr(auth, '@', len);
    }
    snprintf(out, outlen, "%.*s", (int)len, auth);
}

struct request {
    char method[32];
    char target[WS_HTTP_HEAD_MAX];
    char query[WS_HTTP_HEAD_MAX];
    int minor;
};

/* Request line: METHOD SP target SP HTTP/1.x; 0, or an error status. */
static int parse_request_line(const char *line, struct request *r, const char **why)
{
    const char *sp1 = strchr(line, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' ') || sp1 == line ||
        (size_t)(sp1 - line) >= sizeof r->method) {
        *why = "malformed request line";
        return 400;
    }
    for (const char *c = line; c < sp1; c++)
        if (!is_tchar((unsigned char)*c)) {
            *why = "invalid method";
            return 400;
        }
    snprintf(r->method, sizeof r->method, "%.*s", (int)(sp1 - line), line);
    const char *ver = sp2 + 1;
    if (strcmp(ver, "HTTP/1.1") == 0 || strcmp(ver, "HTTP/1.0") == 0) {
        r->minor = ver[7] - '0';
    } else if (strncmp(ver, "HTTP/", 5) == 0 && isdigit((unsigned char)ver[5]) && ver[6] == '.' &&
               isdigit((unsigned char)ver[7]) && !ver[8]) {
        *why = "unsupported protocol version";
        return 505;
    } else {
        *why = "malformed HTTP version";
        return 400;
    }
    const char *t = sp1 + 1;
    size_t tl = (size_t)(sp2 - t);
    if (tl == 0) {
        *why = "empty request target";
        return 400;
    }
    /* absolute-form: skip scheme://authority */
    if (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0) {
        const char *a = strstr(t, "://") + 3;
        const char *slash = a;
        while (slash < sp2 && *slash != '/' && *slash != '?')
            slash++;
        tl -= (size_t)(slash - t);
        t = slash;
    } else if (t[0] != '/') {
        *why = "invalid request target";
        return 400;
    }
    size_t pl = 0;
    while (pl < tl && t[pl] != '?' && t[pl] != '#')
        pl++;
    if (unescape_path(t, pl, r->target, sizeof r->target) < 0) {
        *why = "invalid escape in the request path";
        return 400;
    }
    if (!r->target[0])
        strcpy(r->target, "/");
    r->query[0] = 0;
    if (pl < tl && t[pl] == '?') {
        size_t ql = strcspn(t + pl, "# ");
        if (ql > (size_t)(sp2 - (t + pl)))
            ql = (size_t)(sp2 - (t + pl));
        snprintf(r->query, sizeof r->query, "%.*s", (int)ql, t + pl);
    }
    return 0;
}

/* net/http level: fields and Host. */
static int check_fields(const struct ws_http_head *h, const struct request *r, const char **why)
{
    size_t hosts = ws_http_count(h, "Host");
    if (hosts > 1) {
        *why = "too many Host headers";
        return 400;
    }
    if (hosts == 0 && r->minor == 1) {
        *why = "missing required Host header";
        return 400;
    }
    return 0;
}

/* ServeMux: clean-path redirect, subtree redirect, 404. */
static int route(const char *pattern, const struct request *r, struct ws_http_verdict *v)
{
    char clean[WS_HTTP_HEAD_MAX];
    ws_http_clean_path(r->target, clean, sizeof clean);
    int m = ws_http_path_match(pattern, clean);
    if (strcmp(clean, r->target) == 0 && m == 1)
        return 0;
    if (m == 0) {
        answer(v, 404, "", "404 page not found\n", "no handler for the request path (404)");
        return -1;
    }
    char loc[WS_HTTP_HEAD_MAX + 16], field[WS_HTTP_HEAD_MAX + 64];
    snprintf(loc, sizeof loc, "%s%s", clean, m == 2 ? "/" : "");
    if (strpbrk(loc, "\r\n")) {
        ws_http_error(400, "invalid request path", v);
        return -1;
    }
    snprintf(field, sizeof field, "Location: %.*s%.*s\r\n", (int)(WS_HTTP_HEAD_MAX / 2), loc,
             (int)(WS_HTTP_HEAD_MAX / 4), r->query);
    answer(v, 301, field, "", "redirecting to the canonical path (301)");
    return -1;
}

/* gorilla Upgrader.Upgrade, in its order. */
static int check_upgrade(const struct ws_http_head *h, const struct request *r,
                         struct ws_http_verdict *v)
{
    if (!ws_http_has_token(h, "Connection", "upgrade")) {
        upgrade_error(v, 400, "not a websocket handshake: 'upgrade' token not found in 'Connection' header");
        return -1;
    }
    if (!ws_http_has_token(h, "Upgrade", "websocket")) {
        upgrade_error(v, 400, "not a websocket handshake: 'websocket' token not found in 'Upgrade' header");
        return -1;
    }
    if (strcmp(r->method, "GET") != 0) {
        upgrade_error(v, 405, "not a websocket handshake: request method is not GET");
        return -1;
    }
    const char *ver = ws_http_get(h, "Sec-WebSocket-Version");
    if (!ver || strcmp(ver, "13") != 0) {
        upgrade_error(v, 400, "unsupported version: 13 not found in 'Sec-Websocket-Version' header");
        return -1;
    }
    const char *origin = ws_http_get(h, "Origin");
    if (origin) {
        char oh[WS_HTTP_HEAD_MAX];
        const char *host = ws_http_get(h, "Host");
        origin_host(origin, oh, sizeof oh);
        if (strcasecmp(oh, host ? host : "") != 0) {
            upgrade_error(v, 403, "request origin not allowed by Upgrader.CheckOrigin (Origin host differs from Host)");
            return -1;
        }
    }
    if (!key_valid(ws_http_get(h, "Sec-WebSocket-Key"))) {
        upgrade_error(v, 400, "not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length");
        return -1;
    }
    return 0;
}

static void accept_upgrade(const struct ws_http_head *h, struct ws_http_verdict *v)
{
    char acc[WS_ACCEPT_LEN + 1];
    if (ws_http_accept_key(ws_http_get(h, "Sec-WebSocket-Key"), acc) < 0) {
        ws_http_error(503, "cannot compute Sec-WebSocket-Accept", v);
        return;
    }
    int n = snprintf(v->response, sizeof v->response,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    v->status = 101;
    v->response_len = (size_t)n;
    v->why[0] = 0;
}

void ws_http_serve(const uint8_t *head, size_t len, const char *pattern,
                   struct ws_http_verdict *v)
{
    char text[WS_HTTP_HEAD_MAX + 1];
    struct ws_http_head h;
    struct request r;
    const char *why = "";
    if (len > WS_HTTP_HEAD_MAX) {
        ws_http_error(431, "request header too large", v);
        return;
    }
    if (memchr(head, 0, len)) {
        ws_http_error(400, "NUL byte in the request head", v);
        return;
    }
    memcpy(text, head, len);
    text[len] = 0;
    if (ws_http_parse(text, &h, &why) < 0) {
        ws_http_error(400, why, v);
        return;
    }
    int st = parse_request_line(h.line, &r, &why);
    if (!st)
        st = check_fields(&h, &r, &why);
    if (st) {
        ws_http_error(st, why, v);
        return;
    }
    if (route(pattern, &r, v) < 0 || check_upgrade(&h, &r, v) < 0)
        return;
    accept_upgrade(&h, v);
}

/* ---- client ------------------------------------------------------------- */

static int pct_decode(const char *in, size_t len, char *out, size_t outlen)
{
    return unescape_path(in, len, out, outlen);
}

static int url_userinfo(struct ws_url *u, const char *ui, size_t len)
{
    char raw[300], dec[300];
    if (len >= sizeof raw)
        return -1;
    memcpy(raw, ui, len);
    raw[len] = 0;
    if (pct_decode(raw, len, dec, sizeof dec) < 0)
        return -1;
    char b64[420];
    if (base64_encode((const uint8_t *)dec, strlen(dec), b64, sizeof b64) < 0)
        return -1;
    snprintf(u->auth, sizeof u->auth, "Basic %s", b64);
    return 0;
}

static int url_hostport(struct ws_url *u, const char *a, size_t len)
{
    if (len == 0 || len >= sizeof u->hostport)
        return -1;
    memcpy(u->hostport, a, len);
    u->hostport[len] = 0;
    const char *portp = NULL;
    size_t hl;
    if (a[0] == '[') {
        const char *rb = memchr(a, ']', len);
        if (!rb)
            return -1;
        hl = (size_t)(rb - a - 1);
        if (hl == 0 || hl >= sizeof u->host)
            return -1;
        memcpy(u->host, a + 1, hl);
        u->host[hl] = 0;
        if ((size_t)(rb + 1 - a) < len) {
            if (rb[1] != ':')
                return -1;
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', len);
        hl = colon ? (size_t)(colon - a) : len;
        if (hl == 0 || hl >= sizeof u->host)
            return -1;
        memcpy(u->host, a, hl);
        u->host[hl] = 0;
        if (colon)
            portp = colon + 1;
    }
    if (portp) {
        size_t pl = len - (size_t)(portp - a);
        if (pl == 0 || pl > 5)
            return -1;
        for (size_t i = 0; i < pl; i++)
            if (!isdigit((unsigned char)portp[i]))
                return -1;
        snprintf(u->port, sizeof u->port, "%.*s", (int)pl, portp);
        if (atoi(u->port) > 65535)
            return -1;
    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }
    return 0;
}

int ws_url_parse(const char *url, struct ws_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            snprintf(err, errlen, "address %.200s is not a valid URL: invalid character", url);
            return -1;
        }
    const char *rest;
    if (strncasecmp(url, "ws://", 5) == 0) {
        rest = url + 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        u->tls = 1;
        rest = url + 6;
    } else {
        snprintf(err, errlen, "address %.200s: malformed ws or wss URL", url);
        return -1;
    }
    size_t alen = strcspn(rest, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            at = rest + i;
    const char *hp = at ? at + 1 : rest;
    if ((at && url_userinfo(u, rest, (size_t)(at - rest)) < 0) ||
        url_hostport(u, hp, alen - (size_t)(hp - rest)) < 0) {
        snprintf(err, errlen, "address %.200s is not a valid URL: bad host, port or user", url);
        return -1;
    }
    const char *t = rest + alen;
    size_t tl = strcspn(t, "#");
    if (tl + 2 > sizeof u->target) {
        snprintf(err, errlen, "address %.200s: URL too long", url);
        return -1;
    }
    snprintf(u->target, sizeof u->target, "%s%.*s", (tl == 0 || t[0] == '?') ? "/" : "",
             (int)tl, t);
    return 0;
}

/* net/http's CanonicalHeaderKey for a valid token; unchanged otherwise. */
static void canonical_name(const char *in, size_t len, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.*s", (int)len, in);
    for (size_t i = 0; out[i]; i++)
        if (!is_tchar((unsigned char)out[i]) || out[i] == ' ')
            return;
    int upper = 1;
    for (size_t i = 0; out[i]; i++) {
        out[i] = (char)(upper ? toupper((unsigned char)out[i]) : tolower((unsigned char)out[i]));
        upper = out[i] == '-';
    }
}

static const char *const owned_fields[] = {
    "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version",
    "Sec-Websocket-Extensions", NULL,
};

int ws_http_check_extraheader(const char *extra, char *err, size_t errlen)
{
    if (!extra || !*extra)
        return 0;
    const char *colon = strchr(extra, ':');
    if (!colon) {
        snprintf(err, errlen, "extra header must be in the form key:value");
        return -1;
    }
    char name[256];
    canonical_name(extra, (size_t)(colon - extra), name, sizeof name);
    if (!name[0] || strpbrk(name, "\r\n")) {
        snprintf(err, errlen, "extra header must be in the form key:value");
        return -1;
    }
    for (int i = 0; owned_fields[i]; i++)
        if (strcasecmp(name, owned_fields[i]) == 0) {
            snprintf(err, errlen, "websocket: duplicate header not allowed: %s", owned_fields[i]);
            return -1;
        }
    return 0;
}

/* Appends "Name: value" from extraheader; Host replaces the Host field. */
static void extra_field(const char *extra, char *name, size_t nlen, char *value, size_t vlen)
{
    const char *colon = strchr(extra, ':');
    canonical_name(extra, (size_t)(colon - extra), name, nlen);
    snprintf(value, vlen, "%s", colon + 1);
    for (char *c = value; *c; c++)
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    char *t = trim(value);
    memmove(value, t, strlen(t) + 1);
}

int ws_http_request(const struct ws_url *u, const char *key, const char *extraheader,
                    char *out, size_t outlen)
{
    char origin[320], name[256] = "", value[1024] = "", extra[1400] = "", auth[480] = "";
    const char *host = u->hostport;
    snprintf(origin, sizeof origin, "%s://%s", u->tls ? "https" : "http", u->hostport);
    if (extraheader && *extraheader && strchr(extraheader, ':')) {
        extra_field(extraheader, name, sizeof name, value, sizeof value);
        if (strcasecmp(name, "Host") == 0)
            host = value;
        else
            snprintf(extra, sizeof extra, "%s: %s\r\n", name, value);
    }
    if (u->auth[0])
        snprintf(auth, sizeof auth, "Authorization: %s\r\n", u->auth);
    int n = snprintf(out, outlen,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: Go-http-client/1.1\r\n"
                     "Connection: Upgrade\r\n"
                     "Upgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Origin: %s\r\n"
                     "%s%s"
                     "\r\n",
                     u->target, host, key, origin, auth, extra);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

/* "HTTP/1.x NNN reason": the status, or -1. */
static int status_line(const char *line)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) || line[8] != ' ')
        return -1;
    const char *c = line + 9;
    if (!isdigit((unsigned char)c[0]) || !isdigit((unsigned char)c[1]) ||
        !isdigit((unsigned char)c[2]) || (c[3] && c[3] != ' '))
        return -1;
    return (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
}

static int split_response(const uint8_t *head, size_t len, char *text, struct ws_http_head *h,
                          char *why, size_t whylen)
{
    const char *w = "";
    if (len > WS_HTTP_HEAD_MAX || memchr(head, 0, len)) {
        snprintf(why, whylen, "malformed HTTP response");
        return -1;
    }
    memcpy(text, head, len);
    text[len] = 0;
    if (ws_http_parse(text, h, &w) < 0) {
        snprintf(why, whylen, "malformed HTTP response: %s", w);
        return -1;
    }
    int st = status_line(h->line);
    if (st < 0) {
        snprintf(why, whylen, "malformed HTTP status line");
        return -1;
    }
    return st;
}

int ws_http_check_response(const uint8_t *head, size_t len, const char *key, char *why,
                           size_t whylen)
{
    char text[WS_HTTP_HEAD_MAX + 1];
    struct ws_http_head h;
    int st = split_response(head, len, text, &h, why, whylen);
    if (st < 0)
        return -1;
    if (st != 101) {
        snprintf(why, whylen, "bad handshake: HTTP %.60s", h.line + 9);
        return -1;
    }
    char acc[WS_ACCEPT_LEN + 1];
    const char *got = ws_http_get(&h, "Sec-WebSocket-Accept");
    if (!ws_http_has_token(&h, "Upgrade", "websocket") ||
        !ws_http_has_token(&h, "Connection", "upgrade") || ws_http_accept_key(key, acc) < 0 ||
        !got || strcmp(got, acc) != 0) {
        snprintf(why, whylen, "bad handshake: missing or wrong Upgrade, Connection or Sec-WebSocket-Accept");
        return -1;
    }
    return 0;
}

int ws_http_connect_request(const char *hostport, const char *auth, char *out, size_t outlen)
{
    char af[512] = "";
    if (auth && *auth)
        snprintf(af, sizeof af, "Proxy-Authorization: %s\r\n", auth);
    int n = snprintf(out, outlen, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", hostport, hostport,
                     af);
    return n < 0 || (size_t)n >= outlen ? -1 : n;
}

int ws_http_check_connect(const uint8_t *head, size_t len, char *why, size_t whylen)
{
    char text[WS_HTTP_HEAD_MAX + 1];
    struct ws_http_head h;
    int st = split_response(head, len, text, &h, why, whylen);
    if (st < 0)
        return -1;
    if (st < 200 || st > 299) {
        snprintf(why, whylen, "proxy refused CONNECT: %.60s", h.line + 9);
        return -1;
    }
    return 0;
}
