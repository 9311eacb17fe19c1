/*
 * pool2d.c - max and average pooling (nn.MaxPool2d, nn.AvgPool2d with ceil_mode=False,
 * dilation 1; AvgPool2d with count_include_pad=True, PyTorch's default).
 *
 * Max pooling saves the flat input index of each window's maximum (int32 per output)
 * so that backward is a scatter, not a second search; ties go to the first maximum in
 * row-major window order and NaN wins, as in PyTorch's CPU kernel. Padding counts as -inf for max
 * and as 0 (still counted in the divisor) for average.
 */
#include "core/nn/kernels.h"
#include "core/nn/layer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static glia_status pool_init(glia_layer *l, glia_shape3 in, glia_err *err)
{
    int k = l->cfg.pool.kernel, s = l->cfg.pool.stride, p = l->cfg.pool.padding;
    const char *type = l->ops->type;
    if (k <= 0 || s <= 0 || p < 0)
        return glia_err_set(
            err, GLIA_EINVAL,
            "%s: kernel_size and stride must be positive and padding non-negative (got %d, %d, %d)", type, k,
            s, p);
    if (2 * p > k)
        return glia_err_set(err, GLIA_EINVAL, "%s: padding %d must be at most half of kernel_size %d", type,
                            p, k);
    if (in.h + 2 * p < k || in.w + 2 * p < k)
        return glia_err_set(err, GLIA_EINVAL, "%s: kernel %d is larger than the padded input %dx%d", type, k,
                            in.h + 2 * p, in.w + 2 * p);
    l->in = in;
    l->out = (glia_shape3){in.c, glia_window_out(in.h, k, s, p), glia_window_out(in.w, k, s, p)};
    l->nparams = 0;
    l->scratch_floats_per_sample = 0;
    l->saved_bytes_per_sample =
        l->kind == GLIA_LAYER_MAXPOOL2D ? glia_shape3_size(l->out) * sizeof(int32_t) : 0;
    return GLIA_OK;
}

static void pool_reset(glia_layer *l, glia_rng *rng) {}

/* The common 2x2, stride 2, no padding case. Selects with conditional moves instead of
 * the general loop's branches, which mispredict on every other comparison of real data
 * (this path was 8% of a training profile before). Same rule, same answers. */
static void maxpool_2x2(const float *x, float *y, int32_t *argmax, size_t planes, int h, int w, int oh_n,
                        int ow_n)
{
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        float *restrict yp = y + pl * oh_n * ow_n;
        int32_t *restrict ap = argmax ? argmax + pl * oh_n * ow_n : NULL;
        for (int oh = 0; oh < oh_n; oh++) {
            const float *r0 = xp + 2 * oh * w, *r1 = r0 + w;
            const int32_t base = 2 * oh * w;
            float *restrict yr = yp + oh * ow_n;
            /* two copies of the row loop, so that neither tests ap per element: without
             * the test GCC vectorises them (the inference one 4x faster at batch 1) */
            if (!ap) {
                for (int ow = 0; ow < ow_n; ow++) {
                    const int c = 2 * ow;
                    float m = r0[c], v = r0[c + 1];
                    m = (v > m) | (v != v) ? v : m;
                    v = r1[c];
                    m = (v > m) | (v != v) ? v : m;
                    v = r1[c + 1];
                    m = (v > m) | (v != v) ? v : m;
                    yr[ow] = m;
                }
                continue;
            }
            int32_t *restrict ar = ap + oh * ow_n;
            for (int ow = 0; ow < ow_n; ow++) {
                const int c = 2 * ow;
                float m = r0[c];
                int32_t at = base + c;
                float v = r0[c + 1];
                int t = (v > m) | (v != v);
                m = t ? v : m;
                at = t ? base + c + 1 : at;
                v = r1[c];
                t = (v > m) | (v != v);
                m = t ? v : m;
                at = t ? base + w + c : at;
                v = r1[c + 1];
                t = (v > m) | (v != v);
                m = t ? v : m;
                at = t ? base + w + c + 1 : at;
                yr[ow] = m;
                ar[ow] = at;
            }
        }
    }
}

