/* kube_http.h - HTTPS requests to a Kubernetes API server on the daemon's
 * libuv loop: libcurl's multi interface driven by curl_multi_socket_action
 * from uv_poll and uv_timer handles, so no request ever blocks the loop.
 *
 * libcurl (the GnuTLS flavour) is mapped with dlopen the first time a
 * kubernetes unit talks to its API server: a node without kubernetes work
 * never maps libcurl or the libraries under it.
 *
 * A request either collects its response body (bounded by max_body) and
 * hands it to on_done, or, with stream set and a 2xx status, hands the body
 * to on_data as it arrives (watches, followed logs); a non-2xx streamed
 * response is collected like any other so the caller sees the Status.
 * After on_done the request is gone; kube_req_cancel() drops a request
 * without calling anything.
 *
 * kube_req_connect() opens a raw connection (TLS and client certificate as
 * for any request) for the caller to speak its own protocol over: the
 * pods/attach WebSocket (kube_ws.c). */
#ifndef WORK_KUBE_HTTP_H
#define WORK_KUBE_HTTP_H

#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#include "work/kube_config.h"

struct kube_http;
struct kube_req;

struct kube_req_opts {
    const struct kube_conn *conn;
    const char *method;          /* GET, POST, DELETE */
    const char *path;            /* /api/v1/..., with its query */
    const char *body;            /* request body (JSON), or NULL */
    size_t body_len;
    int stream;                  /* deliver a 2xx body through on_data */
    size_t max_body;             /* collected bodies: larger fails the request */
    long timeout_ms;             /* whole request; 0: none */
    /* Streamed data; return 0 to go on, -1 to abort the request (on_done
     * then reports err "aborted"). */
    int (*on_data)(void *arg, const char *data, size_t len);
    /* status: the HTTP status (0 when no response); err: NULL or why the
     * request failed (connection, TLS, too large, aborted). */
    void (*on_done)(void *arg, long status, const char *body, size_t len, const char *err);
    /* Optional: kube_http_free drops a request still under way and calls
     * this instead of on_done (for requests nobody else will cancel). */
    void (*on_drop)(void *arg);
    void *arg;
};

/* The loop's HTTP engine (created, and libcurl mapped, on first use). */
struct kube_http *kube_http_new(uv_loop_t *loop, char *err, size_t errlen);
void kube_http_free(struct kube_http *h);

struct kube_req *kube_req_start(struct kube_http *h, const struct kube_req_opts *o, char *err,
                                size_t errlen);
void kube_req_cancel(struct kube_req *r);

/* A raw connection to conn's server: on_done is called with status 0 and
 * err NULL once connected (then kube_req_fd/send/recv work until
 * kube_req_cancel), or with err. */
struct kube_req *kube_req_connect(struct kube_http *h, const struct kube_conn *conn,
                                  void (*on_done)(void *arg, long status, const char *body,
                                                  size_t len, const char *err),
                                  void *arg, char *err, size_t errlen);
int kube_req_fd(struct kube_req *r);
/* Bytes sent/received (>= 0), -2 when it would block, -1 on error/EOF
 * (recv returns 0 at EOF). */
ssize_t kube_req_send(struct kube_req *r, const void *buf, size_t len);
ssize_t kube_req_recv(struct kube_req *r, void *buf, size_t len);

#endif
