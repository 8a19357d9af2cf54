/* evfilter.c - see evfilter.h. */
#include "runner/evfilter.h"

#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "core/pyjson.h"

#define EVFILTER_LIMIT (1024u * 1024u * 1024u)

int evfilter_init(struct evfilter *f, evfilter_emit_fn emit, evfilter_stdout_fn out, void *ctx)
{
    memset(f, 0, sizeof *f);
    buf_init(&f->buffer, EVFILTER_LIMIT);
    buf_init(&f->json_line, EVFILTER_LIMIT);
    f->emit = emit;
    f->out = out;
    f->ctx = ctx;
    return 0;
}

void evfilter_free(struct evfilter *f)
{
    buf_free(&f->buffer);
    buf_free(&f->json_line);
    if (f->current) {
        event_free(f->current);
        free(f->current);
        f->current = NULL;
    }
}

void evfilter_set_json(struct evfilter *f, int on) { f->output_json = on; }

void evfilter_json_line(struct evfilter *f, const char *line, size_t n)
{
    if (!f->output_json)
        return;
    buf_reset(&f->json_line);
    buf_append(&f->json_line, line, n);
}

static int is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

/* Matches  ESC[K ( [b64]+ ESC[ digits D )+ ESC[K  at s[i]; returns the end
 * index or 0, collecting the base64 text into b64. */
static size_t match_marker_at(const char *s, size_t n, size_t i, struct buf *b64)
{
    size_t p = i + 3;
    int groups = 0;
    buf_reset(b64);
    for (;;) {
        size_t q = p;
        while (q < n && is_b64(s[q]))
            q++;
        if (q == p)
            break;
        if (q + 2 >= n || s[q] != '\x1b' || s[q + 1] != '[')
            return 0;
        size_t d = q + 2;
        while (d < n && s[d] >= '0' && s[d] <= '9')
            d++;
        if (d == q + 2 || d >= n || s[d] != 'D')
            return 0;
        if (buf_append(b64, s + p, q - p) < 0)
            return 0;
        groups++;
        p = d + 1;
    }
    if (groups == 0 || p + 3 > n || memcmp(s + p, "\x1b[K", 3) != 0)
        return 0;
    return p + 3;
}

static void decode_payload(struct buf *b64, struct buf *payload)
{
    /* lenient: drop nothing here (only the alphabet was collected) */
    gnutls_datum_t in = { buf_head(b64), (unsigned)buf_size(b64) }, out = { NULL, 0 };
    if (gnutls_base64_decode2(&in, &out) < 0)
        return;
    buf_append(payload, out.data, out.size);
    gnutls_free(out.data);
}

int evfilter_find_marker(const char *s, size_t n, size_t *start, size_t *end, struct buf *payload)
{
    struct buf b64;
    buf_init(&b64, n + 1);
    int found = 0;
    for (size_t i = 0; i + 3 <= n; i++) {
        const char *k = memchr(s + i, '\x1b', n - i);
        if (!k)
            break;
        i = (size_t)(k - s);
        if (i + 3 > n || k[1] != '[' || k[2] != 'K')
            continue;
        size_t e = match_marker_at(s, n, i, &b64);
        if (e) {
            *start = i;
            *end = e;
            decode_payload(&b64, payload);
            found = 1;
            break;
        }
    }
    buf_free(&b64);
    return found;
}

/* Python str.splitlines(True) boundary at s[i]: returns its length or 0. */
static size_t line_break_len(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c == '\n' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e)
        return 1;
    if (c == '\r')
        return (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
    if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
        return 2;
    if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
        ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
        return 3;
    return 0;
}

/* Length of the first splitlines() piece of s[0..n). */
static size_t first_line_len(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t b = line_break_len(s, n, i);
        if (b)
            return i + b;
    }
    return n;
}

static void emit_chunk(struct evfilter *f, struct event *ev, int verbose, const char *chunk,
                       size_t n)
{
    if (verbose) {
        char u[37];
        event_uuid4(u);
        event_set_str(ev, "uuid", u, 36);
    }
    size_t len = n;
    while (len > 0 && (chunk[len - 1] == '\n' || chunk[len - 1] == '\r'))
        len--;
    long long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += chunk[i] == '\n';
    event_set_int(ev, "counter", ++f->counter);
    event_set_str(ev, "stdout", chunk, len);
    event_set_int(ev, "start_line", f->line);
    event_set_int(ev, "end_line", f->line + lines);
    f->line += lines;
    buf_reset(&f->json_line);
    if (f->emit)
        f->emit(f->ctx, ev);
}

/* _emit_event(text, next): returns the emitted event's stdout text (for the
 * artifact file) in last_stdout, if any; in JSON mode the event's line. */
