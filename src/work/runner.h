/* runner.h - starting a detached command runner (see runner.c). */
#ifndef WORK_RUNNER_H
#define WORK_RUNNER_H

#include <sys/types.h>

#include <stdint.h>

/* Forks a runner for the unit in unitdir; returns its pid, or -1. */
pid_t runner_launch(const char *command, const char *params, const char *unitdir);

/* The spawner: a small process forked from the daemon early, while its
 * memory is small, that forks the runners.  A fork of the grown daemon
 * costs the daemon the page-table copy and then a copy-on-write fault for
 * every page it writes afterwards, on the path of every submission.
 * Requests are one SOCK_SEQPACKET message each: command, params and unit
 * directory, each ending in NUL.  The spawner answers every request, in
 * order, with RUNNER_SPAWN_STARTED (pid, or pid 0 and value = errno) and
 * reports each runner's end with RUNNER_SPAWN_EXITED (value = wait status). */
enum { RUNNER_SPAWN_STARTED = 1, RUNNER_SPAWN_EXITED = 2 };
#define RUNNER_SPAWN_REQ_MAX 20480
struct runner_spawn_msg {
    int32_t kind, pid, value;
};
/* Forks the spawner; returns the daemon's end of its socket, or -1. */
int runner_spawner_start(pid_t *pid);
/* Sends a request without blocking; -1 with errno when it cannot. */
int runner_spawner_request(int fd, const char *command, const char *params, const char *unitdir);

#endif
