/*
 * test_layers.c - every layer kind on its own.
 *
 * Forward: against naive references written here (direct convolution loops, window
 * loops for pooling, a dot product per output for linear, libm for the activations).
 * Backward: input and parameter gradients against central finite differences
 * (tests/support/gradcheck), and convolution's also against a direct-loop reference, for
 * batches that span several of conv2d.c's im2col chunks; all of it on both convolution
 * paths (im2col + GEMM, and the direct kernel where the CPU has it; training's Winograd
 * path for 3x3, padding-1 convs of 8 or more input channels), and a conv with
 * the network's folded ReLU against conv followed by ReLU. The backward contract of
 * layer.h (parameter gradients accumulate, dx is overwritten, dx may be NULL), PyTorch's
 * rules (max-pool ties go to the first maximum, NaN wins; dropout scales survivors by
 * 1/(1-p) and is the identity in evaluation), PyTorch's default initialisation bounds,
 * and the configurations init() must refuse, with a message naming the problem.
 * A last case feeds gradcheck deliberately broken backward passes, to show that the
 * tolerances used here catch a gradient a few per cent off.
 */
#include "core/nn/kernels.h"
#include "core/nn/layer.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- specs and buffers ---- */

static glia_layer conv_spec(int ic, int oc, int k, int s, int p)
{
    glia_layer l = {0};
    l.kind = GLIA_LAYER_CONV2D;
    l.cfg.conv.in_channels = ic;
    l.cfg.conv.out_channels = oc;
    l.cfg.conv.kernel = k;
    l.cfg.conv.stride = s;
    l.cfg.conv.padding = p;
    return l;
}

static glia_layer pool_spec(glia_layer_kind kind, int k, int s, int p)
{
    glia_layer l = {0};
    l.kind = kind;
    l.cfg.pool.kernel = k;
    l.cfg.pool.stride = s;
    l.cfg.pool.padding = p;
    return l;
}

static glia_layer linear_spec(int in, int out)
{
    glia_layer l = {0};
    l.kind = GLIA_LAYER_LINEAR;
    l.cfg.linear.in_features = in;
    l.cfg.linear.out_features = out;
    return l;
}

static glia_layer dropout_spec(float p)
{
    glia_layer l = {0};
    l.kind = GLIA_LAYER_DROPOUT;
    l.cfg.dropout.p = p;
    return l;
}

static glia_layer bn_spec(int c)
{
    glia_layer l = {0};
    l.kind = GLIA_LAYER_BATCHNORM2D;
    l.cfg.bn.num_features = c;
    l.cfg.bn.eps = 1e-5f;
    l.cfg.bn.momentum = 0.1f;
    return l;
}

static glia_layer plain_spec(glia_layer_kind kind)
{
    glia_layer l = {0};
    l.kind = kind;
    return l;
}

static float *floats(size_t n)
{
    float *x = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(x);
    return x;
}

static float *uniform(size_t n, float lo, float hi, unsigned seed)
{
    float *x = floats(n);
    gc_uniform(x, n, lo, hi, seed);
    return x;
}

/* Distinct values in [-2, 2]: no ReLU kink and no max-pool tie within a quarter of their spacing. */
static float *distinct(size_t n, unsigned seed, float *gap)
{
    float *x = floats(n);
    *gap = 4.0f / (float)n;
    gc_distinct_inputs(x, n, *gap, seed);
    return x;
}

/* |a - b| <= tol * max(1, |b|) for every element, else fails naming the first index. */
static void expect_close(const float *a, const float *b, size_t n, float tol, const char *what)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= tol * fmaxf(1.0f, fabsf(b[i])), "%s[%zu]: %.8g, expected %.8g",
                      what, i, a[i], b[i]);
}

/* Gradient check of spec at (in, n) in training mode. smooth: inputs uniform in [-1, 1]
 * and step 1e-2; otherwise distinct values and a step a quarter of their spacing, so no
 * perturbation crosses a ReLU kink or reorders a max-pool window. */
static void check_grads(glia_layer spec, glia_shape3 in, int n, int smooth, size_t max_inputs,
                        const char *what)
{
    gc_layer g;
    gc_layer_new(&g, &spec, in, n, 1, 7);
    size_t nx = gc_in_size(&g);
    gc_opts o = gc_defaults();
    o.max_inputs = max_inputs;
    float gap, *x;
    if (smooth) {
        x = uniform(nx, -1.0f, 1.0f, 11);
    } else {
        x = distinct(nx, 11, &gap);
        o.step = fminf(0.25f * gap, 1e-2f);
    }
    gc_result r = gc_check(&g, x, &o);
    gc_expect(&r, what);
    ck_assert_uint_eq(r.kinks, 0);
    ck_assert_uint_eq(r.checked_inputs, max_inputs && max_inputs < nx ? max_inputs : nx);
    ck_assert_uint_eq(r.checked_params, g.nvalues);
    free(x);
    gc_layer_free(&g);
}

/* ---- convolution ---- */

/* ic, oc, kernel, stride, pad, h, w, n: square and non-square inputs; "same" convolutions
 * (im2col's shifted-plane path) and the general path; even kernels; strides 2 and 3;
 * padding as large as or larger than the input; 1x1 kernels; a 1x1 output. */
static const int conv_cfgs[][8] = {
    {1, 2, 3, 1, 1, 5, 5, 2},
    {3, 4, 3, 2, 1, 7, 6, 2},
    {2, 3, 2, 1, 0, 4, 5, 3},
    {2, 2, 5, 1, 2, 6, 6, 1},
    {1, 1, 1, 1, 0, 3, 3, 1},
    {2, 3, 3, 3, 0, 8, 7, 2},
    {1, 2, 3, 1, 3, 2, 3, 2},
    {2, 2, 3, 2, 2, 5, 4, 2},
    {3, 2, 1, 2, 0, 5, 7, 2},
    {2, 3, 3, 1, 1, 1, 6, 2},
    {1, 2, 4, 1, 0, 9, 4, 1},
    {2, 1, 3, 1, 0, 3, 3, 2},
    {2, 3, 3, 1, 1, 2, 9, 3},
    /* the direct kernel's borders (kernels.c): in_channels 1 with a partial last block
     * of 8 output channels, rows of 16, 17 and 33 output columns (one whole vector;
     * flat vectors spanning two rows), a last block of fewer than 3 vectors, a 5x5 kernel */
    {1, 9, 3, 1, 1, 5, 17, 2},
    {3, 10, 3, 1, 1, 4, 16, 1},
    {2, 3, 3, 1, 0, 3, 35, 1},
    {1, 8, 5, 1, 2, 7, 7, 2},
    /* training's Winograd path (conv2d.c: 3x3, stride 1, padding 1, in_channels >= 8),
     * forward and dx, odd sizes (tiles half outside) and several samples; beside it the same
     * channels with padding 0, which keep the direct kernel */
    {8, 9, 3, 1, 1, 6, 17, 3},
    {9, 4, 3, 1, 0, 5, 7, 2},
};
enum { NCONV = sizeof conv_cfgs / sizeof conv_cfgs[0] };

