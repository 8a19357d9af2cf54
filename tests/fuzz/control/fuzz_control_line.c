/* fuzz_control_line.c - libFuzzer target for the control protocol's parser
 * (src/control/parse.c): what a client's bytes go through before any
 * command runs.
 *
 * The input's first byte picks the framing limit (small, so that over-long
 * lines and discarding are reached) and the read sizes; the rest is fed in
 * those pieces, as reads from a socket, and every line that comes out is
 * parsed as a command (plain or JSON).  `work` lines go on to the work
 * argument parser and the start-position parsers.  Checks: the buffer stays
 * within its bound, lines never exceed the limit, plain parses are
 * consistent; memory errors, leaks and undefined behaviour are the
 * sanitizers'.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/control/fuzz_control_line
 *   build-fuzz/tests/fuzz/control/fuzz_control_line corpus -max_total_time=300 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_work(const char *params, json_t *cmd)
{
    struct work_args a;
    char err[300];
    if (work_args_parse(params, cmd, &a, err, sizeof err) < 0)
        return;
    int64_t pos;
    if (cmd) {
        if (work_startpos_json(json_object_get(cmd, "startpos"), &pos, err, sizeof err) == 0 && pos < 0)
            abort();
    } else {
        int n = a.nwords < WORK_MAX_WORDS ? a.nwords : WORK_MAX_WORDS;
        for (int i = 0; i < n; i++)
            if (work_startpos_word(a.words[i], &pos, err, sizeof err) == 0 && pos < 0)
                abort();
        if (a.nwords > 2 && (!a.rest_from2 || strlen(a.rest_from2) < strlen(a.words[2])))
            abort();
    }
    work_args_free(&a);
}

static void run_line(char *line, size_t len)
{
    struct control_parsed p;
    control_parse_line(line, len, &p);
    if (p.name && strcmp(p.name, "work") == 0)
        check_work(p.cmd ? NULL : p.params, p.cmd);
    if (!p.cmd && line[0] != '{' && !p.name)
        abort(); /* a plain line always names a command (maybe unknown) */
    json_decref(p.cmd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_line = 1 + (data[0] & 0x3f);         /* 1..64 bytes */
    size_t piece = 1 + (data[0] >> 6) * 7;          /* reads of 1, 8, 15, 22 bytes */
    data++;
    size--;
    struct control_lines l;
    control_lines_init(&l, max_line, max_line + 1 + piece);
    for (size_t off = 0; off < size;) {
        size_t n = size - off < piece ? size - off : piece;
        if (control_lines_feed(&l, data + off, n) < 0)
            abort(); /* one read after every line was taken must always fit */
        off += n;
        for (;;) {
            char *line;
            ssize_t len = control_lines_next(&l, &line);
            if (len == CONTROL_LINE_TOO_LONG)
                continue;
            if (len < 0)
                break;
            if ((size_t)len > max_line || strlen(line) > (size_t)len)
                abort();
            if (len > 0)
                run_line(line, (size_t)len);
            free(line);
        }
        if (buf_size(&l.in) > max_line)
            abort(); /* at most one partial line stays */
    }
    control_lines_eof(&l);
    char *line;
    if (control_lines_next(&l, &line) >= 0)
        abort(); /* a partial line is never a line */
    control_lines_free(&l);
    return 0;
}
