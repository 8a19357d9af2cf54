/* job.c - see job.h.  Configuration (job_prepare) follows ansible-runner
 * 2.3.1's RunnerConfig.prepare(); execution (job_run) follows Runner.run()
 * in pexpect mode, with a pty from forkpty() and a poll() loop.
 *
 * Artifacts are written relative to artifact_fd / the job_events fd, never
 * through a symlink (the private data dir may come from a hostile zip), and
 * every write is checked: the first failure is printed naming the file and
 * turns the final status into "error" with that explanation; status and rc
 * are written to a temporary name, fsynced and renamed into place. */
#include "runner/job.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/utf8.h"
#include "core/util.h"
#include "runner/container.h"
#include "runner/envfile.h"
#include "runner/evfilter.h"
#include "core/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

extern char **environ;

#ifndef RUNNER_CALLBACK_BUILD_DIR
#define RUNNER_CALLBACK_BUILD_DIR ""
#endif

#define LINE_LIMIT (1024u * 1024u * 1024u)

static volatile sig_atomic_t cancel_requested;
static int signal_pipe[2] = { -1, -1 };

/* ---- small helpers ----------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static const char *kw_str(const json_t *kw, const char *key)
{
    const json_t *v = json_object_get(kw, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool json_truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_real(v))
        return json_real_value(v) != 0.0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    return true;
}

/* settings value, else kwarg value */
static const json_t *setting(const struct job *j, const char *key)
{
    const json_t *v = json_object_get(j->settings, key);
    return v ? v : json_object_get(j->kw, key);
}

static double json_number(const json_t *v)
{
    if (json_is_integer(v))
        return (double)json_integer_value(v);
    if (json_is_real(v))
        return json_real_value(v);
    if (json_is_string(v))
        return strtod(json_string_value(v), NULL);
    return 0;
}

static void env_set(json_t *env, const char *k, const char *v)
{
    json_object_set_new(env, k, json_string(v));
}

static const char *env_get(const json_t *env, const char *k)
{
    return kw_str(env, k);
}

/* ---- kwargs validation -------------------------------------------------- */

static const char *const known_kwargs[] = {
    /* RunnerConfig */
    "private_data_dir", "playbook", "inventory", "roles_path", "limit", "module", "module_args",
    "verbosity", "host_pattern", "binary", "extravars", "suppress_output_file",
    "suppress_ansible_output", "process_isolation_path", "process_isolation_hide_paths",
    "process_isolation_show_paths", "process_isolation_ro_paths", "tags", "skip_tags",
    "directory_isolation_base_path", "forks", "cmdline", "omit_event_data",
    "only_failed_event_data",
    /* BaseConfig */
    "host_cwd", "envvars", "passwords", "settings", "project_dir", "artifact_dir",
    "fact_cache_type", "fact_cache", "process_isolation", "process_isolation_executable",
    "container_image", "container_volume_mounts", "container_options", "container_workdir",
    "container_auth_data", "ident", "rotate_artifacts", "timeout", "ssh_key", "quiet",
    "json_mode", "check_job_event_data", "suppress_env_files",
    /* consumed by init_runner */
    "debug", "logfile", "ignore_logging", "event_handler", "status_handler", "artifacts_handler",
    "cancel_callback", "finished_callback", "streamer", "_input", "_output",
};

static int check_kwargs(const json_t *kw, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)kw, k, v) {
        bool ok = false;
        for (size_t i = 0; i < ARRAY_SIZE(known_kwargs) && !ok; i++)
            ok = strcmp(k, known_kwargs[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "TypeError: BaseConfig.__init__() got an unexpected keyword argument '%s'", k);
            return -1;
        }
    }
    return 0;
}

/* ---- configuration -------------------------------------------------------- */

static char *ident_string(const json_t *v)
{
    if (!v || json_is_null(v)) {
        char u[37];
        event_uuid4(u);
        return strdup(u);
    }
    return envfile_pystr(v);
}

static void merge_mapping(json_t *dst, json_t *src)
{
    if (src)
        json_object_update(dst, src);
    json_decref(src);
}

static void load_settings(struct job *j)
{
    json_t *s = json_object_get(j->kw, "settings");
    j->settings = json_is_object(s) ? json_deep_copy(s) : json_object();
    merge_mapping(j->settings, envfile_load_mapping(j->pdd, "env/settings"));
}

static int load_passwords(struct job *j)
{
    json_t *pw = json_object_get(j->kw, "passwords");
    json_t *all = json_is_object(pw) ? json_deep_copy(pw) : json_object();
    merge_mapping(all, envfile_load_mapping(j->pdd, "env/passwords"));
    j->pw = calloc(json_object_size(all) + 1, sizeof *j->pw);
    const char *k;
    json_t *v;
    json_object_foreach(all, k, v) {
        struct buf re;
        buf_init(&re, strlen(k) * 16 + 16);
        envfile_python_regex(k, &re);
        const char *pat;
        if (buf_cstr(&re, &pat) == 0 &&
            regcomp(&j->pw[j->npw].re, pat, REG_EXTENDED | REG_NEWLINE) == 0) {
            j->pw[j->npw].reply = envfile_pystr(v);
            j->npw++;
        }
        buf_free(&re);
    }
    json_decref(all);
    return 0;
}

