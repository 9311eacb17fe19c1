/*
 * model.c - see model.h: the task table and what every family shares.
 */
#include "core/model/model.h"

#include <math.h>
#include <string.h>

#include "core/model/family.h"
#include "core/nn/bf16.h"
#include "core/nn/params.h"

/* The one place that lists the families: a new one is a row here. */
static const glia_model_ops *const families[] = {
    &glia_family_cnn,
    &glia_family_text_classifier,
    &glia_family_translator,
};
enum { NFAMILIES = sizeof families / sizeof families[0] };

const glia_model_ops *glia_model_family(const char *task)
{
    for (int i = 0; task && i < NFAMILIES; i++)
        if (strcmp(families[i]->task, task) == 0)
            return families[i];
    return NULL;
}

const char *glia_model_tasks(void)
{
    return "image-classification, text-classification, translation";
}

glia_status glia_model_new(const glia_manifest *m, glia_model **out, glia_err *err)
{
    *out = NULL;
    const glia_model_ops *ops = glia_model_family(m->task);
    if (!ops)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "task '%s' is not one glia runs (%s)", m->task,
                            glia_model_tasks());
    return ops->create(m, out, err);
}

/* The i-th of model's matrices (ops->matrix), NULL past the last or for a family without. */
static glia_param *matrix(glia_model *model, int i)
{
    return model->ops->matrix ? model->ops->matrix(model, i) : NULL;
}

/* Frees every weight copy: the bf16 ones and the family's fp32 inference ones. */
static void drop_copies(glia_model *model)
{
    glia_param *p;
    for (int i = 0; (p = matrix(model, i)); i++)
        glia_bf16_param_drop(p);
    model->precision = GLIA_PRECISION_FP32;
    model->bf16_bytes = 0;
    if (model->ops->prepare)
        model->ops->prepare(model, 0, NULL);
}

void glia_model_free(glia_model *model)
{
    if (!model)
        return;
    drop_copies(model);
    model->ops->destroy(model);
}

const char *glia_precision_name(glia_precision p)
{
    return p == GLIA_PRECISION_BF16 ? "bf16" : "fp32";
}

int glia_precision_parse(const char *s)
{
    if (s && strcmp(s, "fp32") == 0)
        return GLIA_PRECISION_FP32;
    if (s && strcmp(s, "bf16") == 0)
        return GLIA_PRECISION_BF16;
    return -1;
}

void glia_model_weights_changed(const glia_model *model)
{
    if (model->ops->weights_changed)
        model->ops->weights_changed(model);
}

/* The plans of an inference ctx (net.c) depend on which layers carry a bf16 copy, so the
 * caller announces a weights change around this. */
static glia_status set_precision(glia_model *model, glia_precision want, glia_err *err)
{
    glia_status rc = GLIA_OK;
    glia_param *p;
    /* drop first: a second call copies from the values as they are now */
    drop_copies(model);
    if (want != GLIA_PRECISION_BF16 || !matrix(model, 0) || !glia_bf16_available())
        return model->ops->prepare ? model->ops->prepare(model, 1, err) : GLIA_OK;
    for (int i = 0; rc == GLIA_OK && (p = matrix(model, i)); i++)
        if ((rc = glia_bf16_param_attach(p, err)) == GLIA_OK)
            model->bf16_bytes += glia_bf16_bytes(p->bf16);
    if (rc != GLIA_OK) { /* all or nothing */
        for (int i = 0; (p = matrix(model, i)); i++)
            glia_bf16_param_drop(p);
        model->bf16_bytes = 0;
        return rc;
    }
    model->precision = GLIA_PRECISION_BF16;
    /* the family's inference copies of a bf16 model (the text classifier: its token table,
     * made from the bf16 copies); without them it runs as it is */
    glia_err ignored = {0};
    if (model->ops->prepare)
        model->ops->prepare(model, 1, &ignored);
    return GLIA_OK;
}

glia_status glia_model_set_precision(glia_model *model, glia_precision want, glia_err *err)
{
    /* first: ops->prepare's copies are then made at the generation they serve (textnet.h), not
     * found stale and remade by the first request; a ctx's plan is derived at its next forward
     * either way */
    glia_model_weights_changed(model);
    return set_precision(model, want, err);
}

