/* worker.c - the worker role (spec 4): read the transmit stream, run the
 * job, stream status lines, events, keep-alives, the artifact zip and eof.
 *
 * Input is a small state machine over control lines (kwargs / zipfile /
 * eof, checked in that order, other objects ignored).  Its error paths
 * reproduce ansible-runner 2.3.1 exactly: a JSON error or EOF gives the
 * "Failed to JSON parse" status + eof with exit 0, an extraction failure
 * the "Failed to extract" status with a traceback-like text + eof, and a
 * crash of the Python worker (eof without kwargs, bad kwargs) an empty
 * stdout, a message on stderr and exit 1.  Output is written by this one
 * thread, line by line, so a keep-alive never lands inside a line.  When
 * the artifacts cannot be written (the job's final status is then "error"
 * with the reason) or zipped (an extra "error" status line before eof),
 * the worker exits 1 instead of reporting success. */
#include "runner/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "runner/event.h"
#include "runner/job.h"
#include "core/pyjson.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

#define RUNNER_VERSION "2.3.1"

static const char parse_error[] =
    "{\"status\": \"error\", \"job_explanation\": \"Failed to JSON parse a line from transmit "
    "stream.\"}\n";
static const char eof_line[] = "{\"eof\": true}\n";

struct wk {
    const struct worker_opts *o;
    char *pdd;
    json_t *kwargs;
    int64_t last_write;
    bool keepalive_on;
    bool artifacts_failed; /* the artifact zip could not be built */
};

static void wk_write(struct wk *w, const char *s, size_t n)
{
    rio_write_all(w->o->outfd, s, n);
    w->last_write = util_mono_ns();
}

static void wk_line(struct wk *w, const char *s, size_t n)
{
    /* one buffer, one write loop: the line goes out whole */
    char *p = malloc(n + 1);
    if (!p)
        return;
    memcpy(p, s, n);
    p[n] = '\n';
    wk_write(w, p, n + 1);
    free(p);
}

/* The status line that ends a job in error: {"status": "error", "job_explanation": why}. */
static void wk_write_error(struct wk *w, const char *why)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"status\": \"error\", \"job_explanation\": ");
    pyjson_put_string(&b, why, strlen(why), true);
    buf_append_str(&b, "}\n");
    wk_write(w, (const char *)buf_head(&b), buf_size(&b));
    buf_free(&b);
}

static int wk_extract_error(struct wk *w, const char *why)
{
    struct buf b, tb;
    buf_init(&b, 1 << 20);
    buf_init(&tb, 1 << 20);
    buf_printf(&tb, "Traceback (most recent call last):\n  File \"ansible-runner-c\", in "
                    "worker\n    unstream_dir(stdin, data['zipfile'], private_data_dir)\n%s\n",
               why);
    buf_append_str(&b, "{\"status\": \"error\", \"job_explanation\": \"Failed to extract private "
                       "data directory on worker.\", \"result_traceback\": ");
    pyjson_put_string(&b, (const char *)buf_head(&tb), buf_size(&tb), true);
    buf_append_str(&b, "}\n");
    wk_write(w, (const char *)buf_head(&b), buf_size(&b));
    wk_write(w, eof_line, sizeof eof_line - 1);
    buf_free(&b);
    buf_free(&tb);
    return 0;
}

/* The Python worker dies with a traceback on stderr and exit code 1. */
static int wk_crash(const char *msg)
{
    fprintf(stderr, "Traceback (most recent call last):\n  File \"ansible-runner-c\", in worker\n%s\n",
            msg);
    return 1;
}