const char *job_callback_dir(void)
{
    static char dir[PATH_MAX];
    const char *e = getenv("RUNNER_C_CALLBACK_DIR");
    if (e && *e)
        return e;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            size_t el = strlen(exe);
            static const char tail[] = "/../share/receptor-c/runner/callback";
            if (el + sizeof tail > sizeof dir)
                return RUNNER_CALLBACK_BUILD_DIR;
            memcpy(dir, exe, el);
            memcpy(dir + el, tail, sizeof tail);
            char probe[PATH_MAX + 32];
            snprintf(probe, sizeof probe, "%s/awx_display.py", dir);
            if (access(probe, R_OK) == 0) {
                char *r = realpath(dir, NULL);
                if (r) {
                    snprintf(dir, sizeof dir, "%s", r);
                    free(r);
                }
                return dir;
            }
        }
    }
    return RUNNER_CALLBACK_BUILD_DIR;
}

static void build_env(struct job *j, bool is_adhoc)
{
    j->env = json_object();
    const char *art = j->artifact_dir;
    char *cart = j->containerized ? xasprintf("/runner/artifacts/%s", j->ident) : NULL;
    const char *fct = json_string_value(setting(j, "fact_cache_type"));
    bool jsonfile = !json_object_get(j->kw, "fact_cache_type") || (fct && !strcmp(fct, "jsonfile"));
    if (j->containerized) {
        if (!strcmp(j->engine, "podman"))
            env_set(j->env, "ANSIBLE_UNSAFE_WRITES", "1");
        env_set(j->env, "AWX_ISOLATED_DATA_DIR", cart);
        if (jsonfile) {
            char *fc = xasprintf("%s/fact_cache", cart);
            env_set(j->env, "ANSIBLE_CACHE_PLUGIN_CONNECTION", fc);
            free(fc);
        }
    } else {
        for (char **e = environ; *e; e++) {
            const char *eq = strchr(*e, '=');
            if (!eq)
                continue;
            char *k = strndup(*e, (size_t)(eq - *e));
            env_set(j->env, k, eq + 1);
            free(k);
        }
    }
    json_t *ev = json_object_get(j->kw, "envvars");
    json_t *fe = envfile_load_mapping(j->pdd, "env/envvars");
    for (int pass = 0; pass < 2; pass++) {
        json_t *src = pass == 0 ? ev : fe;
        const char *k;
        json_t *v;
        if (!json_is_object(src))
            continue;
        json_object_foreach(src, k, v) {
            char *s = envfile_pystr(v);
            env_set(j->env, k, s ? s : "");
            free(s);
        }
    }
    json_decref(fe);
    const char *prev = env_get(j->env, "ANSIBLE_CALLBACK_PLUGINS");
    char *cbdir;
    if (j->containerized) {
        cbdir = xasprintf("%s/callback", cart);
    } else {
        const char *awx = env_get(j->env, "AWX_LIB_DIRECTORY");
        if (!awx)
            awx = getenv("AWX_LIB_DIRECTORY");
        cbdir = strdup(awx ? awx : job_callback_dir());
    }
    char *cbp = prev && *prev ? xasprintf("%s:%s", prev, cbdir) : strdup(cbdir);
    env_set(j->env, "ANSIBLE_CALLBACK_PLUGINS", cbp);
    free(cbp);
    free(cbdir);
    const char *orig = env_get(j->env, "ANSIBLE_STDOUT_CALLBACK");
    if (orig && *orig)
        env_set(j->env, "ORIGINAL_STDOUT_CALLBACK", orig);
    if (is_adhoc) {
        env_set(j->env, "ANSIBLE_LOAD_CALLBACK_PLUGINS", "1");
        if (!env_get(j->env, "AD_HOC_COMMAND_ID"))
            env_set(j->env, "AD_HOC_COMMAND_ID", "1");
    }
    env_set(j->env, "ANSIBLE_STDOUT_CALLBACK", "awx_display");
    env_set(j->env, "ANSIBLE_RETRY_FILES_ENABLED", "False");
    if (!json_object_get(j->env, "ANSIBLE_HOST_KEY_CHECKING"))
        env_set(j->env, "ANSIBLE_HOST_KEY_CHECKING", "False");
    if (!j->containerized)
        env_set(j->env, "AWX_ISOLATED_DATA_DIR", art);
    if (jsonfile) {
        env_set(j->env, "ANSIBLE_CACHE_PLUGIN", "jsonfile");
        if (!j->containerized) {
            const json_t *fcn = json_object_get(j->settings, "fact_cache");
            if (!fcn)
                fcn = json_object_get(j->kw, "fact_cache");
            char *fc = xasprintf("%s/%s", art, json_is_string(fcn) ? json_string_value(fcn)
                                                                 : "fact_cache");
            env_set(j->env, "ANSIBLE_CACHE_PLUGIN_CONNECTION", fc);
            free(fc);
        }
    }
    json_t *rp = json_object_get(j->kw, "roles_path");
    if (json_truthy(rp)) {
        struct buf b;
        buf_init(&b, 1 << 20);
        if (json_is_array(rp)) {
            size_t i;
            json_t *x;
            json_array_foreach(rp, i, x) {
                char *s = envfile_pystr(x);
                if (i)
                    buf_append(&b, ":", 1);
                buf_append_str(&b, s ? s : "");
                free(s);
            }
        } else {
            char *s = envfile_pystr(rp);
            buf_append_str(&b, s ? s : "");
            free(s);
        }
        const char *s;
        if (buf_cstr(&b, &s) == 0)
            env_set(j->env, "ANSIBLE_ROLES_PATH", s);
        buf_free(&b);
    }
    env_set(j->env, "RUNNER_OMIT_EVENTS",
            json_truthy(json_object_get(j->kw, "omit_event_data")) ? "True" : "False");
    env_set(j->env, "RUNNER_ONLY_FAILED_EVENTS",
            json_truthy(json_object_get(j->kw, "only_failed_event_data")) ? "True" : "False");
    free(cart);
}

