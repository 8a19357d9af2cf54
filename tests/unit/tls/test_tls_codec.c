/* Unit tests for the pure TLS helpers: the subjectAltName codec (spec 7.4's
 * bytes, round trips, Go's string rules, malformed DER), fingerprint
 * parsing (spec 7.3) and the PEM block reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/tls_pem.h"
#include "net/tls_san.h"
#include "net/tlsconf.h"

/* ---- SAN encoding --------------------------------------------------------- */

static const uint8_t spec_example[] = {
    0x30, 0x21, 0x82, 0x09, 0x6C, 0x6F, 0x63, 0x61, 0x6C, 0x68, 0x6F, 0x73, 0x74, 0xA0, 0x14, 0x06, 0x09,
    0x2B, 0x06, 0x01, 0x04, 0x01, 0x92, 0x08, 0x13, 0x01, 0xA0, 0x07, 0x0C, 0x05, 0x6E, 0x6F, 0x64, 0x65,
    0x31,
};

static void test_san_spec_example(void **state)
{
    (void)state;
    const char *dns[] = { "localhost" }, *nodes[] = { "node1" };
    struct buf b;
    char err[128];
    buf_init(&b, TLS_SAN_MAX);
    assert_int_equal(tls_san_encode(&b, dns, 1, NULL, 0, nodes, 1, err, sizeof err), 0);
    assert_int_equal(buf_size(&b), sizeof spec_example);
    assert_memory_equal(buf_head(&b), spec_example, sizeof spec_example);
    buf_free(&b);
}

struct collected {
    char text[4096];
    int n;
};

static int collect(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len)
{
    struct collected *c = arg;
    char item[600];
    if (kind == TLS_SAN_IP) {
        int k = snprintf(item, sizeof item, "ip:");
        for (size_t i = 0; i < len && k < 500; i++)
            k += snprintf(item + k, sizeof item - (size_t)k, "%02x", val[i]);
    } else {
        snprintf(item, sizeof item, "%s:%.*s", kind == TLS_SAN_DNS ? "dns" : "node", (int)len,
                 (const char *)val);
    }
    if (c->n++)
        strcat(c->text, ",");
    strcat(c->text, item);
    return 0;
}

static int parse(const uint8_t *der, size_t len, struct collected *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    return tls_san_parse(der, len, collect, c, err, errlen);
}

static void test_san_roundtrip(void **state)
{
    (void)state;
    const char *dns[] = { "a.example", "localhost" };
    const char *ips[] = { "127.0.0.1", "::1", "::ffff:10.1.2.3" };
    const char *nodes[] = { "node1", "n\xc3\xa9ud" };
    struct buf b;
    char err[128];
    struct collected c;
    buf_init(&b, TLS_SAN_MAX);
    assert_int_equal(tls_san_encode(&b, dns, 2, ips, 3, nodes, 2, err, sizeof err), 0);
    assert_int_equal(parse(buf_head(&b), buf_size(&b), &c, err, sizeof err), 0);
    assert_string_equal(c.text, "dns:a.example,dns:localhost,ip:7f000001,ip:00000000000000000000000000000001,"
                                "ip:0a010203,node:node1,node:n\xc3\xa9ud");
    buf_free(&b);
}

