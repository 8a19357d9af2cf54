/* evfilter.h - turns the pty text of ansible-playbook into events, exactly
 * as ansible-runner's OutputEventFilter does (spec 6.6 B).
 *
 * The display callback plugin frames each event's output with markers
 *   ESC[K <base64 of {"uuid": ...}> ESC[nD ... ESC[K  text  ESC[K e30= ESC[4D ESC[K
 * The filter keeps a buffer of not-yet-attributed text; whenever a marker is
 * complete it emits the text before it (as the current callback event, or as
 * "verbose" events, one per line) and remembers the new begin marker.  Text
 * outside any marker is emitted line by line.  Counter, stdout, start_line
 * and end_line are computed here; merging the plugin's partial file is the
 * caller's business (the emit callback).  The buffer holds at most one
 * event's worth of text; input is expected to be valid UTF-8 (the job
 * reader repairs it first, as pexpect's errors='replace' decoding does).
 *
 * JSON mode (ansible-runner's `-j`, kwargs json_mode): what goes to the
 * stdout artifact and the screen for a callback event is the whole event as
 * its callback made it, not its stdout text.  The emit callback writes that
 * line into json_line (evfilter_json_line); verbose text outside any event
 * is still passed through as text, as upstream does. */
#ifndef RUNNER_EVFILTER_H
#define RUNNER_EVFILTER_H

#include <stddef.h>

#include "core/buf.h"
#include "runner/event.h"

struct evfilter;

/* An event ready for the runner's event callback. */
typedef void (*evfilter_emit_fn)(void *ctx, struct event *ev);
/* Text for the stdout artifact file (and the runner's own stdout). */
typedef void (*evfilter_stdout_fn)(void *ctx, const char *text, size_t n);

struct evfilter {
    struct buf buffer;
    int last_had_mark;     /* previous chunk contained ESC[K */
    char last_tail[2];     /* its last two bytes, to find a split ESC[K */
    size_t last_tail_len;
    long long counter;
    long long line;
    struct event *current; /* payload of the last begin marker, or NULL */
    int output_json;       /* JSON mode: see above */
    struct buf json_line;  /* the last emitted event's line, in JSON mode */
    evfilter_emit_fn emit;
    evfilter_stdout_fn out;
    void *ctx;
};

int evfilter_init(struct evfilter *f, evfilter_emit_fn emit, evfilter_stdout_fn out, void *ctx);
void evfilter_free(struct evfilter *f);
/* JSON mode on (see above). */
void evfilter_set_json(struct evfilter *f, int on);
/* In JSON mode, called by the emit callback with the event's final line. */
void evfilter_json_line(struct evfilter *f, const char *line, size_t n);
/* Feeds one chunk of text.  0 or -1 (buffer limit). */
int evfilter_write(struct evfilter *f, const char *data, size_t n);
/* End of output: emits whatever is left. */
void evfilter_close(struct evfilter *f);

/* Finds the first complete marker in s[0..n): sets *start and *end (the whole
 * marker) and the decoded payload (appended to payload); returns 1, or 0
 * when there is none.  Exposed for unit tests and the fuzzer. */
int evfilter_find_marker(const char *s, size_t n, size_t *start, size_t *end, struct buf *payload);

#endif
