/* Unit tests for certificates and TLS sessions: the cert-* commands'
 * outputs, node-ID and host-name checks on real certificates, tlsconf's
 * startup checks and errors, and TLS over a socket pair through tls_wrap()
 * (success, node-ID mismatch, wrong CA, expired, pinned fingerprint, no
 * client certificate, close_notify as EOF).  Certificates are made once,
 * in a temporary directory, by our own certs_* functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "net/certs.h"
#include "net/tls.h"
#include "net/tls_pem.h"
#include "net/tlsconf.h"
#include "net/uvstream.h"

static char dir[256];

static const char *path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void make_ca(const char *name)
{
    char crt[64], key[64], err[256];
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(key, sizeof key, "%s.key", name);
    struct certs_init_opts o = { .commonname = name, .bits = 2048, .outcert = path(crt), .outkey = path(key) };
    assert_int_equal(certs_init(&o, err, sizeof err), 0);
}

/* name.crt / name.key signed by ca, valid for DNS localhost, 127.0.0.1 and
 * the given node ID. */
static void make_cert(const char *name, const char *ca, const char *node, const char *notafter)
{
    char crt[64], key[64], req[64], cacrt[64], cakey[64], err[256];
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(req, sizeof req, "%s.csr", name);
    snprintf(cacrt, sizeof cacrt, "%s.crt", ca);
    snprintf(cakey, sizeof cakey, "%s.key", ca);
    const char *dns[] = { "localhost" }, *ips[] = { "127.0.0.1" }, *nodes[] = { node };
    struct certs_req_opts r = { .commonname = name, .bits = 2048, .dns = dns, .ndns = 1, .ips = ips,
                                .nips = 1, .nodes = nodes, .nnodes = 1, .outreq = path(req),
                                .outkey = path(key) };
    assert_int_equal(certs_makereq(&r, err, sizeof err), 0);
    struct certs_sign_opts s = { .req = path(req), .cacert = path(cacrt), .cakey = path(cakey),
                                 .outcert = path(crt), .verify = 1, .notafter = notafter };
    if (notafter)
        s.notbefore = "2020-01-01T00:00:00Z";
    assert_int_equal(certs_signreq(&s, err, sizeof err), 0);
}

static int setup_certs(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/receptor-tls-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    make_ca("ca");
    make_ca("other");
    make_cert("node1", "ca", "node1", NULL);
    make_cert("node2", "ca", "node2", NULL);
    make_cert("stranger", "other", "node2", NULL);
    make_cert("expired", "ca", "node2", "2021-01-01T00:00:00Z");
    return 0;
}

