/* tls_san.h - the X.509 subjectAltName extension as Receptor uses it
 * (spec 7.4): DNS names, IP addresses and Receptor node IDs, the latter as
 * otherName entries with type-id 1.3.6.1.4.1.2312.19.1 and a value
 * [0] EXPLICIT UTF8String.
 *
 * These are pure functions over DER bytes (no GnuTLS), so they are unit-
 * tested byte for byte against the spec's example and fuzzed.  The decoder
 * follows Go's encoding/asn1 as upstream uses it: the value must be a
 * SEQUENCE of GeneralNames (bytes after it are ignored); every entry with
 * tag number 0 must be a well-formed OtherName; an otherName with the
 * Receptor OID must hold a string (UTF8String, PrintableString, IA5String,
 * NumericString, T61String, GeneralString or BMPString, each validated as Go
 * does); empty names are skipped.  Any malformed entry fails the whole
 * extension.  Lengths must be minimal DER; nothing is read past `len`. */
#ifndef NET_TLS_SAN_H
#define NET_TLS_SAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define TLS_SAN_OID "2.5.29.17"
#define TLS_RECEPTOR_NAME_OID "1.3.6.1.4.1.2312.19.1"
#define TLS_SAN_MAX 65536          /* largest SAN extension we build or read */

enum tls_san_kind {
    TLS_SAN_NODE_ID = 0,  /* otherName with the Receptor OID: decoded string */
    TLS_SAN_DNS = 2,      /* dNSName: the IA5String bytes */
    TLS_SAN_IP = 7,       /* iPAddress: 4 or 16 bytes (other lengths passed as is) */
};

/* Called once per name found, in order.  A non-zero return stops the walk
 * and is returned by tls_san_parse. */
typedef int (*tls_san_cb)(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len);

/* Walks the DER value of one subjectAltName extension.  0 when well formed
 * (cb may not have been called at all), -1 with a reason in err otherwise,
 * or cb's non-zero result. */
int tls_san_parse(const uint8_t *der, size_t len, tls_san_cb cb, void *arg, char *err, size_t errlen);

/* Builds the extension value upstream's cert-makereq builds: DNS names
 * first, then IP addresses (text; IPv4 and IPv4-mapped IPv6 as 4 bytes,
 * other IPv6 as 16), then node IDs (UTF-8), with proper DER lengths.
 * 0, or -1 with err (bad IP text, node ID not valid UTF-8, too large). */
int tls_san_encode(struct buf *out, const char *const *dns, size_t ndns, const char *const *ips,
                   size_t nips, const char *const *nodes, size_t nnodes, char *err, size_t errlen);

#endif