static void argv_add(struct job *j, const char *s)
{
    j->argv = realloc(j->argv, (j->argc + 2) * sizeof *j->argv);
    j->argv[j->argc++] = strdup(s);
    j->argv[j->argc] = NULL;
}

static void argv_add_json(struct job *j, const json_t *v)
{
    char *s = envfile_pystr(v);
    argv_add(j, s ? s : "");
    free(s);
}

static int add_shlex(struct job *j, const char *text, char *err, size_t errlen)
{
    char **w;
    int n = envfile_shlex_split(text, &w);
    if (n < 0) {
        snprintf(err, errlen, "ValueError: No closing quotation");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        argv_add(j, w[i]);
        free(w[i]);
    }
    free(w);
    return 0;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* generate_ansible_command(); returns the execution mode: 0 raw, 1 ansible,
 * 2 ansible-playbook, -1 on error. */
static int build_command(struct job *j, const json_t *inventory, char *err, size_t errlen)
{
    const json_t *binary = json_object_get(j->kw, "binary");
    const json_t *module = json_object_get(j->kw, "module");
    int mode;
    if (binary && !json_is_null(binary)) {
        argv_add_json(j, binary);
        mode = 0;
    } else if (module && !json_is_null(module)) {
        argv_add(j, "ansible");
        mode = 1;
    } else {
        argv_add(j, "ansible-playbook");
        mode = 2;
    }
    const char *cl = kw_str(j->kw, "cmdline");
    char *fcl = NULL;
    if (!cl || !*cl)
        cl = fcl = envfile_load_string(j->pdd, "env/cmdline");
    int rc = cl ? add_shlex(j, cl, err, errlen) : 0;
    free(fcl);
    if (rc < 0)
        return -1;
    if (json_is_array(inventory)) {
        size_t i;
        json_t *x;
        json_array_foreach(inventory, i, x) {
            argv_add(j, "-i");
            argv_add_json(j, x);
        }
    } else if (inventory && !json_is_null(inventory)) {
        argv_add(j, "-i");
        argv_add_json(j, inventory);
    }
    const json_t *limit = json_object_get(j->kw, "limit");
    if (limit && !json_is_null(limit)) {
        argv_add(j, "--limit");
        argv_add_json(j, limit);
    }
    char *ev = xasprintf("%s/env/extravars", j->pdd);
    if (file_exists(ev)) {
        char *arg = xasprintf("@%s", j->containerized ? "/runner/env/extravars" : ev);
        argv_add(j, "-e");
        argv_add(j, arg);
        free(arg);
    }
    free(ev);
    const json_t *xv = json_object_get(j->kw, "extravars");
    if (json_is_object(xv) && json_object_size(xv) > 0) {
        struct buf b;
        buf_init(&b, LINE_LIMIT);
        const char *k;
        json_t *v;
        bool first = true;
        buf_append(&b, "{", 1);
        json_object_foreach((json_t *)xv, k, v) {
            buf_printf(&b, "%s\"%s\":", first ? "" : ",", k);
            pyjson_dump(v, true, &b);
            first = false;
        }
        buf_append(&b, "}", 1);
        const char *s;
        argv_add(j, "-e");
        if (buf_cstr(&b, &s) == 0)
            argv_add(j, s);
        buf_free(&b);
    } else if (json_is_string(xv) && json_string_length(xv) > 0) {
        char *p = json_string_value(xv)[0] == '/' ? strdup(json_string_value(xv))
                                                   : xasprintf("%s/%s", j->pdd, json_string_value(xv));
        if (file_exists(p)) {
            char *arg = xasprintf("@%s", p);
            argv_add(j, "-e");
            argv_add(j, arg);
            free(arg);
        }
        free(p);
    }
    const json_t *verb = json_object_get(j->kw, "verbosity");
    if (json_is_integer(verb) && json_integer_value(verb) > 0) {
        char v[64] = "-";
        long long n = json_integer_value(verb);
        for (long long i = 0; i < n && i < 60; i++)
            strcat(v, "v");
        argv_add(j, v);
    }
    static const char *const opts[][2] = { { "tags", "--tags" }, { "skip_tags", "--skip-tags" },
                                           { "forks", "--forks" } };
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const json_t *v = json_object_get(j->kw, opts[i][0]);
        if (json_truthy(v)) {
            argv_add(j, opts[i][1]);
            argv_add_json(j, v);
        }
    }
    if (mode == 2) {
        const json_t *pb = json_object_get(j->kw, "playbook");
        if (!pb || json_is_null(pb)) {
            snprintf(err, errlen,
                     "ansible_runner.exceptions.ConfigurationError: Runner playbook required "
                     "when running ansible-playbook");
            return -1;
        }
        argv_add_json(j, pb);
    } else if (mode == 1) {
        argv_add(j, "-m");
        argv_add_json(j, module);
        const json_t *ma = json_object_get(j->kw, "module_args");
        if (ma && !json_is_null(ma)) {
            argv_add(j, "-a");
            argv_add_json(j, ma);
        }
        const json_t *hp = json_object_get(j->kw, "host_pattern");
        if (hp && !json_is_null(hp))
            argv_add_json(j, hp);
    }
    return mode;
}

