/* unit_status.h - a work unit's status file (spec 9.2, 9.3).
 *
 * One JSON object + "\n" with upstream's keys in upstream's order:
 * {"State":..,"Detail":..,"StdoutSize":..,"WorkType":..,"ExtraData":..}.
 * Every read and write holds an exclusive flock on status.lock, shared with
 * the command runner process; updates are read-modify-write in place. */
#ifndef WORK_UNIT_STATUS_H
#define WORK_UNIT_STATUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum unit_state {
    UNIT_PENDING = 0, UNIT_RUNNING = 1, UNIT_SUCCEEDED = 2, UNIT_FAILED = 3, UNIT_CANCELED = 4,
};

struct unit_status {
    int state;
    char *detail;
    int64_t stdout_size;
    char *work_type;
    json_t *extra;      /* object, or NULL for JSON null */
};

const char *unit_state_name(int state, char *buf, size_t len);
static inline int unit_state_complete(int s) { return s == UNIT_SUCCEEDED || s == UNIT_FAILED; }

void unit_status_init(struct unit_status *st, const char *work_type);
void unit_status_free(struct unit_status *st);
int unit_status_copy(struct unit_status *dst, const struct unit_status *src);
void unit_status_set_detail(struct unit_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The file's text (with the trailing newline); malloc'ed. */
char *unit_status_encode(const struct unit_status *st);
/* Parses the file's text; -1 with err naming what is wrong. */
int unit_status_decode(const char *text, size_t len, struct unit_status *st, char *err, size_t errlen);

/* Locked file access on <dir>/status (+ status.lock). */
int unit_status_load(const char *dir, struct unit_status *st, char *err, size_t errlen);
int unit_status_save(const char *dir, const struct unit_status *st, char *err, size_t errlen);
/* Read-modify-write under one lock: fn edits st; fails on a missing or
 * corrupt file.  With result, the status written is returned there (the
 * caller frees it), which saves re-reading the file. */
int unit_status_update(const char *dir, void (*fn)(struct unit_status *st, void *arg), void *arg,
                       struct unit_status *result, char *err, size_t errlen);

/* The control-service form: sorted keys plus StateName; redact applies
 * upstream's secret_ filtering of remote units' RemoteParams. */
json_t *unit_status_reply(const struct unit_status *st);

#endif
