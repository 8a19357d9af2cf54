/* receptorctl.c - command-line client for a Receptor node's control service.
 *
 * A C reimplementation of upstream's Python receptorctl (receptorctl/cli.py):
 * same subcommands, options, output bytes and exit statuses, so scripts and
 * operators cannot tell the two apart.  This file holds main(), the global
 * options, the output helpers and the top-level subcommands (status, ping,
 * traceroute, reload, connect, version); the "work" group is in
 * receptorctl_work.c, the socket client in receptorctl_conn.c, the option
 * parser in receptorctl_cli.c and the Python-style JSON printing in
 * core/pyjson_value.c (the value tree of core/pyjson.h).
 *
 * Exit statuses (upstream): 0 success; 1 any error ("ERROR: <text>" on
 * stderr, also for usage errors, since upstream runs click with
 * standalone_mode=False); ping 2 when any ping failed; reload 3/4/5;
 * work submit 101. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cmd/receptorctl_common.h"

#ifndef RECEPTOR_VERSION
#define RECEPTOR_VERSION "unknown"
#endif

const char *rctl_version(void) { return RECEPTOR_VERSION; }

/* ---------------------------------------------------------------- output */

/* Output that cannot be written (a full disk, a closed pipe) ends the
 * program with status 1: results must not look complete when they are not. */
void out_write(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (fd != 2) {
                char msg[160];
                int len = snprintf(msg, sizeof msg, "ERROR: cannot write the output: %s\n",
                                   w < 0 ? strerror(errno) : "nothing written");
                if (write(2, msg, (size_t)len) < 0) {
                    /* nowhere left to say it */
                }
            }
            _exit(1);
        }
        s += w;
        n -= (size_t)w;
    }
}

void out_str(const char *s) { out_write(1, s, strlen(s)); }

void out_buf(struct buf *b) { out_write(1, buf_head(b), buf_size(b)); }

/* click.echo(click.style(text, fg=...), err=True): colour only on a tty. */
static void styled_line(const char *color, const char *prefix, const char *fmt, va_list ap)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 26);
    bool tty = isatty(2);
    if (tty)
        buf_printf(&b, "\x1b[%sm", color);
    buf_append_str(&b, prefix);
    char small[1024];
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n >= 0 && (size_t)n < sizeof small) {
        buf_append(&b, small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            buf_append(&b, big, (size_t)n);
            free(big);
        }
    }
    if (tty)
        buf_append_str(&b, "\x1b[0m");
    buf_append_str(&b, "\n");
    out_write(2, buf_head(&b), buf_size(&b));
    buf_free(&b);
}

void print_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    styled_line("31", "ERROR: ", fmt, ap);
    va_end(ap);
}

void print_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    styled_line("35", "Warning: ", fmt, ap);
    va_end(ap);
}

void print_json(const struct pj *v)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    pj_dump_pretty(v, &b);
    buf_append_str(&b, "\n");
    out_buf(&b);
    buf_free(&b);
}

void fail_ctl(struct rctl *c, int code)
{
    print_error("%s", rctl_errstr(c));
    exit(code);
}

struct pj *rctl_simple_or_fail(struct rctl *c, const char *cmd)
{
    struct pj *res = rctl_simple(c, cmd);
    if (!res)
        fail_ctl(c, 1);
    return res;
}

/* Python's KeyError text for a missing key. */
static _Noreturn void fail_key(const char *key)
{
    print_error("'%s'", key);
    exit(1);
}

static struct pj *need(const struct pj *obj, const char *key)
{
    struct pj *v = pj_get(obj, key);
    if (!v)
        fail_key(key);
    return v;
}

/* Appends str(v) to b (f-string "{v}"). */
static void put_str(struct buf *b, const struct pj *v) { pj_str(v, b); }

/* Appends f"{v:<width}". */
static void put_padded(struct buf *b, const struct pj *v, size_t width)
{
    struct buf t;
    buf_init(&t, RCTL_LINE_MAX);
    pj_str(v, &t);
    py_pad(b, (const char *)buf_head(&t), buf_size(&t), width);
    buf_free(&t);
}

static void put_padded_text(struct buf *b, const char *s, size_t width)
{
    py_pad(b, s, strlen(s), width);
}

