/* proxy.c - the proxy services of spec 13: tcp-server / unix-socket-server
 * (local connections in, mesh streams out), tcp-client / unix-socket-client
 * (mesh streams in, local connections out), udp-server / udp-client
 * (datagrams both ways).
 *
 * Stream proxies accept a connection, open the other side, and hand both
 * byte streams to a bridge (core/bridge.c), which does the copying with
 * back-pressure.  While the other side is being opened the accepted side is
 * not read, so nothing is buffered.  UDP proxies keep one session per
 * source address, bounded in number and expired when idle. */
#include "stream/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bridge.h"
#include "core/log.h"
#include "core/util.h"
#include "net/tcp.h"
#include "net/tls.h"
#include "net/uvstream.h"

#define UDP_SESSIONS_MAX 1024
#define UDP_IDLE_MS 60000

struct udp_session {
    struct proxy *p;
    char key[300];                 /* source address or mesh node:service */
    struct sockaddr_storage addr;  /* udp-server: the local client */
    struct node_service *svc;      /* udp-server: ephemeral mesh service */
    char node[256], service[MSG_SERVICE_MAX + 1]; /* udp-client: mesh peer */
    uv_udp_t *sock;                /* udp-client: connected socket to address */
    int64_t last;
    struct udp_session *next;
};

struct proxy {
    struct node *node;
    struct proxy_spec spec;
    char *strings[6];
    union { uv_tcp_t tcp; uv_pipe_t pipe; uv_udp_t udp; } h;
    int has_handle;
    struct stream_listener *listener;
    struct node_service *dgram;    /* udp-client's advertised service */
    struct udp_session *sessions;
    int nsessions;
    uv_timer_t sweep;
    int has_sweep;
    int closing;
    char rbuf[65536];              /* UDP receive buffer */
};

/* ---- stream proxies ---------------------------------------------------- */

struct pending {
    struct proxy *p;
    struct bstream *in;
};

static void on_in_close_early(struct bstream *s) { (void)s; }

/* in, waiting for its other side; NULL (and in closed) when out of memory. */
static struct pending *pending_new(struct proxy *p, struct bstream *in)
{
    struct pending *pd = calloc(1, sizeof *pd);
    if (!pd) {
        bstream_close(in);
        return NULL;
    }
    pd->p = p;
    pd->in = in;
    return pd;
}

static void dialed_mesh(void *arg, struct bstream *out, const char *err)
{
    struct pending *pd = arg;
    if (!out) {
        log_warning("%s proxy: cannot reach %s:%s: %s", pd->p->spec.kind == PROXY_TCP_SERVER ? "TCP" : "Unix",
                    pd->p->spec.remotenode, pd->p->spec.remoteservice, err);
        bstream_close(pd->in);
    } else {
        bridge_start(pd->in, out, NULL, 0, NULL, NULL);
    }
    free(pd);
}

static void on_local_connection(uv_stream_t *server, int status)
{
    struct proxy *p = server->data;
    if (status < 0 || p->closing)
        return;
    int is_pipe = p->spec.kind == PROXY_UNIX_SERVER;
    struct bstream *in = uvstream_new(server->loop, is_pipe);
    if (!in)
        return;
    if (uv_accept(server, uvstream_handle(in)) != 0) {
        bstream_close(in);
        return;
    }
    uvstream_start(in);
    bstream_read_stop(in);
    if (p->spec.local_tls) {
        char err[256];
        struct bstream *t = tls_wrap(in, p->spec.local_tls, 1, NULL, NULL, server->loop,
                                     TLS_DIAL_TIMEOUT_MS, err, sizeof err);
        if (!t) {
            log_warning("TCP proxy: %s", err);
            bstream_close(in);
            return;
        }
        in = t;
        bstream_read_stop(in);
    }
    in->on_close = on_in_close_early;
    struct pending *pd = pending_new(p, in);
    if (!pd)
        return;
    if (!stream_dial(p->node, p->spec.remotenode, p->spec.remoteservice, p->spec.mesh_tls, dialed_mesh, pd)) {
        bstream_close(in);
        free(pd);
    }
}

