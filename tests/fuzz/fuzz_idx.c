/*
 * fuzz_idx.c - IDX files (Fashion-MNIST's format, plain or gzip), through a file: the reader
 * takes a path, as an uploaded idx-images/idx-labels data set is read.
 */
#include "core/formats/idx.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glia_idx idx = {0};
    glia_err err = {0};
    glia_idx_load(fuzz_write_file("data.idx", data, size), &idx, &err);
    glia_idx_free(&idx);
    return 0;
}
