/* job.c - see job.h: running a prepared job.  job_run follows ansible-
 * runner 2.3.1's Runner.run() in pexpect mode, with a pty from forkpty() and
 * a poll() loop; the configuration (job_prepare) is job_config.c.
 *
 * Artifacts are written relative to artifact_fd / the job_events fd, never
 * through a symlink (the private data dir may come from a hostile zip), and
 * every write is checked: the first failure is printed naming the file and
 * turns the final status into "error" with that explanation; status and rc
 * are written to a temporary name, fsynced and renamed into place. */
#include "runner/job.h"

#include <dirent.h>
#include <errno.h>
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

#include "core/pyjson.h"
#include "core/utf8.h"
#include "core/util.h"
#include "runner/container.h"
#include "runner/evfilter.h"
#include "runner/rio.h"
#include "runner/zipdir.h"

static volatile sig_atomic_t cancel_requested;
static int signal_pipe[2] = { -1, -1 };

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
    buf_init(&b, JOB_LINE_LIMIT);
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
    buf_init(&b, JOB_LINE_LIMIT);
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
        char *path = util_asprintf("%s-partial.json", us);
        size_t len = 0;
        int fd = rs->events_fd < 0 ? -1 : openat(rs->events_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
        if (!f && fd >= 0)
            close(fd);
        if (f) {
            struct buf t;
            buf_init(&t, JOB_LINE_LIMIT);
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
        char *name = util_asprintf("%s-%s.json", cv, us);
        if (rs->events_fd < 0 ||
            rio_write_file_at(rs->events_fd, name, line, n, 0600, RIO_ATOMIC) < 0) {
            char *rel = util_asprintf("job_events/%s", name);
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
    buf_init(&line, JOB_LINE_LIMIT);
    if (event_dump(&e, &line) == 0) {
        evfilter_json_line(&rs->filter, (const char *)buf_head(&line), buf_size(&line));
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

#define PEXPECT_DELAY_BEFORE_SEND_NS 50000000L

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
            buf_reset(&rs->pwwin);
            if (!j->pw[i].reply)
                return; /* null: matched, nothing sent (2.3.1's None) */
            /* pexpect waits delaybeforesend (50 ms) before every send: a
             * program that shows its prompt and then flushes the
             * terminal's input before reading (ansible's pause does)
             * would lose an answer typed at once */
            struct timespec delay = { 0, PEXPECT_DELAY_BEFORE_SEND_NS };
            while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
                ;
            rio_write_all(master, j->pw[i].reply, strlen(j->pw[i].reply));
            rio_write_all(master, "\n", 1);
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
    const char *path = job_json_str(env, "PATH");
    if (!path)
        path = "/bin:/usr/bin";
    char *copy = strdup(path), *save = NULL;
    char *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *p = util_asprintf("%s/%s", *d ? d : ".", cmd);
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
        out[i++] = util_asprintf("%s=%s", k, json_string_value(v));
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
            char *p = util_asprintf("%s/%s", root, v[i].name);
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
    evfilter_set_json(&rs.filter, j->json_mode);
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
        char *msg = util_asprintf("The command was not found or was not executable: %s.\n", j->argv[0]);
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
