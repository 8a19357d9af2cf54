/* receptorctl_common.h - declarations shared by the receptorctl sources.
 *
 * receptorctl is the C twin of upstream's Python receptorctl.  Its output has
 * to be byte-identical to what the Python program prints, so the pieces that
 * Python gives for free are rebuilt here explicitly:
 *
 *   core/pyjson_value.c   (shared with ansible-runner-c's core/pyjson.c)
 *                         JSON parsed with Python's json.loads semantics
 *                         (ints vs floats, dict order, duplicate keys) and
 *                         printed like json.dumps(indent=4, sort_keys=True),
 *                         repr()/str() and f-string padding;
 *   receptorctl_conn.c    the ReceptorControl socket object: address forms,
 *                         unix/tcp/tls connect, greeting, line reads,
 *                         "ERROR:" replies, the version check;
 *   receptorctl_cli.c     click-like option parsing, help texts, errors;
 *   receptorctl.c         main() and the top-level subcommands;
 *   receptorctl_work.c    the "work" subcommands;
 *   receptorctl_graph.c   status --graph: the mesh as Graphviz DOT / SVG.
 *
 * Errors follow the Python program: a failing step stores the text that the
 * Python exception would carry (str(e)) in an error buffer and returns -1;
 * the command then prints "ERROR: <text>" and exits with upstream's code.
 *
 * The connection object and its functions are named rctl_* (the daemon's
 * control service, src/control, is control_*). */
#ifndef CMD_RECEPTORCTL_COMMON_H
#define CMD_RECEPTORCTL_COMMON_H

#include <gnutls/gnutls.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/pyjson.h"

/* ------------------------------------------------------------ connection */

struct rctl_opts {
    const char *socket;
    const char *config;
    const char *tlsclient;
    char *rootcas;
    char *key;
    char *cert;
    bool insecureskipverify;
};

struct rctl {
    struct rctl_opts opt;
    int fd;                         /* -1 when not connected */
    gnutls_session_t tls;           /* NULL unless tls:// */
    gnutls_certificate_credentials_t cred;
    unsigned char rbuf[16384];      /* read-ahead of the line reader */
    size_t rpos, rlen;
    bool version_checked;           /* the per-invocation check was done */
    bool skip_version_check;        /* "version" does its own */
    struct buf err;                 /* str() of the last failure */
};

#define RCTL_LINE_MAX ((size_t)64 << 20)

/* Initialises c with the global options; reads the tls-client item of
 * opt->config when given (fails as upstream's constructor does). */
int rctl_init(struct rctl *c, const struct rctl_opts *opt);
void rctl_free(struct rctl *c);
/* Connects unless connected: address forms, greeting, version check. */
int rctl_connect(struct rctl *c);
void rctl_close(struct rctl *c);
int rctl_write(struct rctl *c, const void *p, size_t n);
int rctl_write_str(struct rctl *c, const char *s);
/* readline().decode().strip(): one line (empty at EOF), NUL-terminated. */
int rctl_read_line(struct rctl *c, struct buf *line);
/* Reads the greeting "Receptor Control, node X". */
int rctl_handshake(struct rctl *c);
/* simple_command(): connect, send "cmd\n", parse the JSON reply. */
struct pj *rctl_simple(struct rctl *c, const char *cmd);
/* Reads a reply line: "ERROR: x" becomes error "x", else parsed JSON. */
struct pj *rctl_read_json(struct rctl *c);
int rctl_connect_to_service(struct rctl *c, const char *node, const char *service,
                            const char *tlsclient);
/* Raw bytes (read-ahead first); 0 at EOF, -1 on error. */
ssize_t rctl_read_raw(struct rctl *c, void *p, size_t n);
/* Bytes already read ahead or buffered inside TLS. */
bool rctl_pending(const struct rctl *c);
int rctl_shutdown_write(struct rctl *c);
/* Python's "[Errno N] text" for an OSError. */
void rctl_set_errno(struct rctl *c, int err, const char *filename);
void rctl_set_err(struct rctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *rctl_errstr(struct rctl *c);

/* ------------------------------------------------------------ output */

const char *rctl_version(void);
void out_write(int fd, const void *p, size_t n);
void out_str(const char *s);
void out_buf(struct buf *b);
/* click.echo(click.style("ERROR: ...", fg="red"), err=True) */
void print_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void print_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* print_json(v) on stdout */
void print_json(const struct pj *v);
/* Prints "ERROR: <c->err>" and exits with code. */
_Noreturn void fail_ctl(struct rctl *c, int code);
/* rctl_simple's reply; when there is none, fail_ctl(c, 1). */
struct pj *rctl_simple_or_fail(struct rctl *c, const char *cmd);

/* ------------------------------------------------------------ command line */

/* OPT_OPTVAL: click's is_flag=False + flag_value: "--opt=v" or "--opt v" give
 * v, a bare "--opt" (followed by nothing or by another option) gives def;
 * not given, the value stays NULL. */
enum opt_kind { OPT_TEXT, OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_MULTI, OPT_OPTVAL };

struct opt_def {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0 when none */
    enum opt_kind kind;
    const char *envvar;    /* or NULL */
    const char *def;       /* default text, or NULL */
};

struct arg_def {
    const char *name;      /* click's parameter name, for "Missing parameter" */
    bool required;
    bool variadic;
};

struct cmd_def {
    const char *path;      /* "ping", "work submit" */
    const struct opt_def *opts;
    size_t nopts;
    const struct arg_def *args;
    size_t nargs;
    const char *help;      /* help text after the usage line */
    const char *usage;     /* usage line after the program and path */
};

#define CLI_MAX_OPTS 16
#define CLI_MAX_ARGS 4

struct cli_result {
    const char *value[CLI_MAX_OPTS];   /* last value given, or NULL */
    bool given[CLI_MAX_OPTS];
    const char **multi;                /* values of the one OPT_MULTI option */
    size_t nmulti;
    const char *arg[CLI_MAX_ARGS];     /* single arguments */
    const char **rest;                 /* variadic argument values */
    size_t nrest;
    long ival[CLI_MAX_OPTS];
    double fval[CLI_MAX_OPTS];
    bool bval[CLI_MAX_OPTS];
};

/* Parses argv for one command (all of it), prints help and exits 0 on
 * --help, prints a click error and exits 1 on a usage problem. */
void cli_parse_command(const struct cmd_def *cmd, int argc, char **argv,
                       struct cli_result *r);
/* Parses a group's own options up to its subcommand word; returns that
 * word's index (argc when none); *help tells whether --help was given. */
int cli_parse_group(const struct cmd_def *cmd, int argc, char **argv, struct cli_result *r,
                    bool *help);
void cli_print_help(const struct cmd_def *cmd);
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const char *cli_prog;

/* ------------------------------------------------------------ commands */

int cmd_work(struct rctl *c, int argc, char **argv);

/* ------------------------------------------------------------ graph */

/* dot, svg, png, pdf */
bool graph_format_valid(const char *format);
/* Writes the mesh of a status reply to stdout as DOT, or rendered by
 * Graphviz's dot in another format; -1 with err set on failure. */
int graph_write_status(const struct pj *st, const char *format, struct buf *err);

#endif
