/* certs.c - see certs.h.
 *
 * Each command is a straight line: check options in upstream's order, load
 * inputs (PEM files read as upstream's LoadFromPEMFile does: every block
 * must be one of the five known types and parse), build the object with
 * GnuTLS, export DER and PEM-encode it under upstream's block name (GnuTLS
 * would write "NEW CERTIFICATE REQUEST"), write 0600 files. */
#include "net/certs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/gnutls_lib.h"
#include "core/util.h"
#include "net/tls_pem.h"
#include "net/tls_san.h"

#define MAX_ITEMS 16
#define PEM_FILE_MAX (16u << 20)

enum item_type { IT_CERT, IT_REQ, IT_RSA_KEY, IT_OTHER_KEY, IT_PUBKEY };

struct item {
    enum item_type type;
    gnutls_datum_t der;
};

struct items {
    struct item v[MAX_ITEMS];
    size_t n;
};

static void items_free(struct items *it)
{
    for (size_t i = 0; i < it->n; i++)
        gnutls_free(it->v[i].der.data);
    it->n = 0;
}

/* ---- loading ---------------------------------------------------------------- */

static int key_is_rsa(const gnutls_datum_t *der, int pkcs8)
{
    gnutls_x509_privkey_t k;
    if (gnutls_x509_privkey_init(&k) < 0)
        return -1;
    int rc = pkcs8 ? gnutls_x509_privkey_import_pkcs8(k, der, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN)
                   : gnutls_x509_privkey_import(k, der, GNUTLS_X509_FMT_DER);
    int rsa = rc < 0 ? -1 : gnutls_x509_privkey_get_pk_algorithm(k) == GNUTLS_PK_RSA;
    gnutls_x509_privkey_deinit(k);
    return rsa;
}

