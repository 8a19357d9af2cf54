/* connect.c - the `connect NODE SERVICE [TLSCLIENT]` command (spec 8.6): dial
 * a mesh stream, answer "Connecting", then bridge the control connection and
 * the stream byte for byte until both directions end.
 *
 * The dial usually completes later (the command is pending), but a dial to
 * the node itself completes inside stream_dial(): the hand-over then
 * happens while the command runs, and cmd_connect returns it. */
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "core/bridge.h"
#include "core/log.h"

struct connect_op {
    struct control_session *s;
    struct stream_dial *dial;
    int dialing;                /* inside stream_dial(): cmd_connect frees op */
    int finished;               /* connect_done ran inside stream_dial() */
    enum control_handoff handoff;   /* and what it did with the session */
};

static void connect_cancel(void *arg)
{
    struct connect_op *op = arg;
    stream_dial_cancel(op->dial);
    free(op);
}

/* Answers the error, or "Connecting" and bridges the two streams. */
static enum control_handoff connect_finish(struct control_session *s, struct bstream *bs, const char *err)
{
    if (!bs) {
        control_reply_error(s, "%s", err);
        return CONTROL_SESSION_KEPT;
    }
    struct bstream *client = control_stream(s);
    bstream_write(client, "Connecting\n", 11);
    uint8_t *rest;
    size_t restlen;
    control_take_over(s, &rest, &restlen);
    bridge_start(client, bs, rest, restlen, NULL, NULL);
    free(rest);
    return CONTROL_SESSION_HANDED;
}

static void connect_done(void *arg, struct bstream *bs, const char *err)
{
    struct connect_op *op = arg;
    if (op->dialing) {
        /* the node dialled itself: the mesh delivers locally, so the dial
         * completed before stream_dial() returned, and cmd_connect (still
         * running) tells the session what happened */
        op->finished = 1;
        op->handoff = connect_finish(op->s, bs, err);
        return;
    }
    struct control_session *s = op->s;
    free(op);
    control_clear_pending(s);
    connect_finish(s, bs, err);
}

/* Splits on single spaces as upstream does. */
static int split(char *p, char **tok, int max)
{
    int n = 0;
    while (n <= max) {
        tok[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            break;
        *sp = 0;
        p = sp + 1;
    }
    return n;
}

enum control_handoff cmd_connect(struct control_session *s, const char *params, json_t *cmd)
{
    char buf[1024];
    const char *node, *service, *tls = "";
    char *tok[5];
    if (cmd) {
        json_t *n = json_object_get(cmd, "node"), *sv = json_object_get(cmd, "service"),
               *t = json_object_get(cmd, "tls");
        if (!json_is_string(n) || !json_is_string(sv)) {
            control_reply_error(s, "no connect target");
            return CONTROL_SESSION_KEPT;
        }
        node = json_string_value(n);
        service = json_string_value(sv);
        if (json_is_string(t))
            tls = json_string_value(t);
    } else {
        snprintf(buf, sizeof buf, "%s", params ? params : "");
        int n = buf[0] ? split(buf, tok, 4) : 0;
        if (n < 2) {
            control_reply_error(s, "no connect target");
            return CONTROL_SESSION_KEPT;
        }
        if (n > 3) {
            control_reply_error(s, "too many parameters");
            return CONTROL_SESSION_KEPT;
        }
        node = tok[0];
        service = tok[1];
        if (n == 3)
            tls = tok[2];
    }
    const struct stream_tls *cfg = NULL;
    if (tls[0]) {
        const struct control_hooks *h = control_session_hooks(s);
        cfg = h->tls_client ? h->tls_client(h->arg, tls) : NULL;
        if (!cfg) {
            control_reply_error(s, "unknown TLS config %s", tls);
            return CONTROL_SESSION_KEPT;
        }
    }
    struct connect_op *op = calloc(1, sizeof *op);
    if (!op) {
        control_reply_error(s, "out of memory");
        return CONTROL_SESSION_KEPT;
    }
    op->s = s;
    op->dialing = 1;
    op->dial = stream_dial(control_node(s), node, service, cfg, connect_done, op);
    op->dialing = 0;
    if (op->finished) {
        enum control_handoff r = op->handoff;
        free(op);
        return r;
    }
    if (!op->dial) {
        free(op);
        control_reply_error(s, "out of memory");
        return CONTROL_SESSION_KEPT;
    }
    control_set_pending(s, connect_cancel, op);
    return CONTROL_SESSION_KEPT;
}
