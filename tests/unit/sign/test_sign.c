/* Unit tests for src/work/sign.c: tokens we make (exact bytes, round trip),
 * tokens PyJWT made (fixtures/tokens.json, checked at fixed clocks), upstream's
 * key-file rules, and golang-jwt v4's answers to hostile tokens.  Tokens with
 * arbitrary claims are signed here with GnuTLS directly, so claim checks can
 * be reached behind a valid signature.  argv[1] is the fixtures directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "work/sign.h"

#define NS 1000000000LL
#define NOW (1900000000LL * NS)
#define BAD "could not verify signature: "

static const char *fixtures = "fixtures";
static struct work_verifier *verifier;
static gnutls_privkey_t raw_key; /* rsa_pkcs1.pem, for tokens with any content */

static const char *fixture(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    return path;
}

static char *read_text(const char *name)
{
    FILE *f = fopen(fixture(name), "rb");
    assert_non_null(f);
    char *s = calloc(1, 1 << 20);
    size_t n = fread(s, 1, (1 << 20) - 1, f);
    fclose(f);
    s[n] = 0;
    return s;
}

static char *b64url(const void *data, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(n / 3 * 4 + 5), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        size_t k = n - i < 3 ? n - i : 3;
        for (size_t j = 0; j <= k; j++)
            *o++ = tab[v >> (18 - 6 * j) & 63];
    }
    *o = 0;
    return out;
}

static char *b64url_decode_text(const char *s, size_t n)
{
    char *out = calloc(1, n + 1);
    unsigned acc = 0, bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        acc = acc << 6 | (unsigned)(strchr(tab, s[i]) - tab);
        if ((bits += 6) >= 8) {
            bits -= 8;
            out[o++] = (char)(acc >> bits & 0xff);
        }
    }
    return out;
}

/* b64(header).b64(claims).sig */
static char *unsigned_token(const char *header, const char *claims, const char *sig)
{
    char *h = b64url(header, strlen(header)), *c = b64url(claims, strlen(claims));
    char *t = malloc(strlen(h) + strlen(c) + strlen(sig) + 3);
    sprintf(t, "%s.%s.%s", h, c, sig);
    free(h);
    free(c);
    return t;
}

/* input + "." + signature over input with rsa_pkcs1.pem; takes input. */
static char *sign_input(char *t, gnutls_sign_algorithm_t alg)
{
    gnutls_datum_t data = {(unsigned char *)t, (unsigned)strlen(t)}, sig;
    assert_int_equal(gnutls_privkey_sign_data2(raw_key, alg, 0, &data, &sig), 0);
    char *s = b64url(sig.data, sig.size);
    gnutls_free(sig.data);
    char *out = malloc(strlen(t) + strlen(s) + 2);
    sprintf(out, "%s.%s", t, s);
    free(t);
    free(s);
    return out;
}

/* A token with this header and claims, signed with rsa_pkcs1.pem. */
static char *signed_token(const char *header, const char *claims, gnutls_sign_algorithm_t alg)
{
    char *t = unsigned_token(header, claims, "");
    t[strlen(t) - 1] = 0;
    return sign_input(t, alg);
}

#define RS256 "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"

static char *rs256(const char *claims)
{
    return signed_token(RS256, claims, GNUTLS_SIGN_RSA_SHA256);
}

/* want "" = valid. */
static void expect_at(const char *token, const char *node, int64_t now, const char *want)
{
    char err[1024] = "";
    int rc = sign_verify_at(verifier, token, node, now, err, sizeof err);
    if (!want[0] && rc != 0)
        fail_msg("unexpected error: %s (token %.80s)", err, token);
    if (want[0] && (rc == 0 || strcmp(err, want) != 0))
        fail_msg("want \"%s\", got rc %d \"%s\" (token %.100s)", want, rc, err, token);
}

static void expect(const char *token, const char *want)
{
    expect_at(token, "node2", NOW, want);
}

/* The claims are checked behind a valid RS256 signature. */
static void expect_claims(const char *claims, const char *want)
{
    char *t = rs256(claims);
    expect(t, want);
    free(t);
}

/* Errors found before the signature is looked at: any signature will do. */
static void expect_unsigned(const char *header, const char *claims, const char *want)
{
    char *t = unsigned_token(header, claims, "c2ln");
    expect(t, want);
    free(t);
}

