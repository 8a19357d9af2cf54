/* test_kube.c - the kubernetes work parsers: kubeconfig (contexts, clusters,
 * users, inline and file data, refusals), YAML to JSON (types, limits) and
 * the pod a unit creates, and upstream's readiness rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "work/kube_config.h"
#include "work/kube_log.h"
#include "work/kube_pod.h"
#include "work/kube_yaml.h"

static const char *tmpdir;

static const char kc_two_contexts[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "clusters:\n"
    "- name: dev\n"
    "  cluster: {server: 'https://dev:6443'}\n"
    "- name: prod\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
    "    insecure-skip-tls-verify: false\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    token: abc.def\n"
    "    client-certificate: certs/admin.crt\n"
    "    client-key-data: a2V5\n"
    "contexts:\n"
    "- name: dev\n"
    "  context: {cluster: dev, user: admin}\n"
    "- name: prod\n"
    "  context: {cluster: prod, user: admin, namespace: awx}\n";

static void test_kubeconfig_current_context(void **state)
{
    (void)state;
    struct kube_conn c;
    char err[256];
    assert_int_equal(kube_conn_from_kubeconfig(&c, kc_two_contexts, strlen(kc_two_contexts), "/etc/kube",
                                               err, sizeof err), 0);
    assert_string_equal(c.server, "https://10.0.0.1:6443");
    assert_string_equal(c.ca_data, "-----BEGIN CERTIFICATE-----\n");
    assert_null(c.ca_file);
    assert_int_equal(c.insecure, 0);
    assert_string_equal(c.token, "abc.def");
    assert_string_equal(c.cert_file, "/etc/kube/certs/admin.crt");
    assert_string_equal(c.key_data, "key");
    assert_string_equal(c.namespace_, "awx");
    kube_conn_free(&c);
}

static void expect_kubeconfig_error(const char *text, const char *want)
{
    struct kube_conn c;
    char err[256] = "";
    assert_int_equal(kube_conn_from_kubeconfig(&c, text, strlen(text), NULL, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_null(c.server);
}

static void test_kubeconfig_errors(void **state)
{
    (void)state;
    expect_kubeconfig_error("apiVersion: v1\nclusters: []\n", "no current-context is set");
    expect_kubeconfig_error("current-context: x\ncontexts: []\n", "context \"x\" does not exist");
    expect_kubeconfig_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n",
                            "cluster \"c\" of context \"x\" does not exist");
    expect_kubeconfig_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                            "clusters:\n- name: c\n  cluster: {server: ftp://h}\n",
                            "is not an http(s) URL");
    expect_kubeconfig_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                            "clusters:\n- name: c\n  cluster: {server: https://h}\n"
                            "users:\n- name: u\n  user: {exec: {command: aws}}\n",
                            "exec plugin");
    expect_kubeconfig_error("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                            "clusters:\n- name: c\n  cluster: {server: https://h, "
                            "certificate-authority-data: '!!!'}\n",
                            "certificate-authority-data is not valid base64");
    expect_kubeconfig_error("a: [unterminated\n", "kubeconfig: yaml: line");
    expect_kubeconfig_error("- just\n- a list\n", "kubeconfig: not a mapping");
}

static void test_kubeconfig_token_file_and_default_namespace(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/kube-token", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("from-a-file\n", f);
    fclose(f);
    char text[1024];
    snprintf(text, sizeof text,
             "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
             "clusters:\n- name: c\n  cluster: {server: 'http://h:8080', insecure-skip-tls-verify: true}\n"
             "users:\n- name: u\n  user: {tokenFile: kube-token}\n");
    struct kube_conn c;
    char err[256];
    assert_int_equal(kube_conn_from_kubeconfig(&c, text, strlen(text), tmpdir, err, sizeof err), 0);
    assert_string_equal(c.token, "from-a-file");
    assert_string_equal(c.namespace_, "default");
    assert_int_equal(c.insecure, 1);
    /* inline data goes to 0600 files, removed with the connection */
    c.ca_data = strdup("PEM");
    assert_int_equal(kube_conn_write_files(&c, tmpdir, "u1", err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/u1-ca.crt", tmpdir);
    assert_string_equal(c.ca_file, path);
    assert_int_equal(access(path, R_OK), 0);
    kube_conn_free(&c);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void test_yaml_types_and_limits(void **state)
{
    (void)state;
    char err[256];
    const char *y = "a: 1\nb: true\nc: 'true'\nd: ~\ne: 1.5\nf: [x, \"2\"]\ng: 0x10\n";
    json_t *j = kube_yaml_parse(y, strlen(y), err, sizeof err);
    assert_non_null(j);
    assert_true(json_is_integer(json_object_get(j, "a")));
    assert_true(json_is_true(json_object_get(j, "b")));
    assert_string_equal(json_string_value(json_object_get(j, "c")), "true");
    assert_true(json_is_null(json_object_get(j, "d")));
    assert_true(json_is_real(json_object_get(j, "e")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "f"), 1)), "2");
    assert_string_equal(json_string_value(json_object_get(j, "g")), "0x10");
    json_decref(j);
    const char *bomb = "a: &a [x, x]\nb: [*a, *a]\n";
    assert_null(kube_yaml_parse(bomb, strlen(bomb), err, sizeof err));
    assert_non_null(strstr(err, "anchors are not supported"));
    char deep[400];
    memset(deep, '[', 100);
    deep[100] = '\0';
    assert_null(kube_yaml_parse(deep, strlen(deep), err, sizeof err));
    assert_non_null(strstr(err, "nested too deeply"));
    const char *js = "{\"kind\": \"Pod\", \"n\": [1, 2]}";
    j = kube_yaml_parse(js, strlen(js), err, sizeof err);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "Pod");
    json_decref(j);
}

