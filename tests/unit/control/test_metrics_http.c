/* test_metrics_http.c - the metrics endpoint's request parser: what it
 * answers for well-formed requests, other paths and methods, garbage,
 * partial and oversized heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "control/metrics_http.h"

static enum metrics_http_result parse(const char *s) { return metrics_http_parse(s, strlen(s)); }

static void test_get_metrics(void **state)
{
    (void)state;
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"), METRICS_HTTP_OK);
    assert_int_equal(parse("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), METRICS_HTTP_OK);
    assert_int_equal(parse("GET /metrics HTTP/1.1\n\n"), METRICS_HTTP_OK);
    assert_int_equal(parse("HEAD /metrics HTTP/1.1\r\n\r\n"), METRICS_HTTP_HEAD);
}

static void test_other_paths_and_methods(void **state)
{
    (void)state;
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n"), METRICS_HTTP_NOT_FOUND);
    assert_int_equal(parse("GET /metricsx HTTP/1.1\r\n\r\n"), METRICS_HTTP_NOT_FOUND);
    assert_int_equal(parse("GET /metrics/ HTTP/1.1\r\n\r\n"), METRICS_HTTP_NOT_FOUND);
    assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n"), METRICS_HTTP_BAD_METHOD);
    assert_int_equal(parse("get /metrics HTTP/1.1\r\n\r\n"), METRICS_HTTP_BAD_METHOD);
    assert_string_equal(metrics_http_status(METRICS_HTTP_BAD_METHOD), "405 Method Not Allowed");
    assert_string_equal(metrics_http_status(METRICS_HTTP_NOT_FOUND), "404 Not Found");
}

static void test_garbage(void **state)
{
    (void)state;
    assert_int_equal(parse("garbage\r\n\r\n"), METRICS_HTTP_BAD_REQUEST);
    assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n"), METRICS_HTTP_BAD_REQUEST);
    assert_int_equal(parse("GET /metrics\r\n\r\n"), METRICS_HTTP_BAD_REQUEST);
    assert_int_equal(parse("GET  /metrics HTTP/1.1\r\n\r\n"), METRICS_HTTP_BAD_REQUEST);
    assert_int_equal(parse("GET /metrics HTTP/1.1 \r\n\r\n"), METRICS_HTTP_BAD_REQUEST);
    /* a bad request line is refused before the head ends */
    assert_int_equal(parse("garbage\r\nmore"), METRICS_HTTP_BAD_REQUEST);
    /* control bytes anywhere */
    assert_int_equal(metrics_http_parse("GET /metrics HTTP/1.1\r\nX: \0\r\n\r\n", 29),
                     METRICS_HTTP_BAD_REQUEST);
    assert_int_equal(parse("\x01\x02"), METRICS_HTTP_BAD_REQUEST);
    /* bytes after the head do not change the decision (found by the fuzzer) */
    assert_int_equal(metrics_http_parse("POST /metrics HTTP/1.1\r\n\r\n\0", 28), METRICS_HTTP_BAD_METHOD);
    assert_int_equal(metrics_http_parse("GET /metrics HTTP/1.1\r\n\r\n\0\x01", 28), METRICS_HTTP_OK);
}

static void test_partial_and_oversized(void **state)
{
    (void)state;
    assert_int_equal(parse(""), METRICS_HTTP_INCOMPLETE);
    assert_int_equal(parse("GET /metr"), METRICS_HTTP_INCOMPLETE);
    assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n"), METRICS_HTTP_INCOMPLETE);
    static char big[METRICS_HTTP_MAX_REQUEST + 10];
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(big + 26, 'a', sizeof big - 26);
    assert_int_equal(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST - 1), METRICS_HTTP_INCOMPLETE);
    assert_int_equal(metrics_http_parse(big, METRICS_HTTP_MAX_REQUEST), METRICS_HTTP_TOO_LARGE);
    assert_int_equal(metrics_http_parse(big, sizeof big), METRICS_HTTP_TOO_LARGE);
    assert_string_equal(metrics_http_status(METRICS_HTTP_TOO_LARGE), "431 Request Header Fields Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_metrics),
        cmocka_unit_test(test_other_paths_and_methods),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_partial_and_oversized),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
