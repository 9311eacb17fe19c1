/*
 * net.c - see net.h.
 *
 * Buffer plan of a ctx (all sized at creation for max_batch):
 *   inference: two ping-pong activation buffers of the largest layer output, since a
 *              layer only needs its input while it runs;
 *   training:  one output buffer per layer (backward needs them), two ping-pong
 *              gradient buffers, and each layer's saved state (argmax, masks);
 *   both:      one scratch buffer of the largest per-layer need, shared by all layers.
 *
 * Inference runs the leading layers that work sample by sample - direct convolutions,
 * activations, pooling, batch norm, flatten, dropout - one sample at a time through all of
 * them (two small ping-pong buffers of one sample), and only the layers after them (the
 * fully connected ones, whose GEMM gains from the batch) on the whole batch. Layer by layer,
 * a batch of 64 streamed each layer's 6 MB of activations through memory between layers;
 * one sample's stay in L2. The arithmetic per sample is the same, so are the outputs.
 *
 * Inference also folds a batch norm into the conv before it: in eval mode the norm is a
 * per-channel affine map, y = x * scale + shift, so the conv runs with weights w * scale and
 * bias b * scale + shift, then the ReLU after the norm, if any, folds in as below.
 * Training and input-gradient passes (explanations) run the layers as they are.
 *
 * The weights an inference ctx derives (those folds, and Winograd's transformed weights) are
 * computed into the ctx at its first forward and again only when the net's weights generation
 * (net.h) has moved since: a served model's never moves, a trainer's moves with every step.
 * They live in the ctx, not the net, because a ctx belongs to one thread at a time: gliad's
 * workers, each with its own ctx, run one net at once without a lock and never see another's
 * half-written copy, and a net stays read-only while it serves. The price is one copy per ctx
 * (fashion-cnn: 0.4 MB).
 *
 * An inference plan's Winograd conv also takes a 2x2 max-pool after it (and after its ReLU)
 * into its output transform (cfg.conv.pool), whose 2x2 tiles are the pooling windows: the
 * pool's output without writing the conv's, 4x larger, or reading it back.
 *
 * A conv2d followed by a ReLU runs as one layer (cfg.conv.relu, set here): forward
 * writes relu(conv(x)) straight into the ReLU's output and skips the ReLU, backward
 * skips the ReLU and lets the conv mask dy. The ReLU's buffers are the ones used, so
 * every layer's output still sits where it would without the folding.
 */
#include "core/nn/net.h"

#include "core/nn/kernels.h"
#include "core/nn/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct glia_ctx {
    int max_batch;
    int training;
    int nlayers;
    float **acts;   /* training: nlayers outputs; inference: acts[0], acts[1] ping-pong */
    float *grad[2]; /* training only */
    void **saved;   /* training only: per layer, may be NULL */
    float *scratch;
    size_t bytes;
    int no_dropout;     /* an input-gradient ctx: training's buffers, inference's forward */
    const float *input; /* training: x of the last forward */
    int n;              /* batch of the last forward */
    int per_sample;     /* inference: layers [0, per_sample) run one sample at a time (0: none) */
    float *one[2];      /* inference with per_sample: one sample's ping-pong buffers */
    /* inference: plan[i] is what runs at layer i, covering span[i] layers: the net's layer,
     * or a conv with its batch norm and ReLU folded in (span 3), a copy in folds[i] whose
     * weights then bias are in folded[i] */
    const glia_layer **plan;
    int *span;
    glia_layer *folds;
    float **folded;
    float **winograd; /* inference: a Winograd conv's transformed weights */
    /* inference: the net and its weights generation the plan was derived from (NULL: none yet) */
    const glia_net *plan_net;
    unsigned long plan_generation;
};

/* Generations are unique in the process, not per net: a ctx moved to another net, or to a new
 * net at a freed one's address, never takes the old plan for current. */
static atomic_ulong next_generation = 1;

static unsigned long fresh_generation(void)
{
    return atomic_fetch_add_explicit(&next_generation, 1, memory_order_relaxed);
}

void glia_net_weights_changed(const glia_net *net)
{
    /* release: a forward that reads the new generation (acquire) sees the values written before */
    atomic_store_explicit(net->generation, fresh_generation(), memory_order_release);
}

