/* test_bridge.c - core/bridge.c with fake streams: a bridge ends once,
 * whichever side closes first and however its peer reports its close
 * (QUIC streams report on_close from inside close(), sockets later). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/bridge.h"

struct fake {
    struct bstream s;
    int closed;
    int sync_close;     /* on_close from inside close() */
};

static int f_write(struct bstream *s, const uint8_t *d, size_t n) { (void)s; (void)d; (void)n; return 0; }
static size_t f_queued(struct bstream *s) { (void)s; return 0; }
static void f_nop(struct bstream *s) { (void)s; }

static void f_close(struct bstream *s)
{
    struct fake *f = (struct fake *)s;
    if (f->closed)
        return;
    f->closed = 1;
    if (f->sync_close && s->on_close)
        s->on_close(s);
}

static const struct bstream_ops fake_ops = { f_write, f_queued, f_nop, f_nop, f_nop, f_close };

/* The stream closing on its own (a failed socket, an ended terminal). */
static void fake_closes_itself(struct fake *f)
{
    f->closed = 1;
    f->s.on_close(&f->s);
}

static int done_calls;
static void on_done(void *arg) { (void)arg; done_calls++; }

static void test_bridge_ends_once_when_a_side_closes_first(void **state)
{
    (void)state;
    struct fake a = { .s.ops = &fake_ops, .sync_close = 1 }; /* a QUIC stream */
    struct fake b = { .s.ops = &fake_ops };                  /* a socket */
    done_calls = 0;
    bridge_start(&a.s, &b.s, NULL, 0, on_done, NULL);
    fake_closes_itself(&b);
    assert_int_equal(a.closed, 1);
    assert_int_equal(done_calls, 1);
}

static void test_bridge_ends_once_when_both_close_later(void **state)
{
    (void)state;
    struct fake a = { .s.ops = &fake_ops };
    struct fake b = { .s.ops = &fake_ops };
    done_calls = 0;
    bridge_start(&a.s, &b.s, NULL, 0, on_done, NULL);
    fake_closes_itself(&a);
    assert_int_equal(b.closed, 1);
    assert_int_equal(done_calls, 0);
    b.s.on_close(&b.s);
    assert_int_equal(done_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bridge_ends_once_when_a_side_closes_first),
        cmocka_unit_test(test_bridge_ends_once_when_both_close_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
