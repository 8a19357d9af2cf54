/* workceptor.h - units of work (spec 9, 10.1, 10.4).
 *
 * A unit is a directory <datadir>/<node>/<id>/ holding status, status.lock,
 * stdin and stdout exactly as upstream lays them out, so units survive
 * restarts and upstream tools can read them.  The workceptor keeps the
 * units it knows in memory, finds others on disk on demand, and dispatches
 * per work type: `command` units run in a detached runner process (this
 * binary re-executed with --command-runner) so they outlive the daemon;
 * `remote` units are mirrors of a unit on another node, driven through that
 * node's control service over a mesh stream.
 *
 * Changes of a unit (status or stdout) are announced to watchers (results
 * streams, remote monitors) from inotify events, the runner's exit, and a
 * slow poll as a fallback, so results flow without polling sleeps. */
#ifndef WORK_WORKCEPTOR_H
#define WORK_WORKCEPTOR_H

#include <jansson.h>
#include <stdint.h>

#include "mesh/node.h"
#include "stream/stream.h"
#include "work/unit_status.h"

struct workceptor;
struct unit;
struct work_signer;
struct work_verifier;

enum work_kind { WORK_COMMAND, WORK_REMOTE, WORK_KUBE };
struct kube_type;

struct work_type {
    char *name;
    enum work_kind kind;
    char *command;
    char *params;
    int allow_runtime_params;
    int verify_signature;
    struct kube_type *kube;           /* WORK_KUBE: its settings (kube_unit.h) */
    struct work_type *next;
};

struct workceptor *workceptor_new(struct node *n, const char *datadir, const char *self_exe,
                                  char *err, size_t errlen);
void workceptor_free(struct workceptor *wc);
int workceptor_add_command(struct workceptor *wc, const char *name, const char *command,
                           const char *params, int allow_runtime_params, int verify_signature,
                           char *err, size_t errlen);
/* Signing: work-signing and work-verification keys (either may be NULL). */
void workceptor_set_keys(struct workceptor *wc, struct work_signer *signer, struct work_verifier *verifier);
struct work_signer *workceptor_signer(struct workceptor *wc);
struct work_verifier *workceptor_verifier(struct workceptor *wc);
/* TLS client configs for remote work (by name), as the control service has. */
void workceptor_set_tls_lookup(struct workceptor *wc,
                               const struct stream_tls *(*lookup)(void *arg, const char *name), void *arg);
/* Loads units found on disk and restarts them as spec 9.7 says. */
void workceptor_scan(struct workceptor *wc);
const struct work_type *workceptor_type(struct workceptor *wc, const char *name);
struct node *workceptor_node(struct workceptor *wc);

/* ---- units ----------------------------------------------------------------- */

/* The unit with this ID (loaded from disk if need be), its status re-read. */
struct unit *workceptor_find(struct workceptor *wc, const char *id);
/* The same without re-reading the status of a unit already known: for a
 * caller that starts watching the unit first and then calls unit_refresh(),
 * so no change can fall between the read and the watch. */
struct unit *workceptor_lookup(struct workceptor *wc, const char *id);
/* Every known unit (memory + disk), in ID order; returns a new array. */
json_t *workceptor_list(struct workceptor *wc, const char *only_id, char *err, size_t errlen);

/* Submission: checks the parameters (runtime params, secrets, ttl) and
 * creates the unit in state Pending "Waiting for Input Data". node is the
 * target node (local ID or "localhost" for local work). */
struct unit *workceptor_submit(struct workceptor *wc, const char *node, const char *worktype,
                               json_t *params, char *err, size_t errlen);
/* `work adopt`: a local remote-unit that follows the existing unit
 * remote_id on node (upstream has no such command: PR #1564). */
struct unit *workceptor_adopt(struct workceptor *wc, const char *node, const char *remote_id,
                              json_t *params, char *err, size_t errlen);
const char *unit_id(const struct unit *u);
const char *unit_dir(const struct unit *u);
/* The unit's status as last read (refreshed from disk). */
const struct unit_status *unit_status(struct unit *u);
void unit_refresh(struct unit *u);
int unit_set_status(struct unit *u, int state, const char *detail, int64_t stdout_size);
/* The same, with what went wrong (e.g. a full disk) in err. */
int unit_set_status_err(struct unit *u, int state, const char *detail, int64_t stdout_size, char *err,
                        size_t errlen);
/* Whether commands on this unit need a verified signature (spec 11). */
int unit_needs_signature(struct unit *u);

/* Starts a submitted unit; done gets "Job Started", "Job Submitted", or an
 * error (the unit is then Failed). */
typedef void (*unit_done_cb)(void *arg, const char *result, const char *err);
void unit_start(struct unit *u, unit_done_cb done, void *arg);
/* cancel: result "cancelled" or "cancel pending"; release: "released" or
 * "release pending".  The unit may be gone after release's callback. */
void unit_cancel(struct unit *u, unit_done_cb done, void *arg);
void unit_release(struct unit *u, int force, unit_done_cb done, void *arg);

/* Watchers: cb runs after any change of the unit's status or stdout, and
 * with gone=1 when the unit is released. */
struct unit_watch;
struct unit_watch *unit_watch_add(struct unit *u, void (*cb)(void *arg, int gone), void *arg);
void unit_watch_remove(struct unit_watch *w);

/* A unit released recently: its release time (for a clear error), or 0. */
int64_t workceptor_released_at(struct workceptor *wc, const char *id);

/* ---- metrics ----------------------------------------------------------------- */

struct work_counters {
    uint64_t result_bytes_served;     /* stdout bytes sent by `work results` */
};
struct work_counters *workceptor_counters(struct workceptor *wc);
/* Calls cb for every work type this node has, then for every unit in
 * memory (worktype as its status says; state a UNIT_* value). */
void workceptor_foreach_type(struct workceptor *wc, void (*cb)(void *arg, const char *worktype),
                             void *arg);
void workceptor_foreach_unit(struct workceptor *wc,
                             void (*cb)(void *arg, const char *worktype, int state), void *arg);

#endif
