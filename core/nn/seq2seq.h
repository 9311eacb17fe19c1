/*
 * seq2seq.h - the translation model: a Transformer encoder-decoder over one joint subword
 * vocabulary (core/text/bpe.h), trained with teacher forcing and decoded greedily or with
 * beam search on the cached decoder of core/nn/transformer.h.
 *
 * The PyTorch module it is, parameter for parameter (batch_first, 0 = <pad>):
 *
 *   class Translator(nn.Module):
 *       def __init__(s, V, E, nhead, enc, dec, F, dropout, norm_first, tie):
 *           s.embedding = nn.Embedding(V, E, padding_idx=0)      # source and target
 *           s.transformer = nn.Transformer(E, nhead, enc, dec, F, dropout,
 *                                          batch_first=True, norm_first=norm_first)
 *           s.generator = nn.Linear(E, V)
 *           if tie: s.generator.weight = s.embedding.weight
 *       def forward(s, src, tgt):                   # [B, S], [B, T] token ids
 *           x = s.drop(s.embedding(src) * sqrt(E) + pe[:S])
 *           y = s.drop(s.embedding(tgt) * sqrt(E) + pe[:T])
 *           h = s.transformer(x, y, tgt_mask=causal(T), src_key_padding_mask=src == 0,
 *                             tgt_key_padding_mask=tgt == 0, memory_key_padding_mask=src == 0)
 *           return s.generator(h)
 *
 * with pe the sinusoidal table (transformer.h) and s.drop a Dropout(dropout). state_dict:
 * embedding.weight [V, E], transformer.encoder.*, transformer.decoder.* (nn.Transformer's
 * names), generator.weight [V, E] (not stored when tied: PyTorch's state_dict shows the
 * embedding's tensor under both names, so the file holds it once and a loader aliases it),
 * generator.bias [V].
 *
 * Why one vocabulary and tied weights: gettext messages share format strings, option names
 * and identifiers between the two sides, and a tied table halves the largest matrix of a
 * small model. Initialisation: nn.Transformer's for the stacks, the embedding N(0, E^-1/2)
 * (pad row 0) so that sqrt(E)-scaled inputs and tied logits start at unit scale, generator
 * bias 0 (and an untied generator like nn.Linear).
 *
 * A target sequence in training is <s> w1 .. wn (decoder input) against w1 .. wn </s>
 * (labels): the caller shifts. Only the valid target positions produce logits, packed in
 * row order (b, t < tgt_lengths[b]), so padding costs no generator work.
 *
 * Ownership as core/nn/textnet.h: the model owns one flat parameter buffer (and one for
 * gradients once enabled); run state lives in a glia_s2s_ctx (training) or a glia_s2s_dec
 * (decoding), each for one thread at a time; the model is read-only during inference, so any
 * number of threads may decode with one model at once.
 */
#ifndef GLIA_NN_SEQ2SEQ_H
#define GLIA_NN_SEQ2SEQ_H

#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"
#include "core/nn/transformer.h"

typedef struct {
    int vocab_size;      /* V: the tokenizer's ids (0 pad, 1 unk, 2 <s>, 3 </s>) */
    int d_model;         /* E */
    int nhead;           /* divides E */
    int dim_feedforward; /* F */
    int num_encoder_layers, num_decoder_layers;
    float dropout; /* every site of nn.Transformer and the embeddings' output */
    float layer_norm_eps;
    int norm_first;     /* 0: post-norm (nn.Transformer's default), 1: pre-norm */
    int tie_embeddings; /* generator.weight is embedding.weight */
    int max_positions;  /* longest source or target sequence, <s> and </s> included */
} glia_s2s_config;

enum {
    GLIA_S2S_PAD = 0,
    GLIA_S2S_BOS = 2,
    GLIA_S2S_EOS = 3,
    GLIA_S2S_MAX_PARAMS = 2 * GLIA_TF_MAX_PARAMS + 3,
};

