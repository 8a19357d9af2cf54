/* metrics.c - the metrics endpoint: listener, connections, and the
 * exposition text (see metrics.h).
 *
 * Each connection reads into a fixed buffer of METRICS_HTTP_MAX_REQUEST
 * bytes until metrics_http_parse() decides, answers once with
 * "Connection: close", and closes after the write completes.  One timer per
 * connection bounds the whole request (METRICS_IDLE_MS, not reset by
 * reads, so a client trickling bytes is closed all the same) and then the
 * response write. */
#include "control/metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "control/control.h"
#include "control/metrics_http.h"
#include "core/log.h"
#include "mesh/node.h"
#include "net/tlsconf.h"
#include "work/workceptor.h"

#define METRICS_WRITE_MS 30000       /* to take the answer and close */
#define METRICS_LINGER_MAX (1u << 20) /* bytes discarded after the answer */

struct mconn {
    struct metrics *m;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    uv_shutdown_t sd;
    size_t discarded;          /* bytes read after the answer */
    char in[METRICS_HTTP_MAX_REQUEST];
    size_t inlen;
    struct buf out;
    int handles;
    int closing;
    int answered;
    struct mconn *prev, *next;
};

struct metrics {
    struct metrics_sources src;
    uv_tcp_t listener;
    struct mconn *conns;
    int nconns;
    int freeing;
    uint64_t scrapes;
};

/* ---- exposition text ------------------------------------------------------- */

/* The text being built; one failed append (the body limit) fails the
 * whole scrape rather than serving a truncated text. */
struct mout {
    struct buf *b;
    int failed;
};

static void out_append(struct mout *o, const void *p, size_t n)
{
    if (!o->failed && buf_append(o->b, p, n) < 0)
        o->failed = 1;
}

static void out_str(struct mout *o, const char *s) { out_append(o, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void out_printf(struct mout *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        o->failed = 1;
    else
        out_append(o, tmp, (size_t)n);
}


static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2
              : (*s & 0xf8) == 0xf0 ? 3 : -1;
        if (n < 0)
            return 0;
        s++;
        for (int i = 0; i < n; i++, s++)
            if ((*s & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

/* A label value as the text format wants it: \\, \", \n escaped; other
 * control bytes, and every non-ASCII byte of a text that is not UTF-8,
 * become '?', so a peer's odd node ID cannot break a scrape. */
static void put_label_value(struct mout *b, const char *v)
{
    int utf8 = utf8_valid((const unsigned char *)v);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '\\' || *p == '"')
            out_printf(b, "\\%c", *p);
        else if (*p == '\n')
            out_str(b, "\\n");
        else if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8))
            out_str(b, "?");
        else
            out_append(b, p, 1);
    }
}

static void put_family(struct mout *b, const char *name, const char *type, const char *help)
{
    out_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} value; labels: NULL-terminated key, value pairs. */
static void put_sample(struct mout *b, const char *name, const char *const *labels, double value)
{
    out_str(b, name);
    if (labels && labels[0]) {
        out_str(b, "{");
        for (size_t i = 0; labels[i]; i += 2) {
            out_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
            put_label_value(b, labels[i + 1]);
            out_str(b, "\"");
        }
        out_str(b, "}");
    }
    out_printf(b, " %.17g\n", value);
}

static void put_one(struct mout *b, const char *name, const char *type, const char *help, double v)
{
    put_family(b, name, type, help);
    put_sample(b, name, NULL, v);
}

struct peer_walk {
    struct mout *b;
    const char *name;
    int field;     /* 0 up, 1 cost, 2 bytes in, 3 bytes out, 4 frames in, 5 frames out */
    unsigned established, handshaking;
};

static void on_peer(void *arg, const struct node_peer_stats *st)
{
    struct peer_walk *w = arg;
    if (!st->peer) {
        w->handshaking++;
        return;
    }
    w->established++;
    double v[] = { 1, st->cost, (double)st->bytes_in, (double)st->bytes_out,
                   (double)st->frames_in, (double)st->frames_out };
    const char *labels[] = { "peer", st->peer, NULL };
    put_sample(w->b, w->name, labels, v[w->field]);
}