static void wrap_ssh_agent(struct job *j)
{
    char *fifo = j->containerized ? xasprintf("/runner/artifacts/%s/ssh_key_data", j->ident)
                                  : xasprintf("%s/ssh_key_data", j->artifact_dir);
    struct buf b;
    buf_init(&b, LINE_LIMIT);
    buf_printf(&b, "trap 'rm -f %s' EXIT && ssh-add %s && rm -f %s", fifo, fifo, fifo);
    for (size_t i = 0; i < j->argc; i++) {
        buf_append(&b, i ? " " : " && ", i ? 1 : 4);
        envfile_shlex_quote(&b, j->argv[i]);
        free(j->argv[i]);
    }
    j->argc = 0;
    const char *s;
    buf_cstr(&b, &s);
    argv_add(j, "ssh-agent");
    argv_add(j, "sh");
    argv_add(j, "-c");
    argv_add(j, s);
    buf_free(&b);
    free(fifo);
}

/* rotate_artifacts: an integer (0 or less: keep all), a bool as Python
 * compares it (true is 1), null meaning not given; anything else would make
 * 2.3.1 crash comparing it with 1, so it is refused up front. */
static int rotate_count(const json_t *v, int *out, char *err, size_t errlen)
{
    *out = 0;
    if (!v || json_is_null(v) || json_is_false(v))
        return 0;
    if (json_is_true(v)) {
        *out = 1;
        return 0;
    }
    if (!json_is_integer(v)) {
        snprintf(err, errlen, "TypeError: rotate_artifacts must be an integer, not %s",
                 json_is_string(v) ? "str" : json_is_real(v) ? "float" : "a JSON container");
        return -1;
    }
    json_int_t n = json_integer_value(v);
    *out = n < 0 ? 0 : n > INT_MAX ? INT_MAX : (int)n;
    return 0;
}

int job_prepare(struct job *j, const char *pdd, json_t *kw, char *err, size_t errlen)
{
    memset(j, 0, sizeof *j);
    j->artifact_fd = -1;
    j->kw = kw;
    j->rc = -1;
    j->status = "unstarted";
    if (check_kwargs(kw, err, errlen) < 0)
        return -1;
    j->pdd = util_abspath(pdd);
    util_mkdir_p(j->pdd, 0777, 0700);
    j->ident = ident_string(json_object_get(kw, "ident"));
    const char *ad = kw_str(kw, "artifact_dir");
    char *root = ad ? util_abspath(ad) : xasprintf("%s/artifacts", j->pdd);
    j->artifact_dir = xasprintf("%s/%s", root, j->ident);
    const char *pd = kw_str(kw, "project_dir");
    j->project_dir = pd && *pd ? strdup(pd) : xasprintf("%s/project", j->pdd);
    /* a given artifact_dir is trusted as it is; below it (or below the
     * private data dir) no symlink is followed */
    if (ad)
        util_mkdir_p(root, 0777, 0777);
    char *rel = ad ? strdup(j->ident) : xasprintf("artifacts/%s", j->ident);
    j->artifact_fd = rel ? rio_open_dir_beneath(ad ? root : j->pdd, rel, 0700) : -1;
    free(rel);
    free(root);
    if (j->artifact_fd < 0) {
        snprintf(err, errlen, "OSError: cannot create the artifact directory %s: %s",
                 j->artifact_dir, strerror(errno));
        return -1;
    }
    if (json_truthy(json_object_get(kw, "module")) && json_truthy(json_object_get(kw, "playbook"))) {
        snprintf(err, errlen, "ansible_runner.exceptions.ConfigurationError: Only one of "
                              "playbook and module options are allowed");
        return -1;
    }
    load_settings(j);
    load_passwords(j);
    const json_t *to = json_object_get(kw, "timeout");
    j->job_timeout = json_truthy(to) ? json_number(to) : json_number(json_object_get(j->settings, "job_timeout"));
    j->idle_timeout = json_number(json_object_get(j->settings, "idle_timeout"));
    j->suppress_output_file = json_truthy(json_object_get(j->settings, "suppress_output_file"));
    const json_t *pi = setting(j, "process_isolation");
    const json_t *pie = setting(j, "process_isolation_executable");
    j->engine = strdup(json_is_string(pie) ? json_string_value(pie) : "podman");
    j->containerized = json_truthy(pi) && (!strcmp(j->engine, "podman") || !strcmp(j->engine, "docker"));
    if (container_check_engine(json_truthy(pi), j->engine, err, errlen) < 0)
        return -1;
    if (j->containerized)
        j->container_name = container_name_for(j->ident);
    if (rotate_count(json_object_get(kw, "rotate_artifacts"), &j->rotate_artifacts, err,
                     errlen) < 0)
        return -1;
    bool is_adhoc = (!json_object_get(kw, "binary") || json_is_null(json_object_get(kw, "binary"))) &&
                    json_object_get(kw, "module") && !json_is_null(json_object_get(kw, "module"));
    build_env(j, is_adhoc);
    const char *sk = kw_str(kw, "ssh_key");
    j->ssh_key = sk && *sk ? strdup(sk) : envfile_load_string(j->pdd, "env/ssh_key");
    struct stat st;
    if (json_object_get(j->env, "AD_HOC_COMMAND_ID") || stat(j->project_dir, &st) < 0)
        j->cwd = strdup(j->pdd);
    else
        j->cwd = strdup(j->project_dir);
    const json_t *inv = json_object_get(kw, "inventory");
    json_t *inv_owned = NULL;
    if (j->containerized) {
        inv = inv_owned = json_string("/runner/inventory/hosts");
    } else if (!inv || json_is_null(inv)) {
        char *d = xasprintf("%s/inventory", j->pdd);
        if (stat(d, &st) == 0)
            inv = inv_owned = json_string(d);
        free(d);
    }
    char *args = envfile_load_string(j->pdd, "args");
    int mode = 0;
    if (args) {
        mode = add_shlex(j, args, err, errlen);
        free(args);
    } else {
        mode = build_command(j, inv, err, errlen);
    }
    json_decref(inv_owned);
    if (mode < 0)
        return -1;
    if (j->argc == 0) {
        snprintf(err, errlen, "ansible_runner.exceptions.ConfigurationError: No executable for "
                              "runner to run");
        return -1;
    }
    if (j->ssh_key)
        wrap_ssh_agent(j);
    j->status_cwd = strdup(j->cwd);
    if (j->containerized && container_wrap(j, err, errlen) < 0)
        return -1;
    return 0;
}