/* ---------------------------------------------------------------- status */

/* --graph is this project's addition (receptorctl_graph.c); the rest is upstream's. */
enum { ST_JSON, ST_GRAPH };
static const struct opt_def status_opts[] = {
    [ST_JSON] = { "json", 0, OPT_FLAG, NULL, NULL },
    [ST_GRAPH] = { "graph", 0, OPT_OPTVAL, NULL, "dot" },
};
static const struct cmd_def status_cmd = {
    "status", status_opts, 2, NULL, 0,
    "\n  Show the status of the Receptor network.\n\n"
    "Options:\n"
    "  --json                     Print as JSON\n"
    "  --graph [dot|svg|png|pdf]  Print the mesh as a Graphviz graph: DOT (the\n"
    "                             default) or rendered by Graphviz's dot\n"
    "  --help                     Show this message and exit.\n",
    "status [OPTIONS]",
};

static size_t str_len_of(const struct pj *v)
{
    struct buf t;
    buf_init(&t, RCTL_LINE_MAX);
    pj_str(v, &t);
    size_t n = py_len((const char *)buf_head(&t), buf_size(&t));
    buf_free(&t);
    return n;
}

static void print_header_lines(struct pj *st, struct buf *out)
{
    static const char *const keys[][2] = {
        { "NodeID", "Node ID" }, { "Version", "Version" },
        { "SystemCPUCount", "System CPU Count" }, { "SystemMemoryMiB", "System Memory MiB" },
    };
    for (size_t i = 0; i < 4; i++) {
        struct pj *v = pj_pop(st, keys[i][0]);
        if (!v) {
            out_buf(out);
            fail_key(keys[i][0]);
        }
        buf_printf(out, "%s: ", keys[i][1]);
        put_str(out, v);
        buf_append_str(out, "\n");
        pj_free(v);
    }
}

static void print_connections(const struct pj *conns, size_t width, struct buf *out)
{
    buf_append_str(out, "\n");
    put_padded_text(out, "Connection", width);
    buf_append_str(out, " Cost\n");
    for (size_t i = 0; i < conns->count; i++) {
        put_padded(out, need(conns->items[i], "NodeID"), width);
        buf_append_str(out, " ");
        put_str(out, need(conns->items[i], "Cost"));
        buf_append_str(out, "\n");
    }
}

static void print_costs(const struct pj *costs, size_t width, struct buf *out)
{
    buf_append_str(out, "\n");
    put_padded_text(out, "Known Node", width);
    buf_append_str(out, " Known Connections\n");
    for (size_t i = 0; i < costs->count; i++) {
        py_pad(out, costs->keys[i], costs->key_lens[i], width);
        buf_append_str(out, " ");
        pj_dump_pretty(costs->items[i], out);
        buf_append_str(out, "\n");
    }
}

static void print_routes(const struct pj *routes, size_t width, struct buf *out)
{
    buf_append_str(out, "\n");
    put_padded_text(out, "Route", width);
    buf_append_str(out, " Via\n");
    for (size_t i = 0; i < routes->count; i++) {
        py_pad(out, routes->keys[i], routes->key_lens[i], width);
        buf_append_str(out, " ");
        put_str(out, routes->items[i]);
        buf_append_str(out, "\n");
    }
}

/* "%Y-%m-%d %H:%M:%S" of an RFC 3339 time, as dateutil parses it (the
 * printed wall time is the one written, whatever its offset). */
