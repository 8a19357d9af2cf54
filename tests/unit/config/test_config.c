/* Unit tests for src/config: the entry table, YAML files (the shared vector
 * configs and hand-written ones), the command line, defaults, conversions,
 * the cross-item checks and their messages, and hostile input (aliases,
 * deep nesting, oversize files, random bytes).
 *
 * Usage: test_config VECTORS_CONFIG_DIR  (tests/vectors/receptor/configs)
 * The group fixture holds a scratch directory for the YAML files written by
 * the tests and the vectors path, so the tests share no globals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_priv.h"

struct fixture {
    char dir[64];
    char path[128];      /* <dir>/config.yml, written by write_yaml() */
    const char *vectors;
};

static int fixture_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/cfgtestXXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof fx->path, "%s/config.yml", fx->dir);
    fx->vectors = getenv("CONFIG_VECTORS");
    *state = fx;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *fx = *state;
    DIR *d = opendir(fx->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_yaml(struct fixture *fx, const char *text)
{
    write_file(fx->path, text, strlen(text));
}

/* Runs "receptor ARGS..." (NULL-terminated). */
static int parse_argv(struct config *cfg, char *err, size_t errlen, ...)
{
    char *argv[64] = { "receptor" };
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) && argc < 63;)
        argv[argc++] = a;
    va_end(ap);
    err[0] = 0;
    return config_parse_args(argc, argv, cfg, err, errlen);
}

/* Writes text as config.yml and runs "receptor --config config.yml". */
static int parse_yaml(struct fixture *fx, const char *text, struct config *cfg, char *err,
                      size_t errlen)
{
    write_yaml(fx, text);
    return parse_argv(cfg, err, errlen, "--config", fx->path, NULL);
}

/* The YAML must fail with a message containing every given fragment. */
static void expect_yaml_error(struct fixture *fx, const char *text, ...)
{
    struct config cfg;
    char err[512];
    int rc = parse_yaml(fx, text, &cfg, err, sizeof err);
    if (rc == 0)
        fail_msg("accepted: %s", text);
    va_list ap;
    va_start(ap, text);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        if (!strstr(err, frag))
            fail_msg("message \"%s\" lacks \"%s\"", err, frag);
    va_end(ap);
    assert_int_equal(cfg.n, 0);
    assert_null(cfg.items);
}

static void expect_args_error(const char *frag, ...)
{
    char *argv[32] = { "receptor" };
    int argc = 1;
    va_list ap;
    va_start(ap, frag);
    for (char *a; (a = va_arg(ap, char *)) && argc < 31;)
        argv[argc++] = a;
    va_end(ap);
    struct config cfg;
    char err[512] = "";
    if (config_parse_args(argc, argv, &cfg, err, sizeof err) == 0) {
        config_free(&cfg);
        fail_msg("accepted command line with %s", argv[1]);
    }
    if (!strstr(err, frag))
        fail_msg("message \"%s\" lacks \"%s\"", err, frag);
    assert_int_equal(cfg.n, 0);
}

static const struct config_item *item_at(const struct config *cfg, const char *entry, size_t nth)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (strcmp(cfg->items[i].def->name, entry) == 0 && nth-- == 0)
            return &cfg->items[i];
    return NULL;
}

/* ---- the table ------------------------------------------------------------ */

static void test_table(void **state)
{
    (void)state;
    static const char *const all[] = {
        "node", "log-level", "trace", "local-only", "version", "tls-server", "tls-client",
        "tcp-listener", "tcp-peer", "udp-listener", "udp-peer", "ws-listener", "ws-peer",
        "control-service", "tcp-server", "tcp-client", "udp-server", "udp-client",
        "unix-socket-server", "unix-socket-client", "command-service", "ip-router",
        "metrics", /* receptor-c's own (docs/metrics.md) */
        "work-command", "work-kubernetes", "work-python", "work-signing", "work-verification",
        "cert-init", "cert-makereq", "cert-signreq", "command-runner",
    };
    /* what the daemon cannot run yet; everything else must not be flagged */
    static const char *const not_yet[] = { "work-python" };
    static const char *const reloadable[] = { "tcp-listener", "tcp-peer", "udp-listener",
                                              "udp-peer", "ws-listener", "ws-peer",
                                              "local-only" };
    size_t count = 0;
    for (const struct config_entry_def *d = config_entries; d->name; d++)
        count++;
    assert_int_equal(count, sizeof all / sizeof all[0]);
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const struct config_entry_def *d = config_entry_lookup(all[i], 0);
        assert_non_null(d);
        int sup = 1, rel = 0;
        for (size_t j = 0; j < sizeof not_yet / sizeof not_yet[0]; j++)
            sup &= strcmp(not_yet[j], all[i]) != 0;
        for (size_t j = 0; j < sizeof reloadable / sizeof reloadable[0]; j++)
            rel |= strcmp(reloadable[j], all[i]) == 0;
        assert_int_equal(!(d->flags & CONFIG_NOT_YET), sup);
        assert_int_equal(!!(d->flags & CONFIG_RELOADABLE), rel);
        assert_non_null(d->help);
        int bare = 0;
        for (const struct config_option *o = d->options; o->name; o++) {
            for (const char *c = o->name; *c; c++)
                assert_false(*c >= 'A' && *c <= 'Z');
            assert_non_null(o->help);
            bare += !!(o->flags & CONFIG_BARE);
            if (o->def) {  /* every default converts like command-line text */
                json_t *v;
                char why[256];
                assert_int_equal(config_value_from_text(o, o->def, &v, why, sizeof why), 0);
                json_decref(v);
            }
        }
        assert_true(bare <= 1);
    }
    assert_true(config_entry_lookup("node", 0)->flags & CONFIG_SINGLETON);
    assert_true(config_entry_lookup("work-signing", 0)->flags & CONFIG_SINGLETON);
    assert_true(config_entry_lookup("version", 0)->flags & CONFIG_EXCLUSIVE);
    assert_true(config_entry_lookup("cert-signreq", 0)->flags & CONFIG_EXCLUSIVE);
    assert_true(config_entry_lookup("command-runner", 0)->flags & CONFIG_HIDDEN);
    assert_null(config_entry_lookup("UDP-Listener", 0));
    assert_non_null(config_entry_lookup("UDP-Listener", 1));
    const struct config_entry_def *wc = config_entry_lookup("work-command", 0);
    assert_non_null(config_option_lookup(wc, "AllowRuntimeParams"));
    assert_non_null(config_option_lookup(wc, "verifysignature"));
    assert_non_null(config_option_lookup(wc, "params"));
    const struct config_entry_def *tls = config_entry_lookup("tls-server", 0);
    assert_true(config_option_lookup(tls, "cert")->flags & CONFIG_REQUIRED);
    assert_int_equal(config_option_lookup(tls, "pinnedclientcert")->type, CONFIG_LIST);
}

