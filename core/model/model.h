/*
 * model.h - the one model interface: what the registry, the worker pool, the codecs, the
 * trainer and the CLI see of any model, whatever its family.
 *
 * A model is a base - its parameters under their PyTorch names and shapes, in state_dict
 * order, as views into one flat value buffer (and one flat gradient buffer once training
 * enables it) - plus a const table of operations that its family implements once:
 *
 *   create / destroy / reset     from a manifest's architecture; PyTorch's initialisation
 *   replica                      a data-parallel lane: shares the values, owns its grads
 *   load / save                  strict safetensors (load_state_dict(strict=True))
 *   ctx_new / ctx_free           everything a run writes, sized once for a batch
 *   forward / backward           training: logits rows for a typed batch, and back
 *   predict                      inference: class logits, or decoded sequences
 *
 * Inputs are typed (glia_batch): images are float tensors, texts are token ids with
 * lengths, decoding options are fields - never floats in a row. Every family answers
 * `forward` with one row of logits per label (a sample for a classifier, a valid target
 * position for a sequence model), so one loss and one training loop serve them all.
 *
 * One table (glia_model_family) maps a manifest's task to its family; nothing outside
 * core/model/ names a family. Adding one = one file here and one row in that table.
 *
 * Threads: a model is read-only during forward/predict, so any number of threads may run
 * it, each with its own ctx. backward writes the model's gradient buffer only.
 */
#ifndef GLIA_MODEL_MODEL_H
#define GLIA_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"
#include "core/base/yamlutil.h"
#include "core/formats/safetensors.h"
#include "core/model/manifest.h"
#include "core/model/tokenizer.h"
#include "core/nn/layer.h"

typedef struct glia_model glia_model;
typedef struct glia_model_ctx glia_model_ctx;

/* What a family takes in and gives out: the codecs and the trainer choose by these, not
 * by the family. */
typedef enum {
    GLIA_INPUT_TENSOR, /* float [n, input_size]: preprocessed pixels */
    GLIA_INPUT_TOKENS, /* int32 ids [n, steps] with lengths [n] */
} glia_input_kind;

typedef enum {
    GLIA_OUTPUT_CLASSES,  /* logits [n, outputs] */
    GLIA_OUTPUT_SEQUENCE, /* one token sequence per input, over a vocabulary of `outputs` ids */
} glia_output_kind;

/* Search settings of a sequence model's predict (the manifest gives the defaults). */
typedef struct {
    int beam_size;        /* 1: greedy */
    int max_tokens;       /* output tokens at most, </s> not counted */
    float length_penalty; /* beam: score = log P / ((5 + n) / 6)^alpha */
    int no_repeat_ngram;  /* > 0: no output repeats an n-gram of this many subword tokens (0: off) */
} glia_decode_opts;

/* A batch of n inputs. Only the fields of the model's input kind are read. */
typedef struct {
    int n;
    const float *x; /* GLIA_INPUT_TENSOR: [n, input_size] */
    /* GLIA_INPUT_TOKENS: row i holds lengths[i] >= 1 ids, then padding up to steps */
    const int32_t *ids;
    const int32_t *lengths;
    int steps;
    /* sequence models in training (teacher forcing): the decoder's input <s> w1 .. wm,
     * row i holds tgt_lengths[i] >= 1 ids; the labels are w1 .. wm </s>, packed */
    const int32_t *tgt;
    const int32_t *tgt_lengths;
    int tgt_steps;
    /* sequence models in predict: one setting for the whole batch */
    glia_decode_opts decode;
} glia_batch;

/* One decoded sequence: ids without <s> and </s>. */
typedef struct {
    const int32_t *ids; /* borrowed from the ctx until its next predict */
    int n;
    double score; /* log-probability (greedy) or the length-penalised beam score */
    int finished; /* 1 when </s> ended it, 0 when max_tokens did */
    /* the source ids it translates, when the caller sets them (predict leaves them NULL, 0):
     * detokenisation reads the source's spacing (glia_tokenizer_decode_translation) */
    const int32_t *src;
    int src_n;
} glia_sequence;

