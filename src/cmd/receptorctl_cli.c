/* receptorctl_cli.c - click-compatible command-line parsing and help.
 *
 * Upstream receptorctl is a click 8 program run with standalone_mode=False
 * under a wrapper that turns every exception into "ERROR: <str(e)>" and exit
 * status 1.  Click's usage errors therefore look like
 *   ERROR: No such option: --bogus
 *   ERROR: Missing parameter: node
 *   ERROR: Got unexpected extra argument (x)
 * and --help prints click's help page and exits 0.
 *
 * Parsing follows click's parser: "--opt value", "--opt=value", "-x value",
 * "-xvalue", grouped short flags ("-fq"), "--" ends options; leaf commands
 * allow options after arguments.  Parameters are then processed in click's
 * order (options in the order given, then arguments, then the remaining
 * options), so the first error reported is the one click reports.
 *
 * The help pages are click's output for upstream's option definitions,
 * kept as text (click wraps at 78 columns when not on a terminal). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/receptorctl_common.h"

const char *cli_prog = "receptorctl";

void cli_usage_error(const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("%s", msg);
    exit(1);
}

void cli_print_help(const struct cmd_def *cmd)
{
    struct buf out;
    buf_init(&out, 1 << 20);
    buf_printf(&out, "Usage: %s %s\n", cli_prog, cmd->usage);
    buf_append_str(&out, cmd->help);
    out_buf(&out);
    buf_free(&out);
}

/* ---------------------------------------------------------------- values */

static void repr_of(const char *s, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    py_repr_str(s, strlen(s), &b);
    const char *t = "";
    buf_cstr(&b, &t);
    snprintf(out, outlen, "%s", t);
    buf_free(&b);
}

/* Copies s without surrounding whitespace and without '_' between digits,
 * as Python's int() and float() read text; false if an '_' is misplaced. */
static bool python_number_text(const char *s, char *out, size_t outlen)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        if (s[i] == '_') {
            if (i == 0 || i + 1 == n || !isxdigit((unsigned char)s[i - 1]) ||
                !isxdigit((unsigned char)s[i + 1]))
                return false;
            continue;
        }
        out[o++] = s[i];
    }
    out[o] = 0;
    return o > 0;
}

static bool to_int(const char *s, long *out)
{
    char t[256];
    if (!python_number_text(s, t, sizeof t))
        return false;
    const char *p = t;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    *out = strtol(t, NULL, 10);
    return true;
}

static bool to_float(const char *s, double *out)
{
    char t[256];
    if (!python_number_text(s, t, sizeof t) || strpbrk(t, "xXpP"))
        return false;
    char *end;
    *out = strtod(t, &end);
    return *end == 0;
}

