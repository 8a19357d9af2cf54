/* Decodes and re-encodes every frame captured from upstream receptor (route
 * updates, service advertisements, rejects, data headers and unreachable
 * payloads) and checks the bytes are identical; hashes every name of
 * names-hash.tsv; runs the framer over the raw captures in odd splits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "mesh/message.h"
#include "mesh/names.h"
#include "net/framer.h"

static const char *vectors;

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < max; hex += 2) {
        unsigned v;
        sscanf(hex, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

struct counts { int route, ad, reject, data, unreach; };

static void check_frame(json_t *f, struct counts *c)
{
    const char *hex = json_string_value(json_object_get(f, "hex"));
    int truncated = json_is_true(json_object_get(f, "hex_truncated"));
    static uint8_t msg[70000];
    size_t n = unhex(hex, msg, sizeof msg);
    assert_true(n > 0);
    int type = msg[0];
    struct buf out;
    buf_init(&out, 70000);
    char err[200];
    if (type == MSG_ROUTE) {
        struct msg_route r;
        assert_int_equal(msg_route_decode(msg + 1, n - 1, &r, err, sizeof err), 0);
        assert_int_equal(msg_route_encode(&r, &out), 0);
        assert_int_equal(buf_size(&out), n);
        assert_memory_equal(buf_head(&out), msg, n);
        msg_route_free(&r);
        c->route++;
    } else if (type == MSG_SERVICE_AD) {
        struct msg_ad a;
        assert_int_equal(msg_ad_decode(msg + 1, n - 1, &a, err, sizeof err), 0);
        assert_int_equal(msg_ad_encode(&a, &out, 1, 1), 0);
        assert_int_equal(buf_size(&out), n);
        assert_memory_equal(buf_head(&out), msg, n);
        msg_ad_free(&a);
        c->ad++;
    } else if (type == MSG_REJECT) {
        assert_int_equal(n, 3);
        assert_memory_equal(msg, msg_reject, 3);
        c->reject++;
    } else {
        struct msg_data d;
        const char *e;
        assert_int_equal(msg_data_decode(msg, n, &d, &e), 0);
        uint8_t hdr[MSG_DATA_HEADER];
        msg_data_header(&d, hdr);
        assert_memory_equal(hdr, msg, MSG_DATA_HEADER);
        json_t *dh = json_object_get(f, "data_header");
        char hx[17];
        snprintf(hx, sizeof hx, "%016llx", (unsigned long long)d.from_node);
        assert_string_equal(hx, json_string_value(json_object_get(dh, "from_node_hash")));
        assert_int_equal(d.hops, (int)json_number_value(json_object_get(dh, "hops_to_live")));
        assert_string_equal(d.to_service, json_string_value(json_object_get(dh, "to_service")));
        if (!truncated)
            assert_int_equal(d.len, (size_t)json_number_value(json_object_get(dh, "payload_len")));
        if (strcmp(d.to_service, "unreach") == 0 && !truncated) {
            struct msg_unreach u;
            assert_int_equal(msg_unreach_decode(d.payload, d.len, &u), 0);
            assert_int_equal(msg_unreach_encode(&u, &out), 0);
            assert_int_equal(buf_size(&out), d.len);
            assert_memory_equal(buf_head(&out), d.payload, d.len);
            msg_unreach_free(&u);
            c->unreach++;
        }
        c->data++;
    }
    buf_free(&out);
}

static void check_file(const char *rel, struct counts *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", vectors, rel);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) > 0) {
        json_error_t je;
        json_t *f = json_loads(line, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &je);
        assert_non_null(f);
        if (json_object_get(f, "hex"))
            check_frame(f, c);
        json_decref(f);
    }
    free(line);
    fclose(fp);
}

static void test_frames_2node(void **state)
{
    (void)state;
    struct counts a = { 0 }, b = { 0 };
    check_file("frames-A-to-B.jsonl", &a);
    check_file("frames-B-to-A.jsonl", &b);
    /* counts as the vectors' README states */
    assert_int_equal(a.route, 9);
    assert_int_equal(a.ad, 2);
    assert_int_equal(a.data, 94);
    assert_int_equal(b.route, 9);
    assert_int_equal(b.ad, 2);
    assert_int_equal(b.data, 60);
}

