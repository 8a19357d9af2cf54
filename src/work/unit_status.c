/* unit_status.c - see unit_status.h. */
#include "work/unit_status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/gojson.h"

#define STATUS_MAX_SIZE (1u << 20)
#define STATUS_HEADROOM 1024

const char *unit_state_name(int state, char *buf, size_t len)
{
    static const char *names[] = { "Pending", "Running", "Succeeded", "Failed", "Canceled" };
    if (state >= 0 && state <= 4)
        return names[state];
    snprintf(buf, len, "Unknown: %d", state);
    return buf;
}

void unit_status_init(struct unit_status *st, const char *work_type)
{
    memset(st, 0, sizeof *st);
    st->detail = strdup("Unit Created");
    st->work_type = strdup(work_type ? work_type : "");
}

void unit_status_free(struct unit_status *st)
{
    free(st->detail);
    free(st->work_type);
    json_decref(st->extra);
    memset(st, 0, sizeof *st);
}

int unit_status_copy(struct unit_status *dst, const struct unit_status *src)
{
    memset(dst, 0, sizeof *dst);
    dst->state = src->state;
    dst->stdout_size = src->stdout_size;
    dst->detail = strdup(src->detail ? src->detail : "");
    dst->work_type = strdup(src->work_type ? src->work_type : "");
    dst->extra = src->extra ? json_deep_copy(src->extra) : NULL;
    return dst->detail && dst->work_type ? 0 : -1;
}

void unit_status_set_detail(struct unit_status *st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(st->detail);
    st->detail = strdup(buf);
}

char *unit_status_encode(const struct unit_status *st)
{
    json_t *o = json_object();
    json_object_set_new(o, "State", json_integer(st->state));
    json_object_set_new(o, "Detail", json_string(st->detail ? st->detail : ""));
    json_object_set_new(o, "StdoutSize", json_integer(st->stdout_size));
    json_object_set_new(o, "WorkType", json_string(st->work_type ? st->work_type : ""));
    json_object_set(o, "ExtraData", st->extra ? st->extra : json_null());
    struct buf b;
    buf_init(&b, STATUS_MAX_SIZE);
    char *out = NULL;
    if (gojson_dump(o, 0, &b) == 0 && buf_append(&b, "\n", 1) == 0 && buf_append(&b, "", 1) == 0) {
        out = malloc(buf_size(&b));
        if (out)
            memcpy(out, buf_head(&b), buf_size(&b));
    }
    buf_free(&b);
    json_decref(o);
    return out;
}

/* An integer field: a JSON integer, or (in a file read with every number
 * as a real, see below) an integral real in range. */
static int get_int64(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    double d = json_real_value(v);
    if (!json_is_real(v) || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d)
        return -1;
    *out = (int64_t)d;
    return 0;
}

int unit_status_decode(const char *text, size_t len, struct unit_status *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &je);
    /* an integer past int64 (Go writes reals below 1e21 as plain digits,
     * and so does gojson for ExtraData): read every number as a real, as
     * Go's decoder does for ExtraData */
    if (!o && json_error_code(&je) == json_error_numeric_overflow)
        o = json_loadb(text, len, JSON_DISABLE_EOF_CHECK | JSON_DECODE_INT_AS_REAL, &je);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "status file is not a JSON object: %s", o ? "wrong type" : je.text);
        json_decref(o);
        return -1;
    }
    json_t *state = gojson_get(o, "State"), *detail = gojson_get(o, "Detail"),
           *size = gojson_get(o, "StdoutSize"), *wt = gojson_get(o, "WorkType"),
           *extra = gojson_get(o, "ExtraData");
    int64_t state_v = 0, size_v = 0;
    if ((state && get_int64(state, &state_v) < 0) || (detail && !json_is_string(detail)) ||
        (size && get_int64(size, &size_v) < 0) || (wt && !json_is_string(wt)) ||
        (extra && !json_is_object(extra) && !json_is_null(extra)) || state_v < INT32_MIN ||
        state_v > INT32_MAX) {
        snprintf(err, errlen, "status file has a field of the wrong type");
        json_decref(o);
        return -1;
    }
    st->state = (int)state_v;
    st->detail = strdup(detail ? json_string_value(detail) : "");
    st->stdout_size = size_v;
    st->work_type = strdup(wt ? json_string_value(wt) : "");
    st->extra = json_is_object(extra) ? json_incref(extra) : NULL;
    json_decref(o);
    return 0;
}