static void update_paths(struct wk *w, json_t *kw)
{
    json_t *ev = json_object_get(kw, "envvars");
    const char *rp = json_string_value(json_object_get(ev, "ANSIBLE_ROLES_PATH"));
    if (json_is_object(ev) && json_object_size(ev) > 0 && rp) {
        char *p = NULL;
        if (asprintf(&p, rp[0] == '/' ? "%.0s%s" : "%s/roles/%s", w->pdd, rp) >= 0)
            json_object_set_new(ev, "ANSIBLE_ROLES_PATH", json_string(p));
        free(p);
    }
    json_t *inv = json_object_get(kw, "inventory");
    if (json_is_string(inv) && json_string_length(inv) > 0) {
        const char *s = json_string_value(inv);
        char *p = NULL;
        if (asprintf(&p, s[0] == '/' ? "%.0s%s" : "%s/%s", w->pdd, s) >= 0)
            json_object_set_new(kw, "inventory", json_string(p));
        free(p);
    }
}

static int wk_blob(struct wk *w, struct rio *r, const struct pyjson_member *m)
{
    long long n;
    char err[2048] = "";
    if (m->type != PYJSON_INT || pyjson_int(m->val, m->val_len, &n) < 0 || n < 0) {
        snprintf(err, sizeof err, "TypeError: invalid zipfile size");
        return wk_extract_error(w, err) - 1;
    }
    char *tmpdir = zipdir_mkdtemp("runner_c_unzip_");
    char *zp = NULL;
    int rc = tmpdir && asprintf(&zp, "%s/pdd.zip", tmpdir) >= 0 ? 0 : -1;
    int fd = rc == 0 ? open(zp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        snprintf(err, sizeof err, "OSError: cannot create a temporary file: %s", strerror(errno));
        rc = -1;
    }
    if (rc == 0) {
        /* a short or undecodable blob is still opened as a zip, as upstream */
        char berr[1024];
        rio_read_blob(r, (uint64_t)n, fd, berr, sizeof berr);
        close(fd);
        rc = zipdir_extract(zp, w->pdd, err, sizeof err);
    }
    if (zp)
        unlink(zp);
    if (tmpdir)
        rmdir(tmpdir);
    free(zp);
    free(tmpdir);
    if (rc < 0) {
        wk_extract_error(w, err);
        return -1;
    }
    return 0;
}

/* Python's `key in s` for a top-level JSON string line. */
static int wk_string_line(const char *s, size_t n, int *stop)
{
    struct buf b;
    buf_init(&b, n + 1);
    const char *t = "";
    if (pyjson_unquote(s + strspn(s, " \t\r\n"), n - strspn(s, " \t\r\n"), &b) == 0)
        buf_cstr(&b, &t);
    int crash = strstr(t, "kwargs") || strstr(t, "zipfile");
    *stop = !crash && strstr(t, "eof");
    buf_free(&b);
    return crash;
}

/* Reads the transmit stream.  Returns 1 when the job should run, 0 when a
 * protocol error was reported (exit 0), -1 for a crash (exit 1). */
static int wk_read_input(struct wk *w, struct rio *r)
{
    struct buf line;
    buf_init(&line, RIO_LINE_LIMIT);
    int result = 1;
    for (;;) {
        int got = rio_readline(r, &line);
        const char *s = (const char *)buf_head(&line);
        size_t n = buf_size(&line);
        enum pyjson_type t = got > 0 ? pyjson_type_of(s, n) : PYJSON_INVALID;
        if (t == PYJSON_INVALID) {
            wk_write(w, parse_error, sizeof parse_error - 1);
            wk_write(w, eof_line, sizeof eof_line - 1);
            result = 0;
            break;
        }
        if (t == PYJSON_STRING) {
            int stop = 0;
            if (wk_string_line(s, n, &stop)) {
                result = wk_crash("TypeError: string indices must be integers") ? -1 : -1;
                break;
            }
            if (stop)
                break;
            continue;
        }
        if (t != PYJSON_OBJECT) {
            if (t == PYJSON_ARRAY)
                continue;
            result = wk_crash("TypeError: argument of type is not iterable") ? -1 : -1;
            break;
        }
        struct pyjson_member m;
        if (pyjson_find(s, n, "kwargs", &m) == 1) {
            json_t *kw = json_loadb(m.val, m.val_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!json_is_object(kw)) {
                json_decref(kw);
                result = wk_crash("AttributeError: kwargs is not a mapping") ? -1 : -1;
                break;
            }
            update_paths(w, kw);
            json_decref(w->kwargs);
            w->kwargs = kw;
        } else if (pyjson_find(s, n, "zipfile", &m) == 1) {
            if (wk_blob(w, r, &m) < 0) {
                result = 0;
                break;
            }
        } else if (pyjson_find(s, n, "eof", &m) == 1) {
            break;
        }
    }
    buf_free(&line);
    if (result == 1 && !w->kwargs)
        result = wk_crash("TypeError: 'NoneType' object is not iterable") ? -1 : -1;
    return result;
}

