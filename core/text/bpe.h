/*
 * bpe.h - the byte-pair-encoding subword tokenizer of the translation model (issue 6): learned
 * by glia from the training texts, UTF-8 in, token ids out, and back again exactly.
 *
 * One joint vocabulary serves English and Spanish: learn it from the texts of both sides. The
 * languages share most of their alphabet, their numbers, format strings (%s, %d), option names
 * and identifiers, which a message copies from source to target; with one vocabulary a copied
 * piece has the same id on both sides, the source embedding, the target embedding and the output
 * projection can be one tied matrix (a third of a small Transformer's parameters), and the
 * decoder can emit any source piece.
 *
 * Normalisation and pre-tokenisation, in the order they apply:
 *  - The input must be valid UTF-8 (glia_utf8_valid: RFC 3629); the first bad byte is
 *    GLIA_EFORMAT "invalid UTF-8 at byte N".
 *  - ASCII white space (space, \t, \n, \v, \f, \r) separates words; a run of it counts as one
 *    space and none is kept at either end - the same collapse as gettext.h's cleaning, so a
 *    cleaned data sentence comes back byte for byte. Every other code point (NO-BREAK SPACE
 *    and the other Unicode spaces too) is text and comes back as it was.
 *  - Each word is split into pieces: a punctuation mark or symbol is a piece of its own (ASCII
 *    punctuation; the punctuation and symbols of Latin-1 such as ¿ ¡ « » ° × ÷; General
 *    Punctuation, currency signs, supplemental punctuation, CJK and fullwidth punctuation), and
 *    every run of other code points (letters, digits, marks, emoji, joiners, other symbols) is
 *    a piece, cut after every GLIA_BPE_MAX_PIECE code points so a 64 KiB "word" costs linear
 *    time. The first piece of a word starts with the marker U+2581 '▁' (as SentencePiece does).
 *    Merges never cross pieces.
 *  - A piece starts as its code points (never a part of a UTF-8 sequence); merges are then
 *    applied in the order they were learned.
 *  - A code point outside the alphabet - unseen in training, rarer than min_char_count, a
 *    control character (C0 but the separators, DEL, C1) or a literal U+2581 (so that '▁' in
 *    the vocabulary always means the marker) - becomes, with byte fallback (the default), the
 *    tokens <0xNN> of its UTF-8 bytes, and <unk> without it. Byte fallback is the default
 *    because it makes decode(encode(x)) == normalised x hold for every valid UTF-8 x: a message
 *    with a character the catalogs never held (an emoji, a CJK file name) is carried through
 *    instead of losing it to <unk>, at the price of 256 vocabulary rows.
 *
 * Decoding concatenates the tokens' text, a marker becoming a space (none before the first
 * word); <pad>, <s> and </s> give nothing, <unk> gives U+FFFD, byte tokens give their bytes,
 * and a run of byte tokens that is not valid UTF-8 (a model can emit anything) gives U+FFFD per
 * bad byte, so the result is always valid UTF-8.
 *
 * Learning counts the distinct pieces, then repeatedly merges the most frequent adjacent pair
 * of symbols (each piece weighted by its count). Ties go to the pair whose left token is first
 * in byte-wise (= code point) order, then the right token: the result depends only on the
 * multiset of texts, not on their order or on hash-table layout. Pair counts are kept up to date
 * incrementally (only the pieces holding the merged pair are revisited) and the next pair comes
 * from a max-heap, so thousands of merges over hundreds of thousands of words take seconds.
 * When a merge gives a string that is already a token (a+bc and ab+c), it reuses that id.
 *
 * Ids: 0 <pad>, 1 <unk>, 2 <s>, 3 </s>; with byte fallback 4..259 are <0x00>..<0xFF>; then the
 * alphabet (single code points, in code point order, the marker '▁' among them), then each
 * merged token in the order it was first made.
 *
 * The file (UTF-8, '\n' line ends, GLIA_BPE_MAX_FILE_BYTES at most):
 *
 *     glia-bpe 1               format and version
 *     byte-fallback yes        or "no"
 *     vocab N                  number of tokens, specials and bytes included
 *     merges M                 number of merges
 *     <pad>                    N lines: the token of id k is on line 5 + k
 *     ...
 *     ▁the                     (the learned tokens)
 *     e s                      M lines: a merge, "left right", in the order learned
 *
 * Loading is strict and names "path:line: what is wrong": a wrong header, a count that does
 * not match the lines, an empty line, a carriage return, invalid UTF-8, white space or a
 * control character in a token, a marker anywhere but at the start, a duplicate token or merge,
 * a merge whose parts are not tokens made by then or whose result is not in the vocabulary, a
 * token no merge makes, a missing marker.
 *
 * A glia_bpe is immutable once learned or loaded: any number of threads may encode and decode
 * with it at once. Never: print, exit, split a UTF-8 sequence, hand out an id outside [0, size).
 */
#ifndef GLIA_TEXT_BPE_H
#define GLIA_TEXT_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"

typedef struct glia_bpe glia_bpe; /* opaque, immutable */

