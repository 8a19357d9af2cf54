/* quic_tls.h - TLS 1.3 sessions for QUIC (GnuTLS via ngtcp2_crypto_gnutls):
 * ALPN "netceptor", the insecure-mode certificate and its dialer check
 * (spec 6.3). */
#ifndef STREAM_QUIC_TLS_H
#define STREAM_QUIC_TLS_H

#include <stddef.h>

#include "core/gnutls_lib.h"

#define QUIC_INSECURE_CN "netceptor-insecure-common-name"

/* A fresh self-signed RSA-2048 certificate, serial 1, CN as above, valid
 * from now - 1 min to now + 24 h (what upstream generates per listener). */
int quic_tls_insecure_server_creds(gnutls_certificate_credentials_t *out, char *err, size_t errlen);
/* Client credentials whose verification accepts the server only if some
 * certificate of its chain has the insecure CN. */
int quic_tls_insecure_client_creds(gnutls_certificate_credentials_t *out);
/* Creates a session with QUIC's TLS 1.3 priorities and ALPN netceptor. */
int quic_tls_session_new(gnutls_session_t *out, int is_server);

#endif