/* ---- the shared vector configs ------------------------------------------- */

static void check_vector_file(const char *path, const char *stem)
{
    struct config cfg;
    char err[512];
    if (parse_argv(&cfg, err, sizeof err, "-c", (char *)path, NULL))
        fail_msg("%s: %s", path, err);
    const struct config_item *node = config_find(&cfg, "node");
    assert_non_null(node);
    assert_int_equal(strncmp(config_str(node, "id"), stem, 1), 0); /* A.yml, Adup.yml -> "A" */
    assert_int_equal(strlen(config_str(node, "id")), 1);
    assert_non_null(strstr(config_str(node, "datadir"), "/run/vectors/"));
    assert_string_equal(config_str(config_find(&cfg, "log-level"), "level"), "debug");
    assert_string_equal(cfg.config_file, path);
    assert_true(config_find(&cfg, "tcp-listener") || config_find(&cfg, "tcp-peer"));
    const struct config_item *l = config_find(&cfg, "tcp-listener");
    if (l) {
        assert_string_equal(config_str(l, "bindaddr"), "127.0.0.1");
        assert_true(config_int(l, "port", 0) > 27000);
        assert_true(config_float(l, "cost", 0) == 1.0);
    }
    const struct config_item *p = config_find(&cfg, "tcp-peer");
    if (p) {
        assert_non_null(strstr(config_str(p, "address"), "127.0.0.1:272"));
        assert_int_equal(config_bool(p, "redial", 0), 1);
    }
    char msg[128];
    assert_int_equal(config_check_supported(&cfg, msg, sizeof msg), 0);
    config_free(&cfg);
}

static void test_vector_configs(void **state)
{
    struct fixture *fx = *state;
    if (!fx->vectors)
        fail_msg("CONFIG_VECTORS is not set");
    static const char *const dirs[] = { "2node", "3node", "reject" };
    size_t files = 0;
    for (size_t i = 0; i < 3; i++) {
        char dpath[512];
        snprintf(dpath, sizeof dpath, "%s/%s", fx->vectors, dirs[i]);
        DIR *d = opendir(dpath);
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".yml"))
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dpath, e->d_name);
            check_vector_file(path, e->d_name);
            files++;
        }
        closedir(d);
    }
    assert_int_equal(files, 9);
}

/* ---- command line == YAML -------------------------------------------------- */

static void assert_same_items(const struct config *a, const struct config *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        char *ca = config_item_canonical(&a->items[i]);
        char *cb = config_item_canonical(&b->items[i]);
        assert_non_null(ca);
        assert_non_null(cb);
        assert_string_equal(ca, cb);
        free(ca);
        free(cb);
    }
}

static void test_cli_equals_yaml(void **state)
{
    struct fixture *fx = *state;
    struct config a, b, c;
    char err[512];
    assert_int_equal(parse_argv(&a, err, sizeof err, "--node", "id=foo", "--log-level", "debug",
                                "--tcp-listener", "port=2222", "--control-service",
                                "filename=/tmp/foo.sock", "--work-command", "worktype=echo",
                                "command=cat", NULL), 0);
    assert_int_equal(parse_yaml(fx,
                                "---\n"
                                "- node:\n"
                                "    id: foo\n"
                                "- log-level: debug\n"
                                "- tcp-listener:\n"
                                "    port: 2222\n"
                                "- control-service:\n"
                                "    filename: /tmp/foo.sock\n"
                                "- work-command:\n"
                                "    worktype: echo\n"
                                "    command: cat\n",
                                &b, err, sizeof err), 0);
    /* case-insensitive entries and keys on the command line, bare values */
    assert_int_equal(parse_argv(&c, err, sizeof err, "--NODE", "foo", "-Log-Level", "DEBUG",
                                "---tcp-listener", "2222", "--Control-Service",
                                "FileName=/tmp/foo.sock", "--work-command", "WorkType=echo",
                                "command=cat", NULL), 0);
    assert_same_items(&a, &b);
    assert_same_items(&a, &c);
    assert_int_equal(a.n, 5);
    char *canon = config_item_canonical(config_find(&a, "tcp-listener"));
    assert_string_equal(canon, "tcp-listener {\"bindaddr\":\"0.0.0.0\",\"cost\":1,\"port\":2222}");
    free(canon);
    assert_null(a.config_file);
    assert_non_null(b.config_file);
    config_free(&a);
    config_free(&b);
    config_free(&c);
}

