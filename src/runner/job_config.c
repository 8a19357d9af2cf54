/* job_config.c - a job's configuration: ansible-runner 2.3.1's
 * RunnerConfig.prepare().  The kwargs are checked, settings, passwords,
 * envvars and the ssh key are read from the private data dir, and the job's
 * argv (spec 6.2) and environment (6.3) are built, wrapped for process
 * isolation when asked; everything that can fail with a configuration error
 * fails here, before job_run() (job.c) emits anything. */
#include "runner/job.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/pyjson.h"
#include "core/util.h"
#include "runner/container.h"
#include "runner/envfile.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

extern char **environ;

#ifndef RUNNER_CALLBACK_BUILD_DIR
#define RUNNER_CALLBACK_BUILD_DIR ""
#endif

/* ---- small helpers ----------------------------------------------------- */

const char *job_json_str(const json_t *kw, const char *key)
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

/* Set at all: 2.3.1 tests these with `is not None`. */
static bool json_is_set(const json_t *v)
{
    return v && !json_is_null(v);
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
    return json_is_true(v) ? 1 : 0; /* Python: True == 1 */
}

static const char *py_type_name(const json_t *v)
{
    return json_is_string(v) ? "str" : json_is_array(v) ? "list" : json_is_object(v) ? "dict"
           : json_is_null(v) ? "NoneType" : "a number";
}

/* env/settings values 2.3.1 uses as numbers or paths.  2.3.1 crashes on
 * other types (a TypeError once the job runs, or on os.path.join); taking
 * them as "no timeout" or the default would ignore them silently, so they
 * are refused before anything starts.  A timeout may be null (none). */
static int settings_check_types(const struct job *j, char *err, size_t errlen)
{
    static const char *const numbers[] = { "job_timeout", "idle_timeout", "pexpect_timeout" };
    for (size_t i = 0; i < ARRAY_SIZE(numbers); i++) {
        const json_t *v = json_object_get(j->settings, numbers[i]);
        if (v && !json_is_null(v) && !json_is_number(v) && !json_is_boolean(v)) {
            snprintf(err, errlen, "ansible_runner.exceptions.ConfigurationError: env/settings "
                     "%s must be a number, not %s", numbers[i], py_type_name(v));
            return -1;
        }
    }
    const json_t *fc = json_object_get(j->settings, "fact_cache");
    if (fc && !json_is_string(fc)) {
        snprintf(err, errlen, "ansible_runner.exceptions.ConfigurationError: env/settings "
                 "fact_cache must be a string, not %s", py_type_name(fc));
        return -1;
    }
    return 0;
}

static void env_set(json_t *env, const char *k, const char *v)
{
    json_object_set_new(env, k, json_string(v));
}

