/* ansible-runner-c - command line of the C ansible-runner: argv in,
 * library calls out.
 *
 *   ansible-runner-c transmit DIR -p PLAYBOOK [options]   > stream
 *   ansible-runner-c worker [--private-data-dir DIR] [--delete] [--keepalive-seconds N]
 *   ansible-runner-c worker --worker-info
 *   ansible-runner-c worker cleanup [--file-pattern G] [--exclude-strings S...] ...
 *   ansible-runner-c process DIR [--ident I]              < stream
 *   ansible-runner-c run DIR -p PLAYBOOK [options]
 *   ansible-runner-c submit DIR -p PLAYBOOK --socket S [--node N] [options]
 *
 * `submit` is the AWX flow in one command (runner/submit.c): the name is
 * receptorctl's (`work submit`) and says what a user wants, "submit this
 * job to the mesh"; it transmits, submits, follows the results into
 * process and releases.  --help texts here double as the man page
 * (man/ansible-runner-c.1 follows them).
 *
 * Options follow ansible-runner 2.3.1's argparse definitions ("-i" is
 * --ident; "--opt=value" and "--opt value" both work).  The transmit
 * kwargs are the fixed 30-key set the Python CLI sends, in its order. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/pull_secret.h"
#include "core/buf.h"
#include "core/util.h"
#include "runner/event.h"
#include "core/pyjson.h"
#include "runner/stream.h"
#include "runner/submit.h"

#define DEFAULT_IMAGE "quay.io/ansible/ansible-runner:devel"

struct cli {
    const char *command;
    const char *pdd;
    json_t *kw;          /* the 30 CLI keys in order */
    json_t *vols, *opts, *hide, *show, *ro;
    const char *role, *role_vars, *hosts;
    bool debug;            /* run: --debug */
    const char *logfile;   /* run: --logfile */
    const char *job_kind;  /* -p, -m or -r as first given: argparse's exclusive group */
    bool role_skip_facts;
    int verbosity;
    /* worker */
    const char *worker_pdd;
    bool delete_dir, worker_info, cleanup;
    double keepalive;
    struct cleanup_opts co;
    /* process */
    const char *ident;
};

static const char help_main[] =
    "usage: ansible-runner-c COMMAND [options]\n"
    "\n"
    "A C implementation of ansible-runner 2.3.1's streaming roles (the wire format AWX\n"
    "and Receptor use), plus `submit`, which runs a job on a Receptor mesh the way AWX does.\n"
    "Playbooks run with the real ansible-playbook; events come from our display callback.\n"
    "\n"
    "commands:\n"
    "  submit DIR -p PLAYBOOK --socket S [--node N]   run a job through Receptor: transmit into\n"
    "                                   `work submit`, follow `work results` into process (live\n"
    "                                   output, artifacts in DIR/artifacts/IDENT), release; exit\n"
    "                                   with the playbook's rc\n"
    "  transmit DIR -p PLAYBOOK         write the job (kwargs, zipped DIR, eof) to stdout\n"
    "  worker [--private-data-dir DIR]  run a transmitted job from stdin; stream status lines,\n"
    "                                   events and the artifacts to stdout\n"
    "  worker --worker-info             print cpu, memory, version and uuid (YAML)\n"
    "  worker cleanup [options]         remove old private data dirs and images\n"
    "  process DIR [--ident I]          read a worker stream from stdin into DIR/artifacts/I\n"
    "  run DIR -p PLAYBOOK              run a job locally\n"
    "\n"
    "  ansible-runner-c COMMAND --help  the options of a command\n"
    "  ansible-runner-c --version       prints 2.3.1 (the wire-compatible version)\n"
    "\n"
    "exit status: the playbook's rc for run, worker and submit (0 ok, 2 a failed task, 1 an\n"
    "Ansible error, 254 canceled or timed out, 127 no ansible-playbook); 2 for usage errors.\n"
    "See docs/runner.md and docs/awx-flow.md.\n";

static const char help_job_options[] =
    "job options (run, transmit, submit; as ansible-runner's):\n"
    "  -p, --playbook FILE        playbook under DIR/project\n"
    "  -m, --module NAME          ad hoc module instead of a playbook (-a/--args ARGS)\n"
    "  -r, --role NAME            run a role (--role-vars 'k=v ...', --role-skip-facts, --roles-path P)\n"
    "      --hosts PATTERN        hosts for -m or -r\n"
    "  -i, --ident ID             artifact dir name (default: a random 32-hex id)\n"
    "      --inventory PATH       inventory (absolute, or under DIR/inventory)\n"
    "      --limit L, --forks N, --cmdline ARGS, -v...   passed to ansible-playbook\n"
    "  -b, --binary PATH          the ansible-playbook to run\n"
    "      --artifact-dir D, --project-dir D, --rotate-artifacts N\n"
    "  -j, --json, -q, --quiet, --omit-event-data, --only-failed-event-data, --omit-env-files\n"
    "      --debug, --logfile F   run: the job's env and command on stdout (and in F)\n"
    "  -p, -m and -r exclude each other.  Every option and env/ setting of 2.3.1's run\n"
    "  either works as there or is refused: see the table in docs/runner.md.\n"
    "process isolation (the job runs in a container on the node that runs the worker):\n"
    "      --process-isolation                   enable (submit: podman unless told otherwise)\n"
    "      --process-isolation-executable X      podman or docker\n"
    "      --container-image IMAGE               the execution environment\n"
    "      --container-option OPT                an engine option (repeatable)\n"
    "      --container-volume-mount SRC:DST[:Z]  a mount (repeatable)\n"
    "      --process-isolation-path/-hide-paths/-show-paths/-ro-paths P\n"
    "      --directory-isolation-base-path P     refused (bwrap only; 2.3.1 deletes P)\n";