static void test_canonical_order(void **state)
{
    struct fixture *fx = *state;
    struct config a, b;
    char err[512];
    assert_int_equal(parse_yaml(fx, "- node: x\n- tcp-peer: {cost: 2, address: 'h:1', redial: no}\n",
                                &a, err, sizeof err), 0);
    assert_int_equal(parse_argv(&b, err, sizeof err, "--tcp-peer", "redial=false", "cost=2.0",
                                "h:1", "--node", "id=x", NULL), 0);
    char *ca = config_item_canonical(config_find(&a, "tcp-peer"));
    char *cb = config_item_canonical(config_find(&b, "tcp-peer"));
    assert_string_equal(ca, cb);
    assert_string_equal(ca, "tcp-peer {\"address\":\"h:1\",\"cost\":2,\"redial\":false}");
    free(cb);
    config_free(&b);
    assert_int_equal(parse_argv(&b, err, sizeof err, "--tcp-peer", "h:1", "cost=3", "--node",
                                "x", NULL), 0);
    cb = config_item_canonical(config_find(&b, "tcp-peer"));
    assert_string_not_equal(ca, cb);
    free(ca);
    free(cb);
    config_free(&a);
    config_free(&b);
}

/* ---- defaults (spec 13) ----------------------------------------------------- */

static void test_defaults(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    char err[512];
    int rc = parse_yaml(fx,
                        "- node: n1\n"
                        "- log-level\n"
                        "- tcp-listener: 1\n"
                        "- tcp-peer: a:1\n"
                        "- udp-listener: 2\n"
                        "- udp-peer: b:2\n"
                        "- ws-listener: 3\n"
                        "- ws-peer: ws://c:3/\n"
                        "- control-service\n"
                        "- tcp-server: {port: 4, remotenode: r, remoteservice: s}\n"
                        "- udp-server: {port: 5, remotenode: r, remoteservice: s}\n"
                        "- unix-socket-server: {filename: /f, remotenode: r, remoteservice: s}\n"
                        "- work-command: {worktype: w, command: c}\n"
                        "- work-kubernetes: {worktype: k}\n"
                        "- tls-server: {name: s, cert: c, key: k}\n"
                        "- tls-client: {name: c, cert: c, key: k}\n",
                        &cfg, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    const struct config_item *it = config_find(&cfg, "node");
    assert_string_equal(config_str(it, "id"), "n1");
    assert_string_equal(config_str(it, "datadir"), "/tmp/receptor");
    assert_null(config_json(it, "firewallrules"));
    assert_null(config_str(it, "maxidleconnectiontimeout"));
    assert_string_equal(config_str(config_find(&cfg, "log-level"), "level"), "error");
    static const char *const listeners[] = { "tcp-listener", "udp-listener", "ws-listener" };
    static const char *const peers[] = { "tcp-peer", "udp-peer", "ws-peer" };
    for (int i = 0; i < 3; i++) {
        it = config_find(&cfg, listeners[i]);
        assert_string_equal(config_str(it, "bindaddr"), "0.0.0.0");
        assert_int_equal(config_int(it, "port", 0), i + 1);
        assert_true(config_float(it, "cost", 0) == 1.0);
        assert_true(json_is_real(config_json(it, "cost")));
        assert_null(config_json(it, "nodecost"));
        assert_null(config_json(it, "allowedpeers"));
        assert_null(config_str(it, "tls"));
        it = config_find(&cfg, peers[i]);
        assert_int_equal(config_bool(it, "redial", 0), 1);
        assert_true(config_float(it, "cost", 0) == 1.0);
    }
    assert_string_equal(config_str(config_find(&cfg, "ws-listener"), "path"), "/");
    it = config_find(&cfg, "control-service");
    assert_string_equal(config_str(it, "service"), "control");
    assert_int_equal(config_int(it, "permissions", 0), 0600);
    assert_null(config_str(it, "filename"));
    assert_string_equal(config_str(config_find(&cfg, "tcp-server"), "bindaddr"), "0.0.0.0");
    assert_string_equal(config_str(config_find(&cfg, "udp-server"), "bindaddr"), "0.0.0.0");
    assert_int_equal(config_int(config_find(&cfg, "unix-socket-server"), "permissions", 0), 0600);
    it = config_find(&cfg, "work-command");
    assert_int_equal(config_bool(it, "allowruntimeparams", 1), 0);
    assert_int_equal(config_bool(it, "verifysignature", 1), 0);
    it = config_find(&cfg, "work-kubernetes");
    assert_string_equal(config_str(it, "authmethod"), "incluster");
    assert_string_equal(config_str(it, "streammethod"), "logger");
    assert_int_equal(config_bool(it, "deletepodonrestart", 0), 1);
    it = config_find(&cfg, "tls-server");
    assert_int_equal(config_bool(it, "requireclientcert", 1), 0);
    assert_int_equal(config_bool(it, "mintls13", 1), 0);
    assert_int_equal(config_bool(config_find(&cfg, "tls-client"), "insecureskipverify", 1), 0);
    /* accessors fall back on unset or mistyped options */
    assert_int_equal(config_int(it, "nonesuch", 42), 42);
    assert_true(config_float(it, "name", 2.5) == 2.5);
    assert_int_equal(config_bool(it, "name", -1), -1);
    assert_null(config_str(it, "requireclientcert"));
    char msg[128];
    assert_int_equal(config_check_supported(&cfg, msg, sizeof msg), 0);
    config_free(&cfg);
    config_free(&cfg); /* idempotent */

    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--cert-signreq", "req=r", "cacert=c",
                                "cakey=k", "outcert=o", NULL), 0);
    assert_int_equal(cfg.n, 1);  /* exclusive: no implicit node */
    assert_int_equal(config_bool(&cfg.items[0], "verify", 1), 0);
    config_free(&cfg);
}

