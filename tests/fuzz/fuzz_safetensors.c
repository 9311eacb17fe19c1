/*
 * fuzz_safetensors.c - a weights file from memory: the header is validated, then every
 * tensor is read as float32 the way a model load reads it (glia_st_read_f32 of the float
 * dtypes; the integer ones must be refused, not read).
 */
#include <stdlib.h>

#include "core/formats/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glia_st_file *f = NULL;
    glia_err err = {0};
    if (glia_st_open_buffer(data, size, &f, &err) != GLIA_OK)
        return 0;
    for (size_t i = 0; i < glia_st_count(f); i++) {
        const glia_st_tensor *t = glia_st_at(f, i);
        if (glia_st_find(f, t->name) != t)
            abort(); /* names are unique and searchable */
        size_t n = glia_st_numel(t);
        float *dst = malloc((n ? n : 1) * sizeof *dst);
        if (dst)
            glia_st_read_f32(t, dst, n, &err);
        free(dst);
    }
    for (size_t i = 0; i < glia_st_metadata_count(f); i++)
        glia_st_metadata(f, glia_st_metadata_key(f, i));
    glia_st_close(f);
    return 0;
}
