/* workceptor_internal.h - state shared by the files of src/work:
 *   workceptor.c  unit table, submission, watchers, release, restart
 *   command.c     command work: the detached runner process, cancel
 *   cmd_runner.c  the runner process itself (--command-runner)
 *   remote.c      remote work through another node's control service
 *   kube_*.c      kubernetes work (kube_unit.h)
 * Nothing outside src/work includes this file. */
#ifndef WORK_WORKCEPTOR_INTERNAL_H
#define WORK_WORKCEPTOR_INTERNAL_H

#include <sys/types.h>
#include <uv.h>

#include "work/workceptor.h"

#define UNIT_BUCKETS 1024

struct remote;
struct kube_unit;
struct kube_http;

struct unit {
    struct workceptor *wc;
    char id[16];
    char *dir;
    struct unit_status st;
    const struct work_type *wt;       /* NULL: a type this node does not have */
    struct unit_watch *watchers;
    uv_timer_t timer;                 /* poll / coalescing timer */
    uv_fs_event_t fsev;               /* inotify on the unit directory */
    int fs_inited, fs_active;
    int check_pending, status_dirty;
    int notifying;                    /* unit_notify() on the stack */
    pid_t runner_pid;                 /* > 0 while a runner may be alive */
    int runner_is_child;              /* its end is reported: SIGCHLD or the spawner */
    int runner_spawned;               /* started by the spawner (cmd_runner.h) */
    int cancel_requested;
    unit_done_cb cancel_done;         /* command cancel waiting for the runner */
    void *cancel_arg;
    struct remote *remote;
    struct kube_unit *kube;           /* kubernetes units: state not in the status file */
    struct unit *next_child;          /* wc->children: runners to reap */
    int handles;
    int refs;
    int forgotten, freeing, released;
    struct unit *next;
};

struct workceptor {
    struct node *node;
    uv_loop_t *loop;
    char *dir;                        /* <datadir>/<node id> */
    char *self_exe;
    struct work_type *types;
    struct unit *buckets[UNIT_BUCKETS];
    size_t nunits;
    json_t *tombstones;               /* released unit -> time */
    struct unit *children;            /* units whose runner we forked */
    int spawner_fd;                   /* runner.h's spawner; -1: none */
    pid_t spawner_pid;
    uv_poll_t *spawner_poll;
    struct spawn_wait *spawn_head, **spawn_tail; /* requests awaiting their pid */
    uv_signal_t sigchld;
    struct work_signer *signer;
    struct work_verifier *verifier;
    const struct stream_tls *(*tls_lookup)(void *arg, const char *name);
    void *tls_arg;
    struct kube_http *kube_http;      /* kubernetes work's HTTPS engine, made on first use */
    struct work_counters counters;
};

/* workceptor.c */
void unit_notify(struct unit *u, int gone);
void unit_arm_poll(struct unit *u);
void unit_maybe_free(struct unit *u);
void unit_forget(struct unit *u);
void unit_delete(struct unit *u);
int unit_set_extra(struct unit *u, json_t *extra);
/* Read-modify-write of u's status file under its lock (fn edits it); the
 * cached status becomes what was written.  Failures are logged. */
int unit_update(struct unit *u, void (*fn)(struct unit_status *st, void *arg), void *arg);
/* A new work type at the end of the list; advertising the list. */
struct work_type *workceptor_add_type(struct workceptor *wc, const char *name, enum work_kind kind);
void workceptor_advertise_types(struct workceptor *wc);

/* command.c */
int command_check_params(const struct work_type *wt, json_t *params, json_t **extra, char *err, size_t errlen);
void command_start(struct unit *u, unit_done_cb done, void *arg);
void command_cancel(struct unit *u, unit_done_cb done, void *arg);
void command_restart(struct unit *u);
void command_check_runner(struct unit *u);
void command_reap(struct workceptor *wc);
void command_spawner_start(struct workceptor *wc);
void command_spawner_stop(struct workceptor *wc);

/* remote.c */
int remote_check_params(struct workceptor *wc, const char *node, const char *worktype, json_t *params,
                        json_t **extra, char *err, size_t errlen);
void remote_start(struct unit *u, unit_done_cb done, void *arg);
void remote_cancel(struct unit *u, unit_done_cb done, void *arg);
void remote_release(struct unit *u, int force, unit_done_cb done, void *arg);
void remote_restart(struct unit *u);
void remote_adopt(struct unit *u);
void remote_stop(struct unit *u);
void remote_free_state(struct unit *u);

#endif
