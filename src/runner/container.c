/* container.c - process isolation with podman or docker (spec 7); see
 * container.h for the interface.
 *
 * Design.  job_prepare() builds the inner command (ansible-playbook ...) and
 * the job environment first; container_wrap() then replaces argv with the
 * engine command line of spec 7.3, word for word as ansible-runner 2.3.1
 * builds it, and switches the spawn environment to "our environment plus
 * the job's" (the engine must see CONTAINERS_CONF, CONTAINERS_STORAGE_CONF,
 * ... of the execution node, while the container sees only env.list).
 *
 * Everything that can fail (the callback copy, the registry credential
 * files) fails here, before the job has emitted anything, with an error
 * that names the path and the reason; nothing is half-written silently.
 *
 * Registry credentials (spec 7.4) go to a private directory made like
 * Python's tempfile.mkdtemp(prefix="ansible_runner_registry_<ident>_"):
 * $TMPDIR (else /tmp), eight random [a-z0-9_] characters, mode 0700.  The
 * files are created 0600 with O_EXCL, byte-exact (4-space JSON, no trailing
 * newline).  The job removes the directory when it ends (job_run and
 * job_free), `worker cleanup` removes leftovers of killed workers.
 *
 * Volume mounts follow 2.3.1's _update_volume_mount_paths(): the source must
 * exist (else the mount is skipped), both sides go through expandvars,
 * expanduser and abspath (with normpath), a file mounts its directory, both
 * sides get a trailing '/', '/', '/home' and '/usr' are refused, duplicates
 * are dropped.
 *
 * Cancel and timeout (spec 7.5): container_kill() runs `<engine> kill
 * <name>` before the job's process group is SIGKILLed, so the container
 * dies with the job even though conmon is not in our process group; the
 * wait for the kill command is bounded so a wedged engine cannot hang the
 * worker. */
#include "runner/container.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "runner/envfile.h"
#include "runner/job.h"
#include "core/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

extern char **environ;

#define DEFAULT_IMAGE "quay.io/ansible/ansible-runner:devel"
#define KILL_WAIT_SECONDS 30

char *container_name_for(const char *ident)
{
    size_t n = strlen(ident);
    char *out = malloc(n + 16);
    if (!out)
        return NULL;
    memcpy(out, "ansible_runner_", 15);
    for (size_t i = 0; i < n; i++) {
        char c = ident[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        out[15 + i] = ok ? c : '_';
    }
    out[15 + n] = 0;
    return out;
}

int container_check_engine(bool process_isolation, const char *engine, char *err, size_t errlen)
{
    if (!process_isolation || !strcmp(engine, "podman") || !strcmp(engine, "docker"))
        return 0;
    /* 2.3.1 would use the bwrap sandbox of spec 7.6 here; running the job
     * unconfined instead would silently drop the isolation asked for. */
    snprintf(err, errlen,
             "ansible_runner.exceptions.ConfigurationError: process isolation with '%s' (the "
             "bwrap sandbox) is not supported by ansible-runner-c; use "
             "process_isolation_executable podman or docker",
             engine);
    return -1;
}

/* ---- argv under construction -------------------------------------------- */

struct words {
    char **v;
    size_t n;
    bool oom;
};

static void words_take(struct words *w, char *s)
{
    char **nv = s ? realloc(w->v, (w->n + 2) * sizeof *w->v) : NULL;
    if (!nv) {
        free(s);
        w->oom = true;
        return;
    }
    w->v = nv;
    w->v[w->n++] = s;
    w->v[w->n] = NULL;
}

static void words_add(struct words *w, const char *s)
{
    words_take(w, strdup(s));
}

static void words_addf(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void words_addf(struct words *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    words_take(w, util_vasprintf(fmt, ap));
    va_end(ap);
}

static bool words_has(const struct words *w, const char *s)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->v[i], s))
            return true;
    return false;
}

static void words_free(struct words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    memset(w, 0, sizeof *w);
}

/* ---- the registry credential directory (spec 7.4) ------------------------ */

static const char *tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

