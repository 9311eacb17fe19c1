/*
 * model.c - see model.h: the task table and what every family shares.
 */
#include "core/model/model.h"

#include <string.h>

#include "core/model/family.h"
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

void glia_model_free(glia_model *model)
{
    if (model)
        model->ops->destroy(model);
}

glia_decode_opts glia_model_decode_defaults(const glia_manifest *m)
{
    return (glia_decode_opts){m->decoding.beam_size, m->decoding.max_tokens, m->decoding.length_penalty};
}

void glia_model_zero_grads(glia_model *model)
{
    if (model->grads)
        memset(model->grads, 0, sizeof(float) * model->size);
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
