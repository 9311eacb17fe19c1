/*
 * rnn.h - the sequence layers of a text classifier: token embedding, multi-layer
 * (bidirectional) tanh RNN and LSTM with backpropagation through time, and pooling of
 * the per-step outputs over time.
 *
 * Everything here is PyTorch's: nn.Embedding (padding_idx row gets no gradient),
 * nn.RNN(nonlinearity='tanh') and nn.LSTM with batch_first=True (gate order i, f, g, o;
 * parameters weight_ih_l{k}[_reverse] [G*H, in], weight_hh_l{k}[_reverse] [G*H, H],
 * bias_ih_l{k}[_reverse], bias_hh_l{k}[_reverse] [G*H], in state_dict order: layer,
 * then direction, then w_ih, w_hh, b_ih, b_hh), zero initial states, and PyTorch's
 * default initialisation.
 *
 * Batches hold sequences of different lengths: sequence b has lengths[b] valid steps
 * (1..steps), the rest is padding. The result is what pack_padded_sequence gives:
 * the reverse direction starts at lengths[b] - 1, outputs at padded steps are 0, h_n
 * is the state after each sequence's own last step, and nothing at a padded position
 * (input values, output gradients, token ids) is ever read into a result. A sequence's
 * outputs and gradients do not depend on its neighbours in the batch.
 *
 * Memory: these modules own no parameter buffers (glia_rnn_pack's inference copy aside). Their parameters are
 * glia_param views (PyTorch names, shapes) into a flat buffer the caller binds, so a model that composes them
 * keeps one parameter buffer and one gradient buffer and saves/loads them with the safetensors code
 * (core/nn/params.h). Everything a forward/backward writes lives in a glia_rnn_ctx sized once for (max_batch,
 * max_steps); forward and backward never allocate. A ctx belongs to one thread at a time; any number of ctxs
 * can run one glia_rnn concurrently.
 *
 * Backward ACCUMULATES parameter gradients (+=), so the caller zeroes them once per
 * step; input gradients (dx) are overwritten. Never: allocate in forward/backward,
 * read a padded position, or keep a pointer to a caller's input.
 */
#ifndef GLIA_NN_RNN_H
#define GLIA_NN_RNN_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"
#include "core/nn/layer.h"

/* ---- embedding (nn.Embedding) ---- */

typedef struct {
    int num_embeddings, embedding_dim;
    int padding_idx;   /* normalised to [0, num_embeddings), or -1 for none */
    glia_param weight; /* "weight" [num_embeddings, embedding_dim] */
} glia_embedding;

/* Sets the shape and the name (prefix "." "weight", or "weight" when prefix is NULL or
 * empty). has_padding_idx 0: no padding row; else padding_idx in [-num, num), negative
 * counting from the end as in PyTorch. The weight is unbound until glia_embedding_bind. */
glia_status glia_embedding_init(glia_embedding *e, int num_embeddings, int embedding_dim, int has_padding_idx,
                                int padding_idx, const char *prefix, glia_err *err);
/* Binds the weight to values (num_embeddings * embedding_dim floats) and grads (as many,
 * or NULL for inference). Both borrowed. */
void glia_embedding_bind(glia_embedding *e, float *values, float *grads);
/* PyTorch's init: N(0, 1), then the padding row set to zero. */
void glia_embedding_reset(glia_embedding *e, glia_rng *rng);
/* out [batch, steps, dim] = weight[ids[b, t]] for t < lengths[b] (lengths NULL: every step
 * valid); padded positions of out are 0 and their ids are not read. An id outside
 * [0, num_embeddings) at a valid position is GLIA_EINVAL naming it. */
glia_status glia_embedding_forward(const glia_embedding *e, const int32_t *ids, const int32_t *lengths,
                                   int batch, int steps, float *out, glia_err *err);
/* Accumulates dout [batch, steps, dim] into the weight's gradient rows of the ids at valid
 * positions, except the padding row (PyTorch's padding_idx semantics). ids and lengths
 * are the forward's (already validated). */
void glia_embedding_backward(glia_embedding *e, const int32_t *ids, const int32_t *lengths, int batch,
                             int steps, const float *dout);

