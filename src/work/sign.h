/* sign.h - work-signing tokens (spec section 11): the JWTs upstream Receptor
 * puts in the "signature" member of signed work commands.
 *
 * A signer holds an RSA private key (PEM, PKCS#1 "RSA PRIVATE KEY" or PKCS#8
 * "PRIVATE KEY") and makes compact JWS tokens exactly as upstream's
 * createSignature does with golang-jwt v4:
 *   header {"alg":"RS512","typ":"JWT"}, claims {"aud":["<node>"],"exp":<unix s>},
 *   base64url without padding, RS512 = RSASSA-PKCS1-v1_5 with SHA-512.
 * A verifier holds an RSA public key (PEM "PUBLIC KEY") and checks tokens the
 * way upstream's VerifySignature does (jwt.ParseWithClaims with
 * RegisteredClaims, then VerifyAudience(node, true)), with golang-jwt v4's
 * error texts.  Key files are read with upstream's rules (certificates.
 * LoadPrivateKey / LoadPublicKey: exactly one PEM item of the right kind).
 *
 * Everything here is synchronous and touches no global state; signers and
 * verifiers are immutable after loading and may be shared between threads. */
#ifndef WORK_SIGN_H
#define WORK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_DEFAULT_LIFETIME_NS (5LL * 60 * 1000000000) /* upstream's 5 minutes */
#define SIGN_TOKEN_MAX (64 * 1024)        /* longer tokens are refused */
#define SIGN_KEYFILE_MAX (1024 * 1024)    /* larger key files are refused */

/* Upstream's prefixes for key-file errors, added by the caller:
 * createSignature reports "could not load signing key file: <err>" and
 * VerifySignature "could not load verifying key file: <err>". */
#define SIGN_LOAD_SIGNING_PREFIX "could not load signing key file: "
#define SIGN_LOAD_VERIFYING_PREFIX "could not load verifying key file: "

struct work_signer;
struct work_verifier;

/* Loads the private key from privkey_path.  lifetime_ns is the token lifetime
 * (work-signing tokenexpiration); 0 means upstream's default of 5 minutes.
 * NULL with a message in err on failure (e.g. "private key file should
 * contain exactly one item"). */
struct work_signer *sign_signer_load(const char *privkey_path, int64_t lifetime_ns,
                                     char *err, size_t errlen);
/* The same from PEM text in memory. */
struct work_signer *sign_signer_from_pem(const void *pem, size_t len, int64_t lifetime_ns,
                                         char *err, size_t errlen);
/* The lifetime tokens get (for the "json web token expires before ttl" warning). */
int64_t sign_signer_lifetime(const struct work_signer *s);
void sign_signer_free(struct work_signer *s);

/* A token for commands sent to audience_node, valid for the signer's
 * lifetime from now.  malloc'ed; NULL with a message in err on failure. */
char *sign_token(struct work_signer *s, const char *audience_node, char *err, size_t errlen);
/* The same with an explicit clock (nanoseconds since the Unix epoch). */
char *sign_token_at(struct work_signer *s, const char *audience_node, int64_t now_ns,
                    char *err, size_t errlen);

/* Loads the public key from pubkey_path; NULL with a message on failure
 * (e.g. "public key file does not contain public key data"). */
struct work_verifier *sign_verifier_load(const char *pubkey_path, char *err, size_t errlen);
struct work_verifier *sign_verifier_from_pem(const void *pem, size_t len, char *err, size_t errlen);
void sign_verifier_free(struct work_verifier *v);

/* Checks token for node_id: 0 when valid, -1 with upstream's error text in
 * err otherwise:
 *   could not verify signature: signature is empty
 *   could not verify signature: verifying key not specified   (v == NULL)
 *   could not verify signature: <golang-jwt v4 error>, e.g.
 *       token contains an invalid number of segments
 *       illegal base64 data at input byte 4
 *       signing method (alg) is unavailable.
 *       'none' signature type is not allowed
 *       key is of invalid type                   (HS256 and other non-RSA)
 *       crypto/rsa: verification error
 *       token is expired by 1m0.5s
 *       token is not valid yet / token used before issued
 *   token audience did not match node ID
 * RS256/384/512 and PS256/384/512 are accepted, as upstream. */
int sign_verify(struct work_verifier *v, const char *token, const char *node_id,
                char *err, size_t errlen);
/* The same with an explicit clock (nanoseconds since the Unix epoch). */
int sign_verify_at(struct work_verifier *v, const char *token, const char *node_id,
                   int64_t now_ns, char *err, size_t errlen);

#endif
