/* Fuzzes the TCP framer: the input is split into reads at the positions the
 * first bytes choose, and every delivered frame must lie inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/framer.h"

static int on_frame(void *arg, const uint8_t *msg, size_t len)
{
    size_t *total = arg;
    if (len > 65535)
        abort();
    if (len)
        (void)msg[len - 1];
    *total += len + 2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1;
    data++;
    size--;
    struct framer fr;
    framer_init(&fr);
    size_t total = 0;
    for (size_t off = 0; off < size;) {
        size_t room;
        uint8_t *p = framer_space(&fr, &room);
        if (!p)
            abort();
        size_t k = step < room ? step : room;
        if (k > size - off)
            k = size - off;
        memcpy(p, data + off, k);
        framer_commit(&fr, k, on_frame, &total);
        off += k;
    }
    if (total > size)
        abort();
    framer_free(&fr);
    return 0;
}
