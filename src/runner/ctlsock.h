/* ctlsock.h - a small blocking client for a receptor control socket
 * (receptor-protocol spec 8.2), just enough for the `submit` flow.
 *
 * src/runner depends on src/core only, so this does not reuse src/control
 * or receptorctl: the protocol a client needs is tiny.  Connect (unix path,
 * `unix:PATH`, `unix://PATH` or `tcp://HOST:PORT`), read the greeting
 * `Receptor Control, node <id>`, send one command line, then either read
 * one reply line or take the raw byte stream that follows (work submit's
 * stdin phase, work results).  Reads are buffered, so `ctlsock_read`
 * returns the bytes that arrived together with a header line first.
 * Every line is bounded (CTLSOCK_LINE_MAX); nothing is slurped. */
#ifndef RUNNER_CTLSOCK_H
#define RUNNER_CTLSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTLSOCK_LINE_MAX (1u << 20)

struct ctlsock {
    int fd;
    char node[256];          /* from the greeting */
    uint8_t buf[65536];
    size_t off, len;
};

/* Connects and reads the greeting (timeout_ms bounds connect+greeting).
 * 0, or -1 with a message in err; errno-like detail in *transient set to 1
 * when retrying later may help (socket missing, refused, closed early). */
int ctlsock_open(struct ctlsock *c, const char *spec, int timeout_ms, int *transient,
                 char *err, size_t errlen);
void ctlsock_close(struct ctlsock *c);
/* Sends text plus "\n".  0 or -1. */
int ctlsock_send_line(struct ctlsock *c, const char *text);
/* Reads one line into out (NUL-terminated, LF and CR stripped).  timeout_ms
 * < 0 waits forever.  Returns the length, or -1 with err (closed, timeout,
 * too long). */
ssize_t ctlsock_read_line(struct ctlsock *c, char *out, size_t cap, int timeout_ms,
                          char *err, size_t errlen);
/* Raw bytes after a header (buffered ones first).  >0, 0 at EOF, -1 error. */
ssize_t ctlsock_read(struct ctlsock *c, void *p, size_t n);
/* Writes all of p.  0 or -1 (errno kept). */
int ctlsock_write(struct ctlsock *c, const void *p, size_t n);

/* One command on a fresh connection, one reply line.  Returns 0 and the
 * reply (which may be "ERROR: ..."), or -1 with err when the daemon could
 * not be reached. */
int ctlsock_command(const char *spec, const char *line, char *reply, size_t cap,
                    int timeout_ms, char *err, size_t errlen);

#endif
