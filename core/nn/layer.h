/*
 * layer.h - the layer interface of libglia's sequential networks.
 *
 * A layer is a small object with a const vtable (glia_layer_ops) and plain config.
 * Shapes are per sample, (C, H, W) in PyTorch's NCHW order; a feature vector of n
 * values is (n, 1, 1), so flatten is free and matches torch.flatten(x, 1).
 *
 * Memory: a layer owns no buffers. Its parameters are views into the network's one
 * flat parameter buffer (and gradient buffer), laid out in PyTorch's state_dict order;
 * activations, scratch space and the per-sample state a backward pass needs (max-pool
 * argmax, dropout mask) come from a glia_pass owned by the caller, sized once from
 * what init() reported. Forward and backward never allocate.
 *
 * Math and names are PyTorch's: conv is cross-correlation, Linear is y = x W^T + b,
 * parameters are "weight" and "bias". Backward ACCUMULATES parameter gradients (+=),
 * so the caller zeroes them once per step; the input gradient dx is overwritten.
 */
#ifndef GLIA_NN_LAYER_H
#define GLIA_NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/err.h"
#include "core/base/rng.h"

typedef struct {
    int c, h, w;
} glia_shape3;

static inline size_t glia_shape3_size(glia_shape3 s)
{
    return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

typedef enum {
    GLIA_LAYER_CONV2D,
    GLIA_LAYER_MAXPOOL2D,
    GLIA_LAYER_AVGPOOL2D,
    GLIA_LAYER_LINEAR,
    GLIA_LAYER_RELU,
    GLIA_LAYER_TANH,
    GLIA_LAYER_SIGMOID,
    GLIA_LAYER_FLATTEN,
    GLIA_LAYER_DROPOUT,
    GLIA_LAYER_BATCHNORM2D,
} glia_layer_kind;

enum { GLIA_MAX_PARAMS = 2, GLIA_MAX_BUFFERS = 3, GLIA_NAME_MAX = 128 };

typedef struct glia_bf16_mat glia_bf16_mat; /* bf16.h */

typedef struct {
    char name[GLIA_NAME_MAX]; /* full PyTorch path, e.g. "features.0.weight" */
    int ndim;
    int64_t shape[4];
    size_t size;  /* element count */
    float *value; /* borrowed view into the network's parameter buffer */
    float *grad;  /* borrowed view into a gradient buffer, or NULL (inference) */
    int decay;    /* informational: the optimizers decay every parameter, as torch.optim does */
    /* a buffer (batch norm's running statistics), not a parameter: saved and loaded with the
     * weights, never trained, no gradient (grad stays NULL) */
    int buffer;
    /* held as a float (exact below 2^24) but an int64 in weights files, as PyTorch's
     * num_batches_tracked is */
    int int64;
    /* inference in bf16 (bf16.h): an owned packed copy of this matrix that the layer's
     * products read instead of value, or NULL (fp32; always so in training) */
    glia_bf16_mat *bf16;
} glia_param;

/* Told during a backward pass that a range of the flat gradient buffer is final: nothing
 * later in the same pass adds to it. Data-parallel training starts summing those gradients
 * across processes while the pass goes on (core/train/loop.c); a parameter whose gradient
 * gathers contributions from several places (a tied embedding) is reported after its last.
 * Offsets count floats from grads, the start of the model's gradient buffer. The ranges a
 * pass reports depend on the architecture alone, never on the batch. */
typedef struct {
    void (*fn)(void *user, size_t offset, size_t count);
    void *user;
    const float *grads; /* borrowed */
} glia_grad_ready;

/* Reports params first .. last (consecutive views into ready->grads, in that order) as
 * final; NULL ready: nothing to do. */
void glia_grad_ready_params(const glia_grad_ready *ready, const glia_param *first, const glia_param *last);
/* Reports floats [offset, offset + count) of ready->grads as final (NULL ready: nothing). */
void glia_grad_ready_range(const glia_grad_ready *ready, size_t offset, size_t count);

/* Everything a forward/backward call may touch besides x, y, dx, dy. */
typedef struct {
    float *scratch; /* at least layer->scratch_floats(n) floats, shared by all layers */
    void *saved;    /* this layer's saved state: at least saved_bytes_per_sample * n */
    int training;   /* dropout active, saved state written */
    glia_rng *rng;  /* dropout masks; may be NULL when !training */
    /* a pass kept for a backward to the inputs (explanations), not for training: saved
     * state is written but dropout is the identity both ways, as in inference */
    int no_dropout;
} glia_pass;

typedef struct glia_layer glia_layer;

typedef struct {
    const char *type; /* manifest spelling: "conv2d", "maxpool2d", ... */
    /* Checks the config against the input shape; sets out, params[] and buffers[] shapes
     * and sizes, nparams, nbuffers, saved_bytes_per_sample and scratch_floats_per_sample. */
    glia_status (*init)(glia_layer *l, glia_shape3 in, glia_err *err);
    /* PyTorch's default initialisation for this module type (kaiming_uniform a=sqrt(5)
     * for weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for biases; batch norm: weight 1,
     * bias 0, running mean 0, running variance 1, no batch tracked). */
    void (*reset)(glia_layer *l, glia_rng *rng);
    /* x is (n, in), y is (n, out); both contiguous. */
    void (*forward)(glia_layer *l, const float *x, float *y, int n, glia_pass *p);
    /* dy is (n, out); dx (n, in) is overwritten, or skipped when NULL; parameter
     * gradients are accumulated into params[i].grad. x and y are the forward's. */
    void (*backward)(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                     glia_pass *p);
} glia_layer_ops;

struct glia_layer {
    const glia_layer_ops *ops;
    glia_layer_kind kind;
    char name[GLIA_NAME_MAX]; /* module path, e.g. "features.0" */
    glia_shape3 in, out;
    int nparams;
    glia_param params[GLIA_MAX_PARAMS];
    /* buffers, after the parameters in state_dict order; views into the value buffer's tail
     * (a replica's own copy: see net.h) */
    int nbuffers;
    glia_param buffers[GLIA_MAX_BUFFERS];
    size_t saved_bytes_per_sample;
    size_t scratch_floats_per_sample;
    union {
        struct {
            int in_channels, out_channels, kernel, stride, padding;
            /* not in manifests: set by the network when a ReLU follows and is folded
             * in. The layer then computes relu(conv(x)) (y is the ReLU's output, dy is
             * with respect to it), which saves two passes over the largest activations
             * per conv; the ReLU layer itself is skipped. */
            int relu;
            /* not in manifests: an inference plan's copy of the layer (net.c) sets it to the
             * weights transformed for glia_winograd_conv, which forward then uses; NULL in
             * every layer of a net, so training and input gradients never see it */
            const float *winograd;
            /* not in manifests: with winograd, an inference plan's copy sets it when a 2x2
             * stride-2 max-pool follows (after the ReLU, if any): forward then writes the pool's
             * output (oc, h / 2, w / 2), taken inside Winograd's output transform (kernels.h) */
            int pool;
            /* not in manifests: with pool, the winograd weights are F(4x4, 3x3)'s and forward
             * runs glia_winograd4_pool_conv */
            int winograd4;
        } conv;
        struct {
            int kernel, stride, padding;
        } pool;
        struct {
            int in_features, out_features;
        } linear;
        struct {
            float p;
        } dropout;
        struct {
            int num_features;
            float eps, momentum; /* PyTorch's defaults: 1e-5, 0.1 */
        } bn;
    } cfg;
};

/* The ops for a kind (never NULL for a valid kind). */
const glia_layer_ops *glia_layer_ops_for(glia_layer_kind kind);
/* Looks up a kind by its manifest spelling; GLIA_ENOTFOUND if unknown. */
glia_status glia_layer_kind_parse(const char *type, glia_layer_kind *kind, glia_err *err);

extern const glia_layer_ops glia_conv2d_ops;
extern const glia_layer_ops glia_maxpool2d_ops;
extern const glia_layer_ops glia_avgpool2d_ops;
extern const glia_layer_ops glia_linear_ops;
extern const glia_layer_ops glia_relu_ops;
extern const glia_layer_ops glia_tanh_ops;
extern const glia_layer_ops glia_sigmoid_ops;
extern const glia_layer_ops glia_flatten_ops;
extern const glia_layer_ops glia_dropout_ops;
extern const glia_layer_ops glia_batchnorm2d_ops;

#endif

/* ---- helpers shared by the layer implementations (layer.c) ---- */
#ifndef GLIA_NN_LAYER_HELPERS
#define GLIA_NN_LAYER_HELPERS
/* Convolution works on chunks of samples so that its im2col buffer stays near this
 * many floats whatever the batch size: big enough for an efficient GEMM, small
 * enough that a serving worker's scratch stays a few MB. */
enum { GLIA_CHUNK_FLOATS = 1 << 18 };
/* Samples per chunk for a layer needing per_sample scratch floats (at least 1). */
int glia_chunk_samples(size_t per_sample);
/* Scratch floats layer l needs for a batch of n. */
size_t glia_layer_scratch_floats(const glia_layer *l, int n);
/* Fills a param's shape (ndim dims) and size; name is set later by the network. */
void glia_param_shape(glia_param *p, int ndim, const int64_t *shape, int decay);
/* U(-bound, bound), PyTorch's default for Linear/Conv weights and biases. */
void glia_fill_uniform(float *x, size_t n, float bound, glia_rng *rng);
#endif
