/* tls_san.c - see tls_san.h.
 *
 * A minimal DER reader (one TLV at a time, minimal lengths only, tags in
 * Go's base-128 form, every length checked against what is left) and
 * writer.  Decoding mirrors the path upstream takes through Go's
 * encoding/asn1: GeneralNames -> RawValue per entry -> OtherName struct ->
 * string, so a certificate that Go accepts or refuses is accepted or
 * refused here too. */
#include "net/tls_san.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

/* 1.3.6.1.4.1.2312.19.1 */
static const uint8_t receptor_oid[] = { 0x2b, 0x06, 0x01, 0x04, 0x01, 0x92, 0x08, 0x13, 0x01 };

enum { CLASS_UNIVERSAL = 0, CLASS_CONTEXT = 2 };

struct tlv {
    unsigned cls;
    int constructed;
    uint32_t tag;
    const uint8_t *val;
    size_t len;
    size_t total; /* header + value */
};

/* ---- reading ---------------------------------------------------------------- */

/* Go's parseBase128Int: at most 4 continuation groups, minimal, <= INT32_MAX. */
static int read_base128(const uint8_t *p, size_t n, size_t *off, uint32_t *out)
{
    uint64_t v = 0;
    for (int shifted = 0; *off < n; shifted++) {
        if (shifted == 5)
            return -1;
        uint8_t b = p[(*off)++];
        if (shifted == 0 && b == 0x80)
            return -1;
        v = (v << 7) | (b & 0x7f);
        if (!(b & 0x80)) {
            if (v > 0x7fffffff)
                return -1;
            *out = (uint32_t)v;
            return 0;
        }
    }
    return -1;
}

static int read_length(const uint8_t *p, size_t n, size_t *off, size_t *out)
{
    if (*off >= n)
        return -1;
    uint8_t b = p[(*off)++];
    if (b < 0x80) {
        *out = b;
        return 0;
    }
    unsigned nb = b & 0x7f;
    if (nb == 0 || nb > 4) /* indefinite (not DER) or absurdly long */
        return -1;
    size_t len = 0;
    for (unsigned k = 0; k < nb; k++) {
        if (*off >= n)
            return -1;
        uint8_t c = p[(*off)++];
        if (k == 0 && c == 0)
            return -1; /* leading zero: non-minimal */
        len = (len << 8) | c;
    }
    if (len < 0x80)
        return -1; /* short lengths must use the short form */
    *out = len;
    return 0;
}

static int der_read(const uint8_t *p, size_t n, struct tlv *t)
{
    size_t off = 0;
    if (n < 2)
        return -1;
    uint8_t b = p[off++];
    t->cls = b >> 6;
    t->constructed = (b & 0x20) != 0;
    t->tag = b & 0x1f;
    if (t->tag == 0x1f) {
        if (read_base128(p, n, &off, &t->tag) < 0 || t->tag < 0x1f)
            return -1;
    }
    if (read_length(p, n, &off, &t->len) < 0 || t->len > n - off)
        return -1;
    t->val = p + off;
    t->total = off + t->len;
    return 0;
}

static int oid_valid(const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    size_t off = 0;
    while (off < n) {
        uint32_t v;
        if (read_base128(p, n, &off, &v) < 0)
            return 0;
    }
    return 1;
}

static int printable_char(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
           (b >= '\'' && b <= ')') || (b >= '+' && b <= '/') || b == ' ' || b == ':' ||
           b == '=' || b == '?' || b == '*' || b == '&';
}

/* UTF-16BE -> UTF-8 as Go's parseBMPString (a trailing NUL is dropped,
 * unpaired surrogates become U+FFFD).  out must hold 3 * n / 2 bytes. */
