/* tls_pem.h - PEM files as upstream reads them (Go's encoding/pem): a
 * sequence of "-----BEGIN TYPE-----" ... "-----END TYPE-----" blocks, text
 * before a block ignored, base64 bodies decoded with GnuTLS.
 *
 * Used for CA bundles (every CERTIFICATE block, bad ones skipped, as Go's
 * AppendCertsFromPEM), for the startup node-ID check (the first block of
 * a certificate file), by the certificate commands (typed blocks) and, with
 * the strict key-file reader below, for the work-signing keys (work/sign.c,
 * upstream's LoadFromPEMFile).  Files are read whole with a size bound. */
#ifndef NET_TLS_PEM_H
#define NET_TLS_PEM_H

#include <stdbool.h>
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

/* Reads a key file whole as Go's os.ReadFile does (any kind of file: Go's
 * "open PATH: ..." / "read PATH: is a directory" texts), at most max bytes
 * ("PATH: key file is larger than N bytes").  malloc'ed; *len its size. */
char *tls_pem_read_key_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* The next block of a key file text p[0..n), strictly: text before a line
 * starting "-----BEGIN " is skipped, but the block itself must be whole (an
 * END line of exactly "-----END TYPE-----", no header lines such as an
 * encrypted key's "Proc-Type:", a body GnuTLS decodes).  0 with *out (free
 * out->der.data with gnutls_free) and *used past the block, or -1. */
int tls_pem_next_key_block(const char *p, size_t n, struct tls_pem_block *out, size_t *used);

/* True when p[0..n) holds only spaces, tabs, CRs and LFs. */
bool tls_pem_blank(const char *p, size_t n);

/* Writes data to path with mode 0600 (created or truncated), as Go's
 * os.WriteFile(path, data, 0600).  -1 with err. */
int tls_pem_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
