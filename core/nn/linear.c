/*
 * linear.c - fully connected layer (nn.Linear): y = x W^T + b.
 *
 * x is (n, in_features), weight (out_features, in_features), bias (out_features).
 * Like PyTorch, Linear acts on flat features: its input shape must be (in, 1, 1),
 * so a CNN flattens first and the flatten order is NCHW's, as torch.flatten's.
 *   dW += dy^T x,   db += sum_rows dy,   dx = dy W.
 */
#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/layer.h"

#include <math.h>
#include <string.h>

static glia_status linear_init(glia_layer *l, glia_shape3 in, glia_err *err)
{
    int fin = l->cfg.linear.in_features, fout = l->cfg.linear.out_features;
    if (fin <= 0 || fout <= 0)
        return glia_err_set(err, GLIA_EINVAL,
                            "linear: in_features and out_features must be positive (got %d, %d)", fin, fout);
    if (in.h != 1 || in.w != 1)
        return glia_err_set(err, GLIA_EINVAL,
                            "linear: input has shape (%d, %d, %d); add a flatten layer before it", in.c, in.h,
                            in.w);
    if (in.c != fin)
        return glia_err_set(err, GLIA_EINVAL, "linear: in_features is %d but its input has %d features", fin,
                            in.c);
    l->in = in;
    l->out = (glia_shape3){fout, 1, 1};
    int64_t wshape[2] = {fout, fin};
    int64_t bshape[1] = {fout};
    l->nparams = 2;
    glia_param_shape(&l->params[0], 2, wshape, 1);
    glia_param_shape(&l->params[1], 1, bshape, 1);
    l->scratch_floats_per_sample = 0;
    l->saved_bytes_per_sample = 0;
    return GLIA_OK;
}

static void linear_reset(glia_layer *l, glia_rng *rng)
{
    float bound = 1.0f / sqrtf((float)l->cfg.linear.in_features);
    glia_fill_uniform(l->params[0].value, l->params[0].size, bound, rng);
    glia_fill_uniform(l->params[1].value, l->params[1].size, bound, rng);
}

static void linear_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    const int fin = l->cfg.linear.in_features, fout = l->cfg.linear.out_features;
    if (l->params[0].bf16) { /* bf16 inference (bf16.h), any batch */
        glia_linear_forward_param(x, n, fin, &l->params[0], 0, l->params[1].value, fout, y, fout);
        return;
    }
    if (n == 1) {
        /* one sample (a served request): gemv reads the weights where they lie, where sgemm
         * would pack all of them first (with OpenBLAS' Haswell kernels that packing doubled
         * the CNN's batch-1 latency) */
        memcpy(y, l->params[1].value, sizeof(float) * (size_t)fout);
        glia_gemv(1, fout, fin, 1.0f, x, l->params[0].value, fin, 1.0f, y);
        return;
    }
    glia_linear_forward(x, n, fin, l->params[0].value, l->params[1].value, fout, y, fout);
}

static void linear_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                            glia_pass *p)
{
    const int fin = l->cfg.linear.in_features, fout = l->cfg.linear.out_features;
    glia_linear_backward(x, n, fin, l->params[0].value, l->params[0].grad, l->params[1].grad, fout, dy, fout,
                         dx, 0.0f);
}

const glia_layer_ops glia_linear_ops = {"linear", linear_init, linear_reset, linear_forward, linear_backward};
