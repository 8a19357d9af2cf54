/* runner.h - starting a detached command runner (see runner.c). */
#ifndef WORK_RUNNER_H
#define WORK_RUNNER_H

#include <sys/types.h>

/* Forks a runner for the unit in unitdir; returns its pid, or -1. */
pid_t runner_launch(const char *command, const char *params, const char *unitdir);

#endif
