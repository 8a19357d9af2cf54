/* tlsconf.c - see tlsconf.h.
 *
 * Layout: a config holds its options and a pointer to its current
 * generation (struct tls_gen: GnuTLS credentials, the trust list used to
 * verify peers, decoded pins, priorities).  tlsconf_session_setup() gives a
 * session its own struct tls_sess (a reference to the generation, the
 * expected host or node, the failure reason), stored as the private data of
 * a session-local hello extension that is never sent; GnuTLS calls our
 * deinit for it in gnutls_deinit(), which drops the generation reference.
 *
 * All verification is ours (GnuTLS's own is not enabled): the verify
 * function walks the steps in the order a Go node takes them (crypto/tls's
 * own verification: leaf validity, host name, chain and key usage; then
 * upstream's ReceptorVerifyFunc: pins, node ID; mesh dials run only the
 * latter, pins first), so the first failure reported is the one a Go node
 * would report. */
#include "net/tlsconf.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/gnutls_lib.h"
#include "net/tls_pem.h"
#include "net/tls_san.h"

#define SESS_EXT_ID 65500   /* private-use extension number, never on the wire */

static const char prio_tls12[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"
    "-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA:+RSA:-GROUP-ALL:+GROUP-SECP521R1:+GROUP-SECP384R1:"
    "+GROUP-SECP256R1:%SERVER_PRECEDENCE";
static const char prio_tls13[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:%SERVER_PRECEDENCE";
static const char prio_quic_restricted[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-GROUP-ALL:+GROUP-SECP521R1:+GROUP-SECP384R1:"
    "+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE:%SERVER_PRECEDENCE";
static const char prio_quic_default[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:%DISABLE_TLS13_COMPAT_MODE:%SERVER_PRECEDENCE";

struct pin {
    size_t len;
    unsigned char d[64];
};

struct tls_gen {
    int refs;
    gnutls_certificate_credentials_t cred;
    gnutls_x509_trust_list_t trust;   /* NULL: the client skips verification */
    gnutls_priority_t prio, prio_quic;
    struct pin pins[TLSCONF_MAX_PINS];
    size_t npins;
    int is_server, requireclientcert, want_client_cert, insecure;
};

struct tls_config {
    char *name, *cert, *key, *cas;
    struct pin pins[TLSCONF_MAX_PINS];
    size_t npins;
    int is_server, requireclientcert, insecure, skipnames, mintls13;
    struct tls_gen *gen;
    uint64_t failures[TLS_FAIL_COUNT];
    struct tls_config *next;
};

struct tlsconf {
    char *node_id;
    struct tls_config *configs;
};

struct tls_sess {
    struct tls_gen *gen;
    int is_server;
    char *host;   /* backend client: name the server certificate must carry */
    char *node;   /* mesh: node ID the peer certificate must carry */
    char error[512];
};

/* ---- generations ---------------------------------------------------------- */

static void gen_unref(struct tls_gen *g)
{
    if (!g || --g->refs > 0)
        return;
    if (g->cred)
        gnutls_certificate_free_credentials(g->cred);
    if (g->trust)
        gnutls_x509_trust_list_deinit(g->trust, 1);
    if (g->prio)
        gnutls_priority_deinit(g->prio);
    if (g->prio_quic)
        gnutls_priority_deinit(g->prio_quic);
    free(g);
}

static const char *key_error(int rc)
{
    switch (rc) {
    case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
        return "tls: private key does not match public key";
    case GNUTLS_E_BASE64_DECODING_ERROR:
    case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR:
        return "tls: failed to find any PEM data in certificate or key input";
    default:
        return gnutls_strerror(rc);
    }
}

/* Adds every CERTIFICATE block of a PEM bundle; bad blocks are skipped as
 * Go's AppendCertsFromPEM does. */
static int trust_add_bundle(gnutls_x509_trust_list_t tl, const gnutls_datum_t *pem)
{
    size_t pos = 0;
    struct tls_pem_block b;
    char err[64];
    while (tls_pem_next((const char *)pem->data, pem->size, &pos, &b, err, sizeof err) == 1) {
        gnutls_x509_crt_t crt;
        if (strcmp(b.type, "CERTIFICATE") == 0 && gnutls_x509_crt_init(&crt) >= 0) {
            if (gnutls_x509_crt_import(crt, &b.der, GNUTLS_X509_FMT_DER) < 0 ||
                gnutls_x509_trust_list_add_cas(tl, &crt, 1, 0) != 1)
                gnutls_x509_crt_deinit(crt);
        }
        gnutls_free(b.der.data);
    }
    return 0;
}

static int gen_load_trust(struct tls_gen *g, const struct tls_config *c, char *err, size_t errlen)
{
    if (gnutls_x509_trust_list_init(&g->trust, 0) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!c->cas) {
        gnutls_x509_trust_list_add_system_trust(g->trust, 0, 0);
        return 0;
    }
    gnutls_datum_t pem;
    char why[400];
    if (tls_pem_read_file(c->cas, TLSCONF_MAX_FILE, &pem, why, sizeof why) < 0) {
        snprintf(err, errlen, "error reading %s CAs file: %s", c->is_server ? "client" : "root", why);
        return -1;
    }
    trust_add_bundle(g->trust, &pem);
    gnutls_free(pem.data);
    return 0;
}

static int cert_node_ids(const unsigned char *der, size_t len, const char *want, int *found,
                         char *out, size_t outlen, const char *sep, char *err, size_t errlen);

/* Upstream's startup check: the first PEM block of the certificate file must
 * be a certificate naming the local node. */
static int check_own_cert(const struct tls_config *c, const gnutls_datum_t *pem, const char *node_id,
                          char *err, size_t errlen)
{
    size_t pos = 0;
    struct tls_pem_block b;
    char why[256];
    if (tls_pem_next((const char *)pem->data, pem->size, &pos, &b, why, sizeof why) != 1) {
        snprintf(err, errlen, "failed to parse certificate PEM");
        return -1;
    }
    int found = 0;
    char names[1024] = "";
    /* Go prints the []string of names as [a b] */
    int n = cert_node_ids(b.der.data, b.der.size, node_id, &found, names, sizeof names, " ", why,
                          sizeof why);
    gnutls_free(b.der.data);
    if (n < 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (found)
        return 0;
    snprintf(err, errlen,
             "nodeID=%s not found in certificate name(s); names found=[%s]; cfg section=%s; %s cert=%s",
             node_id, names, c->name, c->is_server ? "server" : "client", c->cert);
    return -1;
}

/* At least one CERTIFICATE block that parses (checked before GnuTLS sees
 * the file: its loader leaks on some malformed input). */
static int has_certificate(const gnutls_datum_t *pem)
{
    size_t pos = 0;
    struct tls_pem_block b;
    char why[64];
    int ok = 0;
    while (!ok && tls_pem_next((const char *)pem->data, pem->size, &pos, &b, why, sizeof why) == 1) {
        gnutls_x509_crt_t crt;
        if (strcmp(b.type, "CERTIFICATE") == 0 && gnutls_x509_crt_init(&crt) >= 0) {
            ok = gnutls_x509_crt_import(crt, &b.der, GNUTLS_X509_FMT_DER) >= 0;
            gnutls_x509_crt_deinit(crt);
        }
        gnutls_free(b.der.data);
    }
    return ok;
}

static int gen_load_keypair(struct tls_gen *g, const struct tls_config *c, const char *node_id,
                            char *err, size_t errlen)
{
    gnutls_datum_t cert = { NULL, 0 }, key = { NULL, 0 };
    int rc = -1;
    if (tls_pem_read_file(c->cert, TLSCONF_MAX_FILE, &cert, err, errlen) < 0 ||
        tls_pem_read_file(c->key, TLSCONF_MAX_FILE, &key, err, errlen) < 0)
        goto out;
    if (!has_certificate(&cert)) {
        snprintf(err, errlen, "tls: failed to find any CERTIFICATE PEM block in %s", c->cert);
        goto out;
    }
    int r = gnutls_certificate_set_x509_key_mem2(g->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0) {
        snprintf(err, errlen, "%s (cert %s, key %s)", key_error(r), c->cert, c->key);
        goto out;
    }
    if (!c->skipnames && check_own_cert(c, &cert, node_id, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    gnutls_free(cert.data);
    gnutls_free(key.data);
    return rc;
}

static int gen_load_priorities(struct tls_gen *g, const struct tls_config *c, char *err, size_t errlen)
{
    const char *tcp = c->mintls13 ? prio_tls13 : prio_tls12;
    const char *quic = c->mintls13 ? prio_quic_default : prio_quic_restricted;
    if (gnutls_priority_init2(&g->prio, tcp, NULL, 0) < 0 ||
        gnutls_priority_init2(&g->prio_quic, quic, NULL, 0) < 0) {
        snprintf(err, errlen, "cannot set up TLS priorities");
        return -1;
    }
    return 0;
}

static struct tls_gen *gen_load(const struct tls_config *c, const char *node_id, char *err, size_t errlen)
{
    struct tls_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->refs = 1;
    g->is_server = c->is_server;
    g->requireclientcert = c->requireclientcert;
    g->want_client_cert = c->is_server && (c->requireclientcert || c->cas);
    g->insecure = !c->is_server && c->insecure;
    g->npins = c->npins;
    memcpy(g->pins, c->pins, sizeof g->pins);
    int ok = gnutls_certificate_allocate_credentials(&g->cred) >= 0;
    if (!ok)
        snprintf(err, errlen, "out of memory");
    if (ok && c->cert && gen_load_keypair(g, c, node_id, err, errlen) < 0)
        ok = 0;
    if (ok && !g->insecure && gen_load_trust(g, c, err, errlen) < 0)
        ok = 0;
    if (ok && gen_load_priorities(g, c, err, errlen) < 0)
        ok = 0;
    if (!ok) {
        gen_unref(g);
        return NULL;
    }
    return g;
}

/* ---- configs -------------------------------------------------------------- */

int tlsconf_parse_fingerprint(const char *text, unsigned char out[64], char *err, size_t errlen)
{
    size_t n = 0;
    int half = -1;
    for (const char *p = text; *p; p++) {
        int v;
        if (*p == ':')
            continue;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            goto bad;
        if (half < 0) {
            half = v;
            continue;
        }
        if (n == 64) {
            snprintf(err, errlen, "fingerprints must be 32 or 64 bytes for sha256 or sha512");
            return -1;
        }
        out[n++] = (unsigned char)(half << 4 | v);
        half = -1;
    }
    if (half >= 0)
        goto bad;
    if (n != 32 && n != 64) {
        snprintf(err, errlen, "fingerprints must be 32 or 64 bytes for sha256 or sha512");
        return -1;
    }
    return (int)n;
bad:
    snprintf(err, errlen, "error decoding fingerprint");
    return -1;
}

static void config_free(struct tls_config *c)
{
    gen_unref(c->gen);
    free(c->name);
    free(c->cert);
    free(c->key);
    free(c->cas);
    free(c);
}

static int config_fill(struct tls_config *c, const struct tlsconf_opts *o, char *err, size_t errlen)
{
    c->is_server = o->is_server;
    c->requireclientcert = o->is_server && o->requireclientcert;
    c->insecure = !o->is_server && o->insecureskipverify;
    c->skipnames = o->skipreceptornamescheck;
    c->mintls13 = o->mintls13;
    if (!o->name || !o->name[0]) {
        snprintf(err, errlen, "must provide a name");
        return -1;
    }
    if ((o->cert && o->cert[0]) != (o->key && o->key[0]) || (o->is_server && !(o->cert && o->cert[0]))) {
        snprintf(err, errlen, o->is_server ? "cert and key must both be supplied"
                                           : "cert and key must both be supplied or neither");
        return -1;
    }
    if (o->npins > TLSCONF_MAX_PINS) {
        snprintf(err, errlen, "error decoding fingerprints: more than %d fingerprints", TLSCONF_MAX_PINS);
        return -1;
    }
    for (size_t i = 0; i < o->npins; i++) {
        char why[128];
        int n = tlsconf_parse_fingerprint(o->pins[i], c->pins[i].d, why, sizeof why);
        if (n < 0) {
            snprintf(err, errlen, "error decoding fingerprints: %s", why);
            return -1;
        }
        c->pins[i].len = (size_t)n;
    }
    c->npins = o->npins;
    c->name = strdup(o->name);
    c->cert = o->cert && o->cert[0] ? strdup(o->cert) : NULL;
    c->key = o->key && o->key[0] ? strdup(o->key) : NULL;
    c->cas = o->cas && o->cas[0] ? strdup(o->cas) : NULL;
    if (!c->name || (o->cert && o->cert[0] && (!c->cert || !c->key))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

struct tlsconf *tlsconf_new(const char *node_id)
{
    struct tlsconf *set = calloc(1, sizeof *set);
    if (set && !(set->node_id = strdup(node_id ? node_id : ""))) {
        free(set);
        return NULL;
    }
    return set;
}

int tlsconf_add(struct tlsconf *set, const struct tlsconf_opts *o, char *err, size_t errlen)
{
    char why[1500];
    const char *kind = o->is_server ? "server" : "client";
    struct tls_config *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (config_fill(c, o, why, sizeof why) < 0 || !(c->gen = gen_load(c, set->node_id, why, sizeof why))) {
        snprintf(err, errlen, "error preparing tls %s config: %s", kind, why);
        config_free(c);
        return -1;
    }
    /* a later entry with the same name replaces an earlier one, as Go's map */
    struct tls_config **pp = &set->configs;
    while (*pp && !((*pp)->is_server == c->is_server && strcmp((*pp)->name, c->name) == 0))
        pp = &(*pp)->next;
    if (*pp) {
        struct tls_config *old = *pp;
        c->next = old->next;
        config_free(old);
    }
    *pp = c;
    return 0;
}

struct tls_config *tlsconf_find(const struct tlsconf *set, const char *name, int is_server)
{
    for (struct tls_config *c = set ? set->configs : NULL; c; c = c->next)
        if (c->is_server == !!is_server && strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int tlsconf_reload(struct tlsconf *set, char *err, size_t errlen)
{
    size_t n = 0;
    for (struct tls_config *c = set->configs; c; c = c->next)
        n++;
    struct tls_gen **fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t i = 0;
    int rc = 0;
    for (struct tls_config *c = set->configs; c && rc == 0; c = c->next, i++) {
        char why[1500];
        fresh[i] = gen_load(c, set->node_id, why, sizeof why);
        if (!fresh[i]) {
            snprintf(err, errlen, "error preparing tls %s config %s: %s", c->is_server ? "server" : "client",
                     c->name, why);
            rc = -1;
        }
    }
    i = 0;
    for (struct tls_config *c = set->configs; c; c = c->next, i++) {
        if (rc == 0) {
            gen_unref(c->gen);
            c->gen = fresh[i];
        } else {
            gen_unref(fresh[i]);
        }
    }
    free(fresh);
    return rc;
}

void tlsconf_free(struct tlsconf *set)
{
    if (!set)
        return;
    while (set->configs) {
        struct tls_config *c = set->configs;
        set->configs = c->next;
        config_free(c);
    }
    free(set->node_id);
    free(set);
}

const char *tls_config_name(const struct tls_config *c) { return c->name; }
int tls_config_is_server(const struct tls_config *c) { return c->is_server; }

const char *tls_fail_reason_name(enum tls_fail_reason r)
{
    static const char *const names[TLS_FAIL_COUNT] = {
        "verify", "no_certificate", "remote_alert", "no_common_protocol", "closed", "timeout", "other",
    };
    return (unsigned)r < TLS_FAIL_COUNT ? names[r] : "other";
}

void tls_config_count_failure(struct tls_config *c, enum tls_fail_reason r)
{
    if (c && (unsigned)r < TLS_FAIL_COUNT)
        c->failures[r]++;
}

void tlsconf_foreach_failure(const struct tlsconf *set,
                             void (*cb)(void *arg, const char *config, int is_server,
                                        const char *reason, uint64_t count),
                             void *arg)
{
    for (const struct tls_config *c = set ? set->configs : NULL; c; c = c->next)
        for (int r = 0; r < TLS_FAIL_COUNT; r++)
            if (c->failures[r])
                cb(arg, c->name, c->is_server, tls_fail_reason_name((enum tls_fail_reason)r),
                   c->failures[r]);
}

/* ---- names in certificates ------------------------------------------------ */

/* Appends name to a separated list, replacing control characters so a
 * hostile certificate cannot forge log lines. */
static void names_format(char *out, size_t outlen, const char *sep, const char *name, size_t n,
                         int first)
{
    size_t at = strlen(out);
    if (!first && at + strlen(sep) < outlen) {
        strcpy(out + at, sep);
        at += strlen(sep);
    }
    for (size_t i = 0; i < n && at + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)name[i];
        out[at++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    out[at] = 0;
}

struct node_walk {
    const char *want;
    int found, count;
    char *out;
    size_t outlen;
    const char *sep;
};

static int node_walk_cb(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len)
{
    struct node_walk *w = arg;
    if (kind != TLS_SAN_NODE_ID)
        return 0;
    if (w->want && strlen(w->want) == len && memcmp(w->want, val, len) == 0)
        w->found = 1;
    if (w->out)
        names_format(w->out, w->outlen, w->sep, (const char *)val, len, w->count == 0);
    w->count++;
    return 0;
}

/* Runs cb over every subjectAltName extension of crt. */
static int crt_walk_san(gnutls_x509_crt_t crt, tls_san_cb cb, void *arg, char *err, size_t errlen)
{
    for (unsigned i = 0;; i++) {
        char oid[128];
        size_t oidlen = sizeof oid;
        unsigned critical;
        int rc = gnutls_x509_crt_get_extension_info(crt, i, oid, &oidlen, &critical);
        if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            return 0;
        if (rc < 0) {
            snprintf(err, errlen, "x509: malformed extensions: %s", gnutls_strerror(rc));
            return -1;
        }
        if (strcmp(oid, TLS_SAN_OID) != 0)
            continue;
        gnutls_datum_t d = { NULL, 0 };
        if (gnutls_x509_crt_get_extension_data2(crt, i, &d) < 0) {
            snprintf(err, errlen, "x509: malformed subjectAltName");
            return -1;
        }
        rc = tls_san_parse(d.data, d.size, cb, arg, err, errlen);
        gnutls_free(d.data);
        if (rc)
            return -1;
    }
}

static int crt_from_der(gnutls_x509_crt_t *crt, const unsigned char *der, size_t len, char *err,
                        size_t errlen)
{
    gnutls_datum_t d = { (unsigned char *)(uintptr_t)der, (unsigned)len };
    if (len > TLSCONF_MAX_FILE || gnutls_x509_crt_init(crt) < 0) {
        snprintf(err, errlen, "x509: certificate too large");
        return -1;
    }
    int rc = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_DER);
    if (rc < 0) {
        snprintf(err, errlen, "x509: malformed certificate: %s", gnutls_strerror(rc));
        gnutls_x509_crt_deinit(*crt);
        return -1;
    }
    return 0;
}

static int cert_node_ids(const unsigned char *der, size_t len, const char *want, int *found,
                         char *out, size_t outlen, const char *sep, char *err, size_t errlen)
{
    gnutls_x509_crt_t crt;
    struct node_walk w = { want, 0, 0, out, outlen, sep };
    if (out && outlen)
        out[0] = 0;
    if (crt_from_der(&crt, der, len, err, errlen) < 0)
        return -1;
    int rc = crt_walk_san(crt, node_walk_cb, &w, err, errlen);
    gnutls_x509_crt_deinit(crt);
    if (found)
        *found = w.found;
    return rc < 0 ? -1 : w.count;
}

int tlsconf_cert_node_ids(const unsigned char *der, size_t len, const char *want, int *found,
                          char *out, size_t outlen, char *err, size_t errlen)
{
    return cert_node_ids(der, len, want, found, out, outlen, ", ", err, errlen);
}

struct host_walk {
    char dns[1024];
    char ips[1024];
    int ndns, nips, ip_match, dns_match, has_san;
    const char *host;          /* lower-case, no trailing dot */
    unsigned char ip[16];
    size_t iplen;              /* 0: host is a DNS name */
};

/* Go's matchHostnames: same number of labels, "*" only as the whole first
 * label, case-insensitive. */
static int match_hostname(const char *pattern, size_t plen, const char *host)
{
    size_t hlen = strlen(host);
    if (plen == 0 || hlen == 0)
        return 0;
    size_t pi = 0, hi = 0;
    int first = 1;
    while (pi <= plen && hi <= hlen) {
        size_t pe = pi, he = hi;
        while (pe < plen && pattern[pe] != '.')
            pe++;
        while (he < hlen && host[he] != '.')
            he++;
        int wildcard = first && pe - pi == 1 && pattern[pi] == '*';
        if (!wildcard && (pe - pi != he - hi || strncasecmp(pattern + pi, host + hi, pe - pi) != 0))
            return 0;
        first = 0;
        if (pe == plen || he == hlen)
            return pe == plen && he == hlen;
        pi = pe + 1;
        hi = he + 1;
    }
    return 0;
}

static size_t ip_normalise(const uint8_t *v, size_t len, unsigned char out[16])
{
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (len == 16 && memcmp(v, mapped, 12) == 0) {
        memcpy(out, v + 12, 4);
        return 4;
    }
    if (len != 4 && len != 16)
        return 0;
    memcpy(out, v, len);
    return len;
}

static int host_walk_cb(void *arg, enum tls_san_kind kind, const uint8_t *val, size_t len)
{
    struct host_walk *w = arg;
    w->has_san = 1;
    if (kind == TLS_SAN_DNS) {
        if (match_hostname((const char *)val, len, w->host))
            w->dns_match = 1;
        names_format(w->dns, sizeof w->dns, ", ", (const char *)val, len, w->ndns++ == 0);
    } else if (kind == TLS_SAN_IP) {
        unsigned char ip[16];
        char text[INET6_ADDRSTRLEN] = "?";
        size_t n = ip_normalise(val, len, ip);
        if (n && n == w->iplen && memcmp(ip, w->ip, n) == 0)
            w->ip_match = 1;
        if (n)
            inet_ntop(n == 4 ? AF_INET : AF_INET6, ip, text, sizeof text);
        names_format(w->ips, sizeof w->ips, ", ", text, strlen(text), w->nips++ == 0);
    }
    return 0;
}

static void host_prepare(struct host_walk *w, const char *host, char *lower, size_t lowerlen)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= lowerlen)
        n = lowerlen - 1;
    memcpy(lower, host, n);
    lower[n] = 0;
    unsigned char a[16];
    if (inet_pton(AF_INET, lower, a) == 1)
        w->iplen = ip_normalise(a, 4, w->ip);
    else if (inet_pton(AF_INET6, lower, a) == 1)
        w->iplen = ip_normalise(a, 16, w->ip);
    if (!w->iplen && n > 0 && lower[n - 1] == '.')
        lower[n - 1] = 0;
    w->host = lower;
}

static int legacy_cn_matches(gnutls_x509_crt_t crt, const char *host)
{
    char cn[256];
    size_t cnlen = sizeof cn;
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen) < 0)
        return 0;
    return match_hostname(cn, strlen(cn), host);
}

int tlsconf_check_host(const unsigned char *der, size_t len, const char *host, char *err, size_t errlen)
{
    struct host_walk w;
    char lower[256];
    memset(&w, 0, sizeof w);
    host_prepare(&w, host, lower, sizeof lower);
    gnutls_x509_crt_t crt;
    if (crt_from_der(&crt, der, len, err, errlen) < 0)
        return -1;
    int rc = crt_walk_san(crt, host_walk_cb, &w, err, errlen);
    int legacy = rc == 0 && !w.has_san && !w.iplen && legacy_cn_matches(crt, w.host);
    gnutls_x509_crt_deinit(crt);
    if (rc < 0)
        return -1;
    if (w.iplen ? w.ip_match : w.dns_match)
        return 0;
    if (legacy)
        snprintf(err, errlen, "x509: certificate relies on legacy Common Name field, use SANs instead");
    else if (w.iplen && w.nips == 0)
        snprintf(err, errlen, "x509: cannot validate certificate for %s because it doesn't contain any IP SANs",
                 w.host);
    else if ((w.iplen ? w.nips : w.ndns) == 0)
        snprintf(err, errlen, "x509: certificate is not valid for any names, but wanted to match %s", w.host);
    else
        snprintf(err, errlen, "x509: certificate is valid for %s, not %s", w.iplen ? w.ips : w.dns, w.host);
    return -1;
}

/* ---- verification --------------------------------------------------------- */

static int sess_fail(struct tls_sess *ts, const char *fmt, const char *arg)
{
    snprintf(ts->error, sizeof ts->error, fmt, arg);
    return -1;
}

static int pins_match(const struct tls_gen *g, const gnutls_datum_t *leaf)
{
    unsigned char h256[32], h512[64];
    int have256 = 0, have512 = 0;
    for (size_t i = 0; i < g->npins; i++) {
        const struct pin *p = &g->pins[i];
        if (p->len == 32 && !have256)
            have256 = gnutls_hash_fast(GNUTLS_DIG_SHA256, leaf->data, leaf->size, h256) == 0;
        if (p->len == 64 && !have512)
            have512 = gnutls_hash_fast(GNUTLS_DIG_SHA512, leaf->data, leaf->size, h512) == 0;
        if ((p->len == 32 && have256 && memcmp(p->d, h256, 32) == 0) ||
            (p->len == 64 && have512 && memcmp(p->d, h512, 64) == 0))
            return 1;
    }
    return 0;
}

static void rfc3339(time_t t, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int check_validity(struct tls_sess *ts, gnutls_x509_crt_t leaf)
{
    time_t now = time(NULL);
    time_t nb = gnutls_x509_crt_get_activation_time(leaf);
    time_t na = gnutls_x509_crt_get_expiration_time(leaf);
    char a[40], b[40], detail[128];
    rfc3339(now, a, sizeof a);
    if (nb != (time_t)-1 && now < nb) {
        rfc3339(nb, b, sizeof b);
        snprintf(detail, sizeof detail, "current time %s is before %s", a, b);
    } else if (na != (time_t)-1 && now > na) {
        rfc3339(na, b, sizeof b);
        snprintf(detail, sizeof detail, "current time %s is after %s", a, b);
    } else {
        return 0;
    }
    return sess_fail(ts, "x509: certificate has expired or is not yet valid: %s", detail);
}

static int check_chain(struct tls_sess *ts, gnutls_x509_crt_t *crts, unsigned n)
{
    const char *purpose = ts->is_server ? GNUTLS_KP_TLS_WWW_CLIENT : GNUTLS_KP_TLS_WWW_SERVER;
    gnutls_typed_vdata_st data = { GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)(uintptr_t)purpose, 0 };
    unsigned status = 0;
    if (gnutls_x509_trust_list_verify_crt2(ts->gen->trust, crts, n, &data, 1, 0, &status, NULL) < 0)
        return sess_fail(ts, "x509: %s", "certificate verification failed");
    if (status == 0)
        return 0;
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_SIGNATURE_FAILURE))
        return sess_fail(ts, "x509: certificate signed by unknown authority%s", "");
    if (status & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
        return sess_fail(ts, "x509: certificate has expired or is not yet valid%s",
                         " (a certificate of the chain)");
    if (status & GNUTLS_CERT_PURPOSE_MISMATCH)
        return sess_fail(ts, "x509: certificate specifies an incompatible key usage%s", "");
    if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
        return sess_fail(ts, "x509: certificate signed with an insecure algorithm%s", "");
    gnutls_datum_t txt = { NULL, 0 };
    gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &txt, 0);
    sess_fail(ts, "x509: %s", txt.data ? (const char *)txt.data : "certificate verification failed");
    gnutls_free(txt.data);
    return -1;
}

static int check_node(struct tls_sess *ts, const gnutls_datum_t *leaf)
{
    char names[300], why[256];
    int found = 0;
    int n = tlsconf_cert_node_ids(leaf->data, leaf->size, ts->node, &found, names, sizeof names, why,
                                  sizeof why);
    if (n < 0)
        return sess_fail(ts, "%s", why);
    if (found)
        return 0;
    char want[150];
    want[0] = 0;
    names_format(want, sizeof want, "", ts->node, strlen(ts->node), 1);
    if (n == 0)
        snprintf(ts->error, sizeof ts->error,
                 "x509: certificate is not valid for any Receptor node IDs, but wanted to match %s", want);
    else
        snprintf(ts->error, sizeof ts->error, "x509: certificate is valid for Receptor node ID%s %s, not %s",
                 n > 1 ? "s" : "", names, want);
    return -1;
}

static int verify_chain_and_names(struct tls_sess *ts, gnutls_x509_crt_t *crts, unsigned n,
                                  const gnutls_datum_t *raw)
{
    if (check_validity(ts, crts[0]) < 0)
        return -1;
    if (ts->host) {
        char why[sizeof ts->error];
        if (tlsconf_check_host(raw[0].data, raw[0].size, ts->host, why, sizeof why) < 0)
            return sess_fail(ts, "%s", why);
    }
    if (check_chain(ts, crts, n) < 0)
        return -1;
    if (ts->node && (!ts->is_server || ts->gen->requireclientcert))
        return check_node(ts, &raw[0]);
    return 0;
}

/* Pins are not applied on a mesh listener with requireclientcert (6.3). */
static int check_pins(struct tls_sess *ts, const gnutls_datum_t *leaf)
{
    const struct tls_gen *g = ts->gen;
    int use = !(ts->is_server && ts->node && g->requireclientcert);
    if (use && g->npins && !pins_match(g, leaf))
        return sess_fail(ts, "%s", "presented certificate does not match any pinned fingerprint");
    return 0;
}

static int sess_verify(struct tls_sess *ts, gnutls_session_t s)
{
    const struct tls_gen *g = ts->gen;
    if (!ts->is_server && g->insecure)
        return 0;
    unsigned n = 0;
    const gnutls_datum_t *raw = gnutls_certificate_get_peers(s, &n);
    if (!raw || n == 0)
        return sess_fail(ts, "%s", "peer certificate missing");
    if (n > TLSCONF_MAX_CHAIN)
        return sess_fail(ts, "%s", "peer sent too many certificates");
    /* Go's own chain verification runs before upstream's callback (which
     * checks pins first) except on mesh dials, where only the callback runs */
    int pins_first = ts->node && !ts->is_server;
    if (pins_first && check_pins(ts, &raw[0]) < 0)
        return -1;
    gnutls_x509_crt_t crts[TLSCONF_MAX_CHAIN];
    unsigned have = 0;
    int rc = 0;
    for (; have < n && rc == 0; have++) {
        char why[256];
        if (crt_from_der(&crts[have], raw[have].data, raw[have].size, why, sizeof why) < 0) {
            rc = sess_fail(ts, "failed to parse certificate from peer: %s", why);
            break;
        }
    }
    if (rc == 0)
        rc = verify_chain_and_names(ts, crts, n, raw);
    if (rc == 0 && !pins_first)
        rc = check_pins(ts, &raw[0]);
    for (unsigned i = 0; i < have; i++)
        gnutls_x509_crt_deinit(crts[i]);
    return rc;
}

/* ---- sessions ------------------------------------------------------------- */

static void sess_free(struct tls_sess *ts)
{
    if (!ts)
        return;
    gen_unref(ts->gen);
    free(ts->host);
    free(ts->node);
    free(ts);
}

static struct tls_sess *sess_get(gnutls_session_t s)
{
    gnutls_ext_priv_data_t p = NULL;
    if (gnutls_ext_get_data(s, SESS_EXT_ID, &p) < 0)
        return NULL;
    return p;
}

static int ext_recv(gnutls_session_t s, const unsigned char *data, size_t len)
{
    (void)s, (void)data, (void)len;
    return 0;
}

static int ext_send(gnutls_session_t s, gnutls_buffer_t extdata)
{
    (void)s, (void)extdata;
    return 0; /* nothing appended: the extension is never sent */
}

static void ext_deinit(gnutls_ext_priv_data_t p) { sess_free(p); }

static int verify_cb(gnutls_session_t s)
{
    struct tls_sess *ts = sess_get(s);
    if (!ts || sess_verify(ts, s) < 0)
        return GNUTLS_E_CERTIFICATE_ERROR;
    return 0;
}

const char *tlsconf_session_error(gnutls_session_t session)
{
    struct tls_sess *ts = sess_get(session);
    return ts && ts->error[0] ? ts->error : NULL;
}

static int is_ip_literal(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

static int session_apply(struct tls_config *cfg, gnutls_session_t s, int is_server,
                         const char *server_name, unsigned flags)
{
    struct tls_gen *g = cfg->gen;
    if (gnutls_priority_set(s, (flags & TLSCONF_QUIC) ? g->prio_quic : g->prio) < 0 ||
        gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, g->cred) < 0)
        return -1;
    if (is_server) {
        gnutls_certificate_server_set_request(s, g->want_client_cert ? GNUTLS_CERT_REQUIRE
                                                                     : GNUTLS_CERT_IGNORE);
        /* no CA list in the request: clients send their certificate and the
         * verification says precisely what is wrong with it */
        gnutls_certificate_send_x509_rdn_sequence(s, 1);
    } else if (server_name && server_name[0] && !is_ip_literal(server_name)) {
        if (gnutls_server_name_set(s, GNUTLS_NAME_DNS, server_name, strlen(server_name)) < 0)
            return -1;
    }
    return 0;
}

int tlsconf_session_setup(struct tls_config *cfg, gnutls_session_t s, int is_server,
                          const char *server_name, const char *peer_node, unsigned flags,
                          char *err, size_t errlen)
{
    if (!cfg || cfg->is_server != !!is_server) {
        snprintf(err, errlen, "TLS config %s is not a %s config", cfg ? cfg->name : "(none)",
                 is_server ? "server" : "client");
        return -1;
    }
    struct tls_sess *ts = calloc(1, sizeof *ts);
    if (!ts || (!is_server && server_name && !(ts->host = strdup(server_name))) ||
        (peer_node && !(ts->node = strdup(peer_node)))) {
        sess_free(ts);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ts->gen = cfg->gen;
    ts->gen->refs++;
    ts->is_server = !!is_server;
    if (gnutls_session_ext_register(s, "receptor-verify", SESS_EXT_ID, GNUTLS_EXT_TLS, ext_recv, ext_send,
                                    ext_deinit, NULL, NULL,
                                    GNUTLS_EXT_FLAG_CLIENT_HELLO | GNUTLS_EXT_FLAG_TLS12_SERVER_HELLO |
                                        GNUTLS_EXT_FLAG_TLS13_SERVER_HELLO | GNUTLS_EXT_FLAG_EE) < 0) {
        sess_free(ts);
        snprintf(err, errlen, "TLS session already set up");
        return -1;
    }
    gnutls_ext_set_data(s, SESS_EXT_ID, ts); /* owned by the session from here on */
    if (session_apply(cfg, s, is_server, server_name, flags) < 0) {
        snprintf(err, errlen, "cannot apply TLS config %s", cfg->name);
        return -1;
    }
    gnutls_session_set_verify_function(s, verify_cb);
    return 0;
}

int tlsconf_stream_setup(void *arg, gnutls_session_t session, int is_server, const char *peer_node,
                         char *err, size_t errlen)
{
    return tlsconf_session_setup(arg, session, is_server, NULL, peer_node, TLSCONF_QUIC, err, errlen);
}

void tlsconf_stream_failed(void *arg, int reason)
{
    tls_config_count_failure(arg, (enum tls_fail_reason)reason);
}
