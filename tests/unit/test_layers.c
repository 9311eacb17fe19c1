/*
 * test_layers.c - every layer's forward against a naive reference written here, and
 * every layer's backward (input and parameter gradients) against central finite
 * differences; convolution's chunked batch path against one sample at a time; NaN
 * propagation through max-pooling; dropout's mask and scaling; configuration errors.
 */
#include "core/nn/layer.h"
#include "tests/support/check_main.h"
#include "tests/support/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double TOL = 5e-3;

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

static glia_layer plain_spec(glia_layer_kind kind)
{
    glia_layer l = {0};
    l.kind = kind;
    return l;
}

static float *inputs(size_t n, unsigned seed)
{
    float *x = malloc(sizeof(float) * n);
    ck_assert_ptr_nonnull(x);
    gc_distinct_inputs(x, n, 0.05f, seed);
    return x;
}

/* Gradient-checks spec at shape in and batch n. Inputs are distinct values in [-2, 2]
 * (magnitudes near 1 keep float rounding far below the tolerance), and the step is a
 * quarter of their spacing, so no perturbation crosses a ReLU kink or reorders a
 * max-pool window. */
static void check_grads(glia_layer spec, glia_shape3 in, int n, int training, const char *what)
{
    gc_layer g;
    gc_layer_new(&g, &spec, in, n, training, 7);
    size_t nx = glia_shape3_size(in) * (size_t)n;
    float gap = 4.0f / (float)nx, *x = malloc(sizeof(float) * nx);
    ck_assert_ptr_nonnull(x);
    gc_distinct_inputs(x, nx, gap, 11);
    gc_result r = gc_check(&g, x, fminf(0.25f * gap, 1e-2f), 3);
    ck_assert_msg(r.max_err_x < TOL, "%s: dx off by %g", what, r.max_err_x);
    ck_assert_msg(r.max_err_param < TOL, "%s: parameter gradient off by %g", what, r.max_err_param);
    ck_assert_uint_gt(r.checked, 0);
    free(x);
    gc_layer_free(&g);
}

/* ---- convolution ---- */

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
                                acc += (double)w[((o * l->in.c + c) * k + a) * k + e] *
                                       x[((size_t)(n * l->in.c + c) * l->in.h + ih) * l->in.w + iw];
                            }
                    y[((size_t)(n * l->out.c + o) * l->out.h + i) * l->out.w + j] = (float)acc;
                }
}

START_TEST(conv_forward_matches_naive)
{
    static const int cfg[][8] = {
        /* ic, oc, k, stride, pad, h, w, n */
        {1, 2, 3, 1, 1, 5, 5, 2}, {3, 4, 3, 2, 1, 7, 6, 2}, {2, 3, 2, 1, 0, 4, 5, 3},
        {2, 2, 5, 1, 2, 6, 6, 1}, {1, 1, 1, 1, 0, 3, 3, 1}, {2, 3, 3, 3, 0, 8, 7, 2},
    };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        const int *v = cfg[c];
        gc_layer g;
        glia_layer spec = conv_spec(v[0], v[1], v[2], v[3], v[4]);
        gc_layer_new(&g, &spec, (glia_shape3){v[0], v[5], v[6]}, v[7], 0, 5);
        size_t nx = glia_shape3_size(g.l.in) * (size_t)v[7], ny = glia_shape3_size(g.l.out) * (size_t)v[7];
        float *x = inputs(nx, (unsigned)c), *y = malloc(sizeof(float) * ny),
              *ref = malloc(sizeof(float) * ny);
        gc_forward(&g, x, y);
        naive_conv(&g, x, ref);
        for (size_t i = 0; i < ny; i++)
            ck_assert_msg(fabsf(y[i] - ref[i]) <= 1e-4f * fmaxf(1.0f, fabsf(ref[i])),
                          "config %zu, y[%zu] %g vs %g", c, i, y[i], ref[i]);
        free(x);
        free(y);
        free(ref);
        gc_layer_free(&g);
    }
}
END_TEST

