/* uvstream.h - bstream over a libuv stream (unix socket pipe or TCP). */
#ifndef NET_UVSTREAM_H
#define NET_UVSTREAM_H

#include <uv.h>

#include "core/bstream.h"

/* Takes a freshly initialised, unconnected pipe (is_pipe) or TCP handle
 * owned by the returned stream: use uvstream_handle() to accept or connect
 * into it, then uvstream_start() once it is connected. */
struct bstream *uvstream_new(uv_loop_t *loop, int is_pipe);
uv_stream_t *uvstream_handle(struct bstream *s);
/* A listener's connection callback: accepts into a new stream (not yet
 * started), or NULL (logged as "<desc>: accept failed: ..." when status is
 * an error). */
struct bstream *uvstream_accept(uv_stream_t *server, int status, const char *desc);
/* Fills desc from the peer address and starts reading. */
void uvstream_start(struct bstream *s);

/* Connects to "host:port" (TCP) or a unix socket path; cb gets the started
 * stream (not yet reading) or NULL and an error text. */
typedef void (*uvstream_connect_cb)(void *arg, struct bstream *s, const char *err);
int uvstream_connect_tcp(uv_loop_t *loop, const char *address, uvstream_connect_cb cb, void *arg);
int uvstream_connect_unix(uv_loop_t *loop, const char *path, uvstream_connect_cb cb, void *arg);

#endif