/* Checks that a block parses as its type says. */
static int item_check(struct item *it, const char *type, char *err, size_t errlen)
{
    int rc = 0;
    if (it->type == IT_CERT) {
        gnutls_x509_crt_t c;
        if ((rc = gnutls_x509_crt_init(&c)) >= 0) {
            rc = gnutls_x509_crt_import(c, &it->der, GNUTLS_X509_FMT_DER);
            gnutls_x509_crt_deinit(c);
        }
    } else if (it->type == IT_REQ) {
        gnutls_x509_crq_t q;
        if ((rc = gnutls_x509_crq_init(&q)) >= 0) {
            rc = gnutls_x509_crq_import(q, &it->der, GNUTLS_X509_FMT_DER);
            gnutls_x509_crq_deinit(q);
        }
    } else if (it->type == IT_RSA_KEY || it->type == IT_OTHER_KEY) {
        int rsa = key_is_rsa(&it->der, it->type == IT_OTHER_KEY);
        rc = rsa < 0 ? -1 : 0;
        if (rsa == 1)
            it->type = IT_RSA_KEY;
    } else {
        gnutls_pubkey_t p;
        if ((rc = gnutls_pubkey_init(&p)) >= 0) {
            rc = gnutls_pubkey_import(p, &it->der, GNUTLS_X509_FMT_DER);
            gnutls_pubkey_deinit(p);
        }
    }
    if (rc < 0) {
        snprintf(err, errlen, "cannot parse %s block: %s", type, rc == -1 ? "malformed" : gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

static int item_type_of(const char *type, enum item_type *out)
{
    static const struct { const char *name; enum item_type t; } types[] = {
        { "CERTIFICATE", IT_CERT }, { "CERTIFICATE REQUEST", IT_REQ },
        { "RSA PRIVATE KEY", IT_RSA_KEY }, { "PRIVATE KEY", IT_OTHER_KEY },
        { "PUBLIC KEY", IT_PUBKEY },
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].name) == 0) {
            *out = types[i].t;
            return 0;
        }
    return -1;
}

static int load_pem(const char *path, struct items *it, char *err, size_t errlen)
{
    gnutls_datum_t text;
    it->n = 0;
    if (tls_pem_read_file(path, PEM_FILE_MAX, &text, err, errlen) < 0)
        return -1;
    size_t pos = 0;
    int rc = 0;
    struct tls_pem_block b;
    while (rc == 0 && (rc = tls_pem_next((const char *)text.data, text.size, &pos, &b, err, errlen)) == 1) {
        rc = 0;
        enum item_type t;
        if (item_type_of(b.type, &t) < 0 || it->n == MAX_ITEMS) {
            snprintf(err, errlen, it->n == MAX_ITEMS ? "%s: too many PEM blocks" : "unknown block type %s",
                     it->n == MAX_ITEMS ? path : b.type);
            gnutls_free(b.der.data);
            rc = -1;
            break;
        }
        it->v[it->n].type = t;
        it->v[it->n].der = b.der;
        if (item_check(&it->v[it->n++], b.type, err, errlen) < 0)
            rc = -1;
    }
    gnutls_free(text.data);
    if (rc < 0)
        items_free(it);
    return rc < 0 ? -1 : 0;
}

/* Exactly one item of the wanted type, as upstream's Load* functions. */
static int load_one(const char *path, enum item_type want, const char *what, gnutls_datum_t *out,
                    char *err, size_t errlen)
{
    struct items it;
    if (load_pem(path, &it, err, errlen) < 0)
        return -1;
    if (it.n != 1 || it.v[0].type != want) {
        if (it.n != 1)
            snprintf(err, errlen, "%s file should contain exactly one item", what);
        else
            snprintf(err, errlen, "%s file does not contain %s data", what, what);
        items_free(&it);
        return -1;
    }
    *out = it.v[0].der;
    it.n = 0;
    return 0;
}

static int key_import(gnutls_x509_privkey_t *key, const gnutls_datum_t *der, char *err, size_t errlen)
{
    int rc = gnutls_x509_privkey_init(key);
    if (rc >= 0 && (rc = gnutls_x509_privkey_import(*key, der, GNUTLS_X509_FMT_DER)) < 0)
        rc = gnutls_x509_privkey_import_pkcs8(*key, der, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN);
    if (rc < 0) {
        snprintf(err, errlen, "cannot load private key: %s", gnutls_strerror(rc));
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

/* makereq's inkey: the one RSA private key of the file. */
static int load_rsa_key(const char *path, gnutls_x509_privkey_t *key, char *err, size_t errlen)
{
    struct items it;
    if (load_pem(path, &it, err, errlen) < 0)
        return -1;
    const struct item *found = NULL;
    for (size_t i = 0; i < it.n; i++) {
        if (it.v[i].type != IT_RSA_KEY)
            continue;
        if (found) {
            snprintf(err, errlen, "multiple private keys in file %s", path);
            items_free(&it);
            return -1;
        }
        found = &it.v[i];
    }
    int rc = -1;
    if (!found)
        snprintf(err, errlen, "no private keys in file %s", path);
    else
        rc = key_import(key, &found->der, err, errlen);
    items_free(&it);
    return rc;
}

/* ---- writing ---------------------------------------------------------------- */

static int write_pem(const char *path, const char *type, const gnutls_datum_t *der, char *err, size_t errlen)
{
    gnutls_datum_t pem = { NULL, 0 };
    int rc = gnutls_pem_base64_encode2(type, der, &pem);
    if (rc < 0) {
        snprintf(err, errlen, "cannot encode %s: %s", type, gnutls_strerror(rc));
        return -1;
    }
    rc = tls_pem_write_file(path, pem.data, pem.size, err, errlen);
    gnutls_free(pem.data);
    return rc;
}

static int write_key(const char *path, gnutls_x509_privkey_t key, char *err, size_t errlen)
{
    gnutls_datum_t der = { NULL, 0 };
    int rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_DER, &der); /* PKCS#1 for RSA */
    if (rc < 0) {
        snprintf(err, errlen, "cannot export the private key: %s", gnutls_strerror(rc));
        return -1;
    }
    rc = write_pem(path, "RSA PRIVATE KEY", &der, err, errlen);
    gnutls_free(der.data);
    return rc;
}

static int write_crt(const char *path, gnutls_x509_crt_t crt, char *err, size_t errlen)
{
    gnutls_datum_t der = { NULL, 0 };
    int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
    if (rc < 0) {
        snprintf(err, errlen, "cannot export the certificate: %s", gnutls_strerror(rc));
        return -1;
    }
    rc = write_pem(path, "CERTIFICATE", &der, err, errlen);
    gnutls_free(der.data);
    return rc;
}

/* ---- common pieces ---------------------------------------------------------- */

static int parse_time(const char *text, time_t dflt, time_t *out, char *err, size_t errlen)
{
    int64_t secs;
    if (!text || !text[0]) {
        *out = dflt;
        return 0;
    }
    if (util_parse_rfc3339_seconds(text, &secs) < 0) {
        snprintf(err, errlen, "parsing time \"%s\" as \"2006-01-02T15:04:05Z07:00\": invalid RFC 3339 time",
                 text);
        return -1;
    }
    *out = (time_t)secs;
    return 0;
}

static time_t years_from_now(time_t now, int years)
{
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_year += years;
    return timegm(&tm);
}

/* Serial = current Unix time as a positive big-endian integer. */
static int set_serial_now(gnutls_x509_crt_t crt, time_t now)
{
    unsigned char s[9];
    uint64_t v = (uint64_t)now;
    size_t n = 0;
    unsigned char tmp[8];
    for (int i = 7; i >= 0; i--)
        tmp[7 - i] = (unsigned char)(v >> (8 * i));
    size_t first = 0;
    while (first < 7 && tmp[first] == 0)
        first++;
    if (tmp[first] & 0x80)
        s[n++] = 0;
    memcpy(s + n, tmp + first, 8 - first);
    n += 8 - first;
    return gnutls_x509_crt_set_serial(crt, s, n);
}

static int gen_rsa(gnutls_x509_privkey_t *key, long bits, char *err, size_t errlen)
{
    int rc = gnutls_x509_privkey_init(key);
    if (rc >= 0 && (bits <= 0 || bits > 16384))
        rc = GNUTLS_E_INVALID_REQUEST;
    if (rc >= 0)
        rc = gnutls_x509_privkey_generate(*key, GNUTLS_PK_RSA, (unsigned)bits, 0);
    if (rc < 0) {
        snprintf(err, errlen, "cannot generate a %ld-bit RSA key: %s", bits, gnutls_strerror(rc));
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
        return -1;
    }
    return 0;
}

static int check(int rc, const char *what, char *err, size_t errlen)
{
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", what, gnutls_strerror(rc));
    return rc < 0 ? -1 : 0;
}

/* ---- cert-init ---------------------------------------------------------------- */

static int ca_build(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, time_t now,
                    time_t nb, time_t na, char *err, size_t errlen)
{
    unsigned char kid[64];
    size_t kidlen = sizeof kid;
    if (check(gnutls_x509_crt_set_version(crt, 3), "version", err, errlen) ||
        check(set_serial_now(crt, now), "serial", err, errlen) ||
        check(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)),
              "common name", err, errlen) ||
        check(gnutls_x509_crt_set_activation_time(crt, nb), "notbefore", err, errlen) ||
        check(gnutls_x509_crt_set_expiration_time(crt, na), "notafter", err, errlen) ||
        check(gnutls_x509_crt_set_key(crt, key), "key", err, errlen) ||
        check(gnutls_x509_crt_set_basic_constraints(crt, 1, -1), "basic constraints", err, errlen) ||
        check(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN),
              "key usage", err, errlen) ||
        check(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "key purpose", err,
              errlen) ||
        check(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "key purpose", err,
              errlen) ||
        check(gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA1, kid, &kidlen), "key id", err, errlen) ||
        check(gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen), "key id", err, errlen) ||
        check(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), "sign", err, errlen))
        return -1;
    return 0;
}

