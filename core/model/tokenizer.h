/*
 * tokenizer.h - the one tokenizer interface of a model bundle: text in, token ids out, and
 * back. A family names the kind it reads (glia_model_ops.tokenizer); the bundle loads the
 * file its manifest names, and the codecs, the CLI and the trainer encode and decode through
 * this interface without knowing which kind is behind it.
 *
 *   words     core/text/vocab.h: one id per lower-cased word, <unk> for the rest
 *   subwords  core/text/bpe.h: joint BPE pieces, the ids ending in </s>
 *
 * Both refuse invalid UTF-8 the same way (GLIA_EFORMAT naming the byte offset) and a text
 * without a token the same way (GLIA_EINVAL "has no words"); both cut a text that has more
 * tokens than the caller's room and say so, so that the caller chooses between truncating
 * (a classifier, as it was trained) and refusing (a translation of half a sentence is worse
 * than an error).
 *
 * A tokenizer is immutable once loaded: any number of threads may use it at once. It never
 * prints, exits or hands out an id outside [0, size).
 */
#ifndef GLIA_MODEL_TOKENIZER_H
#define GLIA_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/text/bpe.h"
#include "core/text/vocab.h"

/* Which tokenizer a bundle must load beside the weights. */
typedef enum {
    GLIA_TOKENIZER_NONE,
    GLIA_TOKENIZER_WORDS,    /* core/text/vocab.h: one id per word */
    GLIA_TOKENIZER_SUBWORDS, /* core/text/bpe.h: joint BPE, ids end in </s> */
} glia_tokenizer_kind;

typedef struct glia_tokenizer glia_tokenizer;

/* Reads the tokenizer file of kind at path (not GLIA_TOKENIZER_NONE); errors name the file
 * and line. *out is the caller's (glia_tokenizer_free). */
glia_status glia_tokenizer_load(glia_tokenizer_kind kind, const char *path, glia_tokenizer **out,
                                glia_err *err);
void glia_tokenizer_free(glia_tokenizer *t); /* NULL-safe */

glia_tokenizer_kind glia_tokenizer_kind_of(const glia_tokenizer *t);
/* Words: read texts with negation scopes marked as neg says (core/text/negscope.h), once,
 * right after loading; the manifest's input.negation_scope. Subwords: GLIA_EINVAL. */
glia_status glia_tokenizer_set_negscope(glia_tokenizer *t, const glia_negscope_cfg *neg, glia_err *err);
/* Number of ids, specials included: the vocabulary a model over t embeds. */
int glia_tokenizer_size(const glia_tokenizer *t);

/* The ids of text[0..len) into ids[0..*n), at most max (>= 1) of them; *n >= 1 on success.
 * *total (may be NULL) gets the number of ids the whole text has: more than *n when the text
 * was cut (words: the tail is dropped; subwords: the tail is dropped and the last id is still
 * </s>). ids[*n..max) are padding (0). Invalid UTF-8 is GLIA_EFORMAT "invalid UTF-8 at byte
 * N", a text without a token GLIA_EINVAL "has no words". */
glia_status glia_tokenizer_encode(const glia_tokenizer *t, const char *text, size_t len, int max,
                                  int32_t *ids, int *n, int *total, glia_err *err);

/* The text of ids[0..n): words joined by one space, or the subwords' text (bpe.h); specials
 * give nothing. A new NUL-terminated string in *text (the caller frees it), its length in
 * *len (may be NULL). An id outside [0, size) is GLIA_EINVAL naming its position. */
glia_status glia_tokenizer_decode(const glia_tokenizer *t, const int32_t *ids, int n, char **text,
                                  size_t *len, glia_err *err);
/* A translation's text: glia_tokenizer_decode of ids[0..n), its spacing tidied against the
 * source src[0..src_n) (core/text/detok.h; the source's text is decoded from its ids, so it
 * has collapsed white space; src NULL: every rule applies). */
glia_status glia_tokenizer_decode_translation(const glia_tokenizer *t, const int32_t *src, int src_n,
                                              const int32_t *ids, int n, char **text, size_t *len,
                                              glia_err *err);

/* The concrete tokenizer behind t (borrowed), or NULL when t is of the other kind: for code
 * that builds data sets or lexicon tables with it. */
const glia_vocab *glia_tokenizer_words(const glia_tokenizer *t);
const glia_bpe *glia_tokenizer_subwords(const glia_tokenizer *t);

#endif