/* ---- hooks ---- */

static void hook_status(void *ctx, const char *line, size_t n) { wk_line(ctx, line, n); }

static bool hook_event(void *ctx, const char *line, size_t n)
{
    wk_line(ctx, line, n);
    return false;
}

static void hook_artifacts(void *ctx, const char *dir)
{
    struct wk *w = ctx;
    char err[1024];
    w->keepalive_on = false; /* nothing may be written inside the blob */
    if (zipdir_stream(dir, w->o->outfd, err, sizeof err) < 0) {
        /* nothing of the zip was written: the stream says why instead */
        fprintf(stderr, "ansible-runner-c worker: artifacts: %s\n", err);
        char msg[1200];
        snprintf(msg, sizeof msg, "Failed to send the job artifacts: %s", err);
        wk_write_error(w, msg);
        w->artifacts_failed = true;
    }
    w->last_write = util_mono_ns();
}

static const char keepalive_line[] = "{\"event\": \"keepalive\", \"counter\": 0, \"uuid\": 0}\n";

/* When the next keepalive is due (monotonic ns): keepalive_seconds after the last write. */
static int64_t wk_keepalive_due(const struct wk *w)
{
    return w->last_write + (int64_t)(w->o->keepalive_seconds * 1e9);
}

static void hook_tick(void *ctx)
{
    struct wk *w = ctx;
    if (!w->keepalive_on)
        return;
    if (util_mono_ns() >= wk_keepalive_due(w))
        wk_write(w, keepalive_line, sizeof keepalive_line - 1);
}

static int hook_due_ms(void *ctx)
{
    struct wk *w = ctx;
    if (!w->keepalive_on)
        return -1;
    int64_t left = wk_keepalive_due(w) - util_mono_ns();
    return left <= 0 ? 1 : (int)(left / 1000000) + 1;
}

static int wk_no_engine(struct wk *w, const char *exe)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "Unable to find process isolation executable: %s", exe);
    wk_write_error(w, msg);
    wk_write(w, eof_line, sizeof eof_line - 1);
    return 1;
}

static int wk_run_job(struct wk *w)
{
    json_t *kw = w->kwargs;
    w->kwargs = NULL;
    if (json_is_true(json_object_get(kw, "process_isolation")) ||
        (json_object_get(kw, "process_isolation") && !json_is_false(json_object_get(kw, "process_isolation")) &&
         !json_is_null(json_object_get(kw, "process_isolation")))) {
        const json_t *e = json_object_get(kw, "process_isolation_executable");
        char *exe = e ? (json_is_string(e) ? strdup(json_string_value(e)) : strdup("None"))
                      : strdup("podman");
        bool ok = job_engine_available(exe);
        int rc = ok ? 0 : wk_no_engine(w, exe);
        free(exe);
        if (!ok) {
            json_decref(kw);
            return rc;
        }
    }
    json_object_set_new(kw, "quiet", json_true());
    json_object_set_new(kw, "suppress_ansible_output", json_true());
    json_object_del(kw, "private_data_dir");
    struct job j;
    char err[2048];
    if (job_prepare(&j, w->pdd, kw, err, sizeof err) < 0) {
        job_free(&j);
        return wk_crash(err);
    }
    j.hooks = (struct job_hooks){ hook_status, hook_event, hook_artifacts, hook_tick,
                                  hook_due_ms, w };
    w->keepalive_on = w->o->keepalive_seconds > 0;
    w->last_write = util_mono_ns();
    int rc = job_run(&j);
    w->keepalive_on = false;
    wk_write(w, eof_line, sizeof eof_line - 1);
    job_free(&j);
    if (w->artifacts_failed && (rc & 0xff) == 0)
        rc = 1;
    return rc & 0xff;
}

