/*
 * textnet.h - the text classifier: token ids in, class logits out.
 *
 *   x      = cat(embedding(ids), lexicon(ids))         [B, T, E + K]   (lexicon optional)
 *   x      = dropout(x, embedding_dropout)             (training only; x[..., :E] only when
 *                                                        dropout_words_only)
 *   h      = rnn(x, lengths)                           [B, T, F]       (LSTM or tanh RNN, F = H * dirs)
 *   p      = pool_over_valid_steps(h)                  [B, F]          (last, mean or max)
 *   logits = fc(dropout(p, dropout))                   [B, C]
 *
 * The PyTorch module it matches (tests/parity/glia_torch.py builds it from a manifest)
 * registers, in this order: embedding = nn.Embedding(V, E, padding_idx=0), lexicon =
 * nn.Embedding(V, K) with requires_grad False (frozen per-token features, e.g. lexicon
 * scores, computed from word lists when the vocabulary is built), rnn = nn.LSTM(E + K, H,
 * num_layers, batch_first=True, bidirectional) run on pack_padded_sequence, fc =
 * nn.Linear(F, C). Hence the state_dict names: embedding.weight, lexicon.weight,
 * rnn.weight_ih_l0 ..., fc.weight, fc.bias. Padding id 0 and unknown id 1 are the
 * vocabulary's (core/text/vocab.h).
 *
 * Memory follows net.h: the net holds the parameters (one flat buffer, one gradient
 * buffer for training) and is read-only while serving; a glia_textnet_ctx, sized once
 * for (max_batch, max_steps), holds everything a run writes, so any number of threads
 * run one net with their own ctxs. Forward and backward never allocate.
 */
#ifndef GLIA_NN_TEXTNET_H
#define GLIA_NN_TEXTNET_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"
#include "core/formats/safetensors.h"
#include "core/nn/rnn.h"

typedef struct {
    int vocab_size;          /* rows of both tables, "<pad>" and "<unk>" included */
    int embedding_dim;       /* E */
    int lexicon_features;    /* K: frozen features appended to each embedding; 0 = no lexicon table */
    glia_rnn_mode mode;      /* LSTM or tanh RNN */
    int hidden_size;         /* H */
    int num_layers;          /* 1..GLIA_RNN_MAX_LAYERS */
    int bidirectional;       /* 0 or 1 */
    glia_rnn_pool pool;      /* how the steps become one vector */
    float embedding_dropout; /* on x, in [0, 1) */
    int dropout_words_only;  /* 1: embedding_dropout drops only the embedding's E columns of x, never
                                the frozen lexicon features (the word lists are a sure signal) */
    float dropout;           /* on the pooled vector, in [0, 1) */
    int num_classes;         /* C >= 2 */
} glia_textnet_config;

enum {
    GLIA_TEXTNET_MAX_PARAMS = GLIA_RNN_MAX_PARAMS + 4,
    GLIA_TEXTNET_PAD_ID = 0, /* the embedding's padding_idx: core/text/vocab.h's GLIA_VOCAB_PAD */
};

typedef struct {
    glia_textnet_config cfg;
    glia_embedding embedding, lexicon; /* lexicon unused when cfg.lexicon_features == 0 */
    glia_rnn rnn;
    int input_size; /* E + K */
    int features;   /* F: the rnn's output size */
    int nparams;    /* every tensor of the state_dict, in its order */
    glia_param params[GLIA_TEXTNET_MAX_PARAMS];
    int ntrainable; /* the same minus the frozen lexicon: what an optimizer updates */
    glia_param trainable[GLIA_TEXTNET_MAX_PARAMS];
    glia_param *fc_weight, *fc_bias; /* views into params[] */
    size_t size;                     /* floats of all parameters */
    float *values;                   /* owned */
    float *grads;                    /* owned, NULL until glia_textnet_enable_grads */
    int shares_values;               /* a replica: values belong to another net */
    /* inference (glia_textnet_prepare): the LSTM's layer-0 projection of every token, owned,
     * [vocab_size, directions, 4H] (glia_rnn_forward_table), or NULL */
    float *token_table;
    /* The weights' generation, as net.h's: renewed by glia_textnet_weights_changed whenever
     * anything writes the values; behind a pointer, so that a replica follows its master's. */
    atomic_ulong *generation;
    atomic_ulong own_generation;
    /* Owned: which generation token_table and rnn.packed were made from, and the lock under
     * which the one inference forward that finds them older remakes them (textnet.c). */
    struct glia_textnet_copies *copies;
} glia_textnet;

/* Checks cfg (every field named in its message) and builds the net with zero weights. */
glia_status glia_textnet_new(const glia_textnet_config *cfg, glia_textnet **out, glia_err *err);
void glia_textnet_free(glia_textnet *net); /* NULL-safe */