static void test_san_long_node_id(void **state)
{
    (void)state;
    /* upstream mis-encodes IDs that need a long-form length; we must not */
    char id[301];
    memset(id, 'x', 300);
    id[300] = 0;
    const char *nodes[] = { id };
    struct buf b;
    char err[128];
    struct collected c;
    buf_init(&b, TLS_SAN_MAX);
    assert_int_equal(tls_san_encode(&b, NULL, 0, NULL, 0, nodes, 1, err, sizeof err), 0);
    const uint8_t *p = buf_head(&b);
    assert_int_equal(p[0], 0x30);
    assert_int_equal(p[1], 0x82); /* two length bytes follow */
    assert_int_equal(parse(p, buf_size(&b), &c, err, sizeof err), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(strlen(c.text), strlen("node:") + 300);
    buf_free(&b);
}

static void test_san_encode_errors(void **state)
{
    (void)state;
    const char *badip[] = { "300.1.1.1" };
    const char *badid[] = { "a\xff" };
    struct buf b;
    char err[128];
    buf_init(&b, TLS_SAN_MAX);
    assert_int_equal(tls_san_encode(&b, NULL, 0, badip, 1, NULL, 0, err, sizeof err), -1);
    assert_string_equal(err, "invalid IP address: 300.1.1.1");
    assert_int_equal(tls_san_encode(&b, NULL, 0, NULL, 0, badid, 1, err, sizeof err), -1);
    assert_string_equal(err, "asn1: string not valid UTF-8");
    /* no names at all is an empty SEQUENCE, as upstream writes it */
    buf_reset(&b);
    assert_int_equal(tls_san_encode(&b, NULL, 0, NULL, 0, NULL, 0, err, sizeof err), 0);
    assert_int_equal(buf_size(&b), 2);
    assert_memory_equal(buf_head(&b), "\x30\x00", 2);
    buf_free(&b);
}

/* otherName with the Receptor OID around a given string TLV */
static size_t other_name(uint8_t *out, const uint8_t *str, size_t slen)
{
    static const uint8_t oid[] = { 0x06, 0x09, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x92, 0x08, 0x13, 0x01 };
    size_t inner = sizeof oid + 2 + slen;
    size_t n = 0;
    out[n++] = 0x30;
    out[n++] = (uint8_t)(inner + 2);
    out[n++] = 0xA0;
    out[n++] = (uint8_t)inner;
    memcpy(out + n, oid, sizeof oid);
    n += sizeof oid;
    out[n++] = 0xA0;
    out[n++] = (uint8_t)slen;
    memcpy(out + n, str, slen);
    return n + slen;
}

static void test_san_string_types(void **state)
{
    (void)state;
    uint8_t der[256];
    char err[128];
    struct collected c;
    /* PrintableString and IA5String are accepted like Go */
    size_t n = other_name(der, (const uint8_t *)"\x13\x03" "abc", 5);
    assert_int_equal(parse(der, n, &c, err, sizeof err), 0);
    assert_string_equal(c.text, "node:abc");
    n = other_name(der, (const uint8_t *)"\x16\x03" "a-b", 5);
    assert_int_equal(parse(der, n, &c, err, sizeof err), 0);
    assert_string_equal(c.text, "node:a-b");
    /* BMPString is decoded from UTF-16 */
    n = other_name(der, (const uint8_t *)"\x1e\x04\x00h\x00i", 6);
    assert_int_equal(parse(der, n, &c, err, sizeof err), 0);
    assert_string_equal(c.text, "node:hi");
    /* an empty name is skipped */
    n = other_name(der, (const uint8_t *)"\x0c\x00", 2);
    assert_int_equal(parse(der, n, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 0);
    /* invalid strings fail the whole extension */
    n = other_name(der, (const uint8_t *)"\x0c\x02\xc3\x28", 4);
    assert_int_equal(parse(der, n, &c, err, sizeof err), -1);
    n = other_name(der, (const uint8_t *)"\x13\x01_", 3);
    assert_int_equal(parse(der, n, &c, err, sizeof err), -1);
    n = other_name(der, (const uint8_t *)"\x16\x01\x80", 3);
    assert_int_equal(parse(der, n, &c, err, sizeof err), -1);
    n = other_name(der, (const uint8_t *)"\x02\x01\x05", 3); /* INTEGER */
    assert_int_equal(parse(der, n, &c, err, sizeof err), -1);
}

static void test_san_malformed(void **state)
{
    (void)state;
    char err[128];
    struct collected c;
    static const struct {
        const char *der;
        size_t len;
    } bad[] = {
        { "", 0 },
        { "\x31\x00", 2 },                       /* SET, not SEQUENCE */
        { "\x30\x05\x82\x01", 4 },               /* truncated */
        { "\x30\x80\x00\x00", 4 },               /* indefinite length */
        { "\x30\x81\x03\x82\x01\x61", 6 },       /* non-minimal length */
        { "\x30\x03\x82\x05\x61", 5 },           /* inner length past the end */
        { "\x30\x02\x80\x00", 4 },               /* [0] primitive */
        { "\x30\x04\xa0\x02\x05\x00", 6 },       /* otherName without an OID */
        { "\x30\x05\xa0\x03\x06\x01\x2b", 7 },   /* otherName without a value */
        { "\x30\x06\xa0\x04\x06\x02\x80\x01", 8 }, /* OID not minimal */
        { "\x30\x03\x1f\x01\x00", 5 },           /* high tag form below 31 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(parse((const uint8_t *)bad[i].der, bad[i].len, &c, err, sizeof err), -1);
        assert_true(err[0] != 0);
    }
    /* other OIDs, other name types and trailing bytes are fine */
    static const uint8_t ok[] = { 0x30, 0x0b, 0xa0, 0x06, 0x06, 0x01, 0x2b, 0xa0, 0x01, 0x05, 0x86, 0x01,
                                  0x75, 0xff, 0xff };
    assert_int_equal(parse(ok, sizeof ok, &c, err, sizeof err), 0);
    assert_int_equal(c.n, 0);
}

/* ---- fingerprints ----------------------------------------------------------- */

static void test_fingerprints(void **state)
{
    (void)state;
    unsigned char fp[64];
    char err[128];
    char hex[200];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 3 * i, "%02X:", i);
    hex[3 * 32 - 1] = 0;
    assert_int_equal(tlsconf_parse_fingerprint(hex, fp, err, sizeof err), 32);
    assert_int_equal(fp[31], 31);
    for (int i = 0; i < 64; i++)
        sprintf(hex + 2 * i, "%02x", 255 - i);
    assert_int_equal(tlsconf_parse_fingerprint(hex, fp, err, sizeof err), 64);
    assert_int_equal(fp[0], 255);
    hex[40] = 0; /* 20 bytes: SHA-1 */
    assert_int_equal(tlsconf_parse_fingerprint(hex, fp, err, sizeof err), -1);
    assert_string_equal(err, "fingerprints must be 32 or 64 bytes for sha256 or sha512");
    assert_int_equal(tlsconf_parse_fingerprint("abc", fp, err, sizeof err), -1);
    assert_string_equal(err, "error decoding fingerprint");
    assert_int_equal(tlsconf_parse_fingerprint("zz", fp, err, sizeof err), -1);
    assert_string_equal(err, "error decoding fingerprint");
    memset(hex, 'a', 198);
    hex[198] = 0; /* 99 bytes */
    assert_int_equal(tlsconf_parse_fingerprint(hex, fp, err, sizeof err), -1);
    assert_string_equal(err, "fingerprints must be 32 or 64 bytes for sha256 or sha512");
}

/* ---- PEM -------------------------------------------------------------------- */

static void test_pem_blocks(void **state)
{
    (void)state;
    const char *text = "junk before\n-----BEGIN FOO-----\nAAEC\n-----END FOO-----\n"
                       "-----BEGIN BAR-----\n!!!!\n-----END BAR-----\n" /* bad base64: skipped */
                       "-----BEGIN BAZ-----\nAw==\n-----END BAZ-----\n\n";
    size_t pos = 0;
    struct tls_pem_block b;
    char err[64];
    assert_int_equal(tls_pem_next(text, strlen(text), &pos, &b, err, sizeof err), 1);
    assert_string_equal(b.type, "FOO");
    assert_int_equal(b.der.size, 3);
    assert_memory_equal(b.der.data, "\x00\x01\x02", 3);
    gnutls_free(b.der.data);
    assert_int_equal(tls_pem_next(text, strlen(text), &pos, &b, err, sizeof err), 1);
    assert_string_equal(b.type, "BAZ");
    gnutls_free(b.der.data);
    assert_int_equal(tls_pem_next(text, strlen(text), &pos, &b, err, sizeof err), 0);
    const char *garbage = "not pem at all";
    pos = 0;
    assert_int_equal(tls_pem_next(garbage, strlen(garbage), &pos, &b, err, sizeof err), -1);
    assert_string_equal(err, "failed to decode PEM block");
    const char *unterminated = "-----BEGIN FOO-----\nAAEC\n";
    pos = 0;
    assert_int_equal(tls_pem_next(unterminated, strlen(unterminated), &pos, &b, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_san_spec_example), cmocka_unit_test(test_san_roundtrip),
        cmocka_unit_test(test_san_long_node_id), cmocka_unit_test(test_san_encode_errors),
        cmocka_unit_test(test_san_string_types), cmocka_unit_test(test_san_malformed),             cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_pem_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