/* mkdtemp(prefix=...) with Python's 8-character [a-z0-9_] suffix. */
static char *py_mkdtemp(const char *prefix)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char rnd[8];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
            unsigned long x = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16) ^
                              (unsigned long)attempt * 2654435761u;
            for (size_t i = 0; i < sizeof rnd; i++, x = x * 6364136223846793005ul + 1)
                rnd[i] = (unsigned char)(x >> 33);
        }
        char sfx[9];
        for (size_t i = 0; i < 8; i++)
            sfx[i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
        sfx[8] = 0;
        char *p = NULL;
        if (asprintf(&p, "%s/%s%s", tmp_root(), prefix, sfx) < 0)
            return NULL;
        if (mkdir(p, 0700) == 0)
            return p;
        int e = errno;
        free(p);
        if (e != EEXIST) {
            errno = e;
            return NULL;
        }
    }
    errno = EEXIST;
    return NULL;
}

/* Creates path with mode 0600 and exactly these bytes. */
static int write_secret(const char *path, const char *data, size_t n, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0 || rio_write_all(fd, data, n) < 0 || close(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, errlen, "cannot write the registry credentials file %s: %s", path,
                 strerror(e));
        return -1;
    }
    return 0;
}

/* Writes auth.json (podman) or config.json (docker) and, when verify_ssl is
 * exactly false, registries.conf; adds the engine option to *pre (docker,
 * before "run") or *authfile (podman, after the PDD mount). */
