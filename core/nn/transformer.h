/*
 * transformer.h - the building blocks of an encoder-decoder Transformer ("Attention is all
 * you need"): layer normalisation, scaled dot-product multi-head attention (self and
 * cross, causal mask, key padding mask), the position-wise feed-forward block, encoder and
 * decoder layer stacks, sinusoidal positional encoding with sqrt(d_model)-scaled token
 * embeddings, and an incremental decoder with cached keys and values for inference.
 *
 * Everything here is PyTorch's nn.Transformer with batch_first=True, activation relu:
 *   nn.LayerNorm(E, eps): y = (x - mean) / sqrt(var + eps) * weight + bias, biased var.
 *   nn.MultiheadAttention(E, nhead): in_proj_weight [3E, E] and in_proj_bias [3E] hold
 *     the q, k, v projections in that order, out_proj.weight [E, E], out_proj.bias [E];
 *     head h uses columns h*Dh..(h+1)*Dh of the projections (Dh = E / nhead), scores are
 *     q k^T / sqrt(Dh), masked keys get probability 0, softmax is max-subtracted.
 *   nn.TransformerEncoderLayer (norm_first 0):  x = norm1(x + drop1(sa(x)))
 *                                               x = norm2(x + drop2(ff(x)))
 *                              (norm_first 1):  x = x + drop1(sa(norm1(x)))
 *                                               x = x + drop2(ff(norm2(x)))
 *   nn.TransformerDecoderLayer likewise with sa (causal), ca (cross-attention to the
 *     memory) and ff, norm1..3, drop1..3;
 *   ff(x) = linear2(drop(relu(linear1(x)))); attention probabilities get dropout too.
 *   nn.TransformerEncoder / Decoder: the layers, then the final norm ("encoder.norm",
 *     "decoder.norm"), which nn.Transformer always creates.
 * One dropout probability serves every site, as nn.Transformer's `dropout` does.
 *
 * Names (state_dict order): PREFIX.layers.N.self_attn.in_proj_weight, .in_proj_bias,
 * .out_proj.weight, .out_proj.bias, [decoder: .multihead_attn.* the same four,]
 * .linear1.weight, .linear1.bias, .linear2.weight, .linear2.bias, .norm1.weight,
 * .norm1.bias, .norm2.*, [decoder: .norm3.*], then PREFIX.norm.weight, PREFIX.norm.bias.
 * With prefixes "encoder" and "decoder" and the encoder bound first, the two stacks are
 * exactly nn.Transformer's state_dict.
 *
 * Padding: sequence b of a batch has lengths[b] valid positions (1..steps). Positions at
 * or past the length are masked as keys (key_padding_mask); their own rows are computed
 * but are never read: their inputs are replaced by 0, their output gradients are ignored,
 * and their outputs are unspecified (callers must not use them). So a sequence's valid
 * outputs and all gradients do not depend on its neighbours in the batch.
 *
 * Memory layout: activations are row-major [batch, steps, E] (row b*steps + t), exactly
 * the caller's tensors with the current call's batch and steps (not the ctx maxima).
 * Inside a ctx, per layer and sublayer: the query projection q [N, E], the key/value
 * projection kv [Nk, 2E] (k in columns 0..E, v in E..2E), the attention probabilities
 * [batch, nhead, T, Tk] (rows past a query length and columns past a key length are 0),
 * the concatenated head outputs [N, E] and the feed-forward hidden layer [N, F], with
 * N = batch*steps, Nk = batch*key steps. Attention runs as two GEMMs per (sequence, head)
 * sized to the valid rows and keys; every projection is one GEMM over the whole batch.
 *
 * Ownership: the modules own no parameter buffers. Their parameters are glia_param views
 * (PyTorch names, shapes) into a flat buffer the caller binds, like core/nn/rnn.h.
 * Everything forward/backward writes lives in a glia_tf_ctx sized once for (max_batch,
 * max_steps, max_mem_steps); forward and backward never allocate. Inputs are copied (with
 * padded rows zeroed) and no pointer to a caller's buffer is kept. A ctx belongs to one
 * thread at a time; any number of ctxs may run one stack concurrently. The same holds
 * for glia_tf_cache (incremental decoding).
 *
 * Backward ACCUMULATES parameter gradients (+=), so the caller zeroes them once per step;
 * input gradients (dx, dmemory) are overwritten.
 */
#ifndef GLIA_NN_TRANSFORMER_H
#define GLIA_NN_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"
#include "core/nn/layer.h"
#include "core/nn/rnn.h"

