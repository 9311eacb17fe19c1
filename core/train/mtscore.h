/*
 * mtscore.h - corpus BLEU-4 and chrF of machine translations (issue 6), with the definitions and
 * defaults of sacrebleu 2.x (Post, 2018, "A Call for Clarity in Reporting BLEU Scores"), so that
 * glia's numbers can stand beside published ones. One reference per sentence; case-sensitive.
 *
 * Sentence pairs (hypothesis, reference) are added to an accumulator that keeps only the
 * sufficient statistics, summed over the corpus; the scores are computed from the sums.
 *
 * BLEU (sacrebleu's BLEU(): tokenize="13a", max_ngram_order=4, no lower-casing):
 *  - Each text is tokenised with the "13a" tokenizer (mteval-v13a.pl, below) into tokens.
 *  - Per sentence: for n = 1..4, total[n] = the number of hypothesis n-grams (max(0, c - n + 1)
 *    for c tokens) and correct[n] = the clipped matches, sum over distinct hypothesis n-grams g of
 *    min(count of g in the hypothesis, count of g in the reference); c and the reference length r
 *    in tokens. All of them are summed over the corpus: C = sum c, R = sum r.
 *  - p_n = correct[n] / total[n]; BP = exp(1 - R / C) when C < R, else 1 (0 when C == 0);
 *    BLEU = 100 * BP * exp((log p_1 + log p_2 + log p_3 + log p_4) / 4), uniform weights.
 *  - No smoothing: when any p_n is 0 (or total[n] is 0: no hypothesis has n tokens) BLEU is 0.
 *    This is smooth_method="none". sacrebleu's own default is "exp" (mteval's smoothing: the k-th
 *    order with correct[n] == 0 gets p_n = 1 / (2^k total[n])), which gives a different number
 *    only when a whole corpus has no matching n-gram of some order while it has some of another;
 *    with no match at all both give 0.
 *
 * The 13a tokenizer, in order (sacrebleu's Tokenizer13a + TokenizerRegexp; "white space" means
 * Python's str.split()/str.isspace() set: U+0009..U+000D, U+001C..U+0020, U+0085, U+00A0, U+1680,
 * U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000):
 *  0. trailing white space is removed (sacrebleu's rstrip() before tokenising);
 *  1. these replacements, each over the whole text before the next: "<skipped>" -> "",
 *     "-\n" -> "", "\n" -> " ", "&quot;" -> '"', "&amp;" -> "&", "&lt;" -> "<", "&gt;" -> ">"
 *     (in that order, so "&amp;lt;" ends as "<");
 *  2. a space is added at each end;
 *  3. every ASCII punctuation mark or symbol except the apostrophe ', '-', '.' and ',' - that is
 *     space ! " # $ % & ( ) * + / : ; < = > ? @ [ \ ] ^ _ ` { | } ~ - gets a space on each side;
 *  4. a '.' or ',' preceded by a character that is not an ASCII digit gets a space on each side;
 *  5. a '.' or ',' followed by a character that is not an ASCII digit gets a space on each side;
 *  6. a '-' preceded by an ASCII digit gets a space on each side;
 *  7. the text is split at white space; the tokens are what is left between.
 *  Steps 4, 5 and 6 are each one left-to-right regular-expression substitution of a two-character
 *  pattern - ([^0-9])([.,]), ([.,])([^0-9]), ([0-9])(-) - whose matches do not overlap: a
 *  character consumed by one match cannot start the next, so "a.,5" gives "a", ".", ",5" (step 4
 *  takes "a." and then cannot use the '.' for ".,"; step 5 sees ",5"). Everything else, non-ASCII
 *  letters and punctuation included, stays inside tokens: "file.txt," -> "file", ".", "txt", ",";
 *  "'%s'" -> "'", "%", "s'"; "3.5", "1,000" and "e-mail" stay whole; "l'été" is one token.
 *
 * chrF (sacrebleu's CHRF(): char_order=6, word_order=0, beta=2, whitespace=False,
 * eps_smoothing=False, no lower-casing):
 *  - Each text loses all its white space (the same set as above); what is left is a sequence of
 *    Unicode code points ("é" in precomposed form is one character, two bytes in UTF-8).
 *  - Per sentence and order n = 1..6: hyp[n] = the number of hypothesis character n-grams, but 0
 *    when the reference has no n-gram of that order (shorter than n characters); ref[n] = the
 *    number of reference n-grams; match[n] = the clipped matches as for BLEU. Summed over the
 *    corpus.
 *  - Over the orders where hyp[n] > 0 and ref[n] > 0 (the effective orders): P = the mean of
 *    match[n] / hyp[n], R = the mean of match[n] / ref[n] (0 and 0 when there is none);
 *    chrF = 100 * (1 + beta^2) P R / (beta^2 P + R), or 0 when P + R is 0.
 *
 * Texts must be valid UTF-8 (RFC 3629, as glia_utf8_valid); anything else is GLIA_EFORMAT
 * and adds nothing. Never: print (but glia_mt_print to the stream it is given), exit, allocate
 * per n-gram (an accumulator reuses its scratch buffers from sentence to sentence).
 */
