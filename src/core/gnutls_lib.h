/* gnutls_lib.h - GnuTLS, mapped on first use.
 *
 * The daemon does not link GnuTLS.  An idle node that speaks neither TLS nor
 * QUIC would otherwise carry GnuTLS and the eight libraries under it (nettle,
 * hogweed, gmp, p11-kit, tasn1, idn2, unistring, ffi): about 2.5 MB of its
 * resident memory before it has done any work.
 *
 * Sources that use GnuTLS include this header instead of <gnutls/...> and
 * call GnuTLS exactly as documented.  Every function they call is listed in
 * GNUTLS_LIB_FUNCS; a macro of the same name below calls it through the table
 * that gnutls_lib() fills with dlopen() the first time any of them runs.
 * Loading runs GnuTLS's own implicit global initialisation.
 *
 * A function missing from the list is a compile-time link error in the
 * daemon (it links no GnuTLS): add it to GNUTLS_LIB_FUNCS and the macros. */
#ifndef CORE_GNUTLS_LIB_H
#define CORE_GNUTLS_LIB_H

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stddef.h>

#define GNUTLS_LIB_FUNCS(X) \
    X(gnutls_alert_get) \
    X(gnutls_alert_get_name) \
    X(gnutls_alert_send_appropriate) \
    X(gnutls_alpn_set_protocols) \
    X(gnutls_base64_decode2) \
    X(gnutls_base64_encode2) \
    X(gnutls_bye) \
    X(gnutls_certificate_allocate_credentials) \
    X(gnutls_certificate_free_credentials) \
    X(gnutls_certificate_get_peers) \
    X(gnutls_certificate_send_x509_rdn_sequence) \
    X(gnutls_certificate_server_set_request) \
    X(gnutls_certificate_set_verify_function) \
    X(gnutls_certificate_set_x509_key) \
    X(gnutls_certificate_set_x509_key_mem2) \
    X(gnutls_certificate_verification_status_print) \
    X(gnutls_credentials_set) \
    X(gnutls_deinit) \
    X(gnutls_error_is_fatal) \
    X(gnutls_ext_get_data) \
    X(gnutls_ext_set_data) \
    X(gnutls_handshake) \
    X(gnutls_handshake_set_timeout) \
    X(gnutls_hash_fast) \
    X(gnutls_init) \
    X(gnutls_pem_base64_decode2) \
    X(gnutls_pem_base64_encode2) \
    X(gnutls_priority_deinit) \
    X(gnutls_priority_init2) \
    X(gnutls_priority_set) \
    X(gnutls_priority_set_direct) \
    X(gnutls_privkey_deinit) \
    X(gnutls_privkey_import_x509) \
    X(gnutls_privkey_init) \
    X(gnutls_privkey_sign_data2) \
    X(gnutls_pubkey_deinit) \
    X(gnutls_pubkey_get_pk_algorithm) \
    X(gnutls_pubkey_import) \
    X(gnutls_pubkey_init) \
    X(gnutls_pubkey_verify_data2) \
    X(gnutls_record_check_pending) \
    X(gnutls_record_recv) \
    X(gnutls_record_send) \
    X(gnutls_rnd) \
    X(gnutls_server_name_set) \
    X(gnutls_session_ext_register) \
    X(gnutls_session_set_ptr) \
    X(gnutls_session_set_verify_function) \
    X(gnutls_sign_get_name) \
    X(gnutls_strerror) \
    X(gnutls_transport_set_errno) \
    X(gnutls_transport_set_ptr) \
    X(gnutls_transport_set_pull_function) \
    X(gnutls_transport_set_pull_timeout_function) \
    X(gnutls_transport_set_push_function) \
    X(gnutls_x509_crq_deinit) \
    X(gnutls_x509_crq_export2) \
    X(gnutls_x509_crq_get_dn3) \
    X(gnutls_x509_crq_get_extension_data2) \
    X(gnutls_x509_crq_get_extension_info) \
    X(gnutls_x509_crq_get_pk_algorithm) \
    X(gnutls_x509_crq_get_signature_algorithm) \
    X(gnutls_x509_crq_import) \
    X(gnutls_x509_crq_init) \
    X(gnutls_x509_crq_set_dn_by_oid) \
    X(gnutls_x509_crq_set_extension_by_oid) \
    X(gnutls_x509_crq_set_key) \
    X(gnutls_x509_crq_set_version) \
    X(gnutls_x509_crq_sign2) \
    X(gnutls_x509_crt_deinit) \
    X(gnutls_x509_crt_export2) \
    X(gnutls_x509_crt_get_activation_time) \
    X(gnutls_x509_crt_get_dn_by_oid) \
    X(gnutls_x509_crt_get_expiration_time) \
    X(gnutls_x509_crt_get_extension_data2) \
    X(gnutls_x509_crt_get_extension_info) \
    X(gnutls_x509_crt_get_key_id) \
    X(gnutls_x509_crt_get_subject_key_id) \
    X(gnutls_x509_crt_import) \
    X(gnutls_x509_crt_init) \
    X(gnutls_x509_crt_set_activation_time) \
    X(gnutls_x509_crt_set_authority_key_id) \
    X(gnutls_x509_crt_set_basic_constraints) \
    X(gnutls_x509_crt_set_crq) \
    X(gnutls_x509_crt_set_dn_by_oid) \
    X(gnutls_x509_crt_set_expiration_time) \
    X(gnutls_x509_crt_set_extension_by_oid) \
    X(gnutls_x509_crt_set_issuer_dn_by_oid) \
    X(gnutls_x509_crt_set_key) \
    X(gnutls_x509_crt_set_key_purpose_oid) \
    X(gnutls_x509_crt_set_key_usage) \
    X(gnutls_x509_crt_set_serial) \
    X(gnutls_x509_crt_set_subject_key_id) \
    X(gnutls_x509_crt_set_version) \
    X(gnutls_x509_crt_sign2) \
    X(gnutls_x509_privkey_deinit) \
    X(gnutls_x509_privkey_export2) \
    X(gnutls_x509_privkey_generate) \
    X(gnutls_x509_privkey_get_pk_algorithm) \
    X(gnutls_x509_privkey_get_pk_algorithm2) \
    X(gnutls_x509_privkey_import) \
    X(gnutls_x509_privkey_import_pkcs8) \
    X(gnutls_x509_privkey_init) \
    X(gnutls_x509_privkey_verify_params) \
    X(gnutls_x509_trust_list_add_cas) \
    X(gnutls_x509_trust_list_add_system_trust) \
    X(gnutls_x509_trust_list_deinit) \
    X(gnutls_x509_trust_list_init) \
    X(gnutls_x509_trust_list_verify_crt2) \