void job_free(struct job *j)
{
    json_decref(j->kw);
    json_decref(j->settings);
    json_decref(j->env);
    json_decref(j->spawn_env);
    for (size_t i = 0; i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    for (size_t i = 0; i < j->npw; i++) {
        regfree(&j->pw[i].re);
        free(j->pw[i].reply);
    }
    free(j->pw);
    if (j->registry_dir) {
        zipdir_rmtree(j->registry_dir);
        free(j->registry_dir);
    }
    if (j->artifact_fd >= 0)
        close(j->artifact_fd);
    free(j->pdd);
    free(j->ident);
    free(j->artifact_dir);
    free(j->project_dir);
    free(j->cwd);
    free(j->status_cwd);
    free(j->engine);
    free(j->container_name);
    free(j->ssh_key);
    memset(j, 0, sizeof *j);
    j->artifact_fd = -1;
}

/* ---- signals ------------------------------------------------------------- */

static void on_signal(int sig)
{
    (void)sig;
    cancel_requested = 1;
    if (signal_pipe[1] >= 0) {
        int e = errno;
        ssize_t r = write(signal_pipe[1], "x", 1);
        (void)r;
        errno = e;
    }
}

void job_request_cancel(void) { on_signal(SIGTERM); }

void job_install_signals(void)
{
    if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        signal_pipe[0] = signal_pipe[1] = -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- running -------------------------------------------------------------- */

struct run_state {
    struct job *j;
    struct evfilter filter;
    int stdout_fd;
    int events_fd;
    int64_t last_activity;
    struct buf pwwin;  /* recent output for password prompts */
    struct buf utf8;   /* incomplete UTF-8 sequence carried between reads */
};

/* Records the first artifact write that failed (name is relative to the
 * artifact directory) and says so on stderr. */
static void job_write_failed(struct job *j, const char *name, int err)
{
    if (j->write_failed)
        return;
    j->write_failed = true;
    snprintf(j->write_err, sizeof j->write_err, "cannot write %s/%s: %s", j->artifact_dir, name,
             strerror(err));
    fprintf(stderr, "ansible-runner-c: %s\n", j->write_err);
}

static void job_write_artifact(struct job *j, const char *name, const char *data, size_t n,
                               mode_t mode, int flags)
{
    if (rio_write_file_at(j->artifact_fd, name, data, n, mode, flags) < 0)
        job_write_failed(j, name, errno);
}

static void emit_status(struct job *j, const char *status, bool starting)
{
    struct buf b;
    buf_init(&b, LINE_LIMIT);
    j->status = status;
    buf_append_str(&b, "{\"status\": ");
    pyjson_put_string(&b, status, strlen(status), true);
    buf_append_str(&b, ", \"runner_ident\": ");
    pyjson_put_string(&b, j->ident, strlen(j->ident), true);
    if (starting) {
        buf_append_str(&b, ", \"command\": [");
        for (size_t i = 0; i < j->argc; i++) {
            if (i)
                buf_append(&b, ", ", 2);
            pyjson_put_string(&b, j->argv[i], strlen(j->argv[i]), true);
        }
        buf_append_str(&b, "], \"env\": ");
        pyjson_dump(j->env, true, &b);
        buf_append_str(&b, ", \"cwd\": ");
        pyjson_put_string(&b, j->status_cwd, strlen(j->status_cwd), true);
    }
    if (!strcmp(status, "error") && j->write_failed) {
        buf_append_str(&b, ", \"job_explanation\": ");
        pyjson_put_string(&b, j->write_err, strlen(j->write_err), true);
    }
    buf_append(&b, "}", 1);
    if (j->hooks.status)
        j->hooks.status(j->hooks.ctx, (const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
}

static void write_command_file(struct job *j)
{
    json_t *o = json_object();
    json_t *cmd = json_array();
    for (size_t i = 0; i < j->argc; i++)
        json_array_append_new(cmd, json_string(j->argv[i]));
    json_object_set_new(o, "command", cmd);
    json_object_set_new(o, "cwd", json_string(j->status_cwd));
    json_object_set(o, "env", j->env);
    struct buf b;
    buf_init(&b, LINE_LIMIT);
    pyjson_dump(o, false, &b);
    job_write_artifact(j, "command", (const char *)buf_head(&b), buf_size(&b), 0600, 0);
    buf_free(&b);
    json_decref(o);
}

static void merge_partial(struct run_state *rs, struct event *ev)
{
    const char *uv = event_get(ev, "uuid");
    struct buf u;
    buf_init(&u, 4096);
    const char *us;
    if (pyjson_unquote(uv, strlen(uv), &u) == 0 && buf_cstr(&u, &us) == 0 && !strchr(us, '/')) {
        char *path = xasprintf("%s-partial.json", us);
        size_t len = 0;
        int fd = rs->events_fd < 0 ? -1 : openat(rs->events_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
        if (!f && fd >= 0)
            close(fd);
        if (f) {
            struct buf t;
            buf_init(&t, LINE_LIMIT);
            char tmp[65536];
            while ((len = fread(tmp, 1, sizeof tmp, f)) > 0)
                buf_append(&t, tmp, len);
            fclose(f);
            event_update_json(ev, (const char *)buf_head(&t), buf_size(&t));
            buf_free(&t);
            unlinkat(rs->events_fd, path, 0);
        }
        free(path);
    }
    buf_free(&u);
}

static void write_event_file(struct run_state *rs, const struct event *ev, const char *line, size_t n)
{
    struct buf u;
    buf_init(&u, 4096);
    const char *uv = event_get(ev, "uuid"), *us;
    const char *cv = event_get(ev, "counter");
    if (uv && cv && pyjson_unquote(uv, strlen(uv), &u) == 0 && buf_cstr(&u, &us) == 0 &&
        !strchr(us, '/')) {
        char *name = xasprintf("%s-%s.json", cv, us);
        if (rs->events_fd < 0 ||
            rio_write_file_at(rs->events_fd, name, line, n, 0600, RIO_ATOMIC) < 0) {
            char *rel = xasprintf("job_events/%s", name);
            job_write_failed(rs->j, rel, rs->events_fd < 0 ? ENOENT : errno);
            free(rel);
        }
        free(name);
    }
    buf_free(&u);
}

static void on_event(void *ctx, struct event *ev)
{
    struct run_state *rs = ctx;
    struct job *j = rs->j;
    struct event e;
    event_init(&e);
    event_copy(&e, ev); /* the filter's dict keeps its own keys */
    event_set_str(&e, "runner_ident", j->ident, strlen(j->ident));
    merge_partial(rs, &e);
    if (!event_has(&e, "created")) {
        char now[64];
        event_now_iso(now, sizeof now);
        event_set_str(&e, "created", now, strlen(now));
        event_set_str(ev, "created", now, strlen(now)); /* shared verbose dict keeps it */
    }
    struct buf line;
    buf_init(&line, LINE_LIMIT);
    if (event_dump(&e, &line) == 0) {
        bool write = true;
        if (j->hooks.event)
            write = j->hooks.event(j->hooks.ctx, (const char *)buf_head(&line), buf_size(&line));
        if (write)
            write_event_file(rs, &e, (const char *)buf_head(&line), buf_size(&line));
    }
    buf_free(&line);
    event_free(&e);
    rs->last_activity = util_mono_ns();
}

static void on_stdout(void *ctx, const char *text, size_t n)
{
    struct run_state *rs = ctx;
    if (rs->stdout_fd >= 0 && rio_write_all(rs->stdout_fd, text, n) < 0) {
        job_write_failed(rs->j, "stdout", errno);
        close(rs->stdout_fd);
        rs->stdout_fd = -1;
    }
    if (rs->j->print_output) {
        rio_write_all(STDOUT_FILENO, text, n);
    }
}

/* Appends data to out with invalid UTF-8 replaced by U+FFFD, keeping an
 * incomplete trailing sequence in rs->utf8 for the next read. */
static void utf8_repair(struct run_state *rs, const char *data, size_t n, struct buf *out, bool final)
{
    buf_append(&rs->utf8, data, n);
    const unsigned char *s = buf_head(&rs->utf8);
    size_t len = buf_size(&rs->utf8), i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            size_t k = i;
            while (k < len && s[k] < 0x80)
                k++;
            buf_append(out, s + i, k - i);
            i = k;
            continue;
        }
        size_t need = utf8_seq_len(s[i]);
        if (need && i + need > len && !final)
            break; /* wait for the rest */
        uint32_t cp;
        size_t k = utf8_decode(s + i, len - i, 0, &cp);
        if (k) {
            buf_append(out, s + i, k);
            i += k;
        } else {
            buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    buf_consume(&rs->utf8, i);
}

static void check_passwords(struct run_state *rs, int master, const char *text, size_t n)
{
    struct job *j = rs->j;
    if (j->npw == 0)
        return;
    buf_append(&rs->pwwin, text, n);
    if (buf_size(&rs->pwwin) > 100)
        buf_consume(&rs->pwwin, buf_size(&rs->pwwin) - 100);
    const char *w;
    if (buf_cstr(&rs->pwwin, &w) < 0)
        return;
    for (size_t i = 0; i < j->npw; i++) {
        if (regexec(&j->pw[i].re, w, 0, NULL, 0) == 0) {
            rio_write_all(master, j->pw[i].reply, strlen(j->pw[i].reply));
            rio_write_all(master, "\n", 1);
            buf_reset(&rs->pwwin);
            rs->last_activity = util_mono_ns();
            return;
        }
    }
}

static void feed_output(struct run_state *rs, int master, const char *data, size_t n, bool final)
{
    struct buf text;
    buf_init(&text, n * 3 + 16);
    utf8_repair(rs, data, n, &text, final);
    if (buf_size(&text) > 0) {
        evfilter_write(&rs->filter, (const char *)buf_head(&text), buf_size(&text));
        if (master >= 0)
            check_passwords(rs, master, (const char *)buf_head(&text), buf_size(&text));
    }
    buf_free(&text);
}

/* pexpect's which(): the executable must exist on PATH (from the child
 * environment) and be executable. */
static char *find_executable(const char *cmd, const json_t *env)
{
    if (strchr(cmd, '/'))
        return access(cmd, X_OK) == 0 ? strdup(cmd) : NULL;
    const char *path = kw_str(env, "PATH");
    if (!path)
        path = "/bin:/usr/bin";
    char *copy = strdup(path), *save = NULL;
    char *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", *d ? d : ".", cmd);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
            found = p;
        else
            free(p);
    }
    free(copy);
    return found;
}

static char **env_array(const json_t *env)
{
    size_t n = json_object_size(env), i = 0;
    char **out = calloc(n + 1, sizeof *out);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)env, k, v)
        out[i++] = xasprintf("%s=%s", k, json_string_value(v));
    return out;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

static pid_t spawn_child(struct job *j, const char *exe, int *master)
{
    struct winsize ws = { 24, 80, 0, 0 };
    char **envp = env_array(j->spawn_env ? j->spawn_env : j->env);
    pid_t pid = forkpty(master, NULL, NULL, &ws);
    if (pid == 0) {
        struct termios t;
        if (tcgetattr(STDIN_FILENO, &t) == 0) {
            t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
            tcsetattr(STDIN_FILENO, TCSANOW, &t);
        }
        signal(SIGHUP, SIG_IGN);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (chdir(j->cwd) < 0)
            _exit(126);
        execve(exe, j->argv, envp);
        _exit(127);
    }
    free_strv(envp);
    return pid;
}

static void kill_job(struct job *j, pid_t pid)
{
    if (j->containerized && j->container_name)
        container_kill(j);
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

static void drain_pty(struct run_state *rs, int master)
{
    int64_t deadline = util_mono_ns() + 5000000000LL;
    char buf[8192];
    for (;;) {
        int64_t left = (deadline - util_mono_ns()) / 1000000;
        if (left <= 0)
            break;
        struct pollfd p = { master, POLLIN, 0 };
        int r = poll(&p, 1, left < 100 ? (int)left : 100);
        if (r <= 0)
            break;
        ssize_t n = read(master, buf, sizeof buf);
        if (n <= 0)
            break;
        feed_output(rs, -1, buf, (size_t)n, false);
    }
}

static int poll_timeout_ms(struct job *j)
{
    int t = 200;
    if (j->hooks.tick_due_ms) {
        int d = j->hooks.tick_due_ms(j->hooks.ctx);
        if (d >= 0 && d < t)
            t = d;
    }
    return t;
}

/* The main loop: returns the wait status of the child. */
static int run_loop(struct run_state *rs, pid_t pid, int master)
{
    struct job *j = rs->j;
    int64_t start = util_mono_ns();
    int status = 0;
    bool killed = false, pty_open = true;
    char buf[8192];
    for (;;) {
        struct pollfd p[2] = { { pty_open ? master : -1, POLLIN, 0 },
                               { signal_pipe[0], POLLIN, 0 } };
        int r = poll(p, 2, poll_timeout_ms(j));
        if (r > 0 && (p[1].revents & POLLIN)) {
            char sink[64];
            while (read(signal_pipe[0], sink, sizeof sink) > 0) {
            }
        }
        if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0)
                feed_output(rs, master, buf, (size_t)n, false);
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                pty_open = false; /* EIO: every writer has closed the pty */
        }
        if (j->hooks.tick)
            j->hooks.tick(j->hooks.ctx);
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (pty_open)
                drain_pty(rs, master);
            return status;
        }
        if (killed)
            continue;
        int64_t now = util_mono_ns();
        if (cancel_requested)
            j->canceled = true;
        else if (j->job_timeout > 0 && (double)(now - start) / 1e9 > j->job_timeout)
            j->timed_out = true;
        else if (j->idle_timeout > 0 && (double)(now - rs->last_activity) / 1e9 > j->idle_timeout)
            j->timed_out = true;
        if (j->canceled || j->timed_out) {
            kill_job(j, pid);
            killed = true;
        }
    }
}

/* Creates dirfd/name for writing; a symlink already there (planted by an
 * archive) is removed first, never followed. */
static int open_artifact(int dirfd, const char *name, mode_t mode)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        unlinkat(dirfd, name, 0);
    return openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
}

