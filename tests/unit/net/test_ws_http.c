/* The WebSocket handshake as pure functions: RFC 6455's key example, the
 * answers a Go listener gives (ServeMux then gorilla), URL and request
 * building as gorilla's Dialer, and the client's response checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "net/ws_http.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

static int serve(const char *head, const char *pattern, struct ws_http_verdict *v)
{
    ws_http_serve((const uint8_t *)head, strlen(head), pattern, v);
    v->response[v->response_len] = 0;
    return v->status;
}

static char *upgrade_head(char *out, size_t len, const char *path, const char *extra)
{
    snprintf(out, len,
             "GET %s HTTP/1.1\r\nHost: example.com:8080\r\nConnection: keep-alive, Upgrade\r\n"
             "Upgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY
             "\r\n%s\r\n",
             path, extra);
    return out;
}

static void test_accept_key_rfc6455(void **state)
{
    (void)state;
    char acc[WS_ACCEPT_LEN + 1];
    assert_int_equal(ws_http_accept_key(KEY, acc), 0);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char k1[WS_KEY_LEN + 1], k2[WS_KEY_LEN + 1];
    assert_int_equal(ws_http_new_key(k1), 0);
    assert_int_equal(ws_http_new_key(k2), 0);
    assert_int_equal(strlen(k1), WS_KEY_LEN);
    assert_string_not_equal(k1, k2);
}

static void test_head_len(void **state)
{
    (void)state;
    const char *a = "GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
    assert_int_equal(ws_http_head_len((const uint8_t *)a, strlen(a)), strlen(a) - 4);
    const char *b = "GET / HTTP/1.1\nHost: x\n\nrest";
    assert_int_equal(ws_http_head_len((const uint8_t *)b, strlen(b)), strlen(b) - 4);
    const char *c = "GET / HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(ws_http_head_len((const uint8_t *)c, strlen(c)), 0);
}

static void test_upgrade_accepted(void **state)
{
    (void)state;
    struct ws_http_verdict v;
    char h[1024];
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/", ""), "/", &v), 101);
    assert_non_null(strstr(v.response, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(v.response, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(v.response, "Upgrade: websocket\r\n"));
    /* same host in Origin (case-insensitive) is allowed */
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/any/path?q=1",
                                        "Origin: https://EXAMPLE.com:8080\r\n"), "/", &v), 101);
    /* absolute-form target */
    assert_int_equal(serve(upgrade_head(h, sizeof h, "http://example.com:8080/ws", ""), "/ws", &v),
                     101);
}