static bool last_seen_text(const struct pj *t, char *out, size_t outlen)
{
    int y, mo, d, h, mi, s;
    char sep;
    if (!t || t->type != PJ_STR ||
        sscanf(t->text, "%4d-%2d-%2d%c%2d:%2d:%2d", &y, &mo, &d, &sep, &h, &mi, &s) != 7 ||
        (sep != 'T' && sep != 't' && sep != ' '))
        return false;
    snprintf(out, outlen, "%d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s);
    return true;
}

static const char *conn_type_label(const struct pj *ct, const char *previous)
{
    if (pj_equals_int(ct, 0))
        return "Datagram";
    if (pj_equals_int(ct, 1))
        return "Stream";
    if (pj_equals_int(ct, 2))
        return "StreamTLS";
    return previous; /* upstream keeps the previous loop's value */
}

static void print_ads(const struct pj *ads, size_t width, struct buf *out)
{
    buf_append_str(out, "\n");
    put_padded_text(out, "Node", width);
    buf_append_str(out, " Service   Type       Last Seen             Tags\n");
    const char *conn_type = NULL;
    for (size_t i = 0; i < ads->count; i++) {
        const struct pj *ad = ads->items[i];
        char seen[64];
        if (!last_seen_text(need(ad, "Time"), seen, sizeof seen)) {
            out_buf(out);
            print_error("Unknown string format: %s", need(ad, "Time")->text ? need(ad, "Time")->text : "");
            exit(1);
        }
        conn_type = conn_type_label(need(ad, "ConnType"), conn_type);
        if (!conn_type) {
            out_buf(out);
            print_error("cannot access local variable 'conn_type' where it is not associated with a value");
            exit(1);
        }
        put_padded(out, need(ad, "NodeID"), width);
        buf_append_str(out, " ");
        put_padded(out, need(ad, "Service"), 9);
        buf_append_str(out, " ");
        put_padded_text(out, conn_type, 10);
        buf_append_str(out, " ");
        put_padded_text(out, seen, 21);
        buf_append_str(out, " ");
        const struct pj *tags = need(ad, "Tags");
        if (tags->type == PJ_NULL)
            put_padded_text(out, "-", 16);
        else
            put_padded(out, tags, 16);
        buf_append_str(out, "\n");
    }
}

static bool same_value(const struct pj *a, const struct pj *b)
{
    return a->type == b->type && a->len == b->len && (a->len == 0 || memcmp(a->text, b->text, a->len) == 0);
}

static void print_worktypes(const struct pj *ads, size_t width, const char *header, bool secure,
                            struct buf *out)
{
    bool first = true;
    const struct pj **seen = calloc(ads->count + 1, sizeof *seen);
    size_t nseen = 0;
    for (size_t i = 0; i < ads->count; i++) {
        const struct pj *ad = ads->items[i];
        const struct pj *cmds = need(ad, "WorkCommands");
        if (!pj_truthy(cmds) || cmds->type != PJ_ARRAY)
            continue;
        struct buf types;
        buf_init(&types, RCTL_LINE_MAX);
        size_t ntypes = 0;
        for (size_t k = 0; k < cmds->count; k++) {
            const struct pj *wt = need(cmds->items[k], "WorkType");
            if (!pj_equals_int(need(cmds->items[k], "Secure"), secure ? 1 : 0))
                continue;
            if (ntypes++)
                buf_append_str(&types, ", ");
            put_str(&types, wt);
        }
        const struct pj *node = need(ad, "NodeID");
        bool dup = false;
        for (size_t k = 0; k < nseen && ntypes; k++)
            dup = dup || same_value(seen[k], node);
        if (ntypes && !dup) {
            seen[nseen++] = node;
            if (first) {
                buf_append_str(out, "\n");
                put_padded_text(out, "Node", width);
                buf_printf(out, "  %s\n", header);
                first = false;
            }
            put_padded(out, node, width);
            buf_append_str(out, " ");
            buf_append(out, buf_head(&types), buf_size(&types));
            buf_append_str(out, "\n");
        }
        buf_free(&types);
    }
    free(seen);
}

static size_t longest_node(const struct pj *conns, const struct pj *costs)
{
    size_t longest = 12;
    if (pj_truthy(conns) && conns->type == PJ_ARRAY)
        for (size_t i = 0; i < conns->count; i++) {
            size_t n = str_len_of(need(conns->items[i], "NodeID"));
            if (n > longest)
                longest = n;
        }
    if (pj_truthy(costs) && costs->type == PJ_OBJECT)
        for (size_t i = 0; i < costs->count; i++) {
            size_t n = py_len(costs->keys[i], costs->key_lens[i]);
            if (n > longest)
                longest = n;
        }
    return longest;
}

static void print_status_tables(struct pj *st)
{
    struct buf out;
    buf_init(&out, (size_t)1 << 30);
    print_header_lines(st, &out);
    struct pj *conns = pj_pop(st, "Connections");
    struct pj *costs = pj_pop(st, "KnownConnectionCosts");
    size_t width = longest_node(conns, costs);
    if (pj_truthy(conns) && conns->type == PJ_ARRAY)
        print_connections(conns, width, &out);
    if (pj_truthy(costs) && costs->type == PJ_OBJECT)
        print_costs(costs, width, &out);
    struct pj *routes = pj_pop(st, "RoutingTable");
    if (pj_truthy(routes) && routes->type == PJ_OBJECT)
        print_routes(routes, width, &out);
    struct pj *ads = pj_pop(st, "Advertisements");
    if (pj_truthy(ads) && ads->type == PJ_ARRAY) {
        print_ads(ads, width, &out);
        print_worktypes(ads, width, "Work Types", false, &out);
        print_worktypes(ads, width, "Secure Work Types", true, &out);
    }
    if (st->count > 0) {
        buf_append_str(&out, "Additional data returned from Receptor:\n");
        pj_dump_pretty(st, &out);
        buf_append_str(&out, "\n");
    }
    out_buf(&out);
    buf_free(&out);
    pj_free(conns);
    pj_free(costs);
    pj_free(routes);
    pj_free(ads);
}

static int cmd_status(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&status_cmd, argc, argv, &r);
    const char *graph = r.value[ST_GRAPH];
    if (graph && !graph_format_valid(graph))
        cli_usage_error("Invalid value for '--graph': '%s' is not one of 'dot', 'svg', 'png', 'pdf'.", graph);
    if (graph && r.value[ST_JSON])
        cli_usage_error("--json and --graph cannot be used together.");
    struct pj *st = rctl_simple_or_fail(c, "status");
    if (graph) {
        struct buf err;
        buf_init(&err, 1 << 16);
        if (graph_write_status(st, graph, &err) < 0) {
            const char *text = "";
            buf_cstr(&err, &text);
            rctl_set_err(c, "%s", text);
            buf_free(&err);
            fail_ctl(c, 1);
        }
        buf_free(&err);
    } else if (r.value[ST_JSON])
        print_json(st);
    else if (st->type != PJ_OBJECT)
        cli_usage_error("'%s' object has no attribute 'pop'", st->type == PJ_ARRAY ? "list" : "str");
    else
        print_status_tables(st);
    pj_free(st);
    return 0;
}