/* Inference copies made from the weights as they are now (on = 1) or freed (on = 0): the
 * LSTM's transposed weights (glia_rnn_pack) and, when it takes at most
 * GLIA_TEXTNET_TABLE_MAX_BYTES, the table of every token's layer-0 projection, through which
 * an inference forward gathers rows instead of multiplying (glia_rnn_forward_table). Until
 * prepare(net, 0) the copies follow the weights: an inference forward that finds the
 * generation moved since they were made remakes them first (once, under a lock, whichever
 * thread gets there; the others wait), so a writer only announces its write
 * (glia_textnet_weights_changed). A failed remake (out of memory) leaves no copies, and
 * forwards take the plain path. Training never reads the copies. */
enum { GLIA_TEXTNET_TABLE_MAX_BYTES = 32 << 20 };
glia_status glia_textnet_prepare(glia_textnet *net, int on, glia_err *err);
/* Says that net's values were written - by a load, a reset, an optimizer step, a checkpoint's
 * restore, anything - so that the inference copies are remade before the next inference
 * forward reads them. Thread-safe (an atomic add), but, as for net.h's nets, writing the values
 * while another thread runs the net is not made safe by anything. */
void glia_textnet_weights_changed(const glia_textnet *net);
/* PyTorch's default initialisation of every trainable parameter, drawn from rng in
 * state_dict order: embedding N(0, 1) with a zero padding row, rnn U(-1/sqrt(H),
 * 1/sqrt(H)), fc kaiming-uniform. The lexicon table is left as it is. */
void glia_textnet_reset(glia_textnet *net, glia_rng *rng);
glia_status glia_textnet_enable_grads(glia_textnet *net, glia_err *err);
/* A net whose parameter values ARE master's (shared, never copied) and whose gradients are
 * its own (enabled): a data-parallel training lane. master must outlive the replica. */
glia_status glia_textnet_replica(const glia_textnet *master, glia_textnet **out, glia_err *err);
void glia_textnet_zero_grads(glia_textnet *net);
const glia_param *glia_textnet_find_param(const glia_textnet *net, const char *name);

/* Strict load (every tensor present with its shape, nothing unexpected) and atomic save. */
glia_status glia_textnet_load(glia_textnet *net, const glia_st_file *st, glia_err *err);
glia_status glia_textnet_save(const glia_textnet *net, const char *path, const char *const *meta,
                              glia_err *err);

typedef struct glia_textnet_ctx glia_textnet_ctx;

/* A run context for up to max_batch sequences of up to max_steps tokens. training = 1
 * keeps what backward needs and applies dropout. */
glia_status glia_textnet_ctx_new(const glia_textnet *net, int max_batch, int max_steps, int training,
                                 glia_textnet_ctx **out, glia_err *err);
void glia_textnet_ctx_free(glia_textnet_ctx *ctx); /* NULL-safe */
size_t glia_textnet_ctx_bytes(const glia_textnet_ctx *ctx);

/* ids [batch, steps] (row b holds lengths[b] >= 1 valid ids, then anything), batch <=
 * max_batch, steps <= max_steps. *logits [batch, C] is borrowed from ctx until the next
 * forward. rng draws the dropout masks of a training ctx (ignored otherwise). An id outside
 * the vocabulary or a bad length is GLIA_EINVAL naming it. */
glia_status glia_textnet_forward(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                                 const int32_t *lengths, int batch, int steps, glia_rng *rng,
                                 const float **logits, glia_err *err);
/* Backward pass of the last forward of a training ctx for dlogits = dL/d(logits) [batch, C]:
 * accumulates into the trainable parameters' gradients (never the lexicon's), and tells
 * ready (may be NULL) what is final as it goes: fc, then the rnn, then both tables. */
void glia_textnet_backward(glia_textnet *net, glia_textnet_ctx *ctx, const float *dlogits,
                           const glia_grad_ready *ready);

/* ---- gradients with respect to the token vectors x = cat(embedding, lexicon), for
 * explanations; the net is only read (a served net has no gradient buffer) ---- */

/* A ctx that keeps what a backward needs, as a training ctx does, with inference's forward
 * (no dropout). */
glia_status glia_textnet_ctx_new_input_grad(const glia_textnet *net, int max_batch, int max_steps,
                                            glia_textnet_ctx **out, glia_err *err);
/* glia_textnet_forward with row b's token vectors scaled by alpha[b] (alpha NULL: 1), the
 * straight path from the all-zero input that integrated gradients walks. */
glia_status glia_textnet_forward_scaled(const glia_textnet *net, glia_textnet_ctx *ctx, const int32_t *ids,
                                        const int32_t *lengths, int batch, int steps, const float *alpha,
                                        const float **logits, glia_err *err);
/* The token vectors [batch, steps, input_size] the last forward ran on (borrowed). */
const float *glia_textnet_inputs(const glia_textnet_ctx *ctx);
/* dx [batch, steps, input_size] = dL/dx of the last forward of an input-gradient ctx, for
 * dlogits [batch, C] (0 at padded steps). */
void glia_textnet_input_backward(const glia_textnet *net, glia_textnet_ctx *ctx, const float *dlogits,
                                 float *dx);

#endif
