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
 *
 * Small stride-1 images (fashion-cnn's 28x28 and 14x14) take a direct kernel instead
 * where the CPU has one (kernels.h, glia_conv_direct): forward per sample, and dx as
 * the transposed convolution (dY padded by k-1-pad, convolved with W flipped in both
 * taps and with in/out channels swapped), which replaces dcol's GEMM and col2im.
 * Training runs 3x3, stride-1, padding-1 convolutions of 8 or more input channels as Winograd
 * F(2x2, 3x3) instead, forward and dx (see train_winograd); dW keeps im2col + GEMM.
 * When the network folds the following ReLU in (cfg.conv.relu), forward clamps on
 * the store and backward masks dY by y > 0 where it reads it.
 * An inference plan (net.c) may hand forward a copy of the layer with Winograd-transformed
 * weights (cfg.conv.winograd): 3x3 stride-1 "same" convolutions then run as
 * glia_winograd_conv, 2.25x fewer multiply-adds, and a 2x2 max-pool after such a conv (and its
 * ReLU) is taken inside it (cfg.conv.pool): forward's y is then the pool's output; such a
 * conv may run F(4x4, 3x3) instead (cfg.conv.winograd4), 1.78x fewer again.
 */
#include "core/nn/bf16.h"
#include "core/nn/kernels.h"
#include "core/nn/layer.h"

#include <math.h>
#include <string.h>

/* Scratch floats per sample: im2col's columns and the GEMM output; the direct
 * forward's padded input; the direct backward's GEMM part for dW plus W flipped and
 * dY's padded copy. 0 where the direct kernel does not serve the shape. */
static size_t gemm_floats(const glia_layer *l)
{
    int k = l->cfg.conv.kernel;
    return ((size_t)l->in.c * k * k + (size_t)l->out.c) * (size_t)l->out.h * l->out.w;
}

static size_t direct_fwd_floats(const glia_layer *l)
{
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.padding;
    if (!glia_conv_direct_ok(l->in.h, l->in.w, k, s, p))
        return 0;
    return glia_conv_direct_scratch(l->in.c, l->in.h, l->in.w, k, p);
}

static size_t direct_bwd_floats(const glia_layer *l)
{
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.padding;
    if (!glia_conv_direct_ok(l->out.h, l->out.w, k, s, k - 1 - p))
        return 0;
    return gemm_floats(l) + (size_t)l->in.c * l->out.c * k * k +
           glia_conv_direct_scratch(l->out.c, l->out.h, l->out.w, k, k - 1 - p);
}

/* Training (not an input-gradient pass, whose forward is inference's: no_dropout) runs a 3x3,
 * stride 1, padding 1 conv of 8 or more input channels as Winograd
 * F(2x2, 3x3) (kernels.h), forward and for dx (the transposed convolution is the same shape),
 * with the weights transformed once per call: 2.25x fewer multiply-adds than the direct
 * kernel, measured 1.3-1.6x faster per sample on fashion-cnn's layers (OpenBLAS Cooperlake
 * kernels; 1.23-1.34x with its Haswell ones). Not with fewer input channels, for the reason
 * net.c's inference plan gives. Forward's scratch: the transformed weights, then the
 * convolution's; dx's: the flipped weights and their transform, then a chunk's dW product
 * (as many samples as fit), then in its place one sample's gated dY and the convolution's
 * scratch. */
static int train_winograd(const glia_layer *l)
{
    return l->in.c >= 8 && glia_winograd_ok(l->cfg.conv.kernel, l->cfg.conv.stride, l->cfg.conv.padding);
}

static size_t wino_fwd_floats(const glia_layer *l)
{
    if (!train_winograd(l))
        return 0;
    return glia_winograd_weight_floats(l->out.c, l->in.c) +
           glia_winograd_scratch(l->in.c, l->out.c, l->in.h, l->in.w);
}

/* dx's flipped weights and their transform, made once per call */
static size_t wino_dx_weights(const glia_layer *l)
{
    const int k = l->cfg.conv.kernel;
    return (size_t)l->in.c * l->out.c * k * k + glia_winograd_weight_floats(l->in.c, l->out.c);
}

static size_t wino_dx_floats(const glia_layer *l)
{
    if (!train_winograd(l))
        return 0;
    size_t gemm = gemm_floats(l),
           conv = glia_shape3_size(l->out) + glia_winograd_scratch(l->out.c, l->in.c, l->out.h, l->out.w);
    return wino_dx_weights(l) + (gemm > conv ? gemm : conv);
}

/* Whether a direct path runs: it serves the shape now and init() planned scratch for
 * it (glia_conv_direct_enable may have changed in between). */
static int direct_planned(const glia_layer *l, size_t need)
{
    return need && need <= l->scratch_floats_per_sample;
}

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
    size_t gemm = gemm_floats(l), fwd = direct_fwd_floats(l), bwd = direct_bwd_floats(l);
    size_t wino = glia_winograd_ok(k, s, p) ? glia_winograd_scratch(ic, oc, in.h, in.w) : 0;
    size_t wino4 = glia_winograd_ok(k, s, p) ? glia_winograd4_scratch(ic, oc, in.h, in.w) : 0;
    size_t need = gemm > fwd ? gemm : fwd;
    need = need > wino ? need : wino;
    need = need > wino4 ? need : wino4;
    size_t twf = wino_fwd_floats(l), twd = wino_dx_floats(l);
    need = need > twf ? need : twf;
    need = need > twd ? need : twd;
    l->scratch_floats_per_sample = need > bwd ? need : bwd;
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
    const int relu = l->cfg.conv.relu;

    /* bf16 inference (bf16.h) where the layer's scratch holds its packed patches */
    if (l->params[0].bf16 && glia_bf16_conv_scratch(ic, k, oh, ow) <= l->scratch_floats_per_sample) {
        for (int s = 0; s < n; s++)
            glia_bf16_conv(x + (size_t)s * in_size, ic, h, w, k, stride, pad, oh, ow, l->params[0].bf16, bias,
                           relu, y + (size_t)s * out_size, p->scratch);
        return;
    }
    if (l->cfg.conv.winograd && !p->training) {
        /* an inference plan's copy with the transformed weights (net.c), maybe its pool too */
        const int pool = l->cfg.conv.pool;
        const size_t y_size = pool ? (size_t)oc * (oh / 2) * (ow / 2) : out_size;
        for (int s = 0; s < n; s++)
            if (l->cfg.conv.winograd4)
                glia_winograd4_pool_conv(x + (size_t)s * in_size, ic, h, w, l->cfg.conv.winograd, bias, oc,
                                         relu, y + (size_t)s * y_size, p->scratch);
            else
                glia_winograd_conv(x + (size_t)s * in_size, ic, h, w, l->cfg.conv.winograd, bias, oc, relu,
                                   pool, y + (size_t)s * y_size, p->scratch);
        return;
    }
    if (p->training && !p->no_dropout && direct_planned(l, wino_fwd_floats(l))) {
        float *u = p->scratch, *ws = u + glia_winograd_weight_floats(oc, ic);
        glia_winograd_weights(weight, oc, ic, u);
        for (int s = 0; s < n; s++)
            glia_winograd_conv(x + (size_t)s * in_size, ic, h, w, u, bias, oc, relu, 0,
                               y + (size_t)s * out_size, ws);
        return;
    }
    if (direct_planned(l, direct_fwd_floats(l))) {
        for (int s = 0; s < n; s++)
            glia_conv_direct(x + (size_t)s * in_size, NULL, ic, h, w, weight, ckk, bias, oc, k, pad, relu,
                             y + (size_t)s * out_size, p->scratch);
        return;
    }
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
                if (relu)
                    for (size_t i = 0; i < ohw; i++) {
                        float v = src[i] + b;
                        dst[i] = v > 0.0f ? v : (isnan(v) ? v : 0.0f); /* activation.c's ReLU */
                    }
                else
                    for (size_t i = 0; i < ohw; i++)
                        dst[i] = src[i] + b;
            }
        }
    }
}