static void test_implicit_node(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    char err[512], host[256] = { 0 }, why[128];
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    int rc = parse_yaml(fx, "# nothing but a comment\n", &cfg, err, sizeof err);
    if (config_check_hostname(host, why, sizeof why) == 0) {
        assert_int_equal(rc, 0);
        assert_int_equal(cfg.n, 1);
        assert_string_equal(config_str(&cfg.items[0], "id"), host);
        assert_string_equal(config_str(&cfg.items[0], "datadir"), "/tmp/receptor");
        config_free(&cfg);
        assert_int_equal(parse_argv(&cfg, err, sizeof err, "--local-only", NULL), 0);
        assert_int_equal(cfg.n, 2);
        assert_string_equal(config_str(config_find(&cfg, "node"), "id"), host);
        config_free(&cfg);
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, "no node ID specified and local host name is localhost"));
    }
    assert_int_equal(config_check_hostname("localhost", why, sizeof why), -1);
    assert_string_equal(why, "no node ID specified and local host name is localhost");
    assert_int_equal(config_check_hostname("LocalHost.localdomain", why, sizeof why), -1);
    assert_int_equal(config_check_hostname("localhostess", why, sizeof why), 0);
    assert_int_equal(config_check_hostname("build-7", why, sizeof why), 0);
}

/* ---- value conversions ------------------------------------------------------ */

static void test_bools(void **state)
{
    struct fixture *fx = *state;
    static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True", "yes", "Yes" };
    static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False", "no", "NO" };
    for (size_t i = 0; i < 8; i++) {
        struct config cfg;
        char err[512], text[128], arg[64];
        snprintf(arg, sizeof arg, "redial=%s", yes[i]);
        assert_int_equal(parse_argv(&cfg, err, sizeof err, "--node", "x", "--tcp-peer", "h:1",
                                    arg, NULL), 0);
        assert_int_equal(config_bool(config_find(&cfg, "tcp-peer"), "redial", -1), 1);
        config_free(&cfg);
        snprintf(text, sizeof text, "- node: x\n- tcp-peer:\n    address: h:1\n    redial: %s\n",
                 no[i]);
        assert_int_equal(parse_yaml(fx, text, &cfg, err, sizeof err), 0);
        assert_int_equal(config_bool(config_find(&cfg, "tcp-peer"), "redial", -1), 0);
        config_free(&cfg);
    }
    expect_args_error("command line: entry 'tcp-peer': key 'redial': expected a boolean, got \"maybe\"",
                      "--tcp-peer", "h:1", "redial=maybe", NULL);
    expect_yaml_error(fx, "- node: x\n- tcp-peer:\n    address: h:1\n    redial: 2\n",
                      "config.yml:4: entry 'tcp-peer': key 'redial': expected a boolean", NULL);
}