/* ---- kernels (raw pointers, used by the stacks and checked on their own) ---- */

/* Layer norm of x [n, dim] into y (may not alias x) with weight, bias [dim]; mean and rstd
 * [n] (1/sqrt(var + eps)) are written when not NULL (backward needs them). */
void glia_layernorm_forward(const float *x, int n, int dim, const float *weight, const float *bias, float eps,
                            float *y, float *mean, float *rstd);
/* dx [n, dim] (overwritten; may not alias dy) for dy, with the forward's x, mean, rstd;
 * accumulates dweight, dbias [dim] when not NULL. */
void glia_layernorm_backward(const float *x, const float *mean, const float *rstd, const float *weight,
                             const float *dy, int n, int dim, float *dx, float *dweight, float *dbias);

/* Scaled dot-product attention over heads, for a batch of query sequences of q_steps
 * rows and key/value sequences of kv_steps rows. */
typedef struct {
    int batch, heads, head_dim;            /* E = heads * head_dim columns per q, k, v row */
    int q_steps, kv_steps;                 /* T, S */
    const int32_t *q_lengths, *kv_lengths; /* [batch], 1..T and 1..S */
    int causal;                            /* query t sees keys s <= t only */
} glia_attn_shape;

/* q: row b*T + t at q + (b*T + t) * ldq (head h in columns h*Dh..), k and v likewise with
 * ldkv and S. p [batch, heads, T, S]: the softmax probabilities; pd: the same shape,
 * receives the probabilities after dropout when dropout > 0 and rng != NULL (else pass
 * pd == p). out: rows like q with ldo, overwritten; rows t >= q_lengths[b] are 0. */
void glia_attention_forward(const glia_attn_shape *s, const float *q, int ldq, const float *k, const float *v,
                            int ldkv, float *p, float *pd, float dropout, glia_rng *rng, float *out, int ldo);
/* Gradients for dout (rows like out; rows past a query length are not read): dq, dk, dv
 * (laid out like q, k, v) are overwritten over their E columns of every row, 0 at padded
 * rows. p, pd, dropout: the forward's. scratch: T * S floats. */
void glia_attention_backward(const glia_attn_shape *s, const float *q, int ldq, const float *k,
                             const float *v, int ldkv, const float *p, const float *pd, float dropout,
                             const float *dout, int ldo, float *dq, float *dk, float *dv, float *scratch);

/* ---- positional encoding and scaled embeddings ---- */

/* pe [steps, d_model]: pe[pos, 2i] = sin(pos / 10000^(2i/d_model)), pe[pos, 2i+1] = cos(same),
 * computed in double (the PyTorch tutorial's PositionalEncoding). */
void glia_tf_positional_encoding(float *pe, int steps, int d_model);

/* out [batch, steps, E] = sqrt(E) * e.weight[ids] + pe[start + t] for t < lengths[b]
 * (NULL: all), 0 at padded positions (their ids are not read). pe holds at least
 * start + steps rows of glia_tf_positional_encoding. start is the position of the first
 * step (0, or the decoder position of an incremental step). Bad ids: GLIA_EINVAL. */
glia_status glia_tf_embed_forward(const glia_embedding *e, const float *pe, const int32_t *ids,
                                  const int32_t *lengths, int batch, int steps, int start, float *out,
                                  glia_err *err);
/* Accumulates sqrt(E) * dout into the weight gradient rows of the ids at valid positions
 * (the padding row excepted, as glia_embedding_backward). */
void glia_tf_embed_backward(glia_embedding *e, const int32_t *ids, const int32_t *lengths, int batch,
                            int steps, const float *dout);

/* ---- encoder and decoder stacks ---- */

typedef enum {
    GLIA_TF_ENCODER, /* nn.TransformerEncoder: self-attention (key padding), feed-forward */
    GLIA_TF_DECODER, /* nn.TransformerDecoder: causal self-attention, cross-attention, feed-forward */
} glia_tf_kind;

enum {
    GLIA_TF_MAX_LAYERS = 12,
    GLIA_TF_ENC_LAYER_PARAMS = 12,
    GLIA_TF_DEC_LAYER_PARAMS = 18,
    GLIA_TF_MAX_PARAMS = GLIA_TF_MAX_LAYERS * GLIA_TF_DEC_LAYER_PARAMS + 2,
};

typedef struct {
    int d_model;         /* E */
    int nhead;           /* divides E */
    int dim_feedforward; /* F */
    int num_layers;      /* 1..GLIA_TF_MAX_LAYERS */
    float dropout;       /* [0, 1), every site */
    float layer_norm_eps;
    int norm_first; /* 0: post-norm (PyTorch's default), 1: pre-norm */
} glia_tf_config;