static void test_pod_from_spec_and_from_image(void **state)
{
    (void)state;
    char err[256];
    char *ns = strdup("default");
    json_t *extra = json_pack("{s:s,s:s,s:s,s:s}", "Image", "", "Command", "", "Params", "", "KubePod",
                              "metadata: {name: job, namespace: awx}\n"
                              "spec:\n  restartPolicy: Always\n  containers:\n"
                              "  - {name: sidecar, image: s}\n  - {name: worker, image: ee}\n"
                              "status: {phase: Running}\n");
    json_t *pod = kube_pod_build(extra, "k-", &ns, err, sizeof err);
    assert_non_null(pod);
    assert_string_equal(ns, "awx");
    json_t *meta = json_object_get(pod, "metadata");
    assert_string_equal(json_string_value(json_object_get(meta, "generateName")), "job-");
    assert_null(json_object_get(meta, "name"));
    assert_null(json_object_get(pod, "status"));
    json_t *spec = json_object_get(pod, "spec");
    assert_string_equal(json_string_value(json_object_get(spec, "restartPolicy")), "Never");
    json_t *worker = json_array_get(json_object_get(spec, "containers"), 1);
    assert_true(json_is_true(json_object_get(worker, "stdin")));
    assert_true(json_is_true(json_object_get(worker, "stdinOnce")));
    json_decref(pod);
    json_decref(extra);

    extra = json_pack("{s:s,s:s,s:s,s:s}", "Image", "ee:1", "Command", "ansible-runner", "Params",
                      "worker --private-data-dir='/runner dir'", "KubePod", "");
    pod = kube_pod_build(extra, "kubernetes-runtime-auth-", &ns, err, sizeof err);
    assert_non_null(pod);
    worker = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    assert_string_equal(json_string_value(json_object_get(worker, "name")), "worker");
    assert_string_equal(json_string_value(json_array_get(json_object_get(worker, "args"), 1)),
                        "--private-data-dir=/runner dir");
    assert_string_equal(json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                          "generateName")),
                        "kubernetes-runtime-auth-");
    json_decref(pod);
    json_decref(extra);

    extra = json_pack("{s:s}", "KubePod", "spec: {containers: [{name: other}]}\n");
    assert_null(kube_pod_build(extra, "k-", &ns, err, sizeof err));
    assert_string_equal(err, "at least one container must be named worker");
    json_decref(extra);
    free(ns);
}