static void test_gorilla_refusals(void **state)
{
    (void)state;
    struct ws_http_verdict v;
    char h[1024];
    assert_int_equal(serve("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "/", &v), 400);
    assert_non_null(strstr(v.why, "'upgrade' token not found in 'Connection'"));
    assert_non_null(strstr(v.response, "Sec-Websocket-Version: 13\r\n"));
    assert_non_null(strstr(v.response, "\r\n\r\nBad Request\n"));
    assert_int_equal(serve("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n", "/", &v), 400);
    assert_non_null(strstr(v.why, "'websocket' token not found in 'Upgrade'"));
    assert_int_equal(serve("PUT / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
                           "/", &v), 405);
    assert_int_equal(serve("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Version: 12\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/", "Origin: http://other.example\r\n"), "/", &v),
                     403);
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/", "Origin: null\r\n"), "/", &v), 403);
    assert_int_equal(serve("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAA\r\n\r\n", "/", &v), 400);
    assert_non_null(strstr(v.why, "Sec-WebSocket-Key"));
}

static void test_http_refusals(void **state)
{
    (void)state;
    struct ws_http_verdict v;
    assert_int_equal(serve("GET / HTTP/1.1\r\n\r\n", "/", &v), 400);
    assert_string_equal(v.why, "missing required Host header");
    assert_int_equal(serve("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET / HTTP/3.0\r\nHost: a\r\n\r\n", "/", &v), 505);
    assert_int_equal(serve("GET /\r\nHost: a\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET / HTTP/1.1\r\n Folded: x\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", "/", &v), 400);
    assert_int_equal(serve("GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n", "/", &v), 400);
    ws_http_serve((const uint8_t *)"GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 27, "/", &v);
    assert_int_equal(v.status, 400);
    /* too many header lines */
    char big[WS_HTTP_HEAD_MAX];
    size_t n = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= WS_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "X%d: y\r\n", i);
    snprintf(big + n, sizeof big - n, "\r\n");
    assert_int_equal(serve(big, "/", &v), 400);
    assert_string_equal(v.why, "too many header fields");
    ws_http_error(431, "too big", &v);
    assert_int_equal(v.status, 431);
    assert_memory_equal(v.response, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
}

static void test_servemux_rules(void **state)
{
    (void)state;
    assert_int_equal(ws_http_path_match("/", "/anything/at/all"), 1);
    assert_int_equal(ws_http_path_match("/x", "/x"), 1);
    assert_int_equal(ws_http_path_match("/x", "/x/"), 0);
    assert_int_equal(ws_http_path_match("/x", "/xy"), 0);
    assert_int_equal(ws_http_path_match("/x/", "/x/"), 1);
    assert_int_equal(ws_http_path_match("/x/", "/x/deep/er"), 1);
    assert_int_equal(ws_http_path_match("/x/", "/x"), 2);
    assert_int_equal(ws_http_path_match("/x/", "/xy"), 0);
    char out[256];
    ws_http_clean_path("/a/./b/../c//d/", out, sizeof out);
    assert_string_equal(out, "/a/c/d/");
    ws_http_clean_path("/../..", out, sizeof out);
    assert_string_equal(out, "/");
    ws_http_clean_path("/a/b/..", out, sizeof out);
    assert_string_equal(out, "/a");
    ws_http_clean_path("/", out, sizeof out);
    assert_string_equal(out, "/");

    struct ws_http_verdict v;
    char h[1024];
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/other", ""), "/ws", &v), 404);
    assert_non_null(strstr(v.response, "404 page not found\n"));
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/ws?a=b", ""), "/ws/", &v), 301);
    assert_non_null(strstr(v.response, "Location: /ws/?a=b\r\n"));
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/ws/../ws/x", ""), "/ws/", &v), 301);
    assert_non_null(strstr(v.response, "Location: /ws/x\r\n"));
    assert_int_equal(serve(upgrade_head(h, sizeof h, "/%77s", ""), "/ws", &v), 101);
}

static void test_url_parse(void **state)
{
    (void)state;
    struct ws_url u;
    char err[256];
    assert_int_equal(ws_url_parse("ws://host.example:8080/path/x?y=1#frag", &u, err, sizeof err), 0);
    assert_false(u.tls);
    assert_string_equal(u.host, "host.example");
    assert_string_equal(u.port, "8080");
    assert_string_equal(u.hostport, "host.example:8080");
    assert_string_equal(u.target, "/path/x?y=1");
    assert_int_equal(ws_url_parse("wss://[::1]/", &u, err, sizeof err), 0);
    assert_true(u.tls);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "443");
    assert_string_equal(u.hostport, "[::1]");
    assert_int_equal(ws_url_parse("ws://user:p%40ss@h?q", &u, err, sizeof err), 0);
    assert_string_equal(u.target, "/?q");
    assert_string_equal(u.port, "80");
    assert_string_equal(u.auth, "Basic dXNlcjpwQHNz"); /* user:p@ss */
    assert_int_equal(ws_url_parse("http://h/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://h:99999/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://h:/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws:///x", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://h/a b", &u, err, sizeof err), -1);
}

static void test_request_and_response(void **state)
{
    (void)state;
    struct ws_url u;
    char err[256], req[4096];
    assert_int_equal(ws_url_parse("ws://127.0.0.1:1234/mesh", &u, err, sizeof err), 0);
    assert_int_equal(ws_http_check_extraheader("nocolon", err, sizeof err), -1);
    assert_string_equal(err, "extra header must be in the form key:value");
    assert_int_equal(ws_http_check_extraheader("sec-websocket-key: x", err, sizeof err), -1);
    assert_int_equal(ws_http_check_extraheader("x-token:  a:b ", err, sizeof err), 0);
    int n = ws_http_request(&u, KEY, "x-auth-token:  a:b ", req, sizeof req);
    assert_true(n > 0);
    assert_non_null(strstr(req, "GET /mesh HTTP/1.1\r\nHost: 127.0.0.1:1234\r\n"));
    assert_non_null(strstr(req, "Origin: http://127.0.0.1:1234\r\n"));
    assert_non_null(strstr(req, "X-Auth-Token: a:b\r\n"));
    assert_non_null(strstr(req, "Sec-WebSocket-Key: " KEY "\r\n"));
    /* our request is accepted by our server */
    struct ws_http_verdict v;
    ws_http_serve((const uint8_t *)req, (size_t)n, "/mesh", &v);
    assert_int_equal(v.status, 101);
    char why[256];
    assert_int_equal(ws_http_check_response((const uint8_t *)v.response, v.response_len, KEY, why,
                                            sizeof why), 0);
    assert_int_equal(ws_http_check_response((const uint8_t *)v.response, v.response_len,
                                            "AAAAAAAAAAAAAAAAAAAAAA==", why, sizeof why), -1);
    const char *r404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(ws_http_check_response((const uint8_t *)r404, strlen(r404), KEY, why, sizeof why), -1);
    assert_string_equal(why, "bad handshake: HTTP 404 Not Found");
    /* Host in extraheader replaces the Host field */
    n = ws_http_request(&u, KEY, "Host: other", req, sizeof req);
    assert_non_null(strstr(req, "Host: other\r\n"));
    assert_null(strstr(req, "Host: 127.0.0.1"));
    /* proxies */
    n = ws_http_connect_request("h:80", "Basic eA==", req, sizeof req);
    assert_string_equal(req, "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\nProxy-Authorization: Basic eA==\r\n\r\n");
    const char *ok = "HTTP/1.0 200 Connection established\r\n\r\n";
    assert_int_equal(ws_http_check_connect((const uint8_t *)ok, strlen(ok), why, sizeof why), 0);
    const char *no = "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n";
    assert_int_equal(ws_http_check_connect((const uint8_t *)no, strlen(no), why, sizeof why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc6455), cmocka_unit_test(test_head_len),
        cmocka_unit_test(test_upgrade_accepted),   cmocka_unit_test(test_gorilla_refusals),
        cmocka_unit_test(test_http_refusals),      cmocka_unit_test(test_servemux_rules),
        cmocka_unit_test(test_url_parse),          cmocka_unit_test(test_request_and_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
