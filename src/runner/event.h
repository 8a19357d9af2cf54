/* event.h - a job event as an ordered list of (key, canonical JSON value).
 *
 * ansible-runner builds each event as a Python dict: the stdout parser sets
 * uuid/counter/stdout/start_line/end_line, the runner adds runner_ident and
 * then update()s it with the plugin's partial file, whose values win while
 * the keys keep their first position.  struct event reproduces exactly that
 * ordering without parsing values into a tree: values are kept as canonical
 * PyJSON text, so integers of any size and floats survive unchanged. */
#ifndef RUNNER_EVENT_H
#define RUNNER_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

struct event_member {
    char *key;
    char *val; /* canonical PyJSON */
};

struct event {
    struct event_member *m;
    size_t n, cap;
};

void event_init(struct event *e);
void event_free(struct event *e);
void event_clear(struct event *e);
/* Sets key to the canonical JSON text val (copied); keeps the position of an
 * existing key.  0 or -1. */
int event_set_raw(struct event *e, const char *key, const char *val, size_t vlen);
int event_set_str(struct event *e, const char *key, const char *s, size_t n);
int event_set_int(struct event *e, const char *key, long long v);
bool event_has(const struct event *e, const char *key);
/* Value text of key or NULL. */
const char *event_get(const struct event *e, const char *key);
/* Merges every member of the JSON object text (canonicalised) into e, as
 * dict.update() does.  0, or -1 when text is not a JSON object. */
int event_update_json(struct event *e, const char *text, size_t n);
/* Appends the PyJSON object text to out. */
int event_dump(const struct event *e, struct buf *out);
/* Copies src into dst (dst cleared first). */
int event_copy(struct event *dst, const struct event *src);

/* Current UTC time as Python's datetime.utcnow().isoformat() (naive,
 * microseconds dropped when zero). */
void event_now_iso(char *out, size_t len);
/* A random UUID4 string with dashes. */
void event_uuid4(char out[37]);

#endif