/* nn.Transformer's defaults for a given size: dropout 0.1, eps 1e-5, post-norm. */
glia_tf_config glia_tf_config_default(int d_model, int nhead, int dim_feedforward, int num_layers);

typedef struct {
    glia_tf_kind kind;
    glia_tf_config cfg;
    int per_layer;                         /* parameters per layer: 12 (encoder) or 18 (decoder) */
    int nparams;                           /* num_layers * per_layer + 2 (the final norm) */
    glia_param params[GLIA_TF_MAX_PARAMS]; /* state_dict order, views once bound */
    size_t size;                           /* floats of all parameters */
} glia_tf_stack;

/* Checks cfg, fills names (prefix ".layers.N...." and prefix ".norm.*"; prefix NULL or
 * empty: "layers.N....", "norm.*"), shapes and size. Unbound until glia_tf_stack_bind. */
glia_status glia_tf_stack_init(glia_tf_stack *st, glia_tf_kind kind, const glia_tf_config *cfg,
                               const char *prefix, glia_err *err);
/* Binds every parameter, in order, to consecutive slices of values (st->size floats) and
 * grads (as many, or NULL for inference). Both borrowed. */
void glia_tf_stack_bind(glia_tf_stack *st, float *values, float *grads);
/* nn.Transformer's init: xavier_uniform_ on every matrix, in_proj_bias and out_proj.bias
 * 0, linear biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), norms weight 1, bias 0. */
void glia_tf_stack_reset(glia_tf_stack *st, glia_rng *rng);

typedef struct glia_tf_ctx glia_tf_ctx;

/* A run context for st and batches of up to max_batch sequences of up to max_steps
 * positions; a decoder's memory has up to max_mem_steps positions (ignored for an
 * encoder). training = 1 keeps every layer's activations for backward and applies
 * dropout; 0 shares one layer's buffers among all layers (inference). */
glia_status glia_tf_ctx_new(const glia_tf_stack *st, int max_batch, int max_steps, int max_mem_steps,
                            int training, glia_tf_ctx **out, glia_err *err);
/* The same for batches whose batch x steps (and batch x memory steps) never exceed
 * max_tokens (0: no cap): training batches cut by a token budget hold many short or few long
 * sequences, and sizing for max_batch x max_steps would reserve both at once. A forward over
 * more tokens is GLIA_EINVAL. */
glia_status glia_tf_ctx_new_tokens(const glia_tf_stack *st, int max_batch, int max_steps, int max_mem_steps,
                                   size_t max_tokens, int training, glia_tf_ctx **out, glia_err *err);
void glia_tf_ctx_free(glia_tf_ctx *ctx); /* NULL-safe */
size_t glia_tf_ctx_bytes(const glia_tf_ctx *ctx);

/* Runs x [batch, steps, E] with lengths[b] in 1..steps (NULL: all) through the stack.
 * A decoder also takes memory [batch, mem_steps, E] (the encoder's output) with
 * mem_lengths (NULL: all), attends causally to itself and to the memory's valid
 * positions; an encoder passes memory NULL. rng: dropout's stream, needed when the ctx is
 * training and cfg.dropout > 0 (re-seed it to replay the same masks). *out receives
 * [batch, steps, E] after the final norm, borrowed from ctx until the next forward.
 * Bad sizes or lengths are GLIA_EINVAL. */
glia_status glia_tf_forward(const glia_tf_stack *st, glia_tf_ctx *ctx, const float *x, const int32_t *lengths,
                            int batch, int steps, const float *memory, const int32_t *mem_lengths,
                            int mem_steps, glia_rng *rng, const float **out, glia_err *err);
/* Backward of the last forward of a training ctx (may be repeated). dout [batch, steps,
 * E]: dL/d(out), read only at valid positions. dx [batch, steps, E] is overwritten with
 * dL/dx (0 at padded positions), or skipped when NULL. Decoder: dmemory [batch,
 * mem_steps, E] is overwritten with dL/d(memory), summed over the layers (NULL: skipped);
 * feed it to the encoder's backward as its dout. Parameter gradients accumulate; ready
 * (may be NULL) is told the final norm's, then each layer's from the last down, as the pass
 * leaves them. */
void glia_tf_backward(glia_tf_stack *st, glia_tf_ctx *ctx, const float *dout, float *dx, float *dmemory,
                      const glia_grad_ready *ready);