static const char help_submit[] =
    "usage: ansible-runner-c submit DIR -p PLAYBOOK --socket SOCKET [--node NODE] [options]\n"
    "\n"
    "Runs the job in private data dir DIR on a Receptor mesh exactly as AWX does:\n"
    "  1. `work submit` on the control socket; the transmit stream (kwargs, zipped DIR,\n"
    "     eof) is written straight onto the connection, no copy on disk;\n"
    "  2. `work results` from byte 0, fed to the processor while they arrive: the\n"
    "     playbook output is printed live, job_events, stdout, status, rc and the\n"
    "     worker's artifacts are written to DIR/artifacts/IDENT;\n"
    "  3. `work release` (local and remote unit), exit with the playbook's rc.\n"
    "If the control connection is lost (receptor restarted), results resume with\n"
    "`work results UNIT STARTPOS` at the next byte: nothing is lost or repeated.\n"
    "Ctrl-C (SIGINT, also SIGTERM/SIGHUP) cancels the unit; the worker's final\n"
    "`canceled` status and artifacts are still processed, and the unit is released\n"
    "(a second Ctrl-C stops waiting for them).\n"
    "\n"
    "mesh options:\n"
    "  -s, --socket SOCKET       the controller's control socket: PATH, unix:PATH or\n"
    "                            tcp://HOST:PORT (default: $RECEPTORCTL_SOCKET)\n"
    "      --node NODE           where the job runs (default: the node behind the socket)\n"
    "      --worktype TYPE       work type (default: `local` for the local node, otherwise\n"
    "                            `ansible-runner`, AWX's names)\n"
    "      --worker-params P     runtime params for the work type (needs allowruntimeparams).\n"
    "                            Default: `--private-data-dir=DIR` with only the kwargs sent\n"
    "                            for local work (the worker runs DIR in place, as AWX's\n"
    "                            local jobs); nothing for remote work (the worker uses a\n"
    "                            temporary dir it removes).  AWX's remote form is\n"
    "                            `--private-data-dir=PATH --delete`.\n"
    "      --signwork            sign the work for the execution node (work-signing on the\n"
    "                            controller, verifysignature on the node; unix socket only)\n"
    "      --tls-client NAME     the controller's tls-client for the node's control service\n"
    "      --ttl DURATION        fail the unit if the remote node has not started it in time\n"
    "                            (Go duration, e.g. 30s, 5m; remote work only)\n"
    "      --container-auth-data JSON|@FILE   registry credentials for the EE pull:\n"
    "                            {\"host\":..,\"username\":..,\"password\":..,\"verify_ssl\":..}\n"
    "                            (give @FILE: a command line is visible to every user);\n"
    "                            with --container-group, AWX's image pull secret\n"
    "                            automation-ID-image-pull-secret-N is created (or replaced)\n"
    "                            through the Kubernetes API, with the kubeconfig or the\n"
    "                            in-cluster service account, and the pod pulls with it\n"
    "      --container-group     run the job in a Kubernetes pod, as AWX's container groups:\n"
    "                            AWX's default pod spec (container `worker`, the EE of\n"
    "                            --container-image, `ansible-runner worker\n"
    "                            --private-data-dir=/runner`), process isolation off, work\n"
    "                            type kubernetes-incluster-auth, or kubernetes-runtime-auth\n"
    "                            with --kubeconfig FILE (sent as secret_kube_config);\n"
    "                            --namespace NS (default), --image-pull-secret NAME,\n"
    "                            --pod-pending-timeout DURATION (5m),\n"
    "                            --pod-spec-override FILE (YAML/JSON merged into the pod as\n"
    "                            AWX merges an instance group's pod_spec_override),\n"
    "                            --awx-install-id ID (the pods' ansible-awx label)\n"
    "      --keep-unit           do not release the unit at the end\n"
    "      --reconnect-timeout S how long to retry a lost control socket (default 300)\n"
    "      --cancel-wait S       after Ctrl-C, how long to wait for the final status (default 30)\n"
    "\n"
    "%s"
    "\n"
    "output: the playbook's output on stdout (as `ansible-runner run` shows it); progress and\n"
    "errors on stderr, prefixed `ansible-runner-c submit:`.  On a terminal, an upload (or\n"
    "results not going to the terminal) over 4 MiB shows a meter line (bytes, rate); -q\n"
    "shows none.\n"
    "\n"
    "exit status: the playbook's rc (0, 2 a failed task, 1 an Ansible error, 254 canceled or\n"
    "timed out); 1 when receptor refused the work, the worker reported an error, or the result\n"
    "stream broke (the unit's last output and Receptor's detail are printed, as AWX shows\n"
    "them); 130 when interrupted before a final status came back; 2 for usage errors.\n"
    "\n"
    "example:\n"
    "  ansible-runner-c submit /tmp/job -p site.yml --socket /var/run/receptor/receptor.sock \\\n"
    "      --node execution1 --tls-client mesh-client --signwork\n";

static const char help_transmit[] =
    "usage: ansible-runner-c transmit DIR (-p PLAYBOOK | -m MODULE | -r ROLE) [options] > STREAM\n"
    "\n"
    "Writes the job to stdout: {\"kwargs\": ...}, {\"zipfile\": N} with DIR zipped as base64,\n"
    "{\"eof\": true}.  Byte-compatible with ansible-runner 2.3.1 transmit.\n\n%s";

static const char help_run[] =
    "usage: ansible-runner-c run DIR (-p PLAYBOOK | -m MODULE | -r ROLE) [options]\n"
    "\n"
    "Runs the job locally; artifacts in DIR/artifacts/IDENT; exits with the playbook's rc.\n\n%s";

static const char help_worker[] =
    "usage: ansible-runner-c worker [--private-data-dir DIR] [--delete] [--keepalive-seconds N]\n"
    "       ansible-runner-c worker --worker-info\n"
    "       ansible-runner-c worker cleanup [--file-pattern GLOB] [--exclude-strings S ...]\n"
    "                     [--remove-images I ...] [--grace-period MIN] [--image-prune]\n"
    "                     [--process-isolation-executable X]\n"
    "\n"
    "Reads a transmitted job on stdin, runs it and writes status lines, events, the artifacts\n"
    "and eof on stdout.  This is the command of Receptor's work types (`local` and\n"
    "`ansible-runner` in AWX).  Nothing goes to stderr in normal operation (Receptor merges\n"
    "it into the result stream).\n"
    "  --private-data-dir DIR    extract into DIR (default: a temporary dir, removed at exit)\n"
    "  --delete                  empty DIR first and remove it at exit\n"
    "  --keepalive-seconds N     keep-alive events when idle (also\n"
    "                            $ANSIBLE_RUNNER_KEEPALIVE_SECONDS); never for a 2.3.1 processor\n"
    "SIGINT or SIGTERM cancels the job: status canceled, rc 254, artifacts still sent.\n";

