/* session.c - listeners and sessions of the control service: greeting,
 * line framing ("\r" dropped, empty lines ignored), plain/JSON dispatch
 * through the command table, bounded replies. */
#include "control/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/gojson.h"
#include "core/log.h"
#include "net/tcp.h"

#define WRITE_BACKLOG_MAX (4u << 20)

struct ctl_listener {
    union { uv_pipe_t pipe; uv_tcp_t tcp; } h;
    struct control *ctl;
    int is_unix;
    int lock_fd;
    char *path;
    struct ctl_listener *next;
};

struct ctl_session {
    union { uv_pipe_t pipe; uv_tcp_t tcp; } h;
    struct control *ctl;
    struct buf in;
    size_t backlog;
    int busy;           /* a command is running */
    int closing;
    int reading;
    int is_unix;
    int in_dispatch;    /* inside run_line: replies must not recurse */
    void (*cancel)(void *);
    void *cancel_arg;
    struct ctl_session *next;
};

struct control {
    struct node *node;
    struct control_hooks hooks;
    struct ctl_listener *listeners;
    struct ctl_session *sessions;
};

struct write_req {
    uv_write_t req;
    struct ctl_session *s;
    size_t len;
    char data[];
};

static void session_process(struct ctl_session *s);
static void session_close(struct ctl_session *s);

struct node *ctl_node(struct ctl_session *s) { return s->ctl->node; }
const struct control_hooks *ctl_hooks(struct ctl_session *s) { return &s->ctl->hooks; }

/* ---- output --------------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct ctl_session *s = w->s;
    s->backlog -= w->len;
    free(w);
    if (status < 0)
        session_close(s);
    else if (!s->busy && !s->closing)
        session_process(s);
}

static void session_write(struct ctl_session *s, const char *data, size_t len)
{
    if (s->closing)
        return;
    struct write_req *w = malloc(sizeof *w + len);
    if (!w) {
        session_close(s);
        return;
    }
    memcpy(w->data, data, len);
    w->s = s;
    w->len = len;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&s->h, &b, 1, on_write) < 0) {
        free(w);
        session_close(s);
        return;
    }
    s->backlog += len;
}

static void command_done(struct ctl_session *s)
{
    s->busy = 0;
    s->cancel = NULL;
    /* continue with buffered lines once this reply is on its way (the
     * dispatch loop does it itself for commands that finished at once) */
    if (!s->in_dispatch && s->backlog < WRITE_BACKLOG_MAX)
        session_process(s);
}

void ctl_reply_json(struct ctl_session *s, json_t *obj, int sort_keys)
{
    struct buf b;
    buf_init(&b, 64u << 20);
    if (gojson_dump(obj, sort_keys ? GOJSON_SORT_KEYS : 0, &b) == 0 && buf_append(&b, "\n", 1) == 0)
        session_write(s, (const char *)buf_head(&b), buf_size(&b));
    else
        session_write(s, "ERROR: reply too large\n", 23);
    buf_free(&b);
    json_decref(obj);
    command_done(s);
}

void ctl_reply_error(struct ctl_session *s, const char *fmt, ...)
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

void ctl_set_pending(struct ctl_session *s, void (*cancel)(void *), void *arg)
{
    s->cancel = cancel;
    s->cancel_arg = arg;
}

void ctl_clear_pending(struct ctl_session *s) { s->cancel = NULL; }

/* ---- dispatch --------------------------------------------------------------- */

