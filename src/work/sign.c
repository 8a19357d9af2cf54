/* sign.c - work-signing JWTs (spec 11); see sign.h.
 *
 * Design.  Signing is short: jansson holds the claims, core/gojson writes
 * them with Go's escaping and key order, GnuTLS makes the RS512 signature.
 *
 * Verification has to behave like golang-jwt v4 (ParseWithClaims into
 * RegisteredClaims) on any input, so it is one straight pipeline with a
 * stage per golang-jwt step, each failing with golang-jwt's own text:
 *   split on '.' (exactly 3 parts)
 *   -> header: base64url as Go's RawURLEncoding (CR/LF skipped, Go's error
 *      offsets), JSON as json.Unmarshal into map[string]interface{}
 *   -> claims: base64url, JSON as json.Decoder.Decode into RegisteredClaims
 *      (first value only, case-insensitive field names, NumericDate and
 *      ClaimStrings rules, float64 seconds as Go converts them)
 *   -> "alg" lookup -> time claims (exp, iat, nbf; only when present)
 *   -> signature (GnuTLS; a signature error replaces a claims error, as in
 *      golang-jwt) -> audience (upstream's VerifyAudience(node, true)).
 * JSON is read as Go reads it by core/gojson_scan (a port of Go's
 * encoding/json scanner, then a walker over the validated text: no tree, no
 * recursion); jansson differs from Go on hostile input.  Every input is
 * bounded: tokens by SIGN_TOKEN_MAX, key files by SIGN_KEYFILE_MAX.
 *
 * Deliberate differences from upstream: PS256/384/512 verify only with the
 * RFC 7518 salt length (the hash size, what every JWT library signs with;
 * golang-jwt accepts any salt length, GnuTLS cannot); RSA keys under 1024
 * bits are refused when loaded (Go's crypto/rsa refuses them when used);
 * blank lines after the last PEM block are allowed (Go's loop fails on
 * them) and PEM header lines (old-style encrypted keys) are refused;
 * "aud":[null] is an error here where golang-jwt panics; tokens over 64 KiB
 * and key files over 1 MiB are refused. */
#include "work/sign.h"

#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/gnutls_lib.h"
#include "core/godur.h"
#include "core/gojson.h"
#include "core/gojson_scan.h"
#include "core/util.h"
#include "net/tls_pem.h"

#define MIN_RSA_BITS 1024          /* Go's crypto/rsa refuses smaller keys */
#define AUDIENCE_MAX 4096          /* keeps every token we make below SIGN_TOKEN_MAX */
#define UNIX_TO_INTERNAL 62135596800LL /* Go: seconds from year 1 to 1970 */
#define NS_PER_S 1000000000LL
#define MSG_MAX 512

struct work_signer {
    gnutls_privkey_t key;
    int64_t lifetime_ns;
};

struct work_verifier {
    gnutls_pubkey_t key;
    size_t modulus_bytes;
};

static void set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

/* ---- base64url -------------------------------------------------------- */

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends p as base64url without padding. */
static int b64url_encode(const uint8_t *p, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        uint32_t v = (uint32_t)p[i] << 16;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        char q[4] = {b64url_chars[v >> 18 & 63], b64url_chars[v >> 12 & 63],
                     b64url_chars[v >> 6 & 63], b64url_chars[v & 63]};
        if (buf_append(out, q, k + 1) < 0)
            return -1;
    }
    return 0;
}