static void test_frames_3node_and_rejects(void **state)
{
    (void)state;
    struct counts c = { 0 };
    check_file("3node/frames-A-to-B.jsonl", &c);
    check_file("3node/frames-B-to-A.jsonl", &c);
    check_file("3node/routes-A-B.jsonl", &c);
    assert_true(c.unreach >= 2); /* message expired + service unknown */
    struct counts r = { 0 };
    check_file("reject/Adup-frames-A-to-Adup.jsonl", &r);
    check_file("reject/Bdup-frames-A-to-Bdup.jsonl", &r);
    check_file("reject/Adup-frames-Adup-to-A.jsonl", &r);
    check_file("reject/Bdup-frames-Bdup-to-A.jsonl", &r);
    assert_true(r.reject >= 5);
}

static size_t unescape(const char *s, char *out)
{
    size_t n = 0;
    while (*s) {
        if (s[0] == '\\' && s[1] == 'x') {
            unsigned v;
            sscanf(s + 2, "%2x", &v);
            out[n++] = (char)v;
            s += 4;
        } else {
            out[n++] = *s++;
        }
    }
    return n;
}

static void test_name_hashes(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/names-hash.tsv", vectors);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, fp)) {
        char *t1 = strchr(line, '\t');
        assert_non_null(t1);
        *t1 = 0;
        char *t2 = strchr(t1 + 1, '\t');
        assert_non_null(t2);
        char *hex = t2 + 1;
        hex[strcspn(hex, "\r\n")] = 0;
        char name[256];
        size_t n = unescape(line, name);
        char got[17];
        snprintf(got, sizeof got, "%016llx", (unsigned long long)names_hash(name, n));
        assert_string_equal(got, hex);
        count++;
    }
    fclose(fp);
    assert_int_equal(count, 34);
    assert_true(names_hash("node1", 5) == 0x61052d2b582eb15eULL);
}

struct framecount { size_t n, bytes; };

static int count_frame(void *arg, const uint8_t *msg, size_t len)
{
    struct framecount *fc = arg;
    assert_true(len > 0 && msg[0] <= 3);
    fc->n++;
    fc->bytes += len + 2;
    return 0;
}

static void test_framer_splits(void **state)
{
    (void)state;
    const char *files[] = { "raw-A-to-B.bin", "raw-B-to-A.bin" };
    for (int fi = 0; fi < 2; fi++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", vectors, files[fi]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        static uint8_t data[70000];
        size_t len = fread(data, 1, sizeof data, fp);
        fclose(fp);
        size_t chunks[] = { 1, 7, 1000, 65536 };
        size_t expect = 0;
        for (int ci = 0; ci < 4; ci++) {
            struct framer fr;
            framer_init(&fr);
            struct framecount fc = { 0, 0 };
            for (size_t off = 0; off < len;) {
                size_t room;
                uint8_t *p = framer_space(&fr, &room);
                size_t k = chunks[ci] < room ? chunks[ci] : room;
                if (k > len - off)
                    k = len - off;
                memcpy(p, data + off, k);
                framer_commit(&fr, k, count_frame, &fc);
                off += k;
            }
            framer_free(&fr);
            if (ci == 0)
                expect = fc.n;
            assert_int_equal(fc.n, expect);
            assert_int_equal(fc.bytes, len);
        }
        assert_true(expect > 60);
    }
}

