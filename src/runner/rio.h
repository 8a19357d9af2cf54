/* rio.h - the byte-level side of the streaming protocol: a buffered line
 * reader, the base64 blob reader and writer, and whole-line output.
 *
 * Framing (spec 2.1): control lines end in LF; a {"zipfile": N} line is
 * followed by exactly 4*ceil(N/3) non-whitespace base64 characters and then,
 * at the very next byte, the next control line.  The reader therefore never
 * consumes a byte past the last base64 character it needs, skips whitespace
 * inside the blob (MIME-wrapped input), and decodes with GnuTLS in bounded
 * chunks straight into a file descriptor, so memory stays flat whatever N is.
 * The writer side encodes a file in 3-byte-aligned chunks.  Every output
 * line is written with one loop of write(2) calls from a single thread, so a
 * keep-alive can never land inside another line or inside a blob. */
#ifndef RUNNER_RIO_H
#define RUNNER_RIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define RIO_LINE_LIMIT (1024u * 1024u * 1024u) /* a control line may be huge (res) */

struct rio {
    int fd;
    uint8_t *buf;
    size_t off, len, cap;
    int eof;
    int err;
};

int rio_init(struct rio *r, int fd);
void rio_free(struct rio *r);
/* Reads one line including its LF (or the tail at EOF) into line (reset
 * first).  Returns 1 when something was read, 0 at EOF with nothing, -1 on a
 * read error or when the line exceeds the buffer limit. */
int rio_readline(struct rio *r, struct buf *line);
/* Reads the blob of a {"zipfile": n} line and writes the decoded bytes to
 * outfd.  Returns 0 when exactly 4*ceil(n/3) characters were consumed and
 * decoded, -1 with a message in err otherwise (truncated, bad base64,
 * write error). */
int rio_read_blob(struct rio *r, uint64_t n, int outfd, char *err, size_t errlen);

/* Writes all of p; 0 or -1 (errno kept). */
int rio_write_all(int fd, const void *p, size_t n);
/* Writes the whole file open at fd (from offset 0) as base64 without any
 * line breaks, counting the bytes on meter (NULL: none).  0 or -1. */
struct progress;
int rio_write_b64_file(int outfd, int infd, struct progress *meter);

/* Artifact files (events, status, rc, stdout ...) live in directories a
 * hostile archive may have filled with symlinks, on disks that may be full.
 * rio_open_dir_beneath opens base (trusted, given by the user) and then
 * every component of rel with O_NOFOLLOW, creating missing ones (0777, the
 * last leaf_mode); a symlink or ".." on the way fails (ELOOP, ENOTDIR or
 * EINVAL).  Returns a directory fd or -1 with errno. */
int rio_open_dir_beneath(const char *base, const char *rel, mode_t leaf_mode);
/* The same from an open directory (dirfd itself when rel is "" or "."). */
int rio_open_dir_at(int dirfd, const char *rel, mode_t leaf_mode);
#define RIO_ATOMIC 1 /* write name.tmp, then rename over name */
#define RIO_FSYNC 2  /* fsync before closing (and renaming) */
/* Writes data as dirfd/name with this mode, never following a symlink at
 * name; every open, write, fsync, close and rename is checked.  0 or -1
 * with errno (a RIO_ATOMIC write leaves the old name untouched). */
int rio_write_file_at(int dirfd, const char *name, const void *data, size_t n, mode_t mode,
                      int flags);

#endif