static void open_output_files(struct run_state *rs)
{
    struct job *j = rs->j;
    if (j->suppress_output_file)
        return;
    rs->stdout_fd = open_artifact(j->artifact_fd, "stdout", 0600);
    if (rs->stdout_fd < 0)
        job_write_failed(j, "stdout", errno);
    int fd = open_artifact(j->artifact_fd, "stderr", 0666);
    if (fd < 0)
        job_write_failed(j, "stderr", errno);
    else if (close(fd) < 0)
        job_write_failed(j, "stderr", errno);
}

/* ---- rotation ---------------------------------------------------------- */

struct rot_entry {
    char *name;
    struct timespec mtime;
    size_t order;        /* listing order: ties keep it, as a stable sort */
};

static int rot_cmp(const void *a, const void *b)
{
    const struct rot_entry *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Lists the artifact directories below root (real directories only, never
 * through a link) other than the job's own; returns the count or -1. */
static long rot_list(const char *root, const char *own, struct rot_entry **out)
{
    DIR *d = opendir(root);
    if (!d)
        return -1;
    struct rot_entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, own) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct rot_entry *nv = realloc(v, cap * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[n] = (struct rot_entry){ strdup(de->d_name), st.st_mtim, n };
        if (v[n].name)
            n++;
    }
    closedir(d);
    *out = v;
    return (long)n;
}