/* A decoder's cross-attention probabilities of layer `layer` in the last forward, [batch,
 * heads, steps, mem_steps] (valid rows and columns by the lengths; borrowed from ctx until
 * the next forward), for explanations; NULL when ctx does not hold that layer's: an inference
 * ctx shares one layer's buffers, so it holds only the last layer's. */
const float *glia_tf_cross_attention(const glia_tf_ctx *ctx, int layer);
/* Makes a training ctx forward as inference does (no dropout, no rng needed) while it keeps
 * every layer's state: what an explanation reads. */
void glia_tf_ctx_no_dropout(glia_tf_ctx *ctx);

/* ---- incremental decoding (inference) ---- */

/* The keys and values of every decoder layer for the positions decoded so far, and the
 * cross-attention keys/values of the memory, for batches of up to max_batch rows: a step
 * projects one new position per row and attends over the cache, O(position) per layer
 * instead of re-running the prefix. Owns its buffers; one thread at a time. */
typedef struct glia_tf_cache glia_tf_cache;

glia_status glia_tf_cache_new(const glia_tf_stack *dec, int max_batch, int max_steps, int max_mem_steps,
                              glia_tf_cache **out, glia_err *err);
void glia_tf_cache_free(glia_tf_cache *c); /* NULL-safe */
size_t glia_tf_cache_bytes(const glia_tf_cache *c);
/* Starts decoding batch rows against memory [batch, mem_steps, E] (copied into the
 * cache as keys/values; padded memory rows are not read) and sets the position to 0. */
glia_status glia_tf_cache_start(const glia_tf_stack *dec, glia_tf_cache *c, const float *memory,
                                const int32_t *mem_lengths, int batch, int mem_steps, glia_err *err);
/* The same for a memory whose valid rows are packed: sequence b's mem_lengths[b] rows
 * (1..max_mem_steps each, lengths not NULL) follow sequence b-1's, without padding, as the
 * cache keeps them; one product per layer then computes the whole batch's keys/values. */
glia_status glia_tf_cache_start_packed(const glia_tf_stack *dec, glia_tf_cache *c, const float *memory,
                                       const int32_t *mem_lengths, int batch, glia_err *err);
/* The cached step's six products per decoder layer (self in_proj, self out_proj, cross q =
 * in_proj rows 0..E, cross out_proj, linear1, linear2) on copies of their weights packed into
 * panels (core/nn/panel.h): from 5 rows up sgemm would pack them again on every call, and at
 * one row the panel kernel streams them about twice as fast as skinny. */
typedef struct {
    float *block;                    /* owned, NULL until packed */
    float *w[GLIA_TF_MAX_LAYERS][6]; /* into block */
    size_t bytes;
} glia_tf_panels;
/* Packs dec's weights as they are now into p (allocated at the first call: start from a zeroed
 * p); pack again after they change. Only call it when glia_panel_available(). GLIA_ENOMEM. */
glia_status glia_tf_panels_pack(const glia_tf_stack *dec, glia_tf_panels *p, glia_err *err);
void glia_tf_panels_free(glia_tf_panels *p); /* zeroes p; NULL block is fine */
/* The steps that follow run their products on p (borrowed: it must outlive them and hold this
 * stack's weights as they are), or with NULL on the few-row path (skinny, sgemv or sgemm by row
 * count, bf16 where the weights carry copies). */
void glia_tf_cache_use_panels(glia_tf_cache *c, const glia_tf_panels *p);
/* One position for every row: y [batch, E] (the embedded token at this position, with
 * its positional encoding) -> *out [batch, E], the decoder stack's output there (after
 * the final norm), borrowed until the next step. Equals row t of the full causal
 * forward. GLIA_EINVAL once max_steps positions are decoded. */
glia_status glia_tf_cache_step(const glia_tf_stack *dec, glia_tf_cache *c, const float *y, const float **out,
                               glia_err *err);
/* Positions decoded so far. */
int glia_tf_cache_position(const glia_tf_cache *c);
/* Beam search: row r becomes a copy of old row from[r] (keys, values, memory), for
 * r < batch; from[] in [0, batch). The batch size stays the same. */
void glia_tf_cache_reorder(glia_tf_cache *c, const int32_t *from);
/* The same with a new batch size (1..max_batch): row r < batch becomes a copy of old row
 * from[r], from[] in [0, old batch). Grows a batch (one source row per beam) or drops the
 * rows that finished decoding, so later steps cost only what is still running. */
void glia_tf_cache_gather(glia_tf_cache *c, const int32_t *from, int batch);

#endif