static int setup(void **state)
{
    (void)state;
    char err[256];
    verifier = sign_verifier_load(fixture("rsa_pub.pem"), err, sizeof err);
    if (!verifier)
        fail_msg("%s", err);
    char *pem = read_text("rsa_pkcs1.pem");
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned)strlen(pem)};
    assert_int_equal(gnutls_privkey_init(&raw_key), 0);
    assert_int_equal(gnutls_privkey_import_x509_raw(raw_key, &d, GNUTLS_X509_FMT_PEM, NULL, 0), 0);
    free(pem);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sign_verifier_free(verifier);
    gnutls_privkey_deinit(raw_key);
    return 0;
}

/* ---- tokens we make ---------------------------------------------------- */

static void check_our_token(const char *keyfile)
{
    char err[256] = "";
    struct work_signer *s = sign_signer_load(fixture(keyfile), 0, err, sizeof err);
    if (!s)
        fail_msg("%s: %s", keyfile, err);
    assert_int_equal(sign_signer_lifetime(s), SIGN_DEFAULT_LIFETIME_NS);
    char *t = sign_token_at(s, "node2", NOW + 123456789, err, sizeof err);
    assert_non_null(t);
    const char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(t, '='));
    char *header = b64url_decode_text(t, (size_t)(dot1 - t));
    char *claims = b64url_decode_text(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(header, "{\"alg\":\"RS512\",\"typ\":\"JWT\"}");
    assert_string_equal(claims, "{\"aud\":[\"node2\"],\"exp\":1900000300}");
    assert_int_equal(strlen(dot2 + 1), 342); /* 256 signature bytes */
    expect_at(t, "node2", NOW, "");
    expect_at(t, "node2", NOW + 299 * NS, "");
    expect_at(t, "node3", NOW, "token audience did not match node ID");
    expect_at(t, "node2", NOW + 300 * NS, BAD "token is expired by 0s");
    expect_at(t, "node2", NOW + 3600 * NS + 1500000, BAD "token is expired by 55m0.0015s");
    free(header);
    free(claims);
    free(t);
    sign_signer_free(s);
}

static void test_round_trip(void **state)
{
    (void)state;
    check_our_token("rsa_pkcs1.pem");
    check_our_token("rsa_pkcs8.pem");
}

