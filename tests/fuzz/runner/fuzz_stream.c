/* fuzz_stream.c - libFuzzer target: one input is treated as a control line
 * (PyJSON validation, canonical form, member walk) and as pty output for
 * the event-marker filter, the two parsers that see hostile bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runner/evfilter.h"
#include "core/pyjson.h"

static int count_member(const struct pyjson_member *m, void *ctx)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}

static void on_event(void *ctx, struct event *ev)
{
    (void)ctx;
    (void)ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct buf out;
    buf_init(&out, 1 << 24);
    if (pyjson_canon(s, size, true, &out) != PYJSON_INVALID) {
        /* canonical output must itself be valid and a fixed point */
        struct buf again;
        buf_init(&again, 1 << 24);
        if (pyjson_canon((const char *)buf_head(&out), buf_size(&out), true, &again) == PYJSON_INVALID ||
            buf_size(&again) != buf_size(&out) ||
            memcmp(buf_head(&again), buf_head(&out), buf_size(&out)) != 0)
            __builtin_trap();
        buf_free(&again);
    }
    buf_free(&out);
    int n = 0;
    pyjson_members(s, size, count_member, &n);
    struct evfilter f;
    evfilter_init(&f, on_event, NULL, NULL);
    size_t half = size / 2;
    evfilter_write(&f, s, half);
    evfilter_write(&f, s + half, size - half);
    evfilter_close(&f);
    evfilter_free(&f);
    return 0;
}