static glia_layer conv_cfg_spec(const int *v)
{
    return conv_spec(v[0], v[1], v[2], v[3], v[4]);
}

static size_t xat(const glia_layer *l, int n, int c, int i, int j)
{
    return (((size_t)n * l->in.c + c) * l->in.h + i) * l->in.w + j;
}

static size_t yat(const glia_layer *l, int n, int c, int i, int j)
{
    return (((size_t)n * l->out.c + c) * l->out.h + i) * l->out.w + j;
}

static void naive_conv(const gc_layer *g, const float *x, float *y)
{
    const glia_layer *l = &g->l;
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.padding;
    const float *w = l->params[0].value, *b = l->params[1].value;
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < l->out.c; o++)
            for (int i = 0; i < l->out.h; i++)
                for (int j = 0; j < l->out.w; j++) {
                    double acc = b[o];
                    for (int c = 0; c < l->in.c; c++)
                        for (int a = 0; a < k; a++)
                            for (int e = 0; e < k; e++) {
                                int ih = i * s - p + a, iw = j * s - p + e;
                                if (ih < 0 || ih >= l->in.h || iw < 0 || iw >= l->in.w)
                                    continue;
                                acc +=
                                    (double)w[((o * l->in.c + c) * k + a) * k + e] * x[xat(l, n, c, ih, iw)];
                            }
                    y[yat(l, n, o, i, j)] = (float)acc;
                }
}

/* The same sums, differentiated by hand: dx = sum dy * w, dW = sum dy * x, db = sum dy. */
static void naive_conv_backward(const gc_layer *g, const float *x, const float *dy, float *dx, float *dw,
                                float *db)
{
    const glia_layer *l = &g->l;
    int k = l->cfg.conv.kernel, s = l->cfg.conv.stride, p = l->cfg.conv.padding;
    const float *w = l->params[0].value;
    double *ddx = calloc(gc_in_size(g) + 1, sizeof(double)), *ddw = calloc(l->params[0].size, sizeof(double));
    double *ddb = calloc(l->params[1].size, sizeof(double));
    ck_assert(ddx && ddw && ddb);
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < l->out.c; o++)
            for (int i = 0; i < l->out.h; i++)
                for (int j = 0; j < l->out.w; j++) {
                    double d = dy[yat(l, n, o, i, j)];
                    ddb[o] += d;
                    for (int c = 0; c < l->in.c; c++)
                        for (int a = 0; a < k; a++)
                            for (int e = 0; e < k; e++) {
                                int ih = i * s - p + a, iw = j * s - p + e;
                                if (ih < 0 || ih >= l->in.h || iw < 0 || iw >= l->in.w)
                                    continue;
                                size_t wi = (size_t)((o * l->in.c + c) * k + a) * k + e;
                                ddx[xat(l, n, c, ih, iw)] += d * w[wi];
                                ddw[wi] += d * x[xat(l, n, c, ih, iw)];
                            }
                }
    for (size_t i = 0; i < gc_in_size(g); i++)
        dx[i] = (float)ddx[i];
    for (size_t i = 0; i < l->params[0].size; i++)
        dw[i] = (float)ddw[i];
    for (size_t i = 0; i < l->params[1].size; i++)
        db[i] = (float)ddb[i];
    free(ddx);
    free(ddw);
    free(ddb);
}

/* Forward and backward of spec at (in, n) against the direct loops. */
static void check_conv_against_naive(glia_layer spec, glia_shape3 in, int n, const char *what)
{
    gc_layer g;
    gc_layer_new(&g, &spec, in, n, 1, 5);
    size_t nx = gc_in_size(&g), ny = gc_out_size(&g);
    float *x = uniform(nx, -1.0f, 1.0f, 2), *y = floats(ny), *ref = floats(ny),
          *dy = uniform(ny, -1.0f, 1.0f, 3);
    float *dx = floats(nx), *rdx = floats(nx), *rdw = floats(g.l.params[0].size),
          *rdb = floats(g.l.params[1].size);
    gc_forward(&g, x, y);
    naive_conv(&g, x, ref);
    expect_close(y, ref, ny, 1e-5f, what);
    gc_backward(&g, x, y, dy, dx);
    naive_conv_backward(&g, x, dy, rdx, rdw, rdb);
    /* dW and db sum over the whole batch: scale the tolerance with it */
    float sum_tol = 1e-5f * sqrtf((float)ny);
    expect_close(dx, rdx, nx, 1e-5f, "dx");
    expect_close(g.l.params[0].grad, rdw, g.l.params[0].size, sum_tol, "dweight");
    expect_close(g.l.params[1].grad, rdb, g.l.params[1].size, sum_tol, "dbias");
    free(x);
    free(y);
    free(ref);
    free(dy);
    free(dx);
    free(rdx);
    free(rdw);
    free(rdb);
    gc_layer_free(&g);
}

START_TEST(conv_shapes)
{
    for (int c = 0; c < NCONV; c++) {
        const int *v = conv_cfgs[c];
        glia_layer spec = conv_cfg_spec(v);
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){v[0], v[5], v[6]}, v[7], 0, 1);
        /* PyTorch: floor((in + 2p - k) / s) + 1 */
        ck_assert_int_eq(g.l.out.c, v[1]);
        ck_assert_int_eq(g.l.out.h, (v[5] + 2 * v[4] - v[2]) / v[3] + 1);
        ck_assert_int_eq(g.l.out.w, (v[6] + 2 * v[4] - v[2]) / v[3] + 1);
        ck_assert_int_eq(g.l.nparams, 2);
        ck_assert_int_eq(g.l.params[0].ndim, 4);
        const int64_t want[4] = {v[1], v[0], v[2], v[2]};
        for (int d = 0; d < 4; d++)
            ck_assert_int_eq(g.l.params[0].shape[d], want[d]);
        ck_assert_int_eq(g.l.params[1].ndim, 1);
        ck_assert_int_eq(g.l.params[1].shape[0], v[1]);
        ck_assert_uint_eq(g.nvalues, (size_t)v[1] * v[0] * v[2] * v[2] + v[1]);
        gc_layer_free(&g);
    }
}
END_TEST

/* Both convolution paths, where this CPU has the direct one: loop tests run with
 * _i = 0 (im2col + GEMM only) and _i = 1 (direct kernel where it applies). */
static void conv_path(int direct)
{
    glia_conv_direct_enable(direct);
}

START_TEST(conv_forward_and_backward_match_naive)
{
    conv_path(_i);
    for (int c = 0; c < NCONV; c++) {
        const int *v = conv_cfgs[c];
        char what[64];
        snprintf(what, sizeof what, "conv config %d (direct %d): y", c, _i);
        check_conv_against_naive(conv_cfg_spec(v), (glia_shape3){v[0], v[5], v[6]}, v[7], what);
    }
}
END_TEST