static void connected_local(void *arg, struct bstream *out, const char *err)
{
    struct pending *pd = arg;
    if (!out) {
        log_warning("%s proxy %s: cannot connect to %s: %s",
                    pd->p->spec.kind == PROXY_TCP_CLIENT ? "TCP" : "Unix", pd->p->spec.service,
                    pd->p->spec.kind == PROXY_TCP_CLIENT ? pd->p->spec.address : pd->p->spec.filename, err);
        bstream_close(pd->in);
    } else {
        if (pd->p->spec.local_tls) {
            char host[256], port[16], terr[256];
            tcp_split_address(pd->p->spec.address, host, sizeof host, port, sizeof port);
            struct bstream *t = tls_wrap(out, pd->p->spec.local_tls, 0, host, NULL, node_loop(pd->p->node),
                                         TLS_DIAL_TIMEOUT_MS, terr, sizeof terr);
            if (!t) {
                log_warning("TCP proxy %s: %s", pd->p->spec.service, terr);
                bstream_close(out);
                bstream_close(pd->in);
                free(pd);
                return;
            }
            out = t;
        }
        bridge_start(pd->in, out, NULL, 0, NULL, NULL);
    }
    free(pd);
}

static void on_mesh_accept(void *arg, struct bstream *in, const char *remote_node)
{
    struct proxy *p = arg;
    (void)remote_node;
    struct pending *pd = pending_new(p, in);
    if (!pd)
        return;
    in->on_close = on_in_close_early;
    uv_loop_t *loop = node_loop(p->node);
    int rc = p->spec.kind == PROXY_TCP_CLIENT
                 ? uvstream_connect_tcp(loop, p->spec.address, connected_local, pd)
                 : uvstream_connect_unix(loop, p->spec.filename, connected_local, pd);
    if (rc < 0) {
        bstream_close(in);
        free(pd);
    }
}

/* The bindaddr:port a tcp-server or udp-server proxy listens on. */
static int local_addr(const struct proxy *p, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    if (uv_ip4_addr(p->spec.bindaddr, p->spec.port, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(p->spec.bindaddr, p->spec.port, (struct sockaddr_in6 *)ss) != 0) {
        snprintf(err, errlen, "invalid bind address %s", p->spec.bindaddr);
        return -1;
    }
    return 0;
}

static int start_local_listener(struct proxy *p, char *err, size_t errlen)
{
    uv_loop_t *loop = node_loop(p->node);
    int rc;
    if (p->spec.kind == PROXY_UNIX_SERVER) {
        uv_pipe_init(loop, &p->h.pipe, 0);
        p->h.pipe.data = p;
        p->has_handle = 1;
        unlink(p->spec.filename);
        rc = uv_pipe_bind(&p->h.pipe, p->spec.filename);
        if (rc == 0 && chmod(p->spec.filename, (mode_t)p->spec.permissions) < 0)
            rc = UV_EPERM;
    } else {
        struct sockaddr_storage ss;
        if (local_addr(p, &ss, err, errlen) < 0)
            return -1;
        uv_tcp_init(loop, &p->h.tcp);
        p->h.tcp.data = p;
        p->has_handle = 1;
        rc = uv_tcp_bind(&p->h.tcp, (struct sockaddr *)&ss, 0);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&p->h, 128, on_local_connection);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", p->spec.kind == PROXY_UNIX_SERVER ? p->spec.filename : "tcp-server",
                 uv_strerror(rc));
        return -1;
    }
    return 0;
}

static int start_mesh_listener(struct proxy *p, char *err, size_t errlen)
{
    json_t *tags = p->spec.kind == PROXY_TCP_CLIENT
                       ? json_pack("{s:s,s:s}", "type", "TCP Proxy", "address", p->spec.address)
                       : json_pack("{s:s,s:s}", "type", "Unix Proxy", "filename", p->spec.filename);
    p->listener = stream_listen(p->node, p->spec.service, 1, tags, p->spec.mesh_tls, on_mesh_accept, p,
                                err, errlen);
    json_decref(tags);
    return p->listener ? 0 : -1;
}

/* ---- UDP proxies ------------------------------------------------------- */

static void udp_alloc_server(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct proxy *p = h->data;
    *out = uv_buf_init(p->rbuf, sizeof p->rbuf);
}

static void udp_alloc_client(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)suggested;
    struct udp_session *s = h->data;
    *out = uv_buf_init(s->p->rbuf, sizeof s->p->rbuf);
}

static void udp_session_free(struct udp_session *s)
{
    if (s->svc)
        node_unlisten(s->p->node, s->svc);
    if (s->sock)
        uv_close((uv_handle_t *)s->sock, (uv_close_cb)free);
    free(s);
}

