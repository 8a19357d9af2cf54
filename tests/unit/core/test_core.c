/* Unit tests for src/core: Go-compatible JSON numbers and strings, Go
 * durations, RFC 3339 times and bounded buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/godur.h"
#include "core/gojson.h"
#include "core/utf8.h"
#include "core/util.h"

static void check_float(double f, const char *want)
{
    struct buf b;
    buf_init(&b, 128);
    assert_int_equal(gojson_float(f, &b), 0);
    const char *s;
    assert_int_equal(buf_cstr(&b, &s), 0);
    assert_string_equal(s, want);
    buf_free(&b);
}

static void test_go_floats(void **state)
{
    (void)state;
    check_float(1, "1");
    check_float(2.5, "2.5");
    check_float(0.1, "0.1");
    check_float(100, "100");
    check_float(1e21, "1e+21");
    check_float(1e20, "100000000000000000000");
    check_float(1e-7, "1e-7");
    check_float(0.000001, "0.000001");
    check_float(-3.25, "-3.25");
    check_float(123456.789, "123456.789");
    /* whole numbers take a short path below 1e15; the digits must not change */
    check_float(-7, "-7");
    check_float(4294967296.0, "4294967296");
    check_float(999999999999999.0, "999999999999999");
    check_float(1e15, "1000000000000000");
    check_float(-1e15, "-1000000000000000");
    check_float(-0.0, "-0");
}

static void test_go_strings(void **state)
{
    (void)state;
    json_t *o = json_object();
    json_object_set_new(o, "b", json_string("<a&b>\n\x01"));
    json_object_set_new(o, "a", json_real(1.0));
    char *s = gojson_dumps(o, 0);
    assert_string_equal(s, "{\"b\":\"\\u003ca\\u0026b\\u003e\\n\\u0001\",\"a\":1}");
    free(s);
    s = gojson_dumps(o, GOJSON_SORT_KEYS);
    assert_string_equal(s, "{\"a\":1,\"b\":\"\\u003ca\\u0026b\\u003e\\n\\u0001\"}");
    free(s);
    json_decref(o);
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(gojson_string("a\xff" "b", 3, &b), 0);
    assert_int_equal(buf_size(&b), strlen("\"a\\ufffdb\""));
    assert_memory_equal(buf_head(&b), "\"a\\ufffdb\"", buf_size(&b));
    buf_reset(&b);
    /* plain bytes go out in runs, around escapes and multi-byte UTF-8 */
    assert_int_equal(gojson_string("node-1<caf\xc3\xa9>x", 14, &b), 0);
    assert_int_equal(buf_size(&b), strlen("\"node-1\\u003ccaf\xc3\xa9\\u003ex\""));
    assert_memory_equal(buf_head(&b), "\"node-1\\u003ccaf\xc3\xa9\\u003ex\"", buf_size(&b));
    buf_reset(&b);
    /* Go 1.22 and later write \b and \f short, the other controls as \u00XX */
    assert_int_equal(gojson_string("\b\f\x0b", 3, &b), 0);
    assert_int_equal(buf_size(&b), strlen("\"\\b\\f\\u000b\""));
    assert_memory_equal(buf_head(&b), "\"\\b\\f\\u000b\"", buf_size(&b));
    buf_free(&b);
}

static void test_go_durations(void **state)
{
    (void)state;
    char out[64];
    godur_format(423992, out, sizeof out);
    assert_string_equal(out, "423.992\xc2\xb5s");
    godur_format(1234567, out, sizeof out);
    assert_string_equal(out, "1.234567ms");
    godur_format(500, out, sizeof out);
    assert_string_equal(out, "500ns");
    godur_format(1500000000, out, sizeof out);
    assert_string_equal(out, "1.5s");
    godur_format(3600LL * 1000000000, out, sizeof out);
    assert_string_equal(out, "1h0m0s");
    godur_format(90LL * 1000000000, out, sizeof out);
    assert_string_equal(out, "1m30s");
    godur_format(2000000, out, sizeof out);
    assert_string_equal(out, "2ms");
    int64_t ns;
    char err[128];
    assert_int_equal(godur_parse("1.5h", &ns, err, sizeof err), 0);
    assert_true(ns == 5400LL * 1000000000);
    assert_int_equal(godur_parse("30m10s", &ns, err, sizeof err), 0);
    assert_true(ns == 1810LL * 1000000000);
    assert_int_equal(godur_parse("300ms", &ns, err, sizeof err), 0);
    assert_true(ns == 300000000);
    assert_int_equal(godur_parse("12", &ns, err, sizeof err), -1);
    assert_int_equal(godur_parse("", &ns, err, sizeof err), -1);
    assert_int_equal(godur_parse("abc", &ns, err, sizeof err), -1);
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(util_parse_rfc3339("2026-11-25T08:44:11.972760925Z", &ns), 0);
    char out[64];
    util_format_rfc3339(ns, out, sizeof out);
    assert_string_equal(out, "2026-11-25T08:44:11.972760925Z");
    int64_t ns2;
    assert_int_equal(util_parse_rfc3339("2026-11-25T04:44:11.97276092-04:00", &ns2), 0);
    assert_true(ns2 == ns - 5);
    assert_int_equal(util_parse_rfc3339("garbage", &ns2), -1);
    /* a short offset ends the string early: it is refused without reading past it */
    assert_int_equal(util_parse_rfc3339("2026-11-25T08:44:10.310477-8:4", &ns2), -1);
    assert_int_equal(util_parse_rfc3339("2026-11-25T08:44:10-08:4", &ns2), -1);
    assert_int_equal(util_parse_rfc3339("2026-11-25T08:44:10+24:00", &ns2), -1);
    /* the int64 nanosecond range ends at 2262-04-11T23:47:16.854775807Z;
     * a mesh advert from beyond it is refused, not wrapped (was UB) */
    assert_int_equal(util_parse_rfc3339("2262-04-11T23:47:16.854775807Z", &ns2), 0);
    assert_true(ns2 == INT64_MAX);
    assert_int_equal(util_parse_rfc3339("2262-04-11T23:47:16.854775808Z", &ns2), -1);
    assert_int_equal(util_parse_rfc3339("4052-11-25T08:44:11.310470668Z", &ns2), -1);
    assert_int_equal(util_parse_rfc3339("1677-09-21T00:12:44Z", &ns2), 0);
    assert_true(ns2 == -9223372036000000000LL);
    assert_int_equal(util_parse_rfc3339("1600-01-01T00:00:00Z", &ns2), -1);
    /* certificate validity may reach the year 9999 */
    assert_int_equal(util_parse_rfc3339_seconds("9999-12-31T23:59:59Z", &ns2), 0);
    assert_true(ns2 == 253402300799LL);
    util_format_rfc3339(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
}

static void test_buf_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_true(buf_append(&b, "x", 1) < 0);
    buf_consume(&b, 4);
    assert_int_equal(buf_append(&b, "abcd", 4), 0);
    assert_int_equal(buf_size(&b), 10);
    assert_memory_equal(buf_head(&b), "456789abcd", 10);
    buf_free(&b);
}