static void test_bad_inputs(void **state)
{
    (void)state;
    struct msg_route r;
    struct msg_ad a;
    char err[200];
    const char *bad[] = { "", "{", "[]", "null", "{\"NodeID\":5}", "{\"UpdateEpoch\":-1}",
                          "{\"UpdateEpoch\":1.5}", "{\"Connections\":[1]}",
                          "{\"Connections\":{\"a\":\"x\"}}", "{\"UpdateEpoch\":99999999999999999999999}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(msg_route_decode((const uint8_t *)bad[i], strlen(bad[i]), &r, err, sizeof err), -1);
    /* a big epoch above 2^53 survives exactly */
    const char *ok = "{\"nodeid\":\"x\",\"UpdateEpoch\":30125106074023304,\"extra\":1}";
    assert_int_equal(msg_route_decode((const uint8_t *)ok, strlen(ok), &r, err, sizeof err), 0);
    assert_true(r.epoch == 30125106074023304ULL);
    assert_string_equal(r.node_id, "x");
    msg_route_free(&r);
    /* 10,000 connections: refused with a message naming the field */
    struct buf b;
    buf_init(&b, 1u << 20);
    buf_append_str(&b, "{\"NodeID\":\"x\",\"Connections\":{");
    for (int i = 0; i < 10000; i++)
        buf_printf(&b, "%s\"n%d\":1", i ? "," : "", i);
    buf_append_str(&b, "}}");
    assert_int_equal(msg_route_decode(buf_head(&b), buf_size(&b), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "Connections"));
    buf_free(&b);
    const char *badad[] = { "{\"Time\":\"yesterday\"}", "{\"Time\":\"2026-11-25T08:44:11Z\",\"Tags\":{\"a\":1}}",
                            "{\"Time\":\"2026-11-25T08:44:11Z\",\"WorkCommands\":{}}" };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(msg_ad_decode((const uint8_t *)badad[i], strlen(badad[i]), &a, err, sizeof err), -1);
    struct msg_data d;
    const char *e;
    uint8_t shortmsg[35] = { 0 };
    assert_int_equal(msg_data_decode(shortmsg, sizeof shortmsg, &d, &e), -1);
    assert_string_equal(e, "data too short to be a valid message");
}

/* A field of the wrong type is refused with a message naming the field and
 * the type it should have (pins the decoders' messages across refactors). */
static void test_field_type_errors(void **state)
{
    (void)state;
    static const struct { const char *json, *err; } route[] = {
        { "{\"NodeID\":5}", "field NodeID: expected a string" },
        { "{\"UpdateEpoch\":-1}", "field UpdateEpoch: expected an unsigned integer" },
        { "{\"Connections\":[1]}", "field Connections: expected an object" },
        { "{\"Connections\":{\"a\":\"x\"}}", "field Connections: cost of a is not a number" },
        { "[]", "invalid JSON: not an object" },
    };
#define T "{\"Time\":\"2026-11-25T08:44:11Z\","
    static const struct { const char *json, *err; } ad[] = {
        { T "\"ConnType\":\"x\"}", "field ConnType: expected an integer" },
        { T "\"Tags\":[]}", "field Tags: expected an object" },
        { T "\"Tags\":{\"a\":1}}", "field Tags: values must be strings" },
        { T "\"WorkCommands\":{}}", "field WorkCommands: expected an array" },
        { T "\"WorkCommands\":[1]}", "field WorkCommands: bad element" },
        { T "\"Cancel\":1}", "field Cancel: expected a boolean" },
        { "{\"Time\":\"yesterday\"}", "field Time: not an RFC 3339 time" },
    };
#undef T
    char err[200];
    for (size_t i = 0; i < sizeof route / sizeof route[0]; i++) {
        struct msg_route r;
        const char *j = route[i].json;
        assert_int_equal(msg_route_decode((const uint8_t *)j, strlen(j), &r, err, sizeof err), -1);
        assert_string_equal(err, route[i].err);
    }
    for (size_t i = 0; i < sizeof ad / sizeof ad[0]; i++) {
        struct msg_ad a;
        const char *j = ad[i].json;
        assert_int_equal(msg_ad_decode((const uint8_t *)j, strlen(j), &a, err, sizeof err), -1);
        assert_string_equal(err, ad[i].err);
    }
    /* null stands for absent, and a good advertisement keeps its fields */
    const char *good = "{\"Time\":\"2026-11-25T08:44:11Z\",\"ConnType\":2,\"Tags\":null,"
                       "\"WorkCommands\":[{\"WorkType\":\"w\"}],\"Cancel\":true}";
    struct msg_ad a;
    assert_int_equal(msg_ad_decode((const uint8_t *)good, strlen(good), &a, err, sizeof err), 0);
    assert_int_equal(a.conn_type, 2);
    assert_true(a.cancel);
    assert_null(a.tags);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a.work_commands, 0), "WorkType")), "w");
    msg_ad_free(&a);
    struct msg_unreach u;
    const char *un = "{\"FromNode\":\"a\",\"Problem\":null}";
    assert_int_equal(msg_unreach_decode((const uint8_t *)un, strlen(un), &u), 0);
    assert_string_equal(u.from_node, "a");
    assert_string_equal(u.problem, "");
    msg_unreach_free(&u);
    assert_int_equal(msg_unreach_decode((const uint8_t *)"{\"ToNode\":1}", 13, &u), -1);
    assert_null(u.from_node);
}

/* One JSON object with field key set to a string of len bytes. */
static void object_with(struct buf *b, const char *prefix, const char *key, size_t len,
                        const char *suffix)
{
    buf_reset(b);
    buf_printf(b, "{%s\"%s\":\"", prefix, key);
    for (size_t i = 0; i < len; i++)
        buf_append(b, "u", 1);
    buf_printf(b, "\"%s}", suffix);
}