static const char help_process[] =
    "usage: ansible-runner-c process DIR [--ident I] [--artifact-dir D] [-q] < STREAM\n"
    "\n"
    "Reads a worker stream: prints each event's stdout (unless -q), writes job_events/,\n"
    "unpacks the artifacts into DIR/artifacts/I (DIR/artifacts without --ident).  Exits 0\n"
    "even when the job failed, as ansible-runner does.\n";

static void usage(void) { fputs(help_main, stderr); }

static int want_help(int argc, char **argv, int start)
{
    for (int i = start; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    return 0;
}

static int print_help(const char *cmd)
{
    if (!strcmp(cmd, "submit"))
        printf(help_submit, help_job_options);
    else if (!strcmp(cmd, "transmit"))
        printf(help_transmit, help_job_options);
    else if (!strcmp(cmd, "run"))
        printf(help_run, help_job_options);
    else if (!strcmp(cmd, "worker"))
        fputs(help_worker, stdout);
    else if (!strcmp(cmd, "process"))
        fputs(help_process, stdout);
    else
        fputs(help_main, stdout);
    return 0;
}

static json_t *cli_kwargs_template(void)
{
    static const char *const keys[] = {
        "ident", "binary", "playbook", "module", "module_args", "host_pattern", "verbosity",
        "quiet", "rotate_artifacts", "json_mode", "omit_event_data", "only_failed_event_data",
        "inventory", "forks", "project_dir", "artifact_dir", "roles_path", "process_isolation",
        "process_isolation_executable", "process_isolation_path", "process_isolation_hide_paths",
        "process_isolation_show_paths", "process_isolation_ro_paths", "container_image",
        "container_volume_mounts", "container_options", "directory_isolation_base_path",
        "cmdline", "limit", "suppress_env_files",
    };
    json_t *kw = json_object();
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        json_object_set_new(kw, keys[i], json_null());
    json_object_set_new(kw, "quiet", json_false());
    json_object_set_new(kw, "rotate_artifacts", json_integer(0));
    json_object_set_new(kw, "json_mode", json_false());
    json_object_set_new(kw, "omit_event_data", json_false());
    json_object_set_new(kw, "only_failed_event_data", json_false());
    json_object_set_new(kw, "container_image", json_string(DEFAULT_IMAGE));
    json_object_set_new(kw, "suppress_env_files", json_false());
    return kw;
}

/* Matches --name or --name=value; *val gets the value (next argv word when
 * needed).  Returns 1 on a match, 0 otherwise, -1 when a value is missing. */
static int opt_val(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != 0)
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static void set_str(json_t *kw, const char *k, const char *v) { json_object_set_new(kw, k, json_string(v)); }

static void push(json_t **arr, const char *v)
{
    if (!*arr)
        *arr = json_array();
    json_array_append_new(*arr, json_string(v));
}

/* int(text) as Python reads it: optional blanks, a sign, digits with
 * single underscores between them.  0 or -1. */
static int py_int(const char *text, long long *out)
{
    const char *p = text;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    long long v = 0;
    bool digit = false, over = false;
    for (; *p; p++) {
        if (*p == '_' && digit && p[1] >= '0' && p[1] <= '9')
            continue;
        if (*p < '0' || *p > '9')
            break;
        digit = true;
        if (v > (LLONG_MAX - (*p - '0')) / 10)
            over = true;
        else
            v = v * 10 + (*p - '0');
    }
    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
        p++;
    if (!digit || *p)
        return -1;
    *out = over ? (neg ? LLONG_MIN : LLONG_MAX) : (neg ? -v : v);
    return 0;
}

/* -p, -m and -r are one mutually exclusive group in 2.3.1's parser: a
 * second, different one is refused as argparse refuses it (exit 2). */
static int job_kind_seen(struct cli *c, const char *names)
{
    if (c->job_kind && strcmp(c->job_kind, names) != 0) {
        fprintf(stderr, "ansible-runner-c %s: error: argument %s: not allowed with argument %s\n",
                c->command, names, c->job_kind);
        return -2;
    }
    c->job_kind = names;
    return 1;
}

/* Options shared by run and transmit; returns 1 when consumed, 0 when not
 * ours, -1 when a value is missing, -2 when refused (message printed). */
static int parse_run_option(struct cli *c, int argc, char **argv, int *i)
{
    static const char *const str_opts[][2] = {
        { "--playbook", "playbook" }, { "-p", "playbook" }, { "--module", "module" },
        { "-m", "module" }, { "--limit", "limit" }, { "--cmdline", "cmdline" },
        { "--binary", "binary" }, { "-b", "binary" }, { "--ident", "ident" }, { "-i", "ident" },
        { "--artifact-dir", "artifact_dir" }, { "--project-dir", "project_dir" },
        { "--inventory", "inventory" }, { "--process-isolation-executable", "process_isolation_executable" },
        { "--process-isolation-path", "process_isolation_path" },
        { "--directory-isolation-base-path", "directory_isolation_base_path" },
        { "--container-image", "container_image" }, { "--module-args", "module_args" },
        { "-a", "module_args" }, { "--args", "module_args" },
    };
    const char *v = NULL;
    for (size_t k = 0; k < sizeof str_opts / sizeof *str_opts; k++) {
        int r = opt_val(argc, argv, i, str_opts[k][0], &v);
        if (r < 0)
            return -1;
        if (r) {
            set_str(c->kw, str_opts[k][1], v);
            if (!strcmp(str_opts[k][1], "playbook"))
                return job_kind_seen(c, "-p/--playbook");
            if (!strcmp(str_opts[k][1], "module"))
                return job_kind_seen(c, "-m/--module");
            return 1;
        }
    }
    int r;
    if ((r = opt_val(argc, argv, i, "--forks", &v))) {
        if (r < 0)
            return -1;
        set_str(c->kw, "forks", v); /* argparse keeps it a string: "1" */
        return 1;
    }
    if ((r = opt_val(argc, argv, i, "--rotate-artifacts", &v))) {
        if (r < 0)
            return -1;
        long long n;
        if (py_int(v, &n) < 0) {
            fprintf(stderr, "ansible-runner-c %s: error: argument --rotate-artifacts: invalid int "
                            "value: '%s'\n", c->command, v);
            return -2;
        }
        json_object_set_new(c->kw, "rotate_artifacts", json_integer(n));
        return 1;
    }
    if ((r = opt_val(argc, argv, i, "--roles-path", &v))) {
        if (r < 0)
            return -1;
        json_t *a = json_array();
        json_array_append_new(a, json_string(v));
        json_object_set_new(c->kw, "roles_path", a);
        return 1;
    }
    if ((r = opt_val(argc, argv, i, "--container-volume-mount", &v)))
        return r < 0 ? -1 : (push(&c->vols, v), 1);
    if ((r = opt_val(argc, argv, i, "--container-option", &v)))
        return r < 0 ? -1 : (push(&c->opts, v), 1);
    if ((r = opt_val(argc, argv, i, "--process-isolation-hide-paths", &v)))
        return r < 0 ? -1 : (push(&c->hide, v), 1);
    if ((r = opt_val(argc, argv, i, "--process-isolation-show-paths", &v)))
        return r < 0 ? -1 : (push(&c->show, v), 1);
    if ((r = opt_val(argc, argv, i, "--process-isolation-ro-paths", &v)))
        return r < 0 ? -1 : (push(&c->ro, v), 1);
    if ((r = opt_val(argc, argv, i, "--hosts", &v)))
        return r < 0 ? -1 : (c->hosts = v, 1);
    if ((r = opt_val(argc, argv, i, "--role", &v)) || (r = opt_val(argc, argv, i, "-r", &v)))
        return r < 0 ? -1 : (c->role = v, job_kind_seen(c, "-r/--role"));
    if ((r = opt_val(argc, argv, i, "--role-vars", &v)))
        return r < 0 ? -1 : (c->role_vars = v, 1);
    const char *a = argv[*i];
    if (!strcmp(a, "--role-skip-facts"))
        return c->role_skip_facts = true, 1;
    if (!strcmp(a, "--process-isolation"))
        return json_object_set_new(c->kw, "process_isolation", json_true()), 1;
    if (!strcmp(a, "-j") || !strcmp(a, "--json"))
        return json_object_set_new(c->kw, "json_mode", json_true()), 1;
    if (!strcmp(a, "--omit-event-data"))
        return json_object_set_new(c->kw, "omit_event_data", json_true()), 1;
    if (!strcmp(a, "--only-failed-event-data"))
        return json_object_set_new(c->kw, "only_failed_event_data", json_true()), 1;
    if (!strcmp(a, "--omit-env-files"))
        return json_object_set_new(c->kw, "suppress_env_files", json_true()), 1;
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
        return json_object_set_new(c->kw, "quiet", json_true()), 1;
    if (a[0] == '-' && a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
        c->verbosity += (int)strlen(a + 1);
        json_object_set_new(c->kw, "verbosity", json_integer(c->verbosity));
        return 1;
    }
    if (!strcmp(a, "--debug"))
        return c->debug = true, 1;
    if ((r = opt_val(argc, argv, i, "--logfile", &v)))
        return r < 0 ? -1 : (c->logfile = v, 1);
    return 0;
}

static void finish_run_kwargs(struct cli *c)
{
    if (c->vols)
        json_object_set_new(c->kw, "container_volume_mounts", c->vols);
    if (c->opts)
        json_object_set_new(c->kw, "container_options", c->opts);
    if (c->hide)
        json_object_set_new(c->kw, "process_isolation_hide_paths", c->hide);
    if (c->show)
        json_object_set_new(c->kw, "process_isolation_show_paths", c->show);
    if (c->ro)
        json_object_set_new(c->kw, "process_isolation_ro_paths", c->ro);
    if (c->hosts)
        set_str(c->kw, "host_pattern", c->hosts);
}

/* --role-vars 'k=v ...': each v as ast.literal_eval() reads the simple
 * literals (integers, True, False, None, a quoted string without escapes),
 * otherwise the text itself, as role_manager does.  -1 for an item that
 * is not exactly one key=value (2.3.1 dies with a ValueError on it). */
static json_t *role_var_value(const char *v)
{
    size_t n = strlen(v);
    const char *d = v + (*v == '-' || *v == '+');
    if (*d && strspn(d, "0123456789") == strlen(d) && (d[0] != '0' || strspn(d, "0") == strlen(d))) {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno == 0 && !*end)
            return json_integer(x);
    }
    if (!strcmp(v, "True") || !strcmp(v, "False"))
        return json_boolean(v[0] == 'T');
    if (!strcmp(v, "None"))
        return json_null();
    if (n >= 2 && (v[0] == '\'' || v[0] == '"') && v[n - 1] == v[0] && !strchr(v, '\\') &&
        !memchr(v + 1, v[0], n - 2))
        return json_stringn(v + 1, n - 2);
    return json_string(v);
}