static struct udp_session *udp_find(struct proxy *p, const char *key)
{
    for (struct udp_session *s = p->sessions; s; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    return NULL;
}

/* A session of p for key, not yet in p's list (NULL when out of memory). */
static struct udp_session *udp_session_new(struct proxy *p, const char *key)
{
    struct udp_session *s = calloc(1, sizeof *s);
    if (s) {
        s->p = p;
        snprintf(s->key, sizeof s->key, "%s", key);
    }
    return s;
}

/* Puts a session that is ready into its proxy's list. */
static void udp_session_link(struct udp_session *s)
{
    s->next = s->p->sessions;
    s->p->sessions = s;
    s->p->nsessions++;
}

/* udp-server: replies from the mesh go back to the local client */
static void udp_server_reply(void *arg, const char *from_node, const char *from_service,
                             const uint8_t *data, size_t len)
{
    struct udp_session *s = arg;
    if (strcmp(from_node, s->p->spec.remotenode) != 0 || strcmp(from_service, s->p->spec.remoteservice) != 0)
        return;
    s->last = util_mono_ns();
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    uv_udp_try_send(&s->p->h.udp, &b, 1, (struct sockaddr *)&s->addr);
}

static void udp_server_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                            unsigned flags)
{
    (void)flags;
    struct proxy *p = h->data;
    if (n <= 0 || !addr)
        return;
    char key[INET6_ADDRSTRLEN + 8];
    char host[INET6_ADDRSTRLEN] = "";
    int port;
    if (addr->sa_family == AF_INET6) {
        uv_ip6_name((const struct sockaddr_in6 *)addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
    } else {
        uv_ip4_name((const struct sockaddr_in *)addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)addr)->sin_port);
    }
    snprintf(key, sizeof key, "%s:%d", host, port);
    struct udp_session *s = udp_find(p, key);
    if (!s) {
        if (p->nsessions >= UDP_SESSIONS_MAX) {
            log_warning("UDP proxy: too many sessions, dropping a datagram from %s", key);
            return;
        }
        s = udp_session_new(p, key);
        if (!s)
            return;
        memcpy(&s->addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
        char err[128];
        s->svc = node_listen(p->node, NULL, 0, CONN_DATAGRAM, NULL, udp_server_reply, NULL, s, err, sizeof err);
        if (!s->svc) {
            free(s);
            return;
        }
        udp_session_link(s);
    }
    s->last = util_mono_ns();
    const char *err;
    if (node_send(p->node, node_service_name(s->svc), p->spec.remotenode, p->spec.remoteservice,
                  (const uint8_t *)b->base, (size_t)n, NODE_HOPS_DEFAULT, &err) < 0)
        log_debug("UDP proxy: %s", err);
}

/* udp-client: datagrams from the local service back to the mesh peer */
static void udp_client_reply(uv_udp_t *h, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                             unsigned flags)
{
    (void)addr;
    (void)flags;
    struct udp_session *s = h->data;
    if (n <= 0)
        return;
    s->last = util_mono_ns();
    const char *err;
    node_send(s->p->node, s->p->spec.service, s->node, s->service, (const uint8_t *)b->base, (size_t)n,
              NODE_HOPS_DEFAULT, &err);
}

static void udp_client_recv(void *arg, const char *from_node, const char *from_service,
                            const uint8_t *data, size_t len)
{
    struct proxy *p = arg;
    char key[300];
    snprintf(key, sizeof key, "%s:%s", from_node, from_service);
    struct udp_session *s = udp_find(p, key);
    if (!s) {
        if (p->nsessions >= UDP_SESSIONS_MAX) {
            log_warning("UDP proxy %s: too many sessions, dropping a datagram from %s", p->spec.service, key);
            return;
        }
        char host[256], port[16];
        struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *res = NULL;
        if (tcp_split_address(p->spec.address, host, sizeof host, port, sizeof port) < 0 ||
            getaddrinfo(host, port, &hints, &res) != 0) /* numeric in practice: resolved once per session */
            return;
        s = udp_session_new(p, key);
        if (s)
            s->sock = malloc(sizeof *s->sock);
        if (!s || !s->sock) {
            freeaddrinfo(res);
            free(s ? s->sock : NULL);
            free(s);
            return;
        }
        snprintf(s->node, sizeof s->node, "%s", from_node);
        snprintf(s->service, sizeof s->service, "%s", from_service);
        uv_udp_init(node_loop(p->node), s->sock);
        s->sock->data = s;
        int rc = uv_udp_connect(s->sock, res->ai_addr);
        freeaddrinfo(res);
        if (rc == 0)
            rc = uv_udp_recv_start(s->sock, udp_alloc_client, udp_client_reply);
        if (rc != 0) {
            log_warning("UDP proxy %s: %s: %s", p->spec.service, p->spec.address, uv_strerror(rc));
            udp_session_free(s);
            return;
        }
        udp_session_link(s);
    }
    s->last = util_mono_ns();
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    uv_udp_try_send(s->sock, &b, 1, NULL);
}