START_TEST(conv_gradients)
{
    conv_path(_i);
    for (int c = 0; c < NCONV; c++) {
        const int *v = conv_cfgs[c];
        char what[96];
        snprintf(what, sizeof what, "conv %d->%d k%d s%d p%d on %dx%d, batch %d, direct %d", v[0], v[1], v[2],
                 v[3], v[4], v[5], v[6], v[7], _i);
        check_grads(conv_cfg_spec(v), (glia_shape3){v[0], v[5], v[6]}, v[7], 1, 0, what);
    }
}
END_TEST

/* fashion-cnn's first layer (in_channels 1, a 28x28 plane: two vectors per row, the
 * second masked) and a 14x14 one, on the direct path where there is one. */
START_TEST(conv_direct_model_shapes)
{
    conv_path(1);
    check_conv_against_naive(conv_spec(1, 32, 3, 1, 1), (glia_shape3){1, 28, 28}, 2, "conv 1->32 28x28: y");
    check_grads(conv_spec(1, 32, 3, 1, 1), (glia_shape3){1, 28, 28}, 1, 1, 300, "conv 1->32 28x28");
    check_conv_against_naive(conv_spec(4, 6, 3, 1, 1), (glia_shape3){4, 14, 14}, 2, "conv 4->6 14x14: y");
    check_grads(conv_spec(4, 6, 3, 1, 1), (glia_shape3){4, 14, 14}, 1, 1, 300, "conv 4->6 14x14");
}
END_TEST

/* A conv with the ReLU folded in (cfg.conv.relu, as the network sets it) against the
 * conv layer followed by the ReLU layer: the same values forward, the same gradients
 * backward (ReLU's mask applied inside the conv), and finite differences on the fused
 * layer, for both paths and for NaN outputs (kept, as the ReLU layer keeps them). */
START_TEST(conv_relu_folded)
{
    conv_path(_i);
    static const int cfg[][8] = {{1, 9, 3, 1, 1, 6, 17, 2},
                                 {3, 4, 3, 2, 1, 7, 6, 2},
                                 {2, 5, 3, 1, 1, 14, 14, 3},
                                 {8, 9, 3, 1, 1, 6, 17, 2}};
    for (int c = 0; c < 4; c++) {
        const int *v = cfg[c];
        const glia_shape3 in = {v[0], v[5], v[6]};
        glia_layer fs = conv_cfg_spec(v), ps = conv_cfg_spec(v), rs = plain_spec(GLIA_LAYER_RELU);
        fs.cfg.conv.relu = 1;
        gc_layer fused, plain, relu;
        gc_layer_new(&fused, &fs, in, v[7], 1, 5);
        gc_layer_new(&plain, &ps, in, v[7], 1, 5);
        gc_layer_new(&relu, &rs, plain.l.out, v[7], 1, 5);
        ck_assert_uint_eq(fused.nvalues, plain.nvalues);
        memcpy(plain.values, fused.values, sizeof(float) * fused.nvalues);
        size_t nx = gc_in_size(&fused), ny = gc_out_size(&fused);
        float *x = uniform(nx, -1.0f, 1.0f, 2), *dy = uniform(ny, -1.0f, 1.0f, 3);
        float *y = floats(ny), *z = floats(ny), *r = floats(ny), *dz = floats(ny), *dx = floats(nx),
              *rdx = floats(nx);
        if (c == 0)
            x[3] = NAN; /* every output that sees it is NaN, on both sides */
        gc_forward(&fused, x, y);
        gc_forward(&plain, x, z);
        gc_forward(&relu, z, r);
        for (size_t i = 0; i < ny; i++)
            ck_assert_msg(y[i] == r[i] || (isnan(y[i]) && isnan(r[i])), "folded relu y[%zu]: %g, expected %g",
                          i, y[i], r[i]);
        if (c != 0) {
            gc_backward(&fused, x, y, dy, dx);
            gc_backward(&relu, z, r, dy, dz);
            gc_backward(&plain, x, z, dz, rdx);
            expect_close(dx, rdx, nx, 1e-6f, "folded relu dx");
            expect_close(fused.grads, plain.grads, fused.nvalues, 1e-6f, "folded relu parameter gradients");
        }
        if (c == 1) {
            /* kinks: a step may move a conv output across 0, and a weight feeds every
             * output of its channel, so only this small shape (84 outputs per channel)
             * and a step smaller than the default keep crossings rare; the larger
             * shapes are covered by the comparison with conv + ReLU above */
            gc_opts o = gc_defaults();
            o.allow_kinks = 1;
            o.step = 2e-3f;
            gc_result res = gc_check(&fused, x, &o);
            gc_expect(&res, "conv with folded relu");
            ck_assert_uint_lt(res.kinks, (res.checked_inputs + res.checked_params) / 20 + 1);
        }
        free(x);
        free(dy);
        free(y);
        free(z);
        free(r);
        free(dz);
        free(dx);
        free(rdx);
        gc_layer_free(&fused);
        gc_layer_free(&plain);
        gc_layer_free(&relu);
    }
}
END_TEST

/* A batch of three im2col chunks, the last one partial: forward and backward against the
 * direct loops, against one sample at a time, and a sampled finite-difference check whose
 * strata span every chunk. */
START_TEST(conv_chunked_batch)
{
    static const int cfg[][5] = {{2, 3, 3, 1, 1}, {3, 2, 3, 2, 1}};
    for (int c = 0; c < 2; c++) {
        const glia_shape3 in = {cfg[c][0], 28, 28};
        glia_layer spec = conv_spec(cfg[c][0], cfg[c][1], cfg[c][2], cfg[c][3], cfg[c][4]);
        gc_layer probe;
        gc_layer_new(&probe, &spec, in, 1, 1, 9);
        int chunk = glia_chunk_samples(probe.l.scratch_floats_per_sample), n = 2 * chunk + 3;
        gc_layer_free(&probe);
        ck_assert_int_gt(chunk, 1);
        ck_assert_int_lt(chunk, 64); /* else this test has stopped exercising the chunking */

        check_conv_against_naive(spec, in, n, "chunked conv: y");
        check_grads(spec, in, n, 1, 400, "chunked conv");

        gc_layer all, one;
        gc_layer_new(&all, &spec, in, n, 1, 9);
        gc_layer_new(&one, &spec, in, 1, 1, 9);
        size_t sx = glia_shape3_size(in), sy = glia_shape3_size(all.l.out);
        float *x = uniform(sx * (size_t)n, -1.0f, 1.0f, 4), *y = floats(sy * (size_t)n);
        float *dy = uniform(sy * (size_t)n, -1.0f, 1.0f, 5), *dx = floats(sx * (size_t)n);
        float *y1 = floats(sy), *dx1 = floats(sx), *gsum = floats(all.nvalues);
        gc_forward(&all, x, y);
        gc_backward(&all, x, y, dy, dx);
        for (int s = 0; s < n; s++) {
            gc_forward(&one, x + (size_t)s * sx, y1);
            gc_backward(&one, x + (size_t)s * sx, y1, dy + (size_t)s * sy, dx1);
            expect_close(y + (size_t)s * sy, y1, sy, 1e-5f, "batched y");
            expect_close(dx + (size_t)s * sx, dx1, sx, 1e-5f, "batched dx");
            for (size_t i = 0; i < one.nvalues; i++)
                gsum[i] += one.grads[i];
        }
        expect_close(all.grads, gsum, all.nvalues, 1e-3f, "batched parameter gradients");
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(y1);
        free(dx1);
        free(gsum);
        gc_layer_free(&all);
        gc_layer_free(&one);
    }
}
END_TEST