/* ---- RNN and LSTM (nn.RNN, nn.LSTM with batch_first=True) ---- */

typedef enum {
    GLIA_RNN_TANH, /* h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) */
    GLIA_RNN_LSTM, /* gates i, f, g, o; c' = f c + i g; h' = o tanh(c') */
} glia_rnn_mode;

enum { GLIA_RNN_MAX_LAYERS = 8, GLIA_RNN_MAX_PARAMS = GLIA_RNN_MAX_LAYERS * 2 * 4 };

typedef struct {
    glia_rnn_mode mode;
    int input_size, hidden_size, num_layers, bidirectional;
} glia_rnn_config;

typedef struct {
    glia_rnn_config cfg;
    int gates;                              /* G: 4 for LSTM, 1 for RNN */
    int directions;                         /* 2 if bidirectional, else 1 */
    int output_size;                        /* hidden_size * directions: features per step of the output */
    int nparams;                            /* num_layers * directions * 4 */
    glia_param params[GLIA_RNN_MAX_PARAMS]; /* state_dict order, views once bound */
    size_t size;                            /* floats of all parameters */
    /* inference: owned W_ih^T and W_hh^T of every layer and direction (glia_rnn_pack), or NULL */
    float *packed;
} glia_rnn;

/* Checks cfg and fills names (prefix "." name, or the bare name when prefix is NULL or
 * empty), shapes and size. Parameters are unbound until glia_rnn_bind. */
/* One LSTM step of one sequence after its products: a [4H] holds the gate pre-activations
 * (i, f | g | o, PyTorch's order) and is activated in place; c [H] becomes the new cell and
 * y [H] the new hidden state o * tanh(c). The forward pass and bench_text run this. */
void glia_lstm_cell(float *restrict a, float *restrict c, float *restrict y, int H);

glia_status glia_rnn_init(glia_rnn *rnn, const glia_rnn_config *cfg, const char *prefix, glia_err *err);
/* Binds every parameter, in state_dict order, to consecutive slices of values (rnn->size
 * floats) and grads (as many, or NULL for inference). Both borrowed. */
void glia_rnn_bind(glia_rnn *rnn, float *values, float *grads);
/* Inference: an LSTM's W_ih and W_hh transposed, copied once from the values as they are now,
 * which a forward of fewer than 16 sequences then reads instead of transposing them on every
 * call (lstm_step.h); rnn owns the copy until glia_rnn_unpack. A no-op for a tanh RNN or where
 * the kernels do not run. Whoever changes the weights afterwards packs again or unpacks: a
 * forward reads the copy as it is. */
glia_status glia_rnn_pack(glia_rnn *rnn, glia_err *err);
void glia_rnn_unpack(glia_rnn *rnn); /* frees the copy; safe without one */

/* PyTorch's init: every parameter U(-1/sqrt(H), 1/sqrt(H)), drawn in state_dict order. */
void glia_rnn_reset(glia_rnn *rnn, glia_rng *rng);
/* "rnn_tanh" / "lstm" (PyTorch's mode strings); GLIA_ENOTFOUND otherwise. */
glia_status glia_rnn_mode_parse(const char *name, glia_rnn_mode *mode, glia_err *err);

typedef struct glia_rnn_ctx glia_rnn_ctx;

/* A run context for rnn's configuration and batches of up to max_batch sequences of up
 * to max_steps steps. training = 1 keeps what backward needs (every layer's output, the
 * gates and cell states of every step, a copy of the input). */
glia_status glia_rnn_ctx_new(const glia_rnn *rnn, int max_batch, int max_steps, int training,
                             glia_rnn_ctx **out, glia_err *err);
void glia_rnn_ctx_free(glia_rnn_ctx *ctx); /* NULL-safe */
/* Bytes this ctx holds (for memory budgets). */
size_t glia_rnn_ctx_bytes(const glia_rnn_ctx *ctx);

/* Runs x [batch, steps, input_size] (contiguous) with lengths[b] in 1..steps (NULL: all
 * steps) through every layer. *out receives the last layer's output [batch, steps,
 * output_size], borrowed from ctx until the next forward; 0 at padded steps. Bad sizes or
 * lengths are GLIA_EINVAL. */