static void test_ints_floats(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    char err[512];
    assert_int_equal(parse_yaml(fx,
                                "- node: x\n"
                                "- control-service:\n"
                                "    permissions: 0600\n"
                                "    filename: /s\n"
                                "- control-service: {service: c2, permissions: \"0x1ff\"}\n"
                                "- control-service: {service: c3, permissions: 420}\n"
                                "- tcp-listener: {port: 0o17, cost: 2.5}\n"
                                "- tcp-listener: {port: '2', cost: 3}\n",
                                &cfg, err, sizeof err), 0);
    assert_int_equal(config_int(item_at(&cfg, "control-service", 0), "permissions", 0), 0600);
    assert_int_equal(config_int(item_at(&cfg, "control-service", 1), "permissions", 0), 0x1ff);
    assert_int_equal(config_int(item_at(&cfg, "control-service", 2), "permissions", 0), 420);
    assert_int_equal(config_int(item_at(&cfg, "tcp-listener", 0), "port", 0), 15);
    assert_true(config_float(item_at(&cfg, "tcp-listener", 0), "cost", 0) == 2.5);
    assert_int_equal(config_int(item_at(&cfg, "tcp-listener", 1), "port", 0), 2);
    assert_true(config_float(item_at(&cfg, "tcp-listener", 1), "cost", 0) == 3.0);
    assert_true(json_is_real(config_json(item_at(&cfg, "tcp-listener", 1), "cost")));
    config_free(&cfg);
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--node", "x", "--control-service",
                                "permissions=0644", "--tcp-listener", "port=-0x10", "cost=1e1",
                                NULL), 0);
    assert_int_equal(config_int(config_find(&cfg, "control-service"), "permissions", 0), 0644);
    assert_int_equal(config_int(config_find(&cfg, "tcp-listener"), "port", 0), -16);
    assert_true(config_float(config_find(&cfg, "tcp-listener"), "cost", 0) == 10.0);
    config_free(&cfg);
    int64_t v;
    assert_int_equal(config_parse_int("9223372036854775807", &v), 0);
    assert_true(v == INT64_MAX);
    assert_int_equal(config_parse_int("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(config_parse_int("9223372036854775808", &v), -1);
    assert_int_equal(config_parse_int("0b101", &v), 0);
    assert_int_equal(v, 5);
    assert_int_equal(config_parse_int("08", &v), -1);
    assert_int_equal(config_parse_int("0x", &v), -1);
    assert_int_equal(config_parse_int("", &v), -1);
    assert_int_equal(config_parse_int(" 1", &v), -1);
    double f;
    assert_int_equal(config_parse_float("inf", &f), -1);
    assert_int_equal(config_parse_float("nan", &f), -1);
    assert_int_equal(config_parse_float("1e999", &f), -1);
    assert_int_equal(config_parse_float(" 1", &f), -1);
    assert_int_equal(config_parse_float("1.5x", &f), -1);
    expect_yaml_error(fx, "- node: x\n- tcp-listener:\n    port: abc\n",
                      "config.yml:3: entry 'tcp-listener': key 'port': expected an integer, got \"abc\"",
                      NULL);
    expect_yaml_error(fx, "- node: x\n- tcp-listener: {port: 1, cost: cheap}\n",
                      "config.yml:2: entry 'tcp-listener': key 'cost': expected a number", NULL);
    expect_yaml_error(fx, "- node: x\n- tcp-listener:\n    port: [1]\n",
                      "config.yml:3: entry 'tcp-listener': key 'port': expected an integer, got a list",
                      NULL);
    expect_yaml_error(fx, "- node:\n    id: {a: b}\n",
                      "config.yml:2: entry 'node': key 'id': expected a string, got a mapping", NULL);
    expect_args_error("command line: entry 'tcp-listener': key 'port': expected an integer, got \"abc\"",
                      "--tcp-listener", "port=abc", NULL);
}

static void test_lists_maps(void **state)
{
    struct fixture *fx = *state;
    struct config a, b, c;
    char err[512];
    assert_int_equal(parse_yaml(fx,
                                "- node: x\n"
                                "- tcp-listener:\n"
                                "    port: 1\n"
                                "    allowedpeers:\n"
                                "      - n1\n"
                                "      - n2\n"
                                "    nodecost:\n"
                                "      n1: 2\n"
                                "      n2: 3.5\n",
                                &a, err, sizeof err), 0);
    assert_int_equal(parse_argv(&b, err, sizeof err, "--node", "x", "--tcp-listener", "1",
                                "allowedpeers=n1", "AllowedPeers=n2",
                                "nodecost={\"n1\":2,\"n2\":3.5}", NULL), 0);
    assert_int_equal(parse_argv(&c, err, sizeof err, "--node", "x", "--tcp-listener", "1",
                                "allowedpeers=[\"n1\",\"n2\"]", "nodecost={\"n1\":2.0,\"n2\":3.5}",
                                NULL), 0);
    assert_same_items(&a, &b);
    assert_same_items(&a, &c);
    const struct config_item *it = config_find(&a, "tcp-listener");
    json_t *peers = config_json(it, "allowedpeers");
    assert_int_equal(json_array_size(peers), 2);
    assert_string_equal(json_string_value(json_array_get(peers, 1)), "n2");
    json_t *nc = config_json(it, "nodecost");
    assert_true(json_is_real(json_object_get(nc, "n1")));
    assert_true(json_real_value(json_object_get(nc, "n1")) == 2.0);
    assert_true(json_real_value(json_object_get(nc, "n2")) == 3.5);
    config_free(&a);
    config_free(&b);
    config_free(&c);
    /* a scalar for a list option: one element, or a JSON array */
    assert_int_equal(parse_yaml(fx, "- node: x\n- tcp-peer: {address: h:1, allowedpeers: solo}\n"
                                    "- tcp-peer: {address: h:2, allowedpeers: '[\"p\",\"q\"]'}\n",
                                &a, err, sizeof err), 0);
    assert_int_equal(json_array_size(config_json(item_at(&a, "tcp-peer", 0), "allowedpeers")), 1);
    assert_int_equal(json_array_size(config_json(item_at(&a, "tcp-peer", 1), "allowedpeers")), 2);
    config_free(&a);
    expect_yaml_error(fx, "- node: x\n- tcp-listener:\n    port: 1\n    allowedpeers:\n      - {a: b}\n",
                      "config.yml:5: entry 'tcp-listener': key 'allowedpeers': expected a list of strings",
                      NULL);
    expect_yaml_error(fx, "- node: x\n- tcp-listener:\n    port: 1\n    nodecost:\n      n1: lots\n",
                      "config.yml:5: entry 'tcp-listener': key 'nodecost': value for \"n1\": expected a number",
                      NULL);
    expect_args_error("command line: entry 'tcp-listener': key 'nodecost': expected a JSON object",
                      "--tcp-listener", "1", "nodecost=n1", NULL);
    expect_args_error("key 'nodecost': value for \"n1\" is not a number", "--tcp-listener", "1",
                      "nodecost={\"n1\":\"x\"}", NULL);
    expect_args_error("key 'allowedpeers': list element 1 is not a string", "--tcp-listener", "1",
                      "allowedpeers=[\"a\",2]", NULL);
}

static void test_firewall_rules(void **state)
{
    struct fixture *fx = *state;
    struct config a, b;
    char err[512];
    assert_int_equal(parse_yaml(fx,
                                "- node:\n"
                                "    id: x\n"
                                "    firewallrules:\n"
                                "      - Action: Reject\n"
                                "        FromNode: bad\n"
                                "        toservice: /c.*/\n"
                                "      - action: accept\n",
                                &a, err, sizeof err), 0);
    assert_int_equal(parse_argv(&b, err, sizeof err, "--node", "id=x",
                                "firewallrules=[{\"action\":\"reject\",\"fromnode\":\"bad\","
                                "\"TOSERVICE\":\"/c.*/\"},{\"ACTION\":\"ACCEPT\"}]",
                                NULL), 0);
    assert_same_items(&a, &b);
    json_t *rules = config_json(config_find(&a, "node"), "firewallrules");
    assert_int_equal(json_array_size(rules), 2);
    json_t *r0 = json_array_get(rules, 0);
    assert_string_equal(json_string_value(json_object_get(r0, "action")), "reject");
    assert_string_equal(json_string_value(json_object_get(r0, "fromnode")), "bad");
    assert_string_equal(json_string_value(json_object_get(r0, "toservice")), "/c.*/");
    config_free(&a);
    config_free(&b);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules:\n      - fromnode: a\n",
                      "config.yml:1: entry 'node': key 'firewallrules': rule 0: missing action", NULL);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules:\n      - action: allow\n",
                      "key 'firewallrules': rule 0: unknown action \"allow\"", NULL);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules:\n"
                          "      - action: drop\n      - action: drop\n        port: a\n",
                      "key 'firewallrules': rule 1: unknown key 'port'", NULL);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules:\n      - {action: drop, tonode: 5}\n",
                      "key 'firewallrules': rule 0: value must be a string 'tonode'", NULL);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules: {action: drop}\n",
                      "key 'firewallrules': expected a list of rules", NULL);
    expect_yaml_error(fx, "- node:\n    id: x\n    firewallrules: [drop]\n",
                      "key 'firewallrules': rule 0: expected a mapping", NULL);
}

