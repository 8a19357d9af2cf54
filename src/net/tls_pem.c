/* tls_pem.c - see tls_pem.h.  The bundle scanner only looks for the BEGIN
 * and END markers; the base64 in between is GnuTLS's to decode, and a block
 * that does not decode is skipped like Go's pem.Decode does with a
 * malformed block.  The key-file reader is strict instead: a malformed block
 * fails the file. */
#include "net/tls_pem.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BEGIN "-----BEGIN "
#define END "-----END "
#define DASHES "-----"

/* "open PATH: no such file or directory", as Go's os errors read. */
static void go_error(char *err, size_t errlen, const char *op, const char *path, int e)
{
    char why[128];
    snprintf(why, sizeof why, "%s", strerror(e));
    why[0] = (char)tolower((unsigned char)why[0]);
    snprintf(err, errlen, "%s %s: %s", op, path, why);
}

int tls_pem_read_file(const char *path, size_t max, gnutls_datum_t *out, char *err, size_t errlen)
{
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        go_error(err, errlen, "open", path, errno);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        snprintf(err, errlen, "%s: not a regular file of at most %zu bytes", path, max);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    unsigned char *p = gnutls_malloc(cap);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", path);
        close(fd);
        return -1;
    }
    while (len < cap - 1) {
        ssize_t n = read(fd, p + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "read %s: %s", path, strerror(errno));
            gnutls_free(p);
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    p[len] = 0;
    out->data = p;
    out->size = (unsigned)len;
    return 0;
}

static const char *find(const char *hay, size_t n, const char *needle)
{
    return memmem(hay, n, needle, strlen(needle));
}

static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", p[i]))
            return 0;
    return 1;
}

/* Tries the block whose BEGIN marker is at b; 1 decoded, 0 not a block. */
static int decode_at(const char *text, size_t len, size_t b, size_t *next, struct tls_pem_block *out)
{
    const char *t = text + b + strlen(BEGIN);
    size_t left = len - (size_t)(t - text);
    const char *te = find(t, left, DASHES);
    const char *eol = memchr(t, '\n', left);
    if (!te || (eol && eol < te) || (size_t)(te - t) >= sizeof out->type || te == t)
        return 0;
    size_t tl = (size_t)(te - t);
    char endmark[96];
    snprintf(endmark, sizeof endmark, END "%.*s" DASHES, (int)tl, t);
    const char *e = find(te, len - (size_t)(te - text), endmark);
    if (!e)
        return 0;
    size_t stop = (size_t)(e - text) + strlen(endmark);
    gnutls_datum_t in = { (unsigned char *)(uintptr_t)(text + b), (unsigned)(stop - b) };
    memcpy(out->type, t, tl);
    out->type[tl] = 0;
    if (gnutls_pem_base64_decode2(out->type, &in, &out->der) < 0)
        return 0;
    while (stop < len && text[stop] != '\n')
        stop++;
    *next = stop < len ? stop + 1 : stop;
    return 1;
}

int tls_pem_next(const char *text, size_t len, size_t *pos, struct tls_pem_block *out,
                 char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t at = *pos;
    while (at < len) {
        const char *b = find(text + at, len - at, BEGIN);
        if (!b)
            break;
        size_t boff = (size_t)(b - text);
        size_t next;
        if (decode_at(text, len, boff, &next, out)) {
            *pos = next;
            return 1;
        }
        at = boff + strlen(BEGIN); /* malformed block: look for the next one */
    }
    if (*pos >= len || only_space(text + *pos, len - *pos)) {
        *pos = len;
        return 0;
    }
    snprintf(err, errlen, "failed to decode PEM block");
    return -1;
}

/* ---- key files: strict blocks, any file (upstream's LoadFromPEMFile) ---- */

char *tls_pem_read_key_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        go_error(err, errlen, "open", path, errno);
        return NULL;
    }
    char *data = malloc(max + 1);
    size_t n = 0;
    while (data && n <= max) {
        ssize_t r = read(fd, data + n, max + 1 - n);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
        else if (errno != EINTR) {
            go_error(err, errlen, "read", path, errno);
            free(data);
            close(fd);
            return NULL;
        }
    }
    close(fd);
    if (!data)
        snprintf(err, errlen, "out of memory");
    else if (n > max)
        snprintf(err, errlen, "%s: key file is larger than %zu bytes", path, max);
    if (!data || n > max) {
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

bool tls_pem_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) /* unlike only_space(), NUL is not blank */
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

/* The line at p (up to '\n' or end) without trailing " \t\r"; *next is past it. */
static size_t pem_line(const char *p, size_t n, size_t *next)
{
    const char *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n;
    *next = nl ? len + 1 : n;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
        len--;
    return len;
}

/* Base64 body of a PEM block without whitespace, decoded with GnuTLS. */
static int pem_body(const char *p, size_t n, gnutls_datum_t *der)
{
    char *clean = malloc(n + 1);
    if (!clean)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            clean[k++] = p[i];
    gnutls_datum_t in = {(unsigned char *)clean, (unsigned)k};
    int rc = k ? gnutls_base64_decode2(&in, der) : -1;
    free(clean);
    return rc < 0 ? -1 : 0;
}

int tls_pem_next_key_block(const char *p, size_t n, struct tls_pem_block *b, size_t *used)
{
    size_t at;
    if (n >= 11 && memcmp(p, BEGIN, 11) == 0)
        at = 11;
    else {
        const char *s = find(p, n, "\n" BEGIN);
        if (!s)
            return -1;
        at = (size_t)(s - p) + 12;
    }
    size_t next, tlen = pem_line(p + at, n - at, &next);
    if (tlen < 5 || memcmp(p + at + tlen - 5, DASHES, 5) != 0 || tlen - 5 >= sizeof b->type)
        return -1;
    memcpy(b->type, p + at, tlen - 5);
    b->type[tlen - 5] = 0;
    size_t body = at + next;
    size_t l2, first = pem_line(p + body, n - body, &l2);
    if (memchr(p + body, ':', first))
        return -1;
    char end[80];
    snprintf(end, sizeof end, END "%s" DASHES, b->type);
    size_t endlen = strlen(end), end_at;
    if (n - body >= endlen && memcmp(p + body, end, endlen) == 0)
        end_at = body;
    else {
        const char *e = find(p + body, n - body, "\n" END);
        if (!e)
            return -1;
        end_at = (size_t)(e - p) + 1;
    }
    size_t after, elen = pem_line(p + end_at, n - end_at, &after);
    if (elen != endlen || memcmp(p + end_at, end, endlen) != 0)
        return -1;
    if (pem_body(p + body, end_at - body, &b->der) < 0)
        return -1;
    *used = end_at + after;
    return 0;
}

int tls_pem_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        go_error(err, errlen, "open", path, errno);
        return -1;
    }
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, errlen, "write %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) < 0) {
        snprintf(err, errlen, "close %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
