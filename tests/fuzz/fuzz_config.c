/*
 * fuzz_config.c - gliad.yaml (config_load takes a path: through a file).
 */
#include "daemon/config.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config cfg;
    glia_err err = {0};
    if (config_load(fuzz_write_file("gliad.yaml", data, size), &cfg, &err) == GLIA_OK)
        config_free(&cfg);
    return 0;
}
