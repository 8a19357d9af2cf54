/* fuzz_metrics_http.c - libFuzzer target for the metrics endpoint's HTTP
 * request parser (src/control/metrics_http.c): every byte a client sends
 * to the metrics port goes through it.
 *
 * The input is fed as a connection would deliver it, growing one prefix
 * at a time (every prefix is parsed, as after each read).  Checks: a
 * decision, once made, never changes when more bytes arrive; a head that
 * reached METRICS_HTTP_MAX_REQUEST bytes is always decided; only a GET or
 * HEAD of /metrics is answered with the metrics.  Memory errors and
 * undefined behaviour are the sanitizers'.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/control/fuzz_metrics_http
 *   build-fuzz/tests/fuzz/control/fuzz_metrics_http corpus -max_total_time=300 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * METRICS_HTTP_MAX_REQUEST)
        size = 2 * METRICS_HTTP_MAX_REQUEST;
    /* a copy of exactly the bytes, so reads past them are caught */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    enum metrics_http_result first = METRICS_HTTP_INCOMPLETE;
    size_t step = size > 512 ? size / 64 : 1;
    for (size_t len = 0; len <= size; len += step) {
        enum metrics_http_result r = metrics_http_parse(copy, len);
        if (first == METRICS_HTTP_INCOMPLETE)
            first = r;
        else if (r != first)
            abort(); /* a decided request changed its mind */
        if (len >= METRICS_HTTP_MAX_REQUEST && r == METRICS_HTTP_INCOMPLETE)
            abort(); /* an oversized head must be refused */
        if ((r == METRICS_HTTP_OK || r == METRICS_HTTP_HEAD) &&
            memcmp(copy, r == METRICS_HTTP_OK ? "GET /metrics" : "HEAD /metrics",
                   r == METRICS_HTTP_OK ? 12 : 13) != 0)
            abort();
        if (r != METRICS_HTTP_OK && r != METRICS_HTTP_HEAD && r != METRICS_HTTP_INCOMPLETE &&
            !metrics_http_status(r))
            abort();
    }
    free(copy);
    return 0;
}