static const char *env_get(const json_t *env, const char *k)
{
    return job_json_str(env, k);
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

/* 2.3.1: a non-empty kwargs mapping is updated from env/passwords, an empty
 * or missing one is replaced by it, any other truthy value is kept (and
 * then answers nothing).  The patterns are compiled in one go: if one is not
 * a regex, no prompt is answered.  A null value matches but sends nothing. */
static json_t *passwords_merged(struct job *j)
{
    json_t *pw = json_object_get(j->kw, "passwords");
    if (json_truthy(pw) && !json_is_object(pw))
        return NULL;
    json_t *all = json_is_object(pw) ? json_deep_copy(pw) : json_object();
    merge_mapping(all, envfile_load_mapping(j->pdd, "env/passwords"));
    return all;
}

static void passwords_free(struct job *j)
{
    for (size_t i = 0; i < j->npw; i++) {
        regfree(&j->pw[i].re);
        free(j->pw[i].reply);
    }
    free(j->pw);
    j->pw = NULL;
    j->npw = 0;
}

static int load_passwords(struct job *j)
{
    json_t *all = passwords_merged(j);
    if (!all)
        return 0;
    j->pw = calloc(json_object_size(all) + 1, sizeof *j->pw);
    const char *k;
    json_t *v;
    bool bad = false;
    json_object_foreach(all, k, v) {
        struct buf re;
        buf_init(&re, strlen(k) * 16 + 16);
        const char *pat;
        if (envfile_python_regex(k, &re) == 0 && buf_cstr(&re, &pat) == 0 &&
            regcomp(&j->pw[j->npw].re, pat, REG_EXTENDED | REG_NEWLINE) == 0) {
            j->pw[j->npw].reply = json_is_null(v) ? NULL : envfile_pystr(v);
            j->npw++;
        } else {
            bad = true;
        }
        buf_free(&re);
        if (bad)
            break;
    }
    json_decref(all);
    if (bad)
        passwords_free(j);
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

/* The jsonfile fact cache directory: env/settings' fact_cache when there
 * is no fact_cache_type beside it or that type is jsonfile, else the
 * kwargs' fact_cache, else "fact_cache"; taken relative to the artifact
 * dir as os.path.join() does (an absolute name stays as it is). */
static char *fact_cache_path(const struct job *j)
{
    const json_t *sfc = json_object_get(j->settings, "fact_cache");
    const json_t *sft = json_object_get(j->settings, "fact_cache_type");
    const char *name = NULL;
    if (json_is_string(sfc) &&
        (!sft || (json_is_string(sft) && !strcmp(json_string_value(sft), "jsonfile"))))
        name = json_string_value(sfc);
    const json_t *kfc = json_object_get(j->kw, "fact_cache");
    if (!name && json_is_string(kfc) && json_string_length(kfc) > 0)
        name = json_string_value(kfc);
    if (!name)
        name = "fact_cache";
    return name[0] == '/' ? strdup(name) : util_asprintf("%s/%s", j->artifact_dir, name);
}

static void build_env(struct job *j, bool is_adhoc)
{
    j->env = json_object();
    const char *art = j->artifact_dir;
    char *cart = j->containerized ? util_asprintf("/runner/artifacts/%s", j->ident) : NULL;
    /* only the kwarg (default jsonfile) says whether there is a jsonfile
     * cache; env/settings' fact_cache_type only qualifies its fact_cache */
    const json_t *kft = json_object_get(j->kw, "fact_cache_type");
    bool jsonfile = !kft || (json_is_string(kft) && !strcmp(json_string_value(kft), "jsonfile"));
    if (j->containerized) {
        if (!strcmp(j->engine, "podman"))
            env_set(j->env, "ANSIBLE_UNSAFE_WRITES", "1");
        env_set(j->env, "AWX_ISOLATED_DATA_DIR", cart);
        if (jsonfile) {
            char *fc = util_asprintf("%s/fact_cache", cart);
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
        cbdir = util_asprintf("%s/callback", cart);
    } else {
        const char *awx = env_get(j->env, "AWX_LIB_DIRECTORY");
        if (!awx)
            awx = getenv("AWX_LIB_DIRECTORY");
        cbdir = strdup(awx ? awx : job_callback_dir());
    }
    char *cbp = prev && *prev ? util_asprintf("%s:%s", prev, cbdir) : strdup(cbdir);
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
            char *fc = fact_cache_path(j);
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
    const char *cl = job_json_str(j->kw, "cmdline");
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
    char *ev = util_asprintf("%s/env/extravars", j->pdd);
    if (file_exists(ev)) {
        char *arg = util_asprintf("@%s", j->containerized ? "/runner/env/extravars" : ev);
        argv_add(j, "-e");
        argv_add(j, arg);
        free(arg);
    }
    free(ev);
    const json_t *xv = json_object_get(j->kw, "extravars");
    if (json_is_object(xv) && json_object_size(xv) > 0) {
        struct buf b;
        buf_init(&b, JOB_LINE_LIMIT);
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
                                                   : util_asprintf("%s/%s", j->pdd, json_string_value(xv));
        if (file_exists(p)) {
            char *arg = util_asprintf("@%s", p);
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
    char *fifo = j->containerized ? util_asprintf("/runner/artifacts/%s/ssh_key_data", j->ident)
                                  : util_asprintf("%s/ssh_key_data", j->artifact_dir);
    struct buf b;
    buf_init(&b, JOB_LINE_LIMIT);
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
    const char *ad = job_json_str(kw, "artifact_dir");
    char *root = ad ? util_abspath(ad) : util_asprintf("%s/artifacts", j->pdd);
    j->artifact_dir = util_asprintf("%s/%s", root, j->ident);
    const char *pd = job_json_str(kw, "project_dir");
    j->project_dir = pd && *pd ? strdup(pd) : util_asprintf("%s/project", j->pdd);
    /* a given artifact_dir is trusted as it is; below it (or below the
     * private data dir) no symlink is followed */
    if (ad)
        util_mkdir_p(root, 0777, 0777);
    char *rel = ad ? strdup(j->ident) : util_asprintf("artifacts/%s", j->ident);
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
    if (settings_check_types(j, err, errlen) < 0)
        return -1;
    j->job_timeout = json_truthy(to) ? json_number(to) : json_number(json_object_get(j->settings, "job_timeout"));
    j->idle_timeout = json_number(json_object_get(j->settings, "idle_timeout"));
    j->suppress_output_file = json_truthy(json_object_get(j->settings, "suppress_output_file"));
    j->json_mode = json_truthy(json_object_get(kw, "json_mode"));
    const json_t *sao = json_object_get(j->settings, "suppress_ansible_output");
    j->suppress_ansible_output = json_truthy(sao ? sao : json_object_get(kw, "quiet"));
    if (json_is_set(setting(j, "directory_isolation_base_path"))) {
        snprintf(err, errlen,
                 "ansible_runner.exceptions.ConfigurationError: directory_isolation_base_path "
                 "is not supported by ansible-runner-c: it belongs to the bwrap sandbox, which "
                 "is not implemented (2.3.1 would run the job in that directory and then delete "
                 "it)");
        return -1;
    }
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
    const char *sk = job_json_str(kw, "ssh_key");
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
        char *d = util_asprintf("%s/inventory", j->pdd);
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
    passwords_free(j);
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
