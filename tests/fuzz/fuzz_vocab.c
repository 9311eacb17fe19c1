/*
 * fuzz_vocab.c - tokenizer files, loaded through the one tokenizer interface a bundle uses:
 * the first byte chooses a word vocabulary (vocab.txt) or a BPE file (tokenizer.bpe). A
 * file that loads then encodes a sentence and decodes every id it has.
 */
#include <stdlib.h>

#include "core/model/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char text[] = "The printer isn't ready: 3 pages (¿qué?) are waiting.";
    glia_tokenizer *t = NULL;
    glia_err err = {0};
    if (size < 1)
        return 0;
    glia_tokenizer_kind kind = data[0] & 1 ? GLIA_TOKENIZER_SUBWORDS : GLIA_TOKENIZER_WORDS;
    if (glia_tokenizer_load(kind, fuzz_write_file("tokenizer", data + 1, size - 1), &t, &err) != GLIA_OK)
        return 0;
    int32_t ids[64];
    int n = 0, total = 0;
    char *back = NULL;
    if (glia_tokenizer_encode(t, text, sizeof text - 1, 64, ids, &n, &total, &err) == GLIA_OK &&
        glia_tokenizer_decode(t, ids, n, &back, NULL, &err) == GLIA_OK)
        free(back);
    int size_ids = glia_tokenizer_size(t);
    for (int32_t id = 0; id < size_ids; id += 64) {
        int k = 0;
        for (; k < 64 && id + k < size_ids; k++)
            ids[k] = id + k;
        back = NULL;
        if (glia_tokenizer_decode(t, ids, k, &back, NULL, &err) == GLIA_OK)
            free(back);
    }
    glia_tokenizer_free(t);
    return 0;
}
