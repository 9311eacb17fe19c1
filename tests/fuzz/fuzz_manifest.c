/*
 * fuzz_manifest.c - a bundle's model.yaml, every family's sections included. The manifest is
 * written beside a labels.txt, a vocab.txt and a tokenizer.bpe so that references to them
 * resolve (the labels are read with the manifest).
 */
#include "core/model/manifest.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        static const char labels[] = "a\nb\nc\n";
        fuzz_write_file("labels.txt", (const uint8_t *)labels, sizeof labels - 1);
        ready = 1;
    }
    glia_manifest m;
    glia_err err = {0};
    if (glia_manifest_load(fuzz_write_file("model.yaml", data, size), &m, &err) == GLIA_OK)
        glia_manifest_free(&m);
    return 0;
}
