/* Fuzzes every netceptor message decoder, and re-encodes what decodes. */
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mesh/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct buf out;
    buf_init(&out, 1u << 20);
    char err[200];
    switch (data[0] & 3) {
    case MSG_DATA: {
        struct msg_data d;
        const char *e;
        if (msg_data_decode(data, size, &d, &e) == 0) {
            uint8_t hdr[MSG_DATA_HEADER];
            msg_data_header(&d, hdr);
            struct msg_unreach u;
            if (msg_unreach_decode(d.payload, d.len, &u) == 0) {
                msg_unreach_encode(&u, &out);
                msg_unreach_free(&u);
            }
        }
        break;
    }
    case MSG_ROUTE: {
        struct msg_route r;
        if (msg_route_decode(data + 1, size - 1, &r, err, sizeof err) == 0) {
            msg_route_encode(&r, &out);
            msg_route_free(&r);
        }
        break;
    }
    case MSG_SERVICE_AD: {
        struct msg_ad a;
        if (msg_ad_decode(data + 1, size - 1, &a, err, sizeof err) == 0) {
            msg_ad_encode(&a, &out, 1, 1);
            msg_ad_free(&a);
        }
        break;
    }
    default:
        break;
    }
    buf_free(&out);
    return 0;
}