/* ---- error messages --------------------------------------------------------- */

static void test_yaml_errors(void **state)
{
    struct fixture *fx = *state;
    expect_yaml_error(fx,
                      "---\n"
                      "- node:\n"
                      "    id: a\n"
                      "- log-level: debug\n"
                      "- tcp-peer:\n"
                      "    address: h:1\n"
                      "    adress: h:2\n",
                      "config.yml:7: entry 'tcp-peer': unknown key 'adress'", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer:\n    redial: false\n",
                      "config.yml:2: entry 'tcp-peer': missing required key 'address'", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer\n",
                      "config.yml:2: entry 'tcp-peer': missing required key 'address'", NULL);
    expect_yaml_error(fx, "---\n- node: a\n- tcp-peeer:\n    address: h:1\n",
                      "config.yml:3: unknown entry 'tcp-peeer'", NULL);
    expect_yaml_error(fx, "- node: a\n- TCP-Peer: h:1\n", "config.yml:2: unknown entry 'TCP-Peer'",
                      NULL);
    expect_yaml_error(fx, "- node: a\n- log-level: info\n- node: b\n",
                      "config.yml:3: entry 'node' may appear only once", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer: h:1\n  tcp-listener: 1\n",
                      "config.yml:3: list item has more than one entry name", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-server: 22\n",
                      "config.yml:2: entry 'tcp-server': does not take a bare value", NULL);
    expect_yaml_error(fx, "- node: a\n- trace: {on: 1}\n", "config.yml:2: entry 'trace': unknown key",
                      NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer: [h:1]\n",
                      "config.yml:2: entry 'tcp-peer': expected a mapping of options", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer:\n    address: h:1\n    Address: h:2\n",
                      "config.yml:4: entry 'tcp-peer': key 'address' given more than once", NULL);
    expect_yaml_error(fx, "node: a\n", "config.yml:1: the configuration must be a list of entries",
                      NULL);
    expect_yaml_error(fx, "- node: a\n-\n", "config.yml:2: empty list item", NULL);
    expect_yaml_error(fx, "- [node]\n", "config.yml:1: each list item must be", NULL);
    expect_yaml_error(fx, "- node:\n    id: a\n  - bad\n", "config.yml:3: YAML syntax error", NULL);
    expect_yaml_error(fx, "- node: {id: a\n- x\n", "config.yml:", "YAML syntax error", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer: \"h:1\n", "config.yml:", "YAML syntax error",
                      NULL);
    expect_yaml_error(fx, "- node: a\n- log-level: loud\n",
                      "config.yml:2: entry 'log-level': key 'level': unknown log level \"loud\"", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-listener: {port: 1, cost: 0}\n",
                      "config.yml:2: entry 'tcp-listener': key 'cost': connection cost must be positive",
                      NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-peer: {address: h:1, cost: -2}\n",
                      "entry 'tcp-peer': key 'cost': connection cost must be positive", NULL);
    expect_yaml_error(fx, "- node: a\n- tcp-listener: {port: 1, nodecost: {b: 0}}\n",
                      "entry 'tcp-listener': key 'nodecost': connection cost must be positive for b",
                      NULL);
    expect_yaml_error(fx, "- node: LocalHost\n",
                      "config.yml:1: entry 'node': key 'id': node ID \"localhost\" is reserved", NULL);
    expect_yaml_error(fx, "- node:\n    id: a\n    maxidleconnectiontimeout: 20s\n",
                      "entry 'node': key 'maxidleconnectiontimeout': user defined "
                      "maxIdleConnectionTimeout [20000000000] is less than the default",
                      NULL);
    expect_yaml_error(fx, "- node:\n    id: a\n    maxidleconnectiontimeout: soon\n",
                      "key 'maxidleconnectiontimeout': failed to parse MaxIdleConnectionTimeout",
                      NULL);
    expect_yaml_error(fx, "- version\n- node: a\n", "config.yml:1: cannot specify any other options with version",
                      NULL);
    expect_yaml_error(fx, "- node: \"a\\0b\"\n", "config.yml:1: value contains a NUL byte", NULL);

    struct config cfg;
    char err[512];
    assert_int_equal(parse_yaml(fx, "- node:\n    id: a\n    maxidleconnectiontimeout: 1m\n"
                                    "- log-level: DEBUG\n",
                                &cfg, err, sizeof err), 0);
    assert_string_equal(config_str(config_find(&cfg, "node"), "maxidleconnectiontimeout"), "1m");
    assert_string_equal(config_str(config_find(&cfg, "log-level"), "level"), "debug");
    config_free(&cfg);
}

