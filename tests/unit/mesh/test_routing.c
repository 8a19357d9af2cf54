/* Shortest paths over advertised costs, the unroutable-neighbour rule, and
 * firewall rule matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mesh/firewall.h"
#include "mesh/routing.h"

static json_t *graph(const char *text)
{
    json_error_t e;
    json_t *g = json_loads(text, 0, &e);
    assert_non_null(g);
    return g;
}

static void expect_hop(json_t *t, const char *dest, const char *hop)
{
    json_t *v = json_object_get(t, dest);
    if (!hop) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(json_string_value(v), hop);
}

static void test_line_and_costs(void **state)
{
    (void)state;
    json_t *g = graph("{\"a\":{\"b\":1,\"d\":5},\"b\":{\"a\":1,\"c\":1},\"c\":{\"b\":1,\"d\":5},"
                      "\"d\":{\"a\":5,\"c\":5}}");
    json_t *pc;
    json_t *t = routing_compute("a", g, &pc);
    expect_hop(t, "b", "b");
    expect_hop(t, "c", "b");
    expect_hop(t, "d", "d");
    assert_true(json_real_value(json_object_get(pc, "c")) == 2.0);
    json_decref(t);
    json_decref(pc);
    /* make a-b expensive: c is now reached through d */
    json_object_set_new(json_object_get(g, "a"), "b", json_real(20));
    t = routing_compute("a", g, NULL);
    expect_hop(t, "c", "d");
    expect_hop(t, "b", "d");
    json_decref(t);
    json_decref(g);
}

static void test_neighbour_only_is_unroutable(void **state)
{
    (void)state;
    /* x appears only as b's neighbour: no route, as upstream */
    json_t *g = graph("{\"a\":{\"b\":1},\"b\":{\"a\":1,\"x\":1}}");
    json_t *t = routing_compute("a", g, NULL);
    expect_hop(t, "b", "b");
    expect_hop(t, "x", NULL);
    expect_hop(t, "a", NULL);
    json_decref(t);
    json_decref(g);
}

static void test_disconnected(void **state)
{
    (void)state;
    json_t *g = graph("{\"a\":{},\"b\":{\"c\":1},\"c\":{\"b\":1}}");
    json_t *t = routing_compute("a", g, NULL);
    assert_int_equal(json_object_size(t), 0);
    json_decref(t);
    json_decref(g);
}

static void test_firewall(void **state)
{
    (void)state;
    char err[200];
    struct firewall fw;
    json_t *rules = graph("[{\"action\":\"accept\",\"fromnode\":\"a\"},"
                          "{\"Action\":\"REJECT\",\"toservice\":\"/(?i)PI.*/\"},"
                          "{\"action\":\"drop\",\"tonode\":\"/n[0-9]+/\"}]");
    assert_int_equal(firewall_load(&fw, rules, err, sizeof err), 0);
    assert_int_equal(firewall_check(&fw, "a", "b", "x", "ping"), FW_ACCEPT);
    assert_int_equal(firewall_check(&fw, "c", "b", "x", "ping"), FW_REJECT);
    assert_int_equal(firewall_check(&fw, "c", "n12", "x", "control"), FW_DROP);
    assert_int_equal(firewall_check(&fw, "c", "n12x", "x", "control"), FW_ACCEPT); /* anchored */
    firewall_free(&fw);
    json_decref(rules);
    const char *bad[] = { "[{\"fromnode\":\"a\"}]", "[{\"action\":\"maybe\"}]",
                          "[{\"action\":\"drop\",\"color\":\"red\"}]", "[{\"action\":\"drop\",\"tonode\":\"/x\"}]",
                          "[{\"action\":\"drop\",\"tonode\":\"/(/\"}]", "[{\"action\":\"drop\",\"tonode\":5}]", "{}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rules = graph(bad[i]);
        assert_int_equal(firewall_load(&fw, rules, err, sizeof err), -1);
        json_decref(rules);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_costs), cmocka_unit_test(test_neighbour_only_is_unroutable),
        cmocka_unit_test(test_disconnected), cmocka_unit_test(test_firewall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
