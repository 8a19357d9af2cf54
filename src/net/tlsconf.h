/* tlsconf.h - named TLS configurations (spec 7): the `tls-server` and
 * `tls-client` entries of a node, turned into GnuTLS credentials plus
 * Receptor's verification rules, applied to any GnuTLS session (TCP and
 * WebSocket backends through net/tls.h, the control service's TCP port,
 * and QUIC streams over the mesh).
 *
 * Objects
 *   struct tlsconf     the set of named configurations of one node.
 *   struct tls_config  one named tls-server or tls-client.  Its files are
 *                      read into a "generation" (certificate chain + key,
 *                      trust list, pinned fingerprints, priorities).
 *                      Generations are reference counted: a session keeps
 *                      the generation it was set up with, tlsconf_reload()
 *                      swaps in a new one, so established connections
 *                      never notice and the next handshake uses the new
 *                      files (certificate rotation without a restart).
 *
 * Verification (spec 7.3) runs inside the handshake, in one GnuTLS verify
 * function installed by tlsconf_session_setup().  What it checks depends
 * on the role, chosen by the arguments:
 *
 *   role                        server_name  peer_node   checks
 *   backend client (tcp-peer)   host         NULL        leaf validity, host name or IP
 *                                                        (Go rules, SANs only), chain to
 *                                                        rootcas/system with serverAuth,
 *                                                        pins
 *   backend server (listener,   -            NULL        if requireclientcert or
 *     control tcptls)                                    clientcas: a client certificate
 *                                                        is mandatory; chain to clientcas/
 *                                                        system with clientAuth; pins
 *   mesh client (stream dial)   NULL         target      chain (serverAuth), pins, target
 *                                                        node ID in an otherName SAN
 *   mesh server (stream         -            dialer      requireclientcert: chain
 *     listener)                                          (clientAuth) + dialer's node ID,
 *                                                        no pins; clientcas only: chain +
 *                                                        pins; neither: no client cert
 *   any client with insecureskipverify: nothing is checked.
 *
 * The reason a check failed ("x509: certificate signed by unknown
 * authority", "x509: certificate is valid for Receptor node ID a, not b",
 * "x509: certificate has expired or is not yet valid: ...", "presented
 * certificate does not match any pinned fingerprint", ...) is kept with
 * the session: tlsconf_session_error().  Per-session state lives in a
 * GnuTLS-owned slot (a private, never-sent hello extension's data), so it
 * is freed by gnutls_deinit() and needs no hook from the caller, and
 * gnutls_session_set_ptr() stays free for the caller (ngtcp2 uses it).
 *
 * For the QUIC layer (src/stream, ngtcp2_crypto_gnutls)
 *   Create the session as usual (gnutls_init, ALPN "netceptor"), then
 *     tlsconf_session_setup(cfg, session, is_server, NULL, peer_node,
 *                           TLSCONF_QUIC, err, errlen);
 *   with cfg = tlsconf_find(set, name, is_server) and peer_node = the
 *   target node (dialer) or the dialing node (listener).  It sets the
 *   credentials, a TLS-1.3-only priority (%DISABLE_TLS13_COMPAT_MODE; curves
 *   restricted to P-521/P-384/P-256 unless mintls13, as upstream), the
 *   client-certificate request and the verify function.  It does not touch
 *   ALPN, the session pointer or the transport.  tlsconf_stream_setup() has
 *   exactly the signature of struct stream_tls's setup hook (arg = cfg).
 *   After a failed handshake, tlsconf_session_error(session) says why (or
 *   NULL if the failure was not ours, e.g. an alert from the peer).
 *   The insecure mode (spec 6.3) is not a named config; src/stream's
 *   quic_tls.c generates the self-signed listener certificate and checks
 *   the dialer side.
 *
 * Files are read with a size bound (TLSCONF_MAX_FILE); bad PEM or DER gives
 * an error naming the file, never a crash. */
#ifndef NET_TLSCONF_H
#define NET_TLSCONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/gnutls_lib.h"

#define TLSCONF_MAX_FILE (16u << 20)
#define TLSCONF_MAX_CHAIN 64          /* certificates accepted from a peer */
#define TLSCONF_MAX_PINS 64