static int write_registry_auth(struct job *j, const json_t *auth, struct words *pre,
                               char **authfile, char *err, size_t errlen)
{
    const char *host = json_string_value(json_object_get(auth, "host"));
    char *user = envfile_pystr(json_object_get(auth, "username"));
    char *pass = envfile_pystr(json_object_get(auth, "password"));
    char prefix[512];
    snprintf(prefix, sizeof prefix, "ansible_runner_registry_%s_", j->ident);
    j->registry_dir = py_mkdtemp(prefix);
    if (!j->registry_dir) {
        snprintf(err, errlen, "cannot create the registry credentials directory %s/%sXXXXXXXX: %s",
                 tmp_root(), prefix, strerror(errno));
        free(user);
        free(pass);
        return -1;
    }
    char *up = NULL;
    int upn = asprintf(&up, "%s:%s", user ? user : "None", pass ? pass : "None");
    free(user);
    free(pass);
    if (upn < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    gnutls_datum_t in = { (unsigned char *)up, (unsigned)upn }, b64 = { NULL, 0 };
    int grc = gnutls_base64_encode2(&in, &b64);
    free(up);
    if (grc < 0) {
        snprintf(err, errlen, "cannot encode the registry credentials: %s", gnutls_strerror(grc));
        return -1;
    }
    json_t *doc = json_pack("{s:{s:{s:s#}}}", "auths", host ? host : "null", "auth",
                            (const char *)b64.data, (int)b64.size);
    gnutls_free(b64.data);
    struct buf b;
    buf_init(&b, 1 << 20);
    int rc = doc && pyjson_dump_indent(doc, &b) == 0 ? 0 : -1;
    json_decref(doc);
    bool docker = !strcmp(j->engine, "docker");
    char *path = NULL;
    if (rc < 0 || asprintf(&path, "%s/%s", j->registry_dir, docker ? "config.json" : "auth.json") < 0) {
        snprintf(err, errlen, "cannot encode the registry credentials (too large?)");
        buf_free(&b);
        return -1;
    }
    rc = write_secret(path, (const char *)buf_head(&b), buf_size(&b), err, errlen);
    buf_free(&b);
    if (rc == 0) {
        if (docker)
            words_addf(pre, "--config=%s", j->registry_dir);
        else if (asprintf(authfile, "--authfile=%s", path) < 0)
            *authfile = NULL;
    }
    free(path);
    if (rc == 0 && json_is_false(json_object_get(auth, "verify_ssl"))) {
        char *conf = NULL, *cpath = NULL;
        int n = asprintf(&conf, "[[registry]]\nlocation = \"%s\"\ninsecure = true", host ? host : "None");
        if (n < 0 || asprintf(&cpath, "%s/registries.conf", j->registry_dir) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else {
            rc = write_secret(cpath, conf, (size_t)n, err, errlen);
        }
        if (rc == 0) {
            json_object_set_new(j->env, "CONTAINERS_REGISTRIES_CONF", json_string(cpath));
            json_object_set_new(j->env, "REGISTRIES_CONFIG_PATH", json_string(cpath));
        }
        free(conf);
        free(cpath);
    }
    return rc;
}

/* ---- Python path helpers (os.path.expandvars/expanduser/abspath) --------- */

static void sb_add(char **s, size_t *n, size_t *cap, const char *p, size_t len)
{
    if (!*s)
        return;
    if (*n + len + 1 > *cap) {
        size_t nc = (*n + len + 1) * 2;
        char *ns = realloc(*s, nc);
        if (!ns) {
            free(*s);
            *s = NULL;
            return;
        }
        *s = ns;
        *cap = nc;
    }
    memcpy(*s + *n, p, len);
    *n += len;
    (*s)[*n] = 0;
}

/* $NAME and ${NAME} with NAME in [A-Za-z0-9_]; unknown variables stay. */
static char *py_expandvars(const char *in)
{
    size_t n = 0, cap = strlen(in) + 1;
    char *out = malloc(cap);
    if (out)
        out[0] = 0;
    for (const char *p = in; *p && out;) {
        if (*p != '$') {
            sb_add(&out, &n, &cap, p++, 1);
            continue;
        }
        bool brace = p[1] == '{';
        const char *ns = p + 1 + brace, *ne = ns;
        if (brace) {
            while (*ne && *ne != '}')
                ne++;
        } else {
            while ((*ne >= 'A' && *ne <= 'Z') || (*ne >= 'a' && *ne <= 'z') ||
                   (*ne >= '0' && *ne <= '9') || *ne == '_')
                ne++;
        }
        if (ne == ns || (brace && *ne != '}')) {
            sb_add(&out, &n, &cap, p++, 1);
            continue;
        }
        char *name = strndup(ns, (size_t)(ne - ns));
        const char *val = name ? getenv(name) : NULL;
        free(name);
        const char *end = ne + brace;
        if (val)
            sb_add(&out, &n, &cap, val, strlen(val));
        else
            sb_add(&out, &n, &cap, p, (size_t)(end - p));
        p = end;
    }
    return out;
}

static char *py_expanduser(char *in)
{
    if (!in || in[0] != '~' || (in[1] && in[1] != '/'))
        return in; /* ~user is left alone */
    const char *home = getenv("HOME");
    if (!home)
        return in;
    char *out = NULL;
    if (asprintf(&out, "%s%s", strcmp(home, "/") ? home : "", in + 1) < 0)
        out = NULL;
    if (out && !*out) {
        free(out);
        out = strdup("/");
    }
    free(in);
    return out;
}

/* os.path.abspath: join with the cwd, then normpath. */
static char *py_abspath(char *in)
{
    if (!in)
        return NULL;
    char *full = in;
    if (in[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd) || asprintf(&full, "%s/%s", cwd, in) < 0) {
            free(in);
            return NULL;
        }
        free(in);
    }
    size_t len = strlen(full);
    char *out = malloc(len + 2);
    size_t *starts = malloc((len / 2 + 2) * sizeof *starts);
    if (!out || !starts) {
        free(out);
        free(starts);
        free(full);
        return NULL;
    }
    size_t n = 0, depth = 0;
    for (char *p = full; *p;) {
        while (*p == '/')
            p++;
        char *e = p;
        while (*e && *e != '/')
            e++;
        size_t cl = (size_t)(e - p);
        if (cl == 0 || (cl == 1 && p[0] == '.')) {
            /* skip */
        } else if (cl == 2 && p[0] == '.' && p[1] == '.') {
            if (depth)
                n = starts[--depth];
        } else {
            starts[depth++] = n;
            out[n++] = '/';
            memcpy(out + n, p, cl);
            n += cl;
        }
        p = e;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = 0;
    free(starts);
    free(full);
    return out;
}

static char *py_dirname(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash)
        return strdup("");
    if (slash == p)
        return strdup("/");
    return strndup(p, (size_t)(slash - p));
}

/* _ensure_path_safe_to_mount(): a file stands for its directory, then
 * os.path.join(path, "") must not be '/', '/home/' or '/usr/'. */
static bool unsafe_mount(const char *path)
{
    struct stat st;
    char *d = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? py_dirname(path) : strdup(path);
    if (!d)
        return false;
    static const char *const bad[] = { "/", "/home", "/home/", "/usr", "/usr/" };
    bool refused = false;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        refused |= !strcmp(d, bad[i]);
    free(d);
    return refused;
}

static char *py_expand_abs(const char *p)
{
    return py_abspath(py_expanduser(py_expandvars(p)));
}

/* One container_volume_mounts item "SRC:DST[:LABELS]" as 2.3.1 handles it. */
static int add_volume(struct words *w, const char *spec, const char *workdir, char *err, size_t errlen)
{
    static const char refused[] = "ansible_runner.exceptions.ConfigurationError: When using "
                                  "containerized execution, cannot mount '/' or '/home' or '/usr'";
    char *copy = strdup(spec);
    if (!copy) {
        w->oom = true;
        return 0;
    }
    char *src = copy, *dst = NULL, *labels = NULL;
    char *c1 = strchr(copy, ':');
    if (c1) {
        *c1 = 0;
        dst = c1 + 1;
        char *c2 = strchr(dst, ':');
        if (c2) {
            *c2 = 0;
            labels = c2 + 1;
        }
    }
    struct stat st;
    if (unsafe_mount(src)) {
        snprintf(err, errlen, "%s", refused);
        free(copy);
        return -1;
    }
    if (stat(src, &st) < 0) {
        free(copy);
        return 0; /* 2.3.1: a source that does not exist is skipped */
    }
    char *s = py_expand_abs(src);
    char *d = NULL;
    if (!dst) {
        d = s ? strdup(s) : NULL; /* 2.3.1 fails with an IndexError here */
    } else if (workdir && *workdir && dst[0] != '/') {
        char *joined = NULL;
        if (asprintf(&joined, "%s/%s", workdir, dst) >= 0) {
            d = py_expand_abs(joined);
            free(joined);
        }
    } else {
        d = py_expand_abs(dst);
    }
    int rc = 0;
    if (s && d && !(stat(s, &st) == 0 && S_ISDIR(st.st_mode))) {
        char *ds = py_dirname(s), *dd = py_dirname(d);
        free(s);
        free(d);
        s = ds;
        d = dd;
    }
    if (!s || !d) {
        w->oom = true;
    } else if (unsafe_mount(s) || unsafe_mount(d)) {
        snprintf(err, errlen, "%s", refused);
        rc = -1;
    } else {
        /* trailing '/' on both sides; the label is ":" + LABELS, as given */
        char *arg = NULL;
        if (asprintf(&arg, "%s/:%s/%s%s", strcmp(s, "/") ? s : "", strcmp(d, "/") ? d : "",
                     labels ? ":" : "", labels ? labels : "") < 0) {
            w->oom = true;
        } else if (!words_has(w, arg)) {
            words_add(w, "-v");
            words_take(w, arg);
            arg = NULL;
        }
        free(arg);
    }
    free(s);
    free(d);
    free(copy);
    return rc;
}

/* ---- the display callback copy ------------------------------------------ */

static int copy_file(const char *sp, const char *dp, char *err, size_t errlen)
{
    int in = open(sp, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        snprintf(err, errlen, "cannot read the display callback plugin %s: %s", sp, strerror(errno));
        return -1;
    }
    int out = open(dp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = out < 0 ? -1 : 0;
    char buf[65536];
    ssize_t n = 0;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || rio_write_all(out, buf, (size_t)n) < 0)
            rc = -1;
    }
    if (out >= 0 && close(out) < 0)
        rc = -1;
    int e = errno;
    close(in);
    if (rc < 0)
        snprintf(err, errlen, "cannot copy the display callback plugin to %s: %s", dp, strerror(e));
    return rc;
}