static json_t *role_vars_parse(const char *text)
{
    json_t *vars = json_object();
    char *copy = strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, " \t\n\r\v\f", &save); t && vars;
         t = strtok_r(NULL, " \t\n\r\v\f", &save)) {
        char *eq = strchr(t, '=');
        if (!eq || strchr(eq + 1, '=')) {
            fprintf(stderr, "ansible-runner-c: --role-vars: '%s' is not one key=value\n", t);
            json_decref(vars);
            vars = NULL;
            break;
        }
        *eq = 0;
        json_object_set_new(vars, t, role_var_value(eq + 1));
    }
    free(copy);
    return vars;
}

/* role_manager()'s play, as json.dumps() writes it:
 * [{"hosts": H, "gather_facts": B, "roles": [{"name": R, "vars": {...}}]}] */
static char *role_play_text(const struct cli *c)
{
    json_t *role = json_object();
    json_object_set_new(role, "name", json_string(c->role));
    if (c->role_vars && *c->role_vars) {
        json_t *vars = role_vars_parse(c->role_vars);
        if (!vars) {
            json_decref(role);
            return NULL;
        }
        json_object_set_new(role, "vars", vars);
    }
    json_t *play = json_object();
    json_object_set_new(play, "hosts", json_string(c->hosts ? c->hosts : "all"));
    json_object_set_new(play, "gather_facts", json_boolean(!c->role_skip_facts));
    json_object_set_new(play, "roles", json_pack("[o]", role));
    json_t *plays = json_pack("[o]", play);
    struct buf b;
    buf_init(&b, 1u << 20);
    const char *text = NULL;
    char *out = NULL;
    if (pyjson_dump(plays, true, &b) == 0 && buf_cstr(&b, &text) == 0)
        out = strdup(text);
    buf_free(&b);
    json_decref(plays);
    return out;
}

