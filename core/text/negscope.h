/*
 * negscope.h - negation scope marking for word tokens: after a negator, the words up to the
 * next clause boundary are read as other words ("not bad" -> "not", "not_bad"), so that an
 * embedding and a lexicon table can give "bad" under negation a vector and a score of its
 * own instead of the one that makes "not bad at all" negative.
 *
 * The rules (fixed, so that a manifest that says negation_scope names exactly them):
 *  - a negator opens a scope: not (which every n't becomes, tokenize.h), no, never, nothing,
 *    none, nobody, neither, nor, nowhere, without, hardly, barely, cannot; the negator itself
 *    is not marked, and a negator inside a scope starts it again;
 *  - the scope holds the following tokens until a clause boundary: a punctuation token
 *    (. , ; : ! ? ... ( ) [ ] " - / and the dashes U+2013/U+2014) or a contrast or
 *    coordinating word (but, however, although, though, yet, whereas, while, except, and,
 *    or, because); the boundary itself is not marked and closes the scope;
 *  - max_words > 0 also closes it after that many marked tokens (0: only boundaries do);
 *  - a marked token is GLIA_NEGSCOPE_PREFIX + the token. The tokenizer splits '_' off, so no
 *    text can produce a marked token without the rule.
 *
 * A scope state is a few ints on the caller's stack, fed one token at a time; nothing
 * allocates.
 */
#ifndef GLIA_TEXT_NEGSCOPE_H
#define GLIA_TEXT_NEGSCOPE_H

#include <stdbool.h>
#include <stddef.h>

#define GLIA_NEGSCOPE_PREFIX "not_"
enum { GLIA_NEGSCOPE_PREFIX_LEN = 4 };

/* How a vocabulary marks scopes; enabled false = no marking at all. */
typedef struct {
    bool enabled;
    int max_words; /* >= 0; 0 = up to the next boundary */
} glia_negscope_cfg;

typedef struct {
    glia_negscope_cfg cfg;
    int left; /* tokens the open scope may still mark; -1 = until a boundary, 0 = no scope */
} glia_negscope;

void glia_negscope_init(glia_negscope *s, const glia_negscope_cfg *cfg);

/* Feeds the next token of a text (lower-cased, as tokenize.h gives it) and tells whether it
 * lies in a negation scope and is to be read marked. Always false when cfg.enabled is. */
bool glia_negscope_next(glia_negscope *s, const char *token, size_t len);

/* Writes GLIA_NEGSCOPE_PREFIX + token[0..len) and a NUL into out[0..cap); false (out
 * untouched) when it does not fit. */
bool glia_negscope_mark(const char *token, size_t len, char *out, size_t cap);

/* Is token a negator / a marked token? */
bool glia_negscope_is_negator(const char *token, size_t len);
bool glia_negscope_is_marked(const char *token, size_t len);

/* Rule-based negation of a one-clause sentence, for training-data augmentation: the label of
 * the result is the other one. tokens[0..n) are a text's tokens (tokenize.h). The rules:
 *  - refuse (false) a text of more than 25 tokens, one with a contrast word (but, however,
 *    although, though, yet, whereas, except) and one with a clause boundary (see above)
 *    anywhere but at its end, since negating one clause of two does not flip the whole;
 *  - a text with exactly one negator, "not", loses it ("was not good" -> "was good");
 *  - a text without negator gets "not" after its first copula or modal (is, was, are, were,
 *    am, 's, 're, 'm, will, would, can, could, should, must), if a word follows it;
 *  - anything else is refused.
 * The result is written as text to out[0..cap) (tokens joined by one space, clitics such as
 * "'s" glued to the word before, so that tokenizing it gives the tokens back); false when a
 * rule does not apply or it does not fit. */
bool glia_negscope_negate(char *const *tokens, size_t n, char *out, size_t cap);

#endif