static size_t bmp_to_utf8(const uint8_t *p, size_t n, uint8_t *out)
{
    if (n >= 2 && p[n - 1] == 0 && p[n - 2] == 0)
        n -= 2;
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        uint32_t u = ((uint32_t)p[i] << 8) | p[i + 1];
        if (u >= 0xd800 && u < 0xdc00 && i + 3 < n) {
            uint32_t u2 = ((uint32_t)p[i + 2] << 8) | p[i + 3];
            if (u2 >= 0xdc00 && u2 < 0xe000) {
                o += utf8_encode(0x10000 + ((u - 0xd800) << 10) + (u2 - 0xdc00), out + o);
                i += 2;
                continue;
            }
        }
        if (u >= 0xd800 && u < 0xe000)
            u = 0xfffd;
        o += utf8_encode(u, out + o);
    }
    return o;
}

/* Decodes the string inside an otherName value and reports it. */
static int report_string(const struct tlv *s, tls_san_cb cb, void *arg, char *err, size_t errlen)
{
    if (s->cls != CLASS_UNIVERSAL || s->constructed) {
        snprintf(err, errlen, "asn1: structure error: tags don't match in Receptor node ID");
        return -1;
    }
    const char *bad = NULL;
    switch (s->tag) {
    case 12: /* UTF8String */
        if (!utf8_valid(s->val, s->len))
            bad = "asn1: syntax error: invalid UTF-8 string";
        break;
    case 19: /* PrintableString */
        for (size_t i = 0; i < s->len && !bad; i++)
            if (!printable_char(s->val[i]))
                bad = "asn1: syntax error: PrintableString contains invalid character";
        break;
    case 22: /* IA5String */
        for (size_t i = 0; i < s->len && !bad; i++)
            if (s->val[i] >= 0x80)
                bad = "asn1: syntax error: IA5String contains invalid character";
        break;
    case 18: /* NumericString */
        for (size_t i = 0; i < s->len && !bad; i++)
            if (!(s->val[i] == ' ' || (s->val[i] >= '0' && s->val[i] <= '9')))
                bad = "asn1: syntax error: NumericString contains invalid character";
        break;
    case 20: /* T61String */
    case 27: /* GeneralString */
        break;
    case 30: /* BMPString */
        if (s->len % 2)
            bad = "asn1: syntax error: invalid BMPString";
        break;
    default:
        bad = "asn1: structure error: Receptor node ID is not a string";
    }
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return -1;
    }
    if (s->tag != 30)
        return s->len ? cb(arg, TLS_SAN_NODE_ID, s->val, s->len) : 0;
    uint8_t *tmp = malloc(s->len / 2 * 3 + 1);
    if (!tmp) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = bmp_to_utf8(s->val, s->len, tmp);
    int rc = n ? cb(arg, TLS_SAN_NODE_ID, tmp, n) : 0;
    free(tmp);
    return rc;
}

/* One GeneralName with tag number 0: OtherName ::= SEQUENCE { OID, [0] ANY }. */
static int parse_other_name(const struct tlv *g, tls_san_cb cb, void *arg, char *err, size_t errlen)
{
    struct tlv oid, value, str;
    if (g->cls != CLASS_CONTEXT || !g->constructed) {
        snprintf(err, errlen, "asn1: structure error: tags don't match in otherName");
        return -1;
    }
    if (der_read(g->val, g->len, &oid) < 0 || oid.cls != CLASS_UNIVERSAL || oid.constructed ||
        oid.tag != 6 || !oid_valid(oid.val, oid.len)) {
        snprintf(err, errlen, "asn1: syntax error: malformed otherName type-id");
        return -1;
    }
    if (der_read(g->val + oid.total, g->len - oid.total, &value) < 0) {
        snprintf(err, errlen, "asn1: syntax error: malformed otherName value");
        return -1;
    }
    if (oid.len != sizeof receptor_oid || memcmp(oid.val, receptor_oid, sizeof receptor_oid) != 0)
        return 0;
    if (der_read(value.val, value.len, &str) < 0) {
        snprintf(err, errlen, "asn1: syntax error: malformed Receptor node ID");
        return -1;
    }
    return report_string(&str, cb, arg, err, errlen);
}