/* Sum of x[0..n) in 16 interleaved partial sums: one running sum is a chain of
 * dependent adds the compiler may not reorder (no -ffast-math), 4 cycles per element;
 * this order vectorises. It is fixed, so results stay deterministic. */
static float sum16(const float *x, size_t n)
{
    float part[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++)
            part[j] += x[i + j];
    for (; i < n; i++)
        part[i % 16] += x[i];
    float acc = 0.0f;
    for (int j = 0; j < 16; j++)
        acc += part[j];
    return acc;
}

/* The folded ReLU's backward: dst = dy where y > 0, else 0. */
static void relu_gate(const float *dy, const float *y, float *dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = dy[i]; /* loaded unconditionally: see relu_backward */
        dst[i] = y[i] > 0.0f ? g : 0.0f;
    }
}

/* The transposed convolution's weights for dx: wt (ic, oc, k, k) with
 * wt[ci][o][t] = w[o][ci][kk-1-t], both taps flipped. */
static void flip_weights(const float *weight, int oc, int ic, int kk, float *wt)
{
    const size_t ckk = (size_t)ic * kk;
    for (int ci = 0; ci < ic; ci++)
        for (int o = 0; o < oc; o++)
            for (int t = 0; t < kk; t++)
                wt[((size_t)ci * oc + o) * kk + t] = weight[(size_t)o * ckk + (size_t)ci * kk + (kk - 1 - t)];
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
    const int relu = l->cfg.conv.relu;
    const int wino_dx = dx && !p->no_dropout && direct_planned(l, wino_dx_floats(l));
    const int direct_dx = dx && !wino_dx && direct_planned(l, direct_bwd_floats(l));
    const int kk = k * k;

    /* the flipped weights for the direct dx sit after the largest chunk's GEMM part */
    float *wt = p->scratch + (size_t)(n < chunk ? n : chunk) * (ckk + (size_t)oc) * ohw;
    float *pad_buf = wt + (size_t)ic * oc * kk;
    if (direct_dx) {
        flip_weights(weight, oc, ic, kk, wt);
    } else if (dx && !wino_dx) {
        memset(dx, 0, sizeof(float) * in_size * (size_t)n);
    }
    /* Winograd dx: its weights first (planned: at least one sample's GEMM part follows) */
    float *wf = p->scratch, *u = wf + (size_t)ic * oc * kk, *work = p->scratch;
    int gchunk = chunk;
    if (wino_dx) {
        const size_t avail = (size_t)(n < chunk ? n : chunk) * l->scratch_floats_per_sample;
        work = p->scratch + wino_dx_weights(l);
        gchunk = (int)((avail - wino_dx_weights(l)) / gemm_floats(l));
        gchunk = gchunk < 1 ? 1 : gchunk;
        flip_weights(weight, oc, ic, kk, wf);
        glia_winograd_weights(wf, ic, oc, u);
    }
    for (int s0 = 0; s0 < n; s0 += gchunk) {
        int m = n - s0 < gchunk ? n - s0 : gchunk;
        size_t ld = (size_t)m * ohw;
        float *col = work, *dout = work + ckk * ld;
        /* gather dY into (OC, chunk*OHW), applying the folded ReLU's backward, and
         * reduce the bias gradient on the way */
        for (int s = 0; s < m; s++) {
            const float *dys = dy + (size_t)(s0 + s) * out_size;
            const float *ys = relu ? y + (size_t)(s0 + s) * out_size : NULL;
            for (int o = 0; o < oc; o++) {
                const float *src = dys + (size_t)o * ohw, *yo = relu ? ys + (size_t)o * ohw : NULL;
                float *dst = dout + (size_t)o * ld + s * ohw;
                if (relu)
                    relu_gate(src, yo, dst, ohw);
                else
                    memcpy(dst, src, sizeof(float) * ohw);
                if (dbias)
                    dbias[o] += sum16(dst, ohw);
            }
        }
        if (dweight) {
            for (int s = 0; s < m; s++)
                glia_im2col(x + (size_t)(s0 + s) * in_size, ic, h, w, k, stride, pad, oh, ow, col + s * ohw,
                            ld);
            glia_gemm(0, 1, oc, (int)ckk, (int)ld, 1.0f, dout, (int)ld, col, (int)ld, 1.0f, dweight,
                      (int)ckk);
        }
        if (wino_dx) {
            /* in the place of the columns, which dW has used: one sample's gated dY, then the
             * convolution's scratch */
            float *gdy = work, *ws = gdy + out_size;
            for (int s = 0; s < m; s++) {
                const float *dys = dy + (size_t)(s0 + s) * out_size;
                if (relu) {
                    relu_gate(dys, y + (size_t)(s0 + s) * out_size, gdy, out_size);
                    dys = gdy;
                }
                glia_winograd_conv(dys, oc, oh, ow, u, NULL, ic, 0, 0, dx + (size_t)(s0 + s) * in_size, ws);
            }
        } else if (direct_dx) {
            for (int s = 0; s < m; s++)
                glia_conv_direct(dy + (size_t)(s0 + s) * out_size,
                                 relu ? y + (size_t)(s0 + s) * out_size : NULL, oc, oh, ow, wt,
                                 (size_t)oc * kk, NULL, ic, k, k - 1 - pad, 0,
                                 dx + (size_t)(s0 + s) * in_size, pad_buf);
        } else if (dx) {
            glia_gemm(1, 0, (int)ckk, (int)ld, oc, 1.0f, weight, (int)ckk, dout, (int)ld, 0.0f, col, (int)ld);
            for (int s = 0; s < m; s++)
                glia_col2im(col + s * ohw, ld, ic, h, w, k, stride, pad, oh, ow,
                            dx + (size_t)(s0 + s) * in_size);
        }
    }
}

const glia_layer_ops glia_conv2d_ops = {"conv2d", conv_init, conv_reset, conv_forward, conv_backward};
