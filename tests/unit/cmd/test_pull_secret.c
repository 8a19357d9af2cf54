/* test_pull_secret.c - AWX's image pull secret (src/cmd/pull_secret.c): the
 * registry key AWX derives from a credential's host, the secret's name and
 * its .dockerconfigjson, byte for byte as AWX's json.dumps(indent=4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cmd/pull_secret.h"

static void test_registry_key_as_awx(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "registry.example.com", "registry.example.com" },
        { "Registry.Example.COM:5000/team/ee", "registry.example.com:5000" },
        { "https://quay.io", "quay.io" },
        { "https://quay.io/", "quay.io" },
        { "http://user:pw@reg.test:5000/x?y", "reg.test:5000" },
        { "localhost:5000", "localhost:5000" },
        { "127.0.0.1:5000/ee", "127.0.0.1:5000" },
        { "//reg.test", "reg.test" },
        { "https://[::1]:5000/ee", "[::1]:5000" }, /* AWX: "::1:5000" (docs/compat.md) */
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(pull_secret_registry(cases[i][0], out, sizeof out), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(pull_secret_registry("", out, sizeof out), -1);
    assert_int_equal(pull_secret_registry("https:///path", out, sizeof out), -1);
    assert_int_equal(pull_secret_registry(":5000", out, sizeof out), -1);
    assert_int_equal(pull_secret_registry(NULL, out, sizeof out), -1);
    char small[4];
    assert_int_equal(pull_secret_registry("quay.io", small, sizeof small), -1);
}

static void test_name_and_dockerconfig(void **state)
{
    (void)state;
    struct pull_secret ps = { NULL, "5f0e7c2a-aaaa", "https://reg.test:5000/ee", "puller", "pw" };
    char name[256], err[512];
    assert_int_equal(pull_secret_name(&ps, name, sizeof name, err, sizeof err), 0);
    assert_int_equal(strncmp(name, "automation-5f0e7-image-pull-secret-", 35), 0);
    assert_int_equal(strlen(name), 35 + 8);
    /* the same credential, the same name; another user, another name */
    char again[256];
    ps.host = "reg.test:5000";
    assert_int_equal(pull_secret_name(&ps, again, sizeof again, err, sizeof err), 0);
    assert_string_equal(name, again);
    ps.username = "other";
    assert_int_equal(pull_secret_name(&ps, again, sizeof again, err, sizeof err), 0);
    assert_string_not_equal(name, again);
    ps.install_id = NULL;
    assert_int_equal(pull_secret_name(&ps, again, sizeof again, err, sizeof err), 0);
    assert_int_equal(strncmp(again, "automation-ansib-image-pull-secret-", 35), 0);
    ps.install_id = "AB_CD";
    assert_int_equal(pull_secret_name(&ps, again, sizeof again, err, sizeof err), -1);
    assert_non_null(strstr(err, "--awx-install-id"));
    ps.install_id = NULL;
    ps.host = "";
    assert_int_equal(pull_secret_name(&ps, again, sizeof again, err, sizeof err), -1);
    assert_non_null(strstr(err, "names no registry"));

    /* base64 of:
     * {
     *     "auths": {
     *         "reg.test:5000": {
     *             "auth": "cHVsbGVyOnDDqSI="   (puller:pé" in UTF-8)
     *         }
     *     }
     * }                                                  */
    ps.host = "reg.test:5000/x";
    ps.username = "puller";
    ps.password = "p\xc3\xa9\"";
    char *b = pull_secret_dockerconfig(&ps, err, sizeof err);
    assert_non_null(b);
    assert_string_equal(b, "ewogICAgImF1dGhzIjogewogICAgICAgICJyZWcudGVzdDo1MDAwIjogewogICAgICAg"
                           "ICAgICAiYXV0aCI6ICJjSFZzYkdWeU9uRERxU0k9IgogICAgICAgIH0KICAgIH0KfQ==");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_key_as_awx),
        cmocka_unit_test(test_name_and_dockerconfig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
