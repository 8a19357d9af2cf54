/* parse.h - the control protocol's parsing, free of sessions and I/O (so
 * that it can be fuzzed on its own: tests/fuzz/control):
 *
 *  - line framing: bytes in, lines out, "\r" dropped, a line longer than
 *    CONTROL_MAX_LINE dropped as it arrives and reported in its place, the
 *    input buffer bounded;
 *  - a line to a command: plain ("Ping b": name "ping", params "b") or JSON
 *    ({"command":"ping",...}), with upstream's error texts;
 *  - the `work` command's arguments and its numeric start position. */
#ifndef CONTROL_PARSE_H
#define CONTROL_PARSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

#define CONTROL_MAX_LINE (256 * 1024)
/* one partial line of CONTROL_MAX_LINE bytes plus one read (64 KiB at
 * most) that arrives while a command runs: reading stops then */
#define CONTROL_MAX_INPUT (CONTROL_MAX_LINE + 1 + 65536)

#define CONTROL_LINE_NONE (-1)      /* no full line buffered */
#define CONTROL_LINE_TOO_LONG (-2)  /* a line over the limit was dropped here */

struct control_lines {
    struct buf in;      /* bytes not yet taken as lines */
    size_t max_line;
    int discarding;     /* dropping the rest of an over-long line */
    int overlong;       /* an over-long line ended: report it next */
};

void control_lines_init(struct control_lines *l, size_t max_line, size_t max_input);
void control_lines_free(struct control_lines *l);
/* Adds bytes read; -1 when they do not fit (the caller broke the rule of
 * not reading while lines are pending beyond one read). */
int control_lines_feed(struct control_lines *l, const uint8_t *data, size_t len);
/* The peer half-closed: an over-long line cut off by it is still reported. */
void control_lines_eof(struct control_lines *l);
/* The next line (malloc'ed, NUL-terminated, "\r" removed) and its length,
 * or CONTROL_LINE_NONE, or CONTROL_LINE_TOO_LONG. */
ssize_t control_lines_next(struct control_lines *l, char **out);

/* A command line: JSON when it starts with '{'.  name is NULL when the
 * line names no command; err, when not empty, is a JSON error to answer
 * first (upstream then also answers "Unknown command"). */
struct control_parsed {
    const char *name;   /* lowercased (plain) or the JSON "command" */
    const char *params; /* plain form: the text after the first space, or "" */
    json_t *cmd;        /* JSON form: the object (the caller decrefs) */
    char err[300];
};
/* line is edited in place (plain form); len is its length. */
void control_parse_line(char *line, size_t len, struct control_parsed *p);

/* `work`'s arguments.  Plain form: subcommand and the words after it
 * (split at each space, as upstream splits; words[] holds the first
 * WORK_MAX_WORDS, nwords counts them all, and rest_from2 is the original
 * text from the third word on: submit's params, verbatim). */
#define WORK_MAX_WORDS 8
struct work_args {
    char sub[32];
    json_t *cmd;          /* JSON form, or NULL */
    char *words[WORK_MAX_WORDS];
    int nwords;
    const char *rest_from2;
    char *plainbuf;
    char *origbuf;
};
/* -1 with err ("bad command") when a JSON subcommand is not a string. */
int work_args_parse(const char *params, json_t *cmd, struct work_args *a, char *err, size_t errlen);
void work_args_free(struct work_args *a);

/* A start position is a byte offset, 0 to INT64_MAX.  The plain form
 * parses as Go's strconv.ParseInt (upstream's error words); JSON takes an
 * integer, or a real truncated as upstream does, range-checked first.
 * -1 with err naming the value and the range. */
int work_startpos_word(const char *w, int64_t *out, char *err, size_t errlen);
int work_startpos_json(json_t *sp, int64_t *out, char *err, size_t errlen);

#endif
