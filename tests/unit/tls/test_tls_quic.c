/* Named TLS configurations on QUIC streams over the mesh (spec 6.3, 7.3,
 * 15 items 34 and 38): two nodes in one process, linked over loopback TCP,
 * dial a stream listener through tlsconf_stream_setup().  Checks the
 * insecure certificate's fields, the insecure mode end to end, mutual TLS
 * with node IDs, and that a wrong node ID in either certificate stops the
 * stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "mesh/node.h"
#include "net/certs.h"
#include "net/tcp.h"
#include "net/tlsconf.h"
#include "stream/quic_tls.h"
#include "stream/stream.h"

static char dir[256];

static const char *path(const char *name)
{
    static char bufs[32][512];
    static int next;
    char *p = bufs[next++ % 32];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static void make_cert(const char *name, const char *node)
{
    char crt[64], key[64], req[64], err[256];
    snprintf(crt, sizeof crt, "%s.crt", name);
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(req, sizeof req, "%s.csr", name);
    const char *nodes[] = { node };
    struct certs_req_opts r = { .commonname = name, .bits = 2048, .nodes = nodes, .nnodes = 1,
                                .outreq = path(req), .outkey = path(key) };
    assert_int_equal(certs_makereq(&r, err, sizeof err), 0);
    struct certs_sign_opts s = { .req = path(req), .cacert = path("ca.crt"), .cakey = path("ca.key"),
                                 .outcert = path(crt), .verify = 1 };
    assert_int_equal(certs_signreq(&s, err, sizeof err), 0);
}

/* ---- two nodes ------------------------------------------------------------------ */

struct world {
    uv_loop_t loop;
    struct node *a, *b;
    struct tcp_listener *ls;
    struct tcp_dialer *dl;
    struct link_policy policy;
    struct tlsconf *tls;
};

static struct world w;

static void adopt_a(void *arg, struct link *l) { node_adopt_link(((struct world *)arg)->a, l, &w.policy); }
static void adopt_b(void *arg, struct link *l) { node_adopt_link(((struct world *)arg)->b, l, &w.policy); }

