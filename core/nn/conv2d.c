/*
 * conv2d.c - 2-D convolution (PyTorch's nn.Conv2d: cross-correlation, square kernel,
 * stride, zero padding, groups = 1, bias).
 *
 * weight is (out_channels, in_channels, k, k), bias (out_channels).
 * Forward: for a chunk of samples, im2col lays each sample's patches side by side in
 * one (C*k*k, chunk*OH*OW) matrix, so a single GEMM with the weight (OC, C*k*k)
 * computes the whole chunk; the (OC, chunk*OHW) result is then scattered to NCHW and
 * the bias added. Chunking keeps the scratch bounded (GLIA_CHUNK_FLOATS) while the
 * GEMM stays large enough for OpenBLAS to run near peak.
 * Backward recomputes im2col instead of keeping it, trading a cheap copy for memory:
 *   dW += dY * col^T,   db += sum dY,   dcol = W^T * dY  -> col2im -> dx.
 */
#include "core/nn/kernels.h"
#include "core/nn/layer.h"

#include <math.h>
#include <string.h>

static glia_status conv_init(glia_layer *l, glia_shape3 in, glia_err *err)
{
    int ic = l->cfg.conv.in_channels, oc = l->cfg.conv.out_channels, k = l->cfg.conv.kernel;
    int s = l->cfg.conv.stride, p = l->cfg.conv.padding;
    if (ic <= 0 || oc <= 0 || k <= 0 || s <= 0 || p < 0)
        return glia_err_set(err, GLIA_EINVAL,
                            "conv2d: in_channels, out_channels, kernel_size and stride must be positive and "
                            "padding non-negative (got %d, %d, %d, %d, %d)",
                            ic, oc, k, s, p);
    if (in.c != ic)
        return glia_err_set(err, GLIA_EINVAL, "conv2d: in_channels is %d but its input has %d channels", ic,
                            in.c);
    if (in.h + 2 * p < k || in.w + 2 * p < k)
        return glia_err_set(err, GLIA_EINVAL, "conv2d: kernel %d is larger than the padded input %dx%d", k,
                            in.h + 2 * p, in.w + 2 * p);
    l->in = in;
    l->out = (glia_shape3){oc, glia_window_out(in.h, k, s, p), glia_window_out(in.w, k, s, p)};
    int64_t wshape[4] = {oc, ic, k, k};
    int64_t bshape[1] = {oc};
    l->nparams = 2;
    glia_param_shape(&l->params[0], 4, wshape, 1);
    glia_param_shape(&l->params[1], 1, bshape, 1);
    size_t ohw = (size_t)l->out.h * l->out.w;
    l->scratch_floats_per_sample = ((size_t)ic * k * k + (size_t)oc) * ohw;
    l->saved_bytes_per_sample = 0;
    return GLIA_OK;
}

static void conv_reset(glia_layer *l, glia_rng *rng)
{
    int k = l->cfg.conv.kernel;
    float bound = 1.0f / sqrtf((float)(l->cfg.conv.in_channels * k * k));
    glia_fill_uniform(l->params[0].value, l->params[0].size, bound, rng);
    glia_fill_uniform(l->params[1].value, l->params[1].size, bound, rng);
}

static void conv_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    const int ic = l->in.c, h = l->in.h, w = l->in.w, oc = l->out.c, oh = l->out.h, ow = l->out.w;
    const int k = l->cfg.conv.kernel, stride = l->cfg.conv.stride, pad = l->cfg.conv.padding;
    const size_t ohw = (size_t)oh * ow, ckk = (size_t)ic * k * k;
    const size_t in_size = (size_t)ic * h * w, out_size = (size_t)oc * ohw;
    const float *weight = l->params[0].value, *bias = l->params[1].value;
    const int chunk = glia_chunk_samples(l->scratch_floats_per_sample);

    for (int s0 = 0; s0 < n; s0 += chunk) {
        int m = n - s0 < chunk ? n - s0 : chunk;
        size_t ld = (size_t)m * ohw;
        float *col = p->scratch, *out = p->scratch + ckk * ld;
        for (int s = 0; s < m; s++)
            glia_im2col(x + (size_t)(s0 + s) * in_size, ic, h, w, k, stride, pad, oh, ow, col + s * ohw, ld);
        glia_gemm(0, 0, oc, (int)ld, (int)ckk, 1.0f, weight, (int)ckk, col, (int)ld, 0.0f, out, (int)ld);
        for (int s = 0; s < m; s++) {
            float *ys = y + (size_t)(s0 + s) * out_size;
            for (int o = 0; o < oc; o++) {
                const float *src = out + (size_t)o * ld + s * ohw;
                float *dst = ys + (size_t)o * ohw;
                float b = bias[o];
                for (size_t i = 0; i < ohw; i++)
                    dst[i] = src[i] + b;
            }
        }
    }
}

static void conv_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                          glia_pass *p)
{
    const int ic = l->in.c, h = l->in.h, w = l->in.w, oc = l->out.c, oh = l->out.h, ow = l->out.w;
    const int k = l->cfg.conv.kernel, stride = l->cfg.conv.stride, pad = l->cfg.conv.padding;
    const size_t ohw = (size_t)oh * ow, ckk = (size_t)ic * k * k;
    const size_t in_size = (size_t)ic * h * w, out_size = (size_t)oc * ohw;
    const float *weight = l->params[0].value;
    float *dweight = l->params[0].grad, *dbias = l->params[1].grad;
    const int chunk = glia_chunk_samples(l->scratch_floats_per_sample);

    if (dx)
        memset(dx, 0, sizeof(float) * in_size * (size_t)n);
    for (int s0 = 0; s0 < n; s0 += chunk) {
        int m = n - s0 < chunk ? n - s0 : chunk;
        size_t ld = (size_t)m * ohw;
        float *col = p->scratch, *dout = p->scratch + ckk * ld;
        /* gather dY into (OC, chunk*OHW) and reduce the bias gradient on the way */
        for (int s = 0; s < m; s++) {
            const float *dys = dy + (size_t)(s0 + s) * out_size;
            for (int o = 0; o < oc; o++) {
                const float *src = dys + (size_t)o * ohw;
                float *dst = dout + (size_t)o * ld + s * ohw;
                float acc = 0.0f;
                for (size_t i = 0; i < ohw; i++) {
                    dst[i] = src[i];
                    acc += src[i];
                }
                if (dbias)
                    dbias[o] += acc;
            }
        }
        if (dweight) {
            for (int s = 0; s < m; s++)
                glia_im2col(x + (size_t)(s0 + s) * in_size, ic, h, w, k, stride, pad, oh, ow, col + s * ohw,
                            ld);
            glia_gemm(0, 1, oc, (int)ckk, (int)ld, 1.0f, dout, (int)ld, col, (int)ld, 1.0f, dweight, (int)ckk);
        }
        if (dx) {
            glia_gemm(1, 0, (int)ckk, (int)ld, oc, 1.0f, weight, (int)ckk, dout, (int)ld, 0.0f, col, (int)ld);
            for (int s = 0; s < m; s++)
                glia_col2im(col + s * ohw, ld, ic, h, w, k, stride, pad, oh, ow, dx + (size_t)(s0 + s) * in_size);
        }
    }
}

const glia_layer_ops glia_conv2d_ops = {"conv2d", conv_init, conv_reset, conv_forward, conv_backward};