/* What a role run generated in the user's directory (run only). */
struct role_gen {
    char *project;          /* where the playbook went */
    char *playbook;         /* its full path */
    bool project_existed;   /* else the whole project dir goes afterwards */
};

/* uuid4().hex, the name 2.3.1 gives the generated playbook */
static void hex_name(char out[33])
{
    char u[37];
    size_t k = 0;
    event_uuid4(u);
    for (size_t i = 0; u[i] && k < 32; i++)
        if (u[i] != '-')
            out[k++] = u[i];
    out[k] = 0;
}

/* role_manager(): the role becomes a playbook named uuid4().hex under the
 * project dir, and --inventory names a file under <pdd>/inventory.  For
 * transmit (gen == NULL) the playbook only goes into files, for the zip;
 * for run it is written (0400) and role_gen_remove() takes it away again. */
static int role_prepare(struct cli *c, const char *pdd, struct transmit_files *files,
                        struct role_gen *gen)
{
    const char *inv = json_string_value(json_object_get(c->kw, "inventory"));
    if (inv) {
        char *p = NULL;
        struct stat st;
        if (asprintf(&p, "%s/inventory/%s", pdd, inv) < 0)
            return -1;
        if (stat(p, &st) < 0) {
            fprintf(stderr, "location specified by --inventory does not exist\n");
            free(p);
            return -1;
        }
        set_str(c->kw, "inventory", p);
        free(p);
    }
    const char *pd = json_string_value(json_object_get(c->kw, "project_dir"));
    if (pd && *pd && !gen) {
        fprintf(stderr, "ansible-runner-c: -r cannot be sent with --project-dir: the generated "
                        "playbook would not be in the private data dir\n");
        return -1;
    }
    char *text = role_play_text(c);
    if (!text)
        return -1;
    char name[33];
    hex_name(name);
    int rc = 0;
    if (!gen) {
        char rel[64];
        snprintf(rel, sizeof rel, "project/%s", name);
        rc = transmit_files_add(files, rel, text, strlen(text), 0400);
        set_str(c->kw, "playbook", name);
    } else {
        struct stat st;
        gen->project = pd && *pd ? util_abspath(pd) : NULL;
        if (!gen->project && asprintf(&gen->project, "%s/project", pdd) < 0)
            gen->project = NULL;
        gen->project_existed = gen->project && stat(gen->project, &st) == 0;
        if (gen->project && !gen->project_existed)
            util_mkdir_p(gen->project, 0777, 0700);
        if (!gen->project || asprintf(&gen->playbook, "%s/%s", gen->project, name) < 0)
            gen->playbook = NULL;
        int fd = gen->playbook ? open(gen->playbook, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400)
                               : -1;
        size_t len = strlen(text);
        if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
            fprintf(stderr, "ansible-runner-c: cannot write the role's playbook %s: %s\n",
                    gen->playbook ? gen->playbook : "", strerror(errno));
            rc = -1;
        }
        if (fd >= 0)
            close(fd);
        if (gen->playbook)
            set_str(c->kw, "playbook", gen->playbook);
    }
    free(text);
    return rc;
}

static void role_gen_remove(struct role_gen *gen)
{
    if (gen->project && !gen->project_existed)
        zipdir_rmtree(gen->project);
    else if (gen->playbook)
        unlink(gen->playbook);
    free(gen->project);
    free(gen->playbook);
}

/* --inventory X: X as given, else <pdd>/inventory/X, else <pdd>/X; a
 * missing X is refused (2.3.1 would write the text X over inventory/hosts
 * and use that).  run gives ansible-playbook the path it found, absolute,
 * since the job runs in the project dir (2.3.1: <pdd>/inventory/hosts, the
 * file it has just overwritten); transmit sends X as given, as 2.3.1. */
static int check_inventory(struct cli *c, const char *pdd)
{
    const char *inv = json_string_value(json_object_get(c->kw, "inventory"));
    if (!inv)
        return 0;
    bool run = !strcmp(c->command, "run");
    char p[4200];
    struct stat st;
    if (stat(inv, &st) == 0)
        return 0;
    snprintf(p, sizeof p, "%s/inventory/%s", pdd, inv);
    if (stat(p, &st) == 0)
        return run ? (set_str(c->kw, "inventory", p), 0) : 0;
    snprintf(p, sizeof p, "%s/%s", pdd, inv);
    if (stat(p, &st) == 0)
        return run ? (set_str(c->kw, "inventory", p), 0) : 0;
    fprintf(stderr, "ansible-runner-c: --inventory %s: no such file (neither as given nor under "
                    "%s/inventory/); refusing to send it\n", inv, pdd);
    return -1;
}

/* A random ident (uuid4 hex, as ansible-runner) unless one was given. */
static void random_ident(struct cli *c)
{
    if (!json_is_null(json_object_get(c->kw, "ident")))
        return;
    char u[37], hex[33];
    size_t k = 0;
    event_uuid4(u);
    for (size_t i = 0; u[i]; i++)
        if (u[i] != '-')
            hex[k++] = u[i];
    hex[k] = 0;
    set_str(c->kw, "ident", hex);
}

/* ansible-runner's checks of what the job runs: a playbook, a module or a role. */
static int check_job_kind(struct cli *c)
{
    int module = json_is_string(json_object_get(c->kw, "module"));
    if (c->hosts && !module && !c->role) {
        fprintf(stderr, "The --hosts option can only be used with -m or -r\n");
        return -1;
    }
    if (!module && !c->role && !json_is_string(json_object_get(c->kw, "playbook"))) {
        fprintf(stderr, "The -p option must be specified when not using -m or -r\n");
        return -1;
    }
    return 0;
}

