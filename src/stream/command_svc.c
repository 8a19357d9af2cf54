/* command_svc.c - see command_svc.h.
 *
 * As upstream, every accepted mesh stream gets the command started on a
 * fresh pseudo-terminal (its own session, the terminal as its controlling
 * tty and as stdin, stdout and stderr); a bridge (core/bridge.c) copies
 * between the stream and the terminal's master side with back-pressure.
 * The terminal's usual line discipline applies, as upstream: input is
 * echoed and output lines end in CR LF.
 *
 * The master side is a libuv pipe wrapped in a small bstream filter:
 *  - the peer's half-close (stdin EOF) is passed to the command as the
 *    terminal's EOF character (twice after a partial line), since a
 *    terminal has no half-close of its own;
 *  - EIO on read means every holder of the terminal closed it (the command
 *    ended): what is left is read, the filter closes, and the bridge closes
 *    the mesh stream after every byte of output is delivered.
 * The peer closing the stream closes the master, which hangs the terminal
 * up (SIGHUP to the command); a command that survives that is killed
 * KILL_AFTER_MS later.  The child is watched through a pidfd and reaped by
 * its pid only, so work units' runners are not disturbed.  Concurrent
 * sessions per service are capped (SESSIONS_MAX). */
#include "stream/command_svc.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core/bridge.h"
#include "core/log.h"
#include "core/shlex.h"
#include "core/util.h"
#include "net/uvstream.h"

#define SESSIONS_MAX 128
#define KILL_AFTER_MS 10000
#define DRAIN_MAX (1u << 20)

struct command_svc {
    struct node *node;
    char *service;
    char **argv;
    struct stream_listener *listener;
    struct cmd_session *sessions;
    int nsessions;
};

struct cmd_session {
    struct command_svc *cs;      /* NULL once the service stopped */
    struct bstream pty;          /* the filter the bridge sees */
    struct bstream *master;      /* uvstream on the master fd */
    pid_t pid;
    int reaped;
    int master_closed;
    int bridge_done;
    int handles;                 /* open libuv handles below */
    uv_poll_t exitpoll;          /* pidfd */
    int pidfd;
    uv_timer_t killtimer;
    cc_t veof;
    uint8_t last;                /* last byte written to the terminal */
    int written;
    uint64_t out_bytes;          /* read from the terminal */
    struct cmd_session *next;
};

/* ---- session lifetime -------------------------------------------------------- */

static void session_unlink(struct cmd_session *s)
{
    if (!s->cs)
        return;
    for (struct cmd_session **pp = &s->cs->sessions; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            s->cs->nsessions--;
            break;
        }
    s->cs = NULL;
}

static void session_maybe_free(struct cmd_session *s)
{
    if (!s->reaped || !s->master_closed || !s->bridge_done || s->handles > 0)
        return;
    session_unlink(s);
    free(s);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct cmd_session *s = h->data;
    s->handles--;
    session_maybe_free(s);
}