#ifndef GLIA_TRAIN_MTSCORE_H
#define GLIA_TRAIN_MTSCORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/base/err.h"

#define GLIA_MT_BLEU_ORDER 4
#define GLIA_MT_CHRF_ORDER 6
#define GLIA_MT_CHRF_BETA  2.0

/* Corpus statistics and scratch space; not safe to share between threads while adding. */
typedef struct glia_mt_stats glia_mt_stats;

/* BLEU with its parts, sacrebleu's BLEUScore. */
typedef struct {
    double score;                          /* 0..100 */
    double precisions[GLIA_MT_BLEU_ORDER]; /* 100 * p_n, 0 when total[n] is 0 */
    double bp;                             /* brevity penalty */
    double ratio;                          /* sys_len / ref_len, 0 when ref_len is 0 */
    uint64_t sys_len, ref_len;             /* C and R, in tokens */
    uint64_t correct[GLIA_MT_BLEU_ORDER], total[GLIA_MT_BLEU_ORDER];
} glia_mt_bleu_info;

/* An empty accumulator in *out (the caller's: glia_mt_stats_free). */
glia_status glia_mt_stats_new(glia_mt_stats **out, glia_err *err);
/* Safe on NULL. */
void glia_mt_stats_free(glia_mt_stats *s);

/* Adds one sentence pair: hypothesis hyp[0..hyp_len), reference ref[0..ref_len) (need not be
 * NUL-terminated). Invalid UTF-8 is GLIA_EFORMAT "hypothesis: invalid UTF-8 at byte N" (or
 * "reference: ...") and leaves the statistics as they were; so does GLIA_ENOMEM. */
glia_status glia_mt_add(glia_mt_stats *s, const char *hyp, size_t hyp_len, const char *ref, size_t ref_len,
                        glia_err *err);

/* Number of sentence pairs added. */
size_t glia_mt_sentences(const glia_mt_stats *s);

/* Corpus BLEU (0..100) of what was added; 0 for an empty corpus. */
double glia_mt_bleu(const glia_mt_stats *s);
/* The same with its parts. */
void glia_mt_bleu_details(const glia_mt_stats *s, glia_mt_bleu_info *out);
/* Corpus chrF (0..100); 0 for an empty corpus. */
double glia_mt_chrf(const glia_mt_stats *s);

/* Writes three lines, the last two exactly "bleu=NN.NN" and "chrf=NN.NN":
 *   BLEU = 34.12 65.4/40.1/27.3/19.2 (BP = 0.987 ratio = 0.987 hyp_len = 12345 ref_len = 12500) sentences =
 * 2788 bleu=34.12 chrf=55.67 */
void glia_mt_print(const glia_mt_stats *s, FILE *f);

/* The 13a tokens of text[0..len), joined by single spaces, in *out (NUL-terminated, the caller
 * frees it; "" when there are none), its length in *out_len (may be NULL). Invalid UTF-8 is
 * GLIA_EFORMAT "invalid UTF-8 at byte N". */
glia_status glia_mt_tokenize_13a(const char *text, size_t len, char **out, size_t *out_len, glia_err *err);

#endif