unsigned long glia_net_generation(const glia_net *net)
{
    return atomic_load_explicit(net->generation, memory_order_acquire);
}

/* A layer's stored tensor j; b = j - nparams is its buffer index when >= 0 (PyTorch's
 * BatchNorm buffer names: the only layer with buffers). */
static const char *param_local_name(int b, int j)
{
    static const char *const buffers[GLIA_MAX_BUFFERS] = {"running_mean", "running_var",
                                                          "num_batches_tracked"};
    return b >= 0 ? buffers[b] : j == 0 ? "weight" : "bias";
}

/* Points the layers' parameter views into values (and grads, when not NULL) and their
 * buffer views into bufs, in order, and refreshes the net's copies of the views. */
static void bind_views(glia_net *net, float *values, float *grads, float *bufs)
{
    size_t off = 0, boff = 0;
    int k = 0, t = 0;
    for (int i = 0; i < net->nlayers; i++) {
        glia_layer *l = &net->layers[i];
        for (int j = 0; j < l->nparams; j++) {
            l->params[j].value = values + off;
            l->params[j].grad = grads ? grads + off : NULL;
            off += l->params[j].size;
            net->params[k++] = l->params[j];
            net->trainable[t++] = l->params[j];
        }
        for (int j = 0; j < l->nbuffers; j++) {
            l->buffers[j].value = bufs + boff;
            l->buffers[j].grad = NULL;
            boff += l->buffers[j].size;
            net->params[k++] = l->buffers[j];
        }
    }
}

glia_status glia_net_new(glia_shape3 input, const glia_layer *specs, int nlayers, glia_net **out,
                         glia_err *err)
{
    glia_status rc = GLIA_OK;
    glia_net *net = calloc(1, sizeof *net);
    if (!net)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory building the network");
    net->input = input;
    net->nlayers = nlayers;
    net->generation = &net->own_generation;
    atomic_init(&net->own_generation, fresh_generation());
    net->layers = calloc((size_t)(nlayers > 0 ? nlayers : 1), sizeof *net->layers);
    if (!net->layers) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory building the network");
        goto fail;
    }
    if (input.c <= 0 || input.h <= 0 || input.w <= 0) {
        rc = glia_err_set(err, GLIA_EINVAL, "input shape (%d, %d, %d) must be positive", input.c, input.h,
                          input.w);
        goto fail;
    }
    glia_shape3 shape = input;
    for (int i = 0; i < nlayers; i++) {
        glia_layer *l = &net->layers[i];
        *l = specs[i];
        l->ops = glia_layer_ops_for(l->kind);
        rc = l->ops->init(l, shape, err);
        if (rc != GLIA_OK) {
            glia_err_prefix(err, "layer %s", l->name);
            goto fail;
        }
        for (int j = 0; j < l->nparams + l->nbuffers; j++) {
            glia_param *p = j < l->nparams ? &l->params[j] : &l->buffers[j - l->nparams];
            int w = snprintf(p->name, sizeof p->name, "%s.%s", l->name, param_local_name(j - l->nparams, j));
            if (w < 0 || (size_t)w >= sizeof p->name) {
                rc = glia_err_set(err, GLIA_EINVAL, "layer name '%s' is too long", l->name);
                goto fail;
            }
            net->size += p->size;
            net->grad_size += j < l->nparams ? p->size : 0;
            net->nparams++;
            net->ntrainable += j < l->nparams;
        }
        shape = l->out;
    }
    for (int i = 0; i < nlayers; i++)
        if (net->layers[i].kind == GLIA_LAYER_CONV2D)
            net->layers[i].cfg.conv.relu = i + 1 < nlayers && net->layers[i + 1].kind == GLIA_LAYER_RELU;
    net->output = shape;
    net->params = calloc((size_t)(net->nparams > 0 ? net->nparams : 1), sizeof *net->params);
    net->trainable = calloc((size_t)(net->ntrainable > 0 ? net->ntrainable : 1), sizeof *net->trainable);
    net->values = calloc(net->size > 0 ? net->size : 1, sizeof(float));
    if (!net->params || !net->trainable || !net->values) {
        rc = glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu parameters", net->size);
        goto fail;
    }
    bind_views(net, net->values, NULL, net->values + net->grad_size);
    *out = net;
    return GLIA_OK;