struct gnutls_lib {
#define GNUTLS_LIB_FIELD(f) __typeof__(f) *f;
    GNUTLS_LIB_FUNCS(GNUTLS_LIB_FIELD)
#undef GNUTLS_LIB_FIELD
    gnutls_alloc_function *malloc_var; /* GnuTLS exports these two as variables */
    gnutls_free_function *free_var;
};

/* Maps GnuTLS if it is not mapped yet.  0, or -1 with the reason in err.
 * Callers that can report an error cleanly (configuration, certificate
 * commands) call this first; everything else goes through gnutls_lib(). */
int gnutls_lib_load(char *err, size_t errlen);

/* The table; maps GnuTLS on first use and exits the process, naming the
 * library, if it cannot (a broken installation: the package depends on it). */
const struct gnutls_lib *gnutls_lib(void);

#undef gnutls_free
#define gnutls_free(a) ((*gnutls_lib()->free_var)((void *)(a)), (a) = NULL)
#define gnutls_malloc (*gnutls_lib()->malloc_var)
#define gnutls_alert_get (*gnutls_lib()->gnutls_alert_get)
#define gnutls_alert_get_name (*gnutls_lib()->gnutls_alert_get_name)
#define gnutls_alert_send_appropriate (*gnutls_lib()->gnutls_alert_send_appropriate)
#define gnutls_alpn_set_protocols (*gnutls_lib()->gnutls_alpn_set_protocols)
#define gnutls_base64_decode2 (*gnutls_lib()->gnutls_base64_decode2)
#define gnutls_base64_encode2 (*gnutls_lib()->gnutls_base64_encode2)
#define gnutls_bye (*gnutls_lib()->gnutls_bye)
#define gnutls_certificate_allocate_credentials (*gnutls_lib()->gnutls_certificate_allocate_credentials)
#define gnutls_certificate_free_credentials (*gnutls_lib()->gnutls_certificate_free_credentials)
#define gnutls_certificate_get_peers (*gnutls_lib()->gnutls_certificate_get_peers)
#define gnutls_certificate_send_x509_rdn_sequence (*gnutls_lib()->gnutls_certificate_send_x509_rdn_sequence)
#define gnutls_certificate_server_set_request (*gnutls_lib()->gnutls_certificate_server_set_request)
#define gnutls_certificate_set_verify_function (*gnutls_lib()->gnutls_certificate_set_verify_function)
#define gnutls_certificate_set_x509_key (*gnutls_lib()->gnutls_certificate_set_x509_key)
#define gnutls_certificate_set_x509_key_mem2 (*gnutls_lib()->gnutls_certificate_set_x509_key_mem2)
#define gnutls_certificate_verification_status_print (*gnutls_lib()->gnutls_certificate_verification_status_print)
#define gnutls_credentials_set (*gnutls_lib()->gnutls_credentials_set)
#define gnutls_deinit (*gnutls_lib()->gnutls_deinit)
#define gnutls_error_is_fatal (*gnutls_lib()->gnutls_error_is_fatal)
#define gnutls_ext_get_data (*gnutls_lib()->gnutls_ext_get_data)
#define gnutls_ext_set_data (*gnutls_lib()->gnutls_ext_set_data)
#define gnutls_handshake (*gnutls_lib()->gnutls_handshake)
#define gnutls_handshake_set_timeout (*gnutls_lib()->gnutls_handshake_set_timeout)
#define gnutls_hash_fast (*gnutls_lib()->gnutls_hash_fast)
#define gnutls_init (*gnutls_lib()->gnutls_init)
#define gnutls_pem_base64_decode2 (*gnutls_lib()->gnutls_pem_base64_decode2)
#define gnutls_pem_base64_encode2 (*gnutls_lib()->gnutls_pem_base64_encode2)
#define gnutls_priority_deinit (*gnutls_lib()->gnutls_priority_deinit)
#define gnutls_priority_init2 (*gnutls_lib()->gnutls_priority_init2)
#define gnutls_priority_set (*gnutls_lib()->gnutls_priority_set)
#define gnutls_priority_set_direct (*gnutls_lib()->gnutls_priority_set_direct)
#define gnutls_privkey_deinit (*gnutls_lib()->gnutls_privkey_deinit)
#define gnutls_privkey_import_x509 (*gnutls_lib()->gnutls_privkey_import_x509)
#define gnutls_privkey_init (*gnutls_lib()->gnutls_privkey_init)
#define gnutls_privkey_sign_data2 (*gnutls_lib()->gnutls_privkey_sign_data2)
#define gnutls_pubkey_deinit (*gnutls_lib()->gnutls_pubkey_deinit)
#define gnutls_pubkey_get_pk_algorithm (*gnutls_lib()->gnutls_pubkey_get_pk_algorithm)
#define gnutls_pubkey_import (*gnutls_lib()->gnutls_pubkey_import)
#define gnutls_pubkey_init (*gnutls_lib()->gnutls_pubkey_init)
#define gnutls_pubkey_verify_data2 (*gnutls_lib()->gnutls_pubkey_verify_data2)
#define gnutls_record_check_pending (*gnutls_lib()->gnutls_record_check_pending)
#define gnutls_record_recv (*gnutls_lib()->gnutls_record_recv)
#define gnutls_record_send (*gnutls_lib()->gnutls_record_send)
#define gnutls_rnd (*gnutls_lib()->gnutls_rnd)
#define gnutls_server_name_set (*gnutls_lib()->gnutls_server_name_set)
#define gnutls_session_ext_register (*gnutls_lib()->gnutls_session_ext_register)
#define gnutls_session_set_ptr (*gnutls_lib()->gnutls_session_set_ptr)
#define gnutls_session_set_verify_function (*gnutls_lib()->gnutls_session_set_verify_function)
#define gnutls_sign_get_name (*gnutls_lib()->gnutls_sign_get_name)
#define gnutls_strerror (*gnutls_lib()->gnutls_strerror)
#define gnutls_transport_set_errno (*gnutls_lib()->gnutls_transport_set_errno)
#define gnutls_transport_set_ptr (*gnutls_lib()->gnutls_transport_set_ptr)
#define gnutls_transport_set_pull_function (*gnutls_lib()->gnutls_transport_set_pull_function)
#define gnutls_transport_set_pull_timeout_function (*gnutls_lib()->gnutls_transport_set_pull_timeout_function)
#define gnutls_transport_set_push_function (*gnutls_lib()->gnutls_transport_set_push_function)
#define gnutls_x509_crq_deinit (*gnutls_lib()->gnutls_x509_crq_deinit)
#define gnutls_x509_crq_export2 (*gnutls_lib()->gnutls_x509_crq_export2)
#define gnutls_x509_crq_get_dn3 (*gnutls_lib()->gnutls_x509_crq_get_dn3)
#define gnutls_x509_crq_get_extension_data2 (*gnutls_lib()->gnutls_x509_crq_get_extension_data2)
#define gnutls_x509_crq_get_extension_info (*gnutls_lib()->gnutls_x509_crq_get_extension_info)
#define gnutls_x509_crq_get_pk_algorithm (*gnutls_lib()->gnutls_x509_crq_get_pk_algorithm)
#define gnutls_x509_crq_get_signature_algorithm (*gnutls_lib()->gnutls_x509_crq_get_signature_algorithm)
#define gnutls_x509_crq_import (*gnutls_lib()->gnutls_x509_crq_import)
#define gnutls_x509_crq_init (*gnutls_lib()->gnutls_x509_crq_init)
#define gnutls_x509_crq_set_dn_by_oid (*gnutls_lib()->gnutls_x509_crq_set_dn_by_oid)
#define gnutls_x509_crq_set_extension_by_oid (*gnutls_lib()->gnutls_x509_crq_set_extension_by_oid)
#define gnutls_x509_crq_set_key (*gnutls_lib()->gnutls_x509_crq_set_key)
#define gnutls_x509_crq_set_version (*gnutls_lib()->gnutls_x509_crq_set_version)
#define gnutls_x509_crq_sign2 (*gnutls_lib()->gnutls_x509_crq_sign2)
#define gnutls_x509_crt_deinit (*gnutls_lib()->gnutls_x509_crt_deinit)
#define gnutls_x509_crt_export2 (*gnutls_lib()->gnutls_x509_crt_export2)
#define gnutls_x509_crt_get_activation_time (*gnutls_lib()->gnutls_x509_crt_get_activation_time)
#define gnutls_x509_crt_get_dn_by_oid (*gnutls_lib()->gnutls_x509_crt_get_dn_by_oid)
#define gnutls_x509_crt_get_expiration_time (*gnutls_lib()->gnutls_x509_crt_get_expiration_time)
#define gnutls_x509_crt_get_extension_data2 (*gnutls_lib()->gnutls_x509_crt_get_extension_data2)
#define gnutls_x509_crt_get_extension_info (*gnutls_lib()->gnutls_x509_crt_get_extension_info)
#define gnutls_x509_crt_get_key_id (*gnutls_lib()->gnutls_x509_crt_get_key_id)
#define gnutls_x509_crt_get_subject_key_id (*gnutls_lib()->gnutls_x509_crt_get_subject_key_id)
#define gnutls_x509_crt_import (*gnutls_lib()->gnutls_x509_crt_import)
#define gnutls_x509_crt_init (*gnutls_lib()->gnutls_x509_crt_init)
#define gnutls_x509_crt_set_activation_time (*gnutls_lib()->gnutls_x509_crt_set_activation_time)
#define gnutls_x509_crt_set_authority_key_id (*gnutls_lib()->gnutls_x509_crt_set_authority_key_id)
#define gnutls_x509_crt_set_basic_constraints (*gnutls_lib()->gnutls_x509_crt_set_basic_constraints)
#define gnutls_x509_crt_set_crq (*gnutls_lib()->gnutls_x509_crt_set_crq)
#define gnutls_x509_crt_set_dn_by_oid (*gnutls_lib()->gnutls_x509_crt_set_dn_by_oid)
#define gnutls_x509_crt_set_expiration_time (*gnutls_lib()->gnutls_x509_crt_set_expiration_time)
#define gnutls_x509_crt_set_extension_by_oid (*gnutls_lib()->gnutls_x509_crt_set_extension_by_oid)
#define gnutls_x509_crt_set_issuer_dn_by_oid (*gnutls_lib()->gnutls_x509_crt_set_issuer_dn_by_oid)
#define gnutls_x509_crt_set_key (*gnutls_lib()->gnutls_x509_crt_set_key)
#define gnutls_x509_crt_set_key_purpose_oid (*gnutls_lib()->gnutls_x509_crt_set_key_purpose_oid)
#define gnutls_x509_crt_set_key_usage (*gnutls_lib()->gnutls_x509_crt_set_key_usage)
#define gnutls_x509_crt_set_serial (*gnutls_lib()->gnutls_x509_crt_set_serial)
#define gnutls_x509_crt_set_subject_key_id (*gnutls_lib()->gnutls_x509_crt_set_subject_key_id)
#define gnutls_x509_crt_set_version (*gnutls_lib()->gnutls_x509_crt_set_version)
#define gnutls_x509_crt_sign2 (*gnutls_lib()->gnutls_x509_crt_sign2)
#define gnutls_x509_privkey_deinit (*gnutls_lib()->gnutls_x509_privkey_deinit)
#define gnutls_x509_privkey_export2 (*gnutls_lib()->gnutls_x509_privkey_export2)
#define gnutls_x509_privkey_generate (*gnutls_lib()->gnutls_x509_privkey_generate)
#define gnutls_x509_privkey_get_pk_algorithm (*gnutls_lib()->gnutls_x509_privkey_get_pk_algorithm)
#define gnutls_x509_privkey_get_pk_algorithm2 (*gnutls_lib()->gnutls_x509_privkey_get_pk_algorithm2)
#define gnutls_x509_privkey_import (*gnutls_lib()->gnutls_x509_privkey_import)
#define gnutls_x509_privkey_import_pkcs8 (*gnutls_lib()->gnutls_x509_privkey_import_pkcs8)
#define gnutls_x509_privkey_init (*gnutls_lib()->gnutls_x509_privkey_init)
#define gnutls_x509_privkey_verify_params (*gnutls_lib()->gnutls_x509_privkey_verify_params)
#define gnutls_x509_trust_list_add_cas (*gnutls_lib()->gnutls_x509_trust_list_add_cas)
#define gnutls_x509_trust_list_add_system_trust (*gnutls_lib()->gnutls_x509_trust_list_add_system_trust)
#define gnutls_x509_trust_list_deinit (*gnutls_lib()->gnutls_x509_trust_list_deinit)
#define gnutls_x509_trust_list_init (*gnutls_lib()->gnutls_x509_trust_list_init)
#define gnutls_x509_trust_list_verify_crt2 (*gnutls_lib()->gnutls_x509_trust_list_verify_crt2)

#endif
