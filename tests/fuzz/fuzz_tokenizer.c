/*
 * fuzz_tokenizer.c - texts through the shipped tokenizers, as a predict request's strings
 * go: the word tokenizer and sentiment-lstm's vocabulary, BPE encoding with
 * translate-en-es's tokenizer.bpe, and BPE decoding of arbitrary ids (a model can emit any).
 * The first byte chooses.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/model/tokenizer.h"
#include "core/text/bpe.h"
#include "core/text/tokenize.h"
#include "tests/fuzz/fuzz_support.h"

static glia_tokenizer *shipped(glia_tokenizer_kind kind, const char *file)
{
    glia_tokenizer *t = NULL;
    glia_err err = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", GLIA_SOURCE_ROOT, file);
    if (glia_tokenizer_load(kind, path, &t, &err) != GLIA_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static glia_tokenizer *words, *subwords;
    if (!words) {
        words = shipped(GLIA_TOKENIZER_WORDS, "sentiment-lstm/vocab.txt");
        subwords = shipped(GLIA_TOKENIZER_SUBWORDS, "translate-en-es/tokenizer.bpe");
    }
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    glia_err err = {0};
    int32_t ids[256];
    int n = 0, total = 0;
    char *back = NULL;
    switch (data[0] % 4) {
    case 0: {
        glia_tok_list list = {0};
        glia_tok_split(text, len, &list, &err);
        glia_tok_list_free(&list);
        glia_tok_check_token(text, len, &err);
        break;
    }
    case 1: glia_tokenizer_encode(words, text, len, 256, ids, &n, &total, &err); break;
    case 2:
        if (glia_tokenizer_encode(subwords, text, len, 256, ids, &n, &total, &err) == GLIA_OK &&
            glia_tokenizer_decode(subwords, ids, n, &back, NULL, &err) == GLIA_OK)
            free(back);
        break;
    default: {
        /* ids as little-endian 16-bit numbers, some past the vocabulary */
        n = (int)(len / 2 < 256 ? len / 2 : 256);
        for (int i = 0; i < n; i++)
            ids[i] = (int32_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8);
        if (glia_tokenizer_decode(subwords, ids, n, &back, NULL, &err) == GLIA_OK)
            free(back);
        break;
    }
    }
    return 0;
}
