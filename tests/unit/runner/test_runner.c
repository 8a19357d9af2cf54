/* test_runner.c - unit tests of the runner stream parsers: the
 * event-marker filter (fed with the real
 * display-callback capture) and the base64 blob reader.  Zip safety
 * (escaping entries and symlinks) is tested end to end, with real
 * ansible-runner-c processes, in tests/integration/runner/test_zip_escape.py
 * and test_hostile_interop.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner/event.h"
#include "runner/evfilter.h"
#include "runner/rio.h"

struct collected {
    int events;
    long long last_counter;
    int with_uuid_payload;
    struct buf stdout_text;
};

static void collect_event(void *ctx, struct event *ev)
{
    struct collected *c = ctx;
    c->events++;
    const char *counter = event_get(ev, "counter");
    assert_non_null(counter);
    assert_int_equal(atoll(counter), c->last_counter + 1);
    c->last_counter = atoll(counter);
    if (!event_has(ev, "event"))
        c->with_uuid_payload++;
}

static void collect_stdout(void *ctx, const char *text, size_t n)
{
    struct collected *c = ctx;
    buf_append(&c->stdout_text, text, n);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static void test_evfilter_display_callback_capture(void **state)
{
    (void)state;
    size_t len = 0;
    char *raw = slurp(VECTORS_DIR "/runner/display-callback.raw", &len);
    if (!raw)
        skip();
    /* feed in awkward chunk sizes so markers are split across writes */
    /* (1- and 2-byte chunks can never show a whole ESC[K, upstream included) */
    for (size_t chunk = 3; chunk <= 4099; chunk += 512) {
        struct collected c = { 0, 0, 0, { 0 } };
        buf_init(&c.stdout_text, 1 << 24);
        struct evfilter f;
        evfilter_init(&f, collect_event, collect_stdout, &c);
        for (size_t off = 0; off < len; off += chunk)
            evfilter_write(&f, raw + off, len - off < chunk ? len - off : chunk);
        evfilter_close(&f);
        evfilter_free(&f);
        /* one callback event per partial file of the capture */
        assert_int_equal(c.with_uuid_payload, 9);
        assert_int_equal(c.events, 9);
        buf_free(&c.stdout_text);
    }
    free(raw);
}

static void test_evfilter_verbose_lines(void **state)
{
    (void)state;
    struct collected c = { 0, 0, 0, { 0 } };
    buf_init(&c.stdout_text, 1 << 20);
    struct evfilter f;
    evfilter_init(&f, collect_event, collect_stdout, &c);
    const char *text = "ERROR! the playbook: x.yml could not be found\r\nsecond\r\npartial";
    evfilter_write(&f, text, strlen(text));
    assert_int_equal(c.events, 2);
    evfilter_close(&f);
    assert_int_equal(c.events, 3);
    const char *s;
    buf_cstr(&c.stdout_text, &s);
    assert_string_equal(s, "ERROR! the playbook: x.yml could not be found\r\nsecond\r\n");
    evfilter_free(&f);
    buf_free(&c.stdout_text);
}

static void test_marker_find(void **state)
{
    (void)state;
    const char *s = "abc\x1b[KeyJ1dWlkIjogIngifQ==\x1b[24D\x1b[Kdef";
    size_t st, en;
    struct buf p;
    buf_init(&p, 1024);
    assert_int_equal(evfilter_find_marker(s, strlen(s), &st, &en, &p), 1);
    assert_int_equal(st, 3);
    assert_int_equal(en, strlen(s) - 3);
    const char *pj;
    buf_cstr(&p, &pj);
    assert_string_equal(pj, "{\"uuid\": \"x\"}");
    buf_free(&p);
    assert_int_equal(evfilter_find_marker("\x1b[K\x1b[K", 6, &st, &en, &p), 0);
}

static void test_blob_reader(void **state)
{
    (void)state;
    /* "hello" = aGVsbG8=, wrapped, followed directly by the next line */
    const char *in = "aGVs\r\nbG8={\"eof\": true}\n";
    int fds[2], out[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pipe(out), 0);
    assert_int_equal(write(fds[1], in, strlen(in)), (ssize_t)strlen(in));
    close(fds[1]);
    struct rio r;
    rio_init(&r, fds[0]);
    char err[256];
    assert_int_equal(rio_read_blob(&r, 5, out[1], err, sizeof err), 0);
    close(out[1]);
    char got[16] = { 0 };
    assert_int_equal(read(out[0], got, sizeof got), 5);
    assert_string_equal(got, "hello");
    struct buf line;
    buf_init(&line, 1024);
    assert_int_equal(rio_readline(&r, &line), 1);
    assert_int_equal(buf_size(&line), 14);
    buf_free(&line);
    rio_free(&r);
    close(fds[0]);
    close(out[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evfilter_display_callback_capture),
        cmocka_unit_test(test_evfilter_verbose_lines),
        cmocka_unit_test(test_marker_find),
        cmocka_unit_test(test_blob_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