fail:
    glia_net_free(net);
    return rc;
}

void glia_net_free(glia_net *net)
{
    if (!net)
        return;
    free(net->layers);
    free(net->params);
    free(net->trainable);
    free(net->own_buffers);
    if (!net->shares_values)
        free(net->values);
    free(net->grads);
    free(net);
}

glia_status glia_net_replica(const glia_net *master, glia_net **out, glia_err *err)
{
    glia_net *r = NULL;
    glia_status rc;
    *out = NULL;
    if ((rc = glia_net_new(master->input, master->layers, master->nlayers, &r, err)))
        return rc;
    /* the same specs give the same layout, so offsets carry over; the buffers start as a
     * copy of master's */
    const size_t nbuf = r->size - r->grad_size;
    free(r->values);
    r->values = master->values;
    r->shares_values = 1;
    r->generation = master->generation;
    if (nbuf) {
        if (!(r->own_buffers = malloc(sizeof(float) * nbuf))) {
            glia_net_free(r);
            return glia_err_set(err, GLIA_ENOMEM, "out of memory for a replica's buffers");
        }
        memcpy(r->own_buffers, master->values + master->grad_size, sizeof(float) * nbuf);
    }
    bind_views(r, r->values, NULL, nbuf ? r->own_buffers : r->values + r->grad_size);
    if ((rc = glia_net_enable_grads(r, err))) {
        glia_net_free(r);
        return rc;
    }
    *out = r;
    return GLIA_OK;
}

void glia_net_reset(glia_net *net, glia_rng *rng)
{
    for (int i = 0; i < net->nlayers; i++)
        net->layers[i].ops->reset(&net->layers[i], rng);
    glia_net_weights_changed(net);
}

glia_status glia_net_enable_grads(glia_net *net, glia_err *err)
{
    if (net->grads)
        return GLIA_OK;
    net->grads = calloc(net->grad_size > 0 ? net->grad_size : 1, sizeof(float));
    if (!net->grads)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for %zu gradients", net->grad_size);
    bind_views(net, net->values, net->grads,
               net->own_buffers ? net->own_buffers : net->values + net->grad_size);
    return GLIA_OK;
}

void glia_net_zero_grads(glia_net *net)
{
    if (net->grads)
        memset(net->grads, 0, sizeof(float) * net->grad_size);
}

const glia_param *glia_net_find_param(const glia_net *net, const char *name)
{
    return glia_params_find(net->params, net->nparams, name);
}

glia_status glia_net_load(glia_net *net, const glia_st_file *st, glia_err *err)
{
    glia_status rc = glia_params_load_strict(net->params, net->nparams, st, "manifest", err);
    glia_net_weights_changed(net); /* a failed load may have written some tensors */
    return rc;
}

glia_status glia_net_save(const glia_net *net, const char *path, const char *const *meta, glia_err *err)
{
    return glia_params_save(net->params, net->nparams, path, meta, err);
}

/* Whether layer l runs the ReLU after it (see the top of this file). */
static int folds_relu(const glia_layer *l)
{
    return l->kind == GLIA_LAYER_CONV2D && l->cfg.conv.relu;
}

/* Whether inference folds the batch norm after layer i into it. */
static int folds_bn(const glia_net *net, int i)
{
    return net->layers[i].kind == GLIA_LAYER_CONV2D && i + 1 < net->nlayers &&
           net->layers[i + 1].kind == GLIA_LAYER_BATCHNORM2D;
}

/* The conv's weights and bias with the eval-mode batch norm after it applied, into out
 * (weights, then bias): batchnorm.c's scale and shift per output channel. */
static void fold_bn(const glia_layer *conv, const glia_layer *bn, float *out)
{
    const int oc = conv->out.c;
    const size_t per = conv->params[0].size / (size_t)oc;
    const float *w = conv->params[0].value, *b = conv->params[1].value;
    const float *gamma = bn->params[0].value, *beta = bn->params[1].value;
    const float *mean = bn->buffers[0].value, *var = bn->buffers[1].value;
    float *fb = out + conv->params[0].size;
    for (int o = 0; o < oc; o++) {
        const float invstd = 1.0f / sqrtf(var[o] + bn->cfg.bn.eps);
        const float scale = gamma[o] * invstd, shift = beta[o] - mean[o] * scale;
        for (size_t t = 0; t < per; t++)
            out[(size_t)o * per + t] = w[(size_t)o * per + t] * scale;
        fb[o] = b[o] * scale + shift;
    }
}

