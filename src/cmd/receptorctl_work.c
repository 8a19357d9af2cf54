/* receptorctl_work.c - the "work" subcommands of receptorctl.
 *
 *   work list     [-q] [--node N] [--unit_id ID] [--tls-client NAME]
 *   work submit   WORKTYPE [CMDPARAMS]... with one of -p FILE|-, -l TEXT, -n
 *   work results  UNIT_ID
 *   work cancel   [UNIT_IDS]...
 *   work release  [--force] [--all] [UNIT_IDS]...
 *
 * Submit streams the payload (file, stdin or literal) to the control socket
 * in fixed-size chunks after the server's "Work unit created" line, then
 * half-closes the socket so the server sees EOF, and reads the final JSON
 * line.  Results are copied to stdout as they arrive.  Neither ever holds
 * more than one chunk in memory.
 *
 * On a terminal, a large payload or results stream shows a one-line meter
 * on stderr (core/progress.h); -q/--quiet (this project's addition) turns
 * it off, and it never shows when stderr is not a terminal, or for results
 * that go to a terminal on stdout.  The bytes on stdout are the same either
 * way.
 *
 * Messages and exit statuses are upstream's: submit failures print
 * "ERROR: <text>" and exit 101, a failed unit after results prints
 * "ERROR: Remote unit failed: <detail>" (plus upstream's extra blank line)
 * and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/receptorctl_common.h"
#include "core/progress.h"

#define CHUNK 65536
#define PARAM_FILE_MAX ((size_t)16 << 20)

/* ---------------------------------------------------------------- help */

static const struct cmd_def work_group = {
    "work", NULL, 0, NULL, 0,
    "\n  Commands related to unit-of-work processing\n\n"
    "Options:\n"
    "  --help  Show this message and exit.\n"
    "\n"
    "Commands:\n"
    "  cancel   Cancel (kill) one or more units of work.\n"
    "  list     List known units of work.\n"
    "  release  Release (delete) one or more units of work.\n"
    "  results  Get results for a previously or currently running unit of work.\n"
    "  submit   Submit a new unit of work.\n",
    "work [OPTIONS] COMMAND [ARGS]...",
};

enum { L_QUIET, L_NODE, L_UNIT, L_TLS };
static const struct opt_def list_opts[] = {
    [L_QUIET] = { "quiet", 'q', OPT_FLAG, NULL, NULL },
    [L_NODE] = { "node", 0, OPT_TEXT, NULL, NULL },
    [L_UNIT] = { "unit_id", 0, OPT_TEXT, NULL, "" },
    [L_TLS] = { "tls-client", 0, OPT_TEXT, NULL, "" },
};
static const struct cmd_def list_cmd = {
    "work list", list_opts, 4, NULL, 0,
    "\n  List known units of work.\n\n"
    "Options:\n"
    "  -q, --quiet        Only list unit IDs with no detail\n"
    "  --node TEXT        Receptor node to list work from. Defaults to the local\n"
    "                     node.\n"
    "  --unit_id TEXT     Only show detail for a specific unit id\n"
    "  --tls-client TEXT  TLS client config name used when connecting to remote\n"
    "                     node\n"
    "  --help             Show this message and exit.\n",
    "work list [OPTIONS]",
};

enum { S_NODE, S_PAYLOAD, S_LITERAL, S_NOPAYLOAD, S_TLS, S_TTL, S_SIGN, S_FOLLOW, S_RM, S_PARAM,
       S_QUIET };