static int teardown_certs(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static gnutls_datum_t read_der(const char *file)
{
    gnutls_datum_t pem, der = { NULL, 0 };
    char err[256];
    assert_int_equal(tls_pem_read_file(path(file), 1 << 20, &pem, err, sizeof err), 0);
    assert_int_equal(gnutls_pem_base64_decode2(NULL, &pem, &der), 0);
    gnutls_free(pem.data);
    return der;
}

/* ---- the certificate commands -------------------------------------------------- */

static void test_cert_files(void **state)
{
    (void)state;
    struct stat st;
    assert_int_equal(stat(path("node1.key"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    gnutls_datum_t text;
    char err[256];
    assert_int_equal(tls_pem_read_file(path("node1.key"), 1 << 20, &text, err, sizeof err), 0);
    assert_non_null(strstr((char *)text.data, "-----BEGIN RSA PRIVATE KEY-----\n"));
    gnutls_free(text.data);
    assert_int_equal(tls_pem_read_file(path("node1.csr"), 1 << 20, &text, err, sizeof err), 0);
    assert_int_equal(strncmp((char *)text.data, "-----BEGIN CERTIFICATE REQUEST-----\n", 36), 0);
    gnutls_free(text.data);
    /* the CA: CA flag, cert-sign usage; the leaf: signed by it */
    gnutls_datum_t ca = read_der("ca.crt"), leaf = read_der("node1.crt");
    gnutls_x509_crt_t c, l;
    gnutls_x509_crt_init(&c);
    gnutls_x509_crt_init(&l);
    assert_int_equal(gnutls_x509_crt_import(c, &ca, GNUTLS_X509_FMT_DER), 0);
    assert_int_equal(gnutls_x509_crt_import(l, &leaf, GNUTLS_X509_FMT_DER), 0);
    unsigned critical, usage;
    assert_int_equal(gnutls_x509_crt_get_ca_status(c, &critical), 1);
    assert_true(gnutls_x509_crt_get_key_usage(c, &usage, &critical) >= 0);
    assert_true(usage & GNUTLS_KEY_KEY_CERT_SIGN);
    assert_int_equal(gnutls_x509_crt_check_issuer(l, c), 1);
    unsigned status = 1;
    assert_int_equal(gnutls_x509_crt_verify(l, &c, 1, 0, &status), 0);
    assert_int_equal(status, 0);
    assert_int_equal(gnutls_x509_crt_get_signature_algorithm(l), GNUTLS_SIGN_RSA_SHA256);
    gnutls_x509_crt_deinit(c);
    gnutls_x509_crt_deinit(l);
    gnutls_free(ca.data);
    gnutls_free(leaf.data);
}

static void test_cert_command_errors(void **state)
{
    (void)state;
    char err[256];
    struct certs_req_opts r = { .commonname = "x", .outreq = path("x.csr") };
    assert_int_equal(certs_makereq(&r, err, sizeof err), -1);
    assert_string_equal(err, "must provide either InKey or OutKey");
    r.inkey = path("node1.key");
    r.bits = 2048;
    assert_int_equal(certs_makereq(&r, err, sizeof err), -1);
    assert_string_equal(err, "cannot specify key bits when reading an already-existing key");
    r.bits = 0;
    r.outkey = path("x.key");
    assert_int_equal(certs_makereq(&r, err, sizeof err), -1);
    assert_string_equal(err, "cannot use both InKey and OutKey");
    r.inkey = NULL;
    assert_int_equal(certs_makereq(&r, err, sizeof err), -1);
    assert_string_equal(err, "must specify key bits when creating a new key");
    /* an existing key: a CSR without names, which cannot be signed */
    r.outkey = NULL;
    r.inkey = path("node1.key");
    assert_int_equal(certs_makereq(&r, err, sizeof err), 0);
    struct certs_sign_opts s = { .req = path("x.csr"), .cacert = path("ca.crt"), .cakey = path("ca.key"),
                                 .outcert = path("x.crt"), .verify = 1 };
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_string_equal(err, "cannot sign: no names found in certificate");
    /* wrong inputs */
    s.req = path("node1.crt");
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_string_equal(err, "certificate request file does not contain certificate request data");
    s.req = path("node1.csr");
    s.cakey = path("ca.crt");
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_string_equal(err, "private key file does not contain private key data");
    s.cakey = path("nope.key");
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_non_null(strstr(err, "no such file"));
    s.cakey = path("ca.key");
    s.notafter = "tomorrow";
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_non_null(strstr(err, "parsing time \"tomorrow\""));
}

static void test_signreq_prompt(void **state)
{
    (void)state;
    char err[256], out[4096];
    FILE *in = fmemopen((void *)"no\n", 3, "r");
    FILE *o = fmemopen(out, sizeof out, "w");
    struct certs_sign_opts s = { .req = path("node1.csr"), .cacert = path("ca.crt"), .cakey = path("ca.key"),
                                 .outcert = path("y.crt"), .in = in, .out = o };
    assert_int_equal(certs_signreq(&s, err, sizeof err), -1);
    assert_string_equal(err, "user declined");
    fclose(o);
    fclose(in);
    assert_non_null(strstr(out, "Requested certificate:\n  Subject: CN=node1\n"));
    assert_non_null(strstr(out, "  Encryption Algorithm: RSA (2048 bits)\n"));
    assert_non_null(strstr(out, "  Signature Algorithm: SHA256-RSA\n"));
    assert_non_null(strstr(out, "    DNS Name: localhost\n    IP Address: 127.0.0.1\n"
                                "    Receptor Node ID: node1\nSign certificate (yes/no)? "));
    in = fmemopen((void *)"YES\n", 4, "r");
    o = fmemopen(out, sizeof out, "w");
    s.in = in;
    s.out = o;
    assert_int_equal(certs_signreq(&s, err, sizeof err), 0);
    fclose(o);
    fclose(in);
}

/* ---- names ------------------------------------------------------------------------ */

static void test_node_ids(void **state)
{
    (void)state;
    gnutls_datum_t der = read_der("node1.crt");
    char names[256], err[256];
    int found = -1;
    assert_int_equal(tlsconf_cert_node_ids(der.data, der.size, "node1", &found, names, sizeof names, err,
                                           sizeof err),
                     1);
    assert_int_equal(found, 1);
    assert_string_equal(names, "node1");
    assert_int_equal(tlsconf_cert_node_ids(der.data, der.size, "Node1", &found, names, sizeof names, err,
                                           sizeof err),
                     1);
    assert_int_equal(found, 0); /* exact, case-sensitive */
    /* the same answer through GnuTLS's own otherName accessors */
    gnutls_x509_crt_t crt;
    gnutls_x509_crt_init(&crt);
    assert_int_equal(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER), 0);
    int seen = 0;
    for (unsigned i = 0; i < 8; i++) {
        char oid[64], val[64];
        size_t oidlen = sizeof oid, vallen = sizeof val;
        if (gnutls_x509_crt_get_subject_alt_othername_oid(crt, i, oid, &oidlen) != GNUTLS_SAN_OTHERNAME)
            continue;
        assert_string_equal(oid, "1.3.6.1.4.1.2312.19.1");
        assert_int_equal(gnutls_x509_crt_get_subject_alt_name(crt, i, val, &vallen, NULL), GNUTLS_SAN_OTHERNAME);
        assert_int_equal(vallen, 7); /* UTF8String TLV */
        assert_memory_equal(val, "\x0c\x05node1", 7);
        seen++;
    }
    assert_int_equal(seen, 1);
    gnutls_x509_crt_deinit(crt);
    /* garbage is an error, not a crash */
    assert_int_equal(tlsconf_cert_node_ids((const unsigned char *)"\x30\x03\x02\x01\x01", 5, "x", &found,
                                           names, sizeof names, err, sizeof err),
                     -1);
    gnutls_free(der.data);
}

static void test_check_host(void **state)
{
    (void)state;
    gnutls_datum_t der = read_der("node1.crt");
    char err[256];
    assert_int_equal(tlsconf_check_host(der.data, der.size, "localhost", err, sizeof err), 0);
    assert_int_equal(tlsconf_check_host(der.data, der.size, "LOCALHOST.", err, sizeof err), 0);
    assert_int_equal(tlsconf_check_host(der.data, der.size, "127.0.0.1", err, sizeof err), 0);
    assert_int_equal(tlsconf_check_host(der.data, der.size, "example.com", err, sizeof err), -1);
    assert_string_equal(err, "x509: certificate is valid for localhost, not example.com");
    assert_int_equal(tlsconf_check_host(der.data, der.size, "127.0.0.2", err, sizeof err), -1);
    assert_string_equal(err, "x509: certificate is valid for 127.0.0.1, not 127.0.0.2");
    assert_int_equal(tlsconf_check_host(der.data, der.size, "::1", err, sizeof err), -1);
    gnutls_free(der.data);
}

/* ---- tlsconf -------------------------------------------------------------------- */

static int add_server(struct tlsconf *set, const char *cert, const char *key, const char *cas, int require,
                      const char *pin, char *err, size_t errlen)
{
    const char *pins[] = { pin };
    struct tlsconf_opts o = { .name = "srv", .is_server = 1, .cert = cert, .key = key, .cas = cas,
                              .requireclientcert = require, .pins = pins, .npins = pin ? 1 : 0 };
    return tlsconf_add(set, &o, err, errlen);
}

static void test_tlsconf_startup(void **state)
{
    (void)state;
    char err[1024];
    struct tlsconf *set = tlsconf_new("nodeX");
    assert_int_equal(add_server(set, path("node1.crt"), path("node1.key"), NULL, 0, NULL, err, sizeof err), -1);
    char want[1024];
    snprintf(want, sizeof want,
             "error preparing tls server config: nodeID=nodeX not found in certificate name(s); "
             "names found=[node1]; cfg section=srv; server cert=%s",
             path("node1.crt"));
    assert_string_equal(err, want);
    tlsconf_free(set);
    set = tlsconf_new("node1");
    assert_int_equal(add_server(set, path("node1.crt"), path("node2.key"), NULL, 0, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "private key does not match public key"));
    assert_int_equal(add_server(set, path("node1.crt"), path("missing.key"), NULL, 0, NULL, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "missing.key: no such file or directory"));
    assert_int_equal(add_server(set, path("node1.csr"), path("node1.key"), NULL, 0, NULL, err, sizeof err), -1);
    assert_int_equal(add_server(set, path("node1.crt"), path("node1.key"), NULL, 0, "00:11", err, sizeof err),
                     -1);
    assert_string_equal(err, "error preparing tls server config: error decoding fingerprints: "
                             "fingerprints must be 32 or 64 bytes for sha256 or sha512");
    assert_int_equal(add_server(set, path("node1.crt"), path("node1.key"), path("nope.crt"), 1, NULL, err,
                                sizeof err),
                     -1);
    assert_non_null(strstr(err, "error reading client CAs file: open "));
    assert_null(tlsconf_find(set, "srv", 1));
    assert_int_equal(add_server(set, path("node1.crt"), path("node1.key"), path("ca.crt"), 1, NULL, err,
                                sizeof err),
                     0);
    assert_non_null(tlsconf_find(set, "srv", 1));
    assert_null(tlsconf_find(set, "srv", 0));
    assert_int_equal(tlsconf_reload(set, err, sizeof err), 0);
    tlsconf_free(set);
}

/* ---- TLS over a socket pair -------------------------------------------------------- */

struct end {
    struct bstream *bs;
    const char *reply;  /* written back after a whole line */
    char got[256];
    size_t gotlen;
    char error[800];
    int eof, closed, ready;
};

struct pair {
    uv_loop_t loop;
    struct end server, client;
};

static void end_read(struct bstream *bs, const uint8_t *d, size_t n)
{
    struct end *e = bs->data;
    if (e->gotlen + n < sizeof e->got) {
        memcpy(e->got + e->gotlen, d, n);
        e->gotlen += n;
    }
    if (memchr(d, '\n', n)) {
        if (e->reply)
            bstream_write(bs, e->reply, strlen(e->reply));
        bstream_shutdown(bs);
    }
}

static void end_eof(struct bstream *bs)
{
    struct end *e = bs->data;
    e->eof = 1;
    bstream_close(bs);
}

static void end_error(struct bstream *bs, const char *msg)
{
    struct end *e = bs->data;
    snprintf(e->error, sizeof e->error, "%s", msg);
}

static void end_close(struct bstream *bs)
{
    struct end *e = bs->data;
    e->closed = 1;
}

static void end_ready(struct bstream *bs)
{
    struct end *e = bs->data;
    e->ready = 1;
}

static struct bstream *raw_end(uv_loop_t *loop, int fd)
{
    struct bstream *bs = uvstream_new(loop, 1);
    assert_non_null(bs);
    assert_int_equal(uv_pipe_open((uv_pipe_t *)uvstream_handle(bs), fd), 0);
    uvstream_start(bs);
    snprintf(bs->desc, sizeof bs->desc, "tcp test-peer:1");
    return bs;
}

static void end_wrap(struct end *e, uv_loop_t *loop, int fd, struct tls_config *cfg, int server,
                     const char *name, const char *node)
{
    char err[256];
    e->bs = tls_wrap(raw_end(loop, fd), cfg, server, name, node, loop, 5000, err, sizeof err);
    assert_non_null(e->bs);
    e->bs->data = e;
    e->bs->on_read = end_read;
    e->bs->on_eof = end_eof;
    e->bs->on_error = end_error;
    e->bs->on_close = end_close;
    tls_set_ready_cb(e->bs, end_ready);
    bstream_read_start(e->bs);
}

/* Runs one session: the client writes "hello\n", the server answers
 * "olleh\n"; each side half-closes after the line it reads, and closes at
 * the peer's close_notify. */
static void run_pair(struct pair *p, struct tls_config *scfg, struct tls_config *ccfg, const char *host,
                     const char *client_expects_node)
{
    int sv[2];
    memset(p, 0, sizeof *p);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uv_loop_init(&p->loop);
    p->server.reply = "olleh\n";
    end_wrap(&p->server, &p->loop, sv[0], scfg, 1, NULL, NULL);
    end_wrap(&p->client, &p->loop, sv[1], ccfg, 0, host, client_expects_node);
    bstream_write(p->client.bs, "hello\n", 6); /* queued until the handshake is done */
    for (int i = 0; i < 2000 && !(p->server.closed && p->client.closed); i++)
        uv_run(&p->loop, UV_RUN_ONCE);
    uv_run(&p->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&p->loop), 0);
}

struct configs {
    struct tlsconf *set;
    struct tls_config *server, *client;
};

static void configs_make(struct configs *c, const char *scert, const char *ccert, const char *cca,
                         const char *pin, int mintls13)
{
    char err[1024];
    char sc[64], sk[64], cc[64], ck[64], ca[64];
    snprintf(sc, sizeof sc, "%s.crt", scert);
    snprintf(sk, sizeof sk, "%s.key", scert);
    snprintf(cc, sizeof cc, "%s.crt", ccert ? ccert : "");
    snprintf(ck, sizeof ck, "%s.key", ccert ? ccert : "");
    snprintf(ca, sizeof ca, "%s.crt", cca);
    const char *pins[] = { pin };
    c->set = tlsconf_new("any");
    struct tlsconf_opts s = { .name = "s", .is_server = 1, .cert = path(sc), .key = path(sk),
                              .cas = path("ca.crt"), .requireclientcert = 1, .skipreceptornamescheck = 1,
                              .mintls13 = mintls13 };
    struct tlsconf_opts k = { .name = "c", .cert = ccert ? path(cc) : NULL, .key = ccert ? path(ck) : NULL,
                              .cas = path(ca), .pins = pins, .npins = pin ? 1 : 0,
                              .skipreceptornamescheck = 1, .mintls13 = mintls13 };
    assert_int_equal(tlsconf_add(c->set, &s, err, sizeof err), 0);
    assert_int_equal(tlsconf_add(c->set, &k, err, sizeof err), 0);
    c->server = tlsconf_find(c->set, "s", 1);
    c->client = tlsconf_find(c->set, "c", 0);
}

static void test_session_ok(void **state)
{
    (void)state;
    struct configs c;
    struct pair p;
    configs_make(&c, "node1", "node2", "ca", NULL, 0);
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.server.error, "");
    assert_string_equal(p.client.error, "");
    assert_int_equal(p.server.gotlen, 6);
    assert_memory_equal(p.server.got, "hello\n", 6);
    assert_int_equal(p.client.gotlen, 6);
    assert_memory_equal(p.client.got, "olleh\n", 6);
    assert_true(p.client.eof && p.server.eof);
    /* mesh mode: the node ID in the server certificate */
    run_pair(&p, c.server, c.client, NULL, "node1");
    assert_string_equal(p.client.error, "");
    assert_int_equal(p.client.gotlen, 6);
    tlsconf_free(c.set);
    /* TLS 1.3 only on both sides */
    configs_make(&c, "node1", "node2", "ca", NULL, 1);
    run_pair(&p, c.server, c.client, "127.0.0.1", NULL);
    assert_string_equal(p.client.error, "");
    assert_int_equal(p.client.gotlen, 6);
    tlsconf_free(c.set);
}

static void test_session_failures(void **state)
{
    (void)state;
    struct configs c;
    struct pair p;
    configs_make(&c, "node1", "node2", "ca", NULL, 0);
    run_pair(&p, c.server, c.client, NULL, "node9");
    assert_string_equal(p.client.error,
                        "tls test-peer:1: x509: certificate is valid for Receptor node ID node1, not node9");
    assert_int_equal(p.server.gotlen, 0);
    assert_true(p.server.closed && p.client.closed);
    run_pair(&p, c.server, c.client, "example.com", NULL);
    assert_string_equal(p.client.error, "tls test-peer:1: x509: certificate is valid for localhost, not example.com");
    tlsconf_free(c.set);

    configs_make(&c, "stranger", "node2", "ca", NULL, 0); /* server cert from another CA */
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.client.error, "tls test-peer:1: x509: certificate signed by unknown authority");
    tlsconf_free(c.set);

    configs_make(&c, "node1", "stranger", "ca", NULL, 0); /* client cert from another CA */
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.server.error, "tls test-peer:1: x509: certificate signed by unknown authority");
    assert_non_null(strstr(p.client.error, "remote error:"));
    assert_int_equal(p.server.gotlen, 0);
    tlsconf_free(c.set);

    configs_make(&c, "expired", "node2", "ca", NULL, 0);
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_non_null(strstr(p.client.error, "x509: certificate has expired or is not yet valid: current time "));
    assert_non_null(strstr(p.client.error, " is after 2021-01-01T00:00:00Z"));
    tlsconf_free(c.set);

    configs_make(&c, "node1", "node2", "ca", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0);
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.client.error,
                        "tls test-peer:1: presented certificate does not match any pinned fingerprint");
    tlsconf_free(c.set);

    configs_make(&c, "node1", NULL, "ca", NULL, 0); /* the client has no certificate */
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.server.error, "tls test-peer:1: peer certificate missing");
    assert_int_equal(p.server.gotlen, 0);
    tlsconf_free(c.set);
}

