/* session.c - sessions of the control service: greeting, line framing
 * ("\r" dropped, empty lines ignored), plain/JSON dispatch through the
 * command table, bounded input and output.
 *
 * Input is framed by parse.c: a line longer than CONTROL_MAX_LINE is
 * dropped as it arrives and answered with an error in its place; the
 * session goes on with the next line, as upstream's (unbounded) reader
 * would.  Reading stops while a command runs, which bounds the input
 * buffered to one partial line plus one read.
 *
 * A session runs over any bstream (unix socket, TCP, later TLS and QUIC
 * streams).  It reads only while no command is running and while its
 * replies are not piling up, so a client that does not read stops being
 * read from. */
#include "control/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/bstream.h"
#include "core/buf.h"
#include "core/gojson.h"
#include "core/log.h"
#include "net/tcp.h"
#include "net/tls.h"
#include "net/uvstream.h"

#define WRITE_BACKLOG_MAX (4u << 20)
#define CONTROL_MAX_HANDSHAKES 64   /* tcptls connections not yet verified */

struct control_listener {
    union { uv_pipe_t pipe; uv_tcp_t tcp; } h;
    struct control *ctl;
    int is_unix;
    int lock_fd;
    char *path;
    struct tls_config *tls;   /* tcptls: TLS on the TCP port */
    struct control_listener *next;
};

/* A tcptls connection whose handshake is still running (10 s at most); its
 * control session starts once the client is verified. */
struct control_handshake {
    struct bstream *bs;
    struct control *ctl;      /* NULL once the control service is gone */
    struct control_handshake *next;
};

struct control_session {
    struct bstream *bs;
    struct control *ctl;
    struct control_lines in;
    int busy;           /* a command is running */
    int closing;
    int reading;
    int eof;            /* the client half-closed */
    int trusted;        /* unix socket: trusted for work signatures */
    int in_dispatch;    /* inside run_line: replies must not recurse */
    void (*cancel)(void *);
    void *cancel_arg;
    struct control_session *next;
};

#define CONTROL_MAX_MESH 16

struct control {
    struct node *node;
    struct control_hooks hooks;
    struct control_listener *listeners;
    struct control_session *sessions;
    struct control_handshake *handshakes;
    int nhandshakes;
    struct stream_listener *mesh[CONTROL_MAX_MESH];
    int nmesh;
    struct workceptor *wc;
    uint64_t sessions_total;
};

static void session_process(struct control_session *s);
static void session_close(struct control_session *s);

struct node *control_node(struct control_session *s) { return s->ctl->node; }
const struct control_hooks *control_session_hooks(struct control_session *s) { return &s->ctl->hooks; }
struct bstream *control_stream(struct control_session *s) { return s->bs; }
int control_trusted(struct control_session *s) { return s->trusted; }
struct workceptor *control_workceptor(struct control_session *s) { return s->ctl->wc; }
void control_set_workceptor(struct control *c, struct workceptor *wc) { c->wc = wc; }

void control_session_counts(const struct control *c, uint64_t *open, uint64_t *total)
{
    uint64_t n = 0;
    for (const struct control_session *s = c->sessions; s; s = s->next)
        n++;
    *open = n;
    *total = c->sessions_total;
}

/* ---- output --------------------------------------------------------------- */

static void session_write(struct control_session *s, const char *data, size_t len)
{
    if (s->closing)
        return;
    if (bstream_write(s->bs, data, len) < 0)
        session_close(s);
}

static void command_done(struct control_session *s)
{
    s->busy = 0;
    s->cancel = NULL;
    /* the dispatch loop continues by itself for commands that finished at
     * once; a command that finished later restarts it */
    if (!s->in_dispatch)
        session_process(s);
}

void control_reply_line(struct control_session *s, struct buf *b, int ok)
{
    if (ok && buf_append(b, "\n", 1) == 0)
        session_write(s, (const char *)buf_head(b), buf_size(b));
    else
        session_write(s, "ERROR: reply too large\n", 23);
    buf_free(b);
    command_done(s);
}

void control_reply_json(struct control_session *s, json_t *obj, int sort_keys)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    int ok = gojson_dump(obj, sort_keys ? GOJSON_SORT_KEYS : 0, &b) == 0;
    json_decref(obj);
    control_reply_line(s, &b, ok);
}

void control_reply_error(struct control_session *s, const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "ERROR: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    session_write(s, line, len);
    command_done(s);
}

void control_set_pending(struct control_session *s, void (*cancel)(void *), void *arg)
{
    s->cancel = cancel;
    s->cancel_arg = arg;
}

void control_clear_pending(struct control_session *s) { s->cancel = NULL; }