enum {
    GLIA_BPE_PAD = 0,
    GLIA_BPE_UNK = 1,
    GLIA_BPE_BOS = 2,   /* <s> */
    GLIA_BPE_EOS = 3,   /* </s> */
    GLIA_BPE_BYTE0 = 4, /* <0x00> with byte fallback; <0xNN> is GLIA_BPE_BYTE0 + 0xNN */
    GLIA_BPE_N_SPECIAL = 4,
};

/* The word marker U+2581 LOWER ONE EIGHTH BLOCK, in UTF-8. */
#define GLIA_BPE_MARKER "\xe2\x96\x81"
/* Longest piece, in code points, before it is cut (see above). */
#define GLIA_BPE_MAX_PIECE 64
/* Files larger than this are refused before they are read. */
#define GLIA_BPE_MAX_FILE_BYTES ((size_t)64 << 20)
/* The file name of the tokenizer in a model bundle. */
#define GLIA_BPE_FILE "tokenizer.bpe"

typedef struct {
    size_t vocab_size;     /* stop when the vocabulary has this many ids (all included); 0: no limit */
    size_t max_merges;     /* stop after this many merges; 0: no limit */
    size_t min_pair_count; /* stop when the best pair occurs fewer times (>= 1) */
    size_t min_char_count; /* code points seen fewer times stay out of the alphabet (>= 1) */
    bool byte_fallback;    /* unknown code points as <0xNN> bytes (true) or <unk> (false) */
} glia_bpe_opts;

/* vocab_size 8000, max_merges 0, min_pair_count 2, min_char_count 1, byte_fallback true. */
glia_bpe_opts glia_bpe_defaults(void);

/* Learns a tokenizer from texts[0..n): lens[i] bytes each, or NUL-terminated when lens is NULL.
 * For a joint vocabulary pass the texts of both languages. A text that is not valid UTF-8 is
 * GLIA_EFORMAT "text I: invalid UTF-8 at byte N"; a vocab_size smaller than the specials, bytes
 * and alphabet need is GLIA_EINVAL saying how many they need. *out is the caller's
 * (glia_bpe_free); NULL on failure. */
glia_status glia_bpe_learn(const char *const *texts, const size_t *lens, size_t n, const glia_bpe_opts *opts,
                           glia_bpe **out, glia_err *err);

/* Reads a tokenizer file (see above); errors name the file and the line. */
glia_status glia_bpe_load(const char *path, glia_bpe **out, glia_err *err);

/* Writes b to path atomically (path.tmp.XXXXXX in the same directory, fsync, rename, fsync of
 * the directory). Saving what was loaded gives the same bytes. */
glia_status glia_bpe_save(const glia_bpe *b, const char *path, glia_err *err);

void glia_bpe_free(glia_bpe *b);

/* Number of ids. */
size_t glia_bpe_size(const glia_bpe *b);
bool glia_bpe_byte_fallback(const glia_bpe *b);

/* The text of id as the file shows it ("<s>", "<0x41>", "▁the"; borrowed), NULL out of range. */
const char *glia_bpe_token(const glia_bpe *b, int32_t id);

/* The id of a token's text as glia_bpe_token gives it, -1 when there is none. */
int32_t glia_bpe_id(const glia_bpe *b, const char *token);

/* Number of merges, and merge k (0-based, in the order learned) as ids; false out of range. */
size_t glia_bpe_n_merges(const glia_bpe *b);
bool glia_bpe_merge(const glia_bpe *b, size_t k, int32_t *left, int32_t *right, int32_t *result);

/* A growable id buffer, reusable across calls; zero-initialise it, free with glia_bpe_ids_free. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} glia_bpe_ids;

void glia_bpe_ids_free(glia_bpe_ids *ids);

enum {
    GLIA_BPE_ADD_BOS = 1, /* put <s> first */
    GLIA_BPE_ADD_EOS = 2, /* put </s> last */
};

/* Replaces out's contents with the ids of text[0..len) (flags: GLIA_BPE_ADD_*). Invalid UTF-8 is
 * GLIA_EFORMAT "invalid UTF-8 at byte N" and leaves out->n == 0. */
glia_status glia_bpe_encode(const glia_bpe *b, const char *text, size_t len, int flags, glia_bpe_ids *out,
                            glia_err *err);

/* The text of ids[0..n) (see above): a new NUL-terminated string in *text (the caller frees
 * it), its length in *len (may be NULL). An id outside [0, size) is GLIA_EINVAL naming its
 * position; *text is NULL then. */
glia_status glia_bpe_decode(const glia_bpe *b, const int32_t *ids, size_t n, char **text, size_t *len,
                            glia_err *err);

/* The normalised form of text[0..len) that decode(encode(text)) gives back with byte fallback:
 * ASCII white space runs collapsed to one space, none at the ends. A new NUL-terminated string
 * in *out (the caller frees it), length in *out_len (may be NULL); invalid UTF-8 is
 * GLIA_EFORMAT with the byte offset. */
glia_status glia_bpe_normalize(const char *text, size_t len, char **out, size_t *out_len, glia_err *err);

#endif
