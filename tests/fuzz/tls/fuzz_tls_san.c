/* Fuzzes the certificate name code.  The first byte picks the mode:
 * 0: a subjectAltName extension value through tls_san_parse (every name
 *    reported must lie inside the input, or be a decoded BMPString);
 * 1: a whole DER certificate through GnuTLS and our node-ID / host checks;
 * 2: PEM text through the block reader;
 * 3: round trip: the input split at NUL bytes into node IDs, encoded, and
 *    parsed back: valid UTF-8 IDs must come back unchanged and in order. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "net/tls_pem.h"
#include "net/tls_san.h"
#include "net/tlsconf.h"

struct walk {
    const uint8_t *lo, *hi;
    const char *const *want;
    size_t nwant, seen;
};

static int check_name(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len)
{
    struct walk *w = arg;
    if (len == 0 && kind == TLS_SAN_NODE_ID)
        abort(); /* empty names are skipped */
    if (len && (kind != TLS_SAN_NODE_ID || w->want) && (val < w->lo || val + len > w->hi))
        abort();
    if (len)
        (void)val[len - 1];
    if (w->want && kind == TLS_SAN_NODE_ID) {
        if (w->seen >= w->nwant || strlen(w->want[w->seen]) != len || memcmp(w->want[w->seen], val, len) != 0)
            abort();
        w->seen++;
    }
    return 0;
}

static void fuzz_san(const uint8_t *data, size_t size)
{
    struct walk w = { data, data + size, NULL, 0, 0 };
    char err[256];
    tls_san_parse(data, size, check_name, &w, err, sizeof err);
}

static void fuzz_cert(const uint8_t *data, size_t size)
{
    char names[256], err[256];
    int found = 0;
    tlsconf_cert_node_ids(data, size, "node1", &found, names, sizeof names, err, sizeof err);
    tlsconf_check_host(data, size, "localhost", err, sizeof err);
    tlsconf_check_host(data, size, "127.0.0.1", err, sizeof err);
}

static void fuzz_pem(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    struct tls_pem_block b;
    char err[64];
    for (int i = 0; i < 64 && tls_pem_next((const char *)data, size, &pos, &b, err, sizeof err) == 1; i++) {
        if (pos > size)
            abort();
        gnutls_free(b.der.data);
    }
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    const char *ids[64];
    size_t n = 0;
    if (!copy)
        return;
    memcpy(copy, data, size);
    copy[size] = 0;
    for (char *p = copy; p < copy + size && n < 64; p += strlen(p) + 1)
        if (*p && utf8_valid(p, strlen(p)))
            ids[n++] = p;
    struct buf b;
    char err[256];
    buf_init(&b, TLS_SAN_MAX);
    if (tls_san_encode(&b, NULL, 0, NULL, 0, ids, n, err, sizeof err) == 0) {
        struct walk w = { buf_head(&b), buf_head(&b) + buf_size(&b), ids, n, 0 };
        if (tls_san_parse(buf_head(&b), buf_size(&b), check_name, &w, err, sizeof err) != 0 || w.seen != n)
            abort();
    }
    buf_free(&b);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 4;
    data++;
    size--;
    if (mode == 0)
        fuzz_san(data, size);
    else if (mode == 1)
        fuzz_cert(data, size);
    else if (mode == 2)
        fuzz_pem(data, size);
    else
        fuzz_roundtrip(data, size);
    return 0;
}