/* ---- pooling ---- */

/* kernel, stride, pad, c, h, w, n: the 2x2/2 fast path (even and odd sizes), overlapping
 * windows, padding, non-square inputs, a 1x1 identity. */
static const int pool_cfgs[][7] = {
    {2, 2, 0, 2, 6, 6, 2}, {2, 2, 0, 1, 7, 5, 1}, {3, 2, 1, 2, 7, 7, 2}, {3, 1, 0, 1, 5, 5, 1},
    {2, 1, 0, 2, 4, 5, 2}, {3, 3, 0, 2, 7, 8, 1}, {4, 2, 2, 1, 6, 5, 2}, {1, 1, 0, 2, 3, 3, 1},
    {3, 2, 1, 2, 4, 6, 3}, {2, 2, 1, 1, 5, 4, 2},
};
enum { NPOOL = sizeof pool_cfgs / sizeof pool_cfgs[0] };

static void naive_pool(const gc_layer *g, const float *x, float *y, int is_max)
{
    const glia_layer *l = &g->l;
    int k = l->cfg.pool.kernel, s = l->cfg.pool.stride, p = l->cfg.pool.padding;
    for (int pl = 0; pl < g->n * l->in.c; pl++)
        for (int i = 0; i < l->out.h; i++)
            for (int j = 0; j < l->out.w; j++) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int a = 0; a < k; a++)
                    for (int e = 0; e < k; e++) {
                        int ih = i * s - p + a, iw = j * s - p + e;
                        if (ih < 0 || ih >= l->in.h || iw < 0 || iw >= l->in.w)
                            continue; /* padding: -inf for max, 0 for the average */
                        double v = x[((size_t)pl * l->in.h + ih) * l->in.w + iw];
                        acc = is_max ? fmax(acc, v) : acc + v;
                    }
                /* count_include_pad=True: the divisor is always k*k */
                y[((size_t)pl * l->out.h + i) * l->out.w + j] = (float)(is_max ? acc : acc / (k * k));
            }
}

START_TEST(pool_forward_matches_naive)
{
    for (int kind = 0; kind < 2; kind++)
        for (int c = 0; c < NPOOL; c++) {
            const int *v = pool_cfgs[c];
            glia_layer spec = pool_spec(kind ? GLIA_LAYER_AVGPOOL2D : GLIA_LAYER_MAXPOOL2D, v[0], v[1], v[2]);
            for (int training = 0; training < 2; training++) {
                gc_layer g;
                gc_layer_new(&g, &spec, (glia_shape3){v[3], v[4], v[5]}, v[6], training, 3);
                ck_assert_int_eq(g.l.out.c, v[3]);
                ck_assert_int_eq(g.l.out.h, (v[4] + 2 * v[2] - v[0]) / v[1] + 1);
                ck_assert_int_eq(g.l.out.w, (v[5] + 2 * v[2] - v[0]) / v[1] + 1);
                ck_assert_int_eq(g.l.nparams, 0);
                size_t nx = gc_in_size(&g), ny = gc_out_size(&g);
                float *x = uniform(nx, -3.0f, 3.0f, (unsigned)c), *y = floats(ny), *ref = floats(ny);
                gc_forward(&g, x, y);
                naive_pool(&g, x, ref, kind == 0);
                char what[64];
                snprintf(what, sizeof what, "%s config %d (training %d)", kind ? "avgpool" : "maxpool", c,
                         training);
                expect_close(y, ref, ny, 1e-6f, what);
                free(x);
                free(y);
                free(ref);
                gc_layer_free(&g);
            }
        }
}
END_TEST

START_TEST(pool_gradients)
{
    for (int kind = 0; kind < 2; kind++)
        for (int c = 0; c < NPOOL; c++) {
            const int *v = pool_cfgs[c];
            char what[96];
            snprintf(what, sizeof what, "%s k%d s%d p%d on %dx%dx%d, batch %d", kind ? "avgpool" : "maxpool",
                     v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
            glia_layer spec = pool_spec(kind ? GLIA_LAYER_AVGPOOL2D : GLIA_LAYER_MAXPOOL2D, v[0], v[1], v[2]);
            check_grads(spec, (glia_shape3){v[3], v[4], v[5]}, v[6], kind == 1, 0, what);
        }
}
END_TEST

/* PyTorch's CPU rule: among equal maxima the first in row-major window order takes the
 * gradient - on the 2x2 fast path and on the general path alike. */
START_TEST(maxpool_ties_go_to_the_first_maximum)
{
    glia_layer specs[2] = {pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0),
                           pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 1, 0)};
    for (int s = 0; s < 2; s++) {
        gc_layer g;
        gc_layer_new(&g, &specs[s], (glia_shape3){1, 2, 2}, 1, 1, 1);
        ck_assert_int_eq(g.l.out.h * g.l.out.w, 1);
        static const float xs[3][4] = {{5, 5, 5, 5}, {1, 7, 7, 2}, {0, 1, 3, 3}};
        static const int first[3] = {0, 1, 2};
        for (int t = 0; t < 3; t++) {
            float y, dy = 1.0f, dx[4];
            gc_forward(&g, xs[t], &y);
            gc_backward(&g, xs[t], &y, &dy, dx);
            for (int i = 0; i < 4; i++)
                ck_assert_msg(dx[i] == (i == first[t] ? 1.0f : 0.0f), "spec %d, case %d: dx[%d] = %g", s, t,
                              i, dx[i]);
        }
        gc_layer_free(&g);
    }
}
END_TEST

START_TEST(maxpool_propagates_nan)
{
    glia_layer specs[2] = {pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0),
                           pool_spec(GLIA_LAYER_MAXPOOL2D, 3, 3, 0)};
    for (int s = 0; s < 2; s++) {
        gc_layer g;
        gc_layer_new(&g, &specs[s], (glia_shape3){1, 6, 6}, 1, 1, 1);
        float x[36], y[9];
        for (int i = 0; i < 36; i++)
            x[i] = (float)i;
        x[7] = NAN; /* row 1, column 1: in the first window of both */
        gc_forward(&g, x, y);
        ck_assert(isnan(y[0]));
        ck_assert(!isnan(y[1]));
        gc_layer_free(&g);
    }
}
END_TEST

/* ---- linear ---- */