static void maxpool_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    const int h = l->in.h, w = l->in.w, oh_n = l->out.h, ow_n = l->out.w;
    const int k = l->cfg.pool.kernel, stride = l->cfg.pool.stride, pad = l->cfg.pool.padding;
    const size_t planes = (size_t)n * l->in.c;
    int32_t *argmax = p->training ? (int32_t *)p->saved : NULL;
    if (k == 2 && stride == 2 && pad == 0) {
        maxpool_2x2(x, y, argmax, planes, h, w, oh_n, ow_n);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        float *yp = y + pl * oh_n * ow_n;
        int32_t *ap = argmax ? argmax + pl * oh_n * ow_n : NULL;
        for (int oh = 0; oh < oh_n; oh++) {
            int h0 = oh * stride - pad, h1 = h0 + k;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > h ? h : h1;
            for (int ow = 0; ow < ow_n; ow++) {
                int w0 = ow * stride - pad, w1 = w0 + k;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > w ? w : w1;
                float best = -INFINITY;
                int32_t at = h0 * w + w0;
                for (int ih = h0; ih < h1; ih++) {
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[ih * w + iw];
                        /* PyTorch's CPU rule: a NaN wins over any number (the last NaN, as
                         * no comparison with it is true) */
                        if (v > best || isnan(v)) {
                            best = v;
                            at = ih * w + iw;
                        }
                    }
                }
                yp[oh * ow_n + ow] = best;
                if (ap)
                    ap[oh * ow_n + ow] = at;
            }
        }
    }
}

static void maxpool_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                             glia_pass *p)
{
    if (!dx)
        return;
    const size_t in_plane = (size_t)l->in.h * l->in.w, out_plane = (size_t)l->out.h * l->out.w;
    const size_t planes = (size_t)n * l->in.c;
    const int32_t *argmax = (const int32_t *)p->saved;
    memset(dx, 0, sizeof(float) * planes * in_plane);
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * in_plane;
        const float *dyp = dy + pl * out_plane;
        const int32_t *ap = argmax + pl * out_plane;
        for (size_t i = 0; i < out_plane; i++)
            dxp[ap[i]] += dyp[i];
    }
}

static void avgpool_forward(glia_layer *l, const float *x, float *y, int n, glia_pass *p)
{
    const int h = l->in.h, w = l->in.w, oh_n = l->out.h, ow_n = l->out.w;
    const int k = l->cfg.pool.kernel, stride = l->cfg.pool.stride, pad = l->cfg.pool.padding;
    const size_t planes = (size_t)n * l->in.c;
    const float inv = 1.0f / (float)(k * k); /* count_include_pad=True */
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        float *yp = y + pl * oh_n * ow_n;
        for (int oh = 0; oh < oh_n; oh++) {
            int h0 = oh * stride - pad, h1 = h0 + k;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > h ? h : h1;
            for (int ow = 0; ow < ow_n; ow++) {
                int w0 = ow * stride - pad, w1 = w0 + k;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > w ? w : w1;
                float acc = 0.0f;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        acc += xp[ih * w + iw];
                yp[oh * ow_n + ow] = acc * inv;
            }
        }
    }
}

static void avgpool_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx, int n,
                             glia_pass *p)
{
    if (!dx)
        return;
    const int h = l->in.h, w = l->in.w, oh_n = l->out.h, ow_n = l->out.w;
    const int k = l->cfg.pool.kernel, stride = l->cfg.pool.stride, pad = l->cfg.pool.padding;
    const size_t planes = (size_t)n * l->in.c;
    const float inv = 1.0f / (float)(k * k);
    memset(dx, 0, sizeof(float) * planes * h * w);
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * h * w;
        const float *dyp = dy + pl * oh_n * ow_n;
        for (int oh = 0; oh < oh_n; oh++) {
            int h0 = oh * stride - pad, h1 = h0 + k;
            h0 = h0 < 0 ? 0 : h0;
            h1 = h1 > h ? h : h1;
            for (int ow = 0; ow < ow_n; ow++) {
                int w0 = ow * stride - pad, w1 = w0 + k;
                w0 = w0 < 0 ? 0 : w0;
                w1 = w1 > w ? w : w1;
                float g = dyp[oh * ow_n + ow] * inv;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        dxp[ih * w + iw] += g;
            }
        }
    }
}

const glia_layer_ops glia_maxpool2d_ops = {"maxpool2d", pool_init, pool_reset, maxpool_forward,
                                           maxpool_backward};
const glia_layer_ops glia_avgpool2d_ops = {"avgpool2d", pool_init, pool_reset, avgpool_forward,
                                           avgpool_backward};