static const struct opt_def submit_opts[] = {
    [S_NODE] = { "node", 0, OPT_TEXT, NULL, NULL },
    [S_PAYLOAD] = { "payload", 'p', OPT_TEXT, NULL, NULL },
    [S_LITERAL] = { "payload-literal", 'l', OPT_TEXT, NULL, NULL },
    [S_NOPAYLOAD] = { "no-payload", 'n', OPT_FLAG, NULL, NULL },
    [S_TLS] = { "tls-client", 0, OPT_TEXT, NULL, "" },
    [S_TTL] = { "ttl", 0, OPT_TEXT, NULL, "" },
    [S_SIGN] = { "signwork", 0, OPT_FLAG, NULL, NULL },
    [S_FOLLOW] = { "follow", 'f', OPT_FLAG, NULL, NULL },
    [S_RM] = { "rm", 0, OPT_FLAG, NULL, NULL },
    [S_PARAM] = { "param", 'a', OPT_MULTI, NULL, NULL },
    [S_QUIET] = { "quiet", 'q', OPT_FLAG, NULL, NULL }, /* not upstream's: no meter */
};
static const struct arg_def submit_args[] = { { "worktype", true, false }, { "cmdparams", false, true } };
static const struct cmd_def submit_cmd = {
    "work submit", submit_opts, 11, submit_args, 2,
    "\n  Submit a new unit of work.\n\n"
    "Options:\n"
    "  --node TEXT                 Receptor node to run the work on. Defaults to\n"
    "                              the local node.\n"
    "  -p, --payload TEXT          File containing unit of work data. Use - for\n"
    "                              stdin.\n"
    "  -l, --payload-literal TEXT  Use the command line string as the literal unit\n"
    "                              of work data.\n"
    "  -n, --no-payload            Send an empty payload.\n"
    "  --tls-client TEXT           TLS client used when submitting work to a remote\n"
    "                              node\n"
    "  --ttl TEXT                  Time to live until remote work must start, e.g.\n"
    "                              1h20m30s or 30m10s\n"
    "  --signwork                  Digitally sign remote work submissions\n"
    "  -f, --follow                Remain attached to the job and print its results\n"
    "                              to stdout\n"
    "  --rm                        Release unit after completion\n"
    "  -a, --param TEXT            Additional Receptor parameter (key=value format)\n"
    "  -q, --quiet                 No progress line on a terminal\n"
    "  --help                      Show this message and exit.\n",
    "work submit [OPTIONS] WORKTYPE [CMDPARAMS]...",
};

static const struct arg_def unit_arg[] = { { "unit_id", true, false } };
static const struct opt_def results_opts[] = {
    { "quiet", 'q', OPT_FLAG, NULL, NULL }, /* not upstream's: no meter */
};
static const struct cmd_def results_cmd = {
    "work results", results_opts, 1, unit_arg, 1,
    "\n  Get results for a previously or currently running unit of work.\n\n"
    "Options:\n"
    "  -q, --quiet  No progress line on a terminal\n"
    "  --help       Show this message and exit.\n",
    "work results [OPTIONS] UNIT_ID",
};

static const struct arg_def unit_ids_arg[] = { { "unit_ids", false, true } };
static const struct cmd_def cancel_cmd = {
    "work cancel", NULL, 0, unit_ids_arg, 1,
    "\n  Cancel (kill) one or more units of work.\n\n"
    "Options:\n"
    "  --help  Show this message and exit.\n",
    "work cancel [OPTIONS] [UNIT_IDS]...",
};

enum { R_FORCE, R_ALL };
static const struct opt_def release_opts[] = {
    [R_FORCE] = { "force", 0, OPT_FLAG, NULL, NULL },
    [R_ALL] = { "all", 0, OPT_FLAG, NULL, NULL },
};
static const struct cmd_def release_cmd = {
    "work release", release_opts, 2, unit_ids_arg, 1,
    "\n  Release (delete) one or more units of work.\n\n"
    "Options:\n"
    "  --force  Delete locally even if we can't reach the remote node\n"
    "  --all    Delete all work units\n"
    "  --help   Show this message and exit.\n",
    "work release [OPTIONS] [UNIT_IDS]...",
};

/* ---------------------------------------------------------------- helpers */

static const char *cstr(struct buf *b)
{
    const char *s = "";
    buf_cstr(b, &s);
    return s;
}