static void render_peers(struct node *n, struct mout *b)
{
    static const struct { const char *name, *type, *help; } fam[] = {
        { "receptor_peer_up", "gauge", "1 for each peer with an established connection" },
        { "receptor_peer_cost", "gauge", "Cost of the connection to the peer" },
        { "receptor_peer_received_bytes_total", "counter", "Mesh message bytes received from the peer on this connection" },
        { "receptor_peer_sent_bytes_total", "counter", "Mesh message bytes queued to the peer on this connection" },
        { "receptor_peer_received_frames_total", "counter", "Mesh messages received from the peer on this connection" },
        { "receptor_peer_sent_frames_total", "counter", "Mesh messages queued to the peer on this connection" },
    };
    struct peer_walk w = { .b = b };
    for (int f = 0; f < 6; f++) {
        put_family(b, fam[f].name, fam[f].type, fam[f].help);
        w.name = fam[f].name;
        w.field = f;
        w.established = w.handshaking = 0;
        node_foreach_peer(n, on_peer, &w);
    }
    put_family(b, "receptor_connections", "gauge", "Backend connections by state of the connection protocol");
    put_sample(b, "receptor_connections", (const char *[]){ "state", "established", NULL }, w.established);
    put_sample(b, "receptor_connections", (const char *[]){ "state", "handshake", NULL }, w.handshaking);
}

static void render_mesh(struct node *n, struct mout *b)
{
    put_family(b, "receptor_info", "gauge", "This node");
    put_sample(b, "receptor_info", (const char *[]){ "node_id", node_id(n), "version", RECEPTOR_VERSION, NULL }, 1);
    put_one(b, "receptor_known_nodes", "gauge", "Nodes in the routing database, this one included",
            (double)node_known_count(n));
    render_peers(n, b);
    put_family(b, "receptor_ping_rtt_seconds", "gauge", "Round-trip time of the last ping answered, per target node");
    const char *k;
    json_t *v;
    json_object_foreach(node_ping_rtts(n), k, v)
        put_sample(b, "receptor_ping_rtt_seconds", (const char *[]){ "target", k, NULL }, json_number_value(v));
    const struct node_counters *c = node_counters(n);
    put_one(b, "receptor_routing_updates_received_total", "counter",
            "Routing update messages received from peers", (double)c->route_updates_received);
    put_one(b, "receptor_routing_updates_sent_total", "counter",
            "Routing update messages sent to peers (one per link)", (double)c->route_updates_sent);
    put_family(b, "receptor_routing_updates_dropped_total", "counter",
               "Routing update messages not flooded on, by reason");
    for (int r = 0; r < NODE_DROP_COUNT; r++)
        put_sample(b, "receptor_routing_updates_dropped_total",
                   (const char *[]){ "reason", node_drop_reason_name((enum node_drop_reason)r), NULL },
                   (double)c->route_updates_dropped[r]);
    put_one(b, "receptor_route_recomputations_total", "counter", "Shortest-path recomputations",
            (double)c->route_recomputations);
}

/* ---- work ---------------------------------------------------------------- */

#define NSTATES 5

static void on_type(void *arg, const char *worktype)
{
    json_t *o = arg;
    if (!json_object_get(o, worktype))
        json_object_set_new(o, worktype, json_pack("[iiiii]", 0, 0, 0, 0, 0));
}

static void on_unit(void *arg, const char *worktype, int state)
{
    json_t *o = arg;
    if (state < 0 || state >= NSTATES)
        return;
    on_type(o, worktype);
    json_t *a = json_object_get(o, worktype);
    json_array_set_new(a, (size_t)state, json_integer(json_integer_value(json_array_get(a, (size_t)state)) + 1));
}