int certs_init(const struct certs_init_opts *o, char *err, size_t errlen)
{
    time_t now = time(NULL), nb, na;
    if (parse_time(o->notbefore, now, &nb, err, errlen) < 0 ||
        parse_time(o->notafter, years_from_now(now, 10), &na, err, errlen) < 0)
        return -1;
    if (!o->commonname || !o->commonname[0]) {
        snprintf(err, errlen, "must provide CommonName");
        return -1;
    }
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    int rc = -1;
    if (gen_rsa(&key, o->bits ? o->bits : 2048, err, errlen) < 0)
        return -1;
    if (check(gnutls_x509_crt_init(&crt), "certificate", err, errlen) == 0 &&
        ca_build(crt, key, o->commonname, now, nb, na, err, errlen) == 0 &&
        write_crt(o->outcert, crt, err, errlen) == 0 && write_key(o->outkey, key, err, errlen) == 0)
        rc = 0;
    if (crt)
        gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return rc;
}

/* ---- cert-makereq ------------------------------------------------------------- */

static int req_check_opts(const struct certs_req_opts *o, char *err, size_t errlen)
{
    int in = o->inkey && o->inkey[0], out = o->outkey && o->outkey[0];
    const char *why = NULL;
    if (!in && !out)
        why = "must provide either InKey or OutKey";
    else if (in && out)
        why = "cannot use both InKey and OutKey";
    else if (in && o->bits != 0)
        why = "cannot specify key bits when reading an already-existing key";
    else if (out && o->bits == 0)
        why = "must specify key bits when creating a new key";
    else if (!o->commonname || !o->commonname[0])
        why = "must provide CommonName";
    if (why)
        snprintf(err, errlen, "%s", why);
    return why ? -1 : 0;
}