START_TEST(linear_forward_matches_naive)
{
    static const int cfg[][3] = {{7, 5, 3}, {1, 1, 1}, {33, 17, 5}, {4, 9, 1}};
    for (int c = 0; c < 4; c++) {
        int fin = cfg[c][0], fout = cfg[c][1], n = cfg[c][2];
        glia_layer spec = linear_spec(fin, fout);
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){fin, 1, 1}, n, 0, 2);
        ck_assert_int_eq(g.l.out.c, fout);
        ck_assert_int_eq(g.l.out.h * g.l.out.w, 1);
        ck_assert_int_eq(g.l.params[0].shape[0], fout); /* weight is (out, in), as PyTorch's */
        ck_assert_int_eq(g.l.params[0].shape[1], fin);
        ck_assert_int_eq(g.l.params[1].shape[0], fout);
        float *x = uniform((size_t)fin * n, -1.0f, 1.0f, 1), *y = floats((size_t)fout * n);
        float *ref = floats((size_t)fout * n);
        gc_forward(&g, x, y);
        const float *w = g.l.params[0].value, *b = g.l.params[1].value;
        for (int s = 0; s < n; s++)
            for (int o = 0; o < fout; o++) {
                double acc = b[o];
                for (int i = 0; i < fin; i++)
                    acc += (double)w[o * fin + i] * x[s * fin + i]; /* y = x W^T + b */
                ref[s * fout + o] = (float)acc;
            }
        expect_close(y, ref, (size_t)fout * n, 1e-5f, "linear y");
        free(x);
        free(y);
        free(ref);
        gc_layer_free(&g);
    }
}
END_TEST

START_TEST(linear_gradients)
{
    check_grads(linear_spec(7, 5), (glia_shape3){7, 1, 1}, 3, 1, 0, "linear 7->5, batch 3");
    check_grads(linear_spec(1, 1), (glia_shape3){1, 1, 1}, 1, 1, 0, "linear 1->1");
    check_grads(linear_spec(33, 17), (glia_shape3){33, 1, 1}, 4, 1, 0, "linear 33->17, batch 4");
    check_grads(linear_spec(4, 9), (glia_shape3){4, 1, 1}, 1, 1, 0, "linear 4->9");
}
END_TEST

/* ---- element-wise, flatten ---- */

START_TEST(activation_values)
{
    enum { N = 9 };
    const float x[N] = {-100.0f, -20.0f, -2.0f, -0.5f, 0.0f, 1e-3f, 0.5f, 3.0f, 100.0f};
    float y[N];
    glia_layer specs[3] = {plain_spec(GLIA_LAYER_RELU), plain_spec(GLIA_LAYER_TANH),
                           plain_spec(GLIA_LAYER_SIGMOID)};
    for (int s = 0; s < 3; s++) {
        gc_layer g;
        gc_layer_new(&g, &specs[s], (glia_shape3){1, 3, 3}, 1, 0, 1);
        ck_assert_int_eq(g.l.out.c, 1);
        ck_assert_int_eq(g.l.out.h, 3);
        ck_assert_int_eq(g.l.out.w, 3);
        gc_forward(&g, x, y);
        for (int i = 0; i < N; i++) {
            double want = s == 0 ? fmax(x[i], 0.0) : s == 1 ? tanh(x[i]) : 1.0 / (1.0 + exp(-(double)x[i]));
            ck_assert_msg(isfinite(y[i]), "layer %d, x = %g gives %g", s, x[i], y[i]);
            ck_assert_msg(fabs(y[i] - want) <= 1e-6 * fmax(1e-30, fabs(want)) + 1e-37,
                          "layer %d, x = %g: %.9g vs %.9g", s, x[i], y[i], want);
        }
        gc_layer_free(&g);
    }
}
END_TEST

START_TEST(flatten_is_a_reshape)
{
    glia_layer spec = plain_spec(GLIA_LAYER_FLATTEN);
    gc_layer g;
    gc_layer_new(&g, &spec, (glia_shape3){3, 4, 5}, 2, 0, 1);
    ck_assert_int_eq(g.l.out.c, 60); /* torch.flatten(x, 1): NCHW order, one row per sample */
    ck_assert_int_eq(g.l.out.h, 1);
    ck_assert_int_eq(g.l.out.w, 1);
    float *x = uniform(120, -1.0f, 1.0f, 3), *y = floats(120);
    gc_forward(&g, x, y);
    ck_assert_mem_eq(x, y, sizeof(float) * 120);
    free(x);
    free(y);
    gc_layer_free(&g);
}
END_TEST

START_TEST(activation_gradients)
{
    const glia_shape3 in = {3, 4, 5};
    check_grads(plain_spec(GLIA_LAYER_RELU), in, 2, 0, 0, "relu");
    check_grads(plain_spec(GLIA_LAYER_TANH), in, 2, 1, 0, "tanh");
    check_grads(plain_spec(GLIA_LAYER_SIGMOID), in, 2, 1, 0, "sigmoid");
    check_grads(plain_spec(GLIA_LAYER_FLATTEN), in, 2, 1, 0, "flatten");
    /* tanh and sigmoid in their steep and flat parts too */
    float gap;
    for (int s = 0; s < 2; s++) {
        glia_layer spec = plain_spec(s ? GLIA_LAYER_SIGMOID : GLIA_LAYER_TANH);
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){40, 1, 1}, 1, 1, 1);
        float *x = distinct(40, 2, &gap);
        for (int i = 0; i < 40; i++)
            x[i] *= 3.0f; /* [-6, 6] */
        gc_opts o = gc_defaults();
        gc_result r = gc_check(&g, x, &o);
        gc_expect(&r, s ? "sigmoid on [-6, 6]" : "tanh on [-6, 6]");
        free(x);
        gc_layer_free(&g);
    }
}
END_TEST

/* ---- dropout ---- */

START_TEST(dropout_gradients_reuse_the_mask)
{
    static const float ps[] = {0.1f, 0.4f, 0.75f};
    for (int i = 0; i < 3; i++) {
        char what[48];
        snprintf(what, sizeof what, "dropout p=%g (training)", ps[i]);
        check_grads(dropout_spec(ps[i]), (glia_shape3){3, 4, 5}, 2, 1, 0, what);
    }
    /* the backward's zeros are the forward's: dx = dy / (1-p) exactly where y kept x */
    gc_layer g;
    glia_layer spec = dropout_spec(0.5f);
    gc_layer_new(&g, &spec, (glia_shape3){200, 1, 1}, 3, 1, 4);
    float *x = uniform(600, 0.5f, 1.5f, 1), *y = floats(600), *dy = uniform(600, 0.5f, 1.5f, 2),
          *dx = floats(600);
    gc_forward(&g, x, y);
    gc_backward(&g, x, y, dy, dx);
    int dropped = 0;
    for (int j = 0; j < 600; j++) {
        if (y[j] == 0.0f) {
            dropped++;
            ck_assert_float_eq(dx[j], 0.0f);
        } else {
            ck_assert_float_eq_tol(y[j], 2.0f * x[j], 1e-6f);
            ck_assert_float_eq_tol(dx[j], 2.0f * dy[j], 1e-6f);
        }
    }
    ck_assert_int_gt(dropped, 200);
    ck_assert_int_lt(dropped, 400);
    free(x);
    free(y);
    free(dy);
    free(dx);
    gc_layer_free(&g);
}
END_TEST