int tls_san_parse(const uint8_t *der, size_t len, tls_san_cb cb, void *arg, char *err, size_t errlen)
{
    struct tlv seq;
    if (der_read(der, len, &seq) < 0 || seq.cls != CLASS_UNIVERSAL || !seq.constructed ||
        seq.tag != 16) {
        snprintf(err, errlen, "asn1: structure error: subjectAltName is not a SEQUENCE");
        return -1;
    }
    size_t off = 0;
    while (off < seq.len) {
        struct tlv g;
        if (der_read(seq.val + off, seq.len - off, &g) < 0) {
            snprintf(err, errlen, "asn1: syntax error: malformed GeneralName");
            return -1;
        }
        off += g.total;
        int rc = 0;
        if (g.tag == 0)
            rc = parse_other_name(&g, cb, arg, err, errlen);
        else if (g.cls == CLASS_CONTEXT && !g.constructed && (g.tag == 2 || g.tag == 7))
            rc = cb(arg, (enum tls_san_kind)g.tag, g.val, g.len);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- writing ---------------------------------------------------------------- */

static int der_put(struct buf *b, uint8_t tag, const uint8_t *v, size_t n)
{
    uint8_t hdr[6];
    size_t h = 0;
    hdr[h++] = tag;
    if (n < 0x80) {
        hdr[h++] = (uint8_t)n;
    } else if (n <= 0xff) {
        hdr[h++] = 0x81;
        hdr[h++] = (uint8_t)n;
    } else if (n <= 0xffff) {
        hdr[h++] = 0x82;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else if (n <= 0xffffff) {
        hdr[h++] = 0x83;
        hdr[h++] = (uint8_t)(n >> 16);
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else {
        return -1;
    }
    if (buf_append(b, hdr, h) < 0 || (n && buf_append(b, v, n) < 0))
        return -1;
    return 0;
}

static int put_ip(struct buf *names, const char *text, char *err, size_t errlen)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, text, a) == 1)
        return der_put(names, 0x87, a, 4);
    if (inet_pton(AF_INET6, text, a) != 1) {
        snprintf(err, errlen, "invalid IP address: %s", text);
        return -2;
    }
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp(a, mapped, sizeof mapped) == 0)
        return der_put(names, 0x87, a + 12, 4);
    return der_put(names, 0x87, a, 16);
}

static int put_node_id(struct buf *names, const char *id, char *err, size_t errlen)
{
    size_t n = strlen(id);
    if (!utf8_valid(id, n)) {
        snprintf(err, errlen, "asn1: string not valid UTF-8");
        return -2;
    }
    struct buf str, expl, other;
    buf_init(&str, TLS_SAN_MAX);
    buf_init(&expl, TLS_SAN_MAX);
    buf_init(&other, TLS_SAN_MAX);
    int rc = der_put(&str, 0x0c, (const uint8_t *)id, n);
    if (rc == 0)
        rc = der_put(&expl, 0xa0, buf_head(&str), buf_size(&str));
    if (rc == 0)
        rc = der_put(&other, 0x06, receptor_oid, sizeof receptor_oid);
    if (rc == 0 && buf_append(&other, buf_head(&expl), buf_size(&expl)) < 0)
        rc = -1;
    if (rc == 0)
        rc = der_put(names, 0xa0, buf_head(&other), buf_size(&other));
    buf_free(&str);
    buf_free(&expl);
    buf_free(&other);
    return rc;
}

int tls_san_encode(struct buf *out, const char *const *dns, size_t ndns, const char *const *ips,
                   size_t nips, const char *const *nodes, size_t nnodes, char *err, size_t errlen)
{
    struct buf names;
    buf_init(&names, TLS_SAN_MAX);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ndns; i++)
        rc = der_put(&names, 0x82, (const uint8_t *)dns[i], strlen(dns[i]));
    for (size_t i = 0; rc == 0 && i < nips; i++)
        rc = put_ip(&names, ips[i], err, errlen);
    for (size_t i = 0; rc == 0 && i < nnodes; i++)
        rc = put_node_id(&names, nodes[i], err, errlen);
    if (rc == 0)
        rc = der_put(out, 0x30, buf_head(&names), buf_size(&names));
    if (rc == -1)
        snprintf(err, errlen, "subjectAltName larger than %u bytes", TLS_SAN_MAX);
    buf_free(&names);
    return rc < 0 ? -1 : 0;
}
