/* The link-state database (mesh/lsdb.c) against a plain matrix: random
 * rows are set whole, edges added and dropped, and after every few steps
 * every row and the index the other way ("which rows list X") must match
 * the matrix exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/lsdb.h"

#define NODES 40

static double rows[NODES][NODES]; /* rows[a][b]: cost of b in a's row, 0 = not listed */
static int has_row[NODES];
static char names[NODES][16];

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *row_of(int a)
{
    json_t *o = json_object();
    for (int b = 0; b < NODES; b++)
        if (rows[a][b] > 0)
            json_object_set_new(o, names[b], json_real(rows[a][b]));
    return o;
}

static void check_all(struct lsdb *db)
{
    size_t nrows = 0;
    for (int a = 0; a < NODES; a++) {
        const struct lsdb_entry *e = lsdb_row(db, names[a]);
        assert_int_equal(e != NULL, has_row[a]);
        if (!e)
            continue;
        nrows++;
        json_t *want = row_of(a);
        assert_true(lsdb_row_equals(db, names[a], want));
        json_t *got = lsdb_row_json(db, e);
        assert_true(json_equal(got, want));
        json_decref(got);
        json_decref(want);
        for (int b = 0; b < NODES; b++)
            assert_int_equal(lsdb_lists(db, names[a], names[b]), rows[a][b] > 0);
    }
    assert_int_equal(lsdb_rows(db), nrows);
    for (int b = 0; b < NODES; b++) {
        const char **by;
        size_t n;
        assert_int_equal(lsdb_listers(db, names[b], &by, &n), 0);
        const char *want[NODES];
        size_t nwant = 0;
        for (int a = 0; a < NODES; a++)
            if (rows[a][b] > 0)
                want[nwant++] = names[a];
        assert_int_equal(n, nwant);
        if (n)
            qsort(by, n, sizeof *by, cmp_str);
        qsort(want, nwant, sizeof *want, cmp_str);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(by[i], want[i]);
        free(by);
    }
}

static void test_matches_a_matrix(void **state)
{
    (void)state;
    struct lsdb db;
    lsdb_init(&db);
    memset(rows, 0, sizeof rows);
    memset(has_row, 0, sizeof has_row);
    for (int i = 0; i < NODES; i++)
        snprintf(names[i], sizeof names[i], "node-%d", i);
    srand(7);
    for (int step = 0; step < 3000; step++) {
        int a = rand() % NODES, b = rand() % NODES;
        double cost = 1 + rand() % 4;
        switch (rand() % 4) {
        case 0: /* an edge set, twice sometimes: the second replaces the cost */
            assert_int_equal(lsdb_set_edge(&db, names[a], names[b], cost), 0);
            if (rand() % 4 == 0)
                assert_int_equal(lsdb_set_edge(&db, names[a], names[b], cost += 0.5), 0);
            rows[a][b] = cost;
            has_row[a] = 1;
            break;
        case 1: /* an edge dropped, listed or not */
            assert_int_equal(lsdb_del_edge(&db, names[a], names[b]), rows[a][b] > 0);
            rows[a][b] = 0;
            break;
        default: { /* a's row replaced by a random one */
            for (int p = 0; p < NODES; p++)
                rows[a][p] = rand() % 8 == 0 ? 1 + rand() % 4 : 0;
            json_t *r = row_of(a);
            json_object_set_new(r, "not-a-cost", json_string("x")); /* skipped */
            assert_int_equal(lsdb_set_row(&db, names[a], r), 0);
            json_decref(r);
            has_row[a] = 1;
        }
        }
        if (step % 50 == 0)
            check_all(&db);
    }
    check_all(&db);
    json_t *all = lsdb_json(&db);
    assert_int_equal(json_object_size(all), lsdb_rows(&db));
    json_decref(all);
    lsdb_free(&db);
}

static void test_equality_is_exact(void **state)
{
    (void)state;
    struct lsdb db;
    lsdb_init(&db);
    json_t *r = json_pack("{s:f,s:f}", "b", 1.0, "c", 2.0);
    assert_false(lsdb_row_equals(&db, "a", r)); /* no row yet */
    assert_int_equal(lsdb_set_row(&db, "a", r), 0);
    assert_true(lsdb_row_equals(&db, "a", r));
    json_object_set_new(r, "c", json_real(2.5));
    assert_false(lsdb_row_equals(&db, "a", r)); /* a cost changed */
    json_object_set_new(r, "c", json_real(2.0));
    json_object_set_new(r, "d", json_real(1.0));
    assert_false(lsdb_row_equals(&db, "a", r)); /* one more peer */
    json_decref(r);
    /* an empty row is a row: the node is known */
    assert_int_equal(lsdb_set_row(&db, "e", NULL), 0);
    assert_non_null(lsdb_row(&db, "e"));
    assert_null(lsdb_row(&db, "b")); /* only listed */
    lsdb_free(&db);
}

static void test_ever_new_names_are_compacted(void **state)
{
    (void)state;
    struct lsdb db;
    lsdb_init(&db);
    const char **by;
    size_t n;
    assert_int_equal(lsdb_listers(&db, "nobody", &by, &n), 0);
    assert_int_equal(n, 0);
    assert_null(by);
    assert_int_equal(lsdb_del_edge(&db, "nobody", "else"), 0);
    /* one row that names ever new peers: the table does not keep them all */
    char b[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(b, sizeof b, "peer-%d", i);
        json_t *r = json_pack("{s:f,s:f}", b, 1.0, "stays", 1.0);
        assert_int_equal(lsdb_set_row(&db, "hostile", r), 0);
        json_decref(r);
    }
    assert_true(db.count <= 1024 + 2 * 3);
    assert_true(lsdb_lists(&db, "hostile", "peer-19999"));
    assert_true(lsdb_lists(&db, "hostile", "stays"));
    assert_false(lsdb_lists(&db, "hostile", "peer-19998"));
    assert_int_equal(lsdb_listers(&db, "stays", &by, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(by[0], "hostile");
    free(by);
    lsdb_free(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_a_matrix),
        cmocka_unit_test(test_equality_is_exact),
        cmocka_unit_test(test_ever_new_names_are_compacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
