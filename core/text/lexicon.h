/*
 * lexicon.h - per-token features from sentiment word lists, for a text model's frozen
 * lexicon table (textnet.h): one column per list, row i = the score of vocabulary token
 * i times the list's scale, 0 for a token the list does not hold.
 *
 * Lists are data files, read once when a model is trained (the table then lives in the
 * model's weights, so serving never needs them):
 *   json  an object token -> number (AFINN-165 as npm's `sentiment` ships it in
 *         languages/en/labels.json, or its negators.json with 1 per word)
 *   tsv   lines "token<TAB>number[<TAB>...]" (VADER's vader_lexicon.txt)
 * Only single-token entries can match a vocabulary token; entries with spaces
 * ("can't stand") are skipped and counted. When the vocabulary marks negation scopes
 * (negscope.h), a marked token's score is the word's negated.
 */
#ifndef GLIA_TEXT_LEXICON_H
#define GLIA_TEXT_LEXICON_H

#include <stddef.h>

#include "core/base/err.h"
#include "core/text/vocab.h"

typedef enum { GLIA_LEXICON_JSON, GLIA_LEXICON_TSV } glia_lexicon_format;

typedef struct {
    char path[4096];
    glia_lexicon_format format;
    float scale; /* multiplies every score (AFINN /5, VADER /4 bring both to [-1, 1]) */
} glia_lexicon_source;

/* "json" / "tsv"; GLIA_ENOTFOUND otherwise. */
glia_status glia_lexicon_format_parse(const char *name, glia_lexicon_format *out, glia_err *err);

/* Fills table [glia_vocab_size(v), n] from sources[0..n). *matched (may be NULL) receives,
 * per source, how many vocabulary tokens it scored. Errors name the file (and line for
 * tsv). */
glia_status glia_lexicon_table(const glia_lexicon_source *sources, int n, const glia_vocab *v, float *table,
                               size_t *matched, glia_err *err);

/* Appends to v every single-token word of the lists that v lacks (and, when v marks negation
 * scopes, its marked form), in file order: test texts hold sentiment words the train split
 * never has, and as <unk> they would lose their scores. *added (may be NULL) counts them. */
glia_status glia_lexicon_extend_vocab(const glia_lexicon_source *sources, int n, glia_vocab *v, size_t *added,
                                      glia_err *err);

#endif
