/* progress.c - the one-line transfer meter (see progress.h). */
#include "core/progress.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t progress_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool progress_wanted(bool quiet, bool data_on_stdout)
{
    return !quiet && isatty(2) && !(data_on_stdout && isatty(1));
}

void progress_start(struct progress *p, int fd, const char *verb, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->verb = verb;
    p->total = total;
    p->start_ms = progress_now_ms();
}

void progress_expect(struct progress *p, uint64_t more) { p->total = p->bytes + more; }

/* "12.3 MiB" */
static void human_bytes(double n, char *out, size_t len)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    size_t u = 0;
    while (n >= 1024 && u + 1 < sizeof units / sizeof *units) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%.0f B", n);
    else
        snprintf(out, len, "%.1f %s", n, units[u]);
}

static void progress_write(const struct progress *p, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(p->fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a meter that cannot be shown is not an error */
        s += w;
        n -= (size_t)w;
    }
}

static double progress_rate(const struct progress *p, int64_t now)
{
    int64_t ms = now - p->start_ms;
    return (double)p->bytes * 1000.0 / (double)(ms > 0 ? ms : 1);
}

static void progress_draw(struct progress *p, int64_t now)
{
    char done[32], total[32], rate[32], line[160];
    human_bytes((double)p->bytes, done, sizeof done);
    human_bytes(progress_rate(p, now), rate, sizeof rate);
    int n;
    if (p->total >= p->bytes && p->total > 0) {
        human_bytes((double)p->total, total, sizeof total);
        n = snprintf(line, sizeof line, "\r%s %s of %s (%d%%), %s/s", p->verb, done, total,
                     (int)(p->bytes * 100 / p->total), rate);
    } else {
        n = snprintf(line, sizeof line, "\r%s %s, %s/s", p->verb, done, rate);
    }
    size_t len = (size_t)n - 1; /* without the \r */
    while (len < p->line_len && (size_t)n + 1 < sizeof line) {
        line[n++] = ' '; /* cover the end of a longer previous line */
        len++;
    }
    progress_write(p, line, (size_t)n);
    p->line_len = (size_t)n - 1;
    p->drawn = p->shown = true;
    p->drawn_ms = now;
}

void progress_add(struct progress *p, uint64_t n)
{
    if (p->fd < 0)
        return;
    p->bytes += n;
    if (p->bytes < PROGRESS_MIN_BYTES)
        return;
    int64_t now = progress_now_ms();
    if (!p->shown || now - p->drawn_ms >= PROGRESS_REDRAW_MS)
        progress_draw(p, now);
}

void progress_break(struct progress *p)
{
    if (p->fd < 0 || !p->drawn)
        return;
    progress_write(p, "\n", 1);
    p->drawn = false;
    p->line_len = 0;
}

void progress_end(struct progress *p)
{
    if (p->fd < 0 || !p->shown)
        return;
    int64_t now = progress_now_ms();
    char done[32], rate[32], line[160];
    human_bytes((double)p->bytes, done, sizeof done);
    human_bytes(progress_rate(p, now), rate, sizeof rate);
    int n = snprintf(line, sizeof line, "%s%s %s in %.1f s, %s/s", p->drawn ? "\r" : "", p->verb,
                     done, (double)(now - p->start_ms) / 1000.0, rate);
    size_t len = (size_t)n - (p->drawn ? 1 : 0);
    while (len < p->line_len && (size_t)n + 2 < sizeof line) {
        line[n++] = ' ';
        len++;
    }
    line[n++] = '\n';
    progress_write(p, line, (size_t)n);
    p->drawn = p->shown = false;
    p->line_len = 0;
}
