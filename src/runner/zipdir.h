/* zipdir.h - directories to and from the zip blobs of the runner stream.
 *
 * Writing follows ansible-runner's stream_dir (spec 2.2): a top-down walk,
 * files before subdirectories in readdir order, Unix modes in the external
 * attributes, symlinks stored as their target text (top-level ones named
 * "./name"), FIFOs and sockets skipped, DOS timestamps in local time clamped
 * to 1980..2107.  The zip is always built completely in a temporary file
 * first; its size becomes N of the {"zipfile": N} line.
 *
 * Reading follows unstream_dir (spec 2.3) with the safety checks upstream
 * lacks: absolute names, ".." components, paths through symlinks and
 * symlinks pointing outside the target are refused, and the total
 * uncompressed size is capped (declared sizes up front, actual bytes while
 * inflating) so a zip bomb is stopped with a clear error.  Everything is
 * created relative to a directory fd of the target, one O_NOFOLLOW
 * component at a time, so nothing is ever written through a link.  A link
 * target is resolved physically against what is on disk (l1 -> ".",
 * l2 -> "l1/.." is refused although it looks harmless as text), and all
 * links are checked again once every entry is in place, since a later
 * entry may re-point a link an earlier one goes through.  setuid, setgid
 * and sticky bits are dropped from archive modes. */
#ifndef RUNNER_ZIPDIR_H
#define RUNNER_ZIPDIR_H

#include <stddef.h>
#include <stdint.h>

#include "core/progress.h"

/* Default cap on the bytes one extraction may write; overridden by the
 * environment variable RUNNER_C_MAX_UNZIP_BYTES. */
#define ZIPDIR_DEFAULT_MAX_BYTES (8ull * 1024 * 1024 * 1024)
#define ZIPDIR_MAX_ENTRIES 1000000

/* A file that goes into the zip as if it were in the tree, without being
 * written there (what 2.3.1's transmit writes into the source directory).
 * Its parent must exist in the tree or be a top-level directory, which
 * then gets a 0700 entry of its own.  It replaces a tree file of the same
 * name; its time is the time of zipping. */
struct zipdir_extra {
    const char *name;       /* "project/<hex>", "env/cmdline" */
    const char *data;
    size_t len;
    unsigned mode;          /* permission bits */
};

/* Zips the contents of dir into the new file zippath.  0 or -1 + err. */
int zipdir_create(const char *dir, const char *zippath, char *err, size_t errlen);
int zipdir_create_extra(const char *dir, const struct zipdir_extra *x, size_t nx,
                        const char *zippath, char *err, size_t errlen);
/* Zips dir into a temporary file and writes {"zipfile": N}\n + base64 to
 * outfd.  0 or -1 + err (nothing written on a zip error).  meter (NULL:
 * none) counts the bytes written and learns the size once the zip is made. */
int zipdir_stream(const char *dir, int outfd, char *err, size_t errlen);
int zipdir_stream_extra(const char *dir, const struct zipdir_extra *x, size_t nx, int outfd,
                        struct progress *meter, char *err, size_t errlen);
/* Extracts zippath into dest (which must exist).  0 or -1 + err. */
int zipdir_extract(const char *zippath, const char *dest, char *err, size_t errlen);
/* The extraction cap in effect. */
uint64_t zipdir_max_bytes(void);
/* Creates a private temporary directory under $TMPDIR (or /tmp) with the
 * given prefix; returns a malloc'ed path or NULL. */
char *zipdir_mkdtemp(const char *prefix);
/* rm -rf; errors ignored. */
void zipdir_rmtree(const char *path);

#endif