/* ---------------------------------------------------------------- ping */

static const struct opt_def ping_opts[] = {
    { "count", 0, OPT_INT, NULL, "4" },
    { "delay", 0, OPT_FLOAT, NULL, "1.0" },
};
static const struct arg_def node_arg[] = { { "node", true, false } };
static const struct cmd_def ping_cmd = {
    "ping", ping_opts, 2, node_arg, 1,
    "\n  Ping a Receptor node.\n\n"
    "Options:\n"
    "  --count INTEGER  Number of pings to send  [default: 4]\n"
    "  --delay FLOAT    Time to wait between pings  [default: 1.0]\n"
    "  --help           Show this message and exit.\n",
    "ping [OPTIONS] NODE",
};

static void python_sleep(double seconds)
{
    if (isnan(seconds)) {
        print_error("Invalid value NaN (not a number)");
        exit(1);
    }
    if (seconds < 0) {
        print_error("sleep length must be non-negative");
        exit(1);
    }
    if (seconds > 1e12)
        seconds = 1e12;
    struct timespec ts = { (time_t)seconds, (long)((seconds - floor(seconds)) * 1e9) };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Appends "Error from X in T" or "Error" of a failed ping. */
static void ping_failure_text(const struct pj *res, struct buf *b)
{
    put_str(b, need(res, "Error"));
    if (pj_get(res, "From") && pj_get(res, "TimeStr")) {
        buf_append_str(b, " from ");
        put_str(b, pj_get(res, "From"));
        buf_append_str(b, " in ");
        put_str(b, pj_get(res, "TimeStr"));
    }
}

static int cmd_ping(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&ping_cmd, argc, argv, &r);
    struct buf cmd, line;
    buf_init(&cmd, RCTL_LINE_MAX);
    buf_init(&line, RCTL_LINE_MAX);
    buf_printf(&cmd, "ping %s", r.arg[0]);
    const char *cmdtext;
    buf_cstr(&cmd, &cmdtext);
    bool failed = false;
    for (long i = 0; i < r.ival[0]; i++) {
        struct pj *res = rctl_simple_or_fail(c, cmdtext);
        buf_reset(&line);
        if (pj_truthy(pj_get(res, "Success"))) {
            buf_append_str(&line, "Reply from ");
            put_str(&line, need(res, "From"));
            buf_append_str(&line, " in ");
            put_str(&line, need(res, "TimeStr"));
            buf_append_str(&line, "\n");
            out_buf(&line);
        } else {
            failed = true;
            ping_failure_text(res, &line);
            const char *text;
            buf_cstr(&line, &text);
            print_error("%s", text);
        }
        pj_free(res);
        if (i < r.ival[0] - 1)
            python_sleep(r.fval[1]);
    }
    buf_free(&cmd);
    buf_free(&line);
    return failed ? 2 : 0;
}