/* cleanup_artifact_dir(): once the job's artifact dir holds its command
 * file, keep the rotate_artifacts most recently modified artifact dirs of
 * the artifact root and remove the others, oldest first.  The job's own
 * dir counts as the newest and is never removed; files and links in the
 * root are neither counted nor touched (2.3.1 would crash on them). */
static void rotate_artifacts(struct job *j)
{
    char *root = strdup(j->artifact_dir);
    char *slash = root ? strrchr(root, '/') : NULL;
    struct rot_entry *v = NULL;
    long n = -1;
    if (slash) {
        *slash = 0;
        n = rot_list(*root ? root : "/", slash + 1, &v);
    }
    if (n > 0)
        qsort(v, (size_t)n, sizeof *v, rot_cmp);
    long extra = n + 1 - (long)j->rotate_artifacts; /* + 1: the job's own dir */
    for (long i = 0; i < n; i++) {
        if (i < extra) {
            char *p = xasprintf("%s/%s", root, v[i].name);
            if (p)
                zipdir_rmtree(p);
            free(p);
        }
        free(v[i].name);
    }
    free(v);
    free(root);
}

static void *ssh_key_writer(struct job *j)
{
    unlinkat(j->artifact_fd, "ssh_key_data", 0);
    if (mkfifoat(j->artifact_fd, "ssh_key_data", 0600) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = openat(j->artifact_fd, "ssh_key_data", O_WRONLY | O_NOFOLLOW);
            if (fd >= 0)
                rio_write_all(fd, j->ssh_key, strlen(j->ssh_key));
            _exit(0);
        }
    } else {
        job_write_failed(j, "ssh_key_data", errno);
    }
    return NULL;
}