/* Whether inference runs conv layer l as a Winograd convolution: not with few input channels,
 * where its 16 GEMMs have almost no depth (fashion-cnn's first conv, 1 -> 32: the direct
 * kernel takes 7 us). */
static int winograd(const glia_layer *l)
{
    return l->kind == GLIA_LAYER_CONV2D && l->in.c >= 8 &&
           glia_winograd_ok(l->cfg.conv.kernel, l->cfg.conv.stride, l->cfg.conv.padding);
}

/* Whether layer i is a 2x2, stride 2, unpadded max-pool: a Winograd conv's output tiles are its
 * windows (the tiles start at even rows and columns), so the conv can take it. */
static int pools_2x2(const glia_net *net, int i)
{
    if (i >= net->nlayers)
        return 0;
    const glia_layer *l = &net->layers[i];
    return l->kind == GLIA_LAYER_MAXPOOL2D && l->cfg.pool.kernel == 2 && l->cfg.pool.stride == 2 &&
           l->cfg.pool.padding == 0;
}

/* Whether inference runs Winograd conv i on F(4x4, 3x3) tiles: when the layers after it (its
 * batch norm and ReLU, which the plan folds in) end in a 2x2 max-pool, the only case
 * glia_winograd4_pool_conv serves. */
/* F(4x4) only on images of at least this side: fashion-cnn's 28 x 28 conv gains (7 x 8 tiles,
 * GEMMs of 56 columns), its 14 x 14 one loses (4 x 5 tiles: 36 GEMMs of 20 columns run further
 * from OpenBLAS' peak than F(2x2)'s 16 of 56, for 1.24x fewer multiply-adds). Measured: all
 * pooled convs on F(4x4) 0.96x of F(2x2) at batch 64, this one alone 1.05x. */
#ifndef WINOGRAD4_MIN_SIZE
#define WINOGRAD4_MIN_SIZE 20
#endif
static int winograd4(const glia_net *net, int i)
{
    int j = i + 1;
    if (!winograd(&net->layers[i]) || net->layers[i].in.h < WINOGRAD4_MIN_SIZE ||
        net->layers[i].in.w < WINOGRAD4_MIN_SIZE)
        return 0;
    if (folds_bn(net, i))
        j++;
    if (j < net->nlayers && net->layers[j].kind == GLIA_LAYER_RELU)
        j++;
    return pools_2x2(net, j);
}

/* Fills an inference ctx's plan (see struct glia_ctx) from the current weights, unless it
 * already holds the plan of this net's current weights generation. */
static void plan_inference(const glia_net *net, glia_ctx *ctx)
{
    /* read before deriving: a change during the derivation leaves the plan stale, redone next time */
    const unsigned long generation = glia_net_generation(net);
    if (ctx->plan_net == net && ctx->plan_generation == generation)
        return;
    ctx->plan_net = net;
    ctx->plan_generation = generation;
    for (int i = 0; i < net->nlayers;) {
        ctx->plan[i] = &net->layers[i];
        ctx->span[i] = 1 + folds_relu(&net->layers[i]);
        /* bf16 inference (bf16.h) runs the conv's own packed weights, which a fold or the
         * Winograd transform would bypass: such a layer runs as it is, its batch norm after it */
        const int bf16 = net->layers[i].params[0].bf16 != NULL;
        if (!bf16 && (ctx->folded[i] || ctx->winograd[i])) {
            glia_layer *run = &ctx->folds[i];
            *run = net->layers[i];
            if (ctx->folded[i]) {
                fold_bn(&net->layers[i], &net->layers[i + 1], ctx->folded[i]);
                run->params[0].value = ctx->folded[i];
                run->params[1].value = ctx->folded[i] + run->params[0].size;
                run->cfg.conv.relu = i + 2 < net->nlayers && net->layers[i + 2].kind == GLIA_LAYER_RELU;
                ctx->span[i] = 2 + run->cfg.conv.relu;
            }
            if (ctx->winograd[i]) {
                /* a 2x2 max-pool after it runs inside its output transform, on F(4x4)'s tiles
                 * where winograd4 says so */
                run->cfg.conv.winograd4 = winograd4(net, i);
                if (run->cfg.conv.winograd4)
                    glia_winograd4_weights(run->params[0].value, run->out.c, run->in.c, ctx->winograd[i]);
                else
                    glia_winograd_weights(run->params[0].value, run->out.c, run->in.c, ctx->winograd[i]);
                run->cfg.conv.winograd = ctx->winograd[i];
                if ((run->cfg.conv.pool = pools_2x2(net, i + ctx->span[i])))
                    ctx->span[i]++;
                GLIA_ASSERT(run->cfg.conv.pool || !run->cfg.conv.winograd4);
            }
            ctx->plan[i] = run;
        }
        i += ctx->span[i];
    }
}