/* ---------------------------------------------------------------- traceroute */

static const struct cmd_def traceroute_cmd = {
    "traceroute", NULL, 0, node_arg, 1,
    "\n  Do a traceroute to a Receptor node.\n\n"
    "Options:\n"
    "  --help  Show this message and exit.\n",
    "traceroute [OPTIONS] NODE",
};

static long hop_number(const char *key)
{
    char *end;
    const char *p = key;
    while (*p == ' ')
        p++;
    long n = strtol(p, &end, 10);
    while (*end == ' ')
        end++;
    if (end == p || *end) {
        print_error("invalid literal for int() with base 10: '%s'", key);
        exit(1);
    }
    return n;
}

static void print_hop(const char *hop, const struct pj *val)
{
    struct buf b;
    buf_init(&b, RCTL_LINE_MAX);
    buf_printf(&b, "%s: ", hop);
    if (pj_get(val, "Error")) {
        buf_append_str(&b, "Error ");
        put_str(&b, pj_get(val, "Error"));
        buf_append_str(&b, " from ");
        put_str(&b, need(val, "From"));
        buf_append_str(&b, " in ");
        put_str(&b, need(val, "TimeStr"));
        const char *text;
        buf_cstr(&b, &text);
        print_error("%s", text);
    } else {
        put_str(&b, need(val, "From"));
        buf_append_str(&b, " in ");
        put_str(&b, need(val, "TimeStr"));
        buf_append_str(&b, "\n");
        out_buf(&b);
    }
    buf_free(&b);
}

static int cmd_traceroute(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&traceroute_cmd, argc, argv, &r);
    struct buf cmd;
    buf_init(&cmd, RCTL_LINE_MAX);
    buf_printf(&cmd, "traceroute %s", r.arg[0]);
    const char *cmdtext;
    buf_cstr(&cmd, &cmdtext);
    struct pj *res = rctl_simple_or_fail(c, cmdtext);
    size_t n = res->type == PJ_OBJECT ? res->count : 0;
    size_t *order = calloc(n + 1, sizeof *order);
    long *hops = calloc(n + 1, sizeof *hops);
    for (size_t i = 0; i < n; i++) { /* stable insertion sort by int(key) */
        hops[i] = hop_number(res->keys[i]);
        size_t j = i;
        while (j > 0 && hops[order[j - 1]] > hops[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < n; i++)
        print_hop(res->keys[order[i]], res->items[order[i]]);
    free(order);
    free(hops);
    pj_free(res);
    buf_free(&cmd);
    return 0;
}

/* ---------------------------------------------------------------- reload */

static const struct cmd_def reload_cmd = {
    "reload", NULL, 0, NULL, 0,
    "\n  Reload receptor configuration.\n\n"
    "Options:\n"
    "  --help  Show this message and exit.\n",
    "reload [OPTIONS]",
};

static int cmd_reload(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&reload_cmd, argc, argv, &r);
    struct pj *res = rctl_simple_or_fail(c, "reload");
    if (pj_truthy(pj_get(res, "Success"))) {
        out_str("Reload successful\n");
        pj_free(res);
        return 0;
    }
    struct buf b;
    buf_init(&b, RCTL_LINE_MAX);
    put_str(&b, need(res, "Error"));
    const char *text;
    buf_cstr(&b, &text);
    print_error("%s", text);
    int code = strstr(text, "ERRORCODE 3") ? 3 : strstr(text, "ERRORCODE 4") ? 4 : 5;
    buf_free(&b);
    pj_free(res);
    return code;
}