static void test_readiness(void **state)
{
    (void)state;
    int backoffs = 0;
    json_t *ready = json_loads("{\"status\":{\"phase\":\"Running\",\"conditions\":"
                               "[{\"type\":\"Ready\",\"status\":\"True\"}]}}", 0, NULL);
    assert_int_equal(kube_pod_readiness(ready, &backoffs), KUBE_POD_READY);
    json_decref(ready);
    json_t *pull = json_loads("{\"status\":{\"phase\":\"Pending\",\"conditions\":"
                              "[{\"type\":\"ContainersReady\",\"status\":\"False\"}],"
                              "\"containerStatuses\":[{\"name\":\"worker\",\"state\":{\"waiting\":"
                              "{\"reason\":\"ImagePullBackOff\"}}}]}}", 0, NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(kube_pod_readiness(pull, &backoffs), KUBE_POD_WAITING);
    assert_int_equal(kube_pod_readiness(pull, &backoffs), KUBE_POD_PULL_FAILED);
    assert_string_equal(kube_pod_waiting_reason(pull), "ImagePullBackOff");
    json_decref(pull);
    json_t *done = json_loads("{\"status\":{\"phase\":\"Succeeded\",\"containerStatuses\":"
                              "[{\"name\":\"worker\",\"state\":{\"terminated\":{\"exitCode\":0}}}]}}",
                              0, NULL);
    assert_int_equal(kube_pod_readiness(done, &backoffs), KUBE_POD_COMPLETED);
    assert_int_equal(kube_pod_exit_code(done, NULL), 0);
    json_decref(done);
    char *m = kube_status_message("{\"kind\":\"Status\",\"message\":\"pods \\\"x\\\" not found\"}", 404);
    assert_string_equal(m, "pods \"x\" not found");
    free(m);
    m = kube_status_message("<html>", 502);
    assert_string_equal(m, "the server answered HTTP 502");
    free(m);
}

/* ---- the pod log splitter ---- */

struct log_out {
    char buf[1024];
    size_t len, committed;
};

static int log_out_write(void *arg, const char *p, size_t n)
{
    struct log_out *o = arg;
    assert_true(o->len + n < sizeof o->buf);
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return 0;
}

static void log_out_commit(void *arg)
{
    struct log_out *o = arg;
    o->committed = o->len;
}

static void log_init(struct kube_log *l, struct log_out *o)
{
    memset(l, 0, sizeof *l);
    memset(o, 0, sizeof *o);
    l->write = log_out_write;
    l->commit = log_out_commit;
    l->arg = o;
    kube_log_stream_start(l);
}

static void test_log_reconnect_neither_loses_nor_doubles(void **state)
{
    (void)state;
    struct kube_log l;
    struct log_out o;
    log_init(&l, &o);
    const char *first = "2024-01-01T00:00:00.000000001Z a\n"
                        "2024-01-01T00:00:00.000000001Z b\n"
                        "2024-01-01T00:00:00.000000002Z hal"; /* cut mid-line */
    assert_int_equal(kube_log_feed(&l, first, strlen(first)), 0);
    assert_int_equal(o.committed, 4);
    assert_string_equal(l.last_ts, "2024-01-01T00:00:00.000000001Z");
    o.len = o.committed; /* the unit cuts the half line off */
    kube_log_stream_start(&l);
    /* sinceTime= repeats every line of the last timestamp */
    const char *again = "2024-01-01T00:00:00.000000001Z a\n"
                        "2024-01-01T00:00:00.000000001Z b\n"
                        "2024-01-01T00:00:00.000000002Z half\n"
                        "2024-01-01T00:00:00.000000002Z c\n";
    for (size_t i = 0; again[i]; i++) /* byte by byte: chunking must not matter */
        assert_int_equal(kube_log_feed(&l, again + i, 1), 0);
    assert_int_equal(o.len, 11);
    assert_memory_equal(o.buf, "a\nb\nhalf\nc\n", 11);
}

static void test_log_refuses_lines_without_a_timestamp(void **state)
{
    (void)state;
    const char *bad[] = { "no timestamp here\n", " empty stamp\n",
                          "2024-01-01T00:00:00Z&follow=false x\n", /* would go back as sinceTime= */
                          "2024-01-01T00:00:00.000000000000000000000000000000000000000000000000000000Z x\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kube_log l;
        struct log_out o;
        log_init(&l, &o);
        assert_int_equal(kube_log_feed(&l, bad[i], strlen(bad[i])), -1);
        assert_non_null(strstr(l.err, "without a timestamp"));
        assert_int_equal(o.len, 0);
    }
}

int main(int argc, char **argv)
{
    tmpdir = argc > 1 ? argv[1] : "/tmp";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kubeconfig_current_context),
        cmocka_unit_test(test_log_reconnect_neither_loses_nor_doubles),
        cmocka_unit_test(test_log_refuses_lines_without_a_timestamp),
        cmocka_unit_test(test_kubeconfig_errors),
        cmocka_unit_test(test_kubeconfig_token_file_and_default_namespace),
        cmocka_unit_test(test_yaml_types_and_limits),
        cmocka_unit_test(test_pod_from_spec_and_from_image),
        cmocka_unit_test(test_readiness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
