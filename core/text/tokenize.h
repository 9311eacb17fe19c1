/*
 * tokenize.h - the word tokenizer for text classification (UTF-8 in, lower-cased word tokens out).
 *
 * The same function splits training text, the vocabulary's texts and the text of a predict
 * request, so a model sees at serving time exactly the tokens it was trained on. The rules, in
 * the order they apply:
 *
 *  - The input must be valid UTF-8 (glia_utf8_valid: RFC 3629, no overlong forms, no surrogates,
 *    nothing above U+10FFFF); the first bad byte sequence is an error that gives its byte offset.
 *  - White space separates tokens: ASCII white space, every C0/C1 control character (so the
 *    U+0085/U+0096 that Windows-1252 text decoded as Latin-1 leaves behind), NO-BREAK SPACE and
 *    the other Unicode spaces, ZERO WIDTH SPACE, BOM. Soft hyphen and bidi marks are dropped
 *    without splitting.
 *  - Words are runs of letters and digits (every code point not listed as space, punctuation or
 *    symbol counts as a letter, so accented Latin, Greek, Cyrillic, CJK... stay inside words; a
 *    script written without spaces stays one token per run). Combining marks, variation
 *    selectors and joiners stay with the token before them.
 *  - Lower-casing is per code point: ASCII, Latin-1, Latin Extended-A, Latin Extended Additional,
 *    Greek and Cyrillic capitals become their small letters (U+0130 becomes plain "i"); every
 *    other code point is kept as it is. No Unicode normalisation: precomposed "é" and "e" plus
 *    U+0301 are different tokens.
 *  - Numbers are words: "45", "2nd", and digits joined by '.', ',' or ':' stay one token
 *    ("3.5", "1,000", "10:30").
 *  - Every punctuation mark or symbol is a token of its own ("!!" -> "!", "!"), with three
 *    normalisations: a run of two or more '.' and U+2026 become "..."; curly quotes become
 *    ASCII (U+2018/U+2019 -> "'", U+201C/U+201D -> '"'). An emoji is one token with its modifiers
 *    (skin tone, variation selector, ZWJ sequences, a pair of regional indicators = one flag).
 *  - An apostrophe (' or U+2019) between a word and a letter stays in the word ("o'clock");
 *    elsewhere it is punctuation. Then clitics are split off in the Penn Treebank manner -
 *    "'s", "'m", "'d", "'re", "'ve", "'ll" become tokens of their own ("it's" -> "it", "'s") -
 *    except negation, which becomes the word "not" so that "didn't" and "did not" give the same
 *    tokens: "didn't" -> "did", "not"; "isn't" -> "is", "not"; "can't" -> "can", "not";
 *    "won't" -> "will", "not"; "shan't" -> "shall", "not"; "ain't" -> "ai", "not" (PTB's stem);
 *    "shouldn't've" -> "should", "not", "'ve". The apostrophe-less spellings common in reviews
 *    ("dont", "didnt", "cant", "wont", ... see tokenize.c) and "cannot" are split the same way.
 *
 * Never: allocate per token in the callback path, accept invalid UTF-8, print or exit.
 */
#ifndef GLIA_TEXT_TOKENIZE_H
#define GLIA_TEXT_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/base/err.h"

/* The token negation becomes (see above). */
#define GLIA_TOK_NOT "not"

/* Called once per token, in order. token is lower-cased UTF-8, NUL-terminated, len bytes long,
 * and borrowed: it is only valid during the call. A status other than GLIA_OK stops the split and
 * is returned by glia_tok_each (with whatever the callback put in err). */
typedef glia_status (*glia_tok_fn)(void *ctx, const char *token, size_t len, glia_err *err);

/* Splits text[0..len) and calls fn for each token. Invalid UTF-8 is GLIA_EFORMAT, "invalid UTF-8
 * at byte N", before any token is reported. */
glia_status glia_tok_each(const char *text, size_t len, glia_tok_fn fn, void *ctx, glia_err *err);

/* The tokens of one text, as plain data. */
typedef struct {
    size_t n;      /* number of tokens */
    char **tokens; /* n pointers into buf, each NUL-terminated; NULL when n == 0 */
    char *buf;     /* owned: the tokens back to back */
} glia_tok_list;

/* Splits text[0..len) into *out (owned by the caller: glia_tok_list_free). On failure *out is
 * zeroed. */
glia_status glia_tok_split(const char *text, size_t len, glia_tok_list *out, glia_err *err);

/* Releases a list and zeroes it; safe on a zeroed list. */
void glia_tok_list_free(glia_tok_list *list);

/* Checks that token[0..len) could be a token of this tokenizer: not empty, valid UTF-8, no white
 * space, control or dropped characters, nothing the tokenizer would lower-case. Vocabulary files
 * are checked with it, so a hand-edited "Good" is refused instead of silently never matching.
 * GLIA_EFORMAT with the reason and byte offset otherwise. */
glia_status glia_tok_check_token(const char *token, size_t len, glia_err *err);

#endif
