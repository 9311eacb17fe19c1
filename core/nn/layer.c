/*
 * layer.c - the table from kinds and manifest spellings to layer ops, and the
 * small helpers every layer implementation shares.
 */
#include "core/nn/layer.h"

#include <string.h>

static const struct {
    const char *type;
    glia_layer_kind kind;
    const glia_layer_ops *ops;
} kinds[] = {
    {"conv2d", GLIA_LAYER_CONV2D, &glia_conv2d_ops},
    {"maxpool2d", GLIA_LAYER_MAXPOOL2D, &glia_maxpool2d_ops},
    {"avgpool2d", GLIA_LAYER_AVGPOOL2D, &glia_avgpool2d_ops},
    {"linear", GLIA_LAYER_LINEAR, &glia_linear_ops},
    {"relu", GLIA_LAYER_RELU, &glia_relu_ops},
    {"tanh", GLIA_LAYER_TANH, &glia_tanh_ops},
    {"sigmoid", GLIA_LAYER_SIGMOID, &glia_sigmoid_ops},
    {"flatten", GLIA_LAYER_FLATTEN, &glia_flatten_ops},
    {"dropout", GLIA_LAYER_DROPOUT, &glia_dropout_ops},
    {"batchnorm2d", GLIA_LAYER_BATCHNORM2D, &glia_batchnorm2d_ops},
};

const glia_layer_ops *glia_layer_ops_for(glia_layer_kind kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kinds[i].kind == kind)
            return kinds[i].ops;
    GLIA_ASSERT(!"unknown layer kind");
    return NULL;
}

glia_status glia_layer_kind_parse(const char *type, glia_layer_kind *kind, glia_err *err)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kinds[i].type, type) == 0) {
            *kind = kinds[i].kind;
            return GLIA_OK;
        }
    }
    return glia_err_set(err, GLIA_ENOTFOUND,
                        "unknown layer type '%s' (known: conv2d, maxpool2d, avgpool2d, linear, relu, tanh, "
                        "sigmoid, flatten, dropout, batchnorm2d)",
                        type);
}

int glia_chunk_samples(size_t per_sample)
{
    if (per_sample == 0)
        return 1 << 30;
    size_t c = GLIA_CHUNK_FLOATS / per_sample;
    return c < 1 ? 1 : (c > (1 << 30) ? 1 << 30 : (int)c);
}

size_t glia_layer_scratch_floats(const glia_layer *l, int n)
{
    int chunk = glia_chunk_samples(l->scratch_floats_per_sample);
    int m = n < chunk ? n : chunk;
    return (size_t)m * l->scratch_floats_per_sample;
}

void glia_param_shape(glia_param *p, int ndim, const int64_t *shape, int decay)
{
    p->ndim = ndim;
    p->size = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->size *= (size_t)shape[i];
    }
    p->decay = decay;
    p->buffer = 0;
    p->int64 = 0;
    p->value = NULL;
    p->grad = NULL;
}

void glia_grad_ready_range(const glia_grad_ready *ready, size_t offset, size_t count)
{
    if (ready && ready->fn)
        ready->fn(ready->user, offset, count);
}

void glia_grad_ready_params(const glia_grad_ready *ready, const glia_param *first, const glia_param *last)
{
    if (!ready || !ready->fn || last < first)
        return;
    GLIA_ASSERT(first->grad && last->grad && last->grad >= first->grad && first->grad >= ready->grads);
    const size_t offset = (size_t)(first->grad - ready->grads);
    ready->fn(ready->user, offset, (size_t)(last->grad - first->grad) + last->size);
}

void glia_fill_uniform(float *x, size_t n, float bound, glia_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (2.0f * glia_rng_uniform(rng) - 1.0f) * bound;
}
