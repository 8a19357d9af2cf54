/* Shortest paths over advertised costs, the unroutable-neighbour rule, and
 * firewall rule matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
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

static void test_equal_costs_go_to_the_smaller_predecessor(void **state)
{
    (void)state;
    /* t costs 3 through z (settled first, at 1) and through a (at 2): a */
    json_t *g = graph("{\"s\":{\"z\":1,\"a\":2},\"z\":{\"s\":1,\"t\":2},"
                      "\"a\":{\"s\":2,\"t\":1},\"t\":{\"a\":1,\"z\":2}}");
    json_t *t = routing_compute("s", g, NULL);
    expect_hop(t, "t", "a");
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

/* ---- the heap Dijkstra settles nodes as the plain O(V^2) scan did -------- */

static int ref_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The former routing_compute: O(V^2) scan, lowest distance then lowest
 * index (names sorted, self first), equal costs to the smaller
 * predecessor.  dest -> [next hop, cost]. */
static json_t *reference_compute(const char *self, json_t *costs)
{
    size_t n = json_object_size(costs) + 1, v = 0;
    const char **names = malloc(n * sizeof *names);
    double *dist = malloc(n * sizeof *dist);
    int *prev = malloc(n * sizeof *prev);
    char *done = calloc(n, 1);
    names[v++] = self;
    const char *k;
    json_t *row, *c;
    json_object_foreach(costs, k, row)
        if (strcmp(k, self) != 0)
            names[v++] = k;
    n = v;
    qsort(names + 1, n - 1, sizeof *names, ref_cmp);
    for (size_t i = 0; i < n; i++) {
        dist[i] = 1e300;
        prev[i] = -1;
    }
    dist[0] = 0;
    for (;;) {
        int u = -1;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && dist[i] < 1e300 && (u < 0 || dist[i] < dist[u]))
                u = (int)i;
        if (u < 0)
            break;
        done[u] = 1;
        json_object_foreach(json_object_get(costs, names[u]), k, c) {
            int w = -1;
            for (size_t i = 0; i < n; i++)
                if (!strcmp(names[i], k))
                    w = (int)i;
            if (w < 0)
                continue;
            double nd = dist[u] + json_number_value(c);
            if (nd < dist[w] || (nd == dist[w] && prev[w] >= 0 && strcmp(names[u], names[prev[w]]) < 0 && !done[w])) {
                dist[w] = nd;
                prev[w] = u;
            }
        }
    }
    json_t *out = json_object();
    for (size_t d = 1; d < n; d++) {
        size_t hop = d, guard = 0;
        if (prev[d] < 0)
            continue;
        while (prev[hop] > 0 && guard++ < n)
            hop = (size_t)prev[hop];
        if (prev[hop] == 0)
            json_object_set_new(out, names[d], json_pack("[s,f]", names[hop], dist[d]));
    }
    free(names);
    free(dist);
    free(prev);
    free(done);
    return out;
}

static void test_same_routes_as_the_plain_scan(void **state)
{
    (void)state;
    srand(1234);
    for (int round = 0; round < 300; round++) {
        int nn = 2 + rand() % 40;
        json_t *g = json_object();
        char a[16], b[16];
        for (int i = 0; i < nn; i++) {
            snprintf(a, sizeof a, "n%d", rand() % 1000); /* random order, some repeats */
            if (!json_object_get(g, a))
                json_object_set_new(g, a, json_object());
        }
        const char *k;
        json_t *row;
        json_object_foreach(g, k, row) {
            int links = rand() % 5;
            for (int l = 0; l < links; l++) {
                snprintf(b, sizeof b, "n%d", rand() % 1000);
                if (rand() % 4 == 0)
                    snprintf(b, sizeof b, "x%d", rand() % 5); /* neighbour only */
                /* few distinct costs: many equal-cost ties */
                json_object_set_new(row, b, json_real((double)(1 + rand() % 3) * (rand() % 2 ? 1 : 0.5)));
            }
        }
        json_object_foreach(g, k, row) {
            json_t *pc = NULL;
            json_t *t = routing_compute(k, g, &pc);
            json_t *want = reference_compute(k, g);
            assert_int_equal(json_object_size(t), json_object_size(want));
            const char *d;
            json_t *w;
            json_object_foreach(want, d, w) {
                expect_hop(t, d, json_string_value(json_array_get(w, 0)));
                assert_true(json_real_value(json_object_get(pc, d)) == json_real_value(json_array_get(w, 1)));
            }
            json_decref(t);
            json_decref(pc);
            json_decref(want);
        }
        json_decref(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_costs), cmocka_unit_test(test_neighbour_only_is_unroutable),
        cmocka_unit_test(test_disconnected), cmocka_unit_test(test_firewall),
        cmocka_unit_test(test_same_routes_as_the_plain_scan),
        cmocka_unit_test(test_equal_costs_go_to_the_smaller_predecessor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
