/* util.c - see util.h. */
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void util_random_id(char *out, size_t n)
{
    static const char alnum[] =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    unsigned char rnd[64];
    size_t done = 0;
    while (done < n) {
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
            abort();
        for (size_t i = 0; i < sizeof rnd && done < n; i++)
            if (rnd[i] < 248) /* 248 = 4 * 62: no modulo bias */
                out[done++] = alnum[rnd[i] % 62];
    }
    out[n] = 0;
}

uint64_t util_random_u64(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        abort();
    return v;
}

int64_t util_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t util_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void util_format_rfc3339(int64_t ns, char *out, size_t len)
{
    time_t secs = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[40];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac == 0) {
        snprintf(out, len, "%sZ", base);
        return;
    }
    char fs[16];
    snprintf(fs, sizeof fs, "%09ld", frac);
    size_t n = strlen(fs);
    while (n > 0 && fs[n - 1] == '0')
        fs[--n] = 0;
    snprintf(out, len, "%s.%sZ", base, fs);
}

/* Seconds since 1970 and the fraction in nanoseconds. */
static int parse_rfc3339_parts(const char *s, int64_t *secs, long *frac_ns)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    long frac = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        if (digits == 0)
            return -1;
        while (digits++ < 9)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        /* exactly [+-]HH:MM, as Go's RFC 3339 parser wants */
        int sign = *p == '-' ? -1 : 1;
        for (int i = 1; i <= 5; i++)
            if (i == 3 ? p[i] != ':' : !(p[i] >= '0' && p[i] <= '9'))
                return -1;
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh > 23 || mm > 59)
            return -1;
        off = sign * (hh * 3600L + mm * 60L);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *secs = (int64_t)timegm(&tm) - off;
    *frac_ns = frac;
    return 0;
}

int util_parse_rfc3339(const char *s, int64_t *ns)
{
    int64_t secs, whole;
    long frac;
    if (parse_rfc3339_parts(s, &secs, &frac) < 0)
        return -1;
    /* Nanoseconds since 1970 in an int64 reach the years 1677 to 2262; a
     * time outside that is refused, not wrapped. */
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &whole) ||
        __builtin_add_overflow(whole, (int64_t)frac, ns))
        return -1;
    return 0;
}

int util_parse_rfc3339_seconds(const char *s, int64_t *secs)
{
    long frac;
    return parse_rfc3339_parts(s, secs, &frac);
}

int util_safe_component(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return strchr(s, '/') == NULL;
}

char *util_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

int util_mkdir_p(const char *path, mode_t parent_mode, mode_t leaf_mode)
{
    char *p = strdup(path);
    if (!p)
        return -1;
    int first_err = 0;
    for (char *q = p + 1; (q = strchr(q, '/')); q++) {
        *q = 0;
        if (mkdir(p, parent_mode) < 0 && errno != EEXIST && !first_err)
            first_err = errno;
        *q = '/';
    }
    int rc = mkdir(p, leaf_mode) < 0 && errno != EEXIST ? -1 : 0;
    int e = first_err ? first_err : errno;
    free(p);
    if (rc < 0)
        errno = e;
    return rc;
}

char *util_path_join(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir)
        return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", dir, path);
    return out;
}

char *util_abspath(const char *path)
{
    char cwd[PATH_MAX];
    return util_path_join(getcwd(cwd, sizeof cwd), path);
}

char *util_vasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    return s;
}

char *util_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = util_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

pid_t util_spawn_quiet(const char *const argv[])
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
    }
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

int util_run_quiet(const char *const argv[])
{
    pid_t pid = util_spawn_quiet(argv);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