static void test_session_pin_match(void **state)
{
    (void)state;
    gnutls_datum_t der = read_der("node1.crt");
    unsigned char h[32];
    char hex[100];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, h);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 3 * i, "%02X:", h[i]);
    hex[95] = 0;
    gnutls_free(der.data);
    struct configs c;
    struct pair p;
    configs_make(&c, "node1", "node2", "ca", hex, 0);
    run_pair(&p, c.server, c.client, "localhost", NULL);
    assert_string_equal(p.client.error, "");
    assert_int_equal(p.client.gotlen, 6);
    tlsconf_free(c.set);
}

static void test_session_garbage(void **state)
{
    (void)state;
    /* a peer that speaks no TLS: a clear error, no crash */
    struct configs c;
    configs_make(&c, "node1", "node2", "ca", NULL, 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct end e;
    memset(&e, 0, sizeof e);
    end_wrap(&e, &loop, sv[0], c.server, 1, NULL, NULL);
    static const char junk[] = "\x16\x03\x01\x00\x05hello this is not TLS at all";
    assert_int_equal(write(sv[1], junk, sizeof junk), (ssize_t)sizeof junk);
    for (int i = 0; i < 200 && !e.closed; i++)
        uv_run(&loop, UV_RUN_ONCE);
    close(sv[1]);
    assert_true(e.closed);
    assert_non_null(strstr(e.error, "tls test-peer:1: "));
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    tlsconf_free(c.set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cert_files),       cmocka_unit_test(test_cert_command_errors),
        cmocka_unit_test(test_signreq_prompt),   cmocka_unit_test(test_node_ids),
        cmocka_unit_test(test_check_host),       cmocka_unit_test(test_tlsconf_startup),
        cmocka_unit_test(test_session_ok),       cmocka_unit_test(test_session_failures),
        cmocka_unit_test(test_session_pin_match), cmocka_unit_test(test_session_garbage),
    };
    return cmocka_run_group_tests(tests, setup_certs, teardown_certs);
}