static void session_reap(struct cmd_session *s, int options)
{
    int status;
    if (s->reaped || waitpid(s->pid, &status, options) != s->pid)
        return;
    s->reaped = 1;
    const char *svc = s->cs ? s->cs->service : "?";
    if (WIFEXITED(status))
        log_info("command service %s: command (pid %d) exited with status %d", svc, (int)s->pid,
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        log_info("command service %s: command (pid %d) killed by signal %d", svc, (int)s->pid,
                 WTERMSIG(status));
    uv_close((uv_handle_t *)&s->exitpoll, on_handle_closed);
    close(s->pidfd);
    uv_close((uv_handle_t *)&s->killtimer, on_handle_closed);
}

static void on_child_exit(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    session_reap(p->data, WNOHANG);
}

static void on_kill_timer(uv_timer_t *t)
{
    struct cmd_session *s = t->data;
    if (!s->reaped)
        kill(s->pid, SIGKILL);
}

static void on_bridge_done(void *arg)
{
    struct cmd_session *s = arg;
    s->bridge_done = 1;
    if (!s->reaped)
        uv_timer_start(&s->killtimer, on_kill_timer, KILL_AFTER_MS, 0);
    session_maybe_free(s);
}

/* ---- the terminal filter ----------------------------------------------------- */

static struct cmd_session *session_of(struct bstream *b)
{
    return (struct cmd_session *)((char *)b - offsetof(struct cmd_session, pty));
}

static int pty_write(struct bstream *b, const uint8_t *data, size_t len)
{
    struct cmd_session *s = session_of(b);
    if (!s->master)
        return -1;
    if (len == 0)
        return 0;
    s->last = data[len - 1];
    s->written = 1;
    return bstream_write(s->master, data, len);
}

static size_t pty_queued(struct bstream *b)
{
    struct cmd_session *s = session_of(b);
    return s->master ? bstream_queued(s->master) : 0;
}

static void pty_read_start(struct bstream *b)
{
    struct cmd_session *s = session_of(b);
    if (s->master)
        bstream_read_start(s->master);
}

static void pty_read_stop(struct bstream *b)
{
    struct cmd_session *s = session_of(b);
    if (s->master)
        bstream_read_stop(s->master);
}

/* stdin ended: the terminal's EOF character ends the command's input (a
 * partial line needs one to be delivered and another for EOF). */
static void pty_shutdown(struct bstream *b)
{
    struct cmd_session *s = session_of(b);
    if (!s->master)
        return;
    uint8_t eof[2] = { s->veof, s->veof };
    bstream_write(s->master, eof, s->written && s->last != '\n' ? 2 : 1);
}

static void pty_close(struct bstream *b)
{
    struct cmd_session *s = session_of(b);
    if (s->master) {
        struct bstream *m = s->master;
        bstream_close(m);
    }
}

static const struct bstream_ops pty_ops = {
    pty_write, pty_queued, pty_read_start, pty_read_stop, pty_shutdown, pty_close,
};

static void master_on_read(struct bstream *m, const uint8_t *data, size_t len)
{
    struct cmd_session *s = m->data;
    s->out_bytes += len;
    if (s->pty.on_read)
        s->pty.on_read(&s->pty, data, len);
}

/* libuv reports EOF on a hung-up descriptor after any short read, but a
 * terminal hands out at most 4095 bytes per read: what the command wrote
 * before it ended may still be there.  Read it until EIO (bounded by the
 * kernel's terminal buffers, DRAIN_MAX as a backstop). */
static void master_drain(struct cmd_session *s, struct bstream *m)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)uvstream_handle(m), &fd) != 0)
        return;
    uint8_t buf[16384];
    for (size_t total = 0; total < DRAIN_MAX && s->master && s->pty.on_read;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        total += (size_t)n;
        s->out_bytes += (uint64_t)n;
        s->pty.on_read(&s->pty, buf, (size_t)n);
    }
}

/* EOF or EIO from the master: the command's side of the terminal is gone. */
static void master_on_eof(struct bstream *m)
{
    master_drain(m->data, m);
    bstream_close(m);
}

static void master_on_error(struct bstream *m, const char *msg)
{
    struct cmd_session *s = m->data;
    if (strcmp(msg, uv_strerror(UV_EIO)) != 0)
        log_debug("command service %s: terminal: %s", s->cs ? s->cs->service : "?", msg);
}

static void master_on_drain(struct bstream *m)
{
    struct cmd_session *s = m->data;
    if (s->pty.on_drain)
        s->pty.on_drain(&s->pty);
}

static void master_on_close(struct bstream *m)
{
    struct cmd_session *s = m->data;
    log_debug("command service %s: terminal of pid %d closed after %llu bytes of output",
              s->cs ? s->cs->service : "?", (int)s->pid, (unsigned long long)s->out_bytes);
    s->master = NULL;
    if (s->pty.on_close) /* may end the bridge: the session is freed below only */
        s->pty.on_close(&s->pty);
    s->master_closed = 1;
    session_maybe_free(s);
}

/* ---- starting a command ------------------------------------------------------- */

/* In the child: only async-signal-safe calls. */
static void child_exec(char **argv, int slave)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    setsid();
    ioctl(slave, TIOCSCTTY, 0);
    for (int fd = 0; fd < 3; fd++)
        dup2(slave, fd);
    syscall(SYS_close_range, 3u, ~0u, 0u);
    execvp(argv[0], argv);
    static const char msg[] = "command-service: cannot run the command: ";
    const char *why = strerrordesc_np(errno); /* a static table: no locale, no malloc */
    if (!why)
        why = "unknown error";
    (void)!write(2, msg, sizeof msg - 1);
    (void)!write(2, why, strlen(why));
    (void)!write(2, "\n", 1);
    _exit(127);
}

/* A fresh terminal pair: master (non-blocking, close-on-exec) and slave. */
static int open_terminal(int *master, int *slave, cc_t *veof)
{
    char name[128];
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return -1;
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof name) != 0 ||
        (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        int e = errno;
        close(*master);
        errno = e;
        return -1;
    }
    struct termios t;
    *veof = tcgetattr(*slave, &t) == 0 ? t.c_cc[VEOF] : 4;
    return 0;
}

