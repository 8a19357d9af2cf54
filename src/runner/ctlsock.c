/* ctlsock.c - blocking control-socket client (see ctlsock.h).
 *
 * Connects with a non-blocking connect bounded by poll(), then switches the
 * socket to blocking mode.  Line reads go through a 64 KiB buffer and are
 * bounded by poll() timeouts; raw reads drain that buffer before reading
 * the socket again, so no byte after a header line is lost. */
#include "runner/ctlsock.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short ev, long long deadline)
{
    for (;;) {
        int t = -1;
        if (deadline >= 0) {
            long long left = deadline - now_ms();
            if (left <= 0)
                return 0;
            t = left > 1000000 ? 1000000 : (int)left;
        }
        struct pollfd p = { fd, ev, 0 };
        int r = poll(&p, 1, t);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len, long long deadline)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    int r = connect(fd, sa, len);
    if (r < 0 && errno == EINPROGRESS) {
        if (wait_fd(fd, POLLOUT, deadline) <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) {
            errno = e;
            return -1;
        }
        r = 0;
    }
    if (r == 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return r;
}

static int open_unix(const char *path, long long deadline, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect_bounded(fd, (struct sockaddr *)&sa, sizeof sa, deadline) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot connect to control socket %s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int open_tcp(const char *hostport, long long deadline, char *err, size_t errlen)
{
    char host[512];
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
        snprintf(err, errlen, "bad control socket address tcp://%s (want tcp://HOST:PORT)", hostport);
        errno = EINVAL;
        return -1;
    }
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, colon + 1, &hints, &res);
    if (g) {
        snprintf(err, errlen, "control socket tcp://%s: %s", hostport, gai_strerror(g));
        errno = EINVAL;
        return -1;
    }
    int fd = -1, e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect_bounded(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to control socket tcp://%s: %s", hostport, strerror(e));
        errno = e;
    }
    return fd;
}

static ssize_t fill(struct ctlsock *c, long long deadline)
{
    if (c->off == c->len)
        c->off = c->len = 0;
    if (c->len == sizeof c->buf) {
        if (c->off == 0)
            return -2;
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (deadline >= 0) {
        int r = wait_fd(c->fd, POLLIN, deadline);
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            c->len += (size_t)n;
        return n;
    }
}

ssize_t ctlsock_read_line(struct ctlsock *c, char *out, size_t cap, int timeout_ms, char *err,
                          size_t errlen)
{
    long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    size_t o = 0;
    for (;;) {
        while (c->off < c->len) {
            uint8_t ch = c->buf[c->off++];
            if (ch == '\n') {
                while (o && out[o - 1] == '\r')
                    o--;
                out[o] = 0;
                return (ssize_t)o;
            }
            if (o + 1 >= cap) {
                snprintf(err, errlen, "reply line longer than %zu bytes", cap);
                return -1;
            }
            out[o++] = (char)ch;
        }
        ssize_t n = fill(c, deadline);
        if (n == 0) {
            snprintf(err, errlen, "the control connection closed%s", o ? " in the middle of a line" : "");
            return -1;
        }
        if (n < 0) {
            snprintf(err, errlen, "reading the control connection: %s", strerror(errno));
            return -1;
        }
    }
}

int ctlsock_open(struct ctlsock *c, const char *spec, int timeout_ms, int *transient, char *err,
                 size_t errlen)
{
    c->fd = -1;
    c->off = c->len = 0;
    c->node[0] = 0;
    *transient = 0;
    long long deadline = now_ms() + timeout_ms;
    if (!spec || !*spec) {
        snprintf(err, errlen, "no control socket given (--socket or RECEPTORCTL_SOCKET)");
        return -1;
    }
    if (!strncmp(spec, "tcp://", 6))
        c->fd = open_tcp(spec + 6, deadline, err, errlen);
    else if (!strncmp(spec, "tcp:", 4))
        c->fd = open_tcp(spec + 4, deadline, err, errlen);
    else if (!strncmp(spec, "tls:", 4)) {
        snprintf(err, errlen, "a TLS control socket (%s) is not supported here; use the unix socket "
                              "(AWX does) or tcp://", spec);
        return -1;
    } else if (!strncmp(spec, "unix://", 7))
        c->fd = open_unix(spec + 7, deadline, err, errlen);
    else if (!strncmp(spec, "unix:", 5))
        c->fd = open_unix(spec + 5, deadline, err, errlen);
    else
        c->fd = open_unix(spec, deadline, err, errlen);
    if (c->fd < 0) {
        *transient = errno == ENOENT || errno == ECONNREFUSED || errno == ETIMEDOUT ||
                     errno == ECONNRESET || errno == EAGAIN;
        return -1;
    }
    char line[1024];
    char e2[256];
    ssize_t n = ctlsock_read_line(c, line, sizeof line, (int)(deadline - now_ms()) + 1, e2, sizeof e2);
    static const char greet[] = "Receptor Control, node ";
    if (n < 0 || strncmp(line, greet, sizeof greet - 1) != 0) {
        if (n < 0)
            snprintf(err, errlen, "control socket %s: no greeting: %s", spec, e2);
        else
            snprintf(err, errlen, "control socket %s: unexpected greeting %.200s", spec, line);
        *transient = n < 0;
        ctlsock_close(c);
        return -1;
    }
    snprintf(c->node, sizeof c->node, "%.255s", line + sizeof greet - 1);
    return 0;
}

void ctlsock_close(struct ctlsock *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

int ctlsock_write(struct ctlsock *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int ctlsock_send_line(struct ctlsock *c, const char *text)
{
    size_t n = strlen(text);
    char *b = malloc(n + 1);
    if (!b)
        return -1;
    memcpy(b, text, n);
    b[n] = '\n';
    int r = ctlsock_write(c, b, n + 1);
    free(b);
    return r;
}

ssize_t ctlsock_read(struct ctlsock *c, void *p, size_t n)
{
    if (c->off < c->len) {
        size_t k = c->len - c->off < n ? c->len - c->off : n;
        memcpy(p, c->buf + c->off, k);
        c->off += k;
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t r = read(c->fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

int ctlsock_command(const char *spec, const char *line, char *reply, size_t cap, int timeout_ms,
                    char *err, size_t errlen)
{
    struct ctlsock *c = malloc(sizeof *c);
    int transient;
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = ctlsock_open(c, spec, timeout_ms, &transient, err, errlen);
    if (rc == 0) {
        if (ctlsock_send_line(c, line) < 0) {
            snprintf(err, errlen, "sending to the control socket: %s", strerror(errno));
            rc = -1;
        } else if (ctlsock_read_line(c, reply, cap, timeout_ms, err, errlen) < 0) {
            rc = -1;
        }
    }
    ctlsock_close(c);
    free(c);
    return rc;
}