/* Whether layer l computes each sample alone at no loss against a batched call (see the top
 * of this file); a convolution only on the direct kernel (im2col's GEMM gains from a batch). */
static int sample_wise(const glia_layer *l)
{
    switch (l->kind) {
    case GLIA_LAYER_CONV2D:
        return winograd(l) || glia_conv_direct_ok(l->in.h, l->in.w, l->cfg.conv.kernel, l->cfg.conv.stride,
                                                  l->cfg.conv.padding);
    case GLIA_LAYER_RELU:
    case GLIA_LAYER_TANH:
    case GLIA_LAYER_SIGMOID:
    case GLIA_LAYER_MAXPOOL2D:
    case GLIA_LAYER_AVGPOOL2D:
    case GLIA_LAYER_BATCHNORM2D:
    case GLIA_LAYER_FLATTEN:
    case GLIA_LAYER_DROPOUT: return 1;
    default: return 0;
    }
}

/* The leading sample-wise layers, when they hold a convolution (else 0). */
static int sample_wise_prefix(const glia_net *net)
{
    int n = 0, conv = 0;
    while (n < net->nlayers && sample_wise(&net->layers[n])) {
        conv |= net->layers[n].kind == GLIA_LAYER_CONV2D;
        n++;
    }
    return conv ? n : 0;
}

static void *alloc_tracked(glia_ctx *ctx, size_t bytes)
{
    ctx->bytes += bytes;
    return calloc(bytes ? bytes : 1, 1);
}