static const struct control_command *find_command(const char *name)
{
    for (const struct control_command *c = control_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static void run_json_line(struct ctl_session *s, const char *line, size_t len)
{
    json_error_t je;
    json_t *cmd = json_loadb(line, len, 0, &je);
    const char *name = NULL;
    char err[300];
    err[0] = 0;
    if (!cmd)
        snprintf(err, sizeof err, "%s", je.text);
    else if (!json_object_get(cmd, "command"))
        snprintf(err, sizeof err, "JSON did not contain a command");
    else if (!json_is_string(json_object_get(cmd, "command")))
        snprintf(err, sizeof err, "command must be a string");
    else
        name = json_string_value(json_object_get(cmd, "command"));
    if (err[0]) {
        char out[400];
        int n = snprintf(out, sizeof out, "ERROR: %s\n", err);
        session_write(s, out, (size_t)n);
    }
    const struct control_command *c = name ? find_command(name) : NULL;
    if (!c) {
        json_decref(cmd);
        ctl_reply_error(s, "Unknown command");
        return;
    }
    c->run(s, NULL, cmd);
    json_decref(cmd);
}

static void run_plain_line(struct ctl_session *s, char *line)
{
    char *sp = strchr(line, ' ');
    const char *params = "";
    if (sp) {
        *sp = 0;
        params = sp + 1;
    }
    for (char *p = line; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    const struct control_command *c = find_command(line);
    if (!c) {
        ctl_reply_error(s, "Unknown command");
        return;
    }
    c->run(s, params, NULL);
}

static void run_line(struct ctl_session *s, char *line, size_t len)
{
    s->busy = 1;
    s->in_dispatch = 1;
    log_debug("Control service command: %.200s", line);
    if (line[0] == '{')
        run_json_line(s, line, len);
    else
        run_plain_line(s, line);
    s->in_dispatch = 0;
}

/* Takes the next complete line out of the input buffer, dropping "\r";
 * returns its length or -1 when no full line is buffered. */
static ssize_t next_line(struct ctl_session *s, char **out)
{
    uint8_t *p = buf_head(&s->in);
    size_t n = buf_size(&s->in);
    if (n == 0)
        return -1;
    uint8_t *nl = memchr(p, '\n', n);
    if (!nl)
        return -1;
    size_t len = (size_t)(nl - p);
    char *line = malloc(len + 1);
    if (!line)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\r')
            line[k++] = (char)p[i];
    line[k] = 0;
    buf_consume(&s->in, len + 1);
    *out = line;
    return (ssize_t)k;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b);

static void set_reading(struct ctl_session *s, int on)
{
    if (on == s->reading || s->closing)
        return;
    s->reading = on;
    if (on)
        uv_read_start((uv_stream_t *)&s->h, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&s->h);
}

static void session_process(struct ctl_session *s)
{
    while (!s->busy && !s->closing && s->backlog < WRITE_BACKLOG_MAX) {
        char *line;
        ssize_t len = next_line(s, &line);
        if (len < 0)
            break;
        if (len > 0)
            run_line(s, line, (size_t)len);
        free(line);
    }
    if (!s->busy && buf_size(&s->in) >= CONTROL_MAX_LINE) {
        log_warning("Control service: closing session: command line longer than %d bytes",
                    CONTROL_MAX_LINE);
        session_write(s, "ERROR: command line too long\n", 29);
        session_close(s);
        return;
    }
    set_reading(s, !s->busy && s->backlog < WRITE_BACKLOG_MAX);
}

/* ---- sessions ------------------------------------------------------------ */

static void session_freed(uv_handle_t *h)
{
    struct ctl_session *s = h->data;
    buf_free(&s->in);
    free(s);
}

static void session_close(struct ctl_session *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    if (s->cancel) {
        void (*cancel)(void *) = s->cancel;
        s->cancel = NULL;
        cancel(s->cancel_arg);
    }
    struct ctl_session **pp = &s->ctl->sessions;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    uv_close((uv_handle_t *)&s->h, session_freed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct ctl_session *s = h->data;
    size_t want = buf_room(&s->in);
    if (want > 65536)
        want = 65536;
    uint8_t *p = want ? buf_reserve(&s->in, want) : NULL;
    *out = uv_buf_init((char *)p, p ? (unsigned)want : 0);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct ctl_session *s = st->data;
    if (n < 0) {
        session_close(s);
        return;
    }
    buf_commit(&s->in, (size_t)n);
    session_process(s);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct ctl_listener *l = server->data;
    if (status < 0)
        return;
    struct ctl_session *s = calloc(1, sizeof *s);
    if (!s)
        return;
    s->ctl = l->ctl;
    s->is_unix = l->is_unix;
    buf_init(&s->in, CONTROL_MAX_LINE);
    if (l->is_unix)
        uv_pipe_init(server->loop, &s->h.pipe, 0);
    else
        uv_tcp_init(server->loop, &s->h.tcp);
    s->h.pipe.data = s;
    if (uv_accept(server, (uv_stream_t *)&s->h) != 0) {
        s->closing = 1;
        uv_close((uv_handle_t *)&s->h, session_freed);
        return;
    }
    s->next = l->ctl->sessions;
    l->ctl->sessions = s;
    char greeting[512];
    int len = snprintf(greeting, sizeof greeting, "Receptor Control, node %s\n", node_id(l->ctl->node));
    session_write(s, greeting, (size_t)len);
    set_reading(s, 1);
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

static struct ctl_listener *listener_new(struct control *c, int is_unix)
{
    struct ctl_listener *l = calloc(1, sizeof *l);
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
    struct ctl_listener *l = h->data;
    if (l->lock_fd >= 0)
        close(l->lock_fd);
    free(l->path);
    free(l);
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
    struct ctl_listener *l = listener_new(c, 1);
    l->lock_fd = fd;
    l->path = strdup(path);
    int rc = uv_pipe_bind(&l->h.pipe, path);
    if (rc == 0 && chmod(path, (mode_t)perms) < 0)
        rc = -errno;
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->h, 64, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *)&l->h, listener_freed);
        return -1;
    }
    l->next = c->listeners;
    c->listeners = l;
    log_debug("Control service listening on unix socket %s", path);
    return 0;
}

int control_listen_tcp(struct control *c, const char *addr, char *err, size_t errlen)
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
    struct ctl_listener *l = listener_new(c, 0);
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

void control_free(struct control *c)
{
    while (c->sessions)
        session_close(c->sessions);
    while (c->listeners) {
        struct ctl_listener *l = c->listeners;
        c->listeners = l->next;
        if (l->is_unix && l->path)
            unlink(l->path);
        uv_close((uv_handle_t *)&l->h, listener_freed);
    }
    free(c);
}
