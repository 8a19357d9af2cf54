/* cmd_runner.c - the command runner (not ansible-runner, which is src/runner): a small process, detached from the daemon
 * (its own session), that runs one unit's command with stdin from the
 * unit's stdin file and stdout+stderr into its stdout file, and keeps the
 * status file current (spec 10.1): Running "Running: PID n" with StdoutSize
 * every 250 ms, then Succeeded "exit status 0" or Failed "exit status n" /
 * "signal: name".  SIGINT or SIGTERM: the command gets SIGINT (as upstream),
 * and 10 s later, or as soon as it has exited, its whole process group gets
 * SIGKILL (upstream kills the command alone and leaves its children
 * running); the unit is written Failed "Killed".
 *
 * The daemon starts runners with fork() (cmd_runner_launch), not by executing
 * itself again: that saves a dynamic link of the whole daemon per unit.
 * The child closes every inherited descriptor first, so it uses no libuv
 * and no state of the daemon; it waits with a signalfd and poll().
 * `receptor --command-runner ...` runs the same code, as upstream's
 * command line does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <ctype.h>
#include <dirent.h>

#include "core/log.h"
#include "core/shlex.h"
#include "work/cmd_runner.h"
#include "work/workceptor.h"

#define TICK_MS 250
#define KILL_AFTER_MS 10000

extern char **environ;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

struct runner_set {
    int state;
    const char *detail;
    int64_t size;
};

static void apply_runner_set(struct unit_status *st, void *arg)
{
    const struct runner_set *a = arg;
    if (a->state >= 0)
        st->state = a->state;
    if (a->detail) {
        free(st->detail);
        st->detail = strdup(a->detail);
    }
    st->stdout_size = a->size;
}

/* One read-modify-write under one lock: the daemon adds ExtraData (Pid)
 * while the runner starts, and neither may lose the other's change. */
static void set_status(const char *dir, const char *stdout_path, int state, const char *detail)
{
    struct runner_set a = { state, detail, file_size(stdout_path) };
    char err[256];
    if (unit_status_update(dir, apply_runner_set, &a, NULL, err, sizeof err) == 0)
        return;
    /* no readable status file: write a fresh one */
    struct unit_status st;
    unit_status_init(&st, "");
    apply_runner_set(&st, &a);
    if (unit_status_save(dir, &st, err, sizeof err) < 0)
        log_error("command runner: %s", err);
    unit_status_free(&st);
}

/* Go's wording for a command killed by a signal: "signal: killed". */
static void signal_text(int sig, char *out, size_t len)
{
    const char *s = strsignal(sig);
    snprintf(out, len, "signal: %s", s ? s : "unknown");
    for (char *p = out + 8; *p; p++)
        *p = (char)tolower((unsigned char)*p);
}

static char **build_argv(const char *command, const char *params, const char **err)
{
    char **words = shlex_split(params ? params : "", err);
    if (!words)
        return NULL;
    size_t n = 0;
    while (words[n])
        n++;
    char **argv = calloc(n + 2, sizeof *argv);
    if (!argv) {
        shlex_free(words);
        *err = "out of memory";
        return NULL;
    }
    argv[0] = strdup(command);
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = words[i];
    free(words);
    return argv;
}

static void start_error(const char *dir, const char *out, const char *command, int rc)
{
    char detail[512];
    if (rc == ENOENT && !strchr(command, '/'))
        snprintf(detail, sizeof detail, "exec: \"%s\": executable file not found in $PATH", command);
    else
        snprintf(detail, sizeof detail, "fork/exec %s: %s", command, strerror(rc));
    set_status(dir, out, UNIT_FAILED, detail);
}

/* Starts the command with the unit's files as stdio and default signals. */
static int spawn_command(char **argv, int in, int out, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* a process group of its own: a cancel that has to kill ends the
     * command's children too, not only the command */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* Waits for the command, ticking the status, handling cancel signals. */
static void supervise(const char *dir, const char *out, pid_t child, int sfd)
{
    int killing = 0;
    int64_t kill_at = 0, next_tick = mono_ms();
    char detail[128];
    for (;;) {
        int64_t now = mono_ms();
        if (now >= next_tick) {
            snprintf(detail, sizeof detail, "Running: PID %d", (int)child);
            set_status(dir, out, UNIT_RUNNING, detail);
            next_tick = now + TICK_MS;
        }
        if (killing && now >= kill_at) {
            kill(-child, SIGKILL); /* the command and what it started */
            kill_at = now + 60000;
        }
        int status;
        pid_t w = waitpid(child, &status, WNOHANG);
        if (w == child) {
            if (killing)
                kill(-child, SIGKILL); /* cancelled: nothing it started lives on */
            if (killing)
                set_status(dir, out, UNIT_FAILED, "Killed");
            else if (WIFSIGNALED(status)) {
                signal_text(WTERMSIG(status), detail, sizeof detail);
                set_status(dir, out, UNIT_FAILED, detail);
            } else {
                snprintf(detail, sizeof detail, "exit status %d", WEXITSTATUS(status));
                set_status(dir, out, WEXITSTATUS(status) == 0 ? UNIT_SUCCEEDED : UNIT_FAILED, detail);
            }
            return;
        }
        int64_t wait_ms = next_tick - mono_ms();
        if (killing && kill_at - mono_ms() < wait_ms)
            wait_ms = kill_at - mono_ms();
        struct pollfd pfd = { sfd, POLLIN, 0 };
        if (poll(&pfd, 1, wait_ms < 0 ? 0 : (int)wait_ms) > 0) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if ((si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) && !killing) {
                    killing = 1;
                    kill(child, SIGINT);
                    kill_at = mono_ms() + KILL_AFTER_MS;
                }
            }
        }
    }
}