static int lock_dir(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/status.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int read_locked(const char *dir, struct unit_status *st, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/status", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    /* status files are ~120 bytes: read into the stack, the heap only for
     * a big ExtraData */
    char small[4096];
    char *text = small;
    size_t cap = sizeof small, n = 0;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size >= (off_t)cap)
        cap = sb.st_size < (off_t)STATUS_MAX_SIZE ? (size_t)sb.st_size + 1 : STATUS_MAX_SIZE;
    if (cap > sizeof small && !(text = malloc(cap))) {
        close(fd);
        snprintf(err, errlen, "cannot read %s: out of memory", path);
        return -1;
    }
    ssize_t r = 0;
    while (n < cap && (r = read(fd, text + n, cap - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (r < 0 || n >= STATUS_MAX_SIZE || (n == cap && cap < STATUS_MAX_SIZE)) {
        /* n == cap: the file grew past fstat's size, which the lock forbids */
        snprintf(err, errlen, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "file too large");
        if (text != small)
            free(text);
        return -1;
    }
    int rc = unit_status_decode(text, n, st, err, errlen);
    if (text != small)
        free(text);
    return rc;
}

/* Rewrites the file in place: the new text at offset 0, then the file cut
 * to its length if the old text was longer.  Never truncating to zero
 * matters on ext4: a truncate to 0 arms auto_da_alloc, whose close starts
 * the data's writeback, and the next rewrite or the unlink at release then
 * waits for the disk (0.3-0.6 ms each); a rename over the file does the
 * same.  Readers hold the lock, so they never see the file between the
 * write and the cut.  A full disk must not leave half a text behind:
 * overwriting blocks the file has needs no space, and a file that grows
 * gets its new blocks reserved (fallocate) before a byte of it changes, so
 * a failed write leaves the old status whole. */
static void reserve_headroom(int fd, size_t len, blksize_t blksize);

static int write_locked(const char *dir, const struct unit_status *st, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/status", dir);
    char *text = unit_status_encode(st);
    if (!text) {
        snprintf(err, errlen, "cannot encode status");
        return -1;
    }
    size_t len = strlen(text), off = 0;
    struct stat sb;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    int rc = fd < 0 || fstat(fd, &sb) < 0 ? -1 : 0;
    if (rc == 0 && sb.st_size < (off_t)len) {
        /* not every file system can (EOPNOTSUPP): then write and check */
        if (fallocate(fd, 0, 0, (off_t)len) < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
            rc = -1;
    }
    while (rc == 0 && off < len) {
        ssize_t n = pwrite(fd, text + off, len - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = -1;
        else
            off += (size_t)n;
    }
    if (rc == 0 && sb.st_size > (off_t)len && ftruncate(fd, (off_t)len) < 0)
        rc = -1;
    if (rc == 0)
        reserve_headroom(fd, len, sb.st_blksize);
    if (rc < 0)
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno ? errno : EIO));
    if (fd >= 0 && close(fd) < 0 && rc == 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        rc = -1;
    }
    free(text);
    return rc;
}

/* A status grows a little as its unit runs (StdoutSize's digits, details,
 * the runner's final word): a text that ends near the end of its last block
 * gets the next block reserved beyond the end of the file, so that those
 * updates still fit once the disk is full.  Small status files (most) are
 * far from the end of their only block and cost nothing here. */
static void reserve_headroom(int fd, size_t len, blksize_t blksize)
{
    size_t b = blksize > 0 ? (size_t)blksize : 4096;
    size_t allocated = (len + b - 1) / b * b;
    if (allocated - len < STATUS_HEADROOM)
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)(len + STATUS_HEADROOM)); /* best effort */
}

int unit_status_load(const char *dir, struct unit_status *st, char *err, size_t errlen)
{
    int lk = lock_dir(dir, err, errlen);
    if (lk < 0)
        return -1;
    int rc = read_locked(dir, st, err, errlen);
    close(lk);
    return rc;
}

int unit_status_save(const char *dir, const struct unit_status *st, char *err, size_t errlen)
{
    int lk = lock_dir(dir, err, errlen);
    if (lk < 0)
        return -1;
    int rc = write_locked(dir, st, err, errlen);
    close(lk);
    return rc;
}

int unit_status_update(const char *dir, void (*fn)(struct unit_status *st, void *arg), void *arg,
                       struct unit_status *result, char *err, size_t errlen)
{
    int lk = lock_dir(dir, err, errlen);
    if (lk < 0)
        return -1;
    struct unit_status st;
    int rc = read_locked(dir, &st, err, errlen);
    if (rc == 0) {
        fn(&st, arg);
        rc = write_locked(dir, &st, err, errlen);
        if (rc == 0 && result)
            *result = st; /* the caller owns it now */
        else
            unit_status_free(&st);
    }
    close(lk);
    return rc;
}

static json_t *redact_extra(const struct unit_status *st)
{
    if (!st->extra)
        return json_null();
    json_t *e = json_deep_copy(st->extra);
    json_t *params = json_object_get(e, "RemoteParams");
    if (st->work_type && strcmp(st->work_type, "remote") == 0 && json_is_object(params)) {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(params, tmp, k, v)
            if (strncasecmp(k, "secret_", 7) == 0)
                json_object_del(params, k);
    }
    if (json_object_get(e, "KubeConfig"))
        json_object_set_new(e, "KubeConfig", json_string(""));
    if (json_object_get(e, "KubePod"))
        json_object_set_new(e, "KubePod", json_string(""));
    return e;
}

json_t *unit_status_reply(const struct unit_status *st)
{
    char buf[32];
    json_t *o = json_object();
    json_object_set_new(o, "Detail", json_string(st->detail ? st->detail : ""));
    json_object_set_new(o, "ExtraData", redact_extra(st));
    json_object_set_new(o, "State", json_integer(st->state));
    json_object_set_new(o, "StateName", json_string(unit_state_name(st->state, buf, sizeof buf)));
    json_object_set_new(o, "StdoutSize", json_integer(st->stdout_size));
    json_object_set_new(o, "WorkType", json_string(st->work_type ? st->work_type : ""));
    return o;
}