/* op_on_unit_ids(): "work <op> <id>" per ID, printing "(<value>, <key>)". */
static void op_on_unit_ids(struct rctl *c, const char *op, const char *const *ids, size_t n)
{
    struct buf cmd, line;
    buf_init(&cmd, RCTL_LINE_MAX);
    buf_init(&line, RCTL_LINE_MAX);
    for (size_t i = 0; i < n; i++) {
        buf_reset(&cmd);
        buf_printf(&cmd, "work %s %s", op, ids[i]);
        struct pj *res = rctl_simple(c, cstr(&cmd));
        if (!res) {
            print_error("%s: ERROR: %s", ids[i], rctl_errstr(c));
            exit(1);
        }
        if (res->type != PJ_OBJECT || res->count == 0) {
            print_error("%s: ERROR: %s", ids[i],
                        res->type == PJ_OBJECT ? "list index out of range"
                                               : "object has no attribute 'items'");
            exit(1);
        }
        buf_reset(&line);
        buf_append_str(&line, "(");
        pj_str(res->items[0], &line);
        buf_append_str(&line, ", ");
        buf_append(&line, res->keys[0], res->key_lens[0]);
        buf_append_str(&line, ")\n");
        out_buf(&line);
        pj_free(res);
    }
    buf_free(&cmd);
    buf_free(&line);
}

/* ---------------------------------------------------------------- list */

static int cmd_list(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&list_cmd, argc, argv, &r);
    const char *node = r.value[L_NODE];
    if (node && *node) {
        if (rctl_connect_to_service(c, node, "control", r.value[L_TLS]) < 0 || rctl_handshake(c) < 0)
            fail_ctl(c, 1);
    }
    struct buf cmd;
    buf_init(&cmd, RCTL_LINE_MAX);
    buf_append_str(&cmd, "work list");
    if (*r.value[L_UNIT])
        buf_printf(&cmd, " %s", r.value[L_UNIT]);
    struct pj *work = rctl_simple_or_fail(c, cstr(&cmd));
    if (r.value[L_QUIET]) {
        struct buf out;
        buf_init(&out, (size_t)1 << 30);
        for (size_t i = 0; work->type == PJ_OBJECT && i < work->count; i++) {
            buf_append(&out, work->keys[i], work->key_lens[i]);
            buf_append_str(&out, "\n");
        }
        out_buf(&out);
        buf_free(&out);
    } else {
        print_json(work);
    }
    pj_free(work);
    buf_free(&cmd);
    return 0;
}

/* ---------------------------------------------------------------- results */

/* Upstream's results(): streams the unit's stdout, then checks its state.
 * Returns 0, 1 (unit failed; message printed) or -1 (error in c->err). */
static int stream_results(struct rctl *c, const char *unit_id, bool quiet)
{
    struct buf line;
    buf_init(&line, RCTL_LINE_MAX);
    buf_printf(&line, "work results %s 0\n", unit_id);
    if (rctl_connect(c) < 0 || rctl_write(c, buf_head(&line), buf_size(&line)) < 0 ||
        rctl_read_line(c, &line) < 0) {
        buf_free(&line);
        return -1;
    }
    static const char prefix[] = "Streaming results for work unit ";
    const char *text = cstr(&line);
    if (strlen(text) <= sizeof prefix - 1 || strncmp(text, prefix, sizeof prefix - 1) != 0) {
        if (strncmp(text, "ERROR: ", 7) == 0)
            rctl_set_err(c, "Failed to get results: %s", text + 7);
        else
            rctl_set_err(c, "Failed to get results");
        buf_free(&line);
        return -1;
    }
    buf_free(&line);
    if (rctl_shutdown_write(c) < 0)
        return -1;
    char *chunk = malloc(CHUNK);
    ssize_t n = 0;
    struct progress meter;
    progress_start(&meter, progress_wanted(quiet, true) ? 2 : -1, "received", 0);
    while (chunk && (n = rctl_read_raw(c, chunk, CHUNK)) > 0) {
        out_write(1, chunk, (size_t)n);
        progress_add(&meter, (uint64_t)n);
    }
    if (n < 0)
        progress_break(&meter);
    else
        progress_end(&meter);
    free(chunk);
    rctl_close(c);
    if (n < 0)
        return -1; /* cut off (a reset): an error, not short results (c->err says why) */

    buf_init(&line, RCTL_LINE_MAX);
    buf_printf(&line, "work status %s", unit_id);
    struct pj *status = rctl_simple(c, cstr(&line));
    buf_free(&line);
    if (!status)
        return -1;
    int rc = 0;
    if (pj_equals_int(pj_get(status, "State"), 3)) {
        struct buf detail;
        buf_init(&detail, RCTL_LINE_MAX);
        const struct pj *d = pj_get(status, "Detail");
        if (d)
            pj_str(d, &detail);
        else
            buf_append_str(&detail, "Unknown");
        print_error("Remote unit failed: %s\n", cstr(&detail));
        buf_free(&detail);
        rc = 1;
    }
    pj_free(status);
    return rc;
}

