/* Fuzzes the datagram -> QUIC path: each input is split into datagrams
 * (2-byte length prefixes) handed to a stream listener as if they came
 * over the mesh from one remote service; then the loop runs its timers
 * once and every connection is dropped. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "mesh/node.h"
#include "stream/stream.h"

static uv_loop_t loop;
static struct node *node;
static struct stream_listener *listener;

static void on_accept(void *arg, struct bstream *bs, const char *remote)
{
    (void)arg;
    (void)remote;
    bstream_write(bs, "hello\n", 6);
    bstream_close(bs);
}

static void setup(void)
{
    char err[256];
    uv_loop_init(&loop);
    struct node_config cfg = { .id = "fuzz" };
    node = node_new(&loop, &cfg, err, sizeof err);
    listener = stream_listen(node, "control", 0, NULL, NULL, on_accept, NULL, err, sizeof err);
    if (!node || !listener)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!listener)
        setup();
    static unsigned n;
    char service[9];
    snprintf(service, sizeof service, "f%07u", n++ % 10000000);
    while (size >= 2) {
        size_t len = (size_t)data[0] | ((size_t)data[1] << 8);
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        stream_listener_receive(listener, "peer", service, data, len);
        data += len;
        size -= len;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    stream_listener_reset(listener);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