/* Options of one tls-server / tls-client entry (spec 7.1, 7.2). */
struct tlsconf_opts {
    const char *name;
    int is_server;
    const char *cert;               /* PEM chain; client: may be NULL with key */
    const char *key;                /* PEM key (PKCS#1 or PKCS#8) */
    const char *cas;                /* server: clientcas; client: rootcas; NULL: system */
    const char *const *pins;        /* hex fingerprints, colons allowed */
    size_t npins;
    int requireclientcert;          /* server */
    int insecureskipverify;         /* client */
    int skipreceptornamescheck;
    int mintls13;
};

struct tlsconf;
struct tls_config;

/* node_id: the local node, which every configured certificate must name
 * (unless skipreceptornamescheck). */
struct tlsconf *tlsconf_new(const char *node_id);
/* Reads the files and checks everything upstream checks at startup; -1 with
 * err ("error preparing tls server config: ...") on failure. */
int tlsconf_add(struct tlsconf *set, const struct tlsconf_opts *o, char *err, size_t errlen);
/* The config of that name and kind, or NULL. */
struct tls_config *tlsconf_find(const struct tlsconf *set, const char *name, int is_server);
/* Re-reads every config's files.  All or nothing: on any error nothing is
 * swapped, -1 with err. */
int tlsconf_reload(struct tlsconf *set, char *err, size_t errlen);
/* Frees the set; sessions still holding a generation keep it alive. */
void tlsconf_free(struct tlsconf *set);

const char *tls_config_name(const struct tls_config *c);
int tls_config_is_server(const struct tls_config *c);

/* Handshake failures of TLS-over-TCP sessions (net/tls.c) per config, by
 * reason, for the metrics endpoint. */
enum tls_fail_reason {
    TLS_FAIL_VERIFY,          /* our checks refused the peer's certificate */
    TLS_FAIL_NO_CERTIFICATE,  /* the peer sent none */
    TLS_FAIL_REMOTE_ALERT,    /* the peer refused us */
    TLS_FAIL_NO_COMMON,       /* no version or cipher suite in common */
    TLS_FAIL_CLOSED,          /* closed during the handshake */
    TLS_FAIL_TIMEOUT,
    TLS_FAIL_OTHER,
    TLS_FAIL_COUNT
};
const char *tls_fail_reason_name(enum tls_fail_reason r);
void tls_config_count_failure(struct tls_config *c, enum tls_fail_reason r);
/* Calls cb for every config and reason with a non-zero count. */
void tlsconf_foreach_failure(const struct tlsconf *set,
                             void (*cb)(void *arg, const char *config, int is_server,
                                        const char *reason, uint64_t count),
                             void *arg);

#define TLSCONF_QUIC 0x1   /* TLS 1.3 only, no middlebox compatibility mode */

/* Applies cfg to a fresh session (see the table above).  server_name:
 * client side only; sets SNI (not for IP literals) and is the name the
 * server certificate must carry (backend role).  0, or -1 with err. */
int tlsconf_session_setup(struct tls_config *cfg, gnutls_session_t session, int is_server,
                          const char *server_name, const char *peer_node, unsigned flags,
                          char *err, size_t errlen);
/* struct stream_tls's setup hook: arg is a struct tls_config *. */
int tlsconf_stream_setup(void *arg, gnutls_session_t session, int is_server, const char *peer_node,
                         char *err, size_t errlen);
/* The stream_tls failure hook: counts a QUIC handshake failure (reason an
 * enum tls_fail_reason) against the config given as arg. */
void tlsconf_stream_failed(void *arg, int reason);
/* Why our verification refused the peer, or NULL. */
const char *tlsconf_session_error(gnutls_session_t session);

/* ---- helpers, exposed for tests and for the certificate commands ---------- */

/* Decodes one fingerprint: hex with optional colons, 32 or 64 bytes.
 * Returns the length, or -1 with upstream's message in err. */
int tlsconf_parse_fingerprint(const char *text, unsigned char out[64], char *err, size_t errlen);
/* Collects the Receptor node IDs of a DER certificate into out (a
 * "a, b" list, truncated to outlen) and sets *found if one equals want.
 * Returns how many there are, or -1 with err for a malformed certificate
 * or SAN. */
int tlsconf_cert_node_ids(const unsigned char *der, size_t len, const char *want, int *found,
                          char *out, size_t outlen, char *err, size_t errlen);
/* Go's matchHostnames / VerifyHostname for a DER certificate: 0 when host
 * (DNS name or IP literal) is covered by its SANs, else -1 with Go's text. */
int tlsconf_check_host(const unsigned char *der, size_t len, const char *host, char *err, size_t errlen);

#endif
