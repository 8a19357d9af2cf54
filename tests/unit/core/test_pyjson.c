/* test_pyjson.c - unit tests of core/pyjson (the one Python-JSON module):
 * the runner's span functions (canonical json.dumps form, member lookup) and
 * receptorctl's value tree (JSON read as json.loads reads it and printed as
 * json.dumps(indent=4, sort_keys=True), repr() and f-string padding print
 * it).  Expected strings were produced by CPython. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/pyjson.h"

static char *canon(const char *in)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    enum pyjson_type t = pyjson_canon(in, strlen(in), true, &b);
    const char *s = NULL;
    char *out = NULL;
    if (t != PYJSON_INVALID && buf_cstr(&b, &s) == 0)
        out = strdup(s);
    buf_free(&b);
    return out;
}

static void check(const char *in, const char *want)
{
    char *got = canon(in);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_pyjson_canon(void **state)
{
    (void)state;
    check("{\"a\":1,\"b\":[true,false,null]}", "{\"a\": 1, \"b\": [true, false, null]}");
    check(" {\"x\" : \"\xc3\xa9\xf0\x9f\x98\x80\"}\r\n", "{\"x\": \"\\u00e9\\ud83d\\ude00\"}");
    check("[1.5, 1e16, 0.0001, 1e-05, 100.0, -0.0, 2.5e-7]",
          "[1.5, 1e+16, 0.0001, 1e-05, 100.0, -0.0, 2.5e-07]");
    check("[123456789012345678901234567890, -0]", "[123456789012345678901234567890, 0]");
    check("[NaN, Infinity, -Infinity]", "[NaN, Infinity, -Infinity]");
    check("\"\\ud800 lone\"", "\"\\ud800 lone\"");
    check("\"tab\\there\\u001b[K\x7f\"", "\"tab\\there\\u001b[K\\u007f\"");
    check("", NULL);
    check("\n", NULL);
    check("{\"a\":1} x", NULL);
    check("{\"a\":1,}", NULL);
    check("\"raw\nnewline\"", NULL);
    check("[01]", NULL);
}

static void test_pyjson_find(void **state)
{
    (void)state;
    const char *s = "{\"status\": \"x\", \"zipfile\": 817, \"eof\": true}";
    struct pyjson_member m;
    assert_int_equal(pyjson_find(s, strlen(s), "zipfile", &m), 1);
    long long n;
    assert_int_equal(pyjson_int(m.val, m.val_len, &n), 0);
    assert_int_equal(n, 817);
    assert_int_equal(pyjson_find(s, strlen(s), "kwargs", &m), 0);
    assert_int_equal(pyjson_find("[1]", 3, "kwargs", &m), -1);
}

static const char *text_of(struct buf *b)
{
    const char *s = "";
    assert_int_equal(buf_cstr(b, &s), 0);
    return s;
}

static void check_pretty(const char *json, const char *want)
{
    struct buf err, out;
    buf_init(&err, 4096);
    buf_init(&out, 1 << 20);
    struct pj *v = pj_parse(json, strlen(json), &err);
    assert_non_null(v);
    assert_int_equal(pj_dump_pretty(v, &out), 0);
    assert_string_equal(text_of(&out), want);
    pj_free(v);
    buf_free(&err);
    buf_free(&out);
}

static void check_error(const char *json, const char *want)
{
    struct buf err;
    buf_init(&err, 4096);
    assert_null(pj_parse(json, strlen(json), &err));
    assert_string_equal(text_of(&err), want);
    buf_free(&err);
}

static void check_float(double d, const char *want)
{
    char out[64];
    py_float_repr(d, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_float_repr(void **state)
{
    (void)state;
    check_float(1.0, "1.0");
    check_float(2.5, "2.5");
    check_float(0.1, "0.1");
    check_float(1e16, "1e+16");
    check_float(1e15, "1000000000000000.0");
    check_float(0.0001, "0.0001");
    check_float(0.00001, "1e-05");
    check_float(-1.5e300, "-1.5e+300");
    check_float(123456.789, "123456.789");
    check_float(5e-324, "5e-324");
    check_float(-0.0, "-0.0");
}

static void test_numbers_keep_python_types(void **state)
{
    (void)state;
    check_pretty("[1, 1.0, -0, 1E2, 12345678901234567890123, 2.50, 1e400]",
                 "[\n    1,\n    1.0,\n    0,\n    100.0,\n    12345678901234567890123,\n"
                 "    2.5,\n    Infinity\n]");
}

static void test_sorted_keys_and_duplicates(void **state)
{
    (void)state;
    check_pretty("{\"b\":1,\"a\":{\"z\":[],\"y\":{}},\"b\":2,\"\xc3\xa9\":null,\"B\":true}",
                 "{\n    \"B\": true,\n    \"a\": {\n        \"y\": {},\n        \"z\": []\n    },\n"
                 "    \"b\": 2,\n    \"\\u00e9\": null\n}");
}

static void test_string_escapes(void **state)
{
    (void)state;
    check_pretty("\"\\u003c\\/\\t\\u0001\x7f\xf0\x9f\x9a\x80\\ud800x\"",
                 "\"</\\t\\u0001\\u007f\\ud83d\\ude80\\ud800x\"");
}

static void test_parse_errors(void **state)
{
    (void)state;
    check_error("", "Expecting value: line 1 column 1 (char 0)");
    check_error("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)");
    check_error("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)");
    check_error("{1:2}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)");
    check_error("{} x", "Extra data: line 1 column 4 (char 3)");
    check_error("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)");
}

static void test_repr_and_padding(void **state)
{
    (void)state;
    struct buf err, out;
    buf_init(&err, 4096);
    buf_init(&out, 4096);
    const char *json = "{\"type\":\"Control Service\",\"it's\":\"a\\\"b\",\"n\":[1,null,true,\"\\u0085\xc3\xbc\"]}";
    struct pj *v = pj_parse(json, strlen(json), &err);
    assert_non_null(v);
    pj_repr(v, &out);
    assert_string_equal(text_of(&out),
                        "{'type': 'Control Service', \"it's\": 'a\"b', 'n': [1, None, True, '\\x85\xc3\xbc']}");
    buf_reset(&out);
    py_pad(&out, "\xc3\xbc", 2, 3);
    assert_string_equal(text_of(&out), "\xc3\xbc  ");
    assert_int_equal(py_len("\xf0\x9f\x9a\x80" "a", 5), 2);
    pj_free(v);
    buf_free(&err);
    buf_free(&out);
}

static void test_pop_and_truthiness(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 4096);
    const char *json = "{\"a\":0,\"b\":\"\",\"c\":[0],\"d\":3.0}";
    struct pj *v = pj_parse(json, strlen(json), &err);
    assert_false(pj_truthy(pj_get(v, "a")));
    assert_false(pj_truthy(pj_get(v, "b")));
    assert_true(pj_truthy(pj_get(v, "c")));
    assert_true(pj_equals_int(pj_get(v, "d"), 3));
    struct pj *a = pj_pop(v, "a");
    assert_non_null(a);
    assert_null(pj_get(v, "a"));
    assert_int_equal(v->count, 3);
    pj_free(a);
    pj_free(v);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pyjson_canon),
        cmocka_unit_test(test_pyjson_find),
        cmocka_unit_test(test_float_repr),
        cmocka_unit_test(test_numbers_keep_python_types),
        cmocka_unit_test(test_sorted_keys_and_duplicates),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_repr_and_padding),
        cmocka_unit_test(test_pop_and_truthiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