/* 2.3.1's transmit has no isolation options (its parser gives them to run
 * only): refused as its argparse refuses them, rather than sent along. */
static bool transmit_refuses(const char *arg)
{
    return !strncmp(arg, "--process-isolation", 19) || !strncmp(arg, "--directory-isolation-base-path", 31);
}

static int cmd_transmit_or_run(struct cli *c, int argc, char **argv, int start)
{
    for (int i = start; i < argc; i++) {
        if (!strcmp(c->command, "transmit") && transmit_refuses(argv[i])) {
            fprintf(stderr, "ansible-runner-c transmit: error: unrecognized arguments: %s "
                            "(isolation options belong to run, or to the worker's kwargs)\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--version")) { /* argparse's version action, as 2.3.1's run */
            printf("2.3.1\n");
            return 0;
        }
        int r = parse_run_option(c, argc, argv, &i);
        if (r == -2)
            return 2;
        if (r < 0) {
            fprintf(stderr, "ansible-runner-c: option %s needs a value\n", argv[i]);
            return 2;
        }
        if (r == 0) {
            if (argv[i][0] != '-' && !c->pdd) {
                c->pdd = argv[i];
                continue;
            }
            fprintf(stderr, "ansible-runner-c: unrecognized argument: %s\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (!c->pdd) {
        usage();
        return 2;
    }
    finish_run_kwargs(c);
    if (check_job_kind(c) < 0)
        return 1;
    char *pdd = util_abspath(c->pdd);
    util_mkdir_p(pdd, 0777, 0700);
    bool transmit = !strcmp(c->command, "transmit");
    struct transmit_files files = { .n = 0 };
    struct role_gen gen = { NULL, NULL, false };
    if (c->role && role_prepare(c, pdd, &files, transmit ? NULL : &gen) < 0) {
        role_gen_remove(&gen);
        transmit_files_free(&files);
        free(pdd);
        return 1;
    }
    if (check_inventory(c, pdd) < 0) {
        role_gen_remove(&gen);
        transmit_files_free(&files);
        free(pdd);
        return 1;
    }
    char err[2048] = "";
    int rc;
    if (transmit) {
        random_ident(c);
        if (transmit_prepare_kwargs(pdd, c->kw, &files, err, sizeof err) < 0) {
            rc = 1;
        } else {
            struct transmit_opts o = { pdd, c->kw, false, &files, NULL };
            rc = transmit_run(&o, STDOUT_FILENO, err, sizeof err) < 0 ? 1 : 0;
        }
    } else if (run_dump_artifacts(pdd, c->kw, err, sizeof err) < 0) {
        rc = 1;
    } else {
        bool quiet = json_is_true(json_object_get(c->kw, "quiet"));
        json_t *kw = c->kw;
        c->kw = NULL;
        struct run_opts o = { pdd, kw, quiet, c->debug, c->logfile };
        rc = run_local(&o, err, sizeof err);
        if (rc < 0) {
            rc = 1;
        }
    }
    role_gen_remove(&gen);
    transmit_files_free(&files);
    if (err[0])
        fprintf(stderr, "%s\n", err);
    free(pdd);
    return rc;
}

static int parse_list(int argc, char **argv, int *i, const char *name, char ***list, size_t *n)
{
    size_t l = strlen(name);
    if (strncmp(argv[*i], name, l) != 0 || (argv[*i][l] != 0 && argv[*i][l] != '='))
        return 0;
    if (argv[*i][l] == '=') {
        *list = realloc(*list, (*n + 1) * sizeof **list);
        (*list)[(*n)++] = argv[*i] + l + 1;
        return 1;
    }
    while (*i + 1 < argc && argv[*i + 1][0] != '-') {
        *list = realloc(*list, (*n + 1) * sizeof **list);
        (*list)[(*n)++] = argv[++*i];
    }
    return 1;
}

static int cmd_worker(struct cli *c, int argc, char **argv, int start)
{
    c->co.grace_period = 60;
    c->co.engine = "podman";
    const char *env_ka = getenv("ANSIBLE_RUNNER_KEEPALIVE_SECONDS");
    if (env_ka && *env_ka)
        c->keepalive = strtod(env_ka, NULL);
    for (int i = start; i < argc; i++) {
        const char *v = NULL;
        int r;
        if (!strcmp(argv[i], "cleanup") && !c->cleanup) {
            c->cleanup = true;
        } else if ((r = opt_val(argc, argv, &i, "--private-data-dir", &v))) {
            if (r < 0)
                return 2;
            c->worker_pdd = v;
        } else if (!strcmp(argv[i], "--delete")) {
            c->delete_dir = true;
        } else if (!strcmp(argv[i], "--worker-info")) {
            c->worker_info = true;
        } else if ((r = opt_val(argc, argv, &i, "--keepalive-seconds", &v))) {
            if (r < 0)
                return 2;
            c->keepalive = strtod(v, NULL);
        } else if ((r = opt_val(argc, argv, &i, "--file-pattern", &v))) {
            if (r < 0)
                return 2;
            c->co.file_pattern = v;
        } else if (parse_list(argc, argv, &i, "--exclude-strings", &c->co.exclude_strings,
                              &c->co.n_exclude) ||
                   parse_list(argc, argv, &i, "--remove-images", &c->co.remove_images,
                              &c->co.n_images)) {
        } else if ((r = opt_val(argc, argv, &i, "--grace-period", &v))) {
            if (r < 0)
                return 2;
            c->co.grace_period = atoi(v);
        } else if (!strcmp(argv[i], "--image-prune")) {
            c->co.image_prune = true;
        } else if ((r = opt_val(argc, argv, &i, "--process-isolation-executable", &v))) {
            if (r < 0)
                return 2;
            c->co.engine = v;
        } else if (!strcmp(argv[i], "--debug")) {
        } else if ((r = opt_val(argc, argv, &i, "--logfile", &v))) {
        } else {
            fprintf(stderr, "ansible-runner-c worker: unrecognized argument: %s\n", argv[i]);
            return 2;
        }
    }
    if (c->cleanup) {
        /* exclude strings and images may also come space-separated in one word */
        int rc = worker_cleanup(&c->co, STDOUT_FILENO);
        free(c->co.exclude_strings);
        free(c->co.remove_images);
        return rc;
    }
    free(c->co.exclude_strings);
    free(c->co.remove_images);
    if (c->worker_info)
        return worker_info(STDOUT_FILENO);
    struct worker_opts o = { c->worker_pdd, c->delete_dir && c->worker_pdd, c->keepalive,
                             STDIN_FILENO, STDOUT_FILENO };
    return worker_run(&o);
}

static int cmd_process(struct cli *c, int argc, char **argv, int start)
{
    bool quiet = false;
    const char *artifact_dir = NULL;
    for (int i = start; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = opt_val(argc, argv, &i, "--ident", &v)) || (r = opt_val(argc, argv, &i, "-i", &v))) {
            if (r < 0)
                return 2;
            c->ident = v;
        } else if ((r = opt_val(argc, argv, &i, "--artifact-dir", &v))) {
            if (r < 0)
                return 2;
            artifact_dir = v;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = true;
        } else if (argv[i][0] != '-' && !c->pdd) {
            c->pdd = argv[i];
        } else if (!strcmp(argv[i], "--debug")) {
        } else {
            fprintf(stderr, "ansible-runner-c process: unrecognized argument: %s\n", argv[i]);
            return 2;
        }
    }
    struct process_opts o = { c->pdd, c->ident, artifact_dir, quiet, STDIN_FILENO, STDOUT_FILENO,
                              false, NULL, NULL, NULL };
    return process_run(&o);
}