void control_take_over(struct control_session *s, uint8_t **rest, size_t *restlen)
{
    /* the command now owns the stream; hand it the bytes read past the line */
    *restlen = buf_size(&s->in.in);
    *rest = NULL;
    if (*restlen) {
        *rest = malloc(*restlen);
        if (*rest)
            memcpy(*rest, buf_head(&s->in.in), *restlen);
        else
            *restlen = 0;
    }
    s->closing = 1;
    s->cancel = NULL;
    struct control_session **pp = &s->ctl->sessions;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    s->bs->data = NULL;
    bstream_clear_callbacks(s->bs);
    control_lines_free(&s->in);
    free(s);
}

/* ---- dispatch --------------------------------------------------------------- */

static const struct control_command *find_command(const char *name)
{
    for (const struct control_command *c = control_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

/* Logs a command at debug level, cut before the first secret_* parameter
 * (kubernetes credentials and pod specs travel as such), so no secret reaches
 * the log whatever the key order. */
static void log_command(const char *line, size_t len)
{
    const char *secret = memmem(line, len, "secret_", 7);
    size_t shown = secret ? (size_t)(secret - line) : len;
    if (shown > 200)
        shown = 200;
    log_debug("Control service command: %.*s%s", (int)shown, line,
              secret ? "... (secret parameters not logged)" : "");
}

/* Runs one line: JSON errors are answered first, then "Unknown command",
 * as upstream answers them.  Returns what the command returned: after
 * CONTROL_SESSION_HANDED, s is freed and must not be touched. */
static enum control_handoff run_line(struct control_session *s, char *line, size_t len)
{
    s->busy = 1;
    s->in_dispatch = 1;
    log_command(line, len);
    struct control_parsed p;
    control_parse_line(line, len, &p);
    if (p.err[0]) {
        char out[400];
        int n = snprintf(out, sizeof out, "ERROR: %s\n", p.err);
        session_write(s, out, (size_t)n);
    }
    const struct control_command *c = p.name ? find_command(p.name) : NULL;
    enum control_handoff r = CONTROL_SESSION_KEPT;
    if (!c)
        control_reply_error(s, "Unknown command");
    else
        r = c->run(s, p.cmd ? NULL : p.params, p.cmd);
    json_decref(p.cmd);
    return r;
}

/* An over-long line is answered like a command that failed. */
static void reply_too_long(struct control_session *s)
{
    log_warning("Control service %s: command line longer than %d bytes dropped", s->bs->desc,
                CONTROL_MAX_LINE);
    s->busy = 1;
    s->in_dispatch = 1;
    control_reply_error(s, "command line too long (more than %d bytes)", CONTROL_MAX_LINE);
    s->in_dispatch = 0;
}

static void set_reading(struct control_session *s, int on)
{
    if (on == s->reading || s->closing)
        return;
    s->reading = on;
    if (on)
        bstream_read_start(s->bs);
    else
        bstream_read_stop(s->bs);
}

static void session_process(struct control_session *s)
{
    if (s->eof) /* a client that gave up mid-line still gets its answer */
        control_lines_eof(&s->in);
    while (!s->busy && !s->closing && bstream_queued(s->bs) < WRITE_BACKLOG_MAX) {
        char *line;
        ssize_t len = control_lines_next(&s->in, &line);
        if (len == CONTROL_LINE_TOO_LONG) {
            reply_too_long(s);
            continue;
        }
        if (len < 0)
            break;
        if (len == 0) {
            free(line);
            continue;
        }
        enum control_handoff r = run_line(s, line, (size_t)len);
        free(line);
        if (r == CONTROL_SESSION_HANDED)
            return; /* the command owns the stream; the session is freed */
        s->in_dispatch = 0;
    }
    if (s->closing)
        return;
    if (!s->busy && s->eof) {
        session_close(s);
        return;
    }
    set_reading(s, !s->busy && bstream_queued(s->bs) < WRITE_BACKLOG_MAX);
}

/* ---- sessions ------------------------------------------------------------ */

static void session_unlink(struct control_session *s)
{
    s->closing = 1;
    if (s->cancel) {
        void (*cancel)(void *) = s->cancel;
        s->cancel = NULL;
        cancel(s->cancel_arg);
    }
    struct control_session **pp = &s->ctl->sessions;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
}

static void on_stream_close(struct bstream *bs)
{
    struct control_session *s = bs->data;
    if (!s)
        return;
    if (!s->closing)
        session_unlink(s);
    control_lines_free(&s->in);
    free(s);
}

static void session_close(struct control_session *s)
{
    if (s->closing)
        return;
    session_unlink(s);
    bstream_close(s->bs);
}

static void on_stream_read(struct bstream *bs, const uint8_t *data, size_t len)
{
    struct control_session *s = bs->data;
    if (control_lines_feed(&s->in, data, len) < 0) {
        /* cannot happen: reads stop while a command runs (CONTROL_MAX_INPUT) */
        log_error("Control service %s: closing session: input buffer full", bs->desc);
        session_write(s, "ERROR: input buffer full\n", 25);
        bstream_shutdown(s->bs);
        set_reading(s, 0);
        session_unlink(s);
        return;
    }
    session_process(s);
}

static void on_stream_eof(struct bstream *bs)
{
    struct control_session *s = bs->data;
    s->eof = 1;
    s->reading = 0;
    if (!s->busy)
        session_process(s);
}

static void on_stream_drain(struct bstream *bs)
{
    struct control_session *s = bs->data;
    if (s->closing && !s->busy) {
        bstream_close(bs); /* e.g. after "input buffer full" was sent */
        return;
    }
    if (!s->busy)
        session_process(s);
}

static void on_stream_error(struct bstream *bs, const char *msg)
{
    struct control_session *s = bs->data;
    log_debug("Control service session %s: %s", bs->desc, msg);
    if (!s->closing)
        session_unlink(s);
}

void control_serve(struct control *c, struct bstream *bs, int trusted)
{
    struct control_session *s = calloc(1, sizeof *s);
    if (!s) {
        bstream_close(bs);
        return;
    }
    s->ctl = c;
    s->bs = bs;
    s->trusted = trusted;
    c->sessions_total++;
    control_lines_init(&s->in, CONTROL_MAX_LINE, CONTROL_MAX_INPUT);
    bs->data = s;
    bs->on_read = on_stream_read;
    bs->on_eof = on_stream_eof;
    bs->on_drain = on_stream_drain;
    bs->on_error = on_stream_error;
    bs->on_close = on_stream_close;
    s->next = c->sessions;
    c->sessions = s;
    char greeting[512];
    int len = snprintf(greeting, sizeof greeting, "Receptor Control, node %s\n", node_id(c->node));
    session_write(s, greeting, (size_t)len);
    set_reading(s, 1);
}

/* ---- tcptls: TLS on the TCP port ------------------------------------------ */

static void handshake_unlink(struct control_handshake *h)
{
    if (!h->ctl)
        return;
    struct control_handshake **pp = &h->ctl->handshakes;
    while (*pp && *pp != h)
        pp = &(*pp)->next;
    if (*pp)
        *pp = h->next;
    h->ctl->nhandshakes--;
    h->ctl = NULL;
}

static void on_handshake_error(struct bstream *bs, const char *msg)
{
    (void)bs;
    log_error("Control service TLS handshake error: %s", msg);
}

static void on_handshake_close(struct bstream *bs)
{
    struct control_handshake *h = bs->data;
    handshake_unlink(h);
    free(h);
}

static void on_handshake_ready(struct bstream *bs)
{
    struct control_handshake *h = bs->data;
    struct control *c = h->ctl;
    handshake_unlink(h);
    free(h);
    bs->data = NULL;
    bs->on_error = NULL;
    bs->on_close = NULL;
    if (!c) {
        bstream_close(bs);
        return;
    }
    log_debug("Control service: TLS session from %s", bs->desc);
    control_serve(c, bs, 0);
}

static void serve_tls(struct control_listener *l, struct bstream *raw)
{
    char err[256];
    if (l->ctl->nhandshakes >= CONTROL_MAX_HANDSHAKES) {
        log_warning("Control service: refusing %s: %d TLS handshakes already in progress", raw->desc,
                    l->ctl->nhandshakes);
        bstream_close(raw);
        return;
    }
    struct bstream *bs = tls_wrap(raw, l->tls, 1, NULL, NULL, l->h.tcp.loop, TLS_CONTROL_TIMEOUT_MS, err,
                                  sizeof err);
    if (!bs) {
        log_error("Control service %s: %s", raw->desc, err);
        bstream_close(raw);
        return;
    }
    struct control_handshake *h = calloc(1, sizeof *h);
    if (!h) {
        bstream_close(bs);
        return;
    }
    h->bs = bs;
    h->ctl = l->ctl;
    h->next = l->ctl->handshakes;
    l->ctl->handshakes = h;
    l->ctl->nhandshakes++;
    bs->data = h;
    bs->on_error = on_handshake_error;
    bs->on_close = on_handshake_close;
    tls_set_ready_cb(bs, on_handshake_ready);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct control_listener *l = server->data;
    if (status < 0)
        return;
    struct bstream *bs = uvstream_new(server->loop, l->is_unix);
    if (!bs)
        return;
    if (uv_accept(server, uvstream_handle(bs)) != 0) {
        bstream_close(bs);
        return;
    }
    uvstream_start(bs);
    if (l->tls) {
        serve_tls(l, bs);
        return;
    }
    bstream_read_stop(bs);
    control_serve(l->ctl, bs, l->is_unix);
}

/* ---- listeners ----------------------------------------------------------- */

struct control *control_new(struct node *node, const struct control_hooks *hooks)
{
    struct control *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = node;
    if (hooks)
        c->hooks = *hooks;
    return c;
}

static struct control_listener *listener_new(struct control *c, int is_unix)
{
    struct control_listener *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->ctl = c;
    l->is_unix = is_unix;
    l->lock_fd = -1;
    uv_loop_t *loop = node_loop(c->node);
    if (is_unix)
        uv_pipe_init(loop, &l->h.pipe, 0);
    else
        uv_tcp_init(loop, &l->h.tcp);
    l->h.pipe.data = l;
    return l;
}

static void listener_freed(uv_handle_t *h)
{
    struct control_listener *l = h->data;
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    free(l->path);
    free(l);
}

/* Binds a unix socket at path that is never more open than perms: the
 * socket's own mode (fchmod before bind) is what bind() gives the file,
 * less the umask, so the file is born with perms or narrower, and the
 * chmod after only widens it up to perms.  Returns the fd or -errno. */
static int bind_unix_socket(const char *path, int perms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path)
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, (mode_t)perms & 0777) < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (chmod(path, (mode_t)perms) < 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return -e;
    }
    return fd;
}