START_TEST(dropout_mask_and_scale)
{
    enum { N = 20000 };
    float *x = floats(N), *y = floats(N), *y2 = floats(N);
    for (int i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 7);
    static const float ps[] = {0.25f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        glia_layer spec = dropout_spec(p);
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){N, 1, 1}, 1, 1, 4);
        gc_forward(&g, x, y);
        int zeros = 0;
        for (int i = 0; i < N; i++) {
            if (y[i] == 0.0f)
                zeros++;
            else
                ck_assert_float_eq_tol(y[i], x[i] / (1.0f - p), 1e-5f * y[i]);
        }
        /* binomial(N, p): 5 standard deviations */
        double sd = sqrt(N * p * (1.0 - p));
        ck_assert_msg(fabs(zeros - N * p) < 5 * sd, "p=%g: %d of %d dropped", p, zeros, N);
        /* a fixed stream gives the same mask; another stream another one */
        gc_forward(&g, x, y2);
        ck_assert_mem_eq(y, y2, sizeof(float) * N);
        glia_rng_seed(&g.rng, 99);
        gc_forward(&g, x, y2);
        ck_assert(memcmp(y, y2, sizeof(float) * N) != 0);
        gc_layer_free(&g);

        gc_layer_new(&g, &spec, (glia_shape3){N, 1, 1}, 1, 0, 4); /* evaluation: the identity */
        gc_forward(&g, x, y);
        ck_assert_mem_eq(x, y, sizeof(float) * N);
        gc_layer_free(&g);
    }
    /* p = 0 keeps everything, p = 1 drops everything (and stays finite) */
    for (int k = 0; k < 2; k++) {
        glia_layer spec = dropout_spec((float)k);
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){N, 1, 1}, 1, 1, 4);
        gc_forward(&g, x, y);
        gc_backward(&g, x, y, x, y2);
        for (int i = 0; i < N; i++) {
            ck_assert_float_eq(y[i], k ? 0.0f : x[i]);
            ck_assert_float_eq(y2[i], k ? 0.0f : x[i]);
        }
        gc_layer_free(&g);
    }
    free(x);
    free(y);
    free(y2);
}
END_TEST

/* ---- the backward contract of layer.h ---- */

/* Parameter gradients accumulate (+=), dx is overwritten whatever it held, dx may be
 * NULL (a first layer) without changing the parameter gradients - for every kind. */
START_TEST(backward_contract)
{
    const struct {
        glia_layer spec;
        glia_shape3 in;
    } cases[] = {
        {conv_spec(2, 3, 3, 2, 1), {2, 6, 5}},
        {pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0), {2, 6, 6}},
        {pool_spec(GLIA_LAYER_MAXPOOL2D, 3, 2, 1), {2, 5, 6}},
        {pool_spec(GLIA_LAYER_AVGPOOL2D, 3, 2, 1), {2, 5, 6}},
        {linear_spec(6, 4), {6, 1, 1}},
        {plain_spec(GLIA_LAYER_RELU), {2, 3, 3}},
        {plain_spec(GLIA_LAYER_TANH), {2, 3, 3}},
        {plain_spec(GLIA_LAYER_SIGMOID), {2, 3, 3}},
        {plain_spec(GLIA_LAYER_FLATTEN), {2, 3, 3}},
        {dropout_spec(0.3f), {2, 3, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        gc_layer g;
        gc_layer_new(&g, &cases[c].spec, cases[c].in, 3, 1, 8);
        size_t nx = gc_in_size(&g), ny = gc_out_size(&g);
        float gap, *x = distinct(nx, 3, &gap), *y = floats(ny), *dy = uniform(ny, -1.0f, 1.0f, 4);
        float *dx = floats(nx), *dx2 = floats(nx), *once = floats(g.nvalues);
        gc_forward(&g, x, y);
        for (size_t i = 0; i < nx; i++)
            dx[i] = NAN;
        gc_backward(&g, x, y, dy, dx);
        memcpy(once, g.grads, sizeof(float) * g.nvalues);
        for (size_t i = 0; i < nx; i++) {
            ck_assert_msg(isfinite(dx[i]), "%s: dx[%zu] kept its old value", g.l.ops->type, i);
            dx2[i] = 1e30f;
        }
        /* again, without zeroing: parameter gradients double, dx is the same */
        glia_pass pass = {.scratch = g.scratch, .saved = g.saved, .training = 1};
        g.l.ops->backward(&g.l, x, y, dy, dx2, g.n, &pass);
        ck_assert_mem_eq(dx, dx2, sizeof(float) * nx);
        for (size_t i = 0; i < g.nvalues; i++)
            ck_assert_msg(fabsf(g.grads[i] - 2.0f * once[i]) <= 1e-6f * fmaxf(1.0f, fabsf(once[i])),
                          "%s: gradient %zu is %g after two backward passes of %g", g.l.ops->type, i,
                          g.grads[i], once[i]);
        /* dx NULL: the same parameter gradients */
        gc_backward(&g, x, y, dy, NULL);
        expect_close(g.grads, once, g.nvalues, 1e-6f, g.l.ops->type);
        if (g.nvalues) {
            float norm = 0.0f;
            for (size_t i = 0; i < g.nvalues; i++)
                norm += fabsf(once[i]);
            ck_assert_float_gt(norm, 0.0f); /* the comparison above was not 0 == 0 */
        }
        free(x);
        free(y);
        free(dy);
        free(dx);
        free(dx2);
        free(once);
        gc_layer_free(&g);
    }
}
END_TEST

/* ---- initialisation ---- */

/* kaiming_uniform(a=sqrt(5)) for weights and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
 * biases: both are U(-b, b) with b = 1/sqrt(fan_in); a seed reproduces them. */
START_TEST(reset_uses_pytorch_bounds)
{
    const struct {
        glia_layer spec;
        glia_shape3 in;
        int fan_in;
    } cases[] = {
        {conv_spec(3, 64, 3, 1, 1), {3, 8, 8}, 27},
        {conv_spec(1, 300, 5, 1, 0), {1, 8, 8}, 25},
        {linear_spec(50, 200), {50, 1, 1}, 50},
    };
    for (int c = 0; c < 3; c++) {
        gc_layer a, b, d;
        gc_layer_new(&a, &cases[c].spec, cases[c].in, 1, 0, 5);
        gc_layer_new(&b, &cases[c].spec, cases[c].in, 1, 0, 5);
        gc_layer_new(&d, &cases[c].spec, cases[c].in, 1, 0, 6);
        ck_assert_mem_eq(a.values, b.values, sizeof(float) * a.nvalues);
        ck_assert(memcmp(a.values, d.values, sizeof(float) * a.nvalues) != 0);
        float bound = 1.0f / sqrtf((float)cases[c].fan_in);
        for (int p = 0; p < 2; p++) {
            const glia_param *prm = &a.l.params[p];
            double sum = 0.0, peak = 0.0;
            for (size_t i = 0; i < prm->size; i++) {
                ck_assert_msg(fabsf(prm->value[i]) <= bound, "param %d[%zu] = %g beyond %g", p, i,
                              prm->value[i], bound);
                sum += prm->value[i];
                peak = fmax(peak, fabs(prm->value[i]));
            }
            ck_assert_msg(peak > 0.8 * bound, "param %d peaks at %g of bound %g", p, peak, bound);
            /* mean of U(-b, b) over s draws: sd b / sqrt(3 s) */
            ck_assert(fabs(sum / prm->size) < 5.0 * bound / sqrt(3.0 * prm->size));
        }
        gc_layer_free(&a);
        gc_layer_free(&b);
        gc_layer_free(&d);
    }
}
END_TEST

/* ---- batch normalisation ---- */

/* Training mode: the output of each channel has mean bias and biased variance weight^2
 * (up to eps), the running estimates move by momentum towards the batch mean and the
 * UNBIASED variance, and the batch is counted; evaluation then normalises by them. */
START_TEST(batchnorm_statistics)
{
    const int c = 3, n = 4, h = 2, w = 3;
    const size_t hw = (size_t)h * w, m = hw * n;
    glia_layer spec = bn_spec(c);
    gc_layer g;
    gc_layer_new(&g, &spec, (glia_shape3){c, h, w}, n, 1, 3);
    for (int ch = 0; ch < c; ch++) {
        g.l.params[0].value[ch] = 0.5f + (float)ch;  /* weight */
        g.l.params[1].value[ch] = -1.0f + (float)ch; /* bias */
    }
    size_t nx = gc_in_size(&g);
    float *x = uniform(nx, -3.0f, 5.0f, 21), *y = floats(nx), *ye = floats(nx);
    gc_forward(&g, x, y);
    ck_assert_float_eq(g.l.buffers[2].value[0], 1.0f);
    for (int ch = 0; ch < c; ch++) {
        double mx = 0, vx = 0, my = 0, vy = 0;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                mx += x[((size_t)i * c + ch) * hw + k];
                my += y[((size_t)i * c + ch) * hw + k];
            }
        mx /= (double)m;
        my /= (double)m;
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < hw; k++) {
                double dx = x[((size_t)i * c + ch) * hw + k] - mx, dy = y[((size_t)i * c + ch) * hw + k] - my;
                vx += dx * dx;
                vy += dy * dy;
            }
        const double wgt = g.l.params[0].value[ch];
        ck_assert_double_eq_tol(my, g.l.params[1].value[ch], 1e-5);
        ck_assert_double_eq_tol(vy / (double)m, wgt * wgt * (vx / (double)m) / (vx / (double)m + 1e-5), 1e-4);
        ck_assert_double_eq_tol(g.l.buffers[0].value[ch], 0.1 * mx, 1e-6);
        ck_assert_double_eq_tol(g.l.buffers[1].value[ch], 0.9 + 0.1 * vx / (double)(m - 1), 1e-5);
    }
    /* evaluation: (x - running_mean) / sqrt(running_var + eps) * weight + bias */
    g.training = 0;
    gc_forward(&g, x, ye);
    ck_assert_float_eq(g.l.buffers[2].value[0], 1.0f); /* not counted */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t k = 0; k < hw; k++) {
                const size_t at = ((size_t)i * c + ch) * hw + k;
                const float want = (x[at] - g.l.buffers[0].value[ch]) /
                                       sqrtf(g.l.buffers[1].value[ch] + 1e-5f) * g.l.params[0].value[ch] +
                                   g.l.params[1].value[ch];
                ck_assert_float_eq_tol(ye[at], want, 1e-5f * fmaxf(1.0f, fabsf(want)));
            }
    free(x);
    free(y);
    free(ye);
    gc_layer_free(&g);
}
END_TEST

