/*
 * tokenizer.c - see tokenizer.h: the two kinds behind one interface, each a thin layer over
 * its core/text module.
 */
#include "core/model/tokenizer.h"
#include "core/text/detok.h"

#include <stdlib.h>
#include <string.h>

struct glia_tokenizer {
    glia_tokenizer_kind kind;
    glia_vocab *words;
    glia_bpe *subwords;
};

glia_status glia_tokenizer_load(glia_tokenizer_kind kind, const char *path, glia_tokenizer **out,
                                glia_err *err)
{
    glia_status rc;
    *out = NULL;
    glia_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a tokenizer");
    t->kind = kind;
    if (kind == GLIA_TOKENIZER_WORDS)
        rc = glia_vocab_load(path, &t->words, err);
    else if (kind == GLIA_TOKENIZER_SUBWORDS)
        rc = glia_bpe_load(path, &t->subwords, err);
    else
        rc = glia_err_set(err, GLIA_EINVAL, "%s: no tokenizer kind to read it as", path);
    if (rc != GLIA_OK) {
        glia_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return GLIA_OK;
}

void glia_tokenizer_free(glia_tokenizer *t)
{
    if (t) {
        glia_vocab_free(t->words);
        glia_bpe_free(t->subwords);
        free(t);
    }
}

glia_tokenizer_kind glia_tokenizer_kind_of(const glia_tokenizer *t)
{
    return t->kind;
}

glia_status glia_tokenizer_set_negscope(glia_tokenizer *t, const glia_negscope_cfg *neg, glia_err *err)
{
    if (!t->words)
        return neg && neg->enabled
                   ? glia_err_set(err, GLIA_EINVAL, "negation scopes need a word vocabulary, not subwords")
                   : GLIA_OK;
    glia_vocab_set_negscope(t->words, neg);
    return GLIA_OK;
}

int glia_tokenizer_size(const glia_tokenizer *t)
{
    return (int)(t->words ? glia_vocab_size(t->words) : glia_bpe_size(t->subwords));
}

static glia_status encode_words(const glia_vocab *v, const char *text, size_t len, int max, int32_t *ids,
                                int *n, int *total, glia_err *err)
{
    size_t got = 0, all = 0;
    glia_status rc = glia_vocab_encode(v, text, len, (size_t)max, ids, &got, &all, err);
    if (rc != GLIA_OK)
        return rc;
    if (got == 0)
        return glia_err_set(err, GLIA_EINVAL, "has no words");
    *n = (int)got;
    *total = (int)all;
    return GLIA_OK;
}

/* The pieces, then </s>; a cut text keeps its first max - 1 pieces and still ends in </s>. */
static glia_status encode_subwords(const glia_bpe *b, const char *text, size_t len, int max, int32_t *ids,
                                   int *n, int *total, glia_err *err)
{
    glia_bpe_ids all = {0};
    glia_status rc = glia_bpe_encode(b, text, len, GLIA_BPE_ADD_EOS, &all, err);
    if (rc == GLIA_OK && all.n <= 1)
        rc = glia_err_set(err, GLIA_EINVAL, "has no words");
    if (rc == GLIA_OK) {
        const int keep = all.n > (size_t)max ? max : (int)all.n;
        memcpy(ids, all.ids, sizeof(int32_t) * (size_t)keep);
        ids[keep - 1] = GLIA_BPE_EOS;
        *n = keep;
        *total = (int)all.n;
    }
    glia_bpe_ids_free(&all);
    return rc;
}

glia_status glia_tokenizer_encode(const glia_tokenizer *t, const char *text, size_t len, int max,
                                  int32_t *ids, int *n, int *total, glia_err *err)
{
    int all = 0;
    *n = 0;
    if (max < 1)
        return glia_err_set(err, GLIA_EINVAL, "room for %d tokens", max);
    memset(ids, 0, sizeof(int32_t) * (size_t)max);
    glia_status rc = t->words ? encode_words(t->words, text, len, max, ids, n, &all, err)
                              : encode_subwords(t->subwords, text, len, max, ids, n, &all, err);
    if (rc != GLIA_OK) {
        memset(ids, 0, sizeof(int32_t) * (size_t)max);
        *n = 0;
    }
    if (total)
        *total = all;
    return rc;
}

/* Words joined by one space; padding gives nothing. */
static glia_status decode_words(const glia_vocab *v, const int32_t *ids, int n, char **text, size_t *len,
                                glia_err *err)
{
    size_t bytes = 1;
    for (int i = 0; i < n; i++) {
        const char *w = glia_vocab_token(v, ids[i]);
        if (!w)
            return glia_err_set(err, GLIA_EINVAL, "id %d at position %d is outside the vocabulary", ids[i],
                                i);
        bytes += strlen(w) + 1;
    }
    char *out = malloc(bytes), *at = out;
    if (!out)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory decoding %d ids", n);
    for (int i = 0; i < n; i++) {
        if (ids[i] == GLIA_VOCAB_PAD)
            continue;
        const char *w = glia_vocab_token(v, ids[i]);
        if (at != out)
            *at++ = ' ';
        memcpy(at, w, strlen(w));
        at += strlen(w);
    }
    *at = '\0';
    *text = out;
    if (len)
        *len = (size_t)(at - out);
    return GLIA_OK;
}

glia_status glia_tokenizer_decode(const glia_tokenizer *t, const int32_t *ids, int n, char **text,
                                  size_t *len, glia_err *err)
{
    *text = NULL;
    if (n < 0)
        return glia_err_set(err, GLIA_EINVAL, "%d ids to decode", n);
    return t->words ? decode_words(t->words, ids, n, text, len, err)
                    : glia_bpe_decode(t->subwords, ids, (size_t)n, text, len, err);
}

glia_status glia_tokenizer_decode_translation(const glia_tokenizer *t, const int32_t *src, int src_n,
                                              const int32_t *ids, int n, char **text, size_t *len,
                                              glia_err *err)
{
    char *source = NULL;
    size_t source_len = 0, l = 0;
    glia_status rc = glia_tokenizer_decode(t, ids, n, text, &l, err);
    if (rc == GLIA_OK && src)
        rc = glia_tokenizer_decode(t, src, src_n, &source, &source_len, err);
    if (rc == GLIA_OK)
        l = glia_detok_tidy(source, source_len, *text, l);
    else {
        free(*text);
        *text = NULL;
    }
    if (len)
        *len = l;
    free(source);
    return rc;
}

const glia_vocab *glia_tokenizer_words(const glia_tokenizer *t)
{
    return t->words;
}

const glia_bpe *glia_tokenizer_subwords(const glia_tokenizer *t)
{
    return t->subwords;
}