typedef struct {
    glia_s2s_config cfg;
    glia_embedding embedding;
    glia_tf_stack encoder, decoder;
    const glia_param *gen_weight; /* generator.weight, or the embedding's when tied */
    const glia_param *gen_bias;
    int nparams; /* every stored tensor, in state_dict order */
    glia_param params[GLIA_S2S_MAX_PARAMS];
    size_t size;       /* floats of all parameters */
    float *values;     /* owned */
    float *grads;      /* owned, NULL until glia_s2s_enable_grads */
    int shares_values; /* a replica: values belong to another model */
    float *pe;         /* owned: the positional table [max_positions, E] */
    /* served models (glia_s2s_prepare): the decoder's step weights and the generator's packed
     * into panels once, read by every decoding whatever its row count; none otherwise */
    glia_tf_panels panels;
    float *gen_panels;
} glia_s2s;

/* Checks cfg (every error names the field) and allocates an unset model. */
glia_status glia_s2s_new(const glia_s2s_config *cfg, glia_s2s **out, glia_err *err);
void glia_s2s_free(glia_s2s *m); /* NULL-safe */
void glia_s2s_reset(glia_s2s *m, glia_rng *rng);
glia_status glia_s2s_enable_grads(glia_s2s *m, glia_err *err);
/* A model whose parameter values ARE master's (shared, never copied) and whose gradients
 * are its own (enabled): a data-parallel training lane. master must outlive the replica. */
glia_status glia_s2s_replica(const glia_s2s *master, glia_s2s **out, glia_err *err);
void glia_s2s_zero_grads(glia_s2s *m);
/* on = 1: copies the decoder's step weights and the generator's, as they are now, into panels
 * (core/nn/panel.h; ~19 MB for translate-en-es) that every later decoding reads - at batch 1
 * twice as fast as the few-row path, and no packing per translation; where the CPU has no
 * kernel, or the weights carry bf16 copies, nothing is made. on = 0 frees them. For served
 * models only (glia_s2s_load and glia_s2s_reset pack them again; any other write to the
 * values must prepare again; never on a model being trained, whose every step would repack).
 * A model without them packs its own per translation from 5 rows. */
glia_status glia_s2s_prepare(glia_s2s *m, int on, glia_err *err);
const glia_param *glia_s2s_find_param(const glia_s2s *m, const char *name);

/* Strict load (every tensor of the file is a parameter and every parameter is in the file,
 * except that a tied model accepts and checks an equal generator.weight). */
glia_status glia_s2s_load(glia_s2s *m, const glia_st_file *st, glia_err *err);
glia_status glia_s2s_save(const glia_s2s *m, const char *path, const char *const *meta, glia_err *err);

/* ---- training: teacher-forced forward and backward ---- */

typedef struct glia_s2s_ctx glia_s2s_ctx;

/* For batches of up to max_batch pairs of up to max_src / max_tgt positions (each at most
 * cfg.max_positions) whose batch x steps is at most max_tokens on either side (0: no cap;
 * see glia_tf_ctx_new_tokens). training = 1 keeps activations for backward and applies
 * dropout. */
glia_status glia_s2s_ctx_new(const glia_s2s *m, int max_batch, int max_src, int max_tgt, size_t max_tokens,
                             int training, glia_s2s_ctx **out, glia_err *err);
void glia_s2s_ctx_free(glia_s2s_ctx *ctx); /* NULL-safe */
size_t glia_s2s_ctx_bytes(const glia_s2s_ctx *ctx);
/* The decoder's cross-attention probabilities of layer `layer` in the last forward, [batch,
 * nhead, T, S] (glia_tf_cross_attention: an evaluation ctx holds the last layer's only). */
const float *glia_s2s_cross_attention(const glia_s2s_ctx *ctx, int layer);
/* Makes a training ctx forward without dropout (rng NULL) while it keeps every layer's
 * state, so that glia_s2s_cross_attention has every layer's: for explanations. */
void glia_s2s_ctx_no_dropout(glia_s2s_ctx *ctx);