int control_listen_unix(struct control *c, const char *path, int perms, char *err, size_t errlen)
{
    char lockpath[4096];
    if (snprintf(lockpath, sizeof lockpath, "%s.lock", path) >= (int)sizeof lockpath) {
        snprintf(err, errlen, "socket path too long: %s", path);
        return -1;
    }
    int fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, errlen, "could not acquire lock on socket file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    unlink(path);
    struct control_listener *l = listener_new(c, 1);
    l->lock_fd = fd;
    l->path = strdup(path);
    int sfd = bind_unix_socket(path, perms);
    int rc = sfd < 0 ? sfd : uv_pipe_open(&l->h.pipe, sfd);
    if (rc != 0 && sfd >= 0)
        close(sfd); /* not the handle's: uv_close will not close it */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->h, 64, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        if (sfd >= 0)
            unlink(path);
        uv_close((uv_handle_t *)&l->h, listener_freed);
        return -1;
    }
    l->next = c->listeners;
    c->listeners = l;
    log_debug("Control service listening on unix socket %s", path);
    return 0;
}

int control_listen_tcp(struct control *c, const char *addr, struct tls_config *tls, char *err,
                       size_t errlen)
{
    char host[256] = "0.0.0.0", port[16];
    if (strchr(addr, ':')) {
        if (tcp_split_address(addr, host, sizeof host, port, sizeof port) < 0) {
            snprintf(err, errlen, "tcplisten %s: expected port or host:port", addr);
            return -1;
        }
    } else {
        snprintf(port, sizeof port, "%s", addr);
    }
    struct sockaddr_storage ss;
    int p = atoi(port);
    if ((uv_ip4_addr(host, p, (struct sockaddr_in *)&ss) != 0 &&
         uv_ip6_addr(host, p, (struct sockaddr_in6 *)&ss) != 0) || p <= 0 || p > 65535) {
        snprintf(err, errlen, "tcplisten %s: invalid address", addr);
        return -1;
    }
    struct control_listener *l = listener_new(c, 0);
    l->tls = tls;
    int rc = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->h, 64, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "control service tcplisten %s: %s", addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->h, listener_freed);
        return -1;
    }
    l->next = c->listeners;
    c->listeners = l;
    return 0;
}

