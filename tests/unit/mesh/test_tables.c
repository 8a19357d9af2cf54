/* The node's compact tables: seen UpdateIDs (mesh/seen.c) and the newest
 * update per originator (mesh/origins.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh/origins.h"
#include "mesh/seen.h"

static int has(struct seen *s, const char *id) { return seen_has(s, id, strlen(id)); }
static int add(struct seen *s, const char *id, int64_t at) { return seen_add(s, id, strlen(id), at); }

static void test_seen_remembers_and_expires(void **state)
{
    (void)state;
    struct seen s;
    seen_init(&s);
    assert_false(has(&s, "abcdefgh"));
    assert_int_equal(add(&s, "abcdefgh", 100), 1);
    assert_int_equal(add(&s, "abcdefgh", 200), 0); /* a copy */
    assert_true(has(&s, "abcdefgh"));
    assert_false(has(&s, "abcdefgi"));
    char id[16];
    for (int i = 0; i < 5000; i++) { /* grows past many rehashes */
        snprintf(id, sizeof id, "id%06d", i);
        assert_int_equal(add(&s, id, i < 2500 ? 1000 : 2000), 1);
    }
    assert_int_equal(seen_count(&s), 5001);
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "id%06d", i);
        assert_true(has(&s, id));
    }
    size_t before = seen_bytes(&s);
    seen_expire(&s, 1500); /* forgets abcdefgh (100) and the first half */
    assert_int_equal(seen_count(&s), 2500);
    assert_true(seen_bytes(&s) < before); /* shrinks with what it holds */
    assert_false(has(&s, "abcdefgh"));
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "id%06d", i);
        assert_int_equal(has(&s, id), i >= 2500);
    }
    seen_expire(&s, 5000);
    assert_int_equal(seen_count(&s), 0);
    assert_int_equal(add(&s, "again", 1), 1);
    seen_clear(&s);
    assert_false(has(&s, "again"));
    seen_free(&s);
}

static void test_origins_keep_the_newest_update(void **state)
{
    (void)state;
    struct origins t;
    origins_init(&t);
    assert_null(origins_get(&t, "a"));
    char name[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "node-%d", i);
        assert_int_equal(origins_set(&t, name, 7, (uint64_t)i, "UPD00001", i), 0);
    }
    assert_int_equal(origins_count(&t), 3000);
    assert_int_equal(origins_set(&t, "node-42", 8, 1, "NEWER123", 99), 0);
    assert_int_equal(origins_count(&t), 3000); /* replaced, not added */
    const struct origin *o = origins_get(&t, "node-42");
    assert_non_null(o);
    assert_int_equal(o->epoch, 8);
    assert_int_equal(o->sequence, 1);
    assert_string_equal(o->update_id, "NEWER123");
    assert_int_equal(o->accepted_at, 99);
    /* insertion order, for the table exchange */
    for (uint32_t i = 0; i < t.count; i++) {
        snprintf(name, sizeof name, "node-%u", i);
        assert_string_equal(t.e[i].name, name);
        assert_ptr_equal(origins_get(&t, name), &t.e[i]);
    }
    origins_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seen_remembers_and_expires),
        cmocka_unit_test(test_origins_keep_the_newest_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