int job_run(struct job *j)
{
    struct run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.j = j;
    rs.stdout_fd = -1;
    buf_init(&rs.pwwin, 4096);
    buf_init(&rs.utf8, 1 << 20);
    emit_status(j, "starting", true);
    rs.events_fd = rio_open_dir_at(j->artifact_fd, "job_events", 0700);
    if (rs.events_fd < 0)
        job_write_failed(j, "job_events", errno);
    write_command_file(j);
    if (j->rotate_artifacts > 0)
        rotate_artifacts(j);
    open_output_files(&rs);
    evfilter_init(&rs.filter, on_event, on_stdout, &rs);
    if (j->containerized && container_write_env_list(j) < 0)
        job_write_failed(j, "env.list", errno);
    if (j->ssh_key)
        ssh_key_writer(j);
    emit_status(j, "running", false);
    rs.last_activity = util_mono_ns();
    char *exe = j->write_failed ? NULL
                                : find_executable(j->argv[0], j->spawn_env ? j->spawn_env : j->env);
    int status = 0;
    if (j->write_failed) {
        j->rc = 1; /* the job is not started without its artifacts */
    } else if (!exe) {
        char *msg = xasprintf("The command was not found or was not executable: %s.\n", j->argv[0]);
        feed_output(&rs, -1, msg, strlen(msg), false);
        free(msg);
        j->rc = 127;
    } else {
        int master = -1;
        pid_t pid = spawn_child(j, exe, &master);
        if (pid < 0) {
            j->rc = 127;
        } else {
            status = run_loop(&rs, pid, master);
            close(master);
            j->rc = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        }
        free(exe);
    }
    feed_output(&rs, -1, "", 0, true);
    evfilter_close(&rs.filter);
    evfilter_free(&rs.filter);
    if (rs.stdout_fd >= 0 && close(rs.stdout_fd) < 0)
        job_write_failed(j, "stdout", errno);
    if (rs.events_fd >= 0)
        close(rs.events_fd);
    if (j->canceled || j->timed_out)
        j->rc = 254;
    const char *st = j->canceled ? "canceled"
                     : (j->rc == 0 && !j->timed_out) ? "successful"
                     : j->timed_out ? "timeout" : "failed";
    /* status and rc go to disk before the final status line, so a failure
     * to write them is what that line reports */
    if (j->write_failed)
        st = "error";
    job_write_artifact(j, "status", st, strlen(st), 0600, RIO_ATOMIC | RIO_FSYNC);
    char rc[16];
    snprintf(rc, sizeof rc, "%d", j->rc);
    job_write_artifact(j, "rc", rc, strlen(rc), 0600, RIO_ATOMIC | RIO_FSYNC);
    if (j->write_failed)
        st = "error";
    emit_status(j, st, false);
    if (j->registry_dir) {
        zipdir_rmtree(j->registry_dir);
        free(j->registry_dir);
        j->registry_dir = NULL;
    }
    if (j->hooks.artifacts)
        j->hooks.artifacts(j->hooks.ctx, j->artifact_dir);
    buf_free(&rs.pwwin);
    buf_free(&rs.utf8);
    return j->write_failed && j->rc == 0 ? 1 : j->rc;
}

bool job_engine_available(const char *exe)
{
    const char *argv[] = { exe, "--version", NULL };
    return util_run_quiet(argv) == 0;
}
