/* container.c - see container.h. */
#include "runner/container.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include "runner/envfile.h"
#include "runner/job.h"
#include "runner/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

extern char **environ;

char *container_name_for(const char *ident)
{
    size_t n = strlen(ident);
    char *out = malloc(n + 16);
    if (!out)
        return NULL;
    strcpy(out, "ansible_runner_");
    for (size_t i = 0; i < n; i++) {
        char c = ident[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        out[15 + i] = ok ? c : '_';
    }
    out[15 + n] = 0;
    return out;
}

struct words {
    char **v;
    size_t n;
};

static void words_add(struct words *w, const char *s)
{
    w->v = realloc(w->v, (w->n + 2) * sizeof *w->v);
    w->v[w->n++] = strdup(s);
    w->v[w->n] = NULL;
}

static void words_addf(struct words *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void words_addf(struct words *w, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    words_add(w, s ? s : "");
    free(s);
}

static int words_has(const struct words *w, const char *s)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->v[i], s))
            return 1;
    return 0;
}

static void write_exact(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        rio_write_all(fd, data, n);
        close(fd);
    }
}

/* Auth files of spec 7.4; returns 0, sets j->registry_dir. */
static int write_registry_auth(struct job *j, const json_t *auth, struct words *w_pre,
                               char *authfile_arg, size_t alen)
{
    const char *host = json_string_value(json_object_get(auth, "host"));
    const char *user = json_string_value(json_object_get(auth, "username"));
    const char *pass = json_string_value(json_object_get(auth, "password"));
    char prefix[256];
    snprintf(prefix, sizeof prefix, "ansible_runner_registry_%s_", j->ident);
    j->registry_dir = zipdir_mkdtemp(prefix);
    if (!j->registry_dir)
        return -1;
    char *up = NULL;
    if (asprintf(&up, "%s:%s", user ? user : "", pass ? pass : "") < 0)
        return -1;
    gnutls_datum_t in = { (unsigned char *)up, (unsigned)strlen(up) }, b64 = { NULL, 0 };
    gnutls_base64_encode2(&in, &b64);
    free(up);
    json_t *doc = json_pack("{s:{s:{s:s#}}}", "auths", host ? host : "", "auth",
                            b64.data ? (const char *)b64.data : "", (int)b64.size);
    gnutls_free(b64.data);
    struct buf b;
    buf_init(&b, 1 << 20);
    pyjson_dump_indent(doc, &b);
    json_decref(doc);
    bool docker = !strcmp(j->engine, "docker");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", j->registry_dir, docker ? "config.json" : "auth.json");
    write_exact(path, (const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
    if (docker)
        words_addf(w_pre, "--config=%s", j->registry_dir);
    else
        snprintf(authfile_arg, alen, "--authfile=%s", path);
    if (json_is_false(json_object_get(auth, "verify_ssl"))) {
        char conf[8192];
        int n = snprintf(conf, sizeof conf, "[[registry]]\nlocation = \"%s\"\ninsecure = true",
                         host ? host : "");
        snprintf(path, sizeof path, "%s/registries.conf", j->registry_dir);
        write_exact(path, conf, (size_t)n);
        json_object_set_new(j->env, "CONTAINERS_REGISTRIES_CONF", json_string(path));
        json_object_set_new(j->env, "REGISTRIES_CONFIG_PATH", json_string(path));
    }
    return 0;
}

static char *expand_abs(const char *p)
{
    wordexp_t we;
    char *out = NULL;
    if (wordexp(p, &we, WRDE_NOCMD) == 0 && we.we_wordc == 1) {
        out = strdup(we.we_wordv[0]);
        wordfree(&we);
    } else {
        out = strdup(p);
    }
    if (out[0] != '/') {
        char cwd[4096];
        char *abs = NULL;
        if (getcwd(cwd, sizeof cwd) && asprintf(&abs, "%s/%s", cwd, out) >= 0) {
            free(out);
            out = abs;
        }
    }
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        out[--n] = 0;
    return out;
}

static int add_volume(struct words *w, const char *spec, char *err, size_t errlen)
{
    char *copy = strdup(spec);
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
    if (stat(src, &st) < 0) {
        free(copy);
        return 0; /* missing sources are skipped */
    }
    char *s = expand_abs(src);
    char *d = expand_abs(dst && *dst ? dst : src);
    if (S_ISREG(st.st_mode)) {
        char *slash = strrchr(s, '/');
        if (slash && slash != s)
            *slash = 0;
        slash = strrchr(d, '/');
        if (slash && slash != d)
            *slash = 0;
    }
    int rc = 0;
    const char *bad[] = { "/", "/home", "/usr" };
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(s, bad[i]) || !strcmp(d, bad[i]))
            rc = -1;
    if (rc < 0) {
        snprintf(err, errlen, "ansible_runner.exceptions.ConfigurationError: When using "
                              "containerized execution, cannot mount '/' or '/home' or '/usr'");
    } else {
        char *arg = NULL;
        if (asprintf(&arg, "%s/:%s/%s%s", strcmp(s, "/") ? s : "", strcmp(d, "/") ? d : "",
                     labels ? ":" : "", labels ? labels : "") >= 0 && !words_has(w, arg)) {
            words_add(w, "-v");
            words_add(w, arg);
        }
        free(arg);
    }
    free(s);
    free(d);
    free(copy);
    return rc;
}

static void copy_callback(struct job *j)
{
    char *dst = NULL;
    if (asprintf(&dst, "%s/callback", j->artifact_dir) < 0)
        return;
    zipdir_rmtree(dst);
    mkdir(dst, 0755);
    const char *src = job_callback_dir();
    const char *files[] = { "awx_display.py", "__init__.py" };
    for (size_t i = 0; i < 2; i++) {
        char sp[4096], dp[4096];
        snprintf(sp, sizeof sp, "%s/%s", src, files[i]);
        snprintf(dp, sizeof dp, "%s/%s", dst, files[i]);
        int in = open(sp, O_RDONLY | O_CLOEXEC);
        int out = open(dp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char buf[65536];
        ssize_t n;
        while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
            rio_write_all(out, buf, (size_t)n);
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    free(dst);
}

int container_wrap(struct job *j, char *err, size_t errlen)
{
    struct words w = { 0 }, pre = { 0 };
    const json_t *auth = json_object_get(j->settings, "container_auth_data");
    if (!auth)
        auth = json_object_get(j->kw, "container_auth_data");
    char authfile[4200] = "";
    copy_callback(j);
    if (json_is_object(auth) && json_object_size(auth) > 0 &&
        write_registry_auth(j, auth, &pre, authfile, sizeof authfile) < 0) {
        snprintf(err, errlen, "cannot create the registry auth directory: %s", strerror(errno));
        return -1;
    }
    words_add(&w, j->engine);
    for (size_t i = 0; i < pre.n; i++)
        words_add(&w, pre.v[i]);
    words_add(&w, "run");
    words_add(&w, "--rm");
    words_add(&w, "--tty");
    words_add(&w, "--interactive");
    words_add(&w, "--workdir");
    const char *wd = json_string_value(json_object_get(j->kw, "container_workdir"));
    words_add(&w, wd ? wd : "/runner/project");
    char *art = NULL;
    if (asprintf(&art, "%s/artifacts", j->pdd) >= 0)
        mkdir(art, 0700);
    free(art);
    words_add(&w, "-v");
    words_addf(&w, "%s/:/runner/:Z", j->pdd);
    if (authfile[0])
        words_add(&w, authfile);
    const json_t *vols = json_object_get(j->settings, "container_volume_mounts");
    if (!vols)
        vols = json_object_get(j->kw, "container_volume_mounts");
    size_t i;
    json_t *x;
    int rc = 0;
    json_array_foreach(vols, i, x) {
        if (json_is_string(x) && rc == 0)
            rc = add_volume(&w, json_string_value(x), err, errlen);
    }
    words_add(&w, "--env-file");
    words_addf(&w, "%s/env.list", j->artifact_dir);
    if (!strcmp(j->engine, "podman"))
        words_add(&w, "--quiet");
    else
        words_addf(&w, "--user=%u", (unsigned)getuid());
    words_add(&w, "--name");
    words_add(&w, j->container_name);
    const json_t *opts = json_object_get(j->settings, "container_options");
    if (!opts)
        opts = json_object_get(j->kw, "container_options");
    json_array_foreach(opts, i, x) {
        char *s = envfile_pystr(x);
        words_add(&w, s ? s : "");
        free(s);
    }
    const json_t *img = json_object_get(j->settings, "container_image");
    if (!img)
        img = json_object_get(j->kw, "container_image");
    words_add(&w, json_is_string(img) ? json_string_value(img)
                                      : "quay.io/ansible/ansible-runner:devel");
    for (size_t k = 0; k < j->argc; k++) {
        words_add(&w, j->argv[k]);
        free(j->argv[k]);
    }
    free(j->argv);
    j->argv = w.v;
    j->argc = w.n;
    for (size_t k = 0; k < pre.n; k++)
        free(pre.v[k]);
    free(pre.v);
    free(j->status_cwd);
    j->status_cwd = strdup(wd ? wd : "/runner/project");
    /* the engine runs in our own cwd with our environment plus the job's */
    char cwd[4096];
    free(j->cwd);
    j->cwd = strdup(getcwd(cwd, sizeof cwd) ? cwd : "/");
    j->spawn_env = json_object();
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char *k = strndup(*e, (size_t)(eq - *e));
        json_object_set_new(j->spawn_env, k, json_string(eq + 1));
        free(k);
    }
    json_object_update(j->spawn_env, j->env);
    return rc;
}

void container_write_env_list(struct job *j)
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
    char *path = NULL;
    if (asprintf(&path, "%s/env.list", j->artifact_dir) >= 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            rio_write_all(fd, buf_head(&b), buf_size(&b));
            close(fd);
        }
    }
    free(path);
    buf_free(&b);
}

void container_kill(struct job *j)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp(j->engine, j->engine, "kill", j->container_name, (char *)NULL);
        _exit(127);
    }
    int status;
    if (pid > 0)
        waitpid(pid, &status, 0);
}
