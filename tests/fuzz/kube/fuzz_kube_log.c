/* Fuzzes the pod log splitter (src/work/kube_log.c).  The first byte picks
 * the chunk size; the rest is a log stream as the API server sends it with
 * timestamps=true.  The stream is fed once, the output cut back to its last
 * whole line (as a reconnect does), then fed again whole in other chunks.
 * Checked: every refusal carries a message; a remembered timestamp only has
 * the characters a sinceTime= may carry; and when the first pass was
 * accepted and its lines' timestamps never go back, the replay adds nothing
 * and loses nothing (no line doubled or dropped across a reconnect). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "work/kube_log.h"

#define OUT_MAX (1u << 20)

struct out {
    char buf[OUT_MAX];
    size_t len, committed;
};

static int out_write(void *arg, const char *p, size_t n)
{
    struct out *o = arg;
    if (n > OUT_MAX - o->len)
        abort(); /* more text than input: impossible */
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static void out_commit(void *arg)
{
    struct out *o = arg;
    o->committed = o->len;
}

static int feed(struct kube_log *l, const char *p, size_t n, size_t chunk)
{
    while (n > 0) {
        size_t take = n < chunk ? n : chunk;
        if (kube_log_feed(l, p, take) < 0) {
            if (!l->err[0])
                abort();
            return -1;
        }
        p += take;
        n -= take;
    }
    return 0;
}

/* Whole lines only, each with a timestamp not before the previous one. */
static int ordered(const char *p, size_t n)
{
    if (n == 0 || p[n - 1] != '\n')
        return 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        const char *sp = memchr(p, ' ', (size_t)(nl - p));
        if (!sp)
            return 0;
        size_t len = (size_t)(sp - p);
        if (prev) {
            size_t m = len < prev_len ? len : prev_len;
            int c = memcmp(p, prev, m);
            if (c < 0 || (c == 0 && len < prev_len))
                return 0;
        }
        prev = p;
        prev_len = len;
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > OUT_MAX)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    static struct out o;
    o.len = o.committed = 0;
    struct kube_log l;
    memset(&l, 0, sizeof l);
    l.write = out_write;
    l.commit = out_commit;
    l.arg = &o;
    kube_log_stream_start(&l);
    int ok = feed(&l, p, n, chunk) == 0;
    for (const char *t = l.last_ts; *t; t++)
        if (!strchr("0123456789TZ:.+-", *t))
            abort();
    size_t first = o.committed;
    static char saved[OUT_MAX];
    memcpy(saved, o.buf, first);
    o.len = o.committed; /* the reconnect cuts back to the last whole line */
    kube_log_stream_start(&l);
    int ok2 = feed(&l, p, n, chunk * 3 + 1) == 0;
    if (ok && ok2 && ordered(p, n) && (o.committed != first || memcmp(o.buf, saved, first) != 0))
        abort();
    return 0;
}