int cmd_runner_main(const char *command, const char *params, const char *unitdir)
{
    char out_path[4200], in_path[4200];
    snprintf(out_path, sizeof out_path, "%s/stdout", unitdir);
    snprintf(in_path, sizeof in_path, "%s/stdin", unitdir);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int in = open(in_path, O_RDONLY | O_CLOEXEC);
    int out = open(out_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (in < 0 || out < 0 || sfd < 0) {
        char detail[512];
        snprintf(detail, sizeof detail, "Error: %s", strerror(errno));
        set_status(unitdir, out_path, UNIT_FAILED, detail);
        return 1;
    }
    const char *err = NULL;
    char **argv = build_argv(command, params, &err);
    if (!argv) {
        char detail[256];
        snprintf(detail, sizeof detail, "Error: cannot parse params: %s", err);
        set_status(unitdir, out_path, UNIT_FAILED, detail);
        return 1;
    }
    set_status(unitdir, out_path, UNIT_PENDING, "Not started yet");
    pid_t child;
    int rc = spawn_command(argv, in, out, &child);
    close(in);
    close(out);
    if (rc != 0)
        start_error(unitdir, out_path, command, rc);
    else
        supervise(unitdir, out_path, child, sfd);
    close(sfd);
    shlex_free(argv);
    return 0;
}

/* Closes every descriptor from `first` on, 0-2 excepted (the child must not
 * hold the daemon's sockets, listeners or lock files). */
static void close_inherited(int first)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        if (fd > 2)
            close(fd);
    }
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0u, 0u) == 0)
        return;
#endif
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        for (int i = first; i < 65536; i++)
            close(i);
        return;
    }
    int dfd = dirfd(d);
    int fds[1024];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 1024) {
        int v = atoi(de->d_name);
        if (de->d_name[0] != '.' && v >= first && v != dfd)
            fds[n++] = v;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void runner_child(const char *command, const char *params, const char *unitdir)
{
    close_inherited(3);
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    _exit(cmd_runner_main(command, params, unitdir));
}

pid_t cmd_runner_launch(const char *command, const char *params, const char *unitdir)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid; /* the daemon, or -1 */
    runner_child(command, params, unitdir);
    return -1; /* not reached */
}

/* ---- the spawner ------------------------------------------------------------ */

static void spawner_send(int sock, int kind, pid_t pid, int value)
{
    struct cmd_runner_spawn_msg m = { kind, (int32_t)pid, value };
    while (send(sock, &m, sizeof m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* The spawner process: forks a runner per request and reports the exits of
 * its runners.  Every signal is blocked (it is in a session of its own and
 * leaves when the daemon's end of the socket closes); SIGCHLD is read from
 * a signalfd. */
static void spawner_main(int sock)
{
    setsid();
    sigset_t all, chld;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    char *buf = malloc(CMD_RUNNER_SPAWN_REQ_MAX + 1);
    if (sfd < 0 || !buf)
        _exit(1);
    for (;;) {
        struct pollfd p[2] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                spawner_send(sock, CMD_RUNNER_SPAWN_EXITED, pid, status);
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(sock, buf, CMD_RUNNER_SPAWN_REQ_MAX, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the daemon is gone */
        buf[n] = 0;
        /* command \0 params \0 unitdir \0 */
        const char *cmd = buf, *params = NULL, *dir = NULL;
        size_t l1 = strnlen(cmd, (size_t)n);
        if (l1 + 1 < (size_t)n) {
            params = cmd + l1 + 1;
            size_t l2 = strnlen(params, (size_t)n - l1 - 1);
            if (l1 + l2 + 2 < (size_t)n)
                dir = params + l2 + 1;
        }
        if (!dir) {
            spawner_send(sock, CMD_RUNNER_SPAWN_STARTED, 0, EINVAL);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0)
            runner_child(cmd, params, dir);
        spawner_send(sock, CMD_RUNNER_SPAWN_STARTED, pid < 0 ? 0 : pid, pid < 0 ? errno : 0);
    }
    _exit(0);
}

int cmd_runner_spawner_start(pid_t *pid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t p = fork();
    if (p < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (p == 0) {
        if (sv[1] != 3 && dup2(sv[1], 3) < 0)
            _exit(1);
        close_inherited(4);
        spawner_main(3);
    }
    close(sv[1]);
    *pid = p;
    return sv[0];
}

int cmd_runner_spawner_request(int fd, const char *command, const char *params, const char *unitdir)
{
    size_t a = strlen(command) + 1, b = strlen(params) + 1, c = strlen(unitdir) + 1;
    if (a + b + c > CMD_RUNNER_SPAWN_REQ_MAX) {
        errno = E2BIG;
        return -1;
    }
    char *buf = malloc(a + b + c);
    if (!buf)
        return -1;
    memcpy(buf, command, a);
    memcpy(buf + a, params, b);
    memcpy(buf + a + b, unitdir, c);
    ssize_t n;
    while ((n = send(fd, buf, a + b + c, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    free(buf);
    return n == (ssize_t)(a + b + c) ? 0 : -1;
}
