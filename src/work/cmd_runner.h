/* cmd_runner.h - the detached command runner of command work units (see
 * cmd_runner.c; not ansible-runner, which is src/runner): starting it, and
 * its main for `receptor --command-runner`. */
#ifndef WORK_CMD_RUNNER_H
#define WORK_CMD_RUNNER_H

#include <sys/types.h>

#include <stdint.h>

/* --command-runner mode: runs command with the unit's stdin/stdout, keeps
 * the status file current, returns the process exit code. */
int cmd_runner_main(const char *command, const char *params, const char *unitdir);

/* Forks a runner for the unit in unitdir; returns its pid, or -1. */
pid_t cmd_runner_launch(const char *command, const char *params, const char *unitdir);

/* The spawner: a small process forked from the daemon early, while its
 * memory is small, that forks the runners.  A fork of the grown daemon
 * costs the daemon the page-table copy and then a copy-on-write fault for
 * every page it writes afterwards, on the path of every submission.
 * Requests are one SOCK_SEQPACKET message each: command, params and unit
 * directory, each ending in NUL.  The spawner answers every request, in
 * order, with CMD_RUNNER_SPAWN_STARTED (pid, or pid 0 and value = errno) and
 * reports each runner's end with CMD_RUNNER_SPAWN_EXITED (value = wait status). */
enum { CMD_RUNNER_SPAWN_STARTED = 1, CMD_RUNNER_SPAWN_EXITED = 2 };
#define CMD_RUNNER_SPAWN_REQ_MAX 20480
struct cmd_runner_spawn_msg {
    int32_t kind, pid, value;
};
/* Forks the spawner; returns the daemon's end of its socket, or -1. */
int cmd_runner_spawner_start(pid_t *pid);
/* Sends a request without blocking; -1 with errno when it cannot. */
int cmd_runner_spawner_request(int fd, const char *command, const char *params, const char *unitdir);

#endif