/* Reads a JSON value given inline or as @file. */
static json_t *json_arg(const char *v, const char *opt)
{
    json_error_t je;
    json_t *j = v[0] == '@' ? json_load_file(v + 1, 0, &je) : json_loads(v, 0, &je);
    if (!j)
        fprintf(stderr, "ansible-runner-c submit: %s: not JSON: %s\n", opt, je.text);
    return j;
}

static int int_arg(const char *v, const char *opt, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == 0 || *end || x < 0 || x > 1000000) {
        fprintf(stderr, "ansible-runner-c submit: %s: not a number of seconds: %s\n", opt, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static int cmd_submit_run(struct cli *c, struct submit_opts *so_in);

/* AWX's image pull secret (cmd/pull_secret.c), called by submit once the
 * pod's namespace is known. */
static int submit_ensure_pull_secret(void *arg, const char *ns, char *name, size_t namelen,
                                     char *err, size_t errlen)
{
    return pull_secret_ensure(arg, ns, name, namelen, err, errlen);
}

/* With --container-group, the EE's registry credential (container_auth_data)
 * becomes AWX's image pull secret instead of travelling to the worker.
 * 0, 1 when there is none, or 2 (a usage error, said on stderr). */
static int pull_secret_from_auth(json_t *auth, const struct submit_opts *so, struct pull_secret *ps)
{
    if (!auth || json_is_null(auth))
        return 1;
    const char *host = json_string_value(json_object_get(auth, "host"));
    const char *user = json_string_value(json_object_get(auth, "username"));
    const char *pass = json_string_value(json_object_get(auth, "password"));
    if (!json_is_object(auth) || !host || !*host || !user || !pass) {
        fprintf(stderr, "ansible-runner-c submit: --container-auth-data: a container group's "
                        "registry credential needs string host, username and password\n");
        return 2;
    }
    if (so->pull_secret) {
        fprintf(stderr, "ansible-runner-c submit: --image-pull-secret and --container-auth-data "
                        "both name the pod's pull credentials: give one\n");
        return 2;
    }
    ps->kubeconfig = so->kubeconfig;
    ps->install_id = so->install_id;
    ps->host = host;
    ps->username = user;
    ps->password = pass;
    return 0;
}

/* submit: transmit | work submit | work results | process | work release. */
static int cmd_submit(struct cli *c, int argc, char **argv, int start)
{
    struct submit_opts so;
    memset(&so, 0, sizeof so);
    so.socket = getenv("RECEPTORCTL_SOCKET");
    so.reconnect_seconds = 300;
    so.cancel_wait_seconds = 30;
    so.outfd = STDOUT_FILENO;
    for (int i = start; i < argc; i++) {
        const char *v = NULL;
        int r;
        if ((r = opt_val(argc, argv, &i, "--socket", &v)) || (r = opt_val(argc, argv, &i, "-s", &v))) {
            if (r < 0)
                goto needval;
            so.socket = v;
        } else if ((r = opt_val(argc, argv, &i, "--node", &v))) {
            if (r < 0)
                goto needval;
            so.node = v;
        } else if ((r = opt_val(argc, argv, &i, "--worktype", &v))) {
            if (r < 0)
                goto needval;
            so.worktype = v;
        } else if ((r = opt_val(argc, argv, &i, "--ttl", &v))) {
            if (r < 0)
                goto needval;
            so.ttl = v;
        } else if ((r = opt_val(argc, argv, &i, "--tls-client", &v)) ||
                   (r = opt_val(argc, argv, &i, "--tlsclient", &v))) {
            if (r < 0)
                goto needval;
            so.tlsclient = v;
        } else if ((r = opt_val(argc, argv, &i, "--worker-params", &v))) {
            if (r < 0)
                goto needval;
            so.worker_params = v;
        } else if ((r = opt_val(argc, argv, &i, "--reconnect-timeout", &v))) {
            if (r < 0)
                goto needval;
            if (int_arg(v, "--reconnect-timeout", &so.reconnect_seconds) < 0)
                return 2;
        } else if ((r = opt_val(argc, argv, &i, "--cancel-wait", &v))) {
            if (r < 0)
                goto needval;
            if (int_arg(v, "--cancel-wait", &so.cancel_wait_seconds) < 0)
                return 2;
        } else if ((r = opt_val(argc, argv, &i, "--container-auth-data", &v))) {
            if (r < 0)
                goto needval;
            json_t *j = json_arg(v, "--container-auth-data");
            if (!j)
                return 2;
            json_object_set_new(c->kw, "container_auth_data", j);
        } else if ((r = opt_val(argc, argv, &i, "--kubeconfig", &v))) {
            if (r < 0)
                goto needval;
            so.kubeconfig = v;
        } else if ((r = opt_val(argc, argv, &i, "--namespace", &v))) {
            if (r < 0)
                goto needval;
            so.namespace = v;
        } else if ((r = opt_val(argc, argv, &i, "--image-pull-secret", &v))) {
            if (r < 0)
                goto needval;
            so.pull_secret = v;
        } else if ((r = opt_val(argc, argv, &i, "--pod-pending-timeout", &v))) {
            if (r < 0)
                goto needval;
            so.pod_pending_timeout = v;
        } else if ((r = opt_val(argc, argv, &i, "--pod-spec-override", &v))) {
            if (r < 0)
                goto needval;
            so.pod_spec_override = v;
        } else if ((r = opt_val(argc, argv, &i, "--awx-install-id", &v))) {
            if (r < 0)
                goto needval;
            so.install_id = v;
        } else if (!strcmp(argv[i], "--container-group")) {
            so.container_group = true;
        } else if (!strcmp(argv[i], "--signwork")) {
            so.signwork = true;
        } else if (!strcmp(argv[i], "--keep-unit")) {
            so.keep_unit = true;
        } else if ((r = parse_run_option(c, argc, argv, &i))) {
            if (r == -2)
                return 2;
            if (r < 0)
                goto needval;
        } else if (argv[i][0] != '-' && !c->pdd) {
            c->pdd = argv[i];
        } else {
            fprintf(stderr, "ansible-runner-c submit: unrecognized argument: %s\n", argv[i]);
            fprintf(stderr, "Try 'ansible-runner-c submit --help'.\n");
            return 2;
        }
        continue;
    needval:
        fprintf(stderr, "ansible-runner-c submit: option %s needs a value\n", argv[i]);
        return 2;
    }
    if (!c->pdd) {
        fprintf(stderr, "ansible-runner-c submit: the private data dir is missing\n"
                        "Try 'ansible-runner-c submit --help'.\n");
        return 2;
    }
    if (!so.socket || !*so.socket) {
        fprintf(stderr, "ansible-runner-c submit: no control socket: give --socket or set "
                        "RECEPTORCTL_SOCKET\n");
        return 2;
    }
    finish_run_kwargs(c);
    if (!json_is_null(json_object_get(c->kw, "directory_isolation_base_path"))) {
        /* a worker (ours, or 2.3.1 deleting the directory) would refuse it */
        fprintf(stderr, "ansible-runner-c submit: --directory-isolation-base-path is not "
                        "supported: it belongs to the bwrap sandbox, which is not implemented\n");
        return 2;
    }
    struct pull_secret ps;
    memset(&ps, 0, sizeof ps);
    /* held: submit drops container_auth_data from the kwargs of a container group */
    json_t *auth = json_incref(json_object_get(c->kw, "container_auth_data"));
    if (so.container_group) {
        int pr = pull_secret_from_auth(auth, &so, &ps);
        if (pr == 2) {
            json_decref(auth);
            return 2;
        }
        if (pr == 0) {
            so.ensure_pull_secret = submit_ensure_pull_secret;
            so.pull_secret_arg = &ps;
        }
    }
    int rc = cmd_submit_run(c, &so);
    json_decref(auth);
    return rc;
}

/* The part of submit after the options: the job's files, kwargs, the run. */
static int cmd_submit_run(struct cli *c, struct submit_opts *so_in)
{
    struct submit_opts so = *so_in;
    /* As AWX: isolation means podman unless said otherwise (a 2.3.1 worker
     * given a null executable fails with "...executable: None"). */
    if (json_is_true(json_object_get(c->kw, "process_isolation")) &&
        json_is_null(json_object_get(c->kw, "process_isolation_executable")))
        set_str(c->kw, "process_isolation_executable", "podman");
    if (check_job_kind(c) < 0)
        return 1;
    char *pdd = util_abspath(c->pdd);
    struct stat st;
    if (stat(pdd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "ansible-runner-c submit: %s: not a directory\n", pdd);
        free(pdd);
        return 1;
    }
    struct transmit_files files = { .n = 0 };
    if ((c->role && role_prepare(c, pdd, &files, NULL) < 0) || check_inventory(c, pdd) < 0) {
        transmit_files_free(&files);
        free(pdd);
        return 1;
    }
    random_ident(c);
    char err[2048] = "";
    if (transmit_prepare_kwargs(pdd, c->kw, &files, err, sizeof err) < 0) {
        fprintf(stderr, "ansible-runner-c submit: %s\n", err);
        transmit_files_free(&files);
        free(pdd);
        return 1;
    }
    char *ident = NULL;
    json_t *idv = json_object_get(c->kw, "ident");
    if (json_is_string(idv))
        ident = strdup(json_string_value(idv));
    else if (json_is_integer(idv) && asprintf(&ident, "%lld", (long long)json_integer_value(idv)) < 0)
        ident = NULL;
    if (!ident || !*ident || strchr(ident, '/') || !strcmp(ident, ".") || !strcmp(ident, "..")) {
        fprintf(stderr, "ansible-runner-c submit: bad --ident\n");
        free(ident);
        transmit_files_free(&files);
        free(pdd);
        return 2;
    }
    so.pdd = pdd;
    so.kwargs = c->kw;
    so.files = &files;
    so.ident = ident;
    so.quiet = json_is_true(json_object_get(c->kw, "quiet"));
    int rc = submit_run(&so);
    transmit_files_free(&files);
    free(ident);
    free(pdd);
    return rc;
}

int main(int argc, char **argv)
{
    struct cli c;
    memset(&c, 0, sizeof c);
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("2.3.1\n");
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return print_help(argc > 2 && strcmp(argv[1], "help") == 0 ? argv[2] : "");
    if (want_help(argc, argv, 2))
        return print_help(argv[1]);
    c.command = argv[1];
    c.kw = cli_kwargs_template();
    int rc;
    if (!strcmp(c.command, "transmit") || !strcmp(c.command, "run"))
        rc = cmd_transmit_or_run(&c, argc, argv, 2);
    else if (!strcmp(c.command, "worker"))
        rc = cmd_worker(&c, argc, argv, 2);
    else if (!strcmp(c.command, "process"))
        rc = cmd_process(&c, argc, argv, 2);
    else if (!strcmp(c.command, "submit"))
        rc = cmd_submit(&c, argc, argv, 2);
    else {
        usage();
        rc = 2;
    }
    json_decref(c.kw);
    return rc;
}
