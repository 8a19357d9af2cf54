/* job.h - one ansible-runner job: configuration from kwargs and env/ files,
 * the command line, the environment, running it in a pty, turning its
 * output into events, and writing the artifacts (spec 1 and 6).
 *
 * The same code serves `worker` (which streams status lines, events and the
 * artifact zip) and `run` (which writes job_events/ files and prints the
 * output); the difference is only in the hooks.  job_prepare() does
 * everything that can fail with a configuration error before anything is
 * emitted; job_run() then owns the child until it has exited.  The run loop
 * is a single-threaded poll() over the pty, a signal self-pipe and a
 * timer, so status lines, events and keep-alives are written whole by one
 * thread and can never interleave.
 *
 * job_config.c holds the configuration (job_prepare, job_free), job.c the
 * run (job_run). */
#ifndef RUNNER_JOB_H
#define RUNNER_JOB_H

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "runner/event.h"

struct job;

struct job_hooks {
    /* a status line, PyJSON without newline */
    void (*status)(void *ctx, const char *line, size_t n);
    /* an event line, PyJSON without newline; return true to also write
     * job_events/<counter>-<uuid>.json (the `run` behaviour) */
    bool (*event)(void *ctx, const char *line, size_t n);
    /* after status/rc files are written */
    void (*artifacts)(void *ctx, const char *artifact_dir);
    /* called whenever the loop wakes up, for keep-alives */
    void (*tick)(void *ctx);
    /* milliseconds until tick wants to run again (-1: never) */
    int (*tick_due_ms)(void *ctx);
    void *ctx;
};

struct job_password {
    regex_t re;
    char *reply;
};

struct job {
    /* configuration */
    char *pdd;
    json_t *kw;          /* job kwargs (owned) */
    json_t *settings;    /* merged settings (owned) */
    char *ident;
    char *artifact_dir;
    int artifact_fd;     /* artifact_dir, opened without following links */
    char *project_dir;
    char *cwd;           /* the child's cwd (container: the engine's) */
    char *status_cwd;    /* cwd reported in the starting status */
    char **argv;
    size_t argc;
    json_t *env;         /* ordered string values */
    json_t *spawn_env;   /* environment actually given to the child */
    struct job_password *pw;
    size_t npw;
    double job_timeout, idle_timeout;
    bool suppress_output_file;
    bool suppress_ansible_output; /* env/settings, else the kwargs' quiet */
    bool json_mode;      /* -j: whole events, not their text, on screen and in stdout */
    bool print_output;   /* echo event stdout to our stdout (run, not quiet) */
    bool containerized;
    char *engine;
    char *container_name;
    char *registry_dir;
    char *ssh_key;
    int rotate_artifacts;
    /* outcome */
    int rc;
    const char *status;
    bool canceled, timed_out;
    bool write_failed;   /* an artifact could not be written (full disk...) */
    char write_err[1024]; /* the first such failure, naming the file */
    struct job_hooks hooks;
};

/* Sets up the job from kwargs (taken over) in the private data dir pdd.
 * On a configuration error returns -1 with the Python-style message in err
 * (e.g. "ConfigurationError: Only one of playbook and module options are
 * allowed"). */
int job_prepare(struct job *j, const char *pdd, json_t *kwargs, char *err, size_t errlen);
/* Runs the prepared job to the end; returns the exit code (job rc, or 1
 * when the child succeeded but an artifact could not be written: then the
 * final status is "error" with the reason as job_explanation). */
int job_run(struct job *j);
void job_free(struct job *j);

/* Requests cancellation (async-signal-safe; used by the signal handler). */
void job_request_cancel(void);
/* Installs SIGINT/SIGTERM handlers that request cancellation. */
void job_install_signals(void);

/* Where our display callback plugin lives (directory with awx_display.py). */
const char *job_callback_dir(void);
/* True when a process-isolation executable runs (`<exe> --version`). */
bool job_engine_available(const char *exe);

/* ---- shared by job_config.c and job.c ---- */

#define JOB_LINE_LIMIT (1024u * 1024u * 1024u)   /* bound of one built line */
/* The string member key of obj, NULL when absent or not a string. */
const char *job_json_str(const json_t *obj, const char *key);

#endif
