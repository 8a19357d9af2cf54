/* stream.h - the three streaming roles of ansible-runner (spec 3, 4, 5)
 * and the local `run`.
 *
 *   transmit: kwargs line, then the zipped private data dir, then eof.
 *   worker:   reads that stream (state machine of spec 4.2), runs the job
 *             and writes status lines, events, keep-alives, the artifact
 *             zip and eof to stdout.
 *   process:  reads a worker stream into job_events/, status, rc and the
 *             unpacked artifacts, printing the playbook output.
 * Each takes file descriptors so tests can drive them with pipes. */
#ifndef RUNNER_STREAM_H
#define RUNNER_STREAM_H

#include <jansson.h>
#include <stdbool.h>

#include "runner/zipdir.h"

/* ---- transmit ---- */
/* Files the zip carries that the source directory lacks (2.3.1 writes
 * them into it; we never do): env/ files of env-like kwargs, a role's
 * generated playbook.  Owned copies. */
#define TRANSMIT_MAX_FILES 8
struct transmit_files {
    struct zipdir_extra v[TRANSMIT_MAX_FILES];
    size_t n;
};
int transmit_files_add(struct transmit_files *f, const char *name, const char *data, size_t len,
                       unsigned mode);
void transmit_files_free(struct transmit_files *f);

struct transmit_opts {
    const char *pdd;        /* private data dir */
    json_t *kwargs;         /* ordered kwargs (borrowed; modified) */
    bool only_kwargs;       /* only_transmit_kwargs */
    const struct transmit_files *files; /* NULL: none */
    struct progress *meter; /* counts the bytes written (NULL: none) */
};
/* Writes the stream to outfd.  0, or -1 with err. */
int transmit_run(const struct transmit_opts *o, int outfd, char *err, size_t errlen);
/* dump_artifacts + relativising of spec 3.2 steps 2-4 on kwargs; the env/
 * files go to files, never into pdd. */
int transmit_prepare_kwargs(const char *pdd, json_t *kwargs, struct transmit_files *files,
                            char *err, size_t errlen);
/* dump_artifacts for run: env/ files written into pdd (mode 0400, left
 * there, as 2.3.1 does), paths left as given. */
int run_dump_artifacts(const char *pdd, json_t *kwargs, char *err, size_t errlen);

/* ---- worker ---- */
struct worker_opts {
    const char *pdd;        /* NULL: a temporary dir removed at exit */
    bool delete_pdd;
    double keepalive_seconds; /* 0: off */
    int infd, outfd;
};
/* Returns the process exit code. */
int worker_run(const struct worker_opts *o);
/* --worker-info: prints the YAML mapping; returns 0. */
int worker_info(int outfd);
struct cleanup_opts {
    const char *file_pattern;
    char **exclude_strings;
    size_t n_exclude;
    char **remove_images;
    size_t n_images;
    int grace_period;        /* minutes */
    bool image_prune;
    const char *engine;
};
int worker_cleanup(const struct cleanup_opts *o, int outfd);

/* ---- process ---- */
/* What a consumer of process_run may want to know besides the artifacts
 * (the `submit` flow uses it to report errors as AWX does, spec 8.5/8.7). */
struct process_result {
    bool saw_eof;           /* the stream ended with {"eof": ...} */
    bool bad_line;          /* stopped at an unparsable line or EOF before eof */
    unsigned long events;   /* events kept (keep-alives excluded) */
};
struct process_opts {
    const char *pdd;        /* NULL: a temporary dir (kept) */
    const char *ident;
    const char *artifact_dir;
    bool quiet;
    int infd, outfd;
    bool skip_empty;        /* print only non-empty event stdout, as `run` shows it */
    /* optional: each status line as received (one JSON object, no LF) */
    void (*on_status)(void *ctx, const char *line, size_t n);
    void *cb_ctx;
    struct process_result *result; /* optional out */
};
/* Returns the exit code (0 in the normal flow, as upstream). */
int process_run(const struct process_opts *o);

/* ---- run ---- */
struct run_opts {
    const char *pdd;
    json_t *kwargs;         /* taken over */
    bool quiet;
    bool debug;             /* --debug: the job's env and command on stdout */
    const char *logfile;    /* --logfile: created; the debug lines, timestamped */
};
int run_local(const struct run_opts *o, char *err, size_t errlen);

#endif
