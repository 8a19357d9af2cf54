/* fuzz_config.c - libFuzzer target for the YAML configuration reader.
 *
 * Each input is parsed as a configuration file; when it parses, it is also
 * finalised (defaults, checks) and every item is rendered canonically, so
 * the whole path a hostile --config file can reach is exercised.  Memory
 * errors and leaks are found by the sanitizers this target is built with.
 *
 *   CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
 *   ninja -C build-fuzz tests/fuzz/config/fuzz_config
 *   mkdir -p corpus && build-fuzz/tests/fuzz/config/fuzz_config corpus \
 *       tests/vectors/receptor/configs/2node -max_len=4096 -max_total_time=60 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg = { 0 };
    char err[512];
    if (config_load_buffer(&cfg, "fuzz.yml", (const char *)data, size, err, sizeof err) == 0 &&
        config_finalise(&cfg, err, sizeof err) == 0) {
        for (size_t i = 0; i < cfg.n; i++)
            free(config_item_canonical(&cfg.items[i]));
    }
    config_free(&cfg);
    return 0;
}