static void test_token_details(void **state)
{
    (void)state;
    char err[256];
    struct work_signer *s = sign_signer_load(fixture("rsa_pkcs8.pem"), 3600 * NS, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sign_signer_lifetime(s), 3600 * NS);
    /* Go's escaping of the audience: <, >, & and quotes. */
    char *t = sign_token_at(s, "a<b>&\"c", NOW - 1, err, sizeof err);
    assert_non_null(t);
    const char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
    char *claims = b64url_decode_text(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(claims, "{\"aud\":[\"a\\u003cb\\u003e\\u0026\\\"c\"],\"exp\":1900003599}");
    expect_at(t, "a<b>&\"c", NOW, "");
    free(claims);
    free(t);
    /* Before 1970 the seconds are floored, as Go's Unix() does. */
    t = sign_token_at(s, "n", -3600 * NS - 1, err, sizeof err);
    dot1 = strchr(t, '.');
    dot2 = strchr(dot1 + 1, '.');
    claims = b64url_decode_text(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    assert_string_equal(claims, "{\"aud\":[\"n\"],\"exp\":-1}");
    free(claims);
    free(t);
    /* Refusals. */
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_null(sign_token_at(s, big, NOW, err, sizeof err));
    assert_null(sign_token_at(s, "n", INT64_MAX - 10, err, sizeof err));
    assert_null(sign_token(NULL, "n", err, sizeof err));
    assert_string_equal(err, "cannot sign work: signing key is empty");
    sign_signer_free(s);
    /* The real clock. */
    s = sign_signer_load(fixture("rsa_pkcs1.pem"), 0, NULL, 0);
    t = sign_token(s, "node2", NULL, 0);
    assert_int_equal(sign_verify(verifier, t, "node2", err, sizeof err), 0);
    free(t);
    sign_signer_free(s);
}

/* ---- tokens PyJWT made --------------------------------------------------- */

static void test_pyjwt_tokens(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *cases = json_load_file(fixture("tokens.json"), 0, &jerr);
    if (!cases)
        fail_msg("tokens.json: %s", jerr.text);
    assert_true(json_array_size(cases) > 20);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        print_message("pyjwt: %s\n", name);
        expect_at(json_string_value(json_object_get(c, "token")),
                  json_string_value(json_object_get(c, "node")),
                  (int64_t)json_integer_value(json_object_get(c, "now_ns")),
                  json_string_value(json_object_get(c, "want")));
    }
    json_decref(cases);
}

/* ---- key files ----------------------------------------------------------- */

static void expect_signer_error(const char *pem, const char *want)
{
    char err[512] = "";
    struct work_signer *s = sign_signer_from_pem(pem, strlen(pem), 0, err, sizeof err);
    if (s || strcmp(err, want) != 0)
        fail_msg("want \"%s\", got %p \"%s\"", want, (void *)s, err);
}

static void expect_verifier_error(const char *pem, const char *want)
{
    char err[512] = "";
    struct work_verifier *v = sign_verifier_from_pem(pem, strlen(pem), err, sizeof err);
    if (v || strcmp(err, want) != 0)
        fail_msg("want \"%s\", got %p \"%s\"", want, (void *)v, err);
}

static char *cat(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

static void test_key_files(void **state)
{
    (void)state;
    char err[512];
    char *pkcs1 = read_text("rsa_pkcs1.pem"), *pub = read_text("rsa_pub.pem");
    char *cert = read_text("cert.pem"), *ec = read_text("ec_pkcs8.pem");

    /* Leading text and trailing whitespace are fine. */
    char *lead = cat("a comment line\n", pkcs1), *trail = cat(pkcs1, "\n\n  \n");
    struct work_signer *s = sign_signer_from_pem(lead, strlen(lead), 0, err, sizeof err);
    assert_non_null(s);
    sign_signer_free(s);
    s = sign_signer_from_pem(trail, strlen(trail), 0, err, sizeof err);
    assert_non_null(s);
    sign_signer_free(s);

    assert_null(sign_signer_load("/nonexistent/key.pem", 0, err, sizeof err));
    assert_string_equal(err, "open /nonexistent/key.pem: no such file or directory");
    assert_null(sign_verifier_load("/nonexistent/pub.pem", err, sizeof err));
    assert_string_equal(err, "open /nonexistent/pub.pem: no such file or directory");
    assert_null(sign_signer_load(fixtures, 0, err, sizeof err));
    assert_true(strstr(err, "is a directory") != NULL);

    expect_signer_error(pub, "private key file does not contain private key data");
    expect_signer_error(cert, "private key file does not contain private key data");
    expect_signer_error(ec, "private key file does not contain private key data");
    expect_signer_error("", "private key file should contain exactly one item");
    expect_signer_error("garbage\n", "failed to decode PEM block");
    char *two = cat(pkcs1, pkcs1), *with_cert = cat(pkcs1, cert), *junk = cat(pkcs1, "junk\n");
    expect_signer_error(two, "private key file should contain exactly one item");
    expect_signer_error(with_cert, "private key file should contain exactly one item");
    expect_signer_error(junk, "failed to decode PEM block");
    char *encrypted = read_text("rsa_encrypted.pem"), *pkcs1pub = read_text("rsa_pub_pkcs1.pem");
    expect_signer_error(encrypted, "unknown block type ENCRYPTED PRIVATE KEY");
    expect_verifier_error(pkcs1pub, "unknown block type RSA PUBLIC KEY");
    char *short_key = read_text("rsa512_pkcs1.pem"), *short_pub = read_text("rsa512_pub.pem");
    expect_signer_error(short_key, "crypto/rsa: 512-bit keys are insecure");
    expect_verifier_error(short_pub, "crypto/rsa: 512-bit keys are insecure");

    /* A damaged body, a missing END line, a header line. */
    char *broken = strdup(pkcs1);
    broken[40] = '*';
    expect_signer_error(broken, "failed to decode PEM block");
    char *no_end = strdup(pkcs1);
    *strstr(no_end, "-----END") = 0;
    expect_signer_error(no_end, "failed to decode PEM block");
    expect_signer_error("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n"
                        "-----END RSA PRIVATE KEY-----\n", "failed to decode PEM block");
    expect_signer_error("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                        "x509: failed to parse private key: ASN1 parser: Error in DER parsing.");
    expect_signer_error("-----BEGIN WHATEVER-----\nAAAA\n-----END WHATEVER-----\n",
                        "unknown block type WHATEVER");

    char *ecpub = read_text("ec_pub.pem");
    expect_verifier_error(ecpub, "public key file does not contain public key data");
    expect_verifier_error(pkcs1, "public key file does not contain public key data");
    char *two_pub = cat(pub, pub);
    expect_verifier_error(two_pub, "public key file should contain exactly one item");
    struct work_verifier *v = sign_verifier_load(fixture("other_pub.pem"), err, sizeof err);
    assert_non_null(v);
    sign_verifier_free(v);

    /* Bounds. */
    char *huge = calloc(1, SIGN_KEYFILE_MAX + 2);
    memset(huge, ' ', SIGN_KEYFILE_MAX + 1);
    assert_null(sign_signer_from_pem(huge, SIGN_KEYFILE_MAX + 1, 0, err, sizeof err));
    FILE *f = fopen("sign_test_huge.pem", "wb");
    fwrite(huge, 1, SIGN_KEYFILE_MAX + 1, f);
    fclose(f);
    assert_null(sign_verifier_load("sign_test_huge.pem", err, sizeof err));
    assert_true(strstr(err, "larger than") != NULL);
    remove("sign_test_huge.pem");
    assert_null(sign_signer_load(NULL, 0, err, sizeof err));
    sign_signer_free(NULL);
    sign_verifier_free(NULL);

    char *all[] = {pkcs1, pub, cert, ec, lead, trail, two, with_cert, junk, encrypted, pkcs1pub,
                   short_key, short_pub, broken, no_end, ecpub, two_pub, huge};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* ---- hostile tokens ------------------------------------------------------ */

static void test_empty_and_bounds(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(sign_verify_at(verifier, "", "node2", NOW, err, sizeof err), -1);
    assert_string_equal(err, BAD "signature is empty");
    assert_int_equal(sign_verify_at(NULL, NULL, "node2", NOW, err, sizeof err), -1);
    assert_string_equal(err, BAD "signature is empty");
    assert_int_equal(sign_verify_at(NULL, "a.b.c", "node2", NOW, err, sizeof err), -1);
    assert_string_equal(err, BAD "verifying key not specified");
    assert_int_equal(sign_verify_at(verifier, "a.b.c", "node2", NOW, NULL, 0), -1);

    char *big = malloc(SIGN_TOKEN_MAX + 2);
    memset(big, 'A', SIGN_TOKEN_MAX + 1);
    big[SIGN_TOKEN_MAX + 1] = 0;
    expect(big, BAD "token is longer than 65536 bytes");
    big[SIGN_TOKEN_MAX] = 0; /* exactly the limit: parsed (and refused later) */
    expect(big, BAD "token contains an invalid number of segments");
    free(big);
}

static void test_segments_and_base64(void **state)
{
    (void)state;
    const char *seg = BAD "token contains an invalid number of segments";
    expect("abc", seg);
    expect("a.b", seg);
    expect("a.b.c.d", seg);
    expect("...", seg);
    expect("e!.e30.c2ln", BAD "illegal base64 data at input byte 1");
    expect("eyJhbGciOiJSUzI1NiJ9=.e30.c2ln", BAD "illegal base64 data at input byte 20");
    expect("eyJhb.e30.c2ln", BAD "illegal base64 data at input byte 4");
    expect("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", BAD "tokenstring should not contain 'bearer '");
    expect("bEaReR x.e30.c2ln", BAD "tokenstring should not contain 'bearer '");
    expect("eyJhbGciOiJSUzI1NiJ9.e30.c2l+", BAD "illegal base64 data at input byte 3");
    expect("eyJhbGciOiJSUzI1NiJ9.e3+0.c2ln", BAD "illegal base64 data at input byte 2");
    /* CR and LF are skipped inside segments, as Go's decoder does (the
     * signature covers the text as sent). */
    char *t = rs256("{\"aud\":\"node2\"}");
    size_t len = strlen(t) + 3;
    char *split = malloc(len);
    snprintf(split, len, "%.5s\r\n%s", t, t + 5);
    expect(split, BAD "crypto/rsa: verification error");
    *strrchr(split, '.') = 0;
    char *resigned = sign_input(split, GNUTLS_SIGN_RSA_SHA256);
    expect(resigned, "");
    free(resigned);
    /* Truncated anywhere: never valid, never a crash. */
    for (size_t n = 1; n < strlen(t); n++) {
        char *cut = strndup(t, n);
        char err[256];
        assert_int_equal(sign_verify_at(verifier, cut, "node2", NOW, err, sizeof err), -1);
        free(cut);
    }
    char *last = strdup(t);
    last[strlen(last) - 5] ^= 1;
    expect(last, BAD "crypto/rsa: verification error");
    free(last);
    free(t);
}

static void test_header_json(void **state)
{
    (void)state;
    const char *ok = "{\"aud\":\"node2\"}";
    expect_unsigned("", ok, BAD "unexpected end of JSON input");
    expect_unsigned("  ", ok, BAD "unexpected end of JSON input");
    expect_unsigned("{\"alg\":\"RS256\"", ok, BAD "unexpected end of JSON input");
    expect_unsigned("{\"alg\":\"RS256\"}x", ok, BAD "invalid character 'x' after top-level value");
    expect_unsigned("{\"alg\":\"RS256\"} {}", ok, BAD "invalid character '{' after top-level value");
    expect_unsigned("[1]", ok, BAD "json: cannot unmarshal array into Go value of type map[string]interface {}");
    expect_unsigned("\"s\"", ok, BAD "json: cannot unmarshal string into Go value of type map[string]interface {}");
    expect_unsigned("12", ok, BAD "json: cannot unmarshal number into Go value of type map[string]interface {}");
    expect_unsigned("true", ok, BAD "json: cannot unmarshal bool into Go value of type map[string]interface {}");
    expect_unsigned("null", ok, BAD "signing method (alg) is unspecified.");
    expect_unsigned("{}", ok, BAD "signing method (alg) is unspecified.");
    expect_unsigned("{\"alg\":1}", ok, BAD "signing method (alg) is unspecified.");
    expect_unsigned("{\"ALG\":\"RS256\"}", ok, BAD "signing method (alg) is unspecified.");
    expect_unsigned("{\"alg\":\"RS256\",\"alg\":null}", ok, BAD "signing method (alg) is unspecified.");
    expect_unsigned("{\"alg\":\"XX\"}", ok, BAD "signing method (alg) is unavailable.");
    expect_unsigned("{\"alg\":\"rs256\"}", ok, BAD "signing method (alg) is unavailable.");
    expect_unsigned("{\"alg\":\"RS256\\u0000\"}", ok, BAD "signing method (alg) is unavailable.");
    expect_unsigned("{\"alg\":\"RS256\",\"x\":[1,{\"y\":-1e400}]}", ok,
                    BAD "json: cannot unmarshal number -1e400 into Go value of type float64");
    expect_unsigned("{'alg'}", ok, BAD "invalid character '\\'' looking for beginning of object key string");
    expect_unsigned("{\"a\" 1}", ok, BAD "invalid character '1' after object key");
    expect_unsigned("{\"a\":1 \"b\"}", ok, BAD "invalid character '\"' after object key:value pair");
    expect_unsigned("{\"a\":1,}", ok, BAD "invalid character '}' looking for beginning of object key string");
    expect_unsigned("{\"a\":[1 2]}", ok, BAD "invalid character '2' after array element");
    expect_unsigned("{\"a\":[1,]}", ok, BAD "invalid character ']' looking for beginning of value");
    expect_unsigned("{\"a\":tru}", ok, BAD "invalid character '}' in literal true (expecting 'e')");
    expect_unsigned("{\"a\":nul", ok, BAD "invalid character ' ' in literal null (expecting 'l')");
    expect_unsigned("{\"a\":fals}", ok, BAD "invalid character '}' in literal false (expecting 'e')");
    expect_unsigned("{\"a\":\"\\x\"}", ok, BAD "invalid character 'x' in string escape code");
    expect_unsigned("{\"a\":\"\\u12G4\"}", ok, BAD "invalid character 'G' in \\u hexadecimal character escape");
    expect_unsigned("{\"a\":-x}", ok, BAD "invalid character 'x' in numeric literal");
    expect_unsigned("{\"a\":1.}", ok, BAD "invalid character '}' after decimal point in numeric literal");
    expect_unsigned("{\"a\":1e}", ok, BAD "invalid character '}' in exponent of numeric literal");
    expect_unsigned("{\"a\":01}", ok, BAD "invalid character '1' after object key:value pair");
    expect_unsigned("{\"a\":\"\n\"}", ok, BAD "invalid character '\\n' in string literal");
    expect_unsigned("{\"a\":\"\x01\"}", ok, BAD "invalid character '\\x01' in string literal");
    expect_unsigned("\xff", ok, BAD "invalid character '\xc3\xbf' looking for beginning of value");
    expect_unsigned("\x80", ok, BAD "invalid character '\\u0080' looking for beginning of value");
    expect_unsigned("\x7f", ok, BAD "invalid character '\\x7f' looking for beginning of value");
    expect_unsigned("\\", ok, BAD "invalid character '\\\\' looking for beginning of value");

    char *deep = malloc(20010);
    memset(deep, '[', 10001);
    deep[10001] = 0;
    expect_unsigned(deep, ok, BAD "invalid character '[' exceeded max depth");
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = 0;
    expect_unsigned(deep, ok, BAD "json: cannot unmarshal array into Go value of type map[string]interface {}");
    free(deep);

    /* Accepted spellings: escapes, the last duplicate, unknown members. */
    char *t = signed_token("{\"\\u0061lg\":\"R\\u0053256\"}", ok, GNUTLS_SIGN_RSA_SHA256);
    expect(t, "");
    free(t);
    t = signed_token("{\"alg\":\"XX\",\"alg\":\"RS256\",\"x\":{\"y\":[null,true,1.5e3]}}", ok,
                     GNUTLS_SIGN_RSA_SHA256);
    expect(t, "");
    free(t);
    t = signed_token(" \r\n{\"alg\":\"RS256\"} \n", ok, GNUTLS_SIGN_RSA_SHA256);
    expect(t, "");
    free(t);
}

static void test_claims_json(void **state)
{
    (void)state;
    const char *h = RS256;
    expect_unsigned(h, "", BAD "EOF");
    expect_unsigned(h, " \n ", BAD "EOF");
    expect_unsigned(h, "{\"aud\":", BAD "unexpected EOF");
    expect_unsigned(h, "[", BAD "unexpected EOF");
    expect_unsigned(h, "tru", BAD "unexpected EOF");
    expect_unsigned(h, "{\"a\" 1}", BAD "invalid character '1' after object key");
    expect_unsigned(h, "123", BAD "json: cannot unmarshal number into Go value of type jwt.RegisteredClaims");
    expect_unsigned(h, "[1]", BAD "json: cannot unmarshal array into Go value of type jwt.RegisteredClaims");
    expect_unsigned(h, "\"x\"", BAD "json: cannot unmarshal string into Go value of type jwt.RegisteredClaims");
    expect_unsigned(h, "false", BAD "json: cannot unmarshal bool into Go value of type jwt.RegisteredClaims");
    expect_unsigned(h, "{\"exp\":\"abc\"}",
                    BAD "could not parse NumericData: json: invalid number literal, trying to unmarshal \"\\\"abc\\\"\" into Number");
    expect_unsigned(h, "{\"exp\":\"\"}",
                    BAD "could not parse NumericData: json: invalid number literal, trying to unmarshal \"\\\"\\\"\" into Number");
    expect_unsigned(h, "{\"nbf\":true}",
                    BAD "could not parse NumericData: json: cannot unmarshal bool into Go value of type json.Number");
    expect_unsigned(h, "{\"iat\":{}}",
                    BAD "could not parse NumericData: json: cannot unmarshal object into Go value of type json.Number");
    expect_unsigned(h, "{\"exp\":[1]}",
                    BAD "could not parse NumericData: json: cannot unmarshal array into Go value of type json.Number");
    expect_unsigned(h, "{\"exp\":1e400}",
                    BAD "could not convert json number value to float: strconv.ParseFloat: parsing \"1e400\": value out of range");
    expect_unsigned(h, "{\"exp\":\"-1e999\"}",
                    BAD "could not convert json number value to float: strconv.ParseFloat: parsing \"-1e999\": value out of range");
    expect_unsigned(h, "{\"aud\":1}", BAD "json: unsupported type: float64");
    expect_unsigned(h, "{\"aud\":true}", BAD "json: unsupported type: bool");
    expect_unsigned(h, "{\"aud\":{\"a\":1}}", BAD "json: unsupported type: map[string]interface {}");
    expect_unsigned(h, "{\"aud\":[\"node2\",1]}", BAD "json: unsupported type: float64");
    expect_unsigned(h, "{\"aud\":[[]]}", BAD "json: unsupported type: []interface {}");
    expect_unsigned(h, "{\"aud\":[null]}", BAD "json: unsupported type: <nil>");
    expect_unsigned(h, "{\"aud\":[\"x\",{\"a\":1e400}]}",
                    BAD "json: cannot unmarshal number 1e400 into Go value of type float64");
    expect_unsigned(h, "{\"iss\":1,\"aud\":[\"node2\"]}",
                    BAD "json: cannot unmarshal number into Go struct field RegisteredClaims.iss of type string");
    expect_unsigned(h, "{\"SUB\":[],\"jti\":{}}",
                    BAD "json: cannot unmarshal array into Go struct field RegisteredClaims.sub of type string");
    expect_unsigned(h, "{\"i\xc5\xbfs\":false}", /* U+017F folds to 's', as in Go */
                    BAD "json: cannot unmarshal bool into Go struct field RegisteredClaims.iss of type string");
    /* A fatal error later beats a saved type error earlier, as in Go. */
    expect_unsigned(h, "{\"iss\":1,\"exp\":\"x\"}",
                    BAD "could not parse NumericData: json: invalid number literal, trying to unmarshal \"\\\"x\\\"\" into Number");
    /* Parse errors come before the alg lookup. */
    expect_unsigned("{\"alg\":\"XX\"}", "{\"exp\":true}",
                    BAD "could not parse NumericData: json: cannot unmarshal bool into Go value of type json.Number");
}

static void test_claims_values(void **state)
{
    (void)state;
    const char *aud = "token audience did not match node ID";
    expect_claims("{\"aud\":[\"node2\"]} trailing junk ignored", "");
    expect_claims("null", aud);
    expect_claims("{}", aud);
    expect_claims("{\"AUD\":[\"node2\"]}", "");
    expect_claims("{\"aud\":[\"node2\"],\"Aud\":null}", "");
    expect_claims("{\"aud\":[\"node2\"],\"aud\":[\"x\"]}", aud);
    expect_claims("{\"aud\":\"no\\u0064e2\"}", "");
    expect_claims("{\"aud\":[\"node\\u0000\"]}", aud);
    expect_claims("{\"aud\":[\"\",\"node2\"]}", "");
    expect_claims("{\"aud\":[\"\"]}", aud);
    expect_claims("{\"aud\":[\"node2\"],\"iss\":null,\"sub\":\"s\",\"other\":[1e400]}", "");
    expect_claims("{\"aud\":\"node2\",\"exp\":1900000001}", "");
    expect_claims("{\"aud\":\"node2\",\"exp\":1900000000}", BAD "token is expired by 0s");
    expect_claims("{\"aud\":\"node2\",\"exp\":1900000000.999}", BAD "token is expired by 0s");
    expect_claims("{\"aud\":\"node2\",\"exp\":\"1.9e9\"}", BAD "token is expired by 0s");
    expect_claims("{\"aud\":\"node2\",\"exp\":1899996399}", BAD "token is expired by 1h0m1s");
    expect_claims("{\"aud\":\"node2\",\"exp\":-1.5}", BAD "token is expired by 527777h46m42s");
    expect_claims("{\"aud\":\"node2\",\"exp\":1e19}", BAD "token is expired by 2562047h47m16.854775807s");
    expect_claims("{\"aud\":\"node2\",\"exp\":-1e30}", BAD "token is expired by 2562047h47m16.854775807s");
    expect_claims("{\"aud\":\"node2\",\"exp\":1,\"EXP\":null}", "");
    expect_claims("{\"aud\":\"node2\",\"nbf\":1900000000,\"iat\":1900000000}", "");
    expect_claims("{\"aud\":\"node2\",\"nbf\":1900000001}", BAD "token is not valid yet");
    expect_claims("{\"aud\":\"node2\",\"iat\":1900000000.5}", "");
    expect_claims("{\"aud\":\"node2\",\"iat\":1900000001}", BAD "token used before issued");
    expect_claims("{\"aud\":\"node2\",\"exp\":1,\"iat\":1900000001}", BAD "token used before issued");
    expect_claims("{\"aud\":\"node3\",\"exp\":1}", BAD "token is expired by 527777h46m39s");
    /* The node ID compared is the whole string. */
    char *t = rs256("{\"aud\":\"node2\"}");
    expect_at(t, "node", NOW, aud);
    expect_at(t, "node22", NOW, aud);
    expect_at(t, "", NOW, aud);
    expect_at(t, NULL, NOW, aud);
    free(t);
}

static void test_algorithms(void **state)
{
    (void)state;
    const char *c = "{\"aud\":\"node2\"}";
    struct {
        const char *alg;
        gnutls_sign_algorithm_t sign;
    } ok[] = {{"RS256", GNUTLS_SIGN_RSA_SHA256},     {"RS384", GNUTLS_SIGN_RSA_SHA384},
              {"RS512", GNUTLS_SIGN_RSA_SHA512},     {"PS256", GNUTLS_SIGN_RSA_PSS_RSAE_SHA256},
              {"PS384", GNUTLS_SIGN_RSA_PSS_RSAE_SHA384}, {"PS512", GNUTLS_SIGN_RSA_PSS_RSAE_SHA512}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char h[64];
        snprintf(h, sizeof h, "{\"alg\":\"%s\"}", ok[i].alg);
        char *t = signed_token(h, c, ok[i].sign);
        expect(t, "");
        free(t);
        /* The same signature under another RSA algorithm fails. */
        snprintf(h, sizeof h, "{\"alg\":\"%s\"}", i == 2 ? "RS256" : "RS512");
        char *other = signed_token(h, c, ok[i].sign);
        expect(other, BAD "crypto/rsa: verification error");
        free(other);
    }
    const char *key = BAD "key is of invalid type";
    expect_unsigned("{\"alg\":\"HS256\"}", c, key);
    expect_unsigned("{\"alg\":\"HS384\"}", c, key);
    expect_unsigned("{\"alg\":\"HS512\"}", c, key);
    expect_unsigned("{\"alg\":\"ES256\"}", c, key);
    expect_unsigned("{\"alg\":\"EdDSA\"}", c, key);
    expect_unsigned("{\"alg\":\"none\"}", c, BAD "'none' signature type is not allowed");
    char *t = unsigned_token("{\"alg\":\"none\"}", c, "");
    expect(t, BAD "'none' signature type is not allowed");
    free(t);
    /* ECDSA decodes the signature first, HMAC and EdDSA check the key first. */
    t = unsigned_token("{\"alg\":\"ES384\"}", c, "!");
    expect(t, BAD "illegal base64 data at input byte 0");
    free(t);
    t = unsigned_token("{\"alg\":\"HS256\"}", c, "!");
    expect(t, key);
    free(t);
    t = unsigned_token("{\"alg\":\"RS256\"}", c, "c2ln!");
    expect(t, BAD "illegal base64 data at input byte 4");
    free(t);
    t = unsigned_token("{\"alg\":\"PS256\"}", c, "");
    expect(t, BAD "crypto/rsa: verification error");
    free(t);
    /* A bad signature beats an expired token; a good one reports the expiry. */
    t = unsigned_token(RS256, "{\"aud\":\"node2\",\"exp\":1}", "c2ln");
    expect(t, BAD "crypto/rsa: verification error");
    free(t);
    /* Leading zero bytes make the signature too long: refused as Go does. */
    char *good = rs256(c);
    char *dot = strrchr(good, '.');
    char *sig = b64url_decode_text(dot + 1, strlen(dot + 1));
    unsigned char longer[257] = {0};
    memcpy(longer + 1, sig, 256);
    char *s64 = b64url(longer, sizeof longer);
    *dot = 0;
    char *padded = malloc(strlen(good) + strlen(s64) + 2);
    sprintf(padded, "%s.%s", good, s64);
    expect(padded, BAD "crypto/rsa: verification error");
    free(padded);
    free(s64);
    free(sig);
    free(good);
}

static void test_garbage(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char tok[600];
    const char alphabet[] = "eyJ.AaZz09-_\"{}[]:,\\ \n=+/\x01\xff";
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + (seed = seed * 1103515245 + 12345) % (sizeof tok - 1);
        for (size_t i = 0; i < n; i++)
            tok[i] = alphabet[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof alphabet - 1)];
        tok[n] = 0;
        char err[128];
        assert_int_equal(sign_verify_at(verifier, tok, "node2", NOW, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
    }
    /* Random JSON-ish text behind valid base64. */
    const char json_chars[] = "{}[]\":,0123456789-+.eEtrufalsn \\u\"audexpnbf";
    for (int round = 0; round < 3000; round++) {
        char h[64], c[64];
        size_t hn = (seed = seed * 1103515245 + 12345) % 40, cn = (seed >> 8) % 60;
        for (size_t i = 0; i < hn; i++)
            h[i] = json_chars[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof json_chars - 1)];
        for (size_t i = 0; i < cn; i++)
            c[i] = json_chars[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof json_chars - 1)];
        h[hn] = c[cn] = 0;
        char *t = unsigned_token(round % 2 ? h : RS256, c, "c2ln");
        char err[128];
        assert_int_equal(sign_verify_at(verifier, t, "node2", NOW, err, sizeof err), -1);
        free(t);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fixtures = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_token_details),
        cmocka_unit_test(test_pyjwt_tokens),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_empty_and_bounds),
        cmocka_unit_test(test_segments_and_base64),
        cmocka_unit_test(test_header_json),
        cmocka_unit_test(test_claims_json),
        cmocka_unit_test(test_claims_values),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
