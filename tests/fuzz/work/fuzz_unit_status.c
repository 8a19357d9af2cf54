/* fuzz_unit_status.c - libFuzzer target for the unit status-file decoder
 * (src/work/unit_status.c): a status file on disk is hostile input (another
 * process, a crash, a hand edit).
 *
 * Each input is decoded; what decodes is encoded again, decoded again, and
 * must come back the same (state, detail, size, work type; ExtraData's text
 * stable from the second writing on), and its control-service reply is
 * built as `work status` would.  Memory
 * errors, leaks and undefined behaviour are the sanitizers'.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
 *   ninja -C build-fuzz tests/fuzz/work/fuzz_unit_status
 *   build-fuzz/tests/fuzz/work/fuzz_unit_status corpus -max_total_time=300 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "work/unit_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct unit_status st, back;
    char err[256];
    if (unit_status_decode((const char *)data, size, &st, err, sizeof err) < 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return 0;
    }
    char *text = unit_status_encode(&st);
    if (text) {
        if (unit_status_decode(text, strlen(text), &back, err, sizeof err) < 0)
            abort(); /* what we write, we read */
        if (back.state != st.state || back.stdout_size != st.stdout_size ||
            strcmp(back.detail, st.detail) != 0 || strcmp(back.work_type, st.work_type) != 0)
            abort();
        /* ExtraData's numbers may change form once (-0.0 is written "-0",
         * read back as the integer 0); after that the text is stable */
        char *text2 = unit_status_encode(&back);
        struct unit_status third;
        if (!text2 || unit_status_decode(text2, strlen(text2), &third, err, sizeof err) < 0)
            abort();
        char *text3 = unit_status_encode(&third);
        if (!text3 || strcmp(text2, text3) != 0)
            abort();
        unit_status_free(&third);
        unit_status_free(&back);
        free(text3);
        free(text2);
        free(text);
    }
    json_decref(unit_status_reply(&st));
    char name[32];
    unit_state_name(st.state, name, sizeof name);
    unit_status_free(&st);
    return 0;
}
