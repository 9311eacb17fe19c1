/*
 * vocab.h - the word vocabulary of a text classifier: token <-> id for its embedding.
 *
 * Built from the training texts (split by tokenize.h) with a minimum count, or loaded from the
 * file stored beside the weights. Ids are dense: 0 is "<pad>", 1 is "<unk>" (every token not in
 * the vocabulary), then the tokens by descending count, ties in byte-wise (= code point) order,
 * so the same texts always give the same ids. The file is readable text: one token per line,
 * UTF-8, '\n' line ends, line k+1 holds id k. Loading is strict, because a vocabulary that
 * loads "almost right" shifts every id after the mistake and the model silently reads other
 * words: an empty line, a duplicate, invalid UTF-8, a carriage return, white space inside a
 * token, an upper-case letter (the tokenizer lower-cases, so it could never match) or a missing
 * "<pad>"/"<unk>" on lines 1/2 are errors of the form "path:line: what is wrong".
 *
 * Never: print, exit, or hand out an id outside [0, size).
 */
#ifndef GLIA_TEXT_VOCAB_H
#define GLIA_TEXT_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/text/negscope.h"

typedef struct glia_vocab glia_vocab; /* opaque, immutable once built or loaded */

enum {
    GLIA_VOCAB_PAD = 0, /* fills encoded rows after the text's tokens */
    GLIA_VOCAB_UNK = 1, /* any token the vocabulary does not hold */
};
#define GLIA_VOCAB_PAD_TOKEN "<pad>"
#define GLIA_VOCAB_UNK_TOKEN "<unk>"

/* Files larger than this are refused before they are read. */
#define GLIA_VOCAB_MAX_FILE_BYTES ((size_t)64 << 20)

/* Counts the tokens of texts[0..n) (NUL-terminated UTF-8) and keeps those seen at least min_count
 * (>= 1) times; max_size > 0 caps the whole vocabulary, "<pad>" and "<unk>" included (so it must
 * be >= 2), dropping the rarest tokens (the last in id order). A text that is not valid UTF-8 is
 * GLIA_EFORMAT naming its index and byte offset. *out is the caller's (glia_vocab_free); NULL on
 * failure. */
glia_status glia_vocab_build(const char *const *texts, size_t n, size_t min_count, size_t max_size,
                             glia_vocab **out, glia_err *err);

/* glia_vocab_build reading every text with negation scopes marked as neg says (negscope.h;
 * NULL or !neg->enabled: plain); the vocabulary keeps neg and encodes texts the same way. */
glia_status glia_vocab_build_scoped(const char *const *texts, size_t n, size_t min_count, size_t max_size,
                                    const glia_negscope_cfg *neg, glia_vocab **out, glia_err *err);

/* Sets how v reads texts (NULL: plain). A model's manifest says it (input.negation_scope) and the
 * bundle sets it once, right after loading and before v is shared: a vocabulary file alone does
 * not say whether its texts were marked. */
void glia_vocab_set_negscope(glia_vocab *v, const glia_negscope_cfg *neg);
glia_negscope_cfg glia_vocab_negscope(const glia_vocab *v);

/* Appends token as the next id unless v holds it already (*added false then); for a trainer
 * that adds words its texts lack (a lexicon's) before v is shared. The token must pass
 * glia_tok_check_token. */
glia_status glia_vocab_append(glia_vocab *v, const char *token, bool *added, glia_err *err);

/* Reads a vocabulary file (see above); errors name the file and the line. */
glia_status glia_vocab_load(const char *path, glia_vocab **out, glia_err *err);

/* Writes v to path atomically (path.tmp.XXXXXX in the same directory, fsync, rename). */
glia_status glia_vocab_save(const glia_vocab *v, const char *path, glia_err *err);

void glia_vocab_free(glia_vocab *v);

/* Number of ids, "<pad>" and "<unk>" included. */
size_t glia_vocab_size(const glia_vocab *v);

/* The token of id (borrowed, valid until glia_vocab_free), or NULL when id is out of range. */
const char *glia_vocab_token(const glia_vocab *v, int32_t id);

/* The id of a token (one hash lookup), GLIA_VOCAB_UNK when the vocabulary does not hold it. */
int32_t glia_vocab_id(const glia_vocab *v, const char *token);

/* Tokenizes text[0..len) and writes the ids of its first max_len tokens to ids[0..max_len):
 * longer texts are truncated at the end (the tail is dropped), shorter ones padded with
 * GLIA_VOCAB_PAD. *n_ids gets the number of real ids written (min(tokens, max_len): the length
 * to give a packed RNN), *n_tokens (may be NULL) the token count before truncation, so a caller
 * can tell that truncation happened. On failure (invalid UTF-8: GLIA_EFORMAT with the byte
 * offset) ids is all padding and *n_ids is 0. */
glia_status glia_vocab_encode(const glia_vocab *v, const char *text, size_t len, size_t max_len, int32_t *ids,
                              size_t *n_ids, size_t *n_tokens, glia_err *err);

#endif