static void test_args_errors(void **state)
{
    (void)state;
    expect_args_error("command line: entry 'tcp-peer': unknown key 'adress'", "--tcp-peer",
                      "adress=h:1", NULL);
    expect_args_error("command line: parameter specified before command", "id=foo", NULL);
    expect_args_error("command line: unknown entry 'tcp-peeer'", "--tcp-peeer", "h:1", NULL);
    expect_args_error("command line: entry 'tcp-peer': missing required key 'address'",
                      "--node", "a", "--tcp-peer", "cost=2", NULL);
    expect_args_error("command line: entry 'node' may appear only once", "--node", "a", "--node",
                      "b", NULL);
    expect_args_error("command line: entry 'log-level' may appear only once", "--log-level",
                      "--node", "a", "--log-level", "info", NULL);
    expect_args_error("command line: cannot specify any other options with version", "--version",
                      "--node", "a", NULL);
    expect_args_error("command line: cannot specify any other options with cert-init",
                      "--cert-init", "commonname=c", "bits=2048", "outcert=a", "outkey=b",
                      "--cert-makereq", "commonname=c", "outreq=r", NULL);
    expect_args_error("command line: entry 'node': key 'id': node ID \"localhost\" is reserved",
                      "--node", "localhost", NULL);
    expect_args_error("command line: entry 'tcp-server': does not take a bare value (got \"22\")",
                      "--tcp-server", "22", NULL);
    expect_args_error("command line: --config needs a file name", "--node", "a", "--config", NULL);
    expect_args_error("command line: --config needs a file name", "-c", "--node", "a", NULL);
    expect_args_error("/nonexistent/r.yml: cannot open", "--config", "/nonexistent/r.yml", NULL);
    expect_args_error("command line: parameter specified before command", "--node", "a",
                      "--config", "/dev/null", "stray", NULL);
    expect_args_error("command line: entry 'tcp-listener': key 'cost': connection cost must be "
                      "positive",
                      "--node", "a", "--tcp-listener", "1", "cost=0", NULL);
}

static void test_flags(void **state)
{
    struct fixture *fx = *state;
    struct config cfg;
    char err[512];
    char *argv1[] = { "receptor", NULL };
    assert_int_equal(config_parse_args(1, argv1, &cfg, err, sizeof err), 0);
    assert_true(cfg.want_help);
    config_free(&cfg);
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--node", "a", "-h", "--bogus", NULL), 0);
    assert_true(cfg.want_help);
    assert_int_equal(cfg.n, 0);
    config_free(&cfg);
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--HELP", NULL), 0);
    assert_true(cfg.want_help);
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--bash-completion", NULL), 0);
    assert_true(cfg.want_bash_completion);
    assert_false(cfg.want_help);
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--version", NULL), 0);
    assert_true(cfg.want_version);
    assert_int_equal(cfg.n, 1);
    assert_false(cfg.want_help);
    config_free(&cfg);
    /* several files, inserted at their position; the last one is recorded */
    char second[192];
    snprintf(second, sizeof second, "%s/second.yml", fx->dir);
    write_file(second, "- tcp-peer: h:2\n", 16);
    write_yaml(fx, "- tcp-peer: h:1\n");
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "--node", "a", "--config", fx->path,
                                "--tcp-peer", "h:3", "-c", second, "--trace", NULL), 0);
    assert_string_equal(cfg.config_file, second);
    assert_int_equal(cfg.n, 5);
    assert_string_equal(config_str(item_at(&cfg, "tcp-peer", 0), "address"), "h:1");
    assert_string_equal(config_str(item_at(&cfg, "tcp-peer", 1), "address"), "h:3");
    assert_string_equal(config_str(item_at(&cfg, "tcp-peer", 2), "address"), "h:2");
    assert_non_null(strstr(item_at(&cfg, "tcp-peer", 2)->where, "second.yml:1"));
    assert_string_equal(item_at(&cfg, "tcp-peer", 1)->where, "command line");
    assert_false(cfg.want_version);
    config_free(&cfg);
    /* entries without options, null values */
    assert_int_equal(parse_yaml(fx, "- local-only\n- trace:\n- node: {id: a, datadir: ~}\n"
                                    "- local-only: {local: true}\n",
                                &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "config.yml:4: entry 'local-only' may appear only once"));
    assert_int_equal(parse_yaml(fx, "- local-only\n- trace:\n- node: {id: a, datadir: ~}\n",
                                &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n, 3);
    assert_string_equal(config_str(config_find(&cfg, "node"), "datadir"), "/tmp/receptor");
    config_free(&cfg);
    /* multi-document files: only the first document counts */
    assert_int_equal(parse_yaml(fx, "--- \n- node: a\n---\n- node: b\n", &cfg, err, sizeof err), 0);
    assert_string_equal(config_str(config_find(&cfg, "node"), "id"), "a");
    config_free(&cfg);
}

/* ---- hostile input ------------------------------------------------------------ */

static void test_alias_rejected(void **state)
{
    struct fixture *fx = *state;
    expect_yaml_error(fx, "- node: &n a\n- tcp-peer: *n\n",
                      "config.yml:2: YAML aliases are not allowed", NULL);
    expect_yaml_error(fx,
                      "- node:\n"
                      "    id: a\n"
                      "    firewallrules:\n"
                      "      - &a [x, x, x, x, x, x, x, x, x]\n"
                      "      - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "      - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
                      "config.yml:5: YAML aliases are not allowed", NULL);
    expect_yaml_error(fx, "- &x tcp-peer\n- *x\n", "YAML aliases are not allowed", NULL);
}