static int cmd_results(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&results_cmd, argc, argv, &r);
    int rc = stream_results(c, r.arg[0], r.value[0] != NULL);
    if (rc < 0)
        fail_ctl(c, 1);
    return rc;
}

/* ---------------------------------------------------------------- submit */

struct param {
    char *key;
    char *value;
};

struct param_list {
    struct param *items;
    size_t count;
};

static void params_set(struct param_list *ps, const char *key, size_t klen, const char *value)
{
    for (size_t i = 0; i < ps->count; i++)
        if (strlen(ps->items[i].key) == klen && strncmp(ps->items[i].key, key, klen) == 0) {
            free(ps->items[i].value);
            ps->items[i].value = strdup(value);
            return;
        }
    ps->items = realloc(ps->items, (ps->count + 1) * sizeof *ps->items);
    if (!ps->items)
        exit(1);
    ps->items[ps->count].key = strndup(key, klen);
    ps->items[ps->count].value = strdup(value);
    ps->count++;
}

static const char *params_get(const struct param_list *ps, const char *key)
{
    for (size_t i = 0; i < ps->count; i++)
        if (strcmp(ps->items[i].key, key) == 0)
            return ps->items[i].value;
    return NULL;
}

static void params_free(struct param_list *ps)
{
    for (size_t i = 0; i < ps->count; i++) {
        free(ps->items[i].key);
        free(ps->items[i].value);
    }
    free(ps->items);
}

/* dict(s.split("=", 1) for s in param), then CMDPARAMS joined into "params". */
static int build_params(struct rctl *c, const struct cli_result *r, struct param_list *ps)
{
    for (size_t i = 0; i < r->nmulti; i++) {
        const char *eq = strchr(r->multi[i], '=');
        if (!eq) {
            rctl_set_err(c, "dictionary update sequence element #%zu has length 1; 2 is required", i);
            return -1;
        }
        params_set(ps, r->multi[i], (size_t)(eq - r->multi[i]), eq + 1);
    }
    if (r->nrest == 0)
        return 0;
    struct buf all;
    buf_init(&all, RCTL_LINE_MAX);
    const char *existing = params_get(ps, "params");
    if (existing)
        buf_append_str(&all, existing);
    for (size_t i = 0; i < r->nrest; i++) {
        if (i || existing)
            buf_append_str(&all, " ");
        buf_append_str(&all, r->rest[i]);
    }
    params_set(ps, "params", 6, cstr(&all));
    buf_free(&all);
    return 0;
}

