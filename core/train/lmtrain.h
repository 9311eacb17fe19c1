/*
 * lmtrain.h - language-model pretraining of a text classifier's embedding and LSTM (issue
 * 18.2), ELMo style: over unlabelled sentences, the forward direction's state at step t
 * predicts the word at t + 1 and the reverse direction's state at step t the word at t - 1,
 * through one softmax head shared by both directions:
 *
 *     h       = rnn(cat(embedding(ids), lexicon(ids)))      [B, T, 2H]   (textnet.h's layers)
 *     z_f[t]  = W h[t, :H] + b     target ids[t + 1]        t < len - 1
 *     z_r[t]  = W h[t, H:] + b     target ids[t - 1]        t > 0
 *     L       = mean cross-entropy over every target that is not "<unk>" (or not below
 *               softmax_size), W [S, H], b [S], S = softmax_size (0: the vocabulary's size)
 *
 * The head is dropped after pretraining: what is kept is the textnet's embedding and rnn
 * tensors (and the frozen lexicon, unchanged), which a classifier recipe starts from with
 * `init: {bundle: DIR}` (texttrain.c checks that the vocabulary and every shape match). A
 * unidirectional net predicts the next word only.
 *
 * The recipe (YAML; unknown keys are errors naming file, line and key):
 *
 *     task: lm                                   # required
 *     classifier: ../sentiment-lstm/recipe.yaml  # required: vocabulary, lexicons, architecture
 *                                                # and initial weights are this recipe's
 *                                                # (texttrain.h's glia_text_prepare)
 *     corpus: [fortunes, uci-sentiment]          # required; uci-sentiment = its TRAIN split only
 *     fortunes_dir: DIR                          # optional, default glia_fortunes_default_dir()
 *     epochs: 2, batch: 32, max_tokens: 40,      # sentences are cut at . ! ? and at max_tokens
 *     lr: 0.002, clip_grad_norm: 5.0,            # Adam, constant rate
 *     softmax_size: 0, holdout: 50, limit: 0,    # every holdout-th sentence is held out to
 *     seed: 1                                    # measure the loss; limit: first N sentences
 *
 * Output (out_dir): vocab.txt, model.safetensors (the pretrained tensors, head dropped),
 * written after every epoch; lm.safetensors, the checkpoint (checkpoint.h's format: the kept
 * tensors and the head as "model.<name>", Adam's state, its steps, the shuffle stream and a
 * hash of the recipe's bytes), and progress in lm.log. A run whose out_dir holds the checkpoint
 * of an earlier run of the same recipe continues from it after its last finished epoch, with
 * the result an uninterrupted run would have given; another recipe's checkpoint, or one written
 * by a glia before this format (metadata "format": "glia-lm-checkpoint"), is refused, saying so.
 *
 * Never: read the dev or test split, print, or keep a pointer to the caller's arrays.
 */
#ifndef GLIA_TRAIN_LMTRAIN_H
#define GLIA_TRAIN_LMTRAIN_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/nn/textnet.h"
#include "core/text/vocab.h"

typedef struct glia_lm glia_lm; /* a textnet (borrowed) and its softmax head (owned) */

/* A head of softmax_size (0: the vocabulary's size) rows over net's hidden size, initialised
 * like nn.Linear from rng, and buffers for batches of max_batch x max_steps. net must have its
 * gradients enabled and outlive the LM. */
glia_status glia_lm_new(glia_textnet *net, int softmax_size, int max_batch, int max_steps, glia_rng *rng,
                        glia_lm **out, glia_err *err);
void glia_lm_free(glia_lm *lm); /* NULL-safe */

/* The head's two tensors ("head.weight" [S, H], "head.bias" [S]), with values and grads. */
glia_param *glia_lm_head(glia_lm *lm, int *n);

/* The mean loss of one batch (ids [batch, steps], lengths as textnet.h's, *counted targets;
 * loss 0 when none counts). backward = 1 also ACCUMULATES dL/d(parameters) into the net's
 * trainable gradients and the head's. Bad ids or lengths are GLIA_EINVAL naming them. */
glia_status glia_lm_loss(glia_lm *lm, const int32_t *ids, const int32_t *lengths, int batch, int steps,
                         int backward, double *loss, long *counted, glia_err *err);

typedef struct {
    int epoch, epochs;   /* epoch just finished, from 1 (0: the corpus line, before training) */
    double train_loss;   /* mean over the epoch's targets */
    double holdout_loss; /* mean over the held-out sentences' targets (exp of it: perplexity) */
    double seconds;      /* wall time of the epoch */
    long sentences, holdout_sentences, tokens; /* the corpus (train, held out; all tokens) */
    int vocab, softmax;
} glia_lm_progress;

typedef void (*glia_lm_progress_fn)(const glia_lm_progress *p, void *user);

/* Runs a `task: lm` recipe into out_dir (which must exist). cancel (may be NULL) is read between
 * batches: non-zero stops with GLIA_ECANCELLED. */
glia_status glia_lm_recipe_run(const char *recipe_path, const char *out_dir, glia_lm_progress_fn cb,
                               void *user, const atomic_int *cancel, glia_err *err);

/* Sentences for the LM: each text encoded with v (negation scopes included when v reads them)
 * and cut after every ".", "!" and "?" token and at max_tokens; pieces shorter than 3 tokens are
 * dropped. ids [n, max_tokens] and lengths [n] are the caller's (free). */
glia_status glia_lm_sentences(const glia_vocab *v, const char *const *texts, size_t ntexts, int max_tokens,
                              int32_t **ids, int32_t **lengths, long *n, long *tokens, glia_err *err);

#endif
