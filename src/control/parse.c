/* parse.c - see parse.h. */
#include "control/parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- line framing ------------------------------------------------------------ */

void control_lines_init(struct control_lines *l, size_t max_line, size_t max_input)
{
    memset(l, 0, sizeof *l);
    buf_init(&l->in, max_input);
    l->max_line = max_line;
}

void control_lines_free(struct control_lines *l) { buf_free(&l->in); }

int control_lines_feed(struct control_lines *l, const uint8_t *data, size_t len)
{
    if (l->discarding) {
        const uint8_t *nl = memchr(data, '\n', len);
        if (!nl)
            return 0; /* all of it is the over-long line's */
        len -= (size_t)(nl + 1 - data);
        data = nl + 1;
        l->discarding = 0;
        l->overlong = 1;
    }
    return buf_append(&l->in, data, len) < 0 ? -1 : 0;
}

void control_lines_eof(struct control_lines *l)
{
    if (l->discarding) {
        l->discarding = 0;
        l->overlong = 1;
    }
}

ssize_t control_lines_next(struct control_lines *l, char **out)
{
    if (l->overlong) {
        l->overlong = 0;
        return CONTROL_LINE_TOO_LONG;
    }
    size_t n = buf_size(&l->in);
    if (n == 0)
        return CONTROL_LINE_NONE;
    uint8_t *p = buf_head(&l->in);
    uint8_t *nl = memchr(p, '\n', n);
    size_t len = nl ? (size_t)(nl - p) : n;
    if (len > l->max_line) {
        if (nl) {
            buf_consume(&l->in, len + 1);
            return CONTROL_LINE_TOO_LONG;
        }
        buf_reset(&l->in);
        l->discarding = 1;
        return CONTROL_LINE_NONE;
    }
    if (!nl)
        return CONTROL_LINE_NONE;
    char *line = malloc(len + 1);
    if (!line)
        return CONTROL_LINE_NONE;
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\r')
            line[k++] = (char)p[i];
    line[k] = 0;
    buf_consume(&l->in, len + 1);
    *out = line;
    return (ssize_t)k;
}

/* ---- a line to a command ------------------------------------------------------- */

static void lowercase(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

void control_parse_line(char *line, size_t len, struct control_parsed *p)
{
    memset(p, 0, sizeof *p);
    p->params = "";
    if (line[0] != '{') {
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = 0;
            p->params = sp + 1;
        }
        lowercase(line);
        p->name = line;
        return;
    }
    json_error_t je;
    p->cmd = json_loadb(line, len, 0, &je);
    json_t *name = json_object_get(p->cmd, "command");
    if (!p->cmd)
        snprintf(p->err, sizeof p->err, "%s", je.text);
    else if (!name)
        snprintf(p->err, sizeof p->err, "JSON did not contain a command");
    else if (!json_is_string(name))
        snprintf(p->err, sizeof p->err, "command must be a string");
    else
        p->name = json_string_value(name);
}

/* ---- work's arguments ---------------------------------------------------------- */

int work_args_parse(const char *params, json_t *cmd, struct work_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    if (cmd) {
        json_t *sub = json_object_get(cmd, "subcommand");
        if (!json_is_string(sub)) {
            snprintf(err, errlen, "bad command");
            return -1;
        }
        snprintf(a->sub, sizeof a->sub, "%s", json_string_value(sub));
    } else {
        a->plainbuf = strdup(params ? params : "");
        a->origbuf = strdup(params ? params : "");
        if (!a->plainbuf || !a->origbuf) {
            work_args_free(a);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        char *p = a->plainbuf;
        char *sp = strchr(p, ' ');
        if (sp)
            *sp = 0;
        snprintf(a->sub, sizeof a->sub, "%s", p);
        while (sp) {
            p = sp + 1;
            sp = strchr(p, ' ');
            if (sp)
                *sp = 0;
            if (a->nwords == 2)
                a->rest_from2 = a->origbuf + (p - a->plainbuf);
            if (a->nwords < WORK_MAX_WORDS)
                a->words[a->nwords] = p;
            a->nwords++;
        }
    }
    lowercase(a->sub);
    return 0;
}

void work_args_free(struct work_args *a)
{
    free(a->plainbuf);
    free(a->origbuf);
    a->plainbuf = a->origbuf = NULL;
}

/* ---- start positions -------------------------------------------------------------- */

#define STARTPOS_RANGE "(0 to 9223372036854775807)"

int work_startpos_word(const char *w, int64_t *out, char *err, size_t errlen)
{
    const char *p = w + (*w == '+' || *w == '-');
    const char *why = NULL;
    char *end;
    errno = 0;
    long long v = strtoll(w, &end, 10);
    if (*p < '0' || *p > '9' || *end)
        why = "invalid syntax";
    else if (errno == ERANGE)
        why = "value out of range";
    if (why) {
        snprintf(err, errlen, "error converting start position to integer: strconv.ParseInt: parsing \"%s\": %s",
                 w, why);
        return -1;
    }
    if (v < 0) {
        snprintf(err, errlen, "start position %lld is out of range " STARTPOS_RANGE, v);
        return -1;
    }
    *out = v;
    return 0;
}

int work_startpos_json(json_t *sp, int64_t *out, char *err, size_t errlen)
{
    if (!sp) {
        snprintf(err, errlen, "field startpos missing");
        return -1;
    }
    if (!json_is_number(sp)) {
        snprintf(err, errlen, "field startpos must be a number");
        return -1;
    }
    if (json_is_integer(sp)) {
        json_int_t v = json_integer_value(sp);
        if (v < 0) {
            snprintf(err, errlen, "field startpos value %lld is out of range " STARTPOS_RANGE, (long long)v);
            return -1;
        }
        *out = v;
        return 0;
    }
    double d = json_real_value(sp);
    if (!(d >= 0 && d < 9223372036854775808.0)) { /* also NaN */
        snprintf(err, errlen, "field startpos value %g is out of range " STARTPOS_RANGE, d);
        return -1;
    }
    *out = (int64_t)d;
    return 0;
}
