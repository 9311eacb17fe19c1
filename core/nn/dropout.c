/*
 * dropout.c - inverted dropout (nn.Dropout): in training each element is zeroed with
 * probability p and the survivors are scaled by 1/(1-p), so inference is the identity.
 *
 * The keep/drop decision is saved as one byte per element for backward. The mask is
 * drawn from the caller's rng, never a global one, so a seed reproduces a run.
 */
#include "core/nn/kernels.h"
#include "core/nn/layer.h"

#include <stdint.h>
#include <string.h>

static glia_status dropout_init(glia_layer *l, glia_shape3 in, glia_err *err)
{
    float p = l->cfg.dropout.p;
    if (!(p >= 0.0f && p <= 1.0f))
        return glia_err_set(err, GLIA_EINVAL, "dropout: p must be in [0, 1] (got %g)", (double)p);
    l->in = in;
    l->out = in;
    l->nparams = 0;
    l->scratch_floats_per_sample = 0;
    l->saved_bytes_per_sample = glia_shape3_size(in);
    return GLIA_OK;
}

static void dropout_reset(glia_layer *l, glia_rng *rng) {}

static void dropout_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    size_t total = glia_shape3_size(l->in) * (size_t)n;
    float prob = l->cfg.dropout.p;
    if (!p->training || prob == 0.0f || p->no_dropout) {
        memcpy(y, x, sizeof(float) * total);
        if (p->training)
            memset(p->saved, 1, total);
        return;
    }
    glia_dropout_forward(x, y, p->saved, total, prob, p->rng);
}

static void dropout_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                             glia_pass *p)
{
    if (!dx)
        return;
    if (p->no_dropout) {
        memcpy(dx, dy, sizeof(float) * glia_shape3_size(l->in) * (size_t)n);
        return;
    }
    glia_dropout_backward(dy, dx, p->saved, glia_shape3_size(l->in) * (size_t)n, l->cfg.dropout.p);
}

const glia_layer_ops glia_dropout_ops = {"dropout", dropout_init, dropout_reset, dropout_forward,
                                         dropout_backward};