int worker_run(const struct worker_opts *o)
{
    struct wk w = { o, NULL, NULL, 0, false, false };
    bool temp = !o->pdd;
    if (o->pdd) {
        if (o->delete_pdd)
            zipdir_rmtree(o->pdd);
        w.pdd = strdup(o->pdd);
    } else {
        w.pdd = zipdir_mkdtemp("tmp");
    }
    if (!w.pdd)
        return 1;
    char *abs = util_abspath(w.pdd);
    if (abs) {
        free(w.pdd);
        w.pdd = abs;
    }
    util_mkdir_p(w.pdd, 0777, 0700);
    job_install_signals();
    struct rio r;
    rio_init(&r, o->infd);
    int st = wk_read_input(&w, &r);
    rio_free(&r);
    int rc = st < 0 ? 1 : st == 0 ? 0 : wk_run_job(&w);
    json_decref(w.kwargs);
    if (temp || o->delete_pdd)
        zipdir_rmtree(w.pdd);
    free(w.pdd);
    return rc;
}

/* ---- --worker-info ---- */

static char *read_uuid_file(void)
{
    const char *home = getenv("HOME");
    char path[4096];
    snprintf(path, sizeof path, "%s/.ansible_runner_uuid", home ? home : "/");
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        chmod(path, 0600);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        char *s = buf;
        while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\n' || s[l - 1] == '\t' || s[l - 1] == '\r'))
            s[--l] = 0;
        return strdup(s);
    }
    char u[37];
    event_uuid4(u);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    rio_write_all(fd, u, strlen(u));
    close(fd);
    return strdup(u);
}

int worker_info(int outfd)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned long long mem = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu", &mem) == 1)
            break;
    if (f)
        fclose(f);
    char *uuid = read_uuid_file();
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_printf(&b, "{cpu_count: %ld, errors: [", cpus);
    bool first = true;
    if (!mem) {
        buf_append_str(&b, "Could not find MemTotal in /proc/meminfo");
        first = false;
    }
    if (!uuid)
        buf_printf(&b, "%sCould not find or create ~/.ansible_runner_uuid", first ? "" : ", ");
    buf_append_str(&b, "], mem_in_bytes: ");
    if (mem)
        buf_printf(&b, "%llu", mem * 1024);
    else
        buf_append_str(&b, "null");
    buf_printf(&b, ", runner_version: %s, uuid: %s}\n\n", RUNNER_VERSION, uuid ? uuid : "null");
    rio_write_all(outfd, buf_head(&b), buf_size(&b));
    buf_free(&b);
    free(uuid);
    return 0;
}

/* ---- worker cleanup ---- */

static int path_is_protected(const char *dir)
{
    static const char *const bad[] = { "/", "/bin", "/dev", "/home", "/lib", "/mnt", "/proc",
                                       "/run", "/sys", "/usr", "/boot", "/etc", "/opt", "/sbin",
                                       "/var", NULL };
    char *real = realpath(dir, NULL);
    const char *tmp = getenv("TMPDIR");
    int hit = 0;
    for (size_t i = 0; bad[i] && !hit; i++) {
        char *rb = realpath(bad[i], NULL);
        hit = !strcmp(dir, bad[i]) || (real && !strcmp(real, bad[i])) || (real && rb && !strcmp(real, rb));
        free(rb);
    }
    if (!hit) {
        char *rt = realpath(tmp && *tmp ? tmp : "/tmp", NULL);
        hit = real && rt && !strcmp(real, rt);
        free(rt);
    }
    free(real);
    return hit;
}