static int b64url_value(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* One quantum of Go's decoder (decodeQuantum): up to 4 symbols, CR and LF
 * skipped.  Writes 3 bytes at dst and returns how many count, or -1 with
 * Go's error offset in *bad. */
static int b64_quantum(const uint8_t *src, size_t n, size_t *si, uint8_t *dst, size_t *bad)
{
    uint8_t d[4] = {0, 0, 0, 0};
    size_t j = 0;
    while (j < 4) {
        if (*si == n) {
            if (j == 0)
                return 0;
            if (j == 1) {
                *bad = *si - j;
                return -1;
            }
            break;
        }
        uint8_t c = src[(*si)++];
        int v = b64url_value(c);
        if (v >= 0)
            d[j++] = (uint8_t)v;
        else if (c != '\n' && c != '\r') {
            *bad = *si - 1;
            return -1;
        }
    }
    uint32_t val = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | d[3];
    dst[0] = (uint8_t)(val >> 16);
    dst[1] = (uint8_t)(val >> 8);
    dst[2] = (uint8_t)val;
    return (int)j - 1;
}

/* Go's base64.RawURLEncoding.DecodeString (not strict).  malloc'ed result;
 * NULL with "illegal base64 data at input byte N" (or an allocation error). */
static uint8_t *b64url_decode(const char *s, size_t n, size_t *outlen, char *msg, size_t msglen)
{
    uint8_t *out = malloc(n / 4 * 3 + 4);
    if (!out) {
        set_err(msg, msglen, "out of memory");
        return NULL;
    }
    size_t si = 0, o = 0, bad = 0;
    while (si < n) {
        int k = b64_quantum((const uint8_t *)s, n, &si, out + o, &bad);
        if (k < 0) {
            set_err(msg, msglen, "illegal base64 data at input byte %zu", bad);
            free(out);
            return NULL;
        }
        o += (size_t)k;
    }
    *outlen = o;
    return out;
}

/* ---- key files (upstream's certificates.LoadFromPEMFile rules) --------- *
 * The file and its PEM blocks are read by net/tls_pem; here each block
 * becomes a key, and the file must hold exactly one of the wanted kind. */

enum item_kind { ITEM_OTHER, ITEM_RSA_PRIVATE, ITEM_RSA_PUBLIC };

/* What one key file holds: how many PEM items and the key of the wanted kind. */
struct key_items {
    enum item_kind want;
    size_t count;
    enum item_kind first;
    gnutls_privkey_t priv;
    gnutls_pubkey_t pub;
};

static int rsa_bits_ok(unsigned bits, char *err, size_t errlen)
{
    if (bits >= MIN_RSA_BITS)
        return 0;
    set_err(err, errlen, "crypto/rsa: %u-bit keys are insecure", bits);
    return -1;
}

/* Takes the parsed RSA key x into it->priv (x is released in every case). */
static int keep_private(gnutls_x509_privkey_t x, unsigned bits, struct key_items *it,
                        char *err, size_t errlen)
{
    if (gnutls_x509_privkey_verify_params(x) < 0) {
        set_err(err, errlen, "crypto/rsa: invalid private key");
    } else if (rsa_bits_ok(bits, err, errlen) == 0) {
        if (gnutls_privkey_init(&it->priv) < 0)
            set_err(err, errlen, "out of memory");
        else if (gnutls_privkey_import_x509(it->priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
            set_err(err, errlen, "could not use the private key");
        else
            return ITEM_RSA_PRIVATE; /* x now belongs to it->priv */
    }
    gnutls_x509_privkey_deinit(x);
    return -1;
}

/* A private key block: PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"). */
static int import_private(const gnutls_datum_t *der, int pkcs8, struct key_items *it,
                          char *err, size_t errlen)
{
    gnutls_x509_privkey_t x;
    if (gnutls_x509_privkey_init(&x) < 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc = pkcs8 ? gnutls_x509_privkey_import_pkcs8(x, der, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN)
                   : gnutls_x509_privkey_import(x, der, GNUTLS_X509_FMT_DER);
    if (rc < 0) {
        set_err(err, errlen, "x509: failed to parse private key: %s", gnutls_strerror(rc));
        gnutls_x509_privkey_deinit(x);
        return -1;
    }
    unsigned bits = 0;
    if (gnutls_x509_privkey_get_pk_algorithm2(x, &bits) != GNUTLS_PK_RSA || it->priv) {
        gnutls_x509_privkey_deinit(x); /* another kind of key: only counted */
        return ITEM_OTHER;
    }
    return keep_private(x, bits, it, err, errlen);
}

/* A "PUBLIC KEY" block (SubjectPublicKeyInfo). */
static int import_public(const gnutls_datum_t *der, struct key_items *it, char *err, size_t errlen)
{
    gnutls_pubkey_t k;
    if (gnutls_pubkey_init(&k) < 0) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    int rc = gnutls_pubkey_import(k, der, GNUTLS_X509_FMT_DER);
    if (rc < 0) {
        set_err(err, errlen, "x509: failed to parse public key: %s", gnutls_strerror(rc));
        gnutls_pubkey_deinit(k);
        return -1;
    }
    unsigned bits = 0;
    if (gnutls_pubkey_get_pk_algorithm(k, &bits) != GNUTLS_PK_RSA || it->pub) {
        gnutls_pubkey_deinit(k);
        return ITEM_OTHER;
    }
    if (rsa_bits_ok(bits, err, errlen) < 0) {
        gnutls_pubkey_deinit(k);
        return -1;
    }
    it->pub = k;
    return ITEM_RSA_PUBLIC;
}

/* One PEM item; blocks of kinds the caller does not want are only counted. */
static int load_item(const struct tls_pem_block *b, struct key_items *it, char *err, size_t errlen)
{
    if (!strcmp(b->type, "CERTIFICATE") || !strcmp(b->type, "CERTIFICATE REQUEST"))
        return ITEM_OTHER;
    int priv = !strcmp(b->type, "RSA PRIVATE KEY"), pkcs8 = !strcmp(b->type, "PRIVATE KEY");
    if (priv || pkcs8)
        return it->want == ITEM_RSA_PRIVATE ? import_private(&b->der, pkcs8, it, err, errlen) : ITEM_OTHER;
    if (!strcmp(b->type, "PUBLIC KEY"))
        return it->want == ITEM_RSA_PUBLIC ? import_public(&b->der, it, err, errlen) : ITEM_OTHER;
    set_err(err, errlen, "unknown block type %s", b->type);
    return -1;
}

/* Every PEM block of the file, in order (trailing whitespace is allowed). */
static int load_items(const char *p, size_t n, struct key_items *it, char *err, size_t errlen)
{
    while (!tls_pem_blank(p, n)) {
        struct tls_pem_block b = {.der = {NULL, 0}};
        size_t used = 0;
        if (tls_pem_next_key_block(p, n, &b, &used) < 0) {
            set_err(err, errlen, "failed to decode PEM block");
            return -1;
        }
        int kind = load_item(&b, it, err, errlen);
        gnutls_free(b.der.data);
        if (kind < 0)
            return -1;
        if (it->count++ == 0)
            it->first = (enum item_kind)kind;
        p += used;
        n -= used;
    }
    return 0;
}

/* LoadPrivateKey / LoadPublicKey: exactly one item, of the wanted kind. */
static int load_key(const void *pem, size_t len, struct key_items *it, char *err, size_t errlen)
{
    const char *what = it->want == ITEM_RSA_PRIVATE ? "private" : "public";
    int rc = load_items(pem, len, it, err, errlen);
    if (rc == 0 && it->count != 1) {
        set_err(err, errlen, "%s key file should contain exactly one item", what);
        rc = -1;
    } else if (rc == 0 && it->first != it->want) {
        set_err(err, errlen, "%s key file does not contain %s key data", what, what);
        rc = -1;
    }
    if (rc < 0) {
        if (it->priv)
            gnutls_privkey_deinit(it->priv);
        if (it->pub)
            gnutls_pubkey_deinit(it->pub);
        it->priv = NULL;
        it->pub = NULL;
    }
    return rc;
}

/* ---- signer ------------------------------------------------------------ */

struct work_signer *sign_signer_from_pem(const void *pem, size_t len, int64_t lifetime_ns,
                                         char *err, size_t errlen)
{
    struct key_items it = {.want = ITEM_RSA_PRIVATE};
    if (!pem || len > SIGN_KEYFILE_MAX) {
        set_err(err, errlen, "key data is missing or larger than %d bytes", SIGN_KEYFILE_MAX);
        return NULL;
    }
    if (load_key(pem, len, &it, err, errlen) < 0)
        return NULL;
    struct work_signer *s = calloc(1, sizeof *s);
    if (!s) {
        gnutls_privkey_deinit(it.priv);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    s->key = it.priv;
    s->lifetime_ns = lifetime_ns ? lifetime_ns : SIGN_DEFAULT_LIFETIME_NS;
    return s;
}

struct work_signer *sign_signer_load(const char *privkey_path, int64_t lifetime_ns,
                                     char *err, size_t errlen)
{
    size_t len = 0;
    char *pem = privkey_path ? tls_pem_read_key_file(privkey_path, SIGN_KEYFILE_MAX, &len, err, errlen) : NULL;
    if (!privkey_path)
        set_err(err, errlen, "no private key file given");
    if (!pem)
        return NULL;
    struct work_signer *s = sign_signer_from_pem(pem, len, lifetime_ns, err, errlen);
    free(pem);
    return s;
}

int64_t sign_signer_lifetime(const struct work_signer *s)
{
    return s ? s->lifetime_ns : SIGN_DEFAULT_LIFETIME_NS;
}

void sign_signer_free(struct work_signer *s)
{
    if (!s)
        return;
    gnutls_privkey_deinit(s->key);
    free(s);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The claims as Go marshals RegisteredClaims{Audience: {node}, ExpiresAt: exp}:
 * struct field order (aud, exp), audience always an array. */
static char *claims_json(const char *audience, int64_t exp)
{
    json_t *claims = json_object(), *aud = json_array();
    int ok = claims && aud &&
             json_array_append_new(aud, json_stringn_nocheck(audience, strlen(audience))) == 0 &&
             json_object_set(claims, "aud", aud) == 0 &&
             json_object_set_new(claims, "exp", json_integer((json_int_t)exp)) == 0;
    char *text = ok ? gojson_dumps(claims, 0) : NULL;
    json_decref(aud);
    json_decref(claims);
    return text;
}

/* header.claims, both base64url. */
static int signing_input(const char *audience, int64_t exp, struct buf *out)
{
    static const char header[] = "{\"alg\":\"RS512\",\"typ\":\"JWT\"}";
    char *claims = claims_json(audience, exp);
    int rc = claims ? 0 : -1;
    if (rc == 0)
        rc = b64url_encode((const uint8_t *)header, strlen(header), out);
    if (rc == 0)
        rc = buf_append_str(out, ".");
    if (rc == 0)
        rc = b64url_encode((const uint8_t *)claims, strlen(claims), out);
    free(claims);
    return rc;
}

/* Appends ".<signature>" for the signing input already in b. */
static int append_signature(struct work_signer *s, struct buf *b, char *err, size_t errlen)
{
    gnutls_datum_t data = {buf_head(b), (unsigned)buf_size(b)}, sig = {NULL, 0};
    int rc = gnutls_privkey_sign_data2(s->key, GNUTLS_SIGN_RSA_SHA512, 0, &data, &sig);
    if (rc < 0) {
        set_err(err, errlen, "cannot sign work: %s", gnutls_strerror(rc));
        return -1;
    }
    rc = buf_append_str(b, ".") < 0 || b64url_encode(sig.data, sig.size, b) < 0 ? -1 : 0;
    gnutls_free(sig.data);
    if (rc < 0)
        set_err(err, errlen, "cannot sign work: token too long");
    return rc;
}

char *sign_token_at(struct work_signer *s, const char *audience_node, int64_t now_ns,
                    char *err, size_t errlen)
{
    if (!s) {
        set_err(err, errlen, "cannot sign work: signing key is empty");
        return NULL;
    }
    const char *aud = audience_node ? audience_node : "";
    int64_t exp_ns;
    if (strnlen(aud, AUDIENCE_MAX + 1) > AUDIENCE_MAX ||
        __builtin_add_overflow(now_ns, s->lifetime_ns, &exp_ns)) {
        set_err(err, errlen, "cannot sign work: audience too long or expiration out of range");
        return NULL;
    }
    struct buf b;
    buf_init(&b, SIGN_TOKEN_MAX);
    char *token = NULL;
    const char *text;
    if (signing_input(aud, floor_div(exp_ns, NS_PER_S), &b) < 0)
        set_err(err, errlen, "cannot sign work: could not build the token");
    else if (append_signature(s, &b, err, errlen) == 0 &&
             (buf_cstr(&b, &text) < 0 || !(token = strdup(text))))
        set_err(err, errlen, "cannot sign work: out of memory");
    buf_free(&b);
    return token;
}

char *sign_token(struct work_signer *s, const char *audience_node, char *err, size_t errlen)
{
    return sign_token_at(s, audience_node, util_now_ns(), err, errlen);
}

/* ---- verifier ---------------------------------------------------------- */

struct work_verifier *sign_verifier_from_pem(const void *pem, size_t len, char *err, size_t errlen)
{
    struct key_items it = {.want = ITEM_RSA_PUBLIC};
    if (!pem || len > SIGN_KEYFILE_MAX) {
        set_err(err, errlen, "key data is missing or larger than %d bytes", SIGN_KEYFILE_MAX);
        return NULL;
    }
    if (load_key(pem, len, &it, err, errlen) < 0)
        return NULL;
    struct work_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        gnutls_pubkey_deinit(it.pub);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    unsigned bits = 0;
    gnutls_pubkey_get_pk_algorithm(it.pub, &bits);
    v->key = it.pub;
    v->modulus_bytes = (bits + 7) / 8;
    return v;
}

struct work_verifier *sign_verifier_load(const char *pubkey_path, char *err, size_t errlen)
{
    size_t len = 0;
    char *pem = pubkey_path ? tls_pem_read_key_file(pubkey_path, SIGN_KEYFILE_MAX, &len, err, errlen) : NULL;
    if (!pubkey_path)
        set_err(err, errlen, "no public key file given");
    if (!pem)
        return NULL;
    struct work_verifier *v = sign_verifier_from_pem(pem, len, err, errlen);
    free(pem);
    return v;
}

void sign_verifier_free(struct work_verifier *v)
{
    if (!v)
        return;
    gnutls_pubkey_deinit(v->key);
    free(v);
}

/* ---- reading JSON as Go does (core/gojson_scan) ------------------------ */

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* strtod in the C locale; *overflow when Go's ParseFloat would fail with
 * "value out of range". */
static double parse_number(const uint8_t *p, size_t n, locale_t loc, int *overflow)
{
    char small[64];
    char *text = n < sizeof small ? small : malloc(n + 1);
    if (!text) {
        *overflow = 1;
        return 0;
    }
    memcpy(text, p, n);
    text[n] = 0;
    double f = strtod_l(text, NULL, loc);
    if (text != small)
        free(text);
    *overflow = isinf(f);
    return f;
}

/* Go's decoding of numbers into interface{} as float64: the first number in
 * p[i..end) that is out of range, as *bad; 0 when there is none. */
static int find_overflow(const uint8_t *p, size_t i, size_t end, locale_t loc, struct gojson_span *bad)
{
    while (i < end) {
        if (p[i] == '"') {
            i = gojson_skip_string(p, end, i);
            continue;
        }
        if (p[i] != '-' && !is_digit(p[i])) {
            i++;
            continue;
        }
        size_t j = gojson_skip_value(p, end, i);
        int overflow;
        parse_number(p + i, j - i, loc, &overflow);
        if (overflow) {
            bad->at = i;
            bad->end = j;
            return 1;
        }
        i = j;
    }
    return 0;
}

static void overflow_error(const uint8_t *p, struct gojson_span bad, char *msg, size_t msglen)
{
    set_err(msg, msglen, "json: cannot unmarshal number %.*s into Go value of type float64",
            (int)(bad.end - bad.at), (const char *)p + bad.at);
}

/* ---- header: json.Unmarshal into map[string]interface{} --------------- */

/* 0 with *alg malloc'ed (NULL when "alg" is missing or not a string). */
static int parse_header(const uint8_t *p, size_t n, locale_t loc, char **alg, size_t *alg_len,
                        char *msg, size_t msglen)
{
    struct gojson_scanner *s = malloc(sizeof *s);
    if (!s || gojson_scan_whole(s, p, n) < 0) {
        set_err(msg, msglen, "%s", s ? s->err : "out of memory");
        free(s);
        return -1;
    }
    free(s);
    size_t i = gojson_skip_ws(p, n, 0);
    enum gojson_kind k = gojson_kind_of(p[i]);
    if (k == GOJSON_NULL)
        return 0;
    if (k != GOJSON_OBJECT) {
        set_err(msg, msglen, "json: cannot unmarshal %s into Go value of type map[string]interface {}",
                gojson_kind_name(k));
        return -1;
    }
    struct gojson_span key, val, bad, alg_val = {0, 0};
    if (find_overflow(p, i, n, loc, &bad)) {
        overflow_error(p, bad, msg, msglen);
        return -1;
    }
    for (size_t pos = i; gojson_next_member(p, n, &pos, &key, &val);) {
        size_t klen;
        char *name = gojson_unquote(p, key, &klen);
        if (!name) {
            set_err(msg, msglen, "out of memory");
            return -1;
        }
        if (klen == 3 && memcmp(name, "alg", 3) == 0)
            alg_val = val; /* a map: the last one wins */
        free(name);
    }
    if (alg_val.end && p[alg_val.at] == '"' && !(*alg = gojson_unquote(p, alg_val, alg_len))) {
        set_err(msg, msglen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- claims: json.Decoder into RegisteredClaims ----------------------- */

struct claims {
    int has_exp, has_nbf, has_iat;
    int64_t exp, nbf, iat; /* Go's internal seconds (since year 1) */
    size_t aud_count;
    int aud_match, aud_all_empty;
};

struct claims_ctx {
    const uint8_t *p;
    const char *node;
    locale_t loc;
    struct claims *c;
    char saved[160]; /* Go's first saved (non-fatal) type error */
};

/* Go's case-insensitive field match; the long s (U+017F) folds to 's'. */
static int field_is(const char *key, size_t len, const char *name)
{
    size_t i = 0;
    for (; *name; name++) {
        if (i < len && (key[i] | 0x20) == *name && ((unsigned char)key[i] < 0x80))
            i++;
        else if (*name == 's' && i + 1 < len && (unsigned char)key[i] == 0xc5 &&
                 (unsigned char)key[i + 1] == 0xbf)
            i += 2;
        else
            return 0;
    }
    return i == len;
}

/* math.Modf: the integer part (toward zero) in *whole, the rest returned.
 * Written out so that the daemon does not map libm for this one call. */
static double split_float(double f, double *whole)
{
    if (f != f || f >= 0x1p52 || f <= -0x1p52) { /* NaN, or integral (inf too) */
        *whole = f;
        return f != f ? f : 0.0;
    }
    *whole = (double)(int64_t)f;
    return f - *whole;
}

/* Go's float64 seconds -> time as NumericDate does it (math.Modf, time.Unix,
 * truncation to seconds), with Go's amd64 overflow results. */
static int64_t go_seconds(double f)
{
    double whole, frac = split_float(f, &whole);
    int64_t sec = INT64_MIN;
    if (whole < 9223372036854775808.0 && whole >= -9223372036854775808.0)
        sec = (int64_t)whole;
    if ((int64_t)(frac * 1e9) < 0)
        sec = (int64_t)((uint64_t)sec - 1);
    return (int64_t)((uint64_t)sec + (uint64_t)UNIX_TO_INTERNAL);
}

/* Go's isValidNumber: is s a JSON number literal? */
static int valid_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || !is_digit((uint8_t)s[i]))
        return 0;
    if (s[i++] != '0')
        while (i < n && is_digit((uint8_t)s[i]))
            i++;
    if (i + 1 < n && s[i] == '.' && is_digit((uint8_t)s[i + 1]))
        for (i += 2; i < n && is_digit((uint8_t)s[i]);)
            i++;
    if (i + 1 < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (s[i] == '+' || s[i] == '-')
            if (++i >= n)
                return 0;
        while (i < n && is_digit((uint8_t)s[i]))
            i++;
    }
    return i == n;
}

/* NumericDate.UnmarshalJSON for exp/nbf/iat; null clears the claim. */
static int numeric_date(struct claims_ctx *x, struct gojson_span v, int *has, int64_t *out,
                        char *msg, size_t msglen)
{
    enum gojson_kind k = gojson_kind_of(x->p[v.at]);
    if (k == GOJSON_NULL) {
        *has = 0;
        return 0;
    }
    if (k != GOJSON_NUMBER && k != GOJSON_STRING) {
        set_err(msg, msglen, "could not parse NumericData: json: cannot unmarshal %s into Go value of type json.Number",
                gojson_kind_name(k));
        return -1;
    }
    size_t len = v.end - v.at;
    char *text = k == GOJSON_STRING ? gojson_unquote(x->p, v, &len) : NULL;
    const char *num = text ? text : (const char *)x->p + v.at;
    int rc = -1, overflow = 0;
    if (k == GOJSON_STRING && !text)
        set_err(msg, msglen, "out of memory");
    else if (k == GOJSON_STRING && !valid_number(num, len)) {
        char q[MSG_MAX / 2];
        gojson_quote(x->p + v.at, v.end - v.at, q, sizeof q);
        set_err(msg, msglen, "could not parse NumericData: json: invalid number literal, trying to unmarshal %s into Number", q);
    } else {
        double f = parse_number((const uint8_t *)num, len, x->loc, &overflow);
        if (overflow)
            set_err(msg, msglen, "could not convert json number value to float: strconv.ParseFloat: parsing \"%.*s\": value out of range",
                    (int)len, num);
        else {
            *has = 1;
            *out = go_seconds(f);
            rc = 0;
        }
    }
    free(text);
    return rc;
}

/* Adds one audience string to the running VerifyAudience result. */
static int audience_add(struct claims_ctx *x, struct gojson_span v)
{
    size_t len;
    char *a = gojson_unquote(x->p, v, &len);
    if (!a)
        return -1;
    x->c->aud_count++;
    if (len)
        x->c->aud_all_empty = 0;
    if (len == strlen(x->node) && memcmp(a, x->node, len) == 0)
        x->c->aud_match = 1;
    free(a);
    return 0;
}

/* ClaimStrings.UnmarshalJSON: a string or an array of strings; null keeps
 * the previous value. */
static int audience(struct claims_ctx *x, struct gojson_span v, char *msg, size_t msglen)
{
    enum gojson_kind k = gojson_kind_of(x->p[v.at]);
    struct gojson_span bad, e;
    if (k == GOJSON_NULL)
        return 0;
    if (find_overflow(x->p, v.at, v.end, x->loc, &bad)) {
        overflow_error(x->p, bad, msg, msglen);
        return -1;
    }
    if (k != GOJSON_STRING && k != GOJSON_ARRAY) {
        set_err(msg, msglen, "json: unsupported type: %s", gojson_go_type(k));
        return -1;
    }
    for (size_t pos = v.at; k == GOJSON_ARRAY && gojson_next_element(x->p, v.end, &pos, &e);)
        if (x->p[e.at] != '"') {
            set_err(msg, msglen, "json: unsupported type: %s", gojson_go_type(gojson_kind_of(x->p[e.at])));
            return -1;
        }
    x->c->aud_count = 0;
    x->c->aud_match = 0;
    x->c->aud_all_empty = 1;
    if (k == GOJSON_STRING)
        return audience_add(x, v) < 0 ? (set_err(msg, msglen, "out of memory"), -1) : 0;
    for (size_t pos = v.at; gojson_next_element(x->p, v.end, &pos, &e);)
        if (audience_add(x, e) < 0) {
            set_err(msg, msglen, "out of memory");
            return -1;
        }
    return 0;
}

/* One member of the claims object. */
static int claims_member(struct claims_ctx *x, const char *name, size_t nlen, struct gojson_span v,
                         char *msg, size_t msglen)
{
    static const char *strings_[] = {"iss", "sub", "jti"};
    struct claims *c = x->c;
    if (field_is(name, nlen, "aud"))
        return audience(x, v, msg, msglen);
    if (field_is(name, nlen, "exp"))
        return numeric_date(x, v, &c->has_exp, &c->exp, msg, msglen);
    if (field_is(name, nlen, "nbf"))
        return numeric_date(x, v, &c->has_nbf, &c->nbf, msg, msglen);
    if (field_is(name, nlen, "iat"))
        return numeric_date(x, v, &c->has_iat, &c->iat, msg, msglen);
    for (size_t i = 0; i < 3; i++) {
        enum gojson_kind k = gojson_kind_of(x->p[v.at]);
        if (field_is(name, nlen, strings_[i]) && k != GOJSON_STRING && k != GOJSON_NULL && !x->saved[0])
            snprintf(x->saved, sizeof x->saved,
                     "json: cannot unmarshal %s into Go struct field RegisteredClaims.%s of type string",
                     gojson_kind_name(k), strings_[i]);
    }
    return 0;
}

static int parse_claims(const uint8_t *p, size_t n, const char *node, locale_t loc,
                        struct claims *c, char *msg, size_t msglen)
{
    struct gojson_scanner *s = malloc(sizeof *s);
    size_t end = 0;
    if (!s || gojson_scan_first(s, p, n, &end) < 0) {
        set_err(msg, msglen, "%s", s ? s->err : "out of memory");
        free(s);
        return -1;
    }
    free(s);
    size_t i = gojson_skip_ws(p, end, 0);
    enum gojson_kind k = gojson_kind_of(p[i]);
    if (k == GOJSON_NULL)
        return 0;
    if (k != GOJSON_OBJECT) {
        set_err(msg, msglen, "json: cannot unmarshal %s into Go value of type jwt.RegisteredClaims",
                gojson_kind_name(k));
        return -1;
    }
    struct claims_ctx x = {.p = p, .node = node, .loc = loc, .c = c};
    struct gojson_span key, val;
    for (size_t pos = i; gojson_next_member(p, end, &pos, &key, &val);) {
        size_t klen;
        char *name = gojson_unquote(p, key, &klen);
        int rc = name ? claims_member(&x, name, klen, val, msg, msglen) : -1;
        if (!name)
            set_err(msg, msglen, "out of memory");
        free(name);
        if (rc < 0)
            return -1;
    }
    if (x.saved[0]) {
        set_err(msg, msglen, "%s", x.saved);
        return -1;
    }
    return 0;
}

/* ---- claims validation and signature ----------------------------------- */

/* RegisteredClaims.Valid: exp, then iat, then nbf; the last failure wins. */
static int check_times(const struct claims *c, int64_t now_ns, char *msg, size_t msglen)
{
    int64_t sec = floor_div(now_ns, NS_PER_S), nsec = now_ns - sec * NS_PER_S;
    int64_t now = sec + UNIX_TO_INTERNAL;
    int bad = 0;
    if (c->has_exp && now >= c->exp) {
        int64_t d; /* now.Sub(exp), saturating as Go does */
        if (__builtin_sub_overflow(now, c->exp, &d) || __builtin_mul_overflow(d, NS_PER_S, &d) ||
            __builtin_add_overflow(d, nsec, &d))
            d = INT64_MAX;
        char dur[64];
        godur_format(d, dur, sizeof dur);
        set_err(msg, msglen, "token is expired by %s", dur);
        bad = 1;
    }
    if (c->has_iat && now < c->iat) {
        set_err(msg, msglen, "token used before issued");
        bad = 1;
    }
    if (c->has_nbf && now < c->nbf) {
        set_err(msg, msglen, "token is not valid yet");
        bad = 1;
    }
    return bad ? -1 : 0;
}

enum alg_kind { ALG_RSA, ALG_PSS, ALG_HMAC, ALG_ECDSA, ALG_EDDSA, ALG_NONE };

struct alg {
    const char *name;
    enum alg_kind kind;
    gnutls_sign_algorithm_t sign;
};

/* golang-jwt v4's registered signing methods. */
static const struct alg algs[] = {
    {"RS256", ALG_RSA, GNUTLS_SIGN_RSA_SHA256},
    {"RS384", ALG_RSA, GNUTLS_SIGN_RSA_SHA384},
    {"RS512", ALG_RSA, GNUTLS_SIGN_RSA_SHA512},
    /* GnuTLS checks PSS with salt length = hash size only (see the top). */
    {"PS256", ALG_PSS, GNUTLS_SIGN_RSA_PSS_RSAE_SHA256},
    {"PS384", ALG_PSS, GNUTLS_SIGN_RSA_PSS_RSAE_SHA384},
    {"PS512", ALG_PSS, GNUTLS_SIGN_RSA_PSS_RSAE_SHA512},
    {"HS256", ALG_HMAC, GNUTLS_SIGN_UNKNOWN},
    {"HS384", ALG_HMAC, GNUTLS_SIGN_UNKNOWN},
    {"HS512", ALG_HMAC, GNUTLS_SIGN_UNKNOWN},
    {"ES256", ALG_ECDSA, GNUTLS_SIGN_UNKNOWN},
    {"ES384", ALG_ECDSA, GNUTLS_SIGN_UNKNOWN},
    {"ES512", ALG_ECDSA, GNUTLS_SIGN_UNKNOWN},
    {"EdDSA", ALG_EDDSA, GNUTLS_SIGN_UNKNOWN},
    {"none", ALG_NONE, GNUTLS_SIGN_UNKNOWN},
};

static const struct alg *find_alg(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++)
        if (strlen(algs[i].name) == len && memcmp(algs[i].name, name, len) == 0)
            return &algs[i];
    return NULL;
}

/* Method.Verify(header.claims, signature, rsaPublicKey) of golang-jwt. */
static int check_signature(const struct work_verifier *v, const struct alg *a, const char *input,
                           size_t input_len, const char *sig64, size_t sig64_len, char *msg, size_t msglen)
{
    if (a->kind == ALG_NONE) {
        set_err(msg, msglen, "'none' signature type is not allowed");
        return -1;
    }
    if (a->kind == ALG_HMAC || a->kind == ALG_EDDSA) {
        set_err(msg, msglen, "key is of invalid type");
        return -1;
    }
    size_t len;
    uint8_t *sig = b64url_decode(sig64, sig64_len, &len, msg, msglen);
    if (!sig)
        return -1;
    int rc = -1;
    if (a->kind == ALG_ECDSA)
        set_err(msg, msglen, "key is of invalid type");
    else {
        gnutls_datum_t data = {(unsigned char *)input, (unsigned)input_len};
        gnutls_datum_t sd = {sig, (unsigned)len};
        if (len == v->modulus_bytes && gnutls_pubkey_verify_data2(v->key, a->sign, 0, &data, &sd) >= 0)
            rc = 0;
        else
            set_err(msg, msglen, "crypto/rsa: verification error");
    }
    free(sig);
    return rc;
}

/* ---- the pipeline ------------------------------------------------------ */

struct parts {
    const char *seg[3];
    size_t len[3];
};

static int split_token(const char *t, size_t n, struct parts *pt)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && t[i] != '.')
            continue;
        if (k == 3)
            return -1;
        pt->seg[k] = t + start;
        pt->len[k++] = i - start;
        start = i + 1;
    }
    return k == 3 ? 0 : -1;
}

struct decoded {
    uint8_t *header, *claims;
    size_t header_len, claims_len;
    char *alg;
    size_t alg_len;
};

/* ParseUnverified: header and claims decoded, the signing method found. */
static const struct alg *parse_unverified(const char *token, const struct parts *pt, const char *node,
                                          locale_t loc, struct decoded *d, struct claims *c,
                                          char *msg, size_t msglen)
{
    d->header = b64url_decode(pt->seg[0], pt->len[0], &d->header_len, msg, msglen);
    if (!d->header) {
        if (strncasecmp(token, "bearer ", 7) == 0)
            set_err(msg, msglen, "tokenstring should not contain 'bearer '");
        return NULL;
    }
    if (parse_header(d->header, d->header_len, loc, &d->alg, &d->alg_len, msg, msglen) < 0)
        return NULL;
    d->claims = b64url_decode(pt->seg[1], pt->len[1], &d->claims_len, msg, msglen);
    if (!d->claims || parse_claims(d->claims, d->claims_len, node, loc, c, msg, msglen) < 0)
        return NULL;
    const struct alg *a = d->alg ? find_alg(d->alg, d->alg_len) : NULL;
    if (!a)
        set_err(msg, msglen, "signing method (alg) is %s.", d->alg ? "unavailable" : "unspecified");
    return a;
}

/* ParseWithClaims: 0 valid, -1 with golang-jwt's message, 1 when only the
 * audience is wrong. */
static int check_token(const struct work_verifier *v, const char *token, size_t n, const char *node,
                       int64_t now_ns, locale_t loc, char *msg, size_t msglen)
{
    struct parts pt;
    if (split_token(token, n, &pt) < 0) {
        set_err(msg, msglen, "token contains an invalid number of segments");
        return -1;
    }
    struct decoded d = {0};
    struct claims c = {.aud_all_empty = 1};
    const struct alg *a = parse_unverified(token, &pt, node, loc, &d, &c, msg, msglen);
    int rc = -1;
    if (a) {
        char times[MSG_MAX];
        int times_bad = check_times(&c, now_ns, times, sizeof times);
        size_t input_len = pt.len[0] + 1 + pt.len[1];
        if (check_signature(v, a, token, input_len, pt.seg[2], pt.len[2], msg, msglen) < 0)
            rc = -1;
        else if (times_bad) {
            set_err(msg, msglen, "%s", times);
            rc = -1;
        } else
            rc = c.aud_count > 0 && !c.aud_all_empty && c.aud_match ? 0 : 1;
    }
    free(d.header);
    free(d.claims);
    free(d.alg);
    return rc;
}

int sign_verify_at(struct work_verifier *v, const char *token, const char *node_id,
                   int64_t now_ns, char *err, size_t errlen)
{
    if (!token || !token[0]) {
        set_err(err, errlen, "could not verify signature: signature is empty");
        return -1;
    }
    if (!v) {
        set_err(err, errlen, "could not verify signature: verifying key not specified");
        return -1;
    }
    size_t n = strnlen(token, SIGN_TOKEN_MAX + 1);
    if (n > SIGN_TOKEN_MAX) {
        set_err(err, errlen, "could not verify signature: token is longer than %d bytes", SIGN_TOKEN_MAX);
        return -1;
    }
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!loc) {
        set_err(err, errlen, "could not verify signature: out of memory");
        return -1;
    }
    char msg[MSG_MAX] = "";
    int rc = check_token(v, token, n, node_id ? node_id : "", now_ns, loc, msg, sizeof msg);
    freelocale(loc);
    if (rc < 0)
        set_err(err, errlen, "could not verify signature: %s", msg);
    else if (rc > 0)
        set_err(err, errlen, "token audience did not match node ID");
    return rc == 0 ? 0 : -1;
}

int sign_verify(struct work_verifier *v, const char *token, const char *node_id,
                char *err, size_t errlen)
{
    return sign_verify_at(v, token, node_id, util_now_ns(), err, errlen);
}
