/* tls_pem.h - PEM files as upstream reads them (Go's encoding/pem): a
 * sequence of "-----BEGIN TYPE-----" ... "-----END TYPE-----" blocks, text
 * before a block ignored, base64 bodies decoded with GnuTLS.
 *
 * Used for CA bundles (every CERTIFICATE block, bad ones skipped, as Go's
 * AppendCertsFromPEM), for the startup node-ID check (the first block of
 * a certificate file) and by the certificate commands (typed blocks).
 * Files are read whole with a size bound. */
#ifndef NET_TLS_PEM_H
#define NET_TLS_PEM_H

#include <stddef.h>

#include "core/gnutls_lib.h"

struct tls_pem_block {
    char type[64];        /* "CERTIFICATE", "RSA PRIVATE KEY", ... */
    gnutls_datum_t der;   /* decoded body; free with gnutls_free(der.data) */
};

/* Reads a whole file (at most max bytes) into out (NUL-terminated,
 * gnutls_free it).  -1 with "open PATH: reason" / "PATH: file larger than
 * N bytes" in err. */
int tls_pem_read_file(const char *path, size_t max, gnutls_datum_t *out, char *err, size_t errlen);

/* Decodes the next block of text[*pos..len).  1 with a block (and *pos
 * moved past it), 0 when only whitespace is left, -1 with err when there is
 * text but no decodable block ("failed to decode PEM block"). */
int tls_pem_next(const char *text, size_t len, size_t *pos, struct tls_pem_block *out,
                 char *err, size_t errlen);

/* Writes data to path with mode 0600 (created or truncated), as Go's
 * os.WriteFile(path, data, 0600).  -1 with err. */
int tls_pem_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