static void udp_sweep(uv_timer_t *t)
{
    struct proxy *p = t->data;
    int64_t now = util_mono_ns();
    struct udp_session **pp = &p->sessions;
    while (*pp) {
        struct udp_session *s = *pp;
        if (now - s->last > (int64_t)UDP_IDLE_MS * 1000000) {
            *pp = s->next;
            p->nsessions--;
            udp_session_free(s);
        } else {
            pp = &s->next;
        }
    }
}

static int start_udp(struct proxy *p, char *err, size_t errlen)
{
    uv_loop_t *loop = node_loop(p->node);
    uv_timer_init(loop, &p->sweep);
    p->sweep.data = p;
    p->has_sweep = 1;
    uv_timer_start(&p->sweep, udp_sweep, UDP_IDLE_MS / 4, UDP_IDLE_MS / 4);
    if (p->spec.kind == PROXY_UDP_CLIENT) {
        json_t *tags = json_pack("{s:s,s:s}", "type", "UDP Proxy", "address", p->spec.address);
        p->dgram = node_listen(p->node, p->spec.service, 1, CONN_DATAGRAM, tags, udp_client_recv, NULL, p,
                               err, errlen);
        json_decref(tags);
        return p->dgram ? 0 : -1;
    }
    struct sockaddr_storage ss;
    if (local_addr(p, &ss, err, errlen) < 0)
        return -1;
    uv_udp_init(loop, &p->h.udp);
    p->h.udp.data = p;
    p->has_handle = 1;
    int rc = uv_udp_bind(&p->h.udp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_udp_recv_start(&p->h.udp, udp_alloc_server, udp_server_recv);
    if (rc != 0) {
        snprintf(err, errlen, "udp-server port %d: %s", p->spec.port, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

struct proxy *proxy_start(struct node *n, const struct proxy_spec *spec, char *err, size_t errlen)
{
    struct proxy *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->node = n;
    p->spec = *spec;
    /* own copies of the strings: the config may be freed by a reload */
    p->spec.bindaddr = p->strings[0] = dup_or_null(spec->bindaddr ? spec->bindaddr : "0.0.0.0");
    p->spec.remotenode = p->strings[1] = dup_or_null(spec->remotenode);
    p->spec.remoteservice = p->strings[2] = dup_or_null(spec->remoteservice);
    p->spec.service = p->strings[3] = dup_or_null(spec->service);
    p->spec.address = p->strings[4] = dup_or_null(spec->address);
    p->spec.filename = p->strings[5] = dup_or_null(spec->filename);
    int rc;
    switch (spec->kind) {
    case PROXY_TCP_SERVER:
    case PROXY_UNIX_SERVER:
        rc = start_local_listener(p, err, errlen);
        break;
    case PROXY_TCP_CLIENT:
    case PROXY_UNIX_CLIENT:
        rc = start_mesh_listener(p, err, errlen);
        break;
    default:
        rc = start_udp(p, err, errlen);
        break;
    }
    if (rc < 0) {
        proxy_stop(p);
        return NULL;
    }
    return p;
}

static void proxy_free_handle(uv_handle_t *h)
{
    struct proxy *p = h->data;
    if (p->has_sweep && !uv_is_closing((uv_handle_t *)&p->sweep)) {
        uv_close((uv_handle_t *)&p->sweep, proxy_free_handle);
        return;
    }
    for (int i = 0; i < 6; i++)
        free(p->strings[i]);
    free(p);
}

void proxy_stop(struct proxy *p)
{
    p->closing = 1;
    while (p->sessions) {
        struct udp_session *s = p->sessions;
        p->sessions = s->next;
        udp_session_free(s);
    }
    if (p->listener)
        stream_listener_close(p->listener);
    if (p->dgram)
        node_unlisten(p->node, p->dgram);
    if (p->spec.kind == PROXY_UNIX_SERVER && p->has_handle)
        unlink(p->spec.filename);
    if (p->has_handle) {
        uv_close((uv_handle_t *)&p->h, proxy_free_handle);
    } else if (p->has_sweep) {
        p->sweep.data = p;
        uv_close((uv_handle_t *)&p->sweep, proxy_free_handle);
    } else {
        for (int i = 0; i < 6; i++)
            free(p->strings[i]);
        free(p);
    }
}