static int req_build(gnutls_x509_crq_t crq, gnutls_x509_privkey_t key, const struct certs_req_opts *o,
                     const struct buf *san, char *err, size_t errlen)
{
    const char *cn = o->commonname;
    if (check(gnutls_x509_crq_set_version(crq, 1), "version", err, errlen) ||
        check(gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)),
              "common name", err, errlen) ||
        check(gnutls_x509_crq_set_key(crq, key), "key", err, errlen) ||
        check(gnutls_x509_crq_set_extension_by_oid(crq, TLS_SAN_OID, buf_head(san), buf_size(san), 0),
              "subjectAltName", err, errlen) ||
        check(gnutls_x509_crq_sign2(crq, key, GNUTLS_DIG_SHA256, 0), "sign", err, errlen))
        return -1;
    return 0;
}

static int req_write(gnutls_x509_crq_t crq, const char *path, char *err, size_t errlen)
{
    gnutls_datum_t der = { NULL, 0 };
    if (check(gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der), "export", err, errlen) < 0)
        return -1;
    int rc = write_pem(path, "CERTIFICATE REQUEST", &der, err, errlen);
    gnutls_free(der.data);
    return rc;
}

int certs_makereq(const struct certs_req_opts *o, char *err, size_t errlen)
{
    struct buf san;
    buf_init(&san, TLS_SAN_MAX);
    if (req_check_opts(o, err, errlen) < 0 ||
        tls_san_encode(&san, o->dns, o->ndns, o->ips, o->nips, o->nodes, o->nnodes, err, errlen) < 0) {
        buf_free(&san);
        return -1;
    }
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crq_t crq = NULL;
    int rc = -1;
    int haskey = o->inkey && o->inkey[0] ? load_rsa_key(o->inkey, &key, err, errlen) == 0
                                         : gen_rsa(&key, o->bits, err, errlen) == 0;
    if (haskey && check(gnutls_x509_crq_init(&crq), "request", err, errlen) == 0 &&
        req_build(crq, key, o, &san, err, errlen) == 0 && req_write(crq, o->outreq, err, errlen) == 0 &&
        (!o->outkey || !o->outkey[0] || write_key(o->outkey, key, err, errlen) == 0))
        rc = 0;
    if (crq)
        gnutls_x509_crq_deinit(crq);
    if (key)
        gnutls_x509_privkey_deinit(key);
    buf_free(&san);
    return rc;
}

/* ---- cert-signreq ------------------------------------------------------------- */

struct req_names {
    char text[8192];   /* the prompt's "Names:" lines */
    int count;
};

static int names_cb(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len)
{
    struct req_names *n = arg;
    char item[600];
    if (kind == TLS_SAN_IP) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (len == 4 || len == 16)
            inet_ntop(len == 4 ? AF_INET : AF_INET6, val, ip, sizeof ip);
        snprintf(item, sizeof item, "    IP Address: %s\n", ip);
    } else {
        int l = len > 500 ? 500 : (int)len;
        snprintf(item, sizeof item, "    %s: %.*s\n", kind == TLS_SAN_DNS ? "DNS Name" : "Receptor Node ID", l,
                 (const char *)val);
    }
    size_t used = strlen(n->text);
    if (used + strlen(item) < sizeof n->text)
        strcat(n->text, item);
    n->count++;
    return 0;
}

/* The CSR's SAN extension (verbatim) and the names in it. */
static int req_san(gnutls_x509_crq_t crq, gnutls_datum_t *san, unsigned *critical, struct req_names *names,
                   char *err, size_t errlen)
{
    san->data = NULL;
    san->size = 0;
    for (unsigned i = 0;; i++) {
        char oid[128];
        size_t oidlen = sizeof oid;
        int rc = gnutls_x509_crq_get_extension_info(crq, i, oid, &oidlen, critical);
        if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return 0;
        if (rc < 0)
            return check(rc, "certificate request extensions", err, errlen);
        if (strcmp(oid, TLS_SAN_OID) != 0)
            continue;
        if (check(gnutls_x509_crq_get_extension_data2(crq, i, san), "subjectAltName", err, errlen) < 0)
            return -1;
        if (tls_san_parse(san->data, san->size, names_cb, names, err, errlen) != 0) {
            gnutls_free(san->data);
            san->data = NULL;
            return -1;
        }
        return 0;
    }
}