/* <artifact dir>/callback, replacing an earlier copy (spec 7.2 step 5). */
static int copy_callback(struct job *j, char *err, size_t errlen)
{
    char *dst = NULL;
    if (asprintf(&dst, "%s/callback", j->artifact_dir) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    zipdir_rmtree(dst);
    int rc = 0;
    if (mkdir(dst, 0755) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dst, strerror(errno));
        rc = -1;
    }
    const char *src = job_callback_dir();
    const char *files[] = { "awx_display.py", "__init__.py" };
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char sp[4096], dp[4096];
        snprintf(sp, sizeof sp, "%s/%s", src, files[i]);
        snprintf(dp, sizeof dp, "%s/%s", dst, files[i]);
        rc = copy_file(sp, dp, err, errlen);
    }
    free(dst);
    return rc;
}

/* ---- the engine command line (spec 7.3) --------------------------------- */

static const json_t *setting_or_kw(struct job *j, const char *key)
{
    const json_t *v = json_object_get(j->settings, key);
    return v ? v : json_object_get(j->kw, key);
}

int container_wrap(struct job *j, char *err, size_t errlen)
{
    struct words w = { 0 }, pre = { 0 };
    char *authfile = NULL;
    int rc = copy_callback(j, err, errlen);
    const json_t *auth = setting_or_kw(j, "container_auth_data");
    if (rc == 0 && json_is_object(auth) && json_object_size(auth) > 0)
        rc = write_registry_auth(j, auth, &pre, &authfile, err, errlen);
    if (rc < 0) {
        words_free(&pre);
        return -1;
    }
    const char *wd = json_string_value(json_object_get(j->kw, "container_workdir"));
    words_add(&w, j->engine);
    for (size_t i = 0; i < pre.n; i++)
        words_add(&w, pre.v[i]);
    words_free(&pre);
    words_add(&w, "run");
    words_add(&w, "--rm");
    words_add(&w, "--tty");
    words_add(&w, "--interactive");
    words_add(&w, "--workdir");
    words_add(&w, wd ? wd : "/runner/project");
    char *art = NULL;
    if (asprintf(&art, "%s/artifacts", j->pdd) >= 0 && mkdir(art, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", art, strerror(errno));
        rc = -1;
    }
    free(art);
    words_add(&w, "-v");
    words_addf(&w, "%s/:/runner/:Z", j->pdd);
    if (authfile)
        words_take(&w, authfile);
    const json_t *vols = setting_or_kw(j, "container_volume_mounts");
    size_t i;
    json_t *x;
    json_array_foreach(vols, i, x) {
        if (json_is_string(x) && rc == 0)
            rc = add_volume(&w, json_string_value(x), wd, err, errlen);
    }
    words_add(&w, "--env-file");
    words_addf(&w, "%s/env.list", j->artifact_dir);
    if (!strcmp(j->engine, "podman"))
        words_add(&w, "--quiet");
    else
        words_addf(&w, "--user=%u", (unsigned)getuid());
    words_add(&w, "--name");
    words_add(&w, j->container_name);
    const json_t *opts = setting_or_kw(j, "container_options");
    json_array_foreach(opts, i, x) {
        words_take(&w, envfile_pystr(x));
    }
    const json_t *img = setting_or_kw(j, "container_image");
    words_add(&w, json_is_string(img) && *json_string_value(img) ? json_string_value(img)
                                                                  : DEFAULT_IMAGE);
    for (size_t k = 0; k < j->argc; k++)
        words_add(&w, j->argv[k]);
    if (w.oom && rc == 0) {
        snprintf(err, errlen, "out of memory while building the container command line");
        rc = -1;
    }
    if (rc < 0) {
        words_free(&w);
        return -1;
    }
    for (size_t k = 0; k < j->argc; k++)
        free(j->argv[k]);
    free(j->argv);
    j->argv = w.v;
    j->argc = w.n;
    free(j->status_cwd);
    j->status_cwd = strdup(wd ? wd : "/runner/project");
    /* the engine runs in our own cwd with our environment plus the job's */
    char cwd[4096];
    free(j->cwd);
    j->cwd = strdup(getcwd(cwd, sizeof cwd) ? cwd : "/");
    json_decref(j->spawn_env);
    j->spawn_env = json_object();
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *k = strndup(*e, (size_t)(eq - *e));
        if (k)
            json_object_set_new(j->spawn_env, k, json_string(eq + 1));
        free(k);
    }
    json_object_update(j->spawn_env, j->env);
    return 0;
}

int container_write_env_list(struct job *j)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(j->env, k, v) {
        buf_printf(&b, "%s%s=%s", first ? "" : "\n", k, json_string_value(v));
        first = false;
    }
    int rc = rio_write_file_at(j->artifact_fd, "env.list", buf_head(&b), buf_size(&b), 0644, 0);
    int e = errno;
    buf_free(&b);
    errno = e;
    return rc;
}

int container_kill(struct job *j)
{
    const char *argv[] = { j->engine, "kill", j->container_name, NULL };
    pid_t pid = util_spawn_quiet(argv);
    if (pid < 0)
        return -1;
    int status = 0;
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= KILL_WAIT_SECONDS * 50) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        nanosleep(&tick, NULL);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