/* Backward against finite differences: in training (through the batch mean and variance,
 * which every input of a channel moves) and in an input-gradient pass (explanations: the
 * running statistics are constants), with weight, bias and running estimates away from
 * their initial 1, 0, 0, 1 so that a missing factor shows. */
START_TEST(batchnorm_gradients)
{
    const int input_grad = _i;
    glia_layer spec = bn_spec(3);
    gc_layer g;
    gc_layer_new(&g, &spec, (glia_shape3){3, 3, 2}, 4, 1, 5);
    g.input_grad = input_grad;
    for (int ch = 0; ch < 3; ch++) {
        g.l.params[0].value[ch] = 0.7f + 0.4f * (float)ch;
        g.l.params[1].value[ch] = 0.3f - 0.2f * (float)ch;
        g.l.buffers[0].value[ch] = 0.2f * (float)ch - 0.1f;
        g.l.buffers[1].value[ch] = 0.5f + 0.6f * (float)ch;
    }
    float *x = uniform(gc_in_size(&g), -1.0f, 1.0f, 11);
    gc_opts o = gc_defaults();
    gc_result r = gc_check(&g, x, &o);
    gc_expect(&r, input_grad ? "batchnorm2d (input-gradient pass)" : "batchnorm2d (training)");
    ck_assert_uint_eq(r.checked_inputs, gc_in_size(&g));
    ck_assert_uint_eq(r.checked_params, 6);
    free(x);
    gc_layer_free(&g);
}
END_TEST

/* ---- configuration errors ---- */