glia_status glia_rnn_forward(const glia_rnn *rnn, glia_rnn_ctx *ctx, const float *x, const int32_t *lengths,
                             int batch, int steps, const float **out, glia_err *err);
/* Inference of token sequences whose layer-0 input x_t is a fixed row per token (an embedding
 * lookup): the input projection of every possible row done once, so a forward gathers rows
 * instead of multiplying. table [rows, directions, 4H] = b_ih + b_hh + x_r W_ih^T for each
 * direction of layer 0 (glia_rnn_table_fill from x [rows, input_size]; the caller owns it and
 * fills it again when the weights change). glia_rnn_forward_table runs glia_rnn_forward with
 * the positions' rows table[ids[b, t]] (ids validated by the caller, read at valid positions
 * only), on an inference ctx for which glia_rnn_table_ok answers 1 (the LSTM kernels run every
 * direction in fp32, or both matrices of every direction of layer 0 carry bf16 copies, whose
 * product the table then holds: glia_rnn_table_fill multiplies by the copy); results as
 * glia_rnn_forward's up to the order of sums. */
int glia_rnn_table_ok(const glia_rnn *rnn, const glia_rnn_ctx *ctx, int batch);
void glia_rnn_table_fill(const glia_rnn *rnn, const float *x, int rows, float *table);
glia_status glia_rnn_forward_table(const glia_rnn *rnn, glia_rnn_ctx *ctx, const float *table,
                                   const int32_t *ids, const int32_t *lengths, int batch, int steps,
                                   const float **out, glia_err *err);

/* The last forward's final states, PyTorch's h_n / c_n layout [num_layers * directions,
 * batch, hidden_size] (index layer * directions + direction), borrowed from ctx. c_n is
 * NULL for a tanh RNN. */
const float *glia_rnn_h_n(const glia_rnn_ctx *ctx);
const float *glia_rnn_c_n(const glia_rnn_ctx *ctx);

/* Backpropagation through time for the last forward of a training ctx (may be repeated).
 * dout [batch, steps, output_size]: dL/d(output), read only at valid steps. dh_n, dc_n:
 * dL/d(h_n), dL/d(c_n) in h_n's layout, or NULL for zero (dc_n ignored for a tanh RNN).
 * dx [batch, steps, input_size] is overwritten with dL/dx (0 at padded steps), or skipped
 * when NULL. Parameter gradients are accumulated into the bound grads. */
void glia_rnn_backward(glia_rnn *rnn, glia_rnn_ctx *ctx, const float *dout, const float *dh_n,
                       const float *dc_n, float *dx);

/* ---- pooling over time, for a classifier head ---- */

typedef enum {
    GLIA_RNN_POOL_LAST, /* last valid state; bidirectional: forward half at lengths-1, reverse half at 0 */
    GLIA_RNN_POOL_MEAN, /* mean over the valid steps */
    GLIA_RNN_POOL_MAX,  /* max over the valid steps per feature; ties to the first, NaN wins */
} glia_rnn_pool;

/* "last" / "mean" / "max"; GLIA_ENOTFOUND otherwise. */
glia_status glia_rnn_pool_parse(const char *name, glia_rnn_pool *pool, glia_err *err);

/* x [batch, steps, features] (an RNN's output, features = directions * hidden) ->
 * y [batch, features]. directions (1 or 2) matters only for LAST. lengths as for forward
 * (validated there); padded steps are not read. */
void glia_rnn_pool_forward(glia_rnn_pool pool, const float *x, const int32_t *lengths, int batch, int steps,
                           int features, int directions, float *y);
/* dx [batch, steps, features] is overwritten with dL/dx for dy = dL/dy [batch, features]
 * (0 at padded steps and at steps the pooling did not pick). x is the forward's (MAX
 * finds its maxima again, so no state is kept between the calls). */
void glia_rnn_pool_backward(glia_rnn_pool pool, const float *x, const int32_t *lengths, int batch, int steps,
                            int features, int directions, const float *dy, float *dx);

#endif