/* ---------------------------------------------------------------- connect */

static const struct opt_def connect_opts[] = {
    { "raw", 'r', OPT_FLAG, NULL, NULL },
    { "tls-client", 0, OPT_TEXT, NULL, "" },
};
static const struct arg_def connect_args[] = { { "node", true, false }, { "service", true, false } };
static const struct cmd_def connect_cmd = {
    "connect", connect_opts, 2, connect_args, 2,
    "\n  Connect the local terminal to a Receptor service on a remote node.\n\n"
    "Options:\n"
    "  -r, --raw          Set terminal to raw mode\n"
    "  --tls-client TEXT  TLS client config name used when connecting to remote\n"
    "                     node\n"
    "  --help             Show this message and exit.\n",
    "connect [OPTIONS] NODE SERVICE",
};

static struct termios saved_term;
static bool term_saved;

static void raw_terminal(void)
{
    if (!isatty(0) || tcgetattr(0, &saved_term) != 0)
        return;
    term_saved = true;
    struct termios t = saved_term;
    cfmakeraw(&t);
    t.c_lflag &= ~(tcflag_t)ISIG;
    tcsetattr(0, TCSAFLUSH, &t);
}

static void restore_terminal(void)
{
    if (term_saved)
        tcsetattr(0, TCSAFLUSH, &saved_term);
}

/* Copies socket -> stdout and stdin -> socket until the socket ends.  At
 * stdin EOF the socket's sending side is shut down and the copy goes on
 * until the service closes. */