static void emit_text(struct evfilter *f, const char *text, size_t n, struct event *next,
                      struct buf *last_stdout)
{
    if (f->current) {
        emit_chunk(f, f->current, 0, text, n);
        if (last_stdout && f->output_json) {
            buf_append(last_stdout, buf_head(&f->json_line), buf_size(&f->json_line));
        } else if (last_stdout) {
            const char *v = event_get(f->current, "stdout");
            if (v)
                pyjson_unquote(v, strlen(v), last_stdout);
        }
    } else if (n > 0) {
        struct event ev; /* one dict shared by every line, as upstream */
        event_init(&ev);
        event_set_str(&ev, "event", "verbose", 7);
        size_t off = 0;
        while (off < n) {
            size_t l = first_line_len(text + off, n - off);
            emit_chunk(f, &ev, 1, text + off, l);
            off += l;
        }
        if (last_stdout && f->output_json) {
            buf_append(last_stdout, buf_head(&f->json_line), buf_size(&f->json_line));
        } else if (last_stdout) {
            const char *v = event_get(&ev, "stdout");
            if (v)
                pyjson_unquote(v, strlen(v), last_stdout);
        }
        event_free(&ev);
    }
    if (f->current) {
        event_free(f->current);
        free(f->current);
        f->current = NULL;
    }
    if (next && event_has(next, "uuid")) {
        const char *u = event_get(next, "uuid");
        if (strcmp(u, "\"\"") != 0 && strcmp(u, "null") != 0 && strcmp(u, "false") != 0 &&
            strcmp(u, "0") != 0) {
            f->current = next;
            return;
        }
    }
    if (next) {
        event_free(next);
        free(next);
    }
}

/* '\x1b[K' in (last_chunk + data), from what is remembered of last_chunk. */
static int should_search(const struct evfilter *f, const char *data, size_t n)
{
    if (f->last_had_mark || memmem(data, n, "\x1b[K", 3))
        return 1;
    char joined[4];
    size_t jn = 0;
    for (size_t i = 0; i < f->last_tail_len; i++)
        joined[jn++] = f->last_tail[i];
    for (size_t i = 0; i < n && i < 2; i++)
        joined[jn++] = data[i];
    return memmem(joined, jn, "\x1b[K", 3) != NULL;
}

static void remember_chunk(struct evfilter *f, const char *data, size_t n)
{
    f->last_had_mark = memmem(data, n, "\x1b[K", 3) != NULL;
    f->last_tail_len = n < 2 ? n : 2;
    memcpy(f->last_tail, data + n - f->last_tail_len, f->last_tail_len);
}

static void search_markers(struct evfilter *f)
{
    struct buf payload, last;
    buf_init(&payload, EVFILTER_LIMIT);
    buf_init(&last, EVFILTER_LIMIT);
    for (;;) {
        const char *s = (const char *)buf_head(&f->buffer);
        size_t n = buf_size(&f->buffer), st, en;
        buf_reset(&payload);
        if (!evfilter_find_marker(s, n, &st, &en, &payload))
            break;
        struct event *next = calloc(1, sizeof *next);
        if (!next)
            break;
        event_init(next);
        if (event_update_json(next, (const char *)buf_head(&payload), buf_size(&payload)) < 0)
            event_clear(next); /* undecodable payload counts as {} */
        buf_reset(&last);
        emit_text(f, s, st, next, &last);
        buf_consume(&f->buffer, en);
        if (buf_size(&last) > 0 && !(buf_size(&last) == 2 && memcmp(buf_head(&last), "{}", 2) == 0)) {
            buf_append(&last, "\n", 1);
            if (f->out)
                f->out(f->ctx, (const char *)buf_head(&last), buf_size(&last));
        }
        const char *rest = (const char *)buf_head(&f->buffer);
        remember_chunk(f, rest, buf_size(&f->buffer));
    }
    buf_free(&payload);
    buf_free(&last);
}

static void emit_complete_lines(struct evfilter *f)
{
    const char *s = (const char *)buf_head(&f->buffer);
    size_t n = buf_size(&f->buffer), off = 0;
    while (off < n) {
        size_t l = first_line_len(s + off, n - off);
        /* the last piece stays buffered unless it contains a newline */
        if (off + l == n && !memchr(s + off, '\n', l))
            break;
        emit_text(f, s + off, l, NULL, NULL);
        if (f->out)
            f->out(f->ctx, s + off, l);
        off += l;
    }
    buf_consume(&f->buffer, off);
}

int evfilter_write(struct evfilter *f, const char *data, size_t n)
{
    if (buf_append(&f->buffer, data, n) < 0)
        return -1;
    int search = should_search(f, data, n);
    remember_chunk(f, data, n);
    if (search) {
        search_markers(f);
    } else if (n > 0 && memchr(data, '\n', n) && !f->current) {
        emit_complete_lines(f);
    }
    return 0;
}

void evfilter_close(struct evfilter *f)
{
    if (buf_size(&f->buffer) > 0) {
        emit_text(f, (const char *)buf_head(&f->buffer), buf_size(&f->buffer), NULL, NULL);
        buf_reset(&f->buffer);
    }
}
