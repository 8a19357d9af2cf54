/* kube_log.c - see kube_log.h.  A timestamp is accepted only in the shape
 * the API server writes (digits, 'T', 'Z', ':', '.', '+', '-'): it goes back
 * to the server as sinceTime=, so it must not carry '&', '#' or spaces into
 * the request. */
#include "work/kube_log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int ts_char_ok(char ch)
{
    return (ch >= '0' && ch <= '9') || ch == 'T' || ch == 'Z' || ch == ':' || ch == '.' || ch == '+' ||
           ch == '-';
}

void kube_log_stream_start(struct kube_log *l)
{
    l->in_body = 0;
    l->cur_ts_len = 0;
    l->seen_same = 0;
    l->wrote_this_stream = 0;
}

static int line_is_new(struct kube_log *l)
{
    if (!l->last_ts[0] || l->wrote_this_stream)
        return 1;
    int c = strcmp(l->cur_ts, l->last_ts); /* RFC 3339 with fixed nanoseconds sorts as text */
    if (c < 0)
        return 0;
    if (c > 0)
        return 1;
    return ++l->seen_same > l->last_same;
}

static void line_committed(struct kube_log *l)
{
    if (strcmp(l->cur_ts, l->last_ts) == 0) {
        l->last_same++;
    } else {
        memcpy(l->last_ts, l->cur_ts, l->cur_ts_len + 1);
        l->last_same = 1;
    }
    l->wrote_this_stream = 1;
    if (l->commit)
        l->commit(l->arg);
}

/* Reads timestamp bytes up to the space; returns bytes used, or -1. */
static long read_ts(struct kube_log *l, const char *p, size_t n)
{
    const char *sp = memchr(p, ' ', n);
    size_t take = sp ? (size_t)(sp - p) : n;
    for (size_t i = 0; i < take; i++) {
        if (!ts_char_ok(p[i]) || l->cur_ts_len + 1 >= sizeof l->cur_ts) {
            snprintf(l->err, sizeof l->err, "the log stream has a line without a timestamp");
            return -1;
        }
        l->cur_ts[l->cur_ts_len++] = p[i];
    }
    if (!sp)
        return (long)take;
    if (l->cur_ts_len == 0) {
        snprintf(l->err, sizeof l->err, "the log stream has a line without a timestamp");
        return -1;
    }
    l->cur_ts[l->cur_ts_len] = '\0';
    l->in_body = 1;
    l->skip_line = !line_is_new(l);
    return (long)take + 1;
}

int kube_log_feed(struct kube_log *l, const char *p, size_t n)
{
    while (n > 0) {
        if (!l->in_body) {
            long used = read_ts(l, p, n);
            if (used < 0)
                return -1;
            p += used;
            n -= (size_t)used;
            continue;
        }
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (!l->skip_line && l->write(l->arg, p, take) < 0) {
            snprintf(l->err, sizeof l->err, "writing to stdout: %s", strerror(errno));
            return -1;
        }
        p += take;
        n -= take;
        if (nl) {
            if (!l->skip_line)
                line_committed(l);
            l->in_body = 0;
            l->cur_ts_len = 0;
        }
    }
    return 0;
}