glia_decode_opts glia_model_decode_defaults(const glia_manifest *m)
{
    return (glia_decode_opts){m->decoding.beam_size, m->decoding.max_tokens, m->decoding.length_penalty,
                              m->decoding.no_repeat_ngram};
}

void glia_model_zero_grads(glia_model *model)
{
    if (model->grads)
        memset(model->grads, 0, sizeof(float) * (model->size - model->nbuffers));
}

static const char *const method_names[] = {"gradient_x_input", "smoothgrad", "gradient_x_embedding",
                                           "integrated_gradients", "attention"};

const char *glia_explain_method_name(glia_explain_method m)
{
    return (unsigned)m < sizeof method_names / sizeof method_names[0] ? method_names[m] : "unknown";
}

int glia_explain_method_parse(const char *name)
{
    for (int i = 0; name && i < (int)(sizeof method_names / sizeof method_names[0]); i++)
        if (strcmp(method_names[i], name) == 0)
            return i;
    return -1;
}

glia_status glia_model_explain(const glia_model *model, const glia_batch *b, const glia_explain_opts *opts,
                               glia_explanation *out, glia_err *err)
{
    if (!model->ops->explain)
        return glia_err_set(err, GLIA_EUNSUPPORTED, "%s models have no explanations", model->ops->family);
    if (b->n != 1)
        return glia_err_set(err, GLIA_EINVAL, "explain takes one input (got %d)", b->n);
    if (opts->target < -1 || (model->ops->output == GLIA_OUTPUT_CLASSES && opts->target >= model->outputs))
        return glia_err_set(err, GLIA_EINVAL, "target %d is out of range: the model has classes 0 to %d",
                            opts->target, model->outputs - 1);
    if (opts->method == GLIA_EXPLAIN_SMOOTHGRAD &&
        (opts->samples < 1 || opts->samples > GLIA_EXPLAIN_MAX_SAMPLES || !(opts->noise >= 0.0f) ||
         opts->noise > 10.0f))
        return glia_err_set(err, GLIA_EINVAL, "smoothgrad needs samples 1..%d and noise 0..10 (got %d, %g)",
                            GLIA_EXPLAIN_MAX_SAMPLES, opts->samples, (double)opts->noise);
    if (opts->method == GLIA_EXPLAIN_INTEGRATED_GRADIENTS &&
        (opts->steps < 1 || opts->steps > GLIA_EXPLAIN_MAX_STEPS))
        return glia_err_set(err, GLIA_EINVAL, "integrated_gradients needs steps 1..%d (got %d)",
                            GLIA_EXPLAIN_MAX_STEPS, opts->steps);
    return model->ops->explain(model, b, opts, out, err);
}

int glia_softmax_argmax(const float *logits, int k, float *probs)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        best = logits[j] > logits[best] ? j : best;
    double sum = 0.0;
    for (int j = 0; j < k; j++)
        sum += exp((double)logits[j] - (double)logits[best]);
    for (int j = 0; j < k; j++)
        probs[j] = (float)(exp((double)logits[j] - (double)logits[best]) / sum);
    return best;
}

const glia_param *glia_model_find_param(const glia_model *model, const char *name)
{
    return glia_params_find(model->params, model->nparams, name);
}

glia_model *glia_family_wrap(const glia_model_ops *ops, void *impl)
{
    glia_model *model = calloc(1, sizeof *model);
    if (model) {
        model->ops = ops;
        model->impl = impl;
    }
    return model;
}

glia_model_ctx *glia_family_ctx(const glia_model_ops *ops, const glia_ctx_spec *spec, void *impl)
{
    glia_model_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->ops = ops;
        ctx->spec = *spec;
        ctx->impl = impl;
    }
    return ctx;
}

glia_status glia_family_set_vocab(const glia_manifest *m, int *stated, const char *key, int size,
                                  glia_err *err)
{
    if (*stated && *stated != size)
        return glia_err_set(err, GLIA_EINVAL, "%s: %s is %d but the tokenizer %s has %d ids", m->path, key,
                            *stated, m->tokenizer, size);
    *stated = size;
    return GLIA_OK;
}