glia_status glia_ctx_new(const glia_net *net, int max_batch, int training, glia_ctx **out, glia_err *err)
{
    if (max_batch <= 0)
        return glia_err_set(err, GLIA_EINVAL, "batch size must be positive (got %d)", max_batch);
    glia_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    ctx->max_batch = max_batch;
    ctx->training = training;
    ctx->nlayers = net->nlayers;
    size_t largest = glia_shape3_size(net->input), scratch = 0;
    for (int i = 0; i < net->nlayers; i++) {
        size_t s = glia_shape3_size(net->layers[i].out);
        largest = s > largest ? s : largest;
        size_t sc = glia_layer_scratch_floats(&net->layers[i], max_batch);
        scratch = sc > scratch ? sc : scratch;
    }
    int nacts = training ? net->nlayers : 2;
    ctx->acts = calloc((size_t)(nacts > 0 ? nacts : 1), sizeof *ctx->acts);
    ctx->saved = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->saved);
    ctx->scratch = alloc_tracked(ctx, scratch * sizeof(float));
    if (!ctx->acts || !ctx->saved || !ctx->scratch)
        goto oom;
    for (int i = 0; i < nacts; i++) {
        /* a conv that runs its ReLU writes the ReLU's buffer; its own stays unused */
        size_t per = !training                     ? largest
                     : folds_relu(&net->layers[i]) ? 0
                                                   : glia_shape3_size(net->layers[i].out);
        if (!(ctx->acts[i] = alloc_tracked(ctx, per * (size_t)max_batch * sizeof(float))))
            goto oom;
    }
    if (!training) {
        ctx->plan = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->plan);
        ctx->span = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->span);
        ctx->folded = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->folded);
        ctx->folds = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->folds);
        ctx->winograd = calloc((size_t)(net->nlayers > 0 ? net->nlayers : 1), sizeof *ctx->winograd);
        if (!ctx->plan || !ctx->span || !ctx->folded || !ctx->folds || !ctx->winograd)
            goto oom;
        for (int i = 0; i < net->nlayers; i++) {
            const int oc = net->layers[i].out.c, c = net->layers[i].in.c;
            if (winograd(&net->layers[i]) &&
                !(ctx->winograd[i] = alloc_tracked(
                      ctx, sizeof(float) * (winograd4(net, i) ? glia_winograd4_weight_floats(oc, c)
                                                              : glia_winograd_weight_floats(oc, c)))))
                goto oom;
        }
        for (int i = 0; i < net->nlayers; i++)
            if (folds_bn(net, i) &&
                !(ctx->folded[i] = alloc_tracked(
                      ctx, sizeof(float) * (net->layers[i].params[0].size + net->layers[i].params[1].size))))
                goto oom;
    }
    if (!training && max_batch > 1 && (ctx->per_sample = sample_wise_prefix(net)) > 0)
        for (int j = 0; j < 2; j++)
            if (!(ctx->one[j] = alloc_tracked(ctx, largest * sizeof(float))))
                goto oom;
    if (training) {
        for (int j = 0; j < 2; j++)
            if (!(ctx->grad[j] = alloc_tracked(ctx, largest * (size_t)max_batch * sizeof(float))))
                goto oom;
        for (int i = 0; i < net->nlayers; i++) {
            size_t b = net->layers[i].saved_bytes_per_sample * (size_t)max_batch;
            if (b && !(ctx->saved[i] = alloc_tracked(ctx, b)))
                goto oom;
        }
    }
    *out = ctx;
    return GLIA_OK;
oom:
    glia_ctx_free(ctx);
    return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context of batch %d", max_batch);
}

glia_status glia_ctx_new_input_grad(const glia_net *net, int max_batch, glia_ctx **out, glia_err *err)
{
    glia_status rc = glia_ctx_new(net, max_batch, 1, out, err);
    if (rc == GLIA_OK)
        (*out)->no_dropout = 1;
    return rc;
}

void glia_ctx_free(glia_ctx *ctx)
{
    if (!ctx)
        return;
    int nacts = ctx->training ? ctx->nlayers : 2;
    for (int i = 0; ctx->acts && i < nacts; i++)
        free(ctx->acts[i]);
    for (int i = 0; ctx->saved && i < ctx->nlayers; i++)
        free(ctx->saved[i]);
    free(ctx->acts);
    free(ctx->saved);
    free(ctx->grad[0]);
    free(ctx->grad[1]);
    free(ctx->one[0]);
    free(ctx->one[1]);
    for (int i = 0; ctx->folded && i < ctx->nlayers; i++)
        free(ctx->folded[i]);
    free(ctx->folded);
    for (int i = 0; ctx->winograd && i < ctx->nlayers; i++)
        free(ctx->winograd[i]);
    free(ctx->winograd);
    free(ctx->folds);
    free(ctx->plan);
    free(ctx->span);
    free(ctx->scratch);
    free(ctx);
}

int glia_ctx_max_batch(const glia_ctx *ctx)
{
    return ctx->max_batch;
}
size_t glia_ctx_bytes(const glia_ctx *ctx)
{
    return ctx->bytes;
}