START_TEST(conv_gradients)
{
    check_grads(conv_spec(1, 2, 3, 1, 1), (glia_shape3){1, 5, 5}, 2, 1, "conv 1->2 k3 s1 p1");
    check_grads(conv_spec(3, 4, 3, 2, 1), (glia_shape3){3, 7, 6}, 2, 1, "conv 3->4 k3 s2 p1");
    check_grads(conv_spec(2, 3, 2, 1, 0), (glia_shape3){2, 4, 5}, 3, 1, "conv 2->3 k2 s1 p0");
    check_grads(conv_spec(2, 2, 5, 1, 2), (glia_shape3){2, 6, 6}, 1, 1, "conv 2->2 k5 s1 p2");
}
END_TEST

/* A batch bigger than one im2col chunk gives what one sample at a time gives. */
START_TEST(conv_chunks_match_single_samples)
{
    glia_layer spec = conv_spec(2, 3, 3, 1, 1);
    const glia_shape3 in = {2, 28, 28};
    gc_layer all, one;
    int n = 0;
    gc_layer_new(&all, &spec, in, 1, 1, 9);
    n = 2 * glia_chunk_samples(all.l.scratch_floats_per_sample) + 3;
    gc_layer_free(&all);
    gc_layer_new(&all, &spec, in, n, 1, 9);
    gc_layer_new(&one, &spec, in, 1, 1, 9);
    ck_assert_int_gt(n, glia_chunk_samples(all.l.scratch_floats_per_sample));
    size_t sx = glia_shape3_size(in), sy = glia_shape3_size(all.l.out);
    float *x = inputs(sx * (size_t)n, 4), *y = malloc(sizeof(float) * sy * n),
          *dy = malloc(sizeof(float) * sy * n);
    float *dx = malloc(sizeof(float) * sx * n), *y1 = malloc(sizeof(float) * sy),
          *dx1 = malloc(sizeof(float) * sx);
    float *gsum = calloc(all.nvalues, sizeof(float));
    for (size_t i = 0; i < sy * (size_t)n; i++)
        dy[i] = (float)((i * 7919) % 13) / 13.0f - 0.5f;
    gc_forward(&all, x, y);
    gc_backward(&all, x, y, dy, dx);
    for (int s = 0; s < n; s++) {
        gc_forward(&one, x + (size_t)s * sx, y1);
        gc_backward(&one, x + (size_t)s * sx, y1, dy + (size_t)s * sy, dx1);
        for (size_t i = 0; i < sy; i++)
            ck_assert_float_eq_tol(y1[i], y[(size_t)s * sy + i], 1e-4f);
        for (size_t i = 0; i < sx; i++)
            ck_assert_float_eq_tol(dx1[i], dx[(size_t)s * sx + i], 1e-4f);
        for (size_t i = 0; i < one.nvalues; i++)
            gsum[i] += one.grads[i];
    }
    for (size_t i = 0; i < all.nvalues; i++)
        ck_assert_msg(fabsf(gsum[i] - all.grads[i]) <= 1e-3f * fmaxf(1.0f, fabsf(gsum[i])),
                      "grad %zu: %g vs %g", i, all.grads[i], gsum[i]);
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
END_TEST

/* ---- pooling ---- */

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
                y[((size_t)pl * l->out.h + i) * l->out.w + j] = (float)(is_max ? acc : acc / (k * k));
            }
}

static void check_pool_forward(glia_layer spec, glia_shape3 in, int n, int is_max)
{
    gc_layer g;
    gc_layer_new(&g, &spec, in, n, 1, 3);
    size_t nx = glia_shape3_size(in) * (size_t)n, ny = glia_shape3_size(g.l.out) * (size_t)n;
    float *x = inputs(nx, 8), *y = malloc(sizeof(float) * ny), *ref = malloc(sizeof(float) * ny);
    gc_forward(&g, x, y);
    naive_pool(&g, x, ref, is_max);
    for (size_t i = 0; i < ny; i++)
        ck_assert_float_eq_tol(y[i], ref[i], 1e-5f);
    free(x);
    free(y);
    free(ref);
    gc_layer_free(&g);
}

