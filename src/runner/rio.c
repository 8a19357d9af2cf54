/* rio.c - see rio.h. */
#include "runner/rio.h"

#include "core/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RIO_CHUNK 65536
#define B64_GROUP 65536 /* base64 characters decoded per GnuTLS call (multiple of 4) */

int rio_init(struct rio *r, int fd)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->cap = RIO_CHUNK;
    r->buf = malloc(r->cap);
    return r->buf ? 0 : -1;
}

void rio_free(struct rio *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Refills the buffer; returns bytes read, 0 at EOF, -1 on error. */
static ssize_t rio_fill(struct rio *r)
{
    if (r->eof)
        return 0;
    if (r->off > 0) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r->err = errno;
            return -1;
        }
        if (n == 0)
            r->eof = 1;
        r->len += (size_t)n;
        return n;
    }
}

int rio_readline(struct rio *r, struct buf *line)
{
    buf_reset(line);
    for (;;) {
        uint8_t *start = r->buf + r->off;
        uint8_t *nl = memchr(start, '\n', r->len - r->off);
        size_t take = nl ? (size_t)(nl - start) + 1 : r->len - r->off;
        if (buf_append(line, start, take) < 0)
            return -1;
        r->off += take;
        if (nl)
            return 1;
        ssize_t n = rio_fill(r);
        if (n < 0)
            return -1;
        if (n == 0)
            return buf_size(line) > 0 ? 1 : 0;
    }
}

static int is_b64_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_b64_alpha(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/' || c == '=';
}

/* Decodes text[0..n) (alphabet only, n a multiple of 4) into outfd. */
static int b64_flush(const char *text, size_t n, int outfd, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    gnutls_datum_t in = { (unsigned char *)text, (unsigned)n }, out = { NULL, 0 };
    int rc = gnutls_base64_decode2(&in, &out);
    if (rc < 0) {
        snprintf(err, errlen, "binascii.Error: Incorrect padding or invalid base64 data (%s)",
                 gnutls_strerror(rc));
        return -1;
    }
    rc = rio_write_all(outfd, out.data, out.size);
    gnutls_free(out.data);
    if (rc < 0) {
        snprintf(err, errlen, "OSError: writing the temporary zip file: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int rio_read_blob(struct rio *r, uint64_t n, int outfd, char *err, size_t errlen)
{
    uint64_t need = 4 * ((n + 2) / 3); /* non-whitespace characters to consume */
    char *group = calloc(1, B64_GROUP);
    size_t glen = 0;
    int rc = 0, padded = 0;
    if (!group) {
        snprintf(err, errlen, "MemoryError");
        return -1;
    }
    while (need > 0) {
        if (r->off == r->len) {
            ssize_t got = rio_fill(r);
            if (got <= 0)
                break;
        }
        while (need > 0 && r->off < r->len) {
            uint8_t c = r->buf[r->off++];
            if (is_b64_space(c))
                continue;
            need--;
            if (!is_b64_alpha(c))
                continue; /* lenient b64decode drops foreign characters */
            if (padded && !(c == '=' && glen % 4 != 0))
                continue; /* like binascii, nothing after the padding counts */
            padded |= c == '=';
            group[glen++] = (char)c;
            if (glen == B64_GROUP) {
                if (b64_flush(group, glen, outfd, err, errlen) < 0) {
                    free(group);
                    return -1;
                }
                glen = 0;
            }
        }
    }
    size_t whole = glen - glen % 4;
    if (b64_flush(group, whole, outfd, err, errlen) < 0)
        rc = -1;
    else if (glen % 4 != 0) {
        snprintf(err, errlen, "binascii.Error: Incorrect padding");
        rc = -1;
    } else if (need > 0) {
        snprintf(err, errlen, "EOFError: the stream ended inside the base64 blob");
        rc = -1;
    }
    free(group);
    return rc;
}

int rio_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int rio_write_b64_file(int outfd, int infd, struct progress *meter)
{
    enum { RAW = 3 * 16384 };
    unsigned char *raw = malloc(RAW);
    size_t have = 0;
    int rc = 0;
    if (!raw || lseek(infd, 0, SEEK_SET) < 0) {
        free(raw);
        return -1;
    }
    for (;;) {
        ssize_t n = read(infd, raw + have, RAW - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -1;
            break;
        }
        have += (size_t)n;
        size_t chunk = (n == 0) ? have : have - have % 3;
        if (chunk > 0 && (have == RAW || n == 0)) {
            gnutls_datum_t in = { raw, (unsigned)chunk }, out = { NULL, 0 };
            if (gnutls_base64_encode2(&in, &out) < 0) {
                rc = -1;
                break;
            }
            rc = rio_write_all(outfd, out.data, out.size);
            gnutls_free(out.data);
            if (rc < 0)
                break;
            if (meter)
                progress_add(meter, out.size);
            memmove(raw, raw + chunk, have - chunk);
            have -= chunk;
        }
        if (n == 0)
            break;
    }
    free(raw);
    return rc;
}

/* ---- artifact files --------------------------------------------------- */

static int rio_open_component(int fd, const char *comp, mode_t mode)
{
    if (!strcmp(comp, "..")) {
        errno = EINVAL;
        return -1;
    }
    int sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0 && errno == ENOENT) {
        if (mkdirat(fd, comp, mode) < 0 && errno != EEXIST)
            return -1;
        sub = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    return sub;
}

int rio_open_dir_at(int dirfd, const char *rel, mode_t leaf_mode)
{
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    char *copy = strdup(rel);
    if (!copy) {
        if (fd >= 0)
            close(fd);
        errno = ENOMEM;
        return -1;
    }
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        int sub = rio_open_component(fd, c, *save ? 0777 : leaf_mode);
        int e = errno;
        close(fd);
        errno = e;
        fd = sub;
    }
    int e = errno;
    free(copy);
    errno = e;
    return fd;
}

int rio_open_dir_beneath(const char *base, const char *rel, mode_t leaf_mode)
{
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0)
        return -1;
    int fd = rio_open_dir_at(bfd, rel, leaf_mode);
    int e = errno;
    close(bfd);
    errno = e;
    return fd;
}

static int rio_write_fd(int fd, const void *data, size_t n, mode_t mode, int flags)
{
    if (fchmod(fd, mode) < 0 || rio_write_all(fd, data, n) < 0 ||
        ((flags & RIO_FSYNC) && fsync(fd) < 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return close(fd);
}

int rio_write_file_at(int dirfd, const char *name, const void *data, size_t n, mode_t mode,
                      int flags)
{
    if (!(flags & RIO_ATOMIC)) {
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
        return fd < 0 ? -1 : rio_write_fd(fd, data, n, mode, flags);
    }
    size_t nl = strlen(name);
    char *tmp = malloc(nl + 6);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    memcpy(tmp, name, nl);
    memcpy(tmp + nl, ".tmp", 5);
    unlinkat(dirfd, tmp, 0);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    int rc = fd < 0 ? -1 : rio_write_fd(fd, data, n, mode, flags);
    if (rc == 0)
        rc = renameat(dirfd, tmp, dirfd, name); /* replaces a link, never follows it */
    if (rc < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
    }
    free(tmp);
    return rc;
}