const float *glia_net_forward(const glia_net *net, glia_ctx *ctx, const float *x, int n, glia_rng *rng)
{
    GLIA_ASSERT(n > 0 && n <= ctx->max_batch && ctx->nlayers == net->nlayers);
    GLIA_ASSERT(!ctx->training || rng || ctx->no_dropout);
    ctx->input = x;
    ctx->n = n;
    const float *in = x;
    int slot = 0; /* inference: the ping-pong buffer the next layer writes */
    int first = 0;
    if (!ctx->training)
        plan_inference(net, ctx);
    if (ctx->per_sample > 0 && n > 1) {
        /* layers [0, per_sample) one sample at a time; the last writes its row of acts[0] */
        const int last = ctx->per_sample;
        const size_t in_size = glia_shape3_size(net->input);
        const size_t out_size = glia_shape3_size(net->layers[last - 1].out);
        for (int s = 0; s < n; s++) {
            const float *xs = x + (size_t)s * in_size;
            int one = 0;
            for (int i = 0; i < last; i += ctx->span[i]) {
                /* a span never crosses the prefix's end: every layer it folds is sample-wise */
                GLIA_ASSERT(i + ctx->span[i] <= last);
                float *y = i + ctx->span[i] == last ? ctx->acts[0] + (size_t)s * out_size : ctx->one[one];
                glia_pass pass = {ctx->scratch, NULL, 0, rng, 0};
                /* forward does not modify the layer; ops take a mutable pointer for backward's sake */
                glia_layer *l = (glia_layer *)ctx->plan[i];
                l->ops->forward(l, xs, y, 1, &pass);
                xs = y;
                one ^= 1;
            }
        }
        in = ctx->acts[0];
        slot = 1;
        first = last;
    }
    if (!ctx->training) {
        for (int i = first; i < net->nlayers; i += ctx->span[i]) {
            glia_pass pass = {ctx->scratch, NULL, 0, rng, 0};
            glia_layer *l = (glia_layer *)ctx->plan[i];
            l->ops->forward(l, in, ctx->acts[slot], n, &pass);
            in = ctx->acts[slot];
            slot ^= 1;
        }
        return in;
    }
    /* a training pass moves batch norm's running statistics: what inference derived from them
     * is stale */
    const int moves_buffers = !ctx->no_dropout && net->size > net->grad_size;
    for (int i = first; i < net->nlayers; i++) {
        /* forward does not modify the layer; ops take a mutable pointer for backward's sake */
        glia_layer *l = (glia_layer *)&net->layers[i];
        int fused = folds_relu(l);
        float *y = ctx->training ? ctx->acts[i + fused] : ctx->acts[slot];
        glia_pass pass = {ctx->scratch, ctx->saved[i], ctx->training, rng, ctx->no_dropout};
        l->ops->forward(l, in, y, n, &pass);
        in = y;
        slot ^= 1;
        i += fused;
    }
    if (moves_buffers)
        glia_net_weights_changed(net);
    return in;
}

/* The backward pass from dout down to the first layer; dx0 receives the first layer's input
 * gradient (NULL: not computed, as training needs none). */
static void backward_to(const glia_net *net, glia_ctx *ctx, const float *dout, float *dx0,
                        const glia_grad_ready *ready)
{
    int n = ctx->n;
    const float *dy = dout;
    int slot = 0; /* the gradient buffer the next layer writes; dy is in the other */
    for (int i = net->nlayers - 1; i >= 0; i--) {
        /* a ReLU folded into the conv before it: the conv takes its y and dy */
        int fused = i > 0 && folds_relu(&net->layers[i - 1]);
        i -= fused;
        /* backward writes parameter gradients only through params[].grad, which a served net
         * leaves NULL: the layer itself is not modified */
        glia_layer *l = (glia_layer *)&net->layers[i];
        const float *x = i > 0 ? ctx->acts[i - 1] : ctx->input;
        float *dx = i > 0 ? ctx->grad[slot] : dx0;
        glia_pass pass = {ctx->scratch, ctx->saved[i], 1, NULL, ctx->no_dropout};
        l->ops->backward(l, x, ctx->acts[i + fused], dy, dx, n, &pass);
        /* the layers lie in the flat buffer in order, so what is final grows from the tail */
        if (l->nparams > 0)
            glia_grad_ready_params(ready, &l->params[0], &l->params[l->nparams - 1]);
        dy = dx;
        slot ^= 1;
    }
}

void glia_net_backward(glia_net *net, glia_ctx *ctx, const float *dout, const glia_grad_ready *ready)
{
    GLIA_ASSERT(ctx->training && net->grads && ctx->input);
    backward_to(net, ctx, dout, NULL, ready);
}

void glia_net_input_backward(const glia_net *net, glia_ctx *ctx, const float *dout, float *dx)
{
    GLIA_ASSERT(ctx->no_dropout && ctx->input && dx);
    backward_to(net, ctx, dout, dx, NULL);
}