static bool to_bool(const char *s, bool *out)
{
    char t[64];
    size_t o = 0;
    while (isspace((unsigned char)*s))
        s++;
    for (; *s && o + 1 < sizeof t; s++)
        t[o++] = (char)tolower((unsigned char)*s);
    while (o > 0 && isspace((unsigned char)t[o - 1]))
        o--;
    t[o] = 0;
    static const char *yes[] = { "1", "true", "t", "yes", "y", "on" };
    static const char *no[] = { "0", "false", "f", "no", "n", "off" };
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(t, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(t, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static void convert_option(const struct opt_def *o, size_t idx, struct cli_result *r)
{
    const char *v = r->value[idx];
    char rep[4200];
    if (!v)
        return;
    switch (o->kind) {
    case OPT_INT:
        if (!to_int(v, &r->ival[idx])) {
            repr_of(v, rep, sizeof rep);
            cli_usage_error("%s is not a valid integer.", rep);
        }
        break;
    case OPT_FLOAT:
        if (!to_float(v, &r->fval[idx])) {
            repr_of(v, rep, sizeof rep);
            cli_usage_error("%s is not a valid float.", rep);
        }
        break;
    case OPT_BOOL:
        if (!to_bool(v, &r->bval[idx])) {
            repr_of(v, rep, sizeof rep);
            cli_usage_error("%s is not a valid boolean.", rep);
        }
        break;
    default:
        break;
    }
}

/* ---------------------------------------------------------------- parsing */

/* Parse results live until the process ends (one command per process);
 * the arrays behind them are listed here and freed at exit. */
static void *kept[32];
static size_t nkept;

static void free_kept(void)
{
    while (nkept > 0)
        free(kept[--nkept]);
}

static void keep(void *p)
{
    if (nkept == 0)
        atexit(free_kept);
    if (nkept < sizeof kept / sizeof *kept)
        kept[nkept++] = p;
}

struct parse_state {
    int argc;
    const struct cmd_def *cmd;
    struct cli_result *r;
    bool help;
    size_t order[CLI_MAX_OPTS];  /* options in order of first appearance */
    size_t norder;
    char **pos;                  /* positional arguments */
    size_t npos;
};

static long find_long(const struct cmd_def *cmd, const char *name, size_t len)
{
    for (size_t i = 0; i < cmd->nopts; i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

static long find_short(const struct cmd_def *cmd, char ch)
{
    for (size_t i = 0; i < cmd->nopts; i++)
        if (cmd->opts[i].short_name == ch)
            return (long)i;
    return -1;
}

static void record(struct parse_state *st, size_t idx, const char *value)
{
    struct cli_result *r = st->r;
    if (!r->given[idx]) {
        st->order[st->norder++] = idx;
        r->given[idx] = true;
    }
    if (st->cmd->opts[idx].kind == OPT_FLAG) {
        r->value[idx] = "1";
        return;
    }
    if (st->cmd->opts[idx].kind == OPT_MULTI) {
        if (r->nmulti == 0) {
            r->multi = calloc((size_t)st->argc + 1, sizeof *r->multi);
            if (!r->multi)
                cli_usage_error("out of memory");
            keep(r->multi);
        }
        r->multi[r->nmulti++] = value;
    }
    r->value[idx] = value;
}

/* Handles argv[*i] = "--name[=value]". */
static void parse_long(struct parse_state *st, int argc, char **argv, int *i)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (len == 4 && strncmp(arg, "help", 4) == 0 && !eq) {
        st->help = true;
        return;
    }
    long idx = find_long(st->cmd, arg, len);
    if (idx < 0)
        cli_usage_error("No such option: --%.*s", (int)len, arg);
    const struct opt_def *o = &st->cmd->opts[idx];
    if (o->kind == OPT_FLAG) {
        if (eq)
            cli_usage_error("Option '--%s' does not take a value.", o->name);
        record(st, (size_t)idx, NULL);
        return;
    }
    if (eq) {
        record(st, (size_t)idx, eq + 1);
        return;
    }
    if (o->kind == OPT_OPTVAL && (*i + 1 >= argc || argv[*i + 1][0] == '-')) {
        record(st, (size_t)idx, o->def);
        return;
    }
    if (*i + 1 >= argc)
        cli_usage_error("Option '--%s' requires an argument.", o->name);
    record(st, (size_t)idx, argv[++*i]);
}

/* Handles a cluster of short options, argv[*i] = "-abc" or "-lvalue". */
static void parse_short(struct parse_state *st, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    for (size_t j = 1; arg[j]; j++) {
        long idx = find_short(st->cmd, arg[j]);
        if (idx < 0)
            cli_usage_error("No such option: -%c", arg[j]);
        const struct opt_def *o = &st->cmd->opts[idx];
        if (o->kind == OPT_FLAG) {
            record(st, (size_t)idx, NULL);
            continue;
        }
        if (arg[j + 1]) {
            record(st, (size_t)idx, arg + j + 1);
            return;
        }
        if (*i + 1 >= argc)
            cli_usage_error("Option '-%c' requires an argument.", arg[j]);
        record(st, (size_t)idx, argv[++*i]);
        return;
    }
}

static bool is_option(const char *a) { return a[0] == '-' && a[1] != 0; }

/* Walks argv; a group stops at its first positional (the subcommand). */
static int scan_args(struct parse_state *st, int argc, char **argv, bool is_group)
{
    int i;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (!is_option(a)) {
            if (is_group)
                break;
            st->pos[st->npos++] = argv[i];
            continue;
        }
        if (a[1] == '-')
            parse_long(st, argc, argv, &i);
        else
            parse_short(st, argc, argv, &i);
    }
    int stop = i;
    if (!is_group)
        for (; i < argc; i++)
            st->pos[st->npos++] = argv[i];
    return stop;
}

static void apply_defaults(const struct cmd_def *cmd, struct cli_result *r)
{
    for (size_t k = 0; k < cmd->nopts; k++) {
        const struct opt_def *o = &cmd->opts[k];
        if (r->value[k] || o->kind == OPT_FLAG || o->kind == OPT_MULTI || o->kind == OPT_OPTVAL)
            continue;
        const char *env = o->envvar ? getenv(o->envvar) : NULL;
        if (env && *env)
            r->value[k] = env;
        else
            r->value[k] = o->def;
    }
}

static void assign_arguments(struct parse_state *st)
{
    const struct cmd_def *cmd = st->cmd;
    struct cli_result *r = st->r;
    size_t p = 0;
    for (size_t k = 0; k < cmd->nargs; k++) {
        const struct arg_def *a = &cmd->args[k];
        if (a->variadic) {
            r->rest = (const char **)st->pos + p;
            r->nrest = st->npos - p;
            p = st->npos;
            continue;
        }
        if (p < st->npos)
            r->arg[k] = st->pos[p++];
        else if (a->required)
            cli_usage_error("Missing parameter: %s", a->name);
    }
    size_t extra = st->npos - p;
    if (extra == 0)
        return;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (size_t k = p; k < st->npos; k++) {
        if (k > p)
            buf_append_str(&b, " ");
        buf_append_str(&b, st->pos[k]);
    }
    const char *list = "";
    buf_cstr(&b, &list);
    cli_usage_error("Got unexpected extra argument%s (%s)", extra > 1 ? "s" : "", list);
}

static int parse_common(const struct cmd_def *cmd, int argc, char **argv, struct cli_result *r,
                        bool is_group, bool *help)
{
    struct parse_state st = { .argc = argc, .cmd = cmd, .r = r };
    memset(r, 0, sizeof *r);
    st.pos = calloc((size_t)argc + 1, sizeof *st.pos);
    if (!st.pos)
        cli_usage_error("out of memory");
    int stop = scan_args(&st, argc, argv, is_group);
    *help = st.help;
    if (st.help) {
        free(st.pos);
        return stop;
    }
    apply_defaults(cmd, r);
    for (size_t k = 0; k < st.norder; k++)
        convert_option(&cmd->opts[st.order[k]], st.order[k], r);
    if (!is_group)
        assign_arguments(&st);
    for (size_t k = 0; k < cmd->nopts; k++)
        if (!r->given[k])
            convert_option(&cmd->opts[k], k, r);
    keep(st.pos); /* r->rest points into it */
    return stop;
}

void cli_parse_command(const struct cmd_def *cmd, int argc, char **argv, struct cli_result *r)
{
    bool help;
    parse_common(cmd, argc, argv, r, false, &help);
    if (help) {
        cli_print_help(cmd);
        exit(0);
    }
}

/* Parses a group's own options; returns the index of the subcommand word
 * (argc when none).  *help is set when --help was given. */
int cli_parse_group(const struct cmd_def *cmd, int argc, char **argv, struct cli_result *r, bool *help)
{
    return parse_common(cmd, argc, argv, r, true, help);
}