static void test_random_id(void **state)
{
    (void)state;
    char a[9], b[9];
    util_random_id(a, 8);
    util_random_id(b, 8);
    assert_int_equal(strlen(a), 8);
    assert_string_not_equal(a, b);
    for (int i = 0; i < 8; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'z') ||
                    (a[i] >= 'A' && a[i] <= 'Z'));
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 0777;
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char root[] = "/tmp/test_core_XXXXXX";
    assert_non_null(mkdtemp(root));
    mode_t old = umask(022);
    char path[256], mid[256], file[256];
    snprintf(path, sizeof path, "%s/a/b/c", root);
    snprintf(mid, sizeof mid, "%s/a/b", root);
    assert_int_equal(util_mkdir_p(path, 0755, 0700), 0);
    assert_int_equal(mode_of(mid), 0755);
    assert_int_equal(mode_of(path), 0700);
    assert_int_equal(util_mkdir_p(path, 0755, 0700), 0); /* exists: fine */
    /* below a file: fails, naming the ancestor that could not be made */
    snprintf(file, sizeof file, "%s/f", root);
    fclose(fopen(file, "w"));
    snprintf(path, sizeof path, "%s/f/x/y", root);
    errno = 0;
    assert_int_equal(util_mkdir_p(path, 0755, 0700), -1);
    assert_int_equal(errno, ENOTDIR);
    umask(old);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void test_abspath(void **state)
{
    (void)state;
    char *p = util_abspath("/x/../y");
    assert_string_equal(p, "/x/../y"); /* absolute: as given, not normalised */
    free(p);
    char cwd[4096], want[4200];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/rel/dir", cwd);
    p = util_abspath("rel/dir");
    assert_string_equal(p, want);
    free(p);
}

static void test_run_quiet(void **state)
{
    (void)state;
    const char *ok[] = { "sh", "-c", "read x; echo out; echo err >&2; exit 0", NULL };
    const char *fail[] = { "false", NULL };
    const char *missing[] = { "/nonexistent/command", NULL };
    assert_int_equal(util_run_quiet(ok), 0); /* stdin is /dev/null: read ends at once */
    assert_int_equal(util_run_quiet(fail), -1);
    assert_int_equal(util_run_quiet(missing), -1);
}

/* core/utf8: the strict rules every reader shares (Go's utf8.Valid), and
 * the WTF-8 view receptorctl needs for Python's lone surrogates. */
static void test_utf8(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_true(utf8_valid("abc\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 12));
    assert_false(utf8_valid("\xc0\xaf", 2));             /* overlong */
    assert_false(utf8_valid("\xe0\x80\xaf", 3));         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));         /* surrogate */
    assert_false(utf8_valid("\xe2\x82", 2));             /* truncated */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4));     /* > U+10FFFF */
    assert_false(utf8_valid("\xff", 1));
    assert_int_equal(utf8_decode("\xf0\x9f\x98\x80", 4, 0, &cp), 4);
    assert_int_equal(cp, 0x1f600);
    assert_int_equal(utf8_decode("\xed\xa0\x80", 3, 0, &cp), 0);
    assert_int_equal(utf8_decode("\xed\xa0\x80", 3, UTF8_WTF8, &cp), 3);
    assert_int_equal(cp, 0xd800);
    assert_int_equal(utf8_seq_len(0xe2), 3);
    assert_int_equal(utf8_seq_len(0x80), 0);
    unsigned char b[4];
    assert_int_equal(utf8_encode(0xe9, b), 2);
    assert_memory_equal(b, "\xc3\xa9", 2);
    assert_int_equal(utf8_encode(0x1f600, b), 4);
    assert_memory_equal(b, "\xf0\x9f\x98\x80", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_floats),   cmocka_unit_test(test_go_strings),
        cmocka_unit_test(test_go_durations), cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_buf_limit),   cmocka_unit_test(test_random_id),
        cmocka_unit_test(test_mkdir_p),     cmocka_unit_test(test_abspath),
        cmocka_unit_test(test_run_quiet),   cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