/* src [batch, S] with src_len[b] in 1..S, tgt [batch, T] (decoder input) with tgt_len[b] in
 * 1..T -> *logits [rows, V] (borrowed from ctx), one row per valid target position in order
 * (b, t), *rows = sum of tgt_len. rng: dropout's stream (training ctx with dropout > 0).
 * Bad sizes, lengths or ids are GLIA_EINVAL. */
glia_status glia_s2s_forward(const glia_s2s *m, glia_s2s_ctx *ctx, const int32_t *src, const int32_t *src_len,
                             int S, const int32_t *tgt, const int32_t *tgt_len, int T, int batch,
                             glia_rng *rng, const float **logits, int *rows, glia_err *err);
/* Backward of the last forward of a training ctx for dlogits [rows, V]; accumulates into
 * m->grads (zero them first). ready (may be NULL) is told what is final as the pass goes:
 * the generator, the decoder's layers, the encoder's, and the embedding last (a tied
 * generator adds to it first, the sources' and targets' lookups last). */
void glia_s2s_backward(glia_s2s *m, glia_s2s_ctx *ctx, const float *dlogits, const glia_grad_ready *ready);

/* ---- decoding ---- */

typedef struct {
    int beam_size;        /* 1: greedy */
    int max_tokens;       /* output tokens at most, </s> not counted (capped by max_positions - 1) */
    float length_penalty; /* beam: score = log P / ((5 + n) / 6)^alpha, n tokens incl. </s> */
    int no_repeat_ngram;  /* > 0: no hypothesis repeats an n-gram of this many tokens (0: off) */
} glia_s2s_search;

/* The most no_repeat_ngram may be (a guard longer than the outputs would never fire). */
#define GLIA_S2S_MAX_NGRAM 16

/* beam 1, 128 tokens, alpha 0.6, no n-gram guard. */
glia_s2s_search glia_s2s_search_defaults(void);

typedef struct glia_s2s_dec glia_s2s_dec;

/* Decoding state for up to max_inputs sources of up to max_src positions with beams up to
 * max_beam (the cache holds max_inputs * max_beam rows). */
glia_status glia_s2s_dec_new(const glia_s2s *m, int max_inputs, int max_src, int max_beam, glia_s2s_dec **out,
                             glia_err *err);
void glia_s2s_dec_free(glia_s2s_dec *d); /* NULL-safe */
size_t glia_s2s_dec_bytes(const glia_s2s_dec *d);

/* One output sequence: ids without <s> and </s>. */
typedef struct {
    int32_t *ids; /* owned by the dec until the next translate */
    int n;
    double score; /* log-probability (greedy) or the length-penalised beam score */
    int finished; /* 1 when </s> ended it, 0 when max_tokens did */
} glia_s2s_output;

/* Translates src [n, S] (src_len[i] in 1..S, ids already ending in </s> if the model was
 * trained so) together: out[0..n) receive the best sequences. With beam_size 1 this is
 * greedy search (argmax at every step); otherwise beam search per input, where an input
 * stops once beam_size hypotheses have ended with </s> or max_tokens is reached, and
 * finished inputs leave the batch. */
glia_status glia_s2s_translate(const glia_s2s *m, glia_s2s_dec *d, const int32_t *src, const int32_t *src_len,
                               int n, int S, const glia_s2s_search *opts, glia_s2s_output *out,
                               glia_err *err);

/* The same, calling on_done(user, i, &out[i]) the moment input i is decided (in the order
 * inputs finish; out[i] is final then): a server answers a short sentence without waiting
 * for the longest one of its batch. */
typedef void (*glia_s2s_done_fn)(void *user, int i, const glia_s2s_output *out);
glia_status glia_s2s_translate_cb(const glia_s2s *m, glia_s2s_dec *d, const int32_t *src,
                                  const int32_t *src_len, int n, int S, const glia_s2s_search *opts,
                                  glia_s2s_output *out, glia_s2s_done_fn on_done, void *user, glia_err *err);

#endif
