/* The index of which rows list a node (mesh/listers.c) against the rows
 * themselves: random rows are set, replaced and cut, and after every step
 * the index must name exactly the rows that list each node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/listers.h"

#define NODES 40

static int rows[NODES][NODES]; /* rows[a][b]: a's row lists b */
static char names[NODES][16];

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void check_all(struct listers *t)
{
    for (int b = 0; b < NODES; b++) {
        const char **by;
        size_t n;
        assert_int_equal(listers_of(t, names[b], &by, &n), 0);
        const char *want[NODES];
        size_t nwant = 0;
        for (int a = 0; a < NODES; a++)
            if (rows[a][b])
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

static void test_matches_the_rows(void **state)
{
    (void)state;
    struct listers t;
    listers_init(&t);
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < NODES; i++)
        snprintf(names[i], sizeof names[i], "node-%d", i);
    srand(7);
    for (int step = 0; step < 3000; step++) {
        int a = rand() % NODES, b = rand() % NODES;
        switch (rand() % 3) {
        case 0: /* a's row gains b (twice sometimes: idempotent) */
            listers_add(&t, names[b], names[a]);
            if (rand() % 4 == 0)
                listers_add(&t, names[b], names[a]);
            rows[a][b] = 1;
            break;
        case 1: /* a's row loses b, listed or not */
            listers_del(&t, names[b], names[a]);
            rows[a][b] = 0;
            break;
        default: /* a's row replaced by a random one */
            for (int p = 0; p < NODES; p++) {
                int now = rand() % 8 == 0;
                if (rows[a][p] && !now)
                    listers_del(&t, names[p], names[a]);
                else if (!rows[a][p] && now)
                    listers_add(&t, names[p], names[a]);
                rows[a][p] = now;
            }
        }
        if (step % 50 == 0)
            check_all(&t);
    }
    check_all(&t);
    assert_false(listers_should_rebuild(&t, NODES));
    listers_free(&t);
}

static void test_unknown_names_and_growth(void **state)
{
    (void)state;
    struct listers t;
    listers_init(&t);
    const char **by;
    size_t n;
    assert_int_equal(listers_of(&t, "nobody", &by, &n), 0);
    assert_int_equal(n, 0);
    assert_null(by);
    listers_del(&t, "nobody", "else"); /* nothing to remove: no-op */
    /* rows naming ever new peers: the index asks to be rebuilt */
    char a[32], b[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(a, sizeof a, "hostile-%d", i);
        snprintf(b, sizeof b, "peer-%d", i);
        listers_add(&t, b, a);
        listers_del(&t, b, a);
    }
    assert_true(listers_should_rebuild(&t, 10));
    assert_false(listers_should_rebuild(&t, 3000));
    listers_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_the_rows),
        cmocka_unit_test(test_unknown_names_and_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
