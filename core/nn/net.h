/*
 * net.h - a sequential network: an ordered list of layers whose parameters live in
 * one flat buffer, in PyTorch state_dict order, under PyTorch's names.
 *
 * The network (glia_net) holds only what is shared and read-only while serving: the
 * layers and their weights. Everything a run writes - activations, saved state for
 * backward, scratch - lives in a glia_ctx sized once for a maximum batch, so any
 * number of worker threads can run one net, each with its own ctx, with no lock and
 * no allocation per request. Training adds a flat gradient buffer to the net
 * (glia_net_enable_grads) and uses a training ctx, which keeps every layer's output.
 *
 * Weights load strictly, like load_state_dict(strict=True): every parameter must be
 * present with its exact shape, and no unexpected tensor may be in the file.
 *
 * Buffers (batch norm's running statistics) are stored tensors but not parameters: they
 * sit in the value buffer after every parameter, so selection, checkpoints and the ranks'
 * agreement see them with the weights, while the gradient buffer and the optimizer cover
 * the parameters only (no gradient, no weight decay).
 */
#ifndef GLIA_NN_NET_H
#define GLIA_NN_NET_H

#include <stdatomic.h>

#include "core/formats/safetensors.h"
#include "core/nn/layer.h"

typedef struct {
    glia_shape3 input;
    glia_shape3 output;
    int nlayers;
    glia_layer *layers; /* owned */
    int nparams;
    glia_param *params; /* owned: every stored tensor, state_dict order (views shared with layers) */
    int ntrainable;
    glia_param *trainable; /* owned: the parameters alone (no buffers), what an optimizer updates */
    size_t size;           /* floats of every stored tensor: parameters, then buffers */
    size_t grad_size;      /* floats of the parameters alone: the gradient buffer's length */
    float *values;         /* owned flat buffer: parameters [0, grad_size), buffers after */
    float *grads;          /* owned flat gradient buffer, NULL until glia_net_enable_grads */
    int shares_values;     /* a replica: values belong to another net */
    /* a replica's own copy of the buffers (size - grad_size floats, NULL without buffers): a
     * training forward writes its running statistics, which lanes must not race on; the
     * trainer averages the lanes' copies after each step (loop.c) */
    float *own_buffers;
    /* The weights' generation: a number no other weights of this process have had, renewed by
     * glia_net_weights_changed whenever anything writes the values. An inference ctx derives
     * weights from them (batch norm folded into the conv, Winograd's G g G^T) once and reuses
     * them while (net, generation) stays what it derived them from. Behind a pointer: a
     * replica follows its master's (the values are the master's), and a forward that holds the
     * net const can still renew it (a training pass moves batch norm's running statistics). */
    atomic_ulong *generation;
    atomic_ulong own_generation;
} glia_net;

typedef struct glia_ctx glia_ctx;

/* Builds a net from layer specs (kind, name and cfg filled; the rest is computed).
 * Parameters are zero until glia_net_reset or glia_net_load. */
glia_status glia_net_new(glia_shape3 input, const glia_layer *specs, int nlayers, glia_net **out,
                         glia_err *err);
void glia_net_free(glia_net *net);
/* A net with master's layers whose parameter values ARE master's (shared, never copied)
 * and whose gradients are its own (enabled): data-parallel training runs one replica per
 * thread and sums the gradients. master must outlive the replica. */
glia_status glia_net_replica(const glia_net *master, glia_net **out, glia_err *err);
/* Says that net's values (parameters or buffers) were written: every writer calls it after
 * writing - load, reset, an optimizer step, a checkpoint's restore, the best epoch's weights
 * copied back, a training forward's batch-norm statistics, a bf16 copy made or dropped - so
 * that the weights an inference ctx derived from the old values are derived again. Thread-safe
 * (an atomic store), but it does not make writing the values while another thread runs the net
 * safe: nothing does. */
void glia_net_weights_changed(const glia_net *net);
unsigned long glia_net_generation(const glia_net *net);
/* PyTorch's default initialisation, drawn from rng in parameter order. */
void glia_net_reset(glia_net *net, glia_rng *rng);
glia_status glia_net_enable_grads(glia_net *net, glia_err *err);
void glia_net_zero_grads(glia_net *net);
const glia_param *glia_net_find_param(const glia_net *net, const char *name);

/* Strict load from an open safetensors file (converted to float32). */
glia_status glia_net_load(glia_net *net, const glia_st_file *st, glia_err *err);
/* Atomic save of every parameter as F32; meta as in glia_st_write. */
glia_status glia_net_save(const glia_net *net, const char *path, const char *const *meta, glia_err *err);

/* A run context for batches of up to max_batch samples. training = 1 keeps every
 * activation and the saved state for backward, and applies dropout. */
glia_status glia_ctx_new(const glia_net *net, int max_batch, int training, glia_ctx **out, glia_err *err);
/* A ctx for gradients with respect to the input (explanations): it keeps every activation
 * as a training ctx does, but its forward is inference's (no dropout, no rng needed). */
glia_status glia_ctx_new_input_grad(const glia_net *net, int max_batch, glia_ctx **out, glia_err *err);
void glia_ctx_free(glia_ctx *ctx);
int glia_ctx_max_batch(const glia_ctx *ctx);
/* Bytes this ctx holds (for RSS budgets and benchmarks). */
size_t glia_ctx_bytes(const glia_ctx *ctx);

/* Runs x (n x input, contiguous, n <= max_batch) through the net and returns the
 * output (n x output), borrowed from ctx and valid until the next call. A training
 * ctx remembers x (which must stay valid until glia_net_backward) and uses rng for
 * dropout. */
const float *glia_net_forward(const glia_net *net, glia_ctx *ctx, const float *x, int n, glia_rng *rng);
/* Backward pass of the last training forward: dout is dL/d(output) (n x output).
 * Accumulates into net->grads, and tells ready (may be NULL) each layer's parameter range
 * as the pass leaves it: the last layer's first, so the final region grows from the tail. */
void glia_net_backward(glia_net *net, glia_ctx *ctx, const float *dout, const glia_grad_ready *ready);
/* dx (n x input) = dL/dx of the last forward of an input-gradient ctx, from dout (n x
 * output). The net is not written when it has no gradient buffer (a served net), so any
 * number of threads may run this on one net, each with its own ctx; a net with gradients
 * enabled gets them accumulated too, as in glia_net_backward. */
void glia_net_input_backward(const glia_net *net, glia_ctx *ctx, const float *dout, float *dx);

#endif