static void bridge(struct rctl *c)
{
    char data[16384];
    bool stdin_open = true;
    for (;;) {
        struct pollfd fds[2] = { { c->fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
        if (!rctl_pending(c) && poll(fds, stdin_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (rctl_pending(c) || (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = rctl_read_raw(c, data, sizeof data);
            if (n <= 0)
                return;
            out_write(1, data, (size_t)n);
        }
        if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(0, data, sizeof data);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                stdin_open = false;
                rctl_shutdown_write(c);
            } else if (rctl_write(c, data, (size_t)n) < 0) {
                return;
            }
        }
    }
}

static int cmd_connect(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&connect_cmd, argc, argv, &r);
    if (rctl_connect_to_service(c, r.arg[0], r.arg[1], r.value[1]) < 0)
        fail_ctl(c, 1);
    if (r.value[0])
        raw_terminal();
    bridge(c);
    restore_terminal();
    out_str("\n");
    return 0;
}

/* ---------------------------------------------------------------- version */

static const struct cmd_def version_cmd = {
    "version", NULL, 0, NULL, 0,
    "\n  Show version information for receptorctl and the receptor node\n\n"
    "Options:\n"
    "  --help  Show this message and exit.\n",
    "version [OPTIONS]",
};

static int cmd_version(struct rctl *c, int argc, char **argv)
{
    struct cli_result r;
    cli_parse_command(&version_cmd, argc, argv, &r);
    c->skip_version_check = true; /* this command does the check itself */
    struct pj *res = rctl_simple_or_fail(c, "{\"command\":\"status\",\"requested_fields\":[\"Version\"]}");
    struct buf theirs;
    buf_init(&theirs, RCTL_LINE_MAX);
    put_str(&theirs, need(res, "Version"));
    const char *rv;
    buf_cstr(&theirs, &rv);
    const struct pj *v = pj_get(res, "Version");
    const char *delim = "";
    if (v->type != PJ_STR || strcmp(rv, rctl_version()) != 0) {
        delim = "\t";
        print_warning("receptorctl and receptor are different versions, they may not be compatible");
    }
    struct buf out;
    buf_init(&out, RCTL_LINE_MAX);
    buf_printf(&out, "%sreceptorctl  %s\n%sreceptor     %s\n", delim, rctl_version(), delim, rv);
    out_buf(&out);
    buf_free(&out);
    buf_free(&theirs);
    pj_free(res);
    return 0;
}

/* ---------------------------------------------------------------- main */

enum { G_SOCKET, G_CONFIG, G_TLSCLIENT, G_ROOTCAS, G_KEY, G_CERT, G_INSECURE };

static const struct opt_def global_opts[] = {
    [G_SOCKET] = { "socket", 0, OPT_TEXT, "RECEPTORCTL_SOCKET", NULL },
    [G_CONFIG] = { "config", 'c', OPT_TEXT, "RECEPTORCTL_CONFIG", NULL },
    [G_TLSCLIENT] = { "tls-client", 0, OPT_TEXT, "RECEPTORCTL_TLSCLIENT", NULL },
    [G_ROOTCAS] = { "rootcas", 0, OPT_TEXT, NULL, NULL },
    [G_KEY] = { "key", 0, OPT_TEXT, NULL, NULL },
    [G_CERT] = { "cert", 0, OPT_TEXT, NULL, NULL },
    [G_INSECURE] = { "insecureskipverify", 0, OPT_BOOL, NULL, "False" },
};

static const struct cmd_def global_cmd = {
    "", global_opts, 7, NULL, 0,
    "\n"
    "Options:\n"
    "  --socket TEXT                 Control socket address to connect to Receptor\n"
    "                                (defaults to Unix socket, use tcp:// for TCP\n"
    "                                socket)  [env var: RECEPTORCTL_SOCKET;\n"
    "                                required]\n"
    "  -c, --config TEXT             Config filename configured for receptor  [env\n"
    "                                var: RECEPTORCTL_CONFIG]\n"
    "  --tls-client TEXT             TLS client name specified in config  [env var:\n"
    "                                RECEPTORCTL_TLSCLIENT]\n"
    "  --rootcas TEXT                Root CA bundle to use instead of system trust\n"
    "                                when connecting with tls\n"
    "  --key TEXT                    Client private key filename\n"
    "  --cert TEXT                   Client certificate filename\n"
    "  --insecureskipverify BOOLEAN  Accept any server cert  [default: False]\n"
    "  --help                        Show this message and exit.\n"
    "\n"
    "Commands:\n"
    "  connect     Connect the local terminal to a Receptor service on a...\n"
    "  ping        Ping a Receptor node.\n"
    "  reload      Reload receptor configuration.\n"
    "  status      Show the status of the Receptor network.\n"
    "  traceroute  Do a traceroute to a Receptor node.\n"
    "  version     Show version information for receptorctl and the receptor node\n"
    "  work        Commands related to unit-of-work processing\n",
    "[OPTIONS] COMMAND [ARGS]...",
};

struct command {
    const char *name;
    int (*run)(struct rctl *c, int argc, char **argv);
};

static const struct command commands[] = {
    { "connect", cmd_connect }, { "ping", cmd_ping }, { "reload", cmd_reload },
    { "status", cmd_status },   { "traceroute", cmd_traceroute }, { "version", cmd_version },
    { "work", cmd_work },
};

static bool has_help_word(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    const char *slash = argc > 0 ? strrchr(argv[0], '/') : NULL;
    cli_prog = slash ? slash + 1 : (argc > 0 ? argv[0] : "receptorctl");
    if (argc <= 1) {
        cli_print_help(&global_cmd);
        return 0;
    }
    struct cli_result g;
    bool help;
    int sub = cli_parse_group(&global_cmd, argc - 1, argv + 1, &g, &help);
    if (help) {
        cli_print_help(&global_cmd);
        return 0;
    }
    if (!g.value[G_SOCKET] && !has_help_word(argc - 1, argv + 1))
        cli_usage_error("Missing parameter: socket");
    if (sub >= argc - 1)
        cli_usage_error("Missing command.");
    const struct command *cmd = find_command(argv[1 + sub]);
    if (!cmd)
        cli_usage_error("No such command '%s'.", argv[1 + sub]);
    struct rctl_opts opts = {
        .socket = g.value[G_SOCKET],
        .config = g.value[G_CONFIG],
        .tlsclient = g.value[G_TLSCLIENT],
        .rootcas = (char *)g.value[G_ROOTCAS],
        .key = (char *)g.value[G_KEY],
        .cert = (char *)g.value[G_CERT],
        .insecureskipverify = g.bval[G_INSECURE],
    };
    struct rctl c;
    if (rctl_init(&c, &opts) < 0)
        fail_ctl(&c, 1);
    int rc = cmd->run(&c, argc - 2 - sub, argv + 2 + sub);
    rctl_free(&c);
    return rc;
}