/* Called the moment input i of a predict is decided (sequence models; in the order inputs
 * finish), so that a server can answer a short input without waiting for the longest. */
typedef void (*glia_sequence_fn)(void *user, int i, const glia_sequence *seq);

typedef struct {
    const float *logits;      /* GLIA_OUTPUT_CLASSES: [n, outputs], borrowed from the ctx */
    glia_sequence *seqs;      /* GLIA_OUTPUT_SEQUENCE: caller's array of n, filled */
    glia_sequence_fn on_done; /* may be NULL */
    void *user;
} glia_prediction;

/* ---- explanations: why a model answered what it did (an optional op per family) ---- */

typedef enum {
    GLIA_EXPLAIN_GRADIENT_X_INPUT,     /* images: d logit / d pixel x (pixel - blank) */
    GLIA_EXPLAIN_SMOOTHGRAD,           /* images: the same, averaged over noisy copies */
    GLIA_EXPLAIN_GRADIENT_X_EMBEDDING, /* texts: d logit / d embedding . embedding, per token */
    GLIA_EXPLAIN_INTEGRATED_GRADIENTS, /* texts: along the straight path from zero embeddings */
    GLIA_EXPLAIN_ATTENTION,            /* translation: the decoder's cross-attention */
} glia_explain_method;

/* Caps that bound one explanation's work: a request beyond them is refused, never cut. */
enum { GLIA_EXPLAIN_MAX_SAMPLES = 64, GLIA_EXPLAIN_MAX_STEPS = 256 };

typedef struct {
    glia_explain_method method;
    int target;     /* the class explained, or -1: the predicted one */
    int samples;    /* smoothgrad: noisy copies, 1..GLIA_EXPLAIN_MAX_SAMPLES */
    float noise;    /* smoothgrad: the noise's std as a fraction of range */
    int steps;      /* integrated gradients: 1..GLIA_EXPLAIN_MAX_STEPS */
    float blank;    /* images: the input value of a blank pixel, which gets no attribution */
    float range;    /* images: the width of the input's range (for the noise) */
    uint64_t seed;  /* smoothgrad's noise */
    int all_layers; /* attention: every decoder layer's alignment too */
} glia_explain_opts;

/* One input's explanation; the arrays are the caller's. */
typedef struct {
    float *probs;         /* [outputs]: the softmax of the input's logits */
    float *scores;        /* images: [H * W] (summed over channels); texts: [length] per token */
    int target;           /* the class explained */
    float logit;          /* the target's logit at the input */
    float baseline_logit; /* integrated gradients: the target's logit at the baseline */
    /* sequence models: the decoded output (b->decode's search) explained token by token;
     * room for decode.max_tokens + 1 output tokens (</s> counts when the decoder ended there) */
    int32_t *tokens;         /* [max_tokens + 1]: the output's ids, </s> included when it ended there */
    int ntokens;             /* filled */
    float *log_probs;        /* [max_tokens + 1]: each output token's log-probability given the ones before */
    float *alignment;        /* [max_tokens + 1, source length]: the last decoder layer's cross-attention,
                              * averaged over heads; each row sums to 1 */
    float *layer_alignments; /* with opts->all_layers: malloc'd [nlayers, ntokens, source length],
                              * the caller frees it (NULL otherwise) */
    int nlayers;
} glia_explanation;

/* What a ctx must hold. Inference (training 0) sizes for predict, and for forward without
 * dropout (evaluation; a sequence model's needs max_tgt_steps > 0); training for
 * forward/backward of the largest batch, which keeps activations and applies dropout. */
typedef struct {
    int max_batch;     /* inputs per call; for a sequence model's predict: decoder rows */
    int max_steps;     /* GLIA_INPUT_TOKENS: longest input */
    int max_tgt_steps; /* sequence models in training: longest decoder input; > 0 without
                        * training: forward (teacher-forced evaluation), no dropout, no backward */
    size_t max_tokens; /* sequence models in training: batch x steps at most on either side (0: no cap) */
    int max_beam;      /* sequence models in predict: largest beam_size a call may ask (0: 1) */
    int training;
} glia_ctx_spec;

