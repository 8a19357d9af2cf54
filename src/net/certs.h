/* certs.h - upstream's certificate utility commands (spec 7.5):
 * `cert-init` (a CA), `cert-makereq` (a CSR with Receptor node-ID names),
 * `cert-signreq` (a certificate from a CSR), with GnuTLS X.509 APIs.
 *
 * Outputs match upstream's: PEM blocks `CERTIFICATE`, `RSA PRIVATE KEY`
 * (PKCS#1) and `CERTIFICATE REQUEST`, files written with mode 0600; RSA
 * keys; SHA-256 signatures; serial numbers = the current Unix time; the
 * subjectAltName built by tls_san_encode() (DNS names, IPs, node IDs, with
 * proper DER).  Errors carry upstream's texts where upstream has one
 * ("must provide either InKey or OutKey", "cannot sign: no names found in
 * certificate", "user declined", ...). */
#ifndef NET_CERTS_H
#define NET_CERTS_H

#include <stddef.h>
#include <stdio.h>

struct certs_init_opts {
    const char *commonname;
    long bits;
    const char *notbefore, *notafter;   /* RFC 3339 or NULL */
    const char *outcert, *outkey;
};

struct certs_req_opts {
    const char *commonname;
    long bits;                          /* 0 = not given */
    const char *const *dns;
    size_t ndns;
    const char *const *ips;
    size_t nips;
    const char *const *nodes;
    size_t nnodes;
    const char *outreq, *inkey, *outkey;
};

struct certs_sign_opts {
    const char *req, *cacert, *cakey, *outcert;
    const char *notbefore, *notafter;
    int verify;                         /* 1: do not prompt */
    FILE *in, *out;                     /* the prompt's terminal (stdin/stdout) */
};

int certs_init(const struct certs_init_opts *o, char *err, size_t errlen);
int certs_makereq(const struct certs_req_opts *o, char *err, size_t errlen);
int certs_signreq(const struct certs_sign_opts *o, char *err, size_t errlen);

#endif
