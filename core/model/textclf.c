/*
 * textclf.c - the text-classification family: embedding (+ frozen lexicon features) ->
 * LSTM/RNN -> pooling -> linear (core/nn/textnet.h) over a word vocabulary's ids. One
 * logits row per text.
 */
#include "core/model/family.h"
#include "core/nn/textnet.h"

static glia_textnet *net_of(const glia_model *model)
{
    return model->impl;
}

static void sync_base(glia_model *model)
{
    glia_textnet *net = net_of(model);
    model->nparams = net->nparams;
    model->params = net->params;
    model->ntrainable = net->ntrainable;
    model->trainable = net->trainable;
    model->size = net->size;
    model->values = net->values;
    model->grads = net->grads;
    model->input_size = 0;
    model->outputs = net->cfg.num_classes;
}

static glia_status wrap(glia_textnet *net, glia_model **out, glia_err *err)
{
    glia_model *model = glia_family_wrap(&glia_family_text_classifier, net);
    if (!model) {
        glia_textnet_free(net);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a model");
    }
    sync_base(model);
    *out = model;
    return GLIA_OK;
}

static glia_status text_create(const glia_manifest *m, glia_model **out, glia_err *err)
{
    glia_textnet *net = NULL;
    *out = NULL;
    if (m->text.vocab_size <= 0)
        return glia_err_set(err, GLIA_EINVAL, "%s: the vocabulary size is not known", m->path);
    glia_status rc = glia_textnet_new(&m->text, &net, err);
    return rc ? rc : wrap(net, out, err);
}

static void text_destroy(glia_model *model)
{
    glia_textnet_free(net_of(model));
    free(model);
}

static void text_reset(glia_model *model, glia_rng *rng)
{
    glia_textnet_reset(net_of(model), rng);
}

static glia_status text_enable_grads(glia_model *model, glia_err *err)
{
    glia_status rc = glia_textnet_enable_grads(net_of(model), err);
    sync_base(model);
    return rc;
}

static glia_status text_replica(const glia_model *master, glia_model **out, glia_err *err)
{
    glia_textnet *net = NULL;
    *out = NULL;
    glia_status rc = glia_textnet_replica(net_of(master), &net, err);
    return rc ? rc : wrap(net, out, err);
}

static glia_status text_load(glia_model *model, const glia_st_file *st, glia_err *err)
{
    return glia_textnet_load(net_of(model), st, err);
}

static glia_status text_save(const glia_model *model, const char *path, const char *const *meta,
                             glia_err *err)
{
    return glia_textnet_save(net_of(model), path, meta, err);
}

static glia_status text_ctx_new(const glia_model *model, const glia_ctx_spec *spec, glia_model_ctx **out,
                                glia_err *err)
{
    glia_textnet_ctx *ctx = NULL;
    *out = NULL;
    glia_status rc =
        glia_textnet_ctx_new(net_of(model), spec->max_batch, spec->max_steps, spec->training, &ctx, err);
    if (rc)
        return rc;
    if (!(*out = glia_family_ctx(&glia_family_text_classifier, spec, ctx))) {
        glia_textnet_ctx_free(ctx);
        return glia_err_set(err, GLIA_ENOMEM, "out of memory for a run context");
    }
    return GLIA_OK;
}

static void text_ctx_free(glia_model_ctx *ctx)
{
    if (ctx) {
        glia_textnet_ctx_free(ctx->impl);
        free(ctx);
    }
}

static size_t text_ctx_bytes(const glia_model_ctx *ctx)
{
    return glia_textnet_ctx_bytes(ctx->impl);
}

static glia_status text_forward(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                                glia_rng *rng, const float **logits, int *rows, glia_err *err)
{
    *rows = b->n;
    return glia_textnet_forward(net_of(model), ctx->impl, b->ids, b->lengths, b->n, b->steps, rng, logits,
                                err);
}

static void text_backward(glia_model *model, glia_model_ctx *ctx, const float *dlogits)
{
    glia_textnet_backward(net_of(model), ctx->impl, dlogits);
}

static glia_status text_predict(const glia_model *model, glia_model_ctx *ctx, const glia_batch *b,
                                glia_prediction *out, glia_err *err)
{
    return glia_textnet_forward(net_of(model), ctx->impl, b->ids, b->lengths, b->n, b->steps, NULL,
                                &out->logits, err);
}

const glia_model_ops glia_family_text_classifier = {
    .task = "text-classification",
    .family = "text-classifier",
    .input = GLIA_INPUT_TOKENS,
    .output = GLIA_OUTPUT_CLASSES,
    .tokenizer = GLIA_TOKENIZER_WORDS,
    .create = text_create,
    .destroy = text_destroy,
    .reset = text_reset,
    .enable_grads = text_enable_grads,
    .replica = text_replica,
    .load = text_load,
    .save = text_save,
    .ctx_new = text_ctx_new,
    .ctx_free = text_ctx_free,
    .ctx_bytes = text_ctx_bytes,
    .forward = text_forward,
    .backward = text_backward,
    .predict = text_predict,
};