/* Every field a node remembers is capped: over-long ones are refused with an
 * error naming the field; the longest allowed ones decode. */
static void test_field_caps(void **state)
{
    (void)state;
    char err[160];
    struct msg_route r;
    struct msg_ad a;
    struct buf b;
    buf_init(&b, 1u << 20);
    static const struct { const char *key; size_t max; } route_fields[] = {
        { "UpdateID", MSG_UPDATE_ID_MAX }, { "NodeID", MSG_NODE_ID_MAX },
        { "ForwardingNode", MSG_NODE_ID_MAX },
    };
    for (size_t i = 0; i < sizeof route_fields / sizeof route_fields[0]; i++) {
        const char *key = route_fields[i].key;
        object_with(&b, "", key, route_fields[i].max, "");
        assert_int_equal(msg_route_decode(buf_head(&b), buf_size(&b), &r, err, sizeof err), 0);
        msg_route_free(&r);
        object_with(&b, "", key, 65000, "");
        assert_int_equal(msg_route_decode(buf_head(&b), buf_size(&b), &r, err, sizeof err), -1);
        assert_non_null(strstr(err, key));
        assert_non_null(strstr(err, "65000 bytes"));
        object_with(&b, "", key, route_fields[i].max + 1, "");
        assert_int_equal(msg_route_decode(buf_head(&b), buf_size(&b), &r, err, sizeof err), -1);
    }
    /* a node ID inside Connections */
    buf_reset(&b);
    buf_append_str(&b, "{\"NodeID\":\"x\",\"Connections\":{\"");
    for (int i = 0; i < MSG_NODE_ID_MAX + 1; i++)
        buf_append(&b, "n", 1);
    buf_append_str(&b, "\":1}}");
    assert_int_equal(msg_route_decode(buf_head(&b), buf_size(&b), &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "Connections"));
    static const struct { const char *key; size_t max; } ad_fields[] = {
        { "NodeID", MSG_NODE_ID_MAX }, { "Service", MSG_SERVICE_MAX },
    };
    const char *t = "\"Time\":\"2026-11-25T08:44:11Z\",";
    for (size_t i = 0; i < sizeof ad_fields / sizeof ad_fields[0]; i++) {
        const char *key = ad_fields[i].key;
        object_with(&b, t, key, ad_fields[i].max, "");
        assert_int_equal(msg_ad_decode(buf_head(&b), buf_size(&b), &a, err, sizeof err), 0);
        msg_ad_free(&a);
        object_with(&b, t, key, ad_fields[i].max + 1, "");
        assert_int_equal(msg_ad_decode(buf_head(&b), buf_size(&b), &a, err, sizeof err), -1);
        assert_non_null(strstr(err, key));
    }
    object_with(&b, "", "Time", 60000, "");
    assert_int_equal(msg_ad_decode(buf_head(&b), buf_size(&b), &a, err, sizeof err), -1);
    assert_non_null(strstr(err, "field Time: 60000 bytes"));
    buf_free(&b);
}

/* The name table stops at its byte cap: 20,000 names of 255 bytes would
 * take 5 MB of strings alone. */
static void test_names_byte_cap(void **state)
{
    (void)state;
    struct names t;
    names_init(&t);
    char name[MSG_NODE_ID_MAX + 1];
    memset(name, 'n', MSG_NODE_ID_MAX);
    name[MSG_NODE_ID_MAX] = 0;
    uint64_t first = 0, last = 0;
    for (int i = 0; i < 20000; i++) {
        snprintf(name, 8, "%07d", i);
        name[7] = 'n';
        last = names_add(&t, name);
        if (i == 0)
            first = last;
    }
    assert_true(t.count < 20000);
    assert_true(t.bytes <= NAMES_MAX_BYTES);
    assert_non_null(names_lookup(&t, first));
    assert_null(names_lookup(&t, last));
    names_free(&t);
}

int main(int argc, char **argv)
{
    vectors = argc > 1 ? argv[1] : "tests/vectors/receptor";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_2node), cmocka_unit_test(test_frames_3node_and_rejects),
        cmocka_unit_test(test_name_hashes), cmocka_unit_test(test_framer_splits),
        cmocka_unit_test(test_bad_inputs), cmocka_unit_test(test_field_type_errors), cmocka_unit_test(test_field_caps),
        cmocka_unit_test(test_names_byte_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
