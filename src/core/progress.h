/* progress.h - a one-line transfer meter on a terminal (bytes, rate).
 *
 * Used by the command-line clients for long transfers: `receptorctl work
 * submit` / `work results` and `ansible-runner-c submit`.  The meter says
 * nothing until PROGRESS_MIN_BYTES have moved (small payloads stay quiet),
 * then redraws one line in place ("\r", padded with spaces, no escape
 * sequences, so any terminal shows it) at most every PROGRESS_REDRAW_MS,
 * and ends with a summary line:
 *
 *   sent 12.0 MiB of 64.0 MiB (18%), 40.1 MiB/s
 *   sent 64.0 MiB in 1.6 s, 40.0 MiB/s
 *
 * Whether to show one at all is the caller's decision, made with
 * progress_wanted(): only when stderr is a terminal, not with --quiet, and,
 * for data written to stdout, only when stdout is not a terminal (there the
 * data itself shows the progress, and a meter would tear its lines).  A
 * meter that is off costs one branch per call and writes nothing, so the
 * output bytes are the same with or without it.
 *
 * One meter belongs to one thread; the line goes to its fd with write(2). */
#ifndef CORE_PROGRESS_H
#define CORE_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROGRESS_MIN_BYTES ((uint64_t)4 << 20)
#define PROGRESS_REDRAW_MS 200

struct progress {
    int fd;             /* -1: off */
    const char *verb;   /* "sent", "received" */
    uint64_t bytes;
    uint64_t total;     /* 0: unknown */
    int64_t start_ms, drawn_ms;
    size_t line_len;    /* length of the line on screen, for padding */
    bool drawn;         /* a line is on screen (not ended) */
    bool shown;         /* anything was shown: the summary is due */
};

/* True when a meter should be shown on stderr: stderr is a terminal, not
 * quiet, and the data does not go to a terminal on stdout. */
bool progress_wanted(bool quiet, bool data_on_stdout);
/* fd -1 makes a meter that never writes. */
void progress_start(struct progress *p, int fd, const char *verb, uint64_t total);
/* From now on the whole transfer is expected to be bytes + more. */
void progress_expect(struct progress *p, uint64_t more);
void progress_add(struct progress *p, uint64_t n);
/* Ends the meter's line (a newline) so another message starts on a line of
 * its own; the meter goes on drawing on the next line. */
void progress_break(struct progress *p);
/* The summary line, when anything was shown. */
void progress_end(struct progress *p);

#endif