START_TEST(bad_configurations)
{
    static const struct {
        glia_layer spec;
        glia_shape3 in;
        const char *want;
    } cases[] = {
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {3, 4, 3, 1, 0}}, {2, 8, 8}, "in_channels is 3"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 4, 9, 1, 0}}, {1, 5, 5}, "larger"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 4, 7, 1, 1}}, {1, 9, 4}, "larger"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 4, 3, 0, 0}}, {1, 5, 5}, "stride"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 0, 3, 1, 0}}, {1, 5, 5}, "out_channels"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 2, 0, 1, 0}}, {1, 5, 5}, "kernel_size"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 2, 3, 1, -1}}, {1, 5, 5}, "padding"},
        {{.kind = GLIA_LAYER_MAXPOOL2D, .cfg.pool = {2, 2, 2}}, {1, 5, 5}, "half of kernel_size"},
        {{.kind = GLIA_LAYER_MAXPOOL2D, .cfg.pool = {2, 0, 0}}, {1, 5, 5}, "stride"},
        {{.kind = GLIA_LAYER_MAXPOOL2D, .cfg.pool = {6, 1, 0}}, {1, 5, 9}, "larger"},
        {{.kind = GLIA_LAYER_AVGPOOL2D, .cfg.pool = {0, 1, 0}}, {1, 5, 5}, "kernel_size"},
        {{.kind = GLIA_LAYER_AVGPOOL2D, .cfg.pool = {3, 1, -1}}, {1, 5, 5}, "padding"},
        {{.kind = GLIA_LAYER_AVGPOOL2D, .cfg.pool = {3, 1, 2}}, {1, 5, 5}, "half of kernel_size"},
        {{.kind = GLIA_LAYER_LINEAR, .cfg.linear = {10, 3}}, {12, 1, 1}, "in_features is 10"},
        {{.kind = GLIA_LAYER_LINEAR, .cfg.linear = {12, 3}}, {3, 2, 2}, "flatten"},
        {{.kind = GLIA_LAYER_LINEAR, .cfg.linear = {12, 0}}, {12, 1, 1}, "out_features"},
        {{.kind = GLIA_LAYER_DROPOUT, .cfg.dropout = {1.5f}}, {3, 2, 2}, "p must be in [0, 1]"},
        {{.kind = GLIA_LAYER_DROPOUT, .cfg.dropout = {-0.1f}}, {3, 2, 2}, "p must be in [0, 1]"},
        {{.kind = GLIA_LAYER_DROPOUT, .cfg.dropout = {NAN}}, {3, 2, 2}, "p must be in [0, 1]"},
        {{.kind = GLIA_LAYER_BATCHNORM2D, .cfg.bn = {4, 1e-5f, 0.1f}}, {3, 2, 2}, "num_features is 4"},
        {{.kind = GLIA_LAYER_BATCHNORM2D, .cfg.bn = {0, 1e-5f, 0.1f}}, {3, 2, 2}, "positive"},
        {{.kind = GLIA_LAYER_BATCHNORM2D, .cfg.bn = {3, 0.0f, 0.1f}}, {3, 2, 2}, "eps"},
        {{.kind = GLIA_LAYER_BATCHNORM2D, .cfg.bn = {3, 1e-5f, 1.5f}}, {3, 2, 2}, "momentum"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        glia_layer l = cases[i].spec;
        l.ops = glia_layer_ops_for(l.kind);
        ck_assert_msg(l.ops->init(&l, cases[i].in, &err) == GLIA_EINVAL, "case %zu (%s) accepted", i,
                      l.ops->type);
        ck_assert_int_eq(err.code, GLIA_EINVAL);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        ck_assert_msg(strncmp(err.msg, l.ops->type, strlen(l.ops->type)) == 0,
                      "case %zu: '%s' does not name %s", i, err.msg, l.ops->type);
    }
    /* the boundary cases are accepted: padding k/2, a kernel exactly the padded input */
    glia_err err = {0};
    glia_layer ok[3] = {pool_spec(GLIA_LAYER_MAXPOOL2D, 4, 1, 2), conv_spec(1, 1, 7, 1, 1),
                        dropout_spec(1.0f)};
    glia_shape3 ok_in[3] = {{1, 1, 1}, {1, 5, 5}, {1, 1, 1}};
    for (int i = 0; i < 3; i++) {
        ok[i].ops = glia_layer_ops_for(ok[i].kind);
        ck_assert_msg(ok[i].ops->init(&ok[i], ok_in[i], &err) == GLIA_OK, "%s", err.msg);
    }
    ck_assert_int_eq(ok[1].out.h, 1);
}
END_TEST

START_TEST(kind_names)
{
    static const char *const names[] = {"conv2d", "maxpool2d", "avgpool2d", "linear",  "relu",
                                        "tanh",   "sigmoid",   "flatten",   "dropout", "batchnorm2d"};
    for (int i = 0; i < 10; i++) {
        glia_layer_kind kind;
        glia_err err = {0};
        ck_assert_int_eq(glia_layer_kind_parse(names[i], &kind, &err), GLIA_OK);
        ck_assert_str_eq(glia_layer_ops_for(kind)->type, names[i]);
    }
    glia_layer_kind kind;
    glia_err err = {0};
    ck_assert_int_eq(glia_layer_kind_parse("Conv2d", &kind, &err), GLIA_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "'Conv2d'"));
    ck_assert_ptr_nonnull(strstr(err.msg, "known: conv2d"));
    ck_assert_int_eq(glia_layer_kind_parse("", &kind, &err), GLIA_ENOTFOUND);
}
END_TEST

/* ---- the checker itself ---- */

/* Broken variants of linear's backward: the checks above would pass them if the
 * tolerances were too loose or gradcheck compared the wrong things. */
static int breakage;

static void broken_linear_backward(glia_layer *l, const float *x, const float *y, const float *dy, float *dx,
                                   int n, glia_pass *p)
{
    glia_linear_ops.backward(l, x, y, dy, dx, n, p);
    size_t in = glia_shape3_size(l->in) * (size_t)n;
    switch (breakage) {
    case 0: /* dx two per cent too large */
        for (size_t i = 0; dx && i < in; i++)
            dx[i] *= 1.02f;
        break;
    case 1: /* bias gradient from the first sample only */
        for (int o = 0; o < l->out.c; o++)
            for (int s = 1; s < n; s++)
                l->params[1].grad[o] -= dy[(size_t)s * l->out.c + o];
        break;
    case 2: /* one weight's gradient a little off */ l->params[0].grad[5] += 0.05f; break;
    case 3: /* two inputs' gradients swapped */
        if (dx) {
            float t = dx[1];
            dx[1] = dx[2];
            dx[2] = t;
        }
        break;
    }
}

START_TEST(gradcheck_catches_wrong_backward)
{
    glia_layer_ops broken = glia_linear_ops;
    broken.backward = broken_linear_backward;
    glia_layer spec = linear_spec(6, 4);
    float *x = uniform(18, -1.0f, 1.0f, 1);
    gc_opts o = gc_defaults();
    for (breakage = -1; breakage < 4; breakage++) {
        spec.ops = breakage < 0 ? NULL : &broken;
        gc_layer g;
        gc_layer_new(&g, &spec, (glia_shape3){6, 1, 1}, 3, 1, 3);
        gc_result r = gc_check(&g, x, &o);
        if (breakage < 0)
            gc_expect(&r, "intact linear");
        else
            ck_assert_msg(r.failed > 0, "breakage %d went unnoticed (worst %g x tolerance)", breakage,
                          r.worst);
        gc_layer_free(&g);
    }
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conv_shapes);
    tcase_add_loop_test(tc, conv_forward_and_backward_match_naive, 0, 2);
    tcase_add_loop_test(tc, conv_gradients, 0, 2);
    tcase_add_test(tc, conv_direct_model_shapes);
    tcase_add_loop_test(tc, conv_relu_folded, 0, 2);
    tcase_add_test(tc, conv_chunked_batch);
    tcase_add_test(tc, pool_forward_matches_naive);
    tcase_add_test(tc, pool_gradients);
    tcase_add_test(tc, maxpool_ties_go_to_the_first_maximum);
    tcase_add_test(tc, maxpool_propagates_nan);
    tcase_add_test(tc, linear_forward_matches_naive);
    tcase_add_test(tc, linear_gradients);
    tcase_add_test(tc, activation_values);
    tcase_add_test(tc, flatten_is_a_reshape);
    tcase_add_test(tc, activation_gradients);
    tcase_add_test(tc, dropout_gradients_reuse_the_mask);
    tcase_add_test(tc, dropout_mask_and_scale);
    tcase_add_test(tc, backward_contract);
    tcase_add_test(tc, reset_uses_pytorch_bounds);
    tcase_add_test(tc, batchnorm_statistics);
    tcase_add_loop_test(tc, batchnorm_gradients, 0, 2);
    tcase_add_test(tc, bad_configurations);
    tcase_add_test(tc, kind_names);
    tcase_add_test(tc, gradcheck_catches_wrong_backward);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