START_TEST(pool_forward_matches_naive)
{
    check_pool_forward(pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0), (glia_shape3){2, 6, 6}, 2, 1);
    check_pool_forward(pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0), (glia_shape3){1, 7, 5}, 1,
                       1); /* odd: floor */
    check_pool_forward(pool_spec(GLIA_LAYER_MAXPOOL2D, 3, 2, 1), (glia_shape3){2, 7, 7}, 2, 1);
    check_pool_forward(pool_spec(GLIA_LAYER_AVGPOOL2D, 2, 2, 0), (glia_shape3){2, 6, 6}, 2, 0);
    check_pool_forward(pool_spec(GLIA_LAYER_AVGPOOL2D, 3, 2, 1), (glia_shape3){2, 7, 7}, 2, 0);
}
END_TEST

START_TEST(pool_gradients)
{
    check_grads(pool_spec(GLIA_LAYER_MAXPOOL2D, 2, 2, 0), (glia_shape3){2, 6, 6}, 2, 1, "maxpool 2x2");
    check_grads(pool_spec(GLIA_LAYER_MAXPOOL2D, 3, 2, 1), (glia_shape3){2, 7, 7}, 2, 1, "maxpool k3 s2 p1");
    check_grads(pool_spec(GLIA_LAYER_MAXPOOL2D, 3, 1, 0), (glia_shape3){1, 5, 5}, 1, 1,
                "maxpool k3 s1 (overlap)");
    check_grads(pool_spec(GLIA_LAYER_AVGPOOL2D, 2, 2, 0), (glia_shape3){2, 6, 6}, 2, 1, "avgpool 2x2");
    check_grads(pool_spec(GLIA_LAYER_AVGPOOL2D, 3, 2, 1), (glia_shape3){2, 7, 7}, 2, 1, "avgpool k3 s2 p1");
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

/* ---- linear and element-wise ---- */

START_TEST(linear_forward_and_gradients)
{
    glia_layer spec = plain_spec(GLIA_LAYER_LINEAR);
    spec.cfg.linear.in_features = 7;
    spec.cfg.linear.out_features = 5;
    gc_layer g;
    gc_layer_new(&g, &spec, (glia_shape3){7, 1, 1}, 3, 0, 2);
    float *x = inputs(21, 1), y[15];
    gc_forward(&g, x, y);
    const float *w = g.l.params[0].value, *b = g.l.params[1].value;
    for (int n = 0; n < 3; n++)
        for (int o = 0; o < 5; o++) {
            double acc = b[o];
            for (int i = 0; i < 7; i++)
                acc += (double)w[o * 7 + i] * x[n * 7 + i]; /* y = x W^T + b, W is (out, in) */
            ck_assert_float_eq_tol(y[n * 5 + o], (float)acc, 1e-5f);
        }
    free(x);
    gc_layer_free(&g);
    check_grads(spec, (glia_shape3){7, 1, 1}, 3, 1, "linear 7->5");
}
END_TEST

START_TEST(activation_gradients)
{
    const glia_shape3 in = {3, 4, 5};
    check_grads(plain_spec(GLIA_LAYER_RELU), in, 2, 1, "relu");
    check_grads(plain_spec(GLIA_LAYER_TANH), in, 2, 1, "tanh");
    check_grads(plain_spec(GLIA_LAYER_SIGMOID), in, 2, 1, "sigmoid");
    check_grads(plain_spec(GLIA_LAYER_FLATTEN), in, 2, 1, "flatten");
    glia_layer d = plain_spec(GLIA_LAYER_DROPOUT);
    d.cfg.dropout.p = 0.4f;
    check_grads(d, in, 2, 1, "dropout (training, one mask)");
}
END_TEST

START_TEST(activation_values)
{
    const float x[4] = {-2.0f, -0.5f, 0.5f, 3.0f};
    float y[4];
    gc_layer g;
    glia_layer specs[3] = {plain_spec(GLIA_LAYER_RELU), plain_spec(GLIA_LAYER_TANH),
                           plain_spec(GLIA_LAYER_SIGMOID)};
    for (int s = 0; s < 3; s++) {
        gc_layer_new(&g, &specs[s], (glia_shape3){4, 1, 1}, 1, 0, 1);
        gc_forward(&g, x, y);
        for (int i = 0; i < 4; i++) {
            float want = s == 0 ? fmaxf(x[i], 0.0f) : s == 1 ? tanhf(x[i]) : 1.0f / (1.0f + expf(-x[i]));
            ck_assert_float_eq_tol(y[i], want, 1e-6f);
        }
        gc_layer_free(&g);
    }
    gc_layer_new(&g, &specs[2], (glia_shape3){2, 1, 1}, 1, 0, 1);
    const float big[2] = {-100.0f, 100.0f};
    gc_forward(&g, big, y);
    ck_assert(y[0] >= 0.0f && y[0] < 1e-30f && y[1] == 1.0f); /* no overflow to NaN */
    gc_layer_free(&g);
}
END_TEST

START_TEST(dropout_mask_and_scale)
{
    glia_layer spec = plain_spec(GLIA_LAYER_DROPOUT);
    spec.cfg.dropout.p = 0.25f;
    enum { N = 20000 };
    float *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++)
        x[i] = 1.0f + (float)(i % 7);
    gc_layer g;
    gc_layer_new(&g, &spec, (glia_shape3){N, 1, 1}, 1, 1, 4);
    gc_forward(&g, x, y);
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        if (y[i] == 0.0f)
            zeros++;
        else
            ck_assert_float_eq_tol(y[i], x[i] / 0.75f, 1e-5f);
    }
    ck_assert_msg(abs(zeros - N / 4) < 400, "%d of %d dropped, expected about %d", zeros, N, N / 4);
    gc_layer_free(&g);
    gc_layer_new(&g, &spec, (glia_shape3){N, 1, 1}, 1, 0, 4); /* evaluation: the identity */
    gc_forward(&g, x, y);
    ck_assert_mem_eq(x, y, sizeof(float) * N);
    gc_layer_free(&g);
    free(x);
    free(y);
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
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {3, 4, 3, 1, 0}}, {2, 8, 8}, "in_channels"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 4, 9, 1, 0}}, {1, 5, 5}, "larger"},
        {{.kind = GLIA_LAYER_CONV2D, .cfg.conv = {1, 4, 3, 0, 0}}, {1, 5, 5}, "stride"},
        {{.kind = GLIA_LAYER_MAXPOOL2D, .cfg.pool = {2, 2, 2}}, {1, 5, 5}, "padding"},
        {{.kind = GLIA_LAYER_AVGPOOL2D, .cfg.pool = {0, 1, 0}}, {1, 5, 5}, "kernel_size"},
        {{.kind = GLIA_LAYER_LINEAR, .cfg.linear = {10, 3}}, {12, 1, 1}, "in_features"},
        {{.kind = GLIA_LAYER_LINEAR, .cfg.linear = {12, 3}}, {3, 2, 2}, "flatten"},
        {{.kind = GLIA_LAYER_DROPOUT, .cfg.dropout = {1.5f}}, {3, 2, 2}, "p"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        glia_err err = {0};
        glia_layer l = cases[i].spec;
        l.ops = glia_layer_ops_for(l.kind);
        ck_assert_msg(l.ops->init(&l, cases[i].in, &err) != GLIA_OK, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, conv_forward_matches_naive);
    tcase_add_test(tc, conv_gradients);
    tcase_add_test(tc, conv_chunks_match_single_samples);
    tcase_add_test(tc, pool_forward_matches_naive);
    tcase_add_test(tc, pool_gradients);
    tcase_add_test(tc, maxpool_propagates_nan);
    tcase_add_test(tc, linear_forward_and_gradients);
    tcase_add_test(tc, activation_gradients);
    tcase_add_test(tc, activation_values);
    tcase_add_test(tc, dropout_mask_and_scale);
    tcase_add_test(tc, bad_configurations);
    suite_add_tcase(s, tc);
    return glia_check_run(s);
}