/* open(fname, "r").read(): text mode turns \r\n and \r into \n. */
static int read_param_file(struct rctl *c, const char *fname, struct buf *out)
{
    if (access(fname, F_OK) != 0) {
        rctl_set_err(c, "%s does not exist", fname);
        return -1;
    }
    FILE *f = fopen(fname, "rb");
    int ch, prev = 0, rc = 0;
    if (!f) {
        rctl_set_err(c, "could not read from file %s", fname);
        return -1;
    }
    while ((ch = fgetc(f)) != EOF && rc == 0) {
        if (ch == '\n' && prev == '\r') {
            prev = ch;
            continue;
        }
        char o = ch == '\r' ? '\n' : (char)ch;
        rc = buf_append(out, &o, 1);
        prev = ch;
    }
    if (ferror(f) || rc < 0) {
        rctl_set_err(c, "could not read from file %s", fname);
        rc = -1;
    }
    fclose(f);
    return rc;
}

static void json_member(struct buf *b, const char *key, const char *value)
{
    if (buf_size(b) > 1)
        buf_append_str(b, ", ");
    pyjson_put_string_escaped(b, key, strlen(key));
    buf_append_str(b, ": ");
    pyjson_put_string_escaped(b, value, strlen(value));
}

static bool reserved(const char *const *keys, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

/* The JSON submit line, keys in upstream's insertion order. */
static int submit_line(struct rctl *c, const struct cli_result *r, const struct param_list *ps, struct buf *b)
{
    const char *node = r->value[S_NODE] && *r->value[S_NODE] ? r->value[S_NODE] : "localhost";
    const char *used[8];
    size_t nused = 0;
    buf_append_str(b, "{");
    json_member(b, used[nused++] = "command", "work");
    json_member(b, used[nused++] = "subcommand", "submit");
    json_member(b, used[nused++] = "node", node);
    json_member(b, used[nused++] = "worktype", r->arg[0]);
    if (*r->value[S_TLS])
        json_member(b, used[nused++] = "tlsclient", r->value[S_TLS]);
    if (*r->value[S_TTL])
        json_member(b, used[nused++] = "ttl", r->value[S_TTL]);
    if (r->value[S_SIGN])
        json_member(b, used[nused++] = "signwork", "true");
    for (size_t i = 0; i < ps->count; i++) {
        const char *k = ps->items[i].key, *v = ps->items[i].value;
        if (reserved(used, nused, k)) {
            rctl_set_err(c, "Duplicate or illegal parameter %s", k);
            return -1;
        }
        if (!*v) {
            rctl_set_err(c, "string index out of range");
            return -1;
        }
        if (v[0] == '@' && v[1] != '@') {
            struct buf content;
            buf_init(&content, PARAM_FILE_MAX);
            int rc = read_param_file(c, v + 1, &content);
            if (rc == 0)
                json_member(b, k, cstr(&content));
            buf_free(&content);
            if (rc < 0)
                return -1;
        } else {
            json_member(b, k, v);
        }
    }
    return buf_append_str(b, "}\n");
}

/* "Work unit created with ID (.+). Send stdin data and EOF." (fullmatch). */
static bool created_line(const char *t)
{
    static const char prefix[] = "Work unit created with ID ";
    static const char tail[] = " Send stdin data and EOF";
    size_t n = strlen(t), p = sizeof prefix - 1, s = sizeof tail - 1;
    return n >= p + 1 + 1 + s + 1 && strncmp(t, prefix, p) == 0 &&
           strncmp(t + n - 1 - s, tail, s) == 0;
}

struct payload {
    int fd;              /* -1: use literal */
    const char *literal; /* bytes to send, without the trailing newline */
    bool newline;
};

static int send_payload(struct rctl *c, const struct payload *pl, bool quiet)
{
    if (pl->fd < 0) {
        if (rctl_write_str(c, pl->literal) < 0 || (pl->newline && rctl_write(c, "\n", 1) < 0))
            return -1;
        return 0;
    }
    char *chunk = malloc(CHUNK);
    int rc = chunk ? 0 : -1;
    struct stat st;
    uint64_t total = fstat(pl->fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    struct progress meter;
    progress_start(&meter, progress_wanted(quiet, false) ? 2 : -1, "sent", total);
    while (rc == 0) {
        ssize_t n = read(pl->fd, chunk, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rctl_set_errno(c, errno, NULL);
            rc = -1;
        }
        if (n <= 0)
            break;
        rc = rctl_write(c, chunk, (size_t)n);
        progress_add(&meter, (uint64_t)n);
    }
    if (rc == 0)
        progress_end(&meter);
    else
        progress_break(&meter);
    free(chunk);
    return rc;
}

/* submit_work(): returns the reply object or NULL with c->err set. */
static struct pj *submit_work(struct rctl *c, const struct cli_result *r, const struct param_list *ps,
                              const struct payload *pl)
{
    if (rctl_connect(c) < 0)
        return NULL;
    struct buf line;
    buf_init(&line, RCTL_LINE_MAX);
    struct pj *reply = NULL;
    if (submit_line(c, r, ps, &line) < 0 || rctl_write(c, buf_head(&line), buf_size(&line)) < 0 ||
        rctl_read_line(c, &line) < 0)
        goto out;
    const char *text = cstr(&line);
    if (!created_line(text)) {
        if (strncmp(text, "ERROR: ", 7) == 0)
            rctl_set_err(c, "Failed to start work unit: %s", text + 7);
        else
            rctl_set_err(c, "Failed to start work unit");
        goto out;
    }
    if (send_payload(c, pl, r->value[S_QUIET] != NULL) < 0 || rctl_shutdown_write(c) < 0 || rctl_read_line(c, &line) < 0)
        goto out;
    rctl_close(c);
    text = cstr(&line);
    if (strncmp(text, "ERROR:", 6) == 0)
        rctl_set_err(c, "Remote error: %s", text);
    else
        reply = pj_parse(text, strlen(text), &c->err);
out:
    buf_free(&line);
    return reply;
}

static int check_payload_choice(const struct cli_result *r)
{
    int count = (r->value[S_PAYLOAD] && *r->value[S_PAYLOAD]) + (r->value[S_NOPAYLOAD] != NULL) +
                (r->value[S_LITERAL] && *r->value[S_LITERAL]);
    if (count < 1) {
        print_error("Must provide one of --payload, --no-payload or --payload-literal.");
        return 1;
    }
    if (count > 1) {
        print_error("Cannot provide more than one of --payload, --no-payload and --payload-literal.");
        return 1;
    }
    return 0;
}

static int open_payload(const struct cli_result *r, struct payload *pl)
{
    pl->fd = -1;
    pl->literal = "";
    pl->newline = false;
    if (r->value[S_LITERAL] && *r->value[S_LITERAL]) {
        pl->literal = r->value[S_LITERAL];
        pl->newline = true;
        return 0;
    }
    if (r->value[S_NOPAYLOAD])
        return 0;
    const char *path = r->value[S_PAYLOAD];
    if (strcmp(path, "-") == 0) {
        pl->fd = 0;
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int err = fd < 0 ? errno : (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) ? EISDIR : 0;
    if (err) {
        if (fd >= 0)
            close(fd);
        struct buf msg;
        buf_init(&msg, RCTL_LINE_MAX);
        buf_printf(&msg, "[Errno %d] %s: ", err, strerror(err));
        py_repr_str(path, strlen(path), &msg);
        print_error("Failed to load payload file: %s", cstr(&msg));
        buf_free(&msg);
        return 1;
    }
    pl->fd = fd;
    return 0;
}

/* The try: part of upstream's submit; returns the exit status. */
static int submit_and_report(struct rctl *c, const struct cli_result *r, const struct payload *pl,
                             struct buf *unitid)
{
    struct param_list ps = { 0 };
    struct pj *work = NULL;
    int rc = 101;
    if (build_params(c, r, &ps) < 0 || !(work = submit_work(c, r, &ps, pl)))
        goto out;
    struct pj *result = pj_pop(work, "result");
    struct pj *uid = result ? pj_pop(work, "unitid") : NULL;
    if (!result || !uid) {
        rctl_set_err(c, "'%s'", result ? "unitid" : "result");
    } else {
        pj_str(uid, unitid);
        if (r->value[S_FOLLOW]) {
            rc = stream_results(c, cstr(unitid), r->value[S_QUIET] != NULL);
            rc = rc < 0 ? 101 : rc;
        } else {
            struct buf out;
            buf_init(&out, RCTL_LINE_MAX);
            buf_append_str(&out, "Result: ");
            pj_str(result, &out);
            buf_printf(&out, "\nUnit ID: %s\n", cstr(unitid));
            out_buf(&out);
            buf_free(&out);
            rc = 0;
        }
    }
    pj_free(result);
    pj_free(uid);
out:
    if (rc == 101)
        print_error("%s", rctl_errstr(c));
    pj_free(work);
    params_free(&ps);
    return rc;
}

static int cmd_submit(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&submit_cmd, argc, argv, &r);
    if (check_payload_choice(&r))
        return 1;
    if (r.value[S_RM] && !r.value[S_FOLLOW])
        print_warning("using --rm without --follow. Unit results will never be seen.");
    struct payload pl;
    if (open_payload(&r, &pl))
        return 1;
    struct buf unitid;
    buf_init(&unitid, RCTL_LINE_MAX);
    int rc = submit_and_report(c, &r, &pl, &unitid);
    if (r.value[S_RM] && buf_size(&unitid) > 0) {
        const char *id = cstr(&unitid);
        op_on_unit_ids(c, "release", &id, 1);
    }
    if (pl.fd > 0)
        close(pl.fd);
    buf_free(&unitid);
    return rc;
}

/* ---------------------------------------------------------------- cancel/release */

static int cmd_cancel(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&cancel_cmd, argc, argv, &r);
    if (r.nrest == 0) {
        print_warning("No unit IDs supplied: Not doing anything");
        return 0;
    }
    out_str("Cancelled:\n");
    op_on_unit_ids(c, "cancel", r.rest, r.nrest);
    return 0;
}

static int cmd_release(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&release_cmd, argc, argv, &r);
    bool all = r.value[R_ALL] != NULL;
    if (r.nrest == 0 && !all) {
        print_warning("No unit IDs supplied: Not doing anything");
        return 0;
    }
    const char *op = r.value[R_FORCE] ? "force-release" : "release";
    out_str("Released:\n");
    if (!all) {
        op_on_unit_ids(c, op, r.rest, r.nrest);
        return 0;
    }
    struct pj *work = rctl_simple_or_fail(c, "work list");
    size_t n = work->type == PJ_OBJECT ? work->count : 0;
    op_on_unit_ids(c, op, (const char *const *)work->keys, n);
    pj_free(work);
    return 0;
}

/* ---------------------------------------------------------------- group */

struct work_command {
    const char *name;
    int (*run)(struct rctl *c, int argc, char **argv);
};

static const struct work_command work_commands[] = {
    { "cancel", cmd_cancel }, { "list", cmd_list },     { "release", cmd_release },
    { "results", cmd_results }, { "submit", cmd_submit },
};

int cmd_work(struct rctl *c, int argc, char **argv)
{
    if (argc == 0) {
        cli_print_help(&work_group);
        return 0;
    }
    struct cli_result g;
    bool help;
    int sub = cli_parse_group(&work_group, argc, argv, &g, &help);
    if (help) {
        cli_print_help(&work_group);
        return 0;
    }
    if (sub >= argc)
        cli_usage_error("Missing command.");
    for (size_t i = 0; i < sizeof work_commands / sizeof *work_commands; i++)
        if (strcmp(work_commands[i].name, argv[sub]) == 0)
            return work_commands[i].run(c, argc - sub - 1, argv + sub + 1);
    cli_usage_error("No such command '%s'.", argv[sub]);
}
