/* kube_log.h - the worker pod's log, as the API server streams it with
 * timestamps=true: "<RFC 3339 timestamp> <text>\n" per line.
 *
 * kube_log_feed() cuts the timestamps off and passes the text on; a line
 * counts as written (commit) once its newline is through.  Across streams
 * (the API server cuts a followed log; the next request asks sinceTime=
 * the last written timestamp, which repeats the lines sharing it) a line is
 * new when its timestamp sorts after the last written one, or, among lines
 * sharing that timestamp, when it is past the count already written.  Pure
 * and bounded: no I/O of its own, fuzzed on its own (fuzz_kube_log). */
#ifndef WORK_KUBE_LOG_H
#define WORK_KUBE_LOG_H

#include <stddef.h>

#define KUBE_LOG_TS_MAX 64

struct kube_log {
    /* where text goes; write returns 0 or -1 (errno set), commit notes a
     * line that was written whole */
    int (*write)(void *arg, const char *p, size_t n);
    void (*commit)(void *arg);
    void *arg;
    /* the line being read */
    char cur_ts[KUBE_LOG_TS_MAX];
    size_t cur_ts_len;
    int in_body, skip_line;
    /* what was written: the last whole line's timestamp, how many lines
     * carried it, and how many of those this stream has repeated */
    char last_ts[KUBE_LOG_TS_MAX];
    unsigned last_same, seen_same;
    int wrote_this_stream;
    char err[160];
};

/* A new stream begins (the caller has cut its output back to the last
 * whole line). */
void kube_log_stream_start(struct kube_log *l);

/* Feeds n bytes of the stream; -1 with l->err set on a line without a
 * valid timestamp or a failed write. */
int kube_log_feed(struct kube_log *l, const char *p, size_t n);

#endif
