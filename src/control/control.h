/* control.h - the control service (spec 8): a line protocol spoken on a unix
 * socket, a TCP port and (later) the mesh service `control`.
 *
 * Each accepted connection is a session: greeting line, then commands, one
 * per line, plain ("ping B") or JSON ({"command":"ping","target":"B"}).  The
 * commands are listed in one table (commands.c).  A command may finish later
 * (ping waits for the reply); the session reads nothing more until it has.
 * Lines are bounded (CONTROL_MAX_LINE) and so are queued replies: a client
 * that does not read stops being read from. */
#ifndef CONTROL_CONTROL_H
#define CONTROL_CONTROL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "control/parse.h"
#include "mesh/node.h"
#include "stream/stream.h"

struct control;
struct control_session;

struct control_hooks {
    /* reload: 0, or -1 with err and an upstream ERRORCODE (3 or 4) */
    int (*reload)(void *arg, char *err, size_t errlen, int *code);
    /* the named tls-client configuration for mesh dials, or NULL */
    const struct stream_tls *(*tls_client)(void *arg, const char *name);
    void *arg;
};

struct control *control_new(struct node *node, const struct control_hooks *hooks);
/* Unix socket at path (lock file path.lock, stale socket removed, chmod perms). */
int control_listen_unix(struct control *c, const char *path, int perms, char *err, size_t errlen);
/* "port" or "host:port". */
/* tls: a tls-server config (tcptls) or NULL; the handshake must complete
 * within 10 s, then the session starts (greeting first). */
struct tls_config;
int control_listen_tcp(struct control *c, const char *addr, struct tls_config *tls, char *err,
                       size_t errlen);
/* The mesh service (e.g. "control"), advertised with type Control Service;
 * tls NULL = upstream's insecure mode. */
int control_listen_mesh(struct control *c, const char *service, const struct stream_tls *tls,
                        char *err, size_t errlen);
void control_free(struct control *c);
/* Enables the `work` command. */
struct workceptor;
void control_set_workceptor(struct control *c, struct workceptor *wc);

/* Sessions open now and since the start (metrics). */
void control_session_counts(const struct control *c, uint64_t *open, uint64_t *total);

/* Runs a control session on an already connected byte stream (a QUIC
 * stream from the mesh, a TLS session).  trusted: the unix socket, which
 * may submit unsigned work to verifying work types. */
struct bstream;
void control_serve(struct control *c, struct bstream *bs, int trusted);

/* ---- for command implementations --------------------------------------- */

/* What a command's run() tells the session that called it. */
enum control_handoff {
    CONTROL_SESSION_KEPT,     /* answered, or will answer later: the session is still there */
    CONTROL_SESSION_HANDED,   /* took the stream over (control_take_over): the session is gone */
};

struct control_command {
    const char *name;
    /* params: text after the command word (plain form) or NULL;
     * cmd: the JSON object (JSON form) or NULL.  Returns
     * CONTROL_SESSION_HANDED if and only if it called control_take_over(). */
    enum control_handoff (*run)(struct control_session *s, const char *params, json_t *cmd);
};

extern const struct control_command control_commands[]; /* {NULL} terminated */

struct node *control_node(struct control_session *s);
const struct control_hooks *control_session_hooks(struct control_session *s);
/* Replies finish the command: one line, then the session reads on. */
void control_reply_json(struct control_session *s, json_t *obj, int sort_keys); /* steals obj */
/* b holds the reply's JSON when ok, else it did not fit; frees b. */
void control_reply_line(struct control_session *s, struct buf *b, int ok);
void control_reply_error(struct control_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A command that finishes later stores a cancel hook, called if the client
 * goes away first. */
void control_set_pending(struct control_session *s, void (*cancel)(void *), void *arg);
void control_clear_pending(struct control_session *s);
struct bstream *control_stream(struct control_session *s);
int control_trusted(struct control_session *s);
struct workceptor *control_workceptor(struct control_session *s);
/* A command that takes the connection over (connect, work submit, work
 * results): the session is freed; the command gets the stream (with its
 * callbacks cleared) and the bytes already read past the command line.
 * Called from run() (work submit, work results), run() must then return
 * CONTROL_SESSION_HANDED; called later, from a pending command's callback
 * (connect), the session is not dispatching and nothing else is needed. */
void control_take_over(struct control_session *s, uint8_t **rest, size_t *restlen);

#endif
