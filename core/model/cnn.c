/*
 * cnn.c - the image-classification family: a sequential net (core/nn/net.h) over C x H x W
 * pixels, its layers listed by the manifest's architecture. One logits row per image.
 */
#include "core/model/family.h"
#include "core/nn/net.h"

static glia_net *net_of(const glia_model *model)
{
    return model->impl;
}

/* The base mirrors the net's buffers; called again when the net grows a gradient buffer. */
static void sync_base(glia_model *model)
{
    glia_net *net = net_of(model);
    model->nparams = model->ntrainable = net->nparams;
    model->params = model->trainable = net->params;
    model->size = net->size;
    model->values = net->values;
    model->grads = net->grads;
    model->input_size = glia_shape3_size(net->input);
    model->outputs = net->output.c;
}

static glia_status wrap(glia_net *net, glia_model **out, glia_err *err)
{
    glia_model *model = glia_family_wrap(&glia_family_cnn, net);
    if (!model) {
        glia_net_free(net);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a model");
    }
    sync_base(model);
    *out = model;
    return GLIA_OK;
}

static glia_status cnn_create(const glia_manifest *m, glia_model **out, glia_err *err)
{
    glia_net *net = NULL;
    *out = NULL;
    glia_status rc = glia_net_new(m->input, m->layers, m->nlayers, &net, err);
    return rc ? rc : wrap(net, out, err);
}

static void cnn_destroy(glia_model *model)
{
    glia_net_free(net_of(model));
    free(model);
}

static void cnn_reset(glia_model *model, glia_rng *rng)
{
    glia_net_reset(net_of(model), rng);
}

static glia_status cnn_enable_grads(glia_model *model, glia_err *err)
{
    glia_status rc = glia_net_enable_grads(net_of(model), err);
    sync_base(model);
    return rc;
}

static glia_status cnn_replica(const glia_model *master, glia_model **out, glia_err *err)
{
    glia_net *net = NULL;
    *out = NULL;
    glia_status rc = glia_net_replica(net_of(master), &net, err);
    return rc ? rc : wrap(net, out, err);
}

static glia_status cnn_load(glia_model *model, const glia_st_file *st, glia_err *err)
{
    return glia_net_load(net_of(model), st, err);
}

static glia_status cnn_save(const glia_model *model, const char *path, const char *const *meta, glia_err *err)
{
    return glia_net_save(net_of(model), path, meta, err);
}

static glia_status cnn_ctx_new(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                               glia_err *err)
{
    glia_ctx *ctx = NULL;
    *out = NULL;
    glia_status rc = glia_ctx_new(net_of(model), spec->max_batch, spec->training, &ctx, err);
    if (rc)
        return rc;
    if (!(*out = glia_family_ctx(&glia_family_cnn, spec, ctx))) {
        glia_ctx_free(ctx);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    }
    return GLIA_OK;
}

static void cnn_ctx_free(glia_model_ctx *ctx)
{
    if (ctx) {
        glia_ctx_free(ctx->impl);
        free(ctx);
    }
}

static size_t cnn_ctx_bytes(const glia_model_ctx *ctx)
{
    return glia_ctx_bytes(ctx->impl);
}

static glia_status run(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b, glia_rng *rng,
                       const float **logits, glia_err *err)
{
    if (b->n < 1 || b->n > ctx->spec.max_batch)
        return glia_err_set(err, GLIA_EINVAL, "a batch of %d images for a context of %d", b->n,
                            ctx->spec.max_batch);
    *logits = glia_net_forward(net_of(model), ctx->impl, b->x, b->n, rng);
    return GLIA_OK;
}

static glia_status cnn_forward(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                               glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    *rows = b->n;
    return run(model, ctx, b, rng, logits, err);
}

static void cnn_backward(glia_model *model, glia_model_ctx *ctx, const float *dlogits)
{
    glia_net_backward(net_of(model), ctx->impl, dlogits);
}

static glia_status cnn_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                               glia_prediction *out, glia_err *err)
{
    return run(model, ctx, b, NULL, &out->logits, err);
}

const glia_model_ops glia_family_cnn = {
    .task = "image-classification",
    .family = "cnn",
    .input = GLIA_INPUT_TENSOR,
    .output = GLIA_OUTPUT_CLASSES,
    .tokenizer = GLIA_TOKENIZER_NONE,
    .create = cnn_create,
    .destroy = cnn_destroy,
    .reset = cnn_reset,
    .enable_grads = cnn_enable_grads,
    .replica = cnn_replica,
    .load = cnn_load,
    .save = cnn_save,
    .ctx_new = cnn_ctx_new,
    .ctx_free = cnn_ctx_free,
    .ctx_bytes = cnn_ctx_bytes,
    .forward = cnn_forward,
    .backward = cnn_backward,
    .predict = cnn_predict,
};