static const char *sig_name(int sign)
{
    switch (sign) {
    case GNUTLS_SIGN_RSA_SHA1: return "SHA1-RSA";
    case GNUTLS_SIGN_RSA_SHA256: return "SHA256-RSA";
    case GNUTLS_SIGN_RSA_SHA384: return "SHA384-RSA";
    case GNUTLS_SIGN_RSA_SHA512: return "SHA512-RSA";
    case GNUTLS_SIGN_RSA_PSS_SHA256: case GNUTLS_SIGN_RSA_PSS_RSAE_SHA256: return "SHA256-RSAPSS";
    case GNUTLS_SIGN_RSA_PSS_SHA384: case GNUTLS_SIGN_RSA_PSS_RSAE_SHA384: return "SHA384-RSAPSS";
    case GNUTLS_SIGN_RSA_PSS_SHA512: case GNUTLS_SIGN_RSA_PSS_RSAE_SHA512: return "SHA512-RSAPSS";
    case GNUTLS_SIGN_ECDSA_SHA256: return "ECDSA-SHA256";
    case GNUTLS_SIGN_ECDSA_SHA384: return "ECDSA-SHA384";
    case GNUTLS_SIGN_ECDSA_SHA512: return "ECDSA-SHA512";
    case GNUTLS_SIGN_EDDSA_ED25519: return "Ed25519";
    default: {
        const char *n = gnutls_sign_get_name((gnutls_sign_algorithm_t)sign);
        return n ? n : "0";
    }
    }
}

/* Prints the request and reads yes/no, as upstream (fmt.Scanln: one word). */
static int prompt(const struct certs_sign_opts *o, gnutls_x509_crq_t crq, const struct req_names *names,
                  char *err, size_t errlen)
{
    gnutls_datum_t dn = { NULL, 0 };
    unsigned bits = 0;
    int pk = gnutls_x509_crq_get_pk_algorithm(crq, &bits);
    gnutls_x509_crq_get_dn3(crq, &dn, 0);
    fprintf(o->out, "Requested certificate:\n  Subject: %s\n", dn.data ? (const char *)dn.data : "");
    gnutls_free(dn.data);
    if (pk == GNUTLS_PK_RSA)
        fprintf(o->out, "  Encryption Algorithm: RSA (%u bits)\n", bits);
    else
        fprintf(o->out, "  Encryption Algorithm: %s\n", pk == GNUTLS_PK_ECDSA ? "ECDSA"
                                                         : pk == GNUTLS_PK_EDDSA_ED25519 ? "Ed25519"
                                                                                         : "unknown");
    fprintf(o->out, "  Signature Algorithm: %s\n  Names:\n%sSign certificate (yes/no)? ",
            sig_name(gnutls_x509_crq_get_signature_algorithm(crq)), names->text);
    fflush(o->out);
    char line[256];
    if (!fgets(line, sizeof line, o->in)) {
        snprintf(err, errlen, "EOF");
        return -1;
    }
    char *w = line;
    while (*w == ' ' || *w == '\t')
        w++;
    size_t n = strcspn(w, " \t\r\n");
    if (n == 0) {
        snprintf(err, errlen, "unexpected newline");
        return -1;
    }
    w[n] = 0;
    for (char *p = w; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(w, "y") != 0 && strcmp(w, "yes") != 0) {
        snprintf(err, errlen, "user declined");
        return -1;
    }
    return 0;
}

struct signing {
    gnutls_x509_crt_t ca, crt;
    gnutls_x509_privkey_t cakey;
    gnutls_x509_crq_t crq;
    gnutls_datum_t san;
    unsigned san_critical;
};

static void signing_free(struct signing *s)
{
    if (s->ca)
        gnutls_x509_crt_deinit(s->ca);
    if (s->crt)
        gnutls_x509_crt_deinit(s->crt);
    if (s->cakey)
        gnutls_x509_privkey_deinit(s->cakey);
    if (s->crq)
        gnutls_x509_crq_deinit(s->crq);
    gnutls_free(s->san.data);
}