static int routes_to(struct node *n, const char *peer)
{
    json_t *st = node_status(n);
    int ok = json_object_get(json_object_get(st, "RoutingTable"), peer) != NULL;
    json_decref(st);
    return ok;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void run_until(int *flag, int seconds)
{
    time_t end = time(NULL) + seconds;
    while (!*flag && time(NULL) < end)
        uv_run(&w.loop, UV_RUN_ONCE);
}

static int linked;

static void on_tick(uv_timer_t *t)
{
    (void)t;
    linked = routes_to(w.a, "nodeB") && routes_to(w.b, "nodeA");
}

static int setup_world(void **state)
{
    (void)state;
    char err[1024];
    snprintf(dir, sizeof dir, "/tmp/receptor-tlsq-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    struct certs_init_opts ca = { .commonname = "CA", .bits = 2048, .outcert = path("ca.crt"),
                                  .outkey = path("ca.key") };
    if (certs_init(&ca, err, sizeof err) < 0)
        return -1;
    make_cert("a", "nodeA");
    make_cert("b", "nodeB");
    make_cert("c", "nodeC");
    w.tls = tlsconf_new("nodeA");
    struct tlsconf_opts o[] = {
        { .name = "srv", .is_server = 1, .cert = path("a.crt"), .key = path("a.key"),
          .cas = path("ca.crt"), .requireclientcert = 1 },
        { .name = "srvC", .is_server = 1, .cert = path("c.crt"), .key = path("c.key"),
          .cas = path("ca.crt"), .requireclientcert = 1, .skipreceptornamescheck = 1 },
        { .name = "cli", .cert = path("b.crt"), .key = path("b.key"), .cas = path("ca.crt"),
          .skipreceptornamescheck = 1 },
        { .name = "cliC", .cert = path("c.crt"), .key = path("c.key"), .cas = path("ca.crt"),
          .skipreceptornamescheck = 1 },
    };
    for (size_t i = 0; i < sizeof o / sizeof o[0]; i++)
        if (tlsconf_add(w.tls, &o[i], err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    uv_loop_init(&w.loop);
    w.policy.cost = 1.0;
    struct node_config ca_cfg = { .id = "nodeA" }, cb_cfg = { .id = "nodeB" };
    w.a = node_new(&w.loop, &ca_cfg, err, sizeof err);
    w.b = node_new(&w.loop, &cb_cfg, err, sizeof err);
    int port = free_port();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    w.ls = tcp_listener_start(&w.loop, "127.0.0.1", port, NULL, adopt_a, &w, err, sizeof err);
    w.dl = tcp_dialer_start(&w.loop, addr, 1, NULL, adopt_b, &w, err, sizeof err);
    if (!w.a || !w.b || !w.ls || !w.dl)
        return -1;
    uv_timer_t tick;
    uv_timer_init(&w.loop, &tick);
    uv_timer_start(&tick, on_tick, 100, 100);
    run_until(&linked, 30);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&w.loop, UV_RUN_NOWAIT);
    return linked ? 0 : -1;
}

static int teardown_world(void **state)
{
    (void)state;
    if (w.dl)
        tcp_dialer_stop(w.dl);
    if (w.ls)
        tcp_listener_stop(w.ls);
    if (w.a)
        node_free(w.a);
    if (w.b)
        node_free(w.b);
    for (int i = 0; i < 200 && uv_run(&w.loop, UV_RUN_NOWAIT); i++)
        usleep(10000);
    uv_loop_close(&w.loop);
    tlsconf_free(w.tls);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- one stream ------------------------------------------------------------------ */

struct attempt {
    int dialed, accepted;
    char err[512];
    char remote[64];
};

static void on_accept(void *arg, struct bstream *bs, const char *remote_node)
{
    struct attempt *a = arg;
    a->accepted = 1;
    snprintf(a->remote, sizeof a->remote, "%s", remote_node);
    bstream_close(bs);
}

static void on_dial(void *arg, struct bstream *bs, const char *err)
{
    struct attempt *a = arg;
    a->dialed = 1;
    if (err)
        snprintf(a->err, sizeof a->err, "%s", err);
    if (bs) {
        bstream_write(bs, "x", 1);
        bstream_close(bs);
    }
}

struct failure_query {
    const char *config, *reason;
    int is_server;
    uint64_t count;
};

static void on_failure(void *arg, const char *config, int is_server, const char *reason, uint64_t count)
{
    struct failure_query *q = arg;
    if (!strcmp(config, q->config) && is_server == q->is_server && !strcmp(reason, q->reason))
        q->count += count;
}

/* The metrics' count of handshake failures of one config for one reason. */
static uint64_t failures(const char *config, int is_server, const char *reason)
{
    struct failure_query q = { config, reason, is_server, 0 };
    tlsconf_foreach_failure(w.tls, on_failure, &q);
    return q.count;
}

static void attempt(struct attempt *a, const char *service, const char *srv, const char *cli)
{
    char err[256];
    memset(a, 0, sizeof *a);
    struct stream_tls st = { tlsconf_stream_setup, tlsconf_stream_failed,
                             srv ? tlsconf_find(w.tls, srv, 1) : NULL };
    struct stream_tls ct = { tlsconf_stream_setup, tlsconf_stream_failed,
                             cli ? tlsconf_find(w.tls, cli, 0) : NULL };
    struct stream_listener *l = stream_listen(w.a, service, 0, NULL, srv ? &st : NULL, on_accept, a, err,
                                              sizeof err);
    assert_non_null(l);
    assert_non_null(stream_dial(w.b, "nodeA", service, cli ? &ct : NULL, on_dial, a));
    run_until(&a->dialed, 30);
    assert_true(a->dialed);
    if (!a->err[0])
        run_until(&a->accepted, 5);
    else
        run_until(&a->accepted, 2);
    stream_listener_close(l);
    for (int i = 0; i < 20; i++)
        uv_run(&w.loop, UV_RUN_NOWAIT);
}

static void test_insecure_certificate(void **state)
{
    (void)state;
    gnutls_certificate_credentials_t creds;
    char err[256];
    assert_int_equal(quic_tls_insecure_server_creds(&creds, err, sizeof err), 0);
    gnutls_datum_t der;
    assert_int_equal(gnutls_certificate_get_crt_raw(creds, 0, 0, &der), 0);
    gnutls_x509_crt_t crt;
    gnutls_x509_crt_init(&crt);
    assert_int_equal(gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER), 0);
    char cn[128];
    size_t cnlen = sizeof cn;
    assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen), 0);
    assert_string_equal(cn, "netceptor-insecure-common-name");
    cnlen = sizeof cn;
    assert_int_equal(gnutls_x509_crt_get_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cnlen), 0);
    assert_string_equal(cn, "netceptor-insecure-common-name");
    unsigned char serial[16];
    size_t slen = sizeof serial;
    assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &slen), 0);
    assert_int_equal(slen, 1);
    assert_int_equal(serial[0], 1);
    unsigned bits = 0;
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_RSA);
    assert_int_equal(bits, 2048);
    assert_int_equal(gnutls_x509_crt_get_signature_algorithm(crt), GNUTLS_SIGN_RSA_SHA256);
    time_t now = time(NULL);
    time_t nb = gnutls_x509_crt_get_activation_time(crt), na = gnutls_x509_crt_get_expiration_time(crt);
    assert_true(nb <= now - 50 && nb >= now - 70);
    assert_true(na >= now + 24 * 3600 - 10 && na <= now + 24 * 3600 + 10);
    char oid[128];
    size_t oidlen = sizeof oid;
    assert_int_equal(gnutls_x509_crt_get_extension_info(crt, 0, oid, &oidlen, NULL),
                     GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE); /* no extensions */
    gnutls_x509_crt_deinit(crt);
    gnutls_certificate_free_credentials(creds); /* der points into it */
}