static void render_work(struct workceptor *wc, struct mout *b)
{
    json_t *counts = json_object();
    workceptor_foreach_type(wc, on_type, counts);
    workceptor_foreach_unit(wc, on_unit, counts);
    put_family(b, "receptor_work_units", "gauge", "Work units known to this node, by work type and state");
    const char *type;
    json_t *a;
    json_object_foreach(counts, type, a) {
        for (int s = 0; s < NSTATES; s++) {
            char tmp[32];
            const char *st = unit_state_name(s, tmp, sizeof tmp);
            put_sample(b, "receptor_work_units", (const char *[]){ "worktype", type, "state", st, NULL },
                       (double)json_integer_value(json_array_get(a, (size_t)s)));
        }
    }
    json_decref(counts);
    put_one(b, "receptor_work_result_bytes_served_total", "counter",
            "Unit stdout bytes sent by work results", (double)workceptor_counters(wc)->result_bytes_served);
}

/* ---- TLS, control, process ---------------------------------------------------- */

static void on_tls_failure(void *arg, const char *config, int is_server, const char *reason, uint64_t count)
{
    put_sample((struct mout *)arg, "receptor_tls_handshake_failures_total",
               (const char *[]){ "config", config, "role", is_server ? "server" : "client", "reason", reason, NULL },
               (double)count);
}

static long process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "re");
    long size = 0, rss = 0;
    if (!f)
        return -1;
    int ok = fscanf(f, "%ld %ld", &size, &rss) == 2;
    fclose(f);
    return ok ? rss * sysconf(_SC_PAGESIZE) : -1;
}

