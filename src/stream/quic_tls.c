/* quic_tls.c - see quic_tls.h. */
#include "stream/quic_tls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/gnutls_lib.h"

static const char priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:%DISABLE_TLS13_COMPAT_MODE";

int quic_tls_session_new(gnutls_session_t *out, int is_server)
{
    unsigned flags = (is_server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_EARLY_DATA |
                     GNUTLS_NO_END_OF_EARLY_DATA;
    if (gnutls_init(out, flags) < 0)
        return -1;
    if (gnutls_priority_set_direct(*out, priority, NULL) < 0) {
        gnutls_deinit(*out);
        return -1;
    }
    static const gnutls_datum_t alpn = { (unsigned char *)"netceptor", 9 };
    gnutls_alpn_set_protocols(*out, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    return 0;
}

int quic_tls_insecure_server_creds(gnutls_certificate_credentials_t *out, char *err, size_t errlen)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc = -1;
    unsigned char serial = 1;
    time_t now = time(NULL);
    if (gnutls_x509_privkey_init(&key) < 0 || gnutls_x509_crt_init(&crt) < 0)
        goto out;
    if (gnutls_x509_privkey_generate(key, GNUTLS_PK_RSA, 2048, 0) < 0 ||
        gnutls_x509_crt_set_version(crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(crt, &serial, 1) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, QUIC_INSECURE_CN,
                                      strlen(QUIC_INSECURE_CN)) < 0 ||
        gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, QUIC_INSECURE_CN,
                                             strlen(QUIC_INSECURE_CN)) < 0 ||
        gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
        gnutls_x509_crt_set_expiration_time(crt, now + 24 * 3600) < 0 ||
        gnutls_x509_crt_set_key(crt, key) < 0 ||
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
        goto out;
    if (gnutls_certificate_allocate_credentials(out) < 0)
        goto out;
    if (gnutls_certificate_set_x509_key(*out, &crt, 1, key) < 0) {
        gnutls_certificate_free_credentials(*out);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        snprintf(err, errlen, "cannot create the insecure stream certificate");
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

/* Accepts the server only if some presented certificate has the insecure CN. */
static int verify_insecure(gnutls_session_t session)
{
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
    for (unsigned i = 0; certs && i < n; i++) {
        gnutls_x509_crt_t crt;
        if (gnutls_x509_crt_init(&crt) < 0)
            continue;
        char cn[256];
        size_t cnlen = sizeof cn;
        int ok = gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER) >= 0 &&
                 gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen) >= 0 &&
                 strcmp(cn, QUIC_INSECURE_CN) == 0;
        gnutls_x509_crt_deinit(crt);
        if (ok)
            return 0;
    }
    return GNUTLS_E_CERTIFICATE_ERROR;
}

int quic_tls_insecure_client_creds(gnutls_certificate_credentials_t *out)
{
    if (gnutls_certificate_allocate_credentials(out) < 0)
        return -1;
    gnutls_certificate_set_verify_function(*out, verify_insecure);
    return 0;
}
