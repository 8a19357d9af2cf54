/* test_unit_status.c - unit tests of the status file (src/work/unit_status.c):
 * a write that runs out of room (a full disk, here a file-size limit, which
 * fails writes the same way) leaves the previous status whole, never half
 * of the new one; and the decoder's answers on hostile files. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "work/unit_status.h"

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = calloc(1, 1 << 16);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/test_unit_status.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/status", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/status.lock", dir);
    unlink(path);
    rmdir(dir);
}

/* Runs in a child: the file-size limit must not outlive the test. */
static void test_growth_that_does_not_fit_leaves_the_old_status(void **state)
{
    (void)state;
    char dir[64], path[128], err[256];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/status", dir);
    struct unit_status st;
    unit_status_init(&st, "echo");
    assert_int_equal(unit_status_save(dir, &st, err, sizeof err), 0);
    char *before = read_all(path);
    assert_non_null(before);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 4096, 4096 }; /* the file may not grow past 4 KiB */
        setrlimit(RLIMIT_FSIZE, &rl);
        char big[6000];
        memset(big, 'd', sizeof big - 1);
        big[sizeof big - 1] = 0;
        free(st.detail);
        st.detail = strdup(big);
        int rc = unit_status_save(dir, &st, err, sizeof err);
        _exit(rc < 0 && strstr(err, "File too large") ? 0 : 1);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    char *after = read_all(path);
    assert_string_equal(after, before);
    struct unit_status back;
    assert_int_equal(unit_status_load(dir, &back, err, sizeof err), 0);
    assert_string_equal(back.detail, "Unit Created");
    unit_status_free(&back);
    unit_status_free(&st);
    free(before);
    free(after);
    remove_dir(dir);
}

static void test_decode_hostile(void **state)
{
    (void)state;
    static const char *bad[] = {
        "", "{", "[]", "null", "{\"State\":\"x\"}", "{\"StdoutSize\":1e300}",
        "{\"Detail\":5}", "{\"ExtraData\":[1]}", "{\"WorkType\":{}}",
        /* a state past int would wrap (4294967298 to 2, Succeeded) */
        "{\"State\":4294967298}", "{\"State\":1.5}", "{\"StdoutSize\":1e19,\"X\":1e30}",
    };
    char err[256];
    struct unit_status st;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(unit_status_decode(bad[i], strlen(bad[i]), &st, err, sizeof err), -1);
        assert_true(strncmp(err, "status file ", 12) == 0);
    }
    const char *ok = "{\"State\":7,\"Detail\":\"d\",\"StdoutSize\":-5,\"WorkType\":\"w\","
                     "\"ExtraData\":null}\n";
    assert_int_equal(unit_status_decode(ok, strlen(ok), &st, err, sizeof err), 0);
    assert_int_equal(st.state, 7);
    unit_status_free(&st);
}

/* Found by fuzz_unit_status: a real of 2^63 or more in ExtraData is
 * written as plain digits (as Go writes it), which jansson refused to read
 * back as an integer too big: the unit's next read found its own status
 * "corrupt".  Go reads such numbers (and integers past int64) as reals. */
static void test_big_numbers_in_extra_data_read_back(void **state)
{
    (void)state;
    const char *in = "{\"State\":1,\"StdoutSize\":12,\"ExtraData\":{\"F\":2e20,\"N\":18446744073709551616}}";
    char err[256];
    struct unit_status st, back;
    assert_int_equal(unit_status_decode(in, strlen(in), &st, err, sizeof err), 0);
    char *text = unit_status_encode(&st);
    assert_non_null(text);
    assert_int_equal(unit_status_decode(text, strlen(text), &back, err, sizeof err), 0);
    assert_int_equal(back.state, 1);
    assert_int_equal(back.stdout_size, 12);
    assert_true(json_real_value(json_object_get(back.extra, "F")) == 2e20);
    unit_status_free(&st);
    unit_status_free(&back);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_that_does_not_fit_leaves_the_old_status),
        cmocka_unit_test(test_decode_hostile),
        cmocka_unit_test(test_big_numbers_in_extra_data_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
