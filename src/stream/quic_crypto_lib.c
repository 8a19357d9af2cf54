/* quic_crypto_lib.c - see quic_crypto_lib.h.  Process-wide, loaded once. */
#include "stream/quic_crypto_lib.h"

#include <stdlib.h>
#include <string.h>

#include "core/dlib.h"
#include "core/log.h"

#ifndef NGTCP2_CRYPTO_GNUTLS_SONAME
#error "NGTCP2_CRYPTO_GNUTLS_SONAME must be set by the build"
#endif

const struct quic_crypto_lib *quic_crypto_lib(void)
{
    static struct quic_crypto_lib table;
    static int loaded;
    static const char *const names[] = {
#define QUIC_CRYPTO_LIB_NAME(f) #f,
        QUIC_CRYPTO_LIB_FUNCS(QUIC_CRYPTO_LIB_NAME)
#undef QUIC_CRYPTO_LIB_NAME
    };
    void *ptrs[sizeof names / sizeof names[0]];
    char err[512];
    _Static_assert(sizeof table == sizeof ptrs, "quic_crypto_lib table and names out of step");
    if (loaded)
        return &table;
    if (dlib_load(NGTCP2_CRYPTO_GNUTLS_SONAME, names, ptrs, sizeof names / sizeof names[0], err,
                  sizeof err) < 0) {
        log_error("%s", err);
        exit(1);
    }
    memcpy(&table, ptrs, sizeof table);
    loaded = 1;
    return &table;
}
