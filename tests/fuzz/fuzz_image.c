/*
 * fuzz_image.c - PNG, JPEG and PGM (P5, P2) decoding, chosen by magic bytes as for a raw predict
 * body, then the resize and 8-bit encoders a decoded image goes through.
 */
#include <stdlib.h>

#include "core/image/image.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    glia_image img = {0}, small = {0};
    glia_err err = {0};
    if (glia_image_decode(data, size, &img, &err) == GLIA_OK) {
        /* what a 28x28 model does with it */
        if (glia_image_resize(&img, 28, 28, &small, &err) == GLIA_OK) {
            unsigned char *buf = NULL;
            size_t len = 0;
            if (glia_image_encode_pgm(&small, &buf, &len, &err) == GLIA_OK)
                free(buf);
        }
    }
    glia_image_free(&small);
    glia_image_free(&img);
    return 0;
}