static struct cmd_session *session_spawn(struct command_svc *cs, char *err, size_t errlen)
{
    struct cmd_session *s = calloc(1, sizeof *s);
    int master = -1, slave = -1;
    if (!s || open_terminal(&master, &slave, &s->veof) < 0) {
        snprintf(err, errlen, "cannot open a terminal: %s", strerror(errno));
        free(s);
        return NULL;
    }
    s->pid = fork();
    if (s->pid == 0)
        child_exec(cs->argv, slave);
    int e = errno;
    close(slave);
    s->pidfd = s->pid > 0 ? (int)syscall(SYS_pidfd_open, s->pid, 0) : -1;
    if (s->pid < 0 || s->pidfd < 0) {
        snprintf(err, errlen, "cannot start the command: %s", strerror(s->pid < 0 ? e : errno));
        if (s->pid > 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        close(master);
        free(s);
        return NULL;
    }
    uv_loop_t *loop = node_loop(cs->node);
    s->master = uvstream_new(loop, 1);
    if (!s->master || uv_pipe_open((uv_pipe_t *)uvstream_handle(s->master), master) != 0) {
        snprintf(err, errlen, "cannot watch the terminal");
        if (s->master)
            bstream_close(s->master);
        else
            close(master);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        close(s->pidfd);
        free(s);
        return NULL;
    }
    return s;
}

static void session_start_watchers(struct command_svc *cs, struct cmd_session *s)
{
    uv_loop_t *loop = node_loop(cs->node);
    uv_poll_init(loop, &s->exitpoll, s->pidfd);
    s->exitpoll.data = s;
    uv_poll_start(&s->exitpoll, UV_READABLE, on_child_exit);
    uv_timer_init(loop, &s->killtimer);
    s->killtimer.data = s;
    s->handles = 2;
    struct bstream *m = s->master;
    m->data = s;
    m->on_read = master_on_read;
    m->on_eof = master_on_eof;
    m->on_error = master_on_error;
    m->on_drain = master_on_drain;
    m->on_close = master_on_close;
    uvstream_start(m);
    bstream_read_stop(m);
    s->pty.ops = &pty_ops;
    s->pty.data = s;
    snprintf(s->pty.desc, sizeof s->pty.desc, "command %d", (int)s->pid);
}

static void on_accept(void *arg, struct bstream *bs, const char *remote_node)
{
    struct command_svc *cs = arg;
    char err[256];
    if (cs->nsessions >= SESSIONS_MAX) {
        log_warning("command service %s: refusing a connection from %s: %d commands already running",
                    cs->service, remote_node, SESSIONS_MAX);
        bstream_close(bs);
        return;
    }
    struct cmd_session *s = session_spawn(cs, err, sizeof err);
    if (!s) {
        log_error("command service %s: connection from %s: %s", cs->service, remote_node, err);
        bstream_close(bs);
        return;
    }
    s->cs = cs;
    s->next = cs->sessions;
    cs->sessions = s;
    cs->nsessions++;
    log_info("command service %s: running %s (pid %d) for %s", cs->service, cs->argv[0], (int)s->pid,
             remote_node);
    session_start_watchers(cs, s);
    bridge_start(bs, &s->pty, NULL, 0, on_bridge_done, s);
}

/* ---- the service --------------------------------------------------------------- */

struct command_svc *command_svc_start(struct node *n, const char *service, const char *command,
                                      const struct stream_tls *tls, char *err, size_t errlen)
{
    const char *serr = NULL;
    char **argv = shlex_split(command ? command : "", &serr);
    if (!argv || !argv[0]) {
        snprintf(err, errlen, "command-service %s: %s command", service,
                 argv ? "empty" : serr ? serr : "malformed");
        shlex_free(argv);
        return NULL;
    }
    struct command_svc *cs = calloc(1, sizeof *cs);
    if (!cs || !(cs->service = util_xstrdup(service))) {
        free(cs);
        shlex_free(argv);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    cs->node = n;
    cs->argv = argv;
    json_t *tags = json_pack("{s:s}", "type", "Command Service");
    cs->listener = stream_listen(n, service, 1, tags, tls, on_accept, cs, err, errlen);
    json_decref(tags);
    if (!cs->listener) {
        shlex_free(argv);
        free(cs->service);
        free(cs);
        return NULL;
    }
    return cs;
}

void command_svc_stop(struct command_svc *cs)
{
    stream_listener_close(cs->listener);
    while (cs->sessions) {
        struct cmd_session *s = cs->sessions;
        if (!s->reaped) {
            kill(s->pid, SIGKILL);
            session_reap(s, 0);
        }
        session_unlink(s);
        bstream_close(&s->pty);
    }
    shlex_free(cs->argv);
    free(cs->service);
    free(cs);
}