static void on_mesh_accept(void *arg, struct bstream *bs, const char *remote_node)
{
    struct control *c = arg;
    log_debug("Control service: session from %s over the mesh", remote_node);
    control_serve(c, bs, 0);
}

int control_listen_mesh(struct control *c, const char *service, const struct stream_tls *tls,
                        char *err, size_t errlen)
{
    if (c->nmesh == CONTROL_MAX_MESH) {
        snprintf(err, errlen, "too many control services");
        return -1;
    }
    json_t *tags = json_pack("{s:s}", "type", "Control Service");
    struct stream_listener *l = stream_listen(c->node, service, 1, tags, tls, on_mesh_accept, c, err, errlen);
    json_decref(tags);
    if (!l)
        return -1;
    c->mesh[c->nmesh++] = l;
    return 0;
}

void control_free(struct control *c)
{
    for (int i = 0; i < c->nmesh; i++)
        stream_listener_close(c->mesh[i]);
    while (c->sessions)
        session_close(c->sessions);
    while (c->handshakes) {
        struct control_handshake *h = c->handshakes;
        c->handshakes = h->next;
        c->nhandshakes--;
        h->ctl = NULL;
        bstream_close(h->bs);
    }
    while (c->listeners) {
        struct control_listener *l = c->listeners;
        c->listeners = l->next;
        if (l->is_unix && l->path)
            unlink(l->path);
        uv_close((uv_handle_t *)&l->h, listener_freed);
    }
    free(c);
}
