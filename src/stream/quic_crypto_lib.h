/* quic_crypto_lib.h - ngtcp2's GnuTLS glue, mapped on first use.
 *
 * libngtcp2_crypto_gnutls pulls GnuTLS in with it, so like GnuTLS itself
 * (core/gnutls_lib.h) it is loaded only when the node first speaks QUIC.
 * quic.c includes this header instead of <ngtcp2/ngtcp2_crypto_gnutls.h>; the
 * macros below call the library through the table quic_crypto_lib() fills. */
#ifndef STREAM_QUIC_CRYPTO_LIB_H
#define STREAM_QUIC_CRYPTO_LIB_H

#include "core/gnutls_lib.h"

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#define QUIC_CRYPTO_LIB_FUNCS(X) \
    X(ngtcp2_crypto_client_initial_cb) \
    X(ngtcp2_crypto_decrypt_cb) \
    X(ngtcp2_crypto_delete_crypto_aead_ctx_cb) \
    X(ngtcp2_crypto_delete_crypto_cipher_ctx_cb) \
    X(ngtcp2_crypto_encrypt_cb) \
    X(ngtcp2_crypto_get_path_challenge_data_cb) \
    X(ngtcp2_crypto_gnutls_configure_client_session) \
    X(ngtcp2_crypto_gnutls_configure_server_session) \
    X(ngtcp2_crypto_hp_mask_cb) \
    X(ngtcp2_crypto_recv_client_initial_cb) \
    X(ngtcp2_crypto_recv_crypto_data_cb) \
    X(ngtcp2_crypto_recv_retry_cb) \
    X(ngtcp2_crypto_update_key_cb) \
    X(ngtcp2_crypto_version_negotiation_cb) \

struct quic_crypto_lib {
#define QUIC_CRYPTO_LIB_FIELD(f) __typeof__(f) *f;
    QUIC_CRYPTO_LIB_FUNCS(QUIC_CRYPTO_LIB_FIELD)
#undef QUIC_CRYPTO_LIB_FIELD
};

/* The table; maps the library on first use and exits the process, naming
 * it, if it cannot (a broken installation: the package depends on it). */
const struct quic_crypto_lib *quic_crypto_lib(void);

#define ngtcp2_crypto_client_initial_cb (*quic_crypto_lib()->ngtcp2_crypto_client_initial_cb)
#define ngtcp2_crypto_decrypt_cb (*quic_crypto_lib()->ngtcp2_crypto_decrypt_cb)
#define ngtcp2_crypto_delete_crypto_aead_ctx_cb (*quic_crypto_lib()->ngtcp2_crypto_delete_crypto_aead_ctx_cb)
#define ngtcp2_crypto_delete_crypto_cipher_ctx_cb (*quic_crypto_lib()->ngtcp2_crypto_delete_crypto_cipher_ctx_cb)
#define ngtcp2_crypto_encrypt_cb (*quic_crypto_lib()->ngtcp2_crypto_encrypt_cb)
#define ngtcp2_crypto_get_path_challenge_data_cb (*quic_crypto_lib()->ngtcp2_crypto_get_path_challenge_data_cb)
#define ngtcp2_crypto_gnutls_configure_client_session (*quic_crypto_lib()->ngtcp2_crypto_gnutls_configure_client_session)
#define ngtcp2_crypto_gnutls_configure_server_session (*quic_crypto_lib()->ngtcp2_crypto_gnutls_configure_server_session)
#define ngtcp2_crypto_hp_mask_cb (*quic_crypto_lib()->ngtcp2_crypto_hp_mask_cb)
#define ngtcp2_crypto_recv_client_initial_cb (*quic_crypto_lib()->ngtcp2_crypto_recv_client_initial_cb)
#define ngtcp2_crypto_recv_crypto_data_cb (*quic_crypto_lib()->ngtcp2_crypto_recv_crypto_data_cb)
#define ngtcp2_crypto_recv_retry_cb (*quic_crypto_lib()->ngtcp2_crypto_recv_retry_cb)
#define ngtcp2_crypto_update_key_cb (*quic_crypto_lib()->ngtcp2_crypto_update_key_cb)
#define ngtcp2_crypto_version_negotiation_cb (*quic_crypto_lib()->ngtcp2_crypto_version_negotiation_cb)

#endif
