/* event.c - see event.h. */
#include "runner/event.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pyjson.h"

#define EVENT_VALUE_LIMIT (1024u * 1024u * 1024u)

void event_init(struct event *e) { memset(e, 0, sizeof *e); }

void event_clear(struct event *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->m[i].key);
        free(e->m[i].val);
    }
    e->n = 0;
}

void event_free(struct event *e)
{
    event_clear(e);
    free(e->m);
    memset(e, 0, sizeof *e);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

int event_set_raw(struct event *e, const char *key, const char *val, size_t vlen)
{
    char *v = dup_n(val, vlen);
    if (!v)
        return -1;
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->m[i].key, key) == 0) {
            free(e->m[i].val);
            e->m[i].val = v;
            return 0;
        }
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        struct event_member *m = realloc(e->m, cap * sizeof *m);
        if (!m) {
            free(v);
            return -1;
        }
        e->m = m;
        e->cap = cap;
    }
    e->m[e->n].key = strdup(key);
    if (!e->m[e->n].key) {
        free(v);
        return -1;
    }
    e->m[e->n++].val = v;
    return 0;
}

int event_set_str(struct event *e, const char *key, const char *s, size_t n)
{
    struct buf b;
    buf_init(&b, EVENT_VALUE_LIMIT);
    int rc = pyjson_put_string(&b, s, n, true);
    if (rc == 0)
        rc = event_set_raw(e, key, (const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
    return rc;
}

int event_set_int(struct event *e, const char *key, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    return event_set_raw(e, key, tmp, (size_t)n);
}

bool event_has(const struct event *e, const char *key) { return event_get(e, key) != NULL; }

const char *event_get(const struct event *e, const char *key)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->m[i].key, key) == 0)
            return e->m[i].val;
    return NULL;
}

struct update_ctx {
    struct event *e;
    struct buf canon;
};

static int update_cb(const struct pyjson_member *m, void *vctx)
{
    struct update_ctx *c = vctx;
    buf_reset(&c->canon);
    if (pyjson_canon(m->val, m->val_len, true, &c->canon) == PYJSON_INVALID)
        return 1;
    return event_set_raw(c->e, m->key, (const char *)buf_head(&c->canon),
                         buf_size(&c->canon)) ? 1 : 0;
}

int event_update_json(struct event *e, const char *text, size_t n)
{
    struct update_ctx c = { e, { 0 } };
    buf_init(&c.canon, EVENT_VALUE_LIMIT);
    int t = pyjson_members(text, n, update_cb, &c);
    buf_free(&c.canon);
    return t == PYJSON_OBJECT ? 0 : -1;
}

int event_dump(const struct event *e, struct buf *out)
{
    int rc = buf_append(out, "{", 1);
    for (size_t i = 0; i < e->n && rc == 0; i++) {
        if (i)
            rc = buf_append(out, ", ", 2);
        rc |= pyjson_put_string(out, e->m[i].key, strlen(e->m[i].key), true);
        rc |= buf_append(out, ": ", 2);
        rc |= buf_append_str(out, e->m[i].val);
    }
    return rc | buf_append(out, "}", 1);
}

int event_copy(struct event *dst, const struct event *src)
{
    event_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (event_set_raw(dst, src->m[i].key, src->m[i].val, strlen(src->m[i].val)) < 0)
            return -1;
    return 0;
}

void event_now_iso(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    long us = ts.tv_nsec / 1000;
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    if (us && n < len)
        snprintf(out + n, len - n, ".%06ld", us);
}

void event_uuid4(char out[37])
{
    unsigned char r[16];
    if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r) != 0)
        abort();
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
             r[12], r[13], r[14], r[15]);
}