typedef struct {
    const char *task;   /* the manifest's task this family implements */
    const char *family; /* a short name for messages and metrics: "cnn", "text-classifier", ... */
    glia_input_kind input;
    glia_output_kind output;
    glia_tokenizer_kind tokenizer;
    /* The manifest's family sections (input, architecture, the tokenizer's file, decoding)
     * from its root mapping, into m; glia_manifest_load has read the common keys (name,
     * task, version, weights, labels, evaluation) and calls this once. Errors name the file,
     * line and key. */
    glia_status (*parse_manifest)(glia_yaml *y, yaml_node_t *root, glia_manifest *m, glia_err *err);
    /* Families with a tokenizer: the architecture's vocabulary is the tokenizer's `size` ids.
     * Fills it in m when the manifest left it 0; GLIA_EINVAL when the manifest states another. */
    glia_status (*set_vocab_size)(glia_manifest *m, int size, glia_err *err);
    /* Builds an unset model (zero weights) from the manifest's architecture; a vocabulary
     * size of 0 in the manifest must have been filled from the tokenizer before. */
    glia_status (*create)(const glia_manifest *m, glia_model **out, glia_err *err);
    void (*destroy)(glia_model *model);
    /* PyTorch's initialisation, drawn from rng in state_dict order. */
    void (*reset)(glia_model *model, glia_rng *rng);
    glia_status (*enable_grads)(glia_model *model, glia_err *err);
    /* A model whose values ARE master's and whose gradients are its own (enabled). */
    glia_status (*replica)(const glia_model *master, glia_model **out, glia_err *err);
    glia_status (*load)(glia_model *model, const glia_st_file *st, glia_err *err);
    glia_status (*save)(const glia_model *model, const char *path, const char *const *meta, glia_err *err);
    glia_status (*ctx_new)(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                           glia_err *err);
    void (*ctx_free)(glia_model_ctx *ctx);
    size_t (*ctx_bytes)(const glia_model_ctx *ctx);
    /* *logits [rows, outputs] borrowed from ctx, one row per label (see the file comment);
     * rng draws dropout (training ctx; NULL: none). */
    glia_status (*forward)(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b, glia_rng *rng,
                           const float **logits, int *rows, glia_err *err);
    /* dlogits [rows, outputs] of the last forward; accumulates into model->grads. ready (may
     * be NULL; its grads = model->grads) is told, as the pass goes, each range of the buffer
     * that nothing later in the pass adds to: from the tail to the head, the same ranges for
     * every batch, covering every float once (frozen tables too) - which lets data-parallel
     * training sum the last layers' gradients across processes while the first layers'
     * are still being computed (core/train/loop.c). */
    void (*backward)(glia_model *model, glia_model_ctx *ctx, const float *dlogits,
                     const glia_grad_ready *ready);
    /* Inference ctx, no dropout. */
    glia_status (*predict)(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                           glia_prediction *out, glia_err *err);
    /* Optional (NULL: the family explains nothing). Explains input 0 of b (n = 1) for the
     * class opts->target; GLIA_EUNSUPPORTED for a method the family has not, GLIA_EINVAL for
     * a target or setting out of range. Reads the model only, so it runs on a served model
     * from any thread; what it writes is sized by the input and the caps above, allocated
     * per call and freed before it returns. */
    glia_status (*explain)(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                           glia_explanation *out, glia_err *err);
    /* Optional (NULL: the family runs fp32 only). The i-th (from 0) of the weights whose
     * products dominate inference - the very glia_param structs the forward passes read,
     * which take the bf16 path when they carry a copy - or NULL past the last. */
    glia_param *(*matrix)(glia_model *model, int i);
    /* Optional (NULL: nothing to prepare). on = 1 makes the family's fp32 inference copies of
     * weights in the layout a kernel reads fastest (the LSTM's transposed W_ih and W_hh,
     * core/nn/lstm_step.h) from the values as they are now, and from then on remade after
     * every weights_changed, before the next inference forward reads them; on = 0 frees them.
     * Called by glia_model_set_precision, after it attached any bf16 copies (the family makes
     * what its bf16 path reads: the text classifier's token table from the bf16 copy of
     * W_ih), and with on = 0 by glia_model_free. */
    glia_status (*prepare)(glia_model *model, int on, glia_err *err);
    /* Optional (NULL: the family derives nothing from its weights). Told that the values were
     * written (glia_model_weights_changed), so that what its inference derived from them and
     * keeps (the CNN: batch norm folded into the conv, Winograd's transformed weights; the text
     * classifier: prepare's copies) is derived again. A replica and its master share one
     * account: either may be told. */
    void (*weights_changed)(const glia_model *model);
} glia_model_ops;