static long process_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void render_process(struct mout *b)
{
    long rss = process_rss_bytes(), fds = process_open_fds();
    if (rss >= 0)
        put_one(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes", (double)rss);
    if (fds >= 0)
        put_one(b, "process_open_fds", "gauge", "Number of open file descriptors", (double)fds);
}

static void render_all(const struct metrics_sources *src, struct mout *out)
{
    render_mesh(src->node, out);
    if (src->work)
        render_work(src->work, out);
    if (src->control) {
        uint64_t open = 0, total = 0;
        control_session_counts(src->control, &open, &total);
        put_one(out, "receptor_control_sessions", "gauge", "Control service sessions open now", (double)open);
        put_one(out, "receptor_control_sessions_total", "counter", "Control service sessions opened",
                (double)total);
    }
    put_family(out, "receptor_tls_handshake_failures_total", "counter",
               "Failed TLS handshakes of TCP/WebSocket sessions, by tls-server/tls-client config and reason");
    if (src->tls)
        tlsconf_foreach_failure(src->tls, on_tls_failure, out);
    render_process(out);
}

int metrics_render(const struct metrics_sources *src, struct buf *out)
{
    struct mout o = { .b = out };
    render_all(src, &o);
    return o.failed ? -1 : 0;
}

/* ---- connections --------------------------------------------------------------- */

static void mconn_closed(uv_handle_t *h)
{
    struct mconn *c = h->data;
    if (--c->handles > 0)
        return;
    buf_free(&c->out);
    free(c);
}

static void mconn_close(struct mconn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    struct metrics *m = c->m;
    if (c->prev)
        c->prev->next = c->next;
    else
        m->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->nconns--;
    uv_close((uv_handle_t *)&c->tcp, mconn_closed);
    uv_close((uv_handle_t *)&c->timer, mconn_closed);
}

/* No whole request within METRICS_IDLE_MS, or the answer not taken
 * within METRICS_WRITE_MS: the connection goes. */
static void on_timeout(uv_timer_t *t)
{
    struct mconn *c = t->data;
    log_debug("metrics: closing an idle connection");
    mconn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct mconn *c = req->data;
    if (status < 0)
        mconn_close(c);
}

/* The answer is out: half-close, and read on (discarding) until the client
 * closes too, so a request whose tail we did not read (an oversized head)
 * does not turn our close into a reset that destroys the answer. */
static void on_written(uv_write_t *req, int status)
{
    struct mconn *c = req->data;
    if (status < 0 || c->closing) {
        mconn_close(c);
        return;
    }
    c->sd.data = c;
    if (uv_shutdown(&c->sd, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        mconn_close(c);
}

static void mconn_respond(struct mconn *c, enum metrics_http_result r)
{
    c->answered = 1;
    struct buf body;
    buf_init(&body, METRICS_MAX_BODY);
    const char *status = metrics_http_status(r);
    const char *ctype = "text/plain; charset=utf-8";
    if (!status) {
        c->m->scrapes++;
        if (metrics_render(&c->m->src, &body) == 0) {
            status = "200 OK";
            ctype = "text/plain; version=0.0.4; charset=utf-8";
        } else {
            log_error("metrics: the exposition text is over %u bytes: answering 500", METRICS_MAX_BODY);
            buf_reset(&body);
            status = "500 Internal Server Error";
        }
    }
    if (strncmp(status, "200", 3) != 0)
        buf_printf(&body, "%s\n", status);
    buf_init(&c->out, METRICS_MAX_BODY + 1024);
    buf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
               status, ctype, buf_size(&body), r == METRICS_HTTP_BAD_METHOD ? "Allow: GET, HEAD\r\n" : "");
    if (r != METRICS_HTTP_HEAD)
        buf_append(&c->out, buf_head(&body), buf_size(&body));
    buf_free(&body);
    uv_buf_t ub = uv_buf_init((char *)buf_head(&c->out), (unsigned)buf_size(&c->out));
    c->wr.data = c;
    if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written) < 0) {
        mconn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, METRICS_WRITE_MS, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct mconn *c = h->data;
    if (c->answered)
        c->inlen = 0; /* after the answer: read to discard */
    *out = uv_buf_init(c->in + c->inlen, (unsigned)(sizeof c->in - c->inlen));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *ub)
{
    (void)ub;
    struct mconn *c = s->data;
    if (c->closing)
        return;
    if (nread < 0) {
        mconn_close(c);
        return;
    }
    if (c->answered) {
        c->discarded += (size_t)nread;
        if (c->discarded > METRICS_LINGER_MAX)
            mconn_close(c);
        return;
    }
    c->inlen += (size_t)nread;
    enum metrics_http_result r = metrics_http_parse(c->in, c->inlen);
    if (r == METRICS_HTTP_INCOMPLETE && c->inlen >= sizeof c->in)
        r = METRICS_HTTP_TOO_LARGE;
    if (r != METRICS_HTTP_INCOMPLETE)
        mconn_respond(c, r);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct metrics *m = server->data;
    if (status < 0 || m->freeing)
        return;
    struct mconn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->m = m;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    buf_init(&c->out, 0);
    c->next = m->conns;
    if (m->conns)
        m->conns->prev = c;
    m->conns = c;
    m->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        mconn_close(c);
        return;
    }
    if (m->nconns > METRICS_MAX_CONNS) {
        log_warning("metrics: more than %d connections open: closing the newest", METRICS_MAX_CONNS);
        mconn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, METRICS_IDLE_MS, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- listener ---------------------------------------------------------------- */

static void metrics_closed(uv_handle_t *h) { free(h->data); }

struct metrics *metrics_new(uv_loop_t *loop, const struct metrics_sources *src, const char *address,
                            int port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (port <= 0 || port > 65535) {
        snprintf(err, errlen, "metrics: port %d is not between 1 and 65535", port);
        return NULL;
    }
    if (uv_ip4_addr(address, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(address, port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "metrics: address '%s' is not an IPv4 or IPv6 address", address);
        return NULL;
    }
    struct metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "metrics: out of memory");
        return NULL;
    }
    m->src = *src;
    uv_tcp_init(loop, &m->listener);
    m->listener.data = m;
    int rc = uv_tcp_bind(&m->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&m->listener, 64, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "metrics: cannot listen on %s port %d: %s", address, port, uv_strerror(rc));
        m->freeing = 1;
        uv_close((uv_handle_t *)&m->listener, metrics_closed);
        return NULL;
    }
    log_info("Serving metrics on http://%s%s%s:%d/metrics", strchr(address, ':') ? "[" : "", address,
             strchr(address, ':') ? "]" : "", port);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    m->freeing = 1;
    while (m->conns)
        mconn_close(m->conns);
    uv_close((uv_handle_t *)&m->listener, metrics_closed);
}