static int signing_load(struct signing *s, const struct certs_sign_opts *o, char *err, size_t errlen)
{
    gnutls_datum_t der = { NULL, 0 };
    int rc = load_one(o->cacert, IT_CERT, "certificate", &der, err, errlen);
    if (rc == 0 && (rc = check(gnutls_x509_crt_init(&s->ca), "CA", err, errlen)) == 0)
        rc = check(gnutls_x509_crt_import(s->ca, &der, GNUTLS_X509_FMT_DER), "CA certificate", err, errlen);
    gnutls_free(der.data);
    der.data = NULL;
    if (rc == 0 && (rc = load_one(o->cakey, IT_RSA_KEY, "private key", &der, err, errlen)) == 0)
        rc = key_import(&s->cakey, &der, err, errlen);
    gnutls_free(der.data);
    der.data = NULL;
    if (rc == 0 && (rc = load_one(o->req, IT_REQ, "certificate request", &der, err, errlen)) == 0 &&
        (rc = check(gnutls_x509_crq_init(&s->crq), "request", err, errlen)) == 0)
        rc = check(gnutls_x509_crq_import(s->crq, &der, GNUTLS_X509_FMT_DER), "certificate request", err,
                   errlen);
    gnutls_free(der.data);
    return rc;
}

static int signing_build(struct signing *s, time_t now, time_t nb, time_t na, char *err, size_t errlen)
{
    unsigned char kid[64];
    size_t kidlen = sizeof kid;
    if (check(gnutls_x509_crt_init(&s->crt), "certificate", err, errlen) ||
        check(gnutls_x509_crt_set_crq(s->crt, s->crq), "certificate request", err, errlen) ||
        check(gnutls_x509_crt_set_version(s->crt, 3), "version", err, errlen) ||
        check(set_serial_now(s->crt, now), "serial", err, errlen) ||
        check(gnutls_x509_crt_set_activation_time(s->crt, nb), "notbefore", err, errlen) ||
        check(gnutls_x509_crt_set_expiration_time(s->crt, na), "notafter", err, errlen) ||
        check(gnutls_x509_crt_set_key_usage(s->crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage", err, errlen) ||
        check(gnutls_x509_crt_set_key_purpose_oid(s->crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), "key purpose", err,
              errlen) ||
        check(gnutls_x509_crt_set_key_purpose_oid(s->crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "key purpose", err,
              errlen) ||
        check(gnutls_x509_crt_set_extension_by_oid(s->crt, TLS_SAN_OID, s->san.data, s->san.size,
                                                   s->san_critical),
              "subjectAltName", err, errlen))
        return -1;
    if (gnutls_x509_crt_get_subject_key_id(s->ca, kid, &kidlen, NULL) >= 0 &&
        check(gnutls_x509_crt_set_authority_key_id(s->crt, kid, kidlen), "authority key id", err, errlen))
        return -1;
    return check(gnutls_x509_crt_sign2(s->crt, s->ca, s->cakey, GNUTLS_DIG_SHA256, 0), "sign", err, errlen);
}

int certs_signreq(const struct certs_sign_opts *o, char *err, size_t errlen)
{
    time_t now = time(NULL), nb, na;
    if (parse_time(o->notbefore, now, &nb, err, errlen) < 0 ||
        parse_time(o->notafter, years_from_now(now, 1), &na, err, errlen) < 0)
        return -1;
    struct signing s;
    memset(&s, 0, sizeof s);
    struct req_names *names = calloc(1, sizeof *names);
    int rc = names ? 0 : -1;
    if (!names)
        snprintf(err, errlen, "out of memory");
    if (rc == 0)
        rc = signing_load(&s, o, err, errlen);
    if (rc == 0)
        rc = req_san(s.crq, &s.san, &s.san_critical, names, err, errlen);
    if (rc == 0 && names->count == 0) {
        snprintf(err, errlen, "cannot sign: no names found in certificate");
        rc = -1;
    }
    if (rc == 0 && !o->verify)
        rc = prompt(o, s.crq, names, err, errlen);
    if (rc == 0)
        rc = signing_build(&s, now, nb, na, err, errlen);
    if (rc == 0)
        rc = write_crt(o->outcert, s.crt, err, errlen);
    signing_free(&s);
    free(names);
    return rc;
}