static void test_insecure_stream(void **state)
{
    (void)state;
    struct attempt a;
    attempt(&a, "plain", NULL, NULL);
    assert_string_equal(a.err, "");
    assert_true(a.accepted);
    assert_string_equal(a.remote, "nodeB");
}

static void test_mutual_tls_stream(void **state)
{
    (void)state;
    struct attempt a;
    attempt(&a, "tls", "srv", "cli");
    assert_string_equal(a.err, "");
    assert_true(a.accepted);
    assert_string_equal(a.remote, "nodeB");
}

static void test_server_node_id_mismatch(void **state)
{
    (void)state;
    struct attempt a;
    uint64_t before = failures("cli", 0, "verify");
    attempt(&a, "tlsC", "srvC", "cli");
    assert_true(a.err[0] != 0);
    assert_false(a.accepted);
    print_message("dial error: %s\n", a.err);
    /* counted for the metrics, as a TLS-over-TCP failure is */
    assert_int_equal(failures("cli", 0, "verify"), before + 1);
}

static void test_client_node_id_mismatch(void **state)
{
    (void)state;
    struct attempt a;
    uint64_t srv_before = failures("srv", 1, "verify");
    attempt(&a, "tlsD", "srv", "cliC");
    assert_false(a.accepted);
    /* the server refused the client's certificate and counts it (a TLS 1.3
     * client has finished its side of the handshake by then) */
    assert_int_equal(failures("srv", 1, "verify"), srv_before + 1);
}

static void test_secure_dialer_refuses_insecure_listener(void **state)
{
    (void)state;
    struct attempt a;
    attempt(&a, "mixed", NULL, "cli");
    assert_true(a.err[0] != 0);
    assert_false(a.accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insecure_certificate),
        cmocka_unit_test(test_insecure_stream),
        cmocka_unit_test(test_mutual_tls_stream),
        cmocka_unit_test(test_server_node_id_mismatch),
        cmocka_unit_test(test_client_node_id_mismatch),
        cmocka_unit_test(test_secure_dialer_refuses_insecure_listener),
    };
    return cmocka_run_group_tests(tests, setup_world, teardown_world);
}