static int pid_dead(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pid", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    int ok = fscanf(f, "%ld", &pid) == 1;
    fclose(f);
    if (!ok)
        return 0;
    return kill((pid_t)pid, 0) != 0;
}

static void remove_registry_dirs(const char *dir)
{
    char art[4096];
    snprintf(art, sizeof art, "%s/artifacts", dir);
    glob_t g;
    char pat[4200];
    snprintf(pat, sizeof pat, "%s/*", art);
    if (glob(pat, 0, NULL, &g) != 0)
        return;
    const char *tmp = getenv("TMPDIR");
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *ident = strrchr(g.gl_pathv[i], '/') + 1;
        char rp[4200];
        snprintf(rp, sizeof rp, "%s/ansible_runner_registry_%s_*", tmp && *tmp ? tmp : "/tmp", ident);
        glob_t g2;
        if (glob(rp, 0, NULL, &g2) == 0) {
            for (size_t k = 0; k < g2.gl_pathc; k++)
                zipdir_rmtree(g2.gl_pathv[k]);
            globfree(&g2);
        }
    }
    globfree(&g);
}

int worker_cleanup(const struct cleanup_opts *o, int outfd)
{
    int dirs = 0;
    struct buf out;
    buf_init(&out, 1 << 20);
    if (o->file_pattern) {
        glob_t g;
        if (glob(o->file_pattern, 0, NULL, &g) == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++) {
                if (path_is_protected(g.gl_pathv[i])) {
                    fprintf(stderr, "Provided pattern could result in deleting system folders:\n%s\n"
                                    "Refusing to continue for user system safety.\n", g.gl_pathv[i]);
                    globfree(&g);
                    buf_free(&out);
                    return 1;
                }
            }
            time_t now = time(NULL);
            for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *d = g.gl_pathv[i];
                bool skip = false;
                for (size_t k = 0; k < o->n_exclude && !skip; k++)
                    skip = strstr(d, o->exclude_strings[k]) != NULL;
                struct stat st;
                if (!skip && o->grace_period && stat(d, &st) == 0 &&
                    st.st_mtime > now - (time_t)o->grace_period * 60)
                    skip = true;
                if (!skip && pid_dead(d)) {
                    buf_printf(&out, "Excluding running project %s from cleanup\n", d);
                    skip = true;
                }
                if (skip)
                    continue;
                remove_registry_dirs(d);
                struct stat lst;
                if (lstat(d, &lst) == 0) {
                    zipdir_rmtree(d);
                    dirs++;
                }
            }
            globfree(&g);
        }
        if (dirs)
            buf_printf(&out, "Removed %d private data dir(s) in pattern %s\n", dirs, o->file_pattern);
    }
    int images = 0;
    for (size_t i = 0; i < o->n_images; i++) {
        const char *rmi[] = { o->engine, "rmi", "-f", o->remove_images[i], NULL };
        const char *untag[] = { o->engine, "untag", o->remove_images[i], NULL };
        if (util_run_quiet(strcmp(o->engine, "docker") == 0 ? rmi : untag) == 0)
            images++;
    }
    if (images)
        buf_printf(&out, "Removed %d image(s)\n", images);
    bool pruned = false;
    if (o->image_prune) {
        const char *prune[] = { o->engine, "image", "prune", "-f", NULL };
        pruned = util_run_quiet(prune) == 0;
        if (pruned)
            buf_append_str(&out, "Pruned images\n");
    }
    buf_append_str(&out, dirs || images || pruned ? "(changed: True)\n" : "(changed: False)\n");
    rio_write_all(outfd, buf_head(&out), buf_size(&out));
    buf_free(&out);
    return 0;
}