struct glia_model {
    const glia_model_ops *ops;
    int nparams;
    glia_param *params; /* every stored tensor in state_dict order (views; the family's) */
    int ntrainable;
    glia_param *trainable; /* what an optimizer updates (frozen tables left out) */
    size_t size;           /* floats of all parameters (and buffers) */
    float *values;         /* the flat parameter buffer */
    float *grads;          /* the flat gradient buffer, NULL until enable_grads */
    /* Buffers (batch norm's running statistics): the last nbuffers of values' size floats
     * are no parameters - the gradient buffer is size - nbuffers long - and a training
     * forward writes them at `buffers` (values' tail; a replica's own copy, which the
     * trainer averages over the lanes after each step). 0 and NULL in families without. */
    size_t nbuffers;
    float *buffers;
    size_t input_size; /* GLIA_INPUT_TENSOR: floats per input */
    int outputs;       /* the width of a logits row: classes, or the vocabulary */
    void *impl;        /* the family's own object */
    /* the precision in effect (glia_model_set_precision; fp32 from create) and the bytes its
     * bf16 copies take (0 in fp32; the fp32 inference copies of ops->prepare, such as the
     * text classifier's token table, are not counted here) */
    glia_precision precision;
    size_t bf16_bytes;
};

/* The family for a task, or NULL when glia has none. */
const glia_model_ops *glia_model_family(const char *task);
/* The tasks glia knows, comma-separated, for error messages. */
const char *glia_model_tasks(void);

/* The manifest's family, or GLIA_EUNSUPPORTED naming the task. */
glia_status glia_model_new(const glia_manifest *m, glia_model **out, glia_err *err);
void glia_model_free(glia_model *model); /* NULL-safe */

/* Makes inference run in `want`: bf16 packs a bf16 copy of each of the family's matrices
 * (ops->matrices) from their current values - when glia_bf16_available() and the family has
 * matrices; otherwise the model stays fp32 - and fp32 frees the copies. model->precision
 * then says what is in effect. For served models only, after load (and again after loading
 * other values: the bf16 copies do not follow the fp32 buffer, as ops->prepare's do); never on a model being
 * trained. GLIA_ENOMEM leaves the model fp32. */
glia_status glia_model_set_precision(glia_model *model, glia_precision want, glia_err *err);
/* Every writer of a model's values calls this after writing them (an optimizer step, a
 * checkpoint's restore, the best weights copied back, a precision change; ops->load does it
 * itself): an inference ctx reuses what it derived from the weights until then. */
void glia_model_weights_changed(const glia_model *model);
/* "fp32" / "bf16", and back (-1: neither). */
const char *glia_precision_name(glia_precision p);
int glia_precision_parse(const char *s);
/* The manifest's decoding settings: what a sequence model's predict uses when a request
 * names none. */
glia_decode_opts glia_model_decode_defaults(const glia_manifest *m);
void glia_model_zero_grads(glia_model *model);
/* The method's name in the API ("gradient_x_input", ...), and back (-1: unknown). */
const char *glia_explain_method_name(glia_explain_method m);
int glia_explain_method_parse(const char *name);
/* Checks opts against the caps, then runs the family's explain; GLIA_EUNSUPPORTED when the
 * family has none. */
glia_status glia_model_explain(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                               glia_explanation *out, glia_err *err);
/* probs[k] = softmax(logits)[k] (numerically stable); returns the argmax. */
int glia_softmax_argmax(const float *logits, int k, float *probs);
const glia_param *glia_model_find_param(const glia_model *model, const char *name);

#endif
