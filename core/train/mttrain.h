/*
 * mttrain.h - training a translation model (a sequence model of core/model/model.h) on the
 * gettext-en-es pairs (core/data/gettext.h), tokenised by a joint BPE (core/text/bpe.h).
 *
 * glia_mt_prepare does what comes before the loop, so that `glia train` and the daemon's
 * training jobs build the same model: load the pairs, learn the tokenizer from the train
 * split's English and Spanish (both sides: the vocabulary is joint), build the model from the
 * manifest with the tokenizer's size, initialise it from the recipe's seed, and encode the
 * three splits. A source is its subwords and </s>; a target its subwords, fed to the decoder
 * after <s> and predicted followed by </s>. Training pairs longer than the model's positions
 * are left out (counted); a dev or test source that long is cut, keeping its </s>.
 *
 * The loop is the other trainers' (trainer.h): the recipe's optimizer, schedule (per step:
 * the Transformer's inverse_sqrt with warmup), label smoothing, gradient clipping, seeded
 * streams, checkpoint after every epoch, progress callback, cancel flag and deadline. A batch
 * holds pairs of similar length: each epoch the pairs are shuffled, sorted by target then
 * source length (the shuffle breaks ties), cut into batches of at most batch_tokens padded
 * tokens on either side, and the batches shuffled. Progress counts target tokens: "samples
 * per second" are tokens per second and the accuracies are next-token accuracies with
 * teacher forcing (dev: the epoch selection).
 */
#ifndef GLIA_TRAIN_MTTRAIN_H
#define GLIA_TRAIN_MTTRAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/model/manifest.h"
#include "core/text/bpe.h"
#include "core/data/gettext.h"
#include "core/train/loop.h"
#include "core/train/trainer.h"

/* Encoded pairs: pair i's source ids at ids + src_off[i] (src_len[i], ending in </s>), its
 * target ids at ids + tgt_off[i] (tgt_len[i], neither <s> nor </s>). */
typedef struct {
    int n;
    int32_t *src_off, *src_len, *tgt_off, *tgt_len; /* owned, [n] */
    uint32_t *pair;                                 /* owned, [n]: index into the glia_gt_set */
    int32_t *ids;                                   /* owned */
    size_t nids;
    int dropped;   /* training pairs left out for length */
    int truncated; /* sources cut to fit (dev, test) */
    size_t src_tokens, tgt_tokens;
} glia_mt_data;

/* Encodes one split of set with bpe for a model of max_positions (sources of at most
 * max_src tokens, </s> included); drop = 1 leaves long pairs out, 0 cuts sources and
 * targets to fit. limit > 0 keeps the first `limit` pairs of the split. */
glia_status glia_mt_data_encode(const glia_gt_set *set, glia_gt_split split, const glia_bpe *bpe, int max_src,
                                int max_positions, int drop, long limit, glia_mt_data *out, glia_err *err);
void glia_mt_data_free(glia_mt_data *d);

typedef struct {
    glia_manifest manifest;
    glia_gt_set set;
    glia_bpe *bpe;
    glia_model *model; /* a translator */
    glia_mt_data train, dev, test;
} glia_mt_job;

/* The recipe's pairs: an uploaded TSV (r->dataset_file, glia_gt_load_tsv) or the catalogs
 * (r->dataset_path, else glia_gt_default_dir()). */
glia_status glia_mt_load_pairs(const glia_recipe *r, glia_gt_set *set, glia_err *err);
glia_status glia_mt_prepare(const glia_recipe *r, glia_mt_job *job, glia_err *err);
void glia_mt_job_free(glia_mt_job *job);

/* The batch source of translation (loop.h): pairs of similar length under a token budget
 * (glia_mt_spans, batch_tokens), the batches in an order shuffled every epoch; evaluation in
 * spans of 8192 tokens. The data must outlive the source. */
glia_status glia_mt_source_new(const glia_mt_data *train, const glia_mt_data *val, const glia_mt_data *test,
                               long batch_tokens, glia_source **out, glia_err *err);

/* Trains model on train, selecting on val's next-token accuracy, through the one loop (see
 * trainer.h for the contract of the callback, cancel flag, checkpoint and result). */
glia_status glia_mt_train(const glia_recipe *r, glia_model *model, const glia_mt_data *train,
                          const glia_mt_data *val, glia_progress_fn cb, void *user, const atomic_int *cancel,
                          glia_train_result *result, glia_err *err);
/* The same with the loop's hooks (loop.h; NULL: none), the per-step recorder among them. */
glia_status glia_mt_train_hooked(const glia_recipe *r, glia_model *model, const glia_mt_data *train,
                                 const glia_mt_data *val, const glia_loop_hooks *hooks,
                                 glia_train_result *result, glia_err *err);

/* The trainer's batches, for tools that must see exactly what it trains on (bench/): order
 * receives every pair of d once, sorted by target then source length with ties in the order a
 * shuffle by rng left them (rng NULL: data order); spans the batches over `order`, each at most
 * `tokens` padded tokens on the source side and on the decoder side (target + 1). order and
 * keys hold d->n each, spans up to d->n. Returns the number of spans. */
typedef struct {
    int start, count; /* into order */
    int S, T;         /* padded source steps, decoder steps */
} glia_mt_span;
int glia_mt_spans(const glia_mt_data *d, glia_rng *rng, long tokens, uint32_t *order, uint64_t *keys,
                  glia_mt_span *spans);
/* Span sp's pairs (idx = order + sp->start): src [count, S] and tgt [count, T] (<s> + target)
 * padded with 0, their lengths, and labels packed row after row (target + </s>, tlen[j] each).
 * Returns the number of label rows. */
int glia_mt_gather(const glia_mt_data *d, const uint32_t *idx, const glia_mt_span *sp, int32_t *src,
                   int32_t *slen, int32_t *tgt, int32_t *tlen, int32_t *labels);

/* Translates every source of d with model's predict (a sequence model over bpe's ids; batches
 * of `batch` sentences sorted by length, decoded with opts; the text's spacing tidied against
 * the source, core/text/detok.h) and hands each result to emit(i, text, finished, user) in d's
 * order; text is NUL-terminated, borrowed for the call; finished is 0 when the output ran to
 * opts->max_tokens instead of ending with </s>. */
typedef glia_status (*glia_mt_emit_fn)(int i, const char *text, size_t len, int finished, void *user,
                                       glia_err *err);
glia_status glia_mt_translate_data(const glia_model *model, const glia_bpe *bpe, const glia_mt_data *d,
                                   const glia_decode_opts *opts, int batch, glia_mt_emit_fn emit, void *user,
                                   glia_err *err);

#endif