static void test_deep_nesting(void **state)
{
    struct fixture *fx = *state;
    char text[1024] = "- node:\n    id: a\n    firewallrules: ";
    size_t len = strlen(text);
    for (int i = 0; i < 100; i++)
        text[len++] = '[';
    for (int i = 0; i < 100; i++)
        text[len++] = ']';
    text[len++] = '\n';
    text[len] = 0;
    expect_yaml_error(fx, text, "config.yml:3: YAML nesting deeper than 64 levels", NULL);
    /* 60 levels is fine for the reader (the firewall check then refuses it) */
    snprintf(text, sizeof text, "- node:\n    id: a\n    firewallrules: ");
    len = strlen(text);
    for (int i = 0; i < 60; i++)
        text[len++] = '[';
    for (int i = 0; i < 60; i++)
        text[len++] = ']';
    text[len] = 0;
    expect_yaml_error(fx, text, "rule 0: expected a mapping", NULL);
}

static void test_oversize(void **state)
{
    struct fixture *fx = *state;
    FILE *f = fopen(fx->path, "wb");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)CONFIG_MAX_FILE_SIZE + 1), 0);
    fclose(f);
    struct config cfg;
    char err[512];
    assert_int_equal(parse_argv(&cfg, err, sizeof err, "-c", fx->path, NULL), -1);
    assert_non_null(strstr(err, "config.yml: file is larger than 16 MiB"));
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(config_load_buffer(&cfg, "big", "", (size_t)CONFIG_MAX_FILE_SIZE + 1, err,
                                        sizeof err), -1);
    assert_non_null(strstr(err, "big: file is larger than 16 MiB"));
}

/* Feeds bytes to the parser and, when they parse, to finalise and the
 * accessors; only the absence of crashes and leaks is checked. */
static void feed(const char *data, size_t len)
{
    struct config cfg;
    char err[512];
    memset(&cfg, 0, sizeof cfg);
    if (config_load_buffer(&cfg, "fuzz", data, len, err, sizeof err) == 0 &&
        config_finalise(&cfg, err, sizeof err) == 0) {
        for (size_t i = 0; i < cfg.n; i++)
            free(config_item_canonical(&cfg.items[i]));
    }
    config_free(&cfg);
}

static void test_garbage(void **state)
{
    (void)state;
    static const char *const nasty[] = {
        "\0\0\0", "- [", "- {", "- node: \xff\xfe", "\xef\xbb\xbf- node: a\n", "\t- node",
        "- node: !!binary aGk=\n", "%YAML 9.9\n---\n- a\n", "- node: {? [a]: b}\n",
        "- tcp-listener: {port: 1, nodecost: {? [x]: 1}}\n", "- node: {id: a, firewallrules: !x y}",
        "- \"node\\u0000\": a\n", "--- |\n  literal\n", "- node: a\n...\n- x\n",
    };
    for (size_t i = 0; i < sizeof nasty / sizeof nasty[0]; i++)
        feed(nasty[i], i == 0 ? 3 : strlen(nasty[i]));
    /* random bytes, and random mutations of a valid file */
    static const char valid[] = "- node:\n    id: a\n    firewallrules:\n      - action: drop\n"
                                "- tcp-listener: {port: 1, nodecost: {b: 2}, allowedpeers: [x]}\n"
                                "- control-service: {permissions: 0600}\n";
    uint32_t seed = 12345;
    char buf[sizeof valid];
    for (int round = 0; round < 4000; round++) {
        size_t len = sizeof valid - 1;
        memcpy(buf, valid, sizeof valid);
        for (int k = 0; k < 1 + round % 8; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[pos] = round % 2 ? (char)(seed >> 16) : "-:{}[]&*!|>'\"#\n ,?"[(seed >> 16) % 19];
        }
        if (round % 5 == 0)
            for (size_t k = 0; k < len; k++) {
                seed = seed * 1103515245u + 12345u;
                buf[k] = (char)(seed >> 16);
            }
        feed(buf, len);
    }
}

/* ---- help ------------------------------------------------------------------------ */

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help("/usr/bin/receptor", f);
    fclose(f);
    assert_non_null(strstr(text, "Usage: receptor [--<action> [<param>=<value> ...] ...]\n"));
    assert_non_null(strstr(text, "   --tcp-listener: Run a backend listener on a TCP port\n"));
    assert_non_null(strstr(text, "      port=<int>: Local TCP port to listen on (required)\n"));
    assert_non_null(strstr(text, "      cost=<float64>: Connection cost (weight) (default: 1.0)\n"));
    assert_non_null(strstr(text, "      allowedpeers=<[]string (may be repeated)>"));
    assert_non_null(strstr(text, "      nodecost=<JSON dict of string to float64>"));
    assert_non_null(strstr(text, "   --cert-signreq"));
    assert_non_null(strstr(text, "   --metrics: Serve Prometheus metrics over HTTP (receptor-c only)\n"));
    assert_non_null(strstr(text, "Commands to configure back-ends"));
    assert_null(strstr(text, "command-runner"));
    free(text);
    text = NULL;
    f = open_memstream(&text, &len);
    config_print_bash_completion("receptor", f);
    fclose(f);
    assert_non_null(strstr(text, "complete -F _receptor receptor\n"));
    assert_non_null(strstr(text, "      --tcp-peer)\n        COMPREPLY=($(compgen -W \"address= "));
    assert_null(strstr(text, "command-runner"));
    free(text);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        setenv("CONFIG_VECTORS", argv[1], 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),          cmocka_unit_test(test_vector_configs),
        cmocka_unit_test(test_cli_equals_yaml), cmocka_unit_test(test_canonical_order),
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_implicit_node),
        cmocka_unit_test(test_bools),          cmocka_unit_test(test_ints_floats),
        cmocka_unit_test(test_lists_maps),     cmocka_unit_test(test_firewall_rules),
        cmocka_unit_test(test_yaml_errors),    cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_flags),          cmocka_unit_test(test_alias_rejected),
        cmocka_unit_test(test_deep_nesting),   cmocka_unit_test(test_oversize),
        cmocka_unit_test(test_garbage),        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
