/* kube_ws.h - sends a file as the stdin of a pod's container through the
 * pods/attach WebSocket (v5.channel.k8s.io, v4.channel.k8s.io); see
 * kube_ws.c. */
#ifndef WORK_KUBE_WS_H
#define WORK_KUBE_WS_H

#include <stddef.h>
#include <uv.h>

#include "work/kube_http.h"

struct kube_ws;

struct kube_ws_opts {
    const struct kube_conn *conn;
    const char *path;             /* .../pods/NAME/attach?container=worker&stdin=true */
    int stdin_fd;                 /* read to its end; the caller closes it */
    /* err NULL: all of stdin was delivered and the attach closed. */
    void (*on_done)(void *arg, const char *err);
    void *arg;
};

struct kube_ws *kube_ws_start(struct kube_http *h, uv_loop_t *loop, const struct kube_ws_opts *o,
                              char *err, size_t errlen);
/* Stops (if running) and frees; no callback afterwards. */
void kube_ws_cancel(struct kube_ws *w);

#endif
